"""The Hugging Face token never leaves the site: not in what users see, not in admin, not in logs,
not in error reports, even when a provider's server quotes the request back in its error."""

import gzip
import json
import os
import subprocess
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.urls import reverse

from imagegen import services
from imagegen.models import Generation
from imagegen.tasks import run_generation
from lib.redaction import redact, scrub_event
from tests.conftest import ROOT
from tests.fakes.hf_server import huggingface_hub_pointed_at, start_hf_server

TOKEN = "hf_EchoedTokenAbcdefghijklmnop1234567"
REQUEST = {"prompt": "Gyeongbokgung at dusk", "width": 512, "height": 512}


@pytest.fixture(scope="module")
def hf_server():
    with start_hf_server() as server:
        yield server


@pytest.fixture
def echoing_hf(hf_server, settings):
    hf_server.behaviour = hf_server.hub_behaviour = "ok"
    settings.HUGGINGFACE_API_TOKEN = TOKEN
    settings.HF_ROUTER_URL = hf_server.url
    settings.HF_ENDPOINT_URL = hf_server.url + "/endpoint"
    settings.HF_TIMEOUT = 3.0
    settings.HF_ENDPOINT_SCALE_UP_TIMEOUT = 0
    with huggingface_hub_pointed_at(hf_server.url):
        yield hf_server


def everything_shown_about(client, admin_client, generation):
    """Every page and answer that shows a failed generation, to its owner and to admins."""
    pk = generation.pk
    pages = [
        client.get(reverse("imagegen:detail", args=[pk])),
        client.get(reverse("imagegen:status", args=[pk])),
        client.get(reverse("imagegen:gallery")),
        client.get(reverse("imagegen:create")),
        client.get(reverse("api:generation", args=[pk])),
        client.get(reverse("api:generations")),
        admin_client.get(reverse("admin:imagegen_generation_change", args=[pk])),
        admin_client.get(reverse("admin:imagegen_generation_changelist")),
    ]
    assert all(page.status_code == 200 for page in pages)
    return "\n".join(page.content.decode() for page in pages)


@pytest.mark.parametrize("provider", ["hf_inference", "hf_endpoint"])
@pytest.mark.parametrize("behaviour", ["echo-400", "echo-422", "echo-500"])
def test_an_echoed_authorization_header_reaches_no_page(
    echoing_hf, settings, user_client, admin_client, user, provider, behaviour
):
    settings.IMAGEGEN_PROVIDERS = [provider]
    echoing_hf.behaviour = behaviour
    generation = services.submit_generation(user=user, **REQUEST)
    run_generation(str(generation.pk))
    generation.refresh_from_db()
    assert generation.status == Generation.Status.FAILED
    # The server did quote the token back: the test would pass vacuously otherwise.
    assert echoing_hf.inference_requests[-1].headers["authorization"] == f"Bearer {TOKEN}"
    assert "you sent" in generation.error_detail
    for text in (generation.error_message, generation.error_detail):
        assert TOKEN not in text
        assert "Bearer [redacted]" in text or "refused" not in text
    shown = everything_shown_about(user_client, admin_client, generation)
    assert TOKEN not in shown
    assert TOKEN[:20] not in shown


def test_a_gradio_error_quoting_the_token_is_redacted(gradio_space, settings, user):
    settings.HUGGINGFACE_API_TOKEN = TOKEN
    gradio_space.behaviour = "echo-token"
    generation = services.submit_generation(user=user, **REQUEST)
    run_generation(str(generation.pk))
    generation.refresh_from_db()
    assert generation.status == Generation.Status.FAILED
    assert "Bad request from" in generation.error_detail  # the Space's message, kept
    assert TOKEN not in generation.error_detail + generation.error_message


