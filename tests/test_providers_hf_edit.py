"""hf_inference's edit task: HF_EDIT_MODEL on HF_EDIT_PROVIDER, through fal's queue.

The client is the real huggingface_hub.InferenceClient; the far side is the fake Hugging Face
on 127.0.0.1 (tests/fakes/hf_server.py), which speaks the Hub's look-up and fal's queue
(submit, status polls, result, image download) and draws its answer from the photo it got.
"""

import base64
import copy
import io
import re
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image

from imagegen.providers import get_provider
from imagegen.providers.base import (
    EDIT,
    TEXT,
    AccessDenied,
    BadOutput,
    GenerationRequest,
    Misconfigured,
    ModelUnavailable,
    OutOfQuota,
    PromptRejected,
    Unavailable,
)
from tests.conftest import ROOT
from tests.fakes.hf_server import (
    DEFAULT_MODELS,
    huggingface_hub_pointed_at,
    start_hf_server,
    tint_png,
)

TOKEN = "hf_EditTokenAbcdefghijklmnop123456"
KONTEXT = "black-forest-labs/FLUX.1-Kontext-dev"


def photo(width=320, height=240, image_format="JPEG"):
    """A small photo with a gradient, so that a tint of it differs from a tint of another."""
    image = Image.new("RGB", (width, height))
    image.putdata([(x % 256, y % 256, (x + y) % 256) for y in range(height) for x in range(width)])
    buffer = io.BytesIO()
    image.save(buffer, image_format)
    return buffer.getvalue()


SOURCE = photo()
EDIT_REQUEST = GenerationRequest(
    prompt="make it a snowy evening",
    negative_prompt="",
    width=320,
    height=240,
    seed=77,
    task=EDIT,
    source=SOURCE,
)
TEXT_REQUEST = GenerationRequest(
    prompt="Busan Gamcheon village", negative_prompt="", width=512, height=384, seed=9
)


@pytest.fixture(scope="module")
def hf_server():
    with start_hf_server() as server:
        yield server


@pytest.fixture
def hf(hf_server, settings):
    hf_server.behaviour = hf_server.hub_behaviour = "ok"
    hf_server.status_behaviour = hf_server.result_behaviour = "ok"
    hf_server.polls_in_progress = 1
    hf_server.slow_seconds = 10.0
    hf_server.retry_after = 1
    hf_server.requests.clear()
    hf_server.jobs.clear()
    hf_server.models = copy.deepcopy(DEFAULT_MODELS)
    settings.HUGGINGFACE_API_TOKEN = TOKEN
    settings.HF_ROUTER_URL = hf_server.url
    settings.HF_TIMEOUT = 5.0
    settings.HF_MODEL = "stabilityai/stable-diffusion-3-medium"
    settings.HF_INFERENCE_PROVIDER = "fal-ai"
    settings.HF_EDIT_MODEL = KONTEXT
    settings.HF_EDIT_PROVIDER = "fal-ai"
    settings.IMAGEGEN_PROVIDERS = ["hf_inference"]
    with huggingface_hub_pointed_at(hf_server.url):
        yield hf_server


def provider():
    return get_provider("hf_inference")


def test_hf_inference_offers_text_and_edit():
    assert provider().tasks() == frozenset({TEXT, EDIT})


def test_an_edit_goes_through_fals_queue_with_the_photo_prompt_seed_and_token(hf):
    result = provider().generate(EDIT_REQUEST)

    lookup = hf.hub_requests[0]
    assert lookup.path == f"/api/models/{KONTEXT}"
    assert lookup.query["expand"] == ["inferenceProviderMapping"]
    (submit,) = hf.inference_requests
    assert submit.path == "/fal-ai/fal-ai/flux-kontext/dev"
    assert submit.query == {"_subdomain": ["queue"]}
    assert submit.headers["authorization"] == f"Bearer {TOKEN}"
    assert submit.image == SOURCE
    assert submit.json["prompt"] == "make it a snowy evening"
    assert submit.json["seed"] == 77
    # An empty negative prompt, and steps and guidance left to the model, are not sent at all.
    assert not {"negative_prompt", "num_inference_steps", "guidance_scale"} & set(submit.json)
    # One poll answered IN_PROGRESS, the next COMPLETED; then the result, once.
    (job,) = hf.jobs.values()
    assert [r.path for r in hf.status_requests] == [
        f"/fal-ai/flux-kontext/requests/{job.request_id}/status"
    ] * 2
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in hf.status_requests)
    assert len(hf.result_requests) == 1

    assert result.image == job.result  # the bytes as served, not decoded and re-encoded
    assert result.image == tint_png(SOURCE, "make it a snowy evening", 77)
    assert Image.open(io.BytesIO(result.image)).size == (320, 240)
    assert (result.model, result.seed) == (KONTEXT, 77)


