"""fal's own safety checker as a free signal: its answer's `has_nsfw_concepts` holds the image for
review, noted as the provider's flag, without asking our classifier. The real
huggingface_hub.InferenceClient against the fake Hugging Face (tests/fakes/hf_server.py), whose
fal answers carry `has_nsfw_concepts: [server.nsfw_concepts]`, through the worker's code."""

import pytest

from imagegen import services
from imagegen.models import Generation
from tests import photos
from tests.conftest import run_queued_generations
from tests.fakes.hf_server import huggingface_hub_pointed_at, start_hf_server

TOKEN = "hf_FlagTokenAbcdefghijklmnop1234567"


@pytest.fixture
def fal(settings, tmp_path):
    """hf_inference through fal-ai, and the safety check on, all answered by the fake."""
    settings.MEDIA_ROOT = tmp_path / "media"
    with start_hf_server() as server:
        settings.IMAGEGEN_PROVIDERS = ["hf_inference"]
        settings.HF_INFERENCE_PROVIDER = settings.HF_EDIT_PROVIDER = "fal-ai"
        settings.IMAGEGEN_SAFETY_CHECK = "hf_inference"
        settings.HUGGINGFACE_API_TOKEN = TOKEN
        settings.HF_ROUTER_URL = server.url
        settings.HF_TIMEOUT = 10.0
        with huggingface_hub_pointed_at(server.url):
            yield server


def made(user, **request):
    generation = services.submit_generation(user=user, **request)
    run_queued_generations()
    generation.refresh_from_db()
    return generation


def test_a_text_image_fal_flags_is_held_as_the_providers_flag(fal, user):
    fal.nsfw_concepts = True
    generation = made(user, prompt="Jeju beach", width=512, height=512)
    assert generation.status == Generation.Status.HELD
    assert generation.image  # kept for the reviewer, shown to nobody else
    assert generation.safety_note.startswith("Flagged by the provider")
    assert "has_nsfw_concepts" in generation.safety_note
    (router_answer,) = fal.inference_requests
    assert router_answer.path.startswith("/fal-ai/")
    assert fal.classification_requests == []  # the flag was enough: no classifier call


def test_an_edit_fal_flags_in_its_queue_result_is_held_too(fal, user):
    photo = services.store_upload(user=user, data=photos.jpeg_with_gps())
    asked_before = len(fal.classification_requests)  # the upload's own check
    fal.nsfw_concepts = True
    generation = made(
        user,
        prompt="on a beach in Jeju",
        width=photo.width,
        height=photo.height,
        task="edit",
        source_image=photo,
    )
    assert generation.status == Generation.Status.HELD
    assert "has_nsfw_concepts" in generation.safety_note
    assert fal.result_requests  # the flag came with the queue's result
    assert len(fal.classification_requests) == asked_before


def test_an_image_fal_does_not_flag_goes_to_the_classifier_as_before(fal, user):
    generation = made(user, prompt="Jeju beach", width=512, height=512)
    assert generation.status == Generation.Status.SUCCEEDED
    assert generation.safety_note == ""
    assert len(fal.classification_requests) == 1


def test_with_the_check_off_the_flag_holds_nothing(fal, user, settings):
    settings.IMAGEGEN_SAFETY_CHECK = "off"
    fal.nsfw_concepts = True
    assert made(user, prompt="Jeju beach", width=512, height=512).status == "succeeded"