def test_redact_blanks_echoed_credentials_however_they_are_cut(settings):
    settings.HUGGINGFACE_API_TOKEN = TOKEN
    assert redact(f"sent Bearer {TOKEN}") == "sent Bearer [redacted]"
    assert TOKEN[:16] not in redact(f"authorization: Bearer {TOKEN[:16]}…")
    assert redact(f"x-hf-authorization: 'Key {TOKEN}'") == "x-hf-authorization: 'Key [redacted]'"
    assert redact("hf_" + "Z" * 34) == "hf_[redacted]"
    # Our own names stay readable.
    assert redact("hf_inference failed; see HF_TOKEN") == "hf_inference failed; see HF_TOKEN"


def test_log_lines_and_their_tracebacks_are_redacted(tmp_path):
    """The configured log handler, in a process of its own as a worker runs it."""
    script = (
        "import logging\n"
        "log = logging.getLogger('imagegen.services')\n"
        f"log.warning('provider said: you sent Bearer {TOKEN}')\n"
        "try:\n"
        f"    raise RuntimeError('401 for Authorization: Bearer {TOKEN}')\n"
        "except RuntimeError:\n"
        "    log.exception('unexpected error')\n"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "travelfit.settings",
        "TRAVELFIT_ENV_FILE": os.devnull,
        "SECRET_KEY": "x" * 50,
        "DATA_DIR": str(tmp_path),
        "HUGGINGFACE_API_TOKEN": TOKEN,
    }
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "provider said: you sent Bearer [redacted]" in done.stderr
    assert "RuntimeError: 401 for Authorization: Bearer [redacted]" in done.stderr  # traceback
    assert TOKEN not in done.stderr + done.stdout


def test_sentry_events_carry_no_token_and_no_prompt(settings):
    settings.HUGGINGFACE_API_TOKEN = TOKEN
    event = {
        "exception": {"values": [{"value": f"401 with Bearer {TOKEN}"}]},
        "request": {"data": {"prompt": "our trip to Jeju", "seed": 3}},
        "extra": {"negative_prompt": "rain", "note": f"token {TOKEN}"},
        "breadcrumbs": {"values": [{"message": f"GET with Bearer {TOKEN}"}]},
    }
    scrubbed = json.dumps(scrub_event(event))
    assert TOKEN not in scrubbed
    assert "Jeju" not in scrubbed and "rain" not in scrubbed
    assert '"seed": 3' in scrubbed


class _Ingest(BaseHTTPRequestHandler):
    """A Sentry ingest endpoint: takes envelopes at /api/<project>/envelope/."""

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        encoding = self.headers.get("Content-Encoding", "")
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "br":  # the SDK's choice when brotli is installed (gradio brings it)
            import brotli

            body = brotli.decompress(body)
        self.server.envelopes.append(body.decode("utf-8", "replace"))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"id": "0"}')

    def log_message(self, *args):
        pass


def test_with_sentry_dsn_an_unexpected_error_is_reported_redacted(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ingest)
    server.envelopes = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    dsn = f"http://{uuid.uuid4().hex}@127.0.0.1:{server.server_address[1]}/1"
    script = (
        "import logging, sentry_sdk\n"
        "try:\n"
        f"    raise RuntimeError('provider said: Bearer {TOKEN}')\n"
        "except RuntimeError:\n"
        "    logging.getLogger('imagegen.services').exception('unexpected provider error')\n"
        "sentry_sdk.flush(timeout=10)\n"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "travelfit.settings",
        "TRAVELFIT_ENV_FILE": os.devnull,
        "SECRET_KEY": "x" * 50,
        "DATA_DIR": str(tmp_path),
        "HUGGINGFACE_API_TOKEN": TOKEN,
        "SENTRY_DSN": dsn,
    }
    try:
        subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", script],
            cwd=ROOT,
            env=env,
            capture_output=True,
            check=True,
            timeout=60,
        )
    finally:
        server.shutdown()
        server.server_close()
    sent = "\n".join(server.envelopes)
    assert "provider said: Bearer [redacted]" in sent
    assert TOKEN not in sent


def test_without_sentry_dsn_nothing_is_sent(settings):
    import sentry_sdk

    assert settings.SENTRY_DSN == ""
    assert not sentry_sdk.get_client().is_active()
