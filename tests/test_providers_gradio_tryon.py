"""gradio_space's try-on against a real Gradio app with IDM-VTON's /tryon, on 127.0.0.1.

The try-on Space is tests/fakes/gradio_tryon.py; a Space named owner/space is looked up on a
small fake Hub here (huggingface_hub pointed at it), so nothing leaves the machine.
"""

import io
import json
import random
import ssl
import stat
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from gradio_client import Client, handle_file
from PIL import Image

from imagegen.providers import get_provider
from imagegen.providers.base import (
    TEXT,
    TRY_ON,
    GenerationRequest,
    Misconfigured,
    OutOfQuota,
    Unavailable,
)
from imagegen.providers.gradio_space import tls_context
from tests.fakes.gradio_tryon import GPU_QUOTA_MESSAGE, composite, start_gradio_tryon
from tests.fakes.hf_server import error_reply, huggingface_hub_pointed_at


def photo(size, seed, format):
    """Noise, so that any pixel the Space got wrong shows; encoded as the uploads are."""
    noise = random.Random(seed).randbytes(size[0] * size[1] * 3)
    buffer = io.BytesIO()
    Image.frombytes("RGB", size, noise).save(buffer, format=format)
    return buffer.getvalue()


PERSON = photo((384, 512), 1, "JPEG")
GARMENT = photo((200, 240), 2, "PNG")
REQUEST = GenerationRequest(
    prompt="red linen shirt, short sleeves",
    negative_prompt="",
    width=384,
    height=512,
    seed=1234,
    steps=25,
    task=TRY_ON,
    source=PERSON,
    garment=GARMENT,
)


def pixels(data):
    return Image.open(io.BytesIO(data)).convert("RGB").tobytes()


@pytest.fixture(scope="module")
def tryon_server():
    """The fake IDM-VTON, started once for this module (about 0.2 s once gradio is imported)."""
    with start_gradio_tryon() as space:
        yield space


@pytest.fixture
def tryon_space(tryon_server, settings):
    """The fake try-on Space, reset, with GRADIO_TRYON_SPACE pointing at it."""
    tryon_server.reset()
    settings.GRADIO_TRYON_SPACE = tryon_server.url
    settings.GRADIO_TRYON_API_NAME = "/tryon"
    settings.GRADIO_TIMEOUT = 5.0
    settings.IMAGEGEN_PROVIDERS = ["gradio_space"]
    return tryon_server


def test_a_try_on_sends_both_photos_and_answers_the_spaces_composite(tryon_space):
    result = get_provider("gradio_space").generate(REQUEST)
    [call] = tryon_space.calls
    assert call.person.convert("RGB").tobytes() == pixels(PERSON)
    assert call.garment.convert("RGB").tobytes() == pixels(GARMENT)
    assert call.description == "red linen shirt, short sleeves"
    assert (call.auto_mask, call.auto_crop) == (True, False)
    assert (call.steps, call.seed) == (25, 1234)
    person = Image.open(io.BytesIO(PERSON))
    garment = Image.open(io.BytesIO(GARMENT))
    assert pixels(result.image) == composite(person, garment).tobytes()
    assert result.model == f"{tryon_space.url}/tryon"
    assert result.seed == 1234


def test_an_empty_description_and_no_steps_send_idm_vtons_defaults(tryon_space):
    get_provider("gradio_space").generate(
        GenerationRequest(**{**REQUEST.__dict__, "prompt": "", "steps": None})
    )
    [call] = tryon_space.calls
    assert (call.description, call.steps) == ("", 30)


def test_the_photos_and_the_downloads_are_removed_after_the_call(tryon_space):
    provider = get_provider("gradio_space")
    provider.generate(REQUEST)
    # Both outputs (the picture and the mask) were downloaded; neither is left behind.
    assert not any(provider._downloads.iterdir())
    assert not any(provider._uploads.iterdir())
    tryon_space.behaviour = "gpu-quota"
    with pytest.raises(OutOfQuota):
        provider.generate(REQUEST)
    assert not any(provider._uploads.iterdir())
    # Only this process's user may read the photos while they wait for the upload.
    assert stat.S_IMODE(provider._uploads.parent.stat().st_mode) == 0o700