def test_steps_guidance_and_negative_prompt_are_sent_when_given(hf):
    request = GenerationRequest(
        prompt="turn the sky orange",
        negative_prompt="people",
        width=320,
        height=240,
        seed=5,
        steps=28,
        guidance=2.5,
        task=EDIT,
        source=SOURCE,
    )
    provider().generate(request)
    (submit,) = hf.inference_requests
    assert submit.json["negative_prompt"] == "people"
    assert submit.json["num_inference_steps"] == 28
    assert submit.json["guidance_scale"] == 2.5


def test_a_png_photo_arrives_byte_for_byte(hf):
    png = photo(200, 300, "PNG")
    result = provider().generate(
        GenerationRequest(
            prompt="add snow",
            negative_prompt="",
            width=200,
            height=300,
            seed=1,
            task=EDIT,
            source=png,
        )
    )
    assert hf.received_images == [png]
    assert Image.open(io.BytesIO(result.image)).size == (200, 300)


def test_the_edit_settings_pick_model_and_provider_and_text_keeps_its_own(hf, settings):
    hf.add_model("someone/editor", "fal-ai/someone-editor", task="image-to-image")
    settings.HF_EDIT_MODEL = "someone/editor"
    edited = provider().generate(EDIT_REQUEST)
    drawn = provider().generate(TEXT_REQUEST)
    edit_post, text_post = hf.inference_requests
    assert edit_post.path == "/fal-ai/fal-ai/someone-editor"
    assert text_post.path == "/fal-ai/fal-ai/stable-diffusion-v3-medium"
    assert "_subdomain" not in text_post.query
    assert (edited.model, drawn.model) == (
        "someone/editor",
        "stabilityai/stable-diffusion-3-medium",
    )


# Submit behaviours that accept the job and spoil only what its result leads to.
SPOILED_RESULTS = {"empty", "garbage", "image-404"}
SUBMIT_FAILURES = [
    ("401", Misconfigured, "Check HUGGINGFACE_API_TOKEN"),
    ("403", AccessDenied, "Make calls to Inference Providers"),
    ("403-gated", AccessDenied, f"https://huggingface.co/{KONTEXT}"),
    ("404", ModelUnavailable, "set HF_EDIT_MODEL to another image-to-image model"),
    ("402", OutOfQuota, "credits are used up"),
    ("429", OutOfQuota, "Rate limited"),
    ("gpu-quota", OutOfQuota, "65s requested vs. 57s left"),
    ("500", Unavailable, "HTTP 500"),
    ("503-loading", Unavailable, "loading"),
    ("slow", Unavailable, "no answer within the timeout"),
    ("hangup", Unavailable, "could not reach"),
    ("400-content", PromptRejected, "refused"),
    ("wrong-json", Unavailable, "without the fields expected"),
    ("empty", Unavailable, "images_data is empty"),
    ("garbage", BadOutput, "not an image"),
    ("image-404", BadOutput, "not an image"),
]
STATUS_FAILURES = [
    ("401", Misconfigured, "Check HUGGINGFACE_API_TOKEN"),
    ("403-gated", AccessDenied, "Agree and access repository"),
    ("402", OutOfQuota, "credits are used up"),
    ("gpu-quota", OutOfQuota, "65s requested vs. 57s left"),
    ("429", OutOfQuota, "Rate limited"),
    ("500", Unavailable, "HTTP 500"),
    ("503-loading", Unavailable, "loading"),
    ("slow", Unavailable, "no answer within the timeout"),
    ("hangup", Unavailable, "could not reach"),
    ("garbage", BadOutput, "not the JSON expected"),
]
RESULT_FAILURES = [
    ("401", Misconfigured, "Check HUGGINGFACE_API_TOKEN"),
    ("403-gated", AccessDenied, "Agree and access repository"),
    ("402", OutOfQuota, "credits are used up"),
    ("gpu-quota", OutOfQuota, "65s requested vs. 57s left"),
    ("429", OutOfQuota, "Rate limited"),
    ("500", Unavailable, "HTTP 500"),
    ("503-loading", Unavailable, "loading"),
    ("400-content", PromptRejected, "refused"),
    ("slow", Unavailable, "no answer within the timeout"),
    ("hangup", Unavailable, "could not reach"),
    ("garbage", BadOutput, "not the JSON expected"),
    ("wrong-json", Unavailable, "without the fields expected"),
]


