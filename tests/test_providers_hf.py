"""hf_inference (fal-ai and hf-inference) and hf_endpoint against a fake Hugging Face on 127.0.0.1.

The fake speaks the Hub's look-up, the router's and an endpoint's protocol
(tests/fakes/hf_server.py); the client is the real huggingface_hub.InferenceClient.
"""

import io

import pytest
from PIL import Image

from imagegen import services
from imagegen.models import Generation, ProviderCooldown, Quota
from imagegen.providers import get_provider
from imagegen.providers.base import (
    AccessDenied,
    BadOutput,
    GenerationRequest,
    Misconfigured,
    ModelUnavailable,
    OutOfQuota,
    PromptRejected,
    Unavailable,
)
from imagegen.tasks import run_generation
from tests.fakes.hf_server import huggingface_hub_pointed_at, start_hf_server

TOKEN = "hf_TestTokenAbcdefghijklmnop123456"
REQUEST = GenerationRequest(
    prompt="Busan Gamcheon village", negative_prompt="people", width=512, height=384, seed=9
)


@pytest.fixture(scope="module")
def hf_server():
    with start_hf_server() as server:
        yield server


@pytest.fixture
def hf(hf_server, settings):
    hf_server.behaviour = hf_server.hub_behaviour = "ok"
    hf_server.requests.clear()
    hf_server.slow_seconds = 10.0
    settings.HUGGINGFACE_API_TOKEN = TOKEN
    settings.HF_ROUTER_URL = hf_server.url
    settings.HF_ENDPOINT_URL = hf_server.url + "/endpoint"
    settings.HF_TIMEOUT = 3.0
    settings.HF_ENDPOINT_SCALE_UP_TIMEOUT = 0
    settings.IMAGEGEN_PROVIDERS = ["hf_inference"]
    with huggingface_hub_pointed_at(hf_server.url):
        yield hf_server


def provider(name):
    return get_provider(name)


def test_fal_ai_sends_every_parameter_with_the_token_and_downloads_the_image(hf):
    result = provider("hf_inference").generate(REQUEST)
    image = Image.open(io.BytesIO(result.image))
    assert image.size == (512, 384)
    assert result.model == "stabilityai/stable-diffusion-3-medium"
    lookup = hf.hub_requests[0]
    assert lookup.path == "/api/models/stabilityai/stable-diffusion-3-medium"
    (post,) = hf.inference_requests
    assert post.path.startswith("/fal-ai/")
    assert post.headers["authorization"] == f"Bearer {TOKEN}"
    assert post.json["prompt"] == "Busan Gamcheon village"
    assert post.json["negative_prompt"] == "people"
    assert post.json["seed"] == 9
    assert post.json["image_size"] == {"width": 512, "height": 384}


def test_other_inference_providers_pass_through(hf, settings):
    settings.HF_INFERENCE_PROVIDER = "hf-inference"
    result = provider("hf_inference").generate(REQUEST)
    assert Image.open(io.BytesIO(result.image)).size == (512, 384)
    (post,) = hf.inference_requests
    assert post.path == "/hf-inference/models/stabilityai/stable-diffusion-3-medium"
    assert post.json["inputs"] == "Busan Gamcheon village"
    assert post.json["parameters"]["negative_prompt"] == "people"


def test_the_endpoint_gets_inputs_and_parameters(hf, settings):
    result = provider("hf_endpoint").generate(REQUEST)
    assert Image.open(io.BytesIO(result.image)).size == (512, 384)
    (post,) = hf.inference_requests
    assert post.path == "/endpoint"
    assert post.json["parameters"]["seed"] == 9
    assert not hf.hub_requests  # a URL needs no Hub look-up


def test_a_scaled_to_zero_endpoint_is_waited_for(hf, settings):
    hf.behaviour = "scaled-to-zero"
    settings.HF_ENDPOINT_SCALE_UP_TIMEOUT = 30
    result = provider("hf_endpoint").generate(REQUEST)
    assert Image.open(io.BytesIO(result.image)).size == (512, 384)
    assert hf.inference_requests[0].headers["x-scale-up-timeout"] == "30"


