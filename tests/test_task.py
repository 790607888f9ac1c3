"""The background task: claim, ask the providers, check and store the image, or fail and refund."""

import pytest
from PIL import Image

from imagegen import services
from imagegen.models import Generation, Quota
from imagegen.tasks import run_generation

CRASHING = "tests.fakes.providers.CrashingProvider"
REFUSING = "tests.fakes.providers.RefusingProvider"
GARBAGE = "tests.fakes.providers.GarbageProvider"
WRONG_SIZE = "tests.fakes.providers.WrongSizeProvider"


@pytest.fixture
def queued(user):
    return services.submit_generation(
        user=user, prompt="Lisbon tram at golden hour", width=640, height=384, seed=7
    )


def test_success_stores_a_png_and_a_webp_thumbnail(queued):
    run_generation(str(queued.pk))
    queued.refresh_from_db()
    assert queued.status == Generation.Status.SUCCEEDED
    assert (queued.provider, queued.model_name) == ("demo", "travelfit-demo-postcard")
    assert queued.actual_seed == 7
    assert queued.attempts == 1
    assert queued.started_at <= queued.finished_at
    with queued.image.open("rb") as handle:
        original = Image.open(handle)
        original.load()
    assert (original.format, original.size) == ("PNG", (640, 384))
    assert "Lisbon tram at golden hour" in original.info["parameters"]
    assert "Seed: 7, Size: 640x384, Model: travelfit-demo-postcard" in original.info["parameters"]
    with queued.thumbnail.open("rb") as handle:
        thumb = Image.open(handle)
        thumb.load()
    assert thumb.format == "WEBP"
    assert max(thumb.size) == 384
    assert queued.charged is True  # a success keeps its unit of quota


def test_random_seed_is_chosen_and_recorded(user):
    generation = services.submit_generation(user=user, prompt="Kyoto", width=256, height=256)
    run_generation(str(generation.pk))
    generation.refresh_from_db()
    assert generation.seed is None
    assert generation.actual_seed is not None


def test_a_second_delivery_of_the_same_task_does_nothing(queued):
    run_generation(str(queued.pk))
    queued.refresh_from_db()
    first_image = queued.image.name
    run_generation(str(queued.pk))
    queued.refresh_from_db()
    assert queued.attempts == 1
    assert queued.image.name == first_image


def test_a_canceled_generation_is_not_run(queued, user):
    services.cancel_generation(generation_id=queued.pk, user=user)
    run_generation(str(queued.pk))
    queued.refresh_from_db()
    assert queued.status == Generation.Status.CANCELED
    assert not queued.image


def test_a_crashing_provider_fails_the_generation_refunds_and_the_worker_goes_on(
    queued, user, settings, caplog
):
    settings.IMAGEGEN_PROVIDERS = [CRASHING]
    run_generation(str(queued.pk))  # does not raise: the worker survives
    # Logged as an error with its traceback (and so reported to Sentry when it is on).
    (logged,) = [r for r in caplog.records if "unexpected error" in r.getMessage()]
    assert logged.levelname == "ERROR" and logged.exc_info
    queued.refresh_from_db()
    assert queued.status == Generation.Status.FAILED
    assert queued.error_message == "The image service could not make this image. Please try again."
    assert "RuntimeError: boom" in queued.error_detail
    assert not queued.image
    assert Quota.objects.get(user=user).day_used == 0
    # The parameters stay, so the request can be retried as it was.
    assert (queued.prompt, queued.width, queued.height, queued.seed) == (
        "Lisbon tram at golden hour",
        640,
        384,
        7,
    )
    settings.IMAGEGEN_PROVIDERS = ["demo"]
    retried = services.retry_generation(generation_id=queued.pk, user=user)
    run_generation(str(retried.pk))
    retried.refresh_from_db()
    assert retried.status == Generation.Status.SUCCEEDED
    assert (retried.prompt, retried.seed) == (queued.prompt, 7)


def test_a_failing_provider_falls_back_to_the_next(queued, settings):
    settings.IMAGEGEN_PROVIDERS = [REFUSING, "demo"]
    run_generation(str(queued.pk))
    queued.refresh_from_db()
    assert queued.status == Generation.Status.SUCCEEDED
    assert queued.provider == "demo"


def test_when_every_provider_fails_the_user_sees_the_last_message(queued, settings):
    settings.IMAGEGEN_PROVIDERS = [CRASHING, REFUSING]
    run_generation(str(queued.pk))
    queued.refresh_from_db()
    assert queued.status == Generation.Status.FAILED
    assert queued.error_message == "The service said no."
    assert "crashing (unexpected): Unexpected error" in queued.error_detail
    assert "refusing (misconfigured): the far side said no" in queued.error_detail
    assert queued.failure_class == "misconfigured"


@pytest.mark.parametrize(
    ("provider", "message"),
    [
        (GARBAGE, "something that is not an image"),
        (WRONG_SIZE, "an image of the wrong size"),
    ],
)
def test_unusable_bytes_fail_the_generation_and_are_never_stored(
    queued, user, settings, provider, message
):
    settings.IMAGEGEN_PROVIDERS = [provider, "demo"]
    run_generation(str(queued.pk))
    queued.refresh_from_db()
    assert queued.status == Generation.Status.FAILED
    assert message in queued.error_message
    assert not queued.image and not queued.thumbnail
    assert not list((settings.MEDIA_ROOT / "generations").glob(f"*/{queued.pk}*"))
    assert Quota.objects.get(user=user).day_used == 0


def test_the_token_never_reaches_the_error_detail(queued, settings):
    settings.HUGGINGFACE_API_TOKEN = "hf_abcdefghijklmnopqrstuvwxyz012345"
    settings.IMAGEGEN_PROVIDERS = ["tests.fakes.providers.LeakyProvider"]
    run_generation(str(queued.pk))
    queued.refresh_from_db()
    assert queued.status == Generation.Status.FAILED
    assert "hf_abcdefghijklmnopqrstuvwxyz012345" not in queued.error_detail
    assert "[redacted]" in queued.error_detail
