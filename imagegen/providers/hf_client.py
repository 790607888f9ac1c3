"""The Hugging Face client set-up every caller of huggingface_hub shares: the providers
(providers/hf.py), the prompt translation and the image safety check.

The library's shared HTTP client gets HF_TIMEOUT on every request and the hooks a bounded call
relies on (`bounded`: a deadline over every request of one call; `listening_for_flags`: fal's
safety verdict, which the library drops), the router goes to HF_ROUTER_URL, and the token is
checked for its shape (`check_token`). `server_message` reads what a server said in an error.
"""

import contextlib
import json
import os
import re
import threading
import time

import httpx2
from django.conf import settings
from huggingface_hub import constants
from huggingface_hub.inference._providers import PROVIDERS
from huggingface_hub.utils import _http as hf_http
from huggingface_hub.utils import hf_raise_for_status

# Where fal's queue answers a finished job's result: <app>/requests/<request id>.
QUEUE_RESULT = re.compile(r"/requests/[^/]+$")


TOKEN_HELP = (
    "Check HUGGINGFACE_API_TOKEN: it must be a token from "
    "https://huggingface.co/settings/tokens, start with hf_, and contain no spaces; "
    "restart the workers after changing it."
)


_client_lock = threading.Lock()


_session_timeout = None


# The deadline (time.monotonic()) of the bounded call this thread is making, if any.
_call = threading.local()


class DeadlinePassed(httpx2.TimeoutException):
    """A bounded call (see `bounded`) ran past its deadline, however many requests it took."""


def _enforce_deadline(request: httpx2.Request) -> None:
    """Request hook: within a bounded call, refuse to start a request after the deadline, and
    give the one that starts no more time than is left."""
    deadline = getattr(_call, "deadline", None)
    if deadline is None:
        return
    left = deadline - time.monotonic()
    if left <= 0:
        raise DeadlinePassed("The call ran past its deadline.", request=request)
    timeouts = request.extensions.get("timeout") or {}
    request.extensions["timeout"] = {
        phase: left if timeouts.get(phase) is None else min(timeouts[phase], left)
        for phase in ("connect", "read", "write", "pool")
    }


def _check_queue_result(response: httpx2.Response) -> None:
    """Response hook: within a bounded call, raise for an error answer to fal's result URL.

    huggingface_hub reads the queue's result without looking at its status, so a job that
    failed (a 422, a 500, a 402 once the credits ran out) would surface as a missing key;
    checked here, it is the same error, mapped the same way, as at the submit.
    """
    if getattr(_call, "deadline", None) is None:
        return
    request = response.request
    if request.method == "GET" and QUEUE_RESULT.search(request.url.path):
        if response.status_code >= 400:
            response.read()
        hf_raise_for_status(response)


def _note_unsafe_flag(response: httpx2.Response) -> None:
    """Response hook: while `listening_for_flags`, keep fal's `has_nsfw_concepts` from the
    JSON answer that carries the images (the sync answer, or the queue's result).

    huggingface_hub reads the image's URL from that JSON and drops the rest, fal's own
    safety checker's verdict with it: a list of booleans, one per image (fal may also have
    replaced a flagged image with a black one).
    """
    flags = getattr(_call, "flags", None)
    if flags is None or response.status_code != 200:
        return
    if "json" not in response.headers.get("content-type", ""):
        return
    response.read()
    try:
        answer = json.loads(response.content)
    except ValueError:
        return  # not JSON after all: the library reports that in its own way
    if isinstance(answer, dict) and isinstance(answer.get("has_nsfw_concepts"), list):
        flags.append(answer["has_nsfw_concepts"])


@contextlib.contextmanager
def listening_for_flags():
    """Within the block, `_note_unsafe_flag` collects the flags of this thread's answers;
    yields the list they land in."""
    _call.flags = []
    try:
        yield _call.flags
    finally:
        _call.flags = None


@contextlib.contextmanager
def bounded(seconds):
    """Within the block, the library's requests in this thread all end within `seconds`.

    fal's queue is polled with no overall limit: a job stuck IN_QUEUE would otherwise hold the
    worker until the task itself is killed.
    """
    _call.deadline = time.monotonic() + seconds
    try:
        yield
    finally:
        _call.deadline = None


def use_timeout_everywhere(timeout):
    """Bound every request the library makes, the fal-ai image download included.

    The library's shared HTTP client has no timeout of its own, and `InferenceClient(timeout=)`
    does not reach the second request fal-ai needs to fetch the image (PROVIDERS.md). The
    client also gets the hooks `bounded` calls rely on; they do nothing outside one.
    """
    global _session_timeout
    with _client_lock:
        if _session_timeout == timeout:
            return

        def factory():
            client = hf_http.default_client_factory()
            client.timeout = httpx2.Timeout(timeout)
            hooks = client.event_hooks
            client.event_hooks = {
                "request": [*hooks.get("request", []), _enforce_deadline],
                "response": [
                    *hooks.get("response", []),
                    _check_queue_result,
                    _note_unsafe_flag,
                ],
            }
            return client

        hf_http.set_client_factory(factory)
        _session_timeout = timeout


def point_router_at(base):
    """Send Inference Providers calls to HF_ROUTER_URL (a proxy, or our tests' server).

    huggingface_hub has no setting for it: the router's base is a constant read at call time,
    except for hf-inference, whose helpers copied it when the library was imported.
    """
    constants.INFERENCE_PROXY_TEMPLATE = base + "/{provider}"
    for task in HF_INFERENCE_TASKS:
        PROVIDERS["hf-inference"][task].base_url = base + "/hf-inference"


# The hf-inference tasks TravelFit calls: images, edits, prompt translation, the safety check.
HF_INFERENCE_TASKS = ("text-to-image", "image-to-image", "translation", "image-classification")


def prepare_client_library() -> None:
    """Set huggingface_hub up as every TravelFit call through it needs: HF_TIMEOUT on every
    request, the router at HF_ROUTER_URL, and our token for the Hub look-ups, which send the
    library's own (HF_TOKEN) rather than the api_key a client is given."""
    use_timeout_everywhere(settings.HF_TIMEOUT)
    point_router_at(settings.HF_ROUTER_URL)
    if settings.HUGGINGFACE_API_TOKEN:
        os.environ.setdefault("HF_TOKEN", settings.HUGGINGFACE_API_TOKEN)


def server_message(exc):
    message = getattr(exc, "server_message", None) or ""
    if not message and getattr(exc, "response", None) is not None:
        try:
            body = exc.response.json()
            message = body.get("error") or body.get("detail") or ""
        except Exception:  # a body that is not JSON carries no message of its own
            message = ""
    return str(message or exc).strip()


def page_of(model: str) -> str:
    return f"https://huggingface.co/{model}"


def models_page(pipeline_tag: str, provider: str | None = None) -> str:
    """The Hub's list of models with this pipeline tag (served by this provider, if given)."""
    served = f"inference_provider={provider}&" if provider else ""
    return f"https://huggingface.co/models?{served}pipeline_tag={pipeline_tag}"


def check_token():
    token = settings.HUGGINGFACE_API_TOKEN
    if not token:
        return [("HUGGINGFACE_API_TOKEN is not set.", TOKEN_HELP)]
    if not token.startswith("hf_") or token.strip() != token or " " in token:
        return [("HUGGINGFACE_API_TOKEN does not look like a Hugging Face token.", TOKEN_HELP)]
    return []