def test_the_try_on_client_is_built_once_and_apart_from_the_text_one(tryon_space):
    provider = get_provider("gradio_space")
    provider.generate(REQUEST)
    client = provider._tryon.client
    provider.generate(REQUEST)
    assert provider._tryon.client is client
    assert provider._client is None  # the text Space is not touched by a try-on
    assert len(tryon_space.calls) == 2


def test_a_try_on_reads_no_ca_bundle_once_the_client_is_built(tryon_space, monkeypatch):
    # gradio_client makes an httpx client or request for each step of a call, and httpx
    # read the whole CA bundle for each (about 30 ms of CPU apiece, most of a try-on's cost
    # to the worker: bench/README.md). The provider gives them one TLS context, built once.
    provider = get_provider("gradio_space")
    provider.generate(REQUEST)  # the client built, and the context with it
    loads = []
    real = ssl.SSLContext.load_verify_locations

    def counted(context, *args, **kwargs):
        loads.append(args or kwargs)
        return real(context, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", counted)
    provider.generate(REQUEST)
    assert len(tryon_space.calls) == 2
    assert loads == []


def test_the_space_clients_verify_certificates_with_the_default_cas():
    context = tls_context()
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert context.cert_store_stats()["x509_ca"] > 0
    assert tls_context() is context


def test_the_provider_offers_text_and_try_on(tryon_space):
    assert get_provider("gradio_space").tasks() == {TEXT, TRY_ON}


def test_gpu_quota_cools_the_provider_down_and_says_what_to_do(tryon_space):
    tryon_space.behaviour = "gpu-quota"
    with pytest.raises(OutOfQuota) as raised:
        get_provider("gradio_space").generate(REQUEST)
    assert GPU_QUOTA_MESSAGE in raised.value.detail
    assert "try-on" in raised.value.detail
    assert raised.value.cooldown == 900


def test_a_crash_in_the_space_is_worth_retrying(tryon_space):
    tryon_space.script("crash")
    provider = get_provider("gradio_space")
    with pytest.raises(Unavailable, match="the Space raised an error") as raised:
        provider.generate(REQUEST)
    assert raised.value.retryable
    assert provider.generate(REQUEST).image  # the next call is served


@pytest.mark.parametrize(("asked", "sent"), [(50, 40), (5, 20), (None, 30), (25, 25)])
def test_steps_are_brought_into_what_the_space_takes(tryon_space, asked, sent):
    """IDM-VTON's box takes 20 to 40 (the text Space's 1 to 50 would be refused)."""
    get_provider("gradio_space").generate(GenerationRequest(**{**REQUEST.__dict__, "steps": asked}))
    (call,) = tryon_space.calls
    assert call.steps == sent


def test_an_empty_answer_is_unavailable(tryon_space):
    tryon_space.behaviour = "empty"
    with pytest.raises(Unavailable, match="an empty result"):
        get_provider("gradio_space").generate(REQUEST)


def test_a_slow_space_times_out_and_the_job_is_canceled(tryon_space, settings):
    settings.GRADIO_TIMEOUT = 1.0
    tryon_space.script("slow")
    tryon_space.slow_seconds = 10
    provider = get_provider("gradio_space")
    with pytest.raises(Unavailable, match="no result within GRADIO_TIMEOUT=1 s"):
        provider.generate(REQUEST)
    # The Space runs one try-on at a time: had the slow job not been canceled, this one would
    # wait behind it for nine more seconds.
    settings.GRADIO_TIMEOUT = 3.0
    assert get_provider("gradio_space").generate(REQUEST).image
    assert not any(provider._uploads.iterdir())


def test_a_wrong_endpoint_name_is_a_configuration_error(tryon_space, settings):
    settings.GRADIO_TRYON_API_NAME = "/run"
    with pytest.raises(Misconfigured, match="Check GRADIO_TRYON_API_NAME"):
        get_provider("gradio_space").generate(REQUEST)


def test_a_space_that_cannot_be_reached_is_unavailable_and_tried_afresh(settings):
    settings.GRADIO_TRYON_SPACE = "http://127.0.0.1:9/"
    provider = get_provider("gradio_space")
    with pytest.raises(Unavailable, match="cannot be reached"):
        provider.generate(REQUEST)
    assert provider._tryon.client is None


def test_a_space_that_dies_mid_call_is_forgotten_then_is_down(settings):
    dying = start_gradio_tryon()
    try:
        dying.behaviour = "slow"
        dying.slow_seconds = 30
        settings.GRADIO_TRYON_SPACE = dying.url
        settings.GRADIO_TIMEOUT = 20.0
        provider = get_provider("gradio_space")

        def stop_once_called():
            # Mid-call, however long a loaded machine takes to get the call there.
            deadline = time.monotonic() + 20
            while not dying.calls and time.monotonic() < deadline:
                time.sleep(0.05)
            dying.stop()

        stopper = threading.Thread(target=stop_once_called, daemon=True)
        stopper.start()
        with pytest.raises(Unavailable, match="stopped answering"):
            provider.generate(REQUEST)
        assert provider._tryon.client is None  # rebuilt on the next call
        # The call fails as the server starts to shut down; ask again once it is down, or
        # the new client may still read the config of a Space half-way through stopping.
        stopper.join(timeout=30)
        with pytest.raises(Unavailable, match="cannot be reached"):
            provider.generate(REQUEST)
    finally:
        dying.stop()


def test_a_full_queue_is_unavailable_for_now(settings, tmp_path):
    with start_gradio_tryon(queue_max_size=1) as busy:
        busy.behaviour = "slow"
        busy.slow_seconds = 120  # cut short when the block ends
        (tmp_path / "p.jpg").write_bytes(PERSON)
        blocker = Client(busy.url, download_files=str(tmp_path), verbose=False)
        inputs = (
            {"background": handle_file(str(tmp_path / "p.jpg")), "layers": [], "composite": None},
            handle_file(str(tmp_path / "p.jpg")),
            "",
            True,
            False,
            30,
            1,
        )
        # One runs, the other waits (whichever Gradio takes first): the queue is then full.
        # The Space's own /queue/status says when it is, not the client's view of each job,
        # which on a loaded machine may never show the waiting one as IN_QUEUE.
        jobs = [blocker.submit(*inputs, api_name="/tryon") for _ in range(2)]
        deadline = time.monotonic() + 60  # a loaded machine takes its time
        while True:
            with urllib.request.urlopen(f"{busy.url}gradio_api/queue/status", timeout=5) as reply:
                waiting = json.load(reply)["queue_size"]
            if len(busy.calls) == 1 and waiting == 1:
                break  # one running, one waiting: the queue is full
            states = [job.status().code.name for job in jobs]
            assert time.monotonic() < deadline, (
                f"the fake Space's queue never filled up: {len(busy.calls)} running, "
                f"{waiting} waiting, the jobs say {states}"
            )
            time.sleep(0.05)
        settings.GRADIO_TRYON_SPACE = busy.url
        settings.GRADIO_TIMEOUT = 20.0
        with pytest.raises(Unavailable, match="turning requests away"):
            get_provider("gradio_space").generate(REQUEST)
    blocker.close()


def test_a_space_behind_a_login_says_to_check_the_token(settings):
    with start_gradio_tryon(auth=("owner", "secret")) as private:
        settings.GRADIO_TRYON_SPACE = private.url
        with pytest.raises(Misconfigured, match="Check HUGGINGFACE_API_TOKEN") as raised:
            get_provider("gradio_space").generate(REQUEST)
    assert "the Space refused us" in raised.value.detail
    assert private.calls == []


class _Hub(BaseHTTPRequestHandler):
    """The Hub's answers about a Space named owner/space: its info (with the address it runs
    at) and its runtime stage, or one error for every request."""

    def do_GET(self):
        hub = self.server
        if hub.error:
            reply = error_reply(hub.error, hub.space_id, retry_after=30)
            status, headers, body = reply.status, dict(reply.headers), reply.body
        else:
            runtime = {"stage": hub.stage, "hardware": {"current": "zero-a10g"}}
            answer = (
                runtime
                if self.path.split("?")[0].endswith("/runtime")
                else {"id": hub.space_id, "host": hub.host, "private": False, "runtime": runtime}
            )
            status, headers, body = 200, {}, json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass


@pytest.fixture
def hub(settings, monkeypatch):
    """A fake Hub on 127.0.0.1 that huggingface_hub asks about GRADIO_TRYON_SPACE=someone/vton."""
    from huggingface_hub import hf_api

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hub)
    server.space_id, server.host, server.stage, server.error = "someone/vton", "", "RUNNING", ""
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.GRADIO_TRYON_SPACE = "someone/vton"
    settings.GRADIO_TIMEOUT = 5.0
    url = f"http://127.0.0.1:{server.server_address[1]}"
    # gradio_client asks huggingface_hub's module-level HfApi, which copied the Hub's address
    # when it was built.
    monkeypatch.setattr(hf_api.api, "endpoint", url)
    with huggingface_hub_pointed_at(url):
        yield server
    server.shutdown()
    server.server_close()