@pytest.mark.parametrize(
    ("behaviour", "error", "detail"),
    [
        ("401", Misconfigured, "Check HUGGINGFACE_API_TOKEN"),
        ("403", AccessDenied, "Agree and access repository"),
        ("403-gated", AccessDenied, "Agree and access repository"),
        ("404", ModelUnavailable, "set HF_MODEL"),
        ("410", ModelUnavailable, "was retired"),
        ("402", OutOfQuota, "credits are used up"),
        ("429", OutOfQuota, "Rate limited"),
        ("gpu-quota", OutOfQuota, "65s requested vs. 57s left"),
        ("503-loading", Unavailable, "loading"),
        ("500", Unavailable, "HTTP 500"),
        ("slow", Unavailable, "no answer within the timeout"),
        ("hangup", Unavailable, "could not reach"),
        ("empty", Unavailable, "images_data is empty"),
        ("garbage", BadOutput, "not an image"),
        ("400-content", PromptRejected, "refused"),
    ],
)
@pytest.mark.parametrize("name", ["hf_inference", "hf_endpoint"])
def test_each_failure_becomes_its_class(hf, settings, name, behaviour, error, detail):
    hf.behaviour = behaviour
    hf.slow_seconds = 5
    settings.HF_TIMEOUT = 1.0
    if name == "hf_endpoint" and behaviour == "empty":
        # fal-ai answers an empty image list; an endpoint's empty body is simply not an image.
        error, detail = BadOutput, "not an image"
    with pytest.raises(error) as raised:
        provider(name).generate(REQUEST)
    assert detail in raised.value.detail
    assert TOKEN not in raised.value.detail


def test_retry_after_and_estimated_time_are_honoured(hf):
    hf.retry_after = 42
    hf.behaviour = "429"
    with pytest.raises(OutOfQuota) as raised:
        provider("hf_inference").generate(REQUEST)
    assert raised.value.cooldown == 42
    hf.behaviour = "503-loading"
    with pytest.raises(Unavailable) as raised:
        provider("hf_inference").generate(REQUEST)
    assert raised.value.retry_after == 20.0


def test_a_model_the_provider_does_not_serve_is_a_configuration_error(hf, settings):
    hf.add_model("someone/unmapped-model", None)
    settings.HF_MODEL = "someone/unmapped-model"
    with pytest.raises(Misconfigured, match="not supported by provider fal-ai"):
        provider("hf_inference").generate(REQUEST)


def test_an_unknown_model_is_named(hf, settings):
    settings.HF_MODEL = "nobody/no-such-model"
    with pytest.raises(ModelUnavailable, match="no model nobody/no-such-model"):
        provider("hf_inference").generate(REQUEST)


def test_without_a_token_it_says_so_before_any_request(hf, settings):
    settings.HUGGINGFACE_API_TOKEN = ""
    with pytest.raises(Misconfigured, match="HUGGINGFACE_API_TOKEN is not set"):
        provider("hf_inference").generate(REQUEST)
    assert not hf.requests


def test_the_slow_image_download_is_bounded_too(hf, settings):
    settings.HF_TIMEOUT = 1.0
    hf.slow_seconds = 5
    hf.behaviour = "image-slow"
    with pytest.raises(Unavailable):
        provider("hf_inference").generate(REQUEST)


# --- through the task: retries, messages, refunds -------------------------------------------


@pytest.fixture
def queued(user):
    return services.submit_generation(user=user, prompt="Jeonju hanok", width=512, height=512)


def test_a_cold_start_is_retried_then_served(hf, queued):
    hf.script("503-loading", "empty", "ok")
    run_generation(str(queued.pk))
    queued.refresh_from_db()
    assert queued.status == Generation.Status.SUCCEEDED
    assert queued.attempts == 3
    assert (queued.provider, queued.model_name) == (
        "hf_inference",
        "stabilityai/stable-diffusion-3-medium",
    )


