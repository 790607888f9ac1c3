"""`manage.py imagegen_check` against a fake Hub and a real Gradio app on 127.0.0.1."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from imagegen import services
from tests.fakes.hf_server import huggingface_hub_pointed_at, start_hf_server

TOKEN = "hf_CheckTokenAbcdefghijklmnop123456"


@pytest.fixture(scope="module")
def hf_server():
    with start_hf_server() as server:
        yield server


@pytest.fixture
def hf(hf_server, settings, db):
    hf_server.behaviour = hf_server.hub_behaviour = "ok"
    settings.HUGGINGFACE_API_TOKEN = TOKEN
    settings.HF_ROUTER_URL = hf_server.url
    settings.HF_TIMEOUT = 3.0
    settings.IMAGEGEN_PROVIDERS = ["hf_inference", "demo"]
    with huggingface_hub_pointed_at(hf_server.url):
        yield hf_server


def check():
    out = StringIO()
    try:
        call_command("imagegen_check", stdout=out)
    except CommandError as exc:
        return out.getvalue(), str(exc)
    return out.getvalue(), None


def test_all_good(hf):
    output, error = check()
    assert error is None
    assert "1. hf_inference (stabilityai/stable-diffusion-3-medium): OK" in output
    assert "2. demo (travelfit-demo-postcard): OK" in output
    assert TOKEN not in output


def test_a_missing_token_fails_with_what_to_do(hf, settings):
    settings.HUGGINGFACE_API_TOKEN = ""
    output, error = check()
    assert "HUGGINGFACE_API_TOKEN is not set." in output
    assert "start with hf_, and contain no spaces" in output
    assert "The first provider, hf_inference, cannot serve" in error


def test_a_token_the_hub_refuses(hf):
    hf.hub_behaviour = "401"
    output, error = check()
    assert "The Hub refused HUGGINGFACE_API_TOKEN (401 Unauthorized)." in output
    assert error


def test_a_token_with_a_space_in_it(hf, settings):
    settings.HUGGINGFACE_API_TOKEN = "hf_abc def"
    output, error = check()
    assert "does not look like a Hugging Face token" in output
    assert error


def test_an_unknown_model_says_set_hf_model(hf, settings):
    settings.HF_MODEL = "nobody/nothing"
    output, error = check()
    assert "No model nobody/nothing on the Hub." in output
    assert "Set HF_MODEL" in output
    assert error


def test_a_gated_model_says_where_to_ask_for_access(hf):
    hf.hub_behaviour = "403-gated"
    output, error = check()
    assert "is gated" in output
    assert "Agree and access repository" in output


def test_a_model_the_provider_does_not_serve(hf, settings):
    hf.add_model("someone/replicate-only", "owner/model", provider="replicate")
    settings.HF_MODEL = "someone/replicate-only"
    output, error = check()
    assert "is not served by fal-ai (served by: replicate)" in output
    assert error


def test_a_problem_with_a_later_provider_is_reported_without_failing(hf, settings):
    settings.IMAGEGEN_PROVIDERS = ["demo", "hf_inference"]
    settings.HUGGINGFACE_API_TOKEN = ""
    output, error = check()
    assert "2. hf_inference (stabilityai/stable-diffusion-3-medium): 1 problem(s)" in output
    assert error is None


def test_a_cooling_provider_is_shown(hf):
    services.start_cooldown("hf_inference", 600, "You have exceeded your GPU quota")
    output, _ = check()
    assert "cooling down until" in output
    assert "You have exceeded your GPU quota" in output


def test_the_space_running_and_its_endpoint(gradio_space, settings, db):
    output, error = check()
    assert f"1. gradio_space ({gradio_space.url}/infer): OK" in output
    settings.GRADIO_API_NAME = "/generate"  # a setting change rebuilds the providers
    output, error = check()
    assert "The Space has no endpoint /generate." in output
    assert "Set GRADIO_API_NAME to one of: /infer" in output


def test_a_space_that_is_down(settings, db):
    settings.IMAGEGEN_PROVIDERS = ["gradio_space"]
    settings.GRADIO_SPACE = "http://127.0.0.1:9/"
    settings.GRADIO_TRYON_SPACE = "http://127.0.0.1:9/"
    output, error = check()
    assert "cannot be reached" in output
    assert error


def test_an_endpoint_that_is_down_or_refuses_the_token(hf, settings):
    settings.IMAGEGEN_PROVIDERS = ["hf_endpoint"]
    settings.HF_ENDPOINT_URL = "http://127.0.0.1:9/endpoint"
    output, error = check()
    assert "Cannot reach http://127.0.0.1:9/endpoint" in output
    settings.HF_ENDPOINT_URL = ""
    output, error = check()
    assert "HF_ENDPOINT_URL is not set." in output


def test_it_says_which_provider_does_each_task_and_the_upload_limits(db, settings):
    settings.IMAGEGEN_PROVIDERS = ["hf_endpoint", "demo"]
    settings.HF_ENDPOINT_URL = "http://127.0.0.1:9/endpoint"
    settings.IMAGEGEN_UPLOADS_PER_DAY = 7
    output, _failed = check()
    assert "Task text: hf_endpoint, demo" in output
    assert "Task edit: demo" in output
    assert "Task try_on: demo" in output
    assert "7 a day per user (IMAGEGEN_UPLOADS_PER_DAY)" in output
    settings.IMAGEGEN_PROVIDERS = ["hf_endpoint"]
    output, _failed = check()
    assert "Task edit: no provider: not offered" in output
