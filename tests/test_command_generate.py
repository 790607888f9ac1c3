"""`manage.py generate`: the same checks and quota as the form; --wait with a real worker."""

from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from PIL import Image

from imagegen import services
from imagegen.models import Generation
from imagegen.selectors import quota_status
from tests.conftest import run_queued_tasks, s3_environment


def generate(*args, **options):
    out = StringIO()
    call_command("generate", *args, stdout=out, **options)
    return out.getvalue()


def test_queues_a_generation_for_the_user(user):
    output = generate("Seoul tower at night", user="alice", width="768", seed="3")
    generation = Generation.objects.get(owner=user)
    assert f"Queued generation {generation.pk}." in output
    assert (generation.width, generation.height, generation.seed) == (768, 1024, 3)


def test_an_aspect_or_a_preset_chooses_the_shape(user, presets):
    generate("Seoul", user="alice", aspect="wide")
    generate("Seoul", user="alice", preset="outfit lookbook")
    wide, outfit = Generation.objects.order_by("created_at")
    assert (wide.width, wide.height) == (1024, 576)
    assert (outfit.width, outfit.height) == (768, 1024)
    assert outfit.prompt.startswith("Fashion lookbook photo of a traveller's outfit for Seoul")
    assert outfit.preset_input == "Seoul"
    with pytest.raises(CommandError, match="No preset named 'nope'. Presets: Travel postcard"):
        generate("Seoul", user="alice", preset="nope")


@pytest.mark.parametrize(
    ("args", "options", "message"),
    [
        (["   "], {"user": "alice"}, "prompt: Write what you want to see"),
        (["ok"], {"user": "alice", "width": "9999"}, "width: Choose a width between 256"),
        (["ok"], {"user": "alice", "seed": "-4"}, "seed: Ensure this value is greater"),
        (["bad\x00byte"], {"user": "alice"}, "prompt: Null characters are not allowed"),
        (["ok"], {"user": "nobody"}, "No user named 'nobody'"),
    ],
)
def test_bad_input_is_an_error_and_queues_nothing(user, args, options, message):
    with pytest.raises(CommandError, match=message):
        generate(*args, **options)
    assert not Generation.objects.exists()


def test_over_quota_is_an_error(user):
    quota = services.quota_for(user)
    quota.daily_limit = 0
    quota.save()
    with pytest.raises(CommandError, match="Nothing was queued. You have used all 0"):
        generate("one more", user="alice")


@pytest.mark.django_db(transaction=True)
def test_the_task_it_queues_is_on_the_broker(make_user):
    make_user("alice")
    generate("Hallstatt lake", user="alice")
    assert run_queued_tasks() == 1
    assert Generation.objects.get().status == Generation.Status.SUCCEEDED


@pytest.mark.worker
def test_wait_blocks_until_a_real_worker_finishes(start_worker, make_user):
    make_user("alice")
    start_worker()
    output = generate("Patagonia glacier", user="alice", wait=True, timeout=60)
    generation = Generation.objects.get()
    assert "Status: succeeded" in output
    path = Path(output.strip().splitlines()[-1].removeprefix("Image: "))
    assert path == Path(generation.image.path)
    assert Image.open(path).size == (1024, 1024)


@pytest.mark.worker
def test_wait_exits_non_zero_when_the_generation_fails(start_worker, make_user):
    user = make_user("alice")
    start_worker(providers="tests.fakes.providers.RefusingProvider")
    with pytest.raises(CommandError, match="Generation failed: The service said no."):
        generate("Patagonia glacier", user="alice", wait=True, timeout=60)
    assert Generation.objects.get().status == Generation.Status.FAILED
    assert quota_status(user).day_left == 20  # refunded


def test_count_queues_several_and_stops_at_the_quota(user):
    quota = services.quota_for(user)
    quota.daily_limit = 3
    quota.save()
    assert generate("Seoul", user="alice", count=2).count("Queued generation") == 2
    with pytest.raises(CommandError, match="1 queued, then nothing more. You have used all 3"):
        generate("Seoul", user="alice", count=2)
    assert Generation.objects.count() == 3


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"count": 0}, "--count must be between 1 and 50"),
        ({"out": "x.png"}, "--out needs --wait"),
        ({"provider": "dalle"}, "--provider: IMAGEGEN_PROVIDERS names an unknown provider"),
    ],
)
def test_option_errors(user, options, message):
    with pytest.raises(CommandError, match=message):
        generate("Seoul", user="alice", **options)
    assert not Generation.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_provider_asks_only_that_provider(make_user, settings):
    make_user("alice")
    settings.IMAGEGEN_PROVIDERS = ["tests.fakes.providers.RefusingProvider"]
    generate("Seoul", user="alice", provider="demo")
    assert Generation.objects.get().only_provider == "demo"
    run_queued_tasks()
    assert Generation.objects.get().provider == "demo"


@pytest.mark.worker
def test_out_writes_each_image_where_asked(start_worker, make_user, tmp_path):
    make_user("alice")
    start_worker()
    output = generate(
        "Hallstatt", user="alice", count=2, wait=True, timeout=60, out=str(tmp_path / "trip.png")
    )
    assert output.count("Status: succeeded") == 2
    for name in ("trip-1.png", "trip-2.png"):
        assert Image.open(tmp_path / name).size == (1024, 1024)


@pytest.mark.worker
def test_wait_and_out_work_with_images_in_a_bucket(start_worker, make_user, s3_media, tmp_path):
    """No file path exists there: the command names the object, links it, and copies it."""
    server, bucket = s3_media
    make_user("alice")
    start_worker(**s3_environment(server, bucket))
    target = tmp_path / "busan.png"
    output = generate("Busan at dawn", user="alice", wait=True, timeout=60, out=str(target))
    generation = Generation.objects.get()
    assert f"Image: {generation.image.name} in bucket {bucket}" in output
    link = next(line for line in output.splitlines() if line.startswith("Link (valid 300 s): "))
    assert link.removeprefix("Link (valid 300 s): ").startswith(server.url + "/")
    assert f"Saved: {target}" in output
    assert Image.open(target).size == (1024, 1024)
    assert not (Path(settings.MEDIA_ROOT) / generation.image.name).exists()