def test_retries_are_bounded_then_the_generation_fails_and_is_refunded(hf, queued, user, settings):
    settings.IMAGEGEN_RETRIES = 2
    hf.behaviour = "503-loading"
    run_generation(str(queued.pk))
    queued.refresh_from_db()
    assert queued.status == Generation.Status.FAILED
    assert queued.attempts == 3
    assert len(hf.inference_requests) == 3
    assert queued.failure_class == "unavailable"
    assert queued.error_message.startswith("The image service is busy or starting up")
    assert Quota.objects.get(user=user).day_used == 0


@pytest.mark.parametrize(
    ("behaviour", "failure_class", "user_message"),
    [
        ("401", "misconfigured", "The site's image service is misconfigured"),
        ("403-gated", "access_denied", "The site's image service is misconfigured"),
        ("410", "model_unavailable", "not available right now"),
        ("gpu-quota", "out_of_quota", "has reached its usage limit"),
        ("garbage", "bad_output", "not a usable image"),
        ("wrong-size", "bad_output", "wrong size"),
        ("400-content", "prompt_rejected", "refused this request"),
    ],
)
def test_each_failure_shows_its_own_message(hf, queued, behaviour, failure_class, user_message):
    hf.behaviour = behaviour
    run_generation(str(queued.pk))
    queued.refresh_from_db()
    assert queued.status == Generation.Status.FAILED
    assert queued.failure_class == failure_class
    assert user_message in queued.error_message
    assert TOKEN not in queued.error_detail
    assert len(hf.inference_requests) == 1  # none of these is worth a retry


def test_a_refused_prompt_keeps_its_unit_of_quota(hf, queued, user):
    hf.behaviour = "400-content"
    run_generation(str(queued.pk))
    assert Quota.objects.get(user=user).day_used == 1


def test_out_of_quota_cools_the_provider_down_for_every_later_task(hf, user, settings):
    settings.IMAGEGEN_PROVIDERS = ["hf_inference", "demo"]
    hf.retry_after = 120
    hf.behaviour = "429"
    first = services.submit_generation(user=user, prompt="one", width=512, height=512)
    run_generation(str(first.pk))
    first.refresh_from_db()
    assert (first.status, first.provider) == (Generation.Status.SUCCEEDED, "demo")
    cooldown = ProviderCooldown.objects.get(provider="hf_inference")
    assert 110 < (cooldown.until - first.finished_at).total_seconds() <= 121
    second = services.submit_generation(user=user, prompt="two", width=512, height=512)
    run_generation(str(second.pk))
    second.refresh_from_db()
    assert second.provider == "demo"
    assert len(hf.inference_requests) == 1  # the second task did not ask hf_inference at all


def test_fallback_records_which_provider_served_and_how_the_request_was_fitted(hf, user, settings):
    settings.IMAGEGEN_PROVIDERS = ["hf_inference", "demo"]
    hf.behaviour = "401"
    generation = services.submit_generation(
        user=user, prompt="Tokyo", width=1536, height=512, steps=30, guidance=6.0
    )
    run_generation(str(generation.pk))
    generation.refresh_from_db()
    assert generation.status == Generation.Status.SUCCEEDED
    assert generation.provider == "demo"
    assert "width 1536→1024 for demo" in generation.adaptations
    assert "steps 30 not used: demo takes none" in generation.adaptations
    assert "guidance 6.0 not used: demo takes none" in generation.adaptations


def test_a_gated_model_names_the_page_where_access_is_requested(hf):
    hf.behaviour = "403-gated"
    with pytest.raises(AccessDenied) as raised:
        provider("hf_inference").generate(REQUEST)
    assert "https://huggingface.co/stabilityai/stable-diffusion-3-medium" in raised.value.detail