def test_a_space_named_owner_slash_space_is_found_through_the_hub(hub, tryon_space, settings):
    settings.GRADIO_TRYON_SPACE = "someone/vton"
    hub.host = tryon_space.url.rstrip("/")
    result = get_provider("gradio_space").generate(REQUEST)
    assert result.model == "someone/vton/tryon"
    assert len(tryon_space.calls) == 1


def test_a_broken_space_says_to_read_its_logs(hub):
    hub.stage = "RUNTIME_ERROR"
    with pytest.raises(Misconfigured, match="the Space is broken") as raised:
        get_provider("gradio_space").generate(REQUEST)
    assert "Factory reboot" in raised.value.detail


def test_a_space_the_hub_does_not_know_says_to_check_the_setting(hub):
    hub.error = "repo-not-found"
    with pytest.raises(Misconfigured, match="the Hub has no Space someone/vton") as raised:
        get_provider("gradio_space").generate(REQUEST)
    assert "Check GRADIO_TRYON_SPACE" in raised.value.detail


def test_a_hub_turning_requests_away_is_unavailable_for_now(hub):
    hub.error = "429"
    with pytest.raises(Unavailable):
        get_provider("gradio_space").generate(REQUEST)


# check(), as `manage.py imagegen_check` runs it


@pytest.fixture(scope="module")
def old_tryon_server():
    """A try-on Space whose /tryon takes the person as an Image and has no auto-crop box."""
    with start_gradio_tryon(signature="old") as space:
        yield space