@pytest.mark.parametrize(
    ("step", "behaviour", "error", "detail"),
    [("submit", *case) for case in SUBMIT_FAILURES]
    + [("status", *case) for case in STATUS_FAILURES]
    + [("result", *case) for case in RESULT_FAILURES],
)
def test_each_failure_at_each_step_becomes_its_class(hf, settings, step, behaviour, error, detail):
    settings.HF_TIMEOUT = 1.0
    hf.slow_seconds = 5
    hf.polls_in_progress = 0  # the failure is the point, not the progress
    if step == "submit":
        hf.behaviour = behaviour
    elif step == "status":
        hf.status_behaviour = behaviour
    else:
        hf.result_behaviour = behaviour
    with pytest.raises(error) as raised:
        provider().generate(EDIT_REQUEST)
    assert type(raised.value) is error
    assert detail in raised.value.detail
    assert f"hf_inference (fal-ai, {KONTEXT})" in raised.value.detail
    assert TOKEN not in raised.value.detail
    # The step failed where it was told to: the steps before it were reached, none after.
    last = "result" if behaviour in SPOILED_RESULTS and step == "submit" else step
    assert (
        len(hf.inference_requests),
        len(hf.status_requests),
        len(hf.result_requests),
    ) == {"submit": (1, 0, 0), "status": (1, 1, 0), "result": (1, 1, 1)}[last]


def test_waits_the_service_asks_for_are_honoured_at_the_later_steps(hf):
    hf.retry_after = 42
    hf.status_behaviour = "429"
    with pytest.raises(OutOfQuota) as raised:
        provider().generate(EDIT_REQUEST)
    assert raised.value.cooldown == 42
    hf.status_behaviour = "ok"
    hf.result_behaviour = "503-loading"
    with pytest.raises(Unavailable) as raised:
        provider().generate(EDIT_REQUEST)
    assert raised.value.retry_after == 20.0


@pytest.mark.parametrize(
    ("model", "error", "detail"),
    [
        ("nobody/no-such-editor", ModelUnavailable, "Check HF_EDIT_MODEL"),
        ("someone/replicate-editor", Misconfigured, "Choose another HF_EDIT_PROVIDER"),
        (
            "black-forest-labs/FLUX.1-schnell",
            Misconfigured,
            "not supported for task image-to-image",
        ),
    ],
)
def test_a_wrong_edit_model_names_the_setting_to_change(hf, settings, model, error, detail):
    hf.add_model("someone/replicate-editor", "owner/editor", provider="replicate")
    settings.HF_EDIT_MODEL = model
    with pytest.raises(error) as raised:
        provider().generate(EDIT_REQUEST)
    assert detail in raised.value.detail
    assert "pipeline_tag=image-to-image" in raised.value.detail
    assert not hf.inference_requests


# --- the whole call is bounded by HF_TIMEOUT -------------------------------------------------


def run_or_give_up(call, give_up_after=10.0):
    """(what call() returned or raised, seconds), running it in a daemon thread so that an
    unbounded call fails the test instead of hanging it."""
    outcome = {}

    def run():
        started = time.monotonic()
        try:
            outcome["answer"] = call()
        except Exception as exc:
            outcome["answer"] = exc
        outcome["seconds"] = time.monotonic() - started

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(give_up_after)
    assert not thread.is_alive(), f"still running after {give_up_after} s"
    return outcome["answer"], outcome["seconds"]


def timed_edit():
    """(the error or result, seconds) of an edit of EDIT_REQUEST, given up on after 10 s."""
    return run_or_give_up(lambda: provider().generate(EDIT_REQUEST))


def test_a_job_that_never_completes_is_given_up_after_hf_timeout(hf, settings):
    settings.HF_TIMEOUT = 1.5
    hf.behaviour = "stuck"
    error, _seconds = timed_edit()
    assert isinstance(error, Unavailable)
    assert "no answer within the timeout" in error.detail
    # Every request was quick: it is the whole call that ran out of time, while polling (it
    # kept polling past the first "still queued", and never asked for a result).
    assert len(hf.status_requests) >= 2
    assert not hf.result_requests


