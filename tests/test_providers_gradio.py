"""gradio_space against a real Gradio app with the SD 3.5 Large Space's /infer, on 127.0.0.1."""

import io
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image

from imagegen import services
from imagegen.models import Generation, ProviderCooldown
from imagegen.providers import get_provider
from imagegen.providers.base import (
    GenerationRequest,
    Misconfigured,
    OutOfQuota,
    Unavailable,
)
from imagegen.tasks import run_generation
from tests.conftest import ROOT
from tests.fakes.hf_server import error_reply

REQUEST = GenerationRequest(
    prompt="Cappadocia balloons at dawn",
    negative_prompt="text",
    width=768,
    height=512,
    seed=1234,
    steps=20,
    guidance=3.5,
)


def test_calls_infer_with_all_eight_parameters_and_reads_the_image(gradio_space):
    provider = get_provider("gradio_space")
    result = provider.generate(REQUEST)
    assert Image.open(io.BytesIO(result.image)).size == (768, 512)
    assert result.seed == 1234
    assert gradio_space.calls == [
        ("Cappadocia balloons at dawn", "text", 1234, False, 768, 512, 3.5, 20)
    ]
    # The downloaded file is read and removed: nothing piles up in the worker's folder.
    assert not any(provider._downloads.rglob("*.webp"))


def test_the_client_is_built_once_per_process(gradio_space):
    provider = get_provider("gradio_space")
    provider.generate(REQUEST)
    client = provider._client
    provider.generate(REQUEST)
    assert provider._client is client


def test_defaults_are_sent_when_the_user_leaves_steps_and_guidance_empty(gradio_space, user):
    generation = services.submit_generation(user=user, prompt="Bled", width=512, height=512)
    run_generation(str(generation.pk))
    generation.refresh_from_db()
    assert generation.status == Generation.Status.SUCCEEDED
    assert gradio_space.calls[-1][6:] == (4.5, 40)
    assert generation.provider == "gradio_space"


def test_gpu_quota_cools_down_and_the_next_provider_serves(gradio_space, user, settings):
    settings.IMAGEGEN_PROVIDERS = ["gradio_space", "demo"]
    gradio_space.behaviour = "gpu-quota"
    generation = services.submit_generation(user=user, prompt="Bled", width=512, height=512)
    run_generation(str(generation.pk))
    generation.refresh_from_db()
    assert (generation.status, generation.provider) == (Generation.Status.SUCCEEDED, "demo")
    cooldown = ProviderCooldown.objects.get(provider="gradio_space")
    assert "You have exceeded your GPU quota (65s requested vs. 57s left)" in cooldown.reason
    assert len(gradio_space.calls) == 1


def test_gpu_quota_error_names_what_to_do(gradio_space):
    gradio_space.behaviour = "gpu-quota"
    with pytest.raises(OutOfQuota) as raised:
        get_provider("gradio_space").generate(REQUEST)
    assert "T4 or A10G" in raised.value.detail
    assert raised.value.cooldown == 900


def test_a_crash_in_the_space_is_retried(gradio_space, user):
    gradio_space.script("crash", "ok")
    generation = services.submit_generation(user=user, prompt="Bled", width=512, height=512)
    run_generation(str(generation.pk))
    generation.refresh_from_db()
    assert generation.status == Generation.Status.SUCCEEDED
    assert generation.attempts == 2


def test_a_slow_space_times_out_and_the_job_is_canceled(gradio_space, settings):
    settings.GRADIO_TIMEOUT = 1.0
    gradio_space.behaviour = "slow"
    gradio_space.slow_seconds = 3
    with pytest.raises(Unavailable, match="no result within GRADIO_TIMEOUT=1 s"):
        get_provider("gradio_space").generate(REQUEST)


def test_wrong_size_from_the_space_is_never_stored(gradio_space, user):
    gradio_space.behaviour = "wrong-size"
    generation = services.submit_generation(user=user, prompt="Bled", width=512, height=512)
    run_generation(str(generation.pk))
    generation.refresh_from_db()
    assert (generation.status, generation.failure_class) == (
        Generation.Status.FAILED,
        "bad_output",
    )
    assert not generation.image