def test_check_passes_when_both_spaces_answer_with_the_endpoints_we_call(gradio_space, tryon_space):
    assert get_provider("gradio_space").check() == []


def test_check_names_each_parameter_that_differs(gradio_space, old_tryon_server, settings):
    settings.GRADIO_TRYON_SPACE = old_tryon_server.url
    [(problem, fix)] = get_provider("gradio_space").check()
    assert problem == (
        "The try-on Space's /tryon does not take what we send: "
        "its parameter 1, human, is an Image where we send dict as an ImageEditor; "
        "its parameter 5, denoise_steps, is a Number where we send is_checked_crop as a "
        "Checkbox; it has no parameter 7, where we send seed (Number)."
    )
    assert "Point GRADIO_TRYON_SPACE at yisol/IDM-VTON" in fix
    assert "dict: ImageEditor, garm_img: Image" in fix


def test_check_lists_the_endpoints_when_ours_is_missing(gradio_space, tryon_space, settings):
    settings.GRADIO_TRYON_API_NAME = "/run"
    assert get_provider("gradio_space").check() == [
        ("The try-on Space has no endpoint /run.", "Set GRADIO_TRYON_API_NAME to one of: /tryon.")
    ]


def test_check_reports_a_try_on_space_that_cannot_be_reached(gradio_space, settings):
    settings.GRADIO_TRYON_SPACE = "http://127.0.0.1:9/"
    [(problem, fix)] = get_provider("gradio_space").check()
    assert "http://127.0.0.1:9/ (try-on): the Space cannot be reached" in problem
    assert fix.startswith("Check GRADIO_TRYON_SPACE")


def test_imagegen_check_fails_on_a_try_on_space_that_takes_other_parameters(
    gradio_space, old_tryon_server, settings, db
):
    settings.GRADIO_TRYON_SPACE = old_tryon_server.url
    out = io.StringIO()
    with pytest.raises(CommandError, match="The first provider, gradio_space, cannot serve"):
        call_command("imagegen_check", stdout=out)
    output = out.getvalue()
    assert "1. gradio_space" in output and "1 problem(s)" in output
    assert "✗ The try-on Space's /tryon does not take what we send" in output