def test_the_bound_is_on_the_whole_call_not_each_request(hf, settings):
    settings.HF_TIMEOUT = 2.0
    hf.status_behaviour = "slow"
    hf.slow_seconds = 0.8  # each poll well within HF_TIMEOUT...
    hf.polls_in_progress = 100  # ...but the job takes far longer than it
    error, _seconds = timed_edit()
    assert isinstance(error, Unavailable)
    assert "no answer within the timeout" in error.detail
    # Bounded per request, the call would have polled all 100 times (80 s: run_or_give_up
    # gives up first); bounded as a whole, it stopped within HF_TIMEOUT's few polls.
    assert 1 <= len(hf.status_requests) <= 3
    assert not hf.result_requests


def test_a_slow_image_download_counts_against_the_same_bound(hf, settings):
    settings.HF_TIMEOUT = 2.0
    hf.behaviour = "image-slow"
    hf.slow_seconds = 5
    hf.polls_in_progress = 2  # the download starts some 1.5 s in, and gets only what is left
    error, _seconds = timed_edit()
    # Given its own HF_TIMEOUT, the 5 s download would have finished (an image); given what
    # was left of the call's, it was cut off.
    assert isinstance(error, Unavailable)
    assert len(hf.result_requests) == 1


def test_the_bound_ends_with_its_call(hf, settings):
    def stuck_edit_then_slow_text_then_edit():
        settings.HF_TIMEOUT = 1.0
        hf.behaviour = "stuck"
        with pytest.raises(Unavailable):
            provider().generate(EDIT_REQUEST)
        # In the same thread, later calls get their own time, not what that one left.
        settings.HF_TIMEOUT = 3.0
        hf.behaviour = "slow"
        hf.slow_seconds = 1.3  # past the stuck edit's deadline, within the text timeout
        drawn = provider().generate(TEXT_REQUEST)
        hf.behaviour = "ok"
        hf.polls_in_progress = 0
        return drawn, provider().generate(EDIT_REQUEST)

    answer, _ = run_or_give_up(stuck_edit_then_slow_text_then_edit)
    assert not isinstance(answer, Exception), answer
    drawn, edited = answer
    assert drawn.model == "stabilityai/stable-diffusion-3-medium"
    assert edited.model == KONTEXT


# --- check() ---------------------------------------------------------------------------------


def test_check_passes_when_hf_edit_provider_serves_the_edit_model(hf):
    assert provider().check() == []
    edit_lookups = [r for r in hf.hub_requests if r.path == f"/api/models/{KONTEXT}"]
    assert edit_lookups
    assert edit_lookups[0].query["expand"] == ["inferenceProviderMapping"]


def test_check_names_an_unknown_edit_model(hf, settings):
    settings.HF_EDIT_MODEL = "nobody/no-such-editor"
    assert provider().check() == [
        (
            "No model nobody/no-such-editor on the Hub.",
            f"Set HF_EDIT_MODEL to an image-to-image model, e.g. {KONTEXT}.",
        )
    ]


def test_check_names_an_edit_model_hf_edit_provider_does_not_serve(hf, settings):
    hf.add_model("someone/replicate-editor", "owner/editor", provider="replicate")
    settings.HF_EDIT_MODEL = "someone/replicate-editor"
    assert provider().check() == [
        (
            "someone/replicate-editor is not served by fal-ai (served by: replicate).",
            "Set HF_EDIT_PROVIDER to one of those (or auto), or choose another HF_EDIT_MODEL.",
        )
    ]


def test_check_names_an_edit_model_served_only_for_text(hf, settings):
    settings.HF_EDIT_MODEL = "black-forest-labs/FLUX.1-schnell"
    ((problem, fix),) = provider().check()
    assert problem == (
        "fal-ai serves black-forest-labs/FLUX.1-schnell for text-to-image, not image-to-image."
    )
    assert fix.startswith("Set HF_EDIT_MODEL to an image-to-image model that fal-ai serves")


def test_check_names_a_gated_edit_model(hf):
    hf.hub_behaviour = "403-gated"
    problems = provider().check()
    assert (
        f"{KONTEXT} is gated and this token's owner has no access.",
        f"Open https://huggingface.co/{KONTEXT}, log in as the token's owner and press "
        "'Agree and access repository'.",
    ) in problems