def test_a_size_the_space_does_not_take_is_fitted_and_recorded(gradio_space, user):
    generation = services.submit_generation(user=user, prompt="Bled", width=1536, height=256)
    run_generation(str(generation.pk))
    generation.refresh_from_db()
    assert generation.status == Generation.Status.SUCCEEDED
    assert gradio_space.calls[-1][4:6] == (1024, 512)
    assert "width 1536→1024 for gradio_space" in generation.adaptations
    assert "height 256→512 for gradio_space" in generation.adaptations


def test_not_a_gradio_app_is_a_configuration_error(settings, live_server):
    # The digits of an address (a port such as 40169, a path) are no 401 or 403 from the Space.
    settings.GRADIO_SPACE = f"{live_server.url}/401/403/"
    with pytest.raises(Misconfigured, match="Check GRADIO_SPACE") as raised:
        get_provider("gradio_space").generate(REQUEST)
    assert "HUGGINGFACE_API_TOKEN" not in raised.value.detail


def test_a_space_behind_a_login_says_to_check_the_token(settings):
    from tests.fakes.gradio_space import start_gradio_space

    private = start_gradio_space(auth=("owner", "secret"))
    try:
        settings.GRADIO_SPACE = private.url
        with pytest.raises(Misconfigured, match="Check HUGGINGFACE_API_TOKEN") as raised:
            get_provider("gradio_space").generate(REQUEST)
    finally:
        private.stop()
    assert "the Space refused us" in raised.value.detail
    assert private.calls == []


class _RateLimited(BaseHTTPRequestHandler):
    """Hugging Face's proxy in front of a Space that is over its rate limit: 429 for all."""

    def do_GET(self):
        reply = error_reply("429", "a Space", retry_after=30)
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply.body)

    def log_message(self, format, *args):
        pass


@pytest.fixture
def rate_limited_space(settings, gradio_tryon_server):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _RateLimited)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.GRADIO_SPACE = f"http://127.0.0.1:{server.server_address[1]}/"
    settings.GRADIO_TRYON_SPACE = gradio_tryon_server.url  # answering: only the text Space 429s
    yield
    server.shutdown()
    server.server_close()


def test_a_space_answering_429_is_unavailable_for_now_not_a_crash(rate_limited_space):
    provider = get_provider("gradio_space")
    with pytest.raises(Unavailable, match="the Space is turning requests away"):
        provider.generate(REQUEST)
    # imagegen_check's look at the same Space reports it instead of raising.
    [(problem, fix)] = provider.check()
    assert "turning requests away" in problem
    assert "Check GRADIO_SPACE" in fix


def test_unset_space_says_what_to_set(settings):
    settings.GRADIO_SPACE = ""
    with pytest.raises(Misconfigured, match="GRADIO_SPACE is not set"):
        get_provider("gradio_space").generate(REQUEST)


SPACE_PROCESS = """
import sys, time
sys.path.insert(0, {root!r})
from tests.fakes.gradio_space import start_gradio_space
space = start_gradio_space()
space.behaviour = "slow"
space.slow_seconds = 60
print(space.url, flush=True)
time.sleep(120)
"""


def test_a_space_that_dies_mid_call_then_is_down(settings):
    process = subprocess.Popen(
        [sys.executable, "-c", SPACE_PROCESS.format(root=str(ROOT))],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        settings.GRADIO_SPACE = process.stdout.readline().strip()
        settings.GRADIO_TIMEOUT = 30.0
        provider = get_provider("gradio_space")
        killer = threading.Timer(1.5, process.kill)
        killer.start()
        with pytest.raises(Unavailable, match="stopped answering"):
            provider.generate(REQUEST)
        assert provider._client is None  # rebuilt on the next call
        with pytest.raises(Unavailable, match="cannot be reached"):
            provider.generate(REQUEST)
    finally:
        process.kill()
        process.wait()
