"""`manage.py generate`: the same checks and quota as the form; --wait with a real worker."""

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from PIL import Image

from imagegen import services
from imagegen.models import Generation
from imagegen.selectors import quota_status
from tests.conftest import run_queued_tasks


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