def test_check_reports_text_and_edit_problems_together(hf, settings):
    settings.HF_MODEL = "nobody/nothing"
    settings.HF_EDIT_MODEL = "nobody/no-such-editor"
    problems = [problem for problem, _ in provider().check()]
    assert problems == [
        "No model nobody/nothing on the Hub.",
        "No model nobody/no-such-editor on the Hub.",
    ]


def test_edits_on_hf_inference_follow_hf_router_url(hf, settings):
    # hf-inference's helpers copied the router's address at import; HF_ROUTER_URL must still win.
    settings.HF_EDIT_PROVIDER = "hf-inference"
    settings.HF_ROUTER_URL = hf.url + "/proxy"
    hf.add_model(KONTEXT, KONTEXT, provider="hf-inference", task="image-to-image")
    result = provider().generate(EDIT_REQUEST)
    (post,) = hf.inference_requests
    assert post.path == f"/proxy/hf-inference/models/{KONTEXT}"
    assert post.headers["authorization"] == f"Bearer {TOKEN}"
    assert base64.b64decode(post.json["inputs"]) == SOURCE
    assert post.json["parameters"] == {"prompt": "make it a snowy evening", "seed": 77}
    assert result.model == KONTEXT


class RecordingProxy(ThreadingHTTPServer):
    """A reverse proxy on 127.0.0.1 in front of the fake router, as README's table says to
    configure one: its own prefix /hf stripped, and fal's queue paths (which arrive at its
    root, without /fal-ai) sent on under /fal-ai. Records what it receives."""

    def __init__(self, upstream):
        super().__init__(("127.0.0.1", 0), ProxyHandler)
        self.upstream = upstream
        self.received = []

    @property
    def origin(self):
        return f"http://127.0.0.1:{self.server_address[1]}"

    def upstream_path(self, path):
        if path.startswith("/hf/"):
            return path[len("/hf") :]
        if re.match(r"^/[^?]+/requests/", path):
            return "/fal-ai" + path
        return None


class ProxyHandler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def forward(self):
        self.server.received.append((self.command, self.path))
        target = self.server.upstream_path(self.path)
        if target is None:
            self.send_error(404)
            return
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {
            name: value
            for name, value in self.headers.items()
            if name.lower() in ("authorization", "content-type", "accept")
        }
        request = urllib.request.Request(
            self.server.upstream + target, data=body, headers=headers, method=self.command
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                status, content_type, payload = answer.status, answer.headers, answer.read()
        except urllib.error.HTTPError as error:
            status, content_type, payload = error.code, error.headers, error.read()
        self.send_response(status)
        self.send_header("content-type", content_type.get("content-type", "application/json"))
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = forward


def test_behind_a_proxy_fals_queue_is_polled_at_the_proxys_root_as_readme_says(hf, settings):
    proxy = RecordingProxy(hf.url)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        settings.HF_ROUTER_URL = proxy.origin + "/hf"
        result = provider().generate(EDIT_REQUEST)
    finally:
        proxy.shutdown()
        thread.join()
        proxy.server_close()

    (job,) = hf.jobs.values()
    assert result.image == job.result
    queue = "?_subdomain=queue"
    requests = f"/fal-ai/flux-kontext/requests/{job.request_id}"
    assert proxy.received == [
        ("POST", f"/hf/fal-ai/fal-ai/flux-kontext/dev{queue}"),
        ("GET", f"{requests}/status{queue}"),
        ("GET", f"{requests}/status{queue}"),
        ("GET", f"{requests}{queue}"),
    ]
    # The router got them as it would from huggingface_hub directly.
    assert hf.inference_requests[0].path == "/fal-ai/fal-ai/flux-kontext/dev"
    assert {r.path for r in hf.status_requests} == {f"/fal-ai{requests}/status"}

    # README's table names exactly these.
    readme = (ROOT / "README.md").read_text()
    pending = "<origin>/<app>/requests/<request id>"
    documented = {
        f"POST /hf/fal-ai/fal-ai/flux-kontext/dev{queue}": (
            f"`POST <HF_ROUTER_URL>/fal-ai/<fal model id>{queue}`"
        ),
        f"GET {requests}/status{queue}": f"`GET {pending}/status{queue}`",
        f"GET {requests}{queue}": f"`GET {pending}{queue}`",
    }
    for method, path in proxy.received:
        assert documented[f"{method} {path}"] in readme
