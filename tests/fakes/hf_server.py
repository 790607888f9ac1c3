"""A fake Hugging Face, on 127.0.0.1, for testing the real InferenceClient against.

One threaded HTTP server plays every part huggingface_hub 2.4.0 talks to when it makes an image:

* the Hub's model look-up, ``GET /api/models/<owner>/<model>`` (with or without
  ``?expand=inferenceProviderMapping``), which tells ``provider="fal-ai"`` and ``"auto"`` which
  fal model serves a Hub model, and tells ``provider="hf-inference"`` the model's pipeline tag;
* the router, ``POST /fal-ai/<fal model id>``, answering ``{"images": [{"url": ...}]}`` with a URL
  under ``/files/`` on this same server, and the ``GET /files/<name>.png`` that follows;
* the Hub's token check, ``GET /api/whoami-v2`` (401 for a token not starting ``hf_`` or when
  ``server.hub_behaviour`` is ``"401"``);
* the router for ``provider="hf-inference"``, ``POST /hf-inference/models/<owner>/<model>``, and a
  dedicated Inference Endpoint, ``POST /endpoint`` (or any other path not listed here): body
  ``{"inputs": prompt, "parameters": {...}}``, answer raw PNG bytes;
* fal's queue, for image-to-image models (``InferenceClient.image_to_image``): see below.

* the router's translation, ``POST /hf-inference/models/<owner>/<model>`` for a model whose
  ``pipeline_tag`` is ``translation`` (what ``InferenceClient(provider="hf-inference")
  .translation(text, model=...)`` sends after looking the model's pipeline tag up on the Hub):
  body ``{"inputs": text, "parameters": {...}}`` (None parameters dropped, so usually ``{}``),
  answer ``[{"translation_text": ...}]``. The translation is deterministic: a phrase of
  ``TRANSLATIONS`` comes back in English; any other text as ``"english <sha256 of it, 8 hex>"``.

* the router's image classification (the safety check), ``POST /hf-inference/models/<owner>/
  <model>`` for a model whose ``pipeline_tag`` is ``image-classification``: see below.

Images are drawn with Pillow at the size asked for (``image_size`` for fal,
``parameters.width``/``height`` otherwise; 1024x1024 when not given); an image-to-image result
is the photo received, tinted with the seed's colour and labelled with the prompt
(``tint_png``), so a test can tell it was made from what was sent.

fal's queue (image-to-image)
----------------------------
``provider="fal-ai"`` runs an image-to-image model as a queued job, and huggingface_hub 2.4.0
drives it against a router that is not ``router.huggingface.co`` (this fake) like this:

1. ``POST /fal-ai/<fal model id>?_subdomain=queue`` with ``authorization: Bearer hf_...`` and
   JSON ``{"image_url": "data:image/jpeg;base64,...", "image_urls": [same], "prompt", "seed",
   ...}`` (None values dropped; the library labels raw bytes ``image/jpeg`` whatever they are).
   The fake decodes the data URL and keeps the bytes on the request (``RecordedRequest.image``,
   also ``server.received_images``), then answers like fal: ``{"request_id", "status":
   "IN_QUEUE", "response_url", "status_url", "cancel_url", "queue_position"}``, the URLs under
   ``/<app>/requests/<request id>`` on this server, ``<app>`` being the fal model id's first
   two parts (``fal-ai/flux-kontext`` for ``fal-ai/flux-kontext/dev``), as fal names them.
2. Every 0.5 s, ``GET /<app>/requests/<id>/status?_subdomain=queue``, the path taken from
   ``response_url`` (on the real router the client puts ``/fal-ai`` in front; the fake answers
   both): ``{"status": "IN_PROGRESS"}`` ``server.polls_in_progress`` times (default 1), then
   ``{"status": "COMPLETED"}``. With ``server.queue_seconds`` set (default None), the job is
   instead IN_PROGRESS until that many seconds after its submit POST arrived, however many
   polls that takes: a model that answers in a set time (bench/photos.py).
3. ``GET /<app>/requests/<id>?_subdomain=queue``: the result, ``{"images": [{"url":
   ".../files/<name>.png", "width", "height", "content_type"}], "seed", ...}``.
4. ``GET /files/<name>.png``: the image (``tint_png``), with no authorization.

The submit POST is an inference POST: it takes its behaviour from the scripted queue or
``server.behaviour`` like any other, and the job keeps it (``garbage``, ``empty``,
``image-404``, ``image-slow`` and ``wrong-size`` shape its result and image as for text; error
behaviours, ``slow`` and ``hangup`` act on the POST itself). ``wrong-json`` answers the POST
200 without ``request_id``; ``stuck`` accepts the job, which then stays ``IN_QUEUE`` (position
0) on every poll, for ever. The later steps have their own knobs, the same for every job:
``server.status_behaviour`` answers the status polls and ``server.result_behaviour`` the result
GET, each ``"ok"`` or any error behaviour, ``slow``, ``hangup``, ``garbage`` (200 with HTML),
``wrong-json`` (200 without ``status`` / ``images``) or, for the status, ``stuck``.
``server.jobs`` maps request ids to ``QueueJob`` (the photo received, the bytes its image URL
serves, the polls answered); ``server.status_requests`` and ``server.result_requests`` list the
GETs (their ``behaviour`` says what the fake did).

Scripting a test
----------------
``server.behaviour`` (default ``"ok"``) decides how every inference POST is answered;
``server.script("503-loading", "ok")`` queues behaviours that the next POSTs take in turn before
falling back to ``server.behaviour``. Only inference POSTs (router and endpoint) take from the
queue; the Hub look-up has its own ``server.hub_behaviour`` and the image GET serves whatever its
POST decided. The behaviours, as HF answers them (bodies are HF's ``{"error": "..."}`` shape):

=================  ======================================================================
``ok``             200, an image of the requested size
``wrong-size``     200, an image 64 px wider than asked (image-to-image: than the photo)
``garbage``        200 with HTML bytes (fal: the JSON is fine, the image URL serves them)
``empty``          200 with an empty body (fal: ``{"images": []}``)
``image-404``      fal only: the JSON is fine, the image URL answers 404
``wrong-json``     200 with JSON that is not the answer's shape: ``{"detail": ...}`` (no
                   ``images`` for fal, no ``request_id`` for fal's queue, not an image elsewhere)
``stuck``          fal's queue only: the job is accepted and stays ``IN_QUEUE`` for ever
``slow``           waits ``server.slow_seconds`` (default 10) before answering ``ok``
                   (fal: the POST waits, not the image GET; ``image-slow`` delays the GET)
``hangup``         closes the connection without answering
``400-content``    400, the prompt refused by a content filter
``401``            401 with ``X-Error-Message: Invalid credentials in Authorization header``
``403``            403, token without the Inference Providers permission
``403-gated``      403 with ``X-Error-Code: GatedRepo`` (the client raises GatedRepoError)
``404``            404 ``{"error": "Not Found"}``, no error code (a plain HfHubHTTPError)
``repo-not-found`` 404 with ``X-Error-Code: RepoNotFound`` (RepositoryNotFoundError)
``402``            402, monthly credits exhausted
``410``            410, a retired API
``429``            429 with ``Retry-After: <server.retry_after>`` (default 1)
``429-ratelimit``  429 with the Hub's ``RateLimit``/``RateLimit-Policy`` headers, remaining 0
``503-loading``    503 ``{"error": "Model <m> is currently loading", "estimated_time": 20.0}``
``gpu-quota``      429 ``{"error": "You have exceeded your GPU quota (65s requested vs. 57s
                   left)."}`` (the status is our choice: HF gives this text from ZeroGPU Spaces)
``500``            500 ``{"error": "Internal Server Error"}``
``echo-400``       400 whose error echoes the request's Authorization header, as some proxies and
                   servers do: ``{"error": "you sent 'Bearer hf_…'"}`` (also ``echo-422``,
                   ``echo-500``)
``scaled-to-zero`` endpoint only: like a scaled-to-zero Inference Endpoint, 503 while a replica
                   starts, unless the request carries ``X-Scale-Up-Timeout``, which makes it
                   hold the request (``server.scale_up_seconds``, default 0.3) and answer ``ok``
=================  ======================================================================

``server.translation_behaviour`` (default ``"ok"``) answers translation POSTs, which never take
from the scripted queue: ``ok``, ``garbage`` (200 with HTML, not JSON), ``empty`` (200 ``[]``),
``slow``, ``hangup`` or any error behaviour above (``500``, ``503-loading``, ...).
``server.translation_requests`` lists them (``inference_requests`` leaves them out).

Image classification (the safety check)
---------------------------------------
``InferenceClient(provider="hf-inference").image_classification(image_bytes, model=...)`` in
huggingface_hub 2.4.0 makes no provider-mapping look-up: it asks the Hub for the model
(``GET /api/models/<model>``, no ``expand``, cached per process like the mapping) and refuses,
with ``ValueError("Model '<m>' doesn't support task 'image-classification'...")``, a model whose
``pipeline_tag`` is another; then it POSTs the image's raw bytes, with no ``content-type`` header,
to ``/hf-inference/models/<model>``. Only with ``top_k=`` or ``function_to_apply=`` does the body
become JSON ``{"inputs": "<base64 of the image>", "parameters": {...}}`` (the fake reads both and
honours ``top_k``). The answer is a JSON list sorted by score, highest first::

    [{"label": "nsfw", "score": s}, {"label": "normal", "score": 1 - s}]

``s`` is ``server.nsfw_score``: a number (default 0.02), or a callable given the image's bytes
that returns one, so that one server can flag one picture and pass another;
``nsfw_score_by_redness`` is such a rule (a pure red picture scores 1.0, white, grey or blue 0.0,
``(204, 0, 0)`` exactly 0.8). The labels are ``server.classification_labels[model]``, the first
scored ``s``, the second ``1 - s``; ``("nsfw", "normal")`` (Falconsai/nsfw_image_detection's) for a
model not listed there. ``travelfit-test/cat-or-dog`` (not a real model) answers ``("cat",
"dog")``: a classifier with no unsafe label. Bytes Pillow cannot open get 400 ``{"error":
"cannot identify image file"}`` (the real wording is unchecked).

``server.classification_behaviour`` (default ``"ok"``) answers these POSTs, which never take from
the scripted queue: ``ok``; ``garbage`` (200 with HTML); ``empty`` (200 ``[]``); ``wrong-json``
(200 ``{"detail": ...}``, an object, not a list); ``slow``; ``hangup``; or any error behaviour of
the table above (``503-loading``, ``401``, ``404``, ``repo-not-found``, ``500``, ...).
``server.classification_requests`` lists them (``inference_requests`` leaves them out), each
with the image bytes received in ``.image`` and the unsafe label's score answered in ``.score``.

fal's own safety checker: every fal answer that carries images (the router's, and the queue's
result) says ``"has_nsfw_concepts": [<server.nsfw_concepts>]`` per image, ``False`` unless a
test sets it (fal then may send a black image; the fake sends its usual one).

``server.hub_behaviour`` answers the Hub look-up: ``"ok"`` (the mapping in ``server.models``; a
model not in it gets 404 + ``X-Error-Code: RepoNotFound``, as the Hub does), or any error behaviour
above. ``server.models`` maps a Hub model id to its ``inferenceProviderMapping`` dict and
``pipeline_tag``; add entries to serve other models (``server.add_model(...)``).

Model cards: each model's entry also has the Hub's ``cardData`` (the card's YAML metadata as
JSON), which ``model_info(id, expand=["cardData"])`` asks for and reads into ``.card_data``: its
``license`` (a Hub licence id), or ``"other"`` with ``license_name``, as the real cards said when
this was written (``yisol/IDM-VTON`` ``cc-by-nc-sa-4.0``; FLUX.1 Kontext [dev] ``other`` +
``flux-1-dev-non-commercial-license``; SD3 ``other`` + ``stabilityai-ai-community``; the rest
``apache-2.0``). ``GET /api/spaces/<owner>/<space>`` (``space_info``) answers the same way from
``server.spaces`` (``sdk`` and ``cardData``; 404 + RepoNotFound for another), under the same
``server.hub_behaviour``; the ``yisol/IDM-VTON`` Space's card here states no licence (then the
model of the same id is asked). ``server.set_licence(id, licence, kind="model")`` changes one.
``server.hub_requests`` lists the ``/api/models/`` look-ups, ``server.space_requests`` the
``/api/spaces/`` ones.

Every request is recorded in ``server.requests`` (``RecordedRequest``: method, path, query,
headers with lower-case names, raw body, parsed JSON, and for fal's queue the photo decoded from
``image_url``), so a test can check the ``authorization`` header, ``image_size``, ``seed``,
``negative_prompt``, the photo... that the client sent.

Pointing huggingface_hub at the fake at run time
------------------------------------------------
Nothing needs to be set before huggingface_hub is imported. In 2.4.0:

* The mapping look-up is ``huggingface_hub.inference._providers._common.
  _fetch_inference_provider_mapping(model)``, which builds a fresh ``HfApi()`` on each (uncached)
  call; ``HfApi.__init__`` reads ``huggingface_hub.constants.ENDPOINT`` then. So patching
  ``huggingface_hub.constants.ENDPOINT`` (the module attribute, not an import of it) moves the
  look-up. ``HF_ENDPOINT`` is only read once, at import, to set that constant.
* The fal-ai router base is ``huggingface_hub.constants.INFERENCE_PROXY_TEMPLATE``, read at call
  time by ``TaskProviderHelper._prepare_base_url``: set it to ``server.url + "/{provider}"``.
* ``provider="hf-inference"`` does not read that constant at call time: its helper copied it into
  ``.base_url`` when huggingface_hub was imported. Patch
  ``huggingface_hub.inference._providers.PROVIDERS["hf-inference"]["text-to-image"].base_url``
  (and ``["image-to-image"]``'s, ``["translation"]``'s, ``["image-classification"]``'s) to
  ``server.url + "/hf-inference"``. (A URL given as ``model=`` needs none of this.)
* The look-ups are ``functools.lru_cache``-d for the life of the process. Clear them with
  ``_fetch_inference_provider_mapping.cache_clear()`` (same function object in
  ``huggingface_hub.inference._providers._common`` and ``huggingface_hub.inference._providers``)
  and, for hf-inference, ``huggingface_hub.inference._providers.hf_inference.
  _check_supported_task.cache_clear()`` (the pipeline-tag look-up of translation and image
  classification).
* The look-up sends the implicit token (``HF_TOKEN`` or a stored login), not the ``api_key`` given
  to InferenceClient; with neither, it goes without ``authorization``.
* Telemetry: unless ``HF_HUB_DISABLE_TELEMETRY`` is set, the first request huggingface_hub
  builds headers for also fetches ``{ENDPOINT}/api/agent-harnesses`` (once per process, to name
  the "AI agent" in its User-Agent; cached in ``$HF_HOME/.agent_harnesses.json`` when it
  succeeds). Without ENDPOINT patched that is a look-up of huggingface.co, even for a call to a
  URL endpoint. Set ``HF_HUB_DISABLE_TELEMETRY=1`` in the environment, or
  ``huggingface_hub.constants.HF_HUB_DISABLE_TELEMETRY = True`` at run time (read at call time).
  This fake answers that path 404, so nothing is written under ``$HF_HOME``.

``with huggingface_hub_pointed_at(server.url):`` does all of that and undoes it on the way out,
clearing the caches both ways; ``clear_huggingface_hub_caches()`` clears them alone. Never set
``HF_HUB_OFFLINE=1``: it blocks 127.0.0.1 too.

Example::

    @pytest.fixture
    def hf():
        with start_hf_server() as server, huggingface_hub_pointed_at(server.url):
            yield server

    def test_503_then_ok(hf):
        hf.script("503-loading", "ok")
        ...
        assert hf.inference_requests[-1].json["image_size"] == {"width": 512, "height": 512}
"""

from __future__ import annotations

import base64
import collections
import contextlib
import hashlib
import io
import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from PIL import Image, ImageDraw, ImageStat

GPU_QUOTA_MESSAGE = "You have exceeded your GPU quota (65s requested vs. 57s left)."

# Model cards' metadata (cardData) as the Hub serves it.
APACHE = {"license": "apache-2.0"}
OTHER_SAI = {
    "license": "other",
    "license_name": "stabilityai-ai-community",
    "license_link": "LICENSE.md",
}
FLUX_DEV = {
    "license": "other",
    "license_name": "flux-1-dev-non-commercial-license",
    "license_link": "LICENSE.md",
}

# Hub model id -> what /api/models/<id> answers besides "id". The fal ids are fal's real ones.
DEFAULT_MODELS: dict[str, dict[str, Any]] = {
    "stabilityai/stable-diffusion-3-medium": {
        "cardData": OTHER_SAI,
        "pipeline_tag": "text-to-image",
        "inferenceProviderMapping": {
            "fal-ai": {
                "status": "live",
                "providerId": "fal-ai/stable-diffusion-v3-medium",
                "task": "text-to-image",
            }
        },
    },
    "stabilityai/stable-diffusion-3.5-large": {
        "cardData": OTHER_SAI,
        "pipeline_tag": "text-to-image",
        "inferenceProviderMapping": {
            "fal-ai": {
                "status": "live",
                "providerId": "fal-ai/stable-diffusion-v35-large",
                "task": "text-to-image",
            },
            "hf-inference": {
                "status": "live",
                "providerId": "stabilityai/stable-diffusion-3.5-large",
                "task": "text-to-image",
            },
        },
    },
    # Served by hf-inference for translation when this fake was written; check again (it moves).
    "Helsinki-NLP/opus-mt-ko-en": {
        "cardData": APACHE,
        "pipeline_tag": "translation",
        "inferenceProviderMapping": {
            "hf-inference": {
                "status": "live",
                "providerId": "Helsinki-NLP/opus-mt-ko-en",
                "task": "translation",
            }
        },
    },
    "black-forest-labs/FLUX.1-schnell": {
        "cardData": APACHE,
        "pipeline_tag": "text-to-image",
        "inferenceProviderMapping": {
            "fal-ai": {
                "status": "live",
                "providerId": "fal-ai/flux/schnell",
                "task": "text-to-image",
            }
        },
    },
    # The edit task's default model, run by fal's queue.
    "black-forest-labs/FLUX.1-Kontext-dev": {
        "cardData": FLUX_DEV,
        "pipeline_tag": "image-to-image",
        "inferenceProviderMapping": {
            "fal-ai": {
                "status": "live",
                "providerId": "fal-ai/flux-kontext/dev",
                "task": "image-to-image",
            }
        },
    },
    # The safety check's default classifier; its labels are "nsfw" and "normal".
    "Falconsai/nsfw_image_detection": {
        "cardData": APACHE,
        "pipeline_tag": "image-classification",
        "inferenceProviderMapping": {
            "hf-inference": {
                "status": "live",
                "providerId": "Falconsai/nsfw_image_detection",
                "task": "image-classification",
            }
        },
    },
    # The try-on model (run by its Space of the same id, not by Inference Providers).
    "yisol/IDM-VTON": {
        "cardData": {"license": "cc-by-nc-sa-4.0", "language": ["en"]},
        "inferenceProviderMapping": {},
    },
    # Not a real model: a classifier with no unsafe label, for the check that says so.
    "travelfit-test/cat-or-dog": {
        "pipeline_tag": "image-classification",
        "inferenceProviderMapping": {
            "hf-inference": {
                "status": "live",
                "providerId": "travelfit-test/cat-or-dog",
                "task": "image-classification",
            }
        },
    },
}

# Hub Space id -> what /api/spaces/<id> answers besides "id".
DEFAULT_SPACES: dict[str, dict[str, Any]] = {
    "yisol/IDM-VTON": {"sdk": "gradio", "cardData": {"title": "IDM VTON", "sdk": "gradio"}},
    "stabilityai/stable-diffusion-3.5-large": {
        "sdk": "gradio",
        "cardData": {"title": "Stable Diffusion 3.5 Large", "sdk": "gradio"},
    },
}

# An image classifier's two labels: the first scores ``server.nsfw_score``, the second the rest.
NSFW_LABELS = ("nsfw", "normal")
DEFAULT_CLASSIFICATION_LABELS: dict[str, tuple[str, str]] = {
    "travelfit-test/cat-or-dog": ("cat", "dog"),
}

BEHAVIOURS = frozenset(
    {
        "ok",
        "scaled-to-zero",
        "wrong-size",
        "garbage",
        "empty",
        "image-404",
        "image-slow",
        "slow",
        "hangup",
        "400-content",
        "401",
        "403",
        "403-gated",
        "404",
        "repo-not-found",
        "402",
        "410",
        "429",
        "429-ratelimit",
        "503-loading",
        "gpu-quota",
        "500",
        "echo-400",
        "echo-422",
        "echo-500",
        "wrong-json",
        "stuck",
    }
)

# What a classification POST may be told to do: the behaviours about image sizes, fal's image
# URLs and queues, or scaling endpoints have no meaning there.
CLASSIFICATION_BEHAVIOURS = BEHAVIOURS - {
    "wrong-size",
    "image-404",
    "image-slow",
    "stuck",
    "scaled-to-zero",
}

GARBAGE = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
WRONG_JSON = {"detail": "Service temporarily reorganised; see the status page."}
# fal's queue URLs, with or without the router's /fal-ai in front: .../requests/<id>[/status]
QUEUE_PATH = re.compile(r"^/(?P<app>.+)/requests/(?P<id>[^/]+?)(?P<status>/status)?$")
DATA_URL = re.compile(r"^data:(?P<mime>[^;,]*);base64,(?P<data>.*)$", re.S)

# What the fake translation answers for these texts (Korean → English).
TRANSLATIONS = {
    "서울 야경": "Seoul at night",
    "부산 해운대 해변의 일출": "Sunrise over Haeundae beach in Busan",
    "제주도 성산일출봉의 일출": "Sunrise at Seongsan Ilchulbong on Jeju Island",
    "제주도 성산일출봉의 일출, 수채화 스타일": (
        "Sunrise at Seongsan Ilchulbong on Jeju Island, watercolour style"
    ),
    "경복궁 앞 한복 입은 여행자": "A traveller in hanbok in front of Gyeongbokgung",
    "흐릿한 사진": "blurry photo",
    "사람들": "people",
}


def nsfw_score_by_redness(image: bytes) -> float:
    """A per-image rule for ``server.nsfw_score``: how much redder than green and blue the
    picture is on average, from 0 to 1 (pure red 1.0, ``(204, 0, 0)`` 0.8, white, grey or blue
    0.0). Raises ``PIL.UnidentifiedImageError`` for bytes that are no image."""
    red, green, blue = ImageStat.Stat(Image.open(io.BytesIO(image)).convert("RGB")).mean
    return max(0.0, red - (green + blue) / 2) / 255


def translate_text(text: str) -> str:
    """The fake's English for a text: TRANSLATIONS, or a stand-in that names the text."""
    return TRANSLATIONS.get(text) or f"english {hashlib.sha256(text.encode()).hexdigest()[:8]}"


@dataclass
class RecordedRequest:
    """One request as the fake received it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # names in lower case
    body: bytes
    json: Any = None
    behaviour: str | None = None  # what the fake did with it: inference POSTs, fal's queue GETs
    translation: str | None = None  # what the fake did with it, for translation POSTs
    classification: str | None = None  # what the fake did with it, for classification POSTs
    # fal's queue: the photo decoded from the payload's image_url; classification: the image
    image: bytes | None = None
    score: float | None = None  # classification: the first label's score answered (None: none)
    image_type: str | None = None  # ... and the MIME type its data URL named
    queue_step: str | None = None  # fal's queue GETs: "status" or "result"


@dataclass
class QueueJob:
    """One image-to-image job fal's queue accepted."""

    request_id: str
    app: str  # the fal app the queue URLs are under, e.g. fal-ai/flux-kontext
    behaviour: str  # the submit POST's behaviour, which shapes the result
    image: bytes | None  # the photo received
    result: bytes | None  # the bytes its image URL serves (None: 404, or no image at all)
    image_url: str | None  # the result's image URL (None for an empty result)
    width: int = 0
    height: int = 0
    seed: Any = None
    prompt: str = ""
    polls: int = 0  # status polls answered
    submitted: float = 0.0  # time.monotonic() when its submit POST arrived


@dataclass
class _StoredFile:
    content: bytes | None  # None: answer 404
    delay: float = 0.0


@dataclass
class _Reply:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def draw_png(width: int, height: int, label: str = "", seed: int | None = None) -> bytes:
    """A PNG of exactly width x height, its colour taken from the seed, the label written on it."""
    colour = ((seed or 0) * 2654435761) & 0xFFFFFF
    image = Image.new("RGB", (width, height), (colour >> 16, (colour >> 8) & 255, colour & 255))
    if label:
        ImageDraw.Draw(image).text((8, 8), label[:60], fill="white")
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def tint_png(photo: bytes | None, label: str = "", seed: int | None = None, extra_width: int = 0):
    """The fake image-to-image model's answer: the photo, its size plus ``extra_width``, tinted
    with the seed's colour (as ``draw_png`` picks it) and the label written on it, as PNG. A
    photo Pillow cannot open gives ``draw_png(1024, 1024, label, seed)``."""
    try:
        image = Image.open(io.BytesIO(photo or b"")).convert("RGB")
    except OSError:
        return draw_png(1024 + extra_width, 1024, label, seed)
    if extra_width:
        image = image.resize((image.width + extra_width, image.height))
    colour = ((seed or 0) * 2654435761) & 0xFFFFFF
    tint = Image.new("RGB", image.size, (colour >> 16, (colour >> 8) & 255, colour & 255))
    image = Image.blend(image, tint, 0.3)
    if label:
        ImageDraw.Draw(image).text((8, 8), label[:60], fill="white")
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def _json_reply(status: int, payload: dict, **headers: str) -> _Reply:
    return _Reply(status, json.dumps(payload).encode(), "application/json", dict(headers))


def error_reply(behaviour: str, model: str, retry_after: int) -> _Reply | None:
    """The HTTP error HF answers for an error behaviour, or None for a non-error behaviour."""
    if behaviour == "400-content":
        return _json_reply(
            400, {"error": "Your prompt was flagged by the content filter. Try another prompt."}
        )
    if behaviour == "401":
        message = "Invalid credentials in Authorization header"
        return _json_reply(401, {"error": message}, **{"X-Error-Message": message})
    if behaviour == "403":
        return _json_reply(
            403,
            {
                "error": "This authentication method does not have sufficient permissions to "
                "call Inference Providers on behalf of user test-user"
            },
        )
    if behaviour == "403-gated":
        message = (
            f"Access to model {model} is restricted and you are not in the authorized list. "
            f"Visit https://huggingface.co/{model} to ask for access."
        )
        return _json_reply(
            403, {"error": message}, **{"X-Error-Code": "GatedRepo", "X-Error-Message": message}
        )
    if behaviour == "404":
        return _json_reply(404, {"error": "Not Found"})
    if behaviour == "repo-not-found":
        return _json_reply(
            404,
            {"error": "Repository not found"},
            **{"X-Error-Code": "RepoNotFound", "X-Error-Message": "Repository not found"},
        )
    if behaviour == "402":
        return _json_reply(
            402,
            {
                "error": "You have exceeded your monthly included credits for Inference "
                "Providers. Subscribe to PRO to get 20x more monthly included credits."
            },
        )
    if behaviour == "410":
        return _json_reply(
            410,
            {
                "error": "https://api-inference.huggingface.co is no longer supported. "
                "Please use https://router.huggingface.co instead."
            },
        )
    if behaviour == "429":
        return _json_reply(
            429,
            {"error": "Rate limit reached. Please retry later."},
            **{"Retry-After": str(retry_after)},
        )
    if behaviour == "429-ratelimit":
        return _json_reply(
            429,
            {"error": "Rate limit reached. Please retry later."},
            **{
                "RateLimit": f'"api";r=0;t={retry_after}',
                "RateLimit-Policy": '"fixed window";"api";q=500;w=300',
            },
        )
    if behaviour == "503-loading":
        return _json_reply(
            503, {"error": f"Model {model} is currently loading", "estimated_time": 20.0}
        )
    if behaviour == "gpu-quota":
        return _json_reply(429, {"error": GPU_QUOTA_MESSAGE})
    if behaviour == "500":
        return _json_reply(500, {"error": "Internal Server Error"})
    return None


class FakeHuggingFace(ThreadingHTTPServer):
    """The server object a test holds: scripting knobs, the request log, start and stop."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        super().__init__((host, port), _Handler)
        self.url = f"http://{host}:{self.server_address[1]}"
        self.behaviour = "ok"
        self.hub_behaviour = "ok"
        self.translation_behaviour = "ok"
        self.classification_behaviour = "ok"
        self.nsfw_score: float | Callable[[bytes], float] = 0.02
        self.nsfw_concepts = False
        self.classification_labels = dict(DEFAULT_CLASSIFICATION_LABELS)
        self.status_behaviour = "ok"
        self.result_behaviour = "ok"
        self.polls_in_progress = 1
        self.queue_seconds: float | None = None
        self.slow_seconds = 10.0
        self.retry_after = 1
        self.scale_up_seconds = 0.3
        self.models: dict[str, dict[str, Any]] = json.loads(json.dumps(DEFAULT_MODELS))
        self.spaces: dict[str, dict[str, Any]] = json.loads(json.dumps(DEFAULT_SPACES))
        self.requests: list[RecordedRequest] = []
        self.jobs: dict[str, QueueJob] = {}
        self._queue: collections.deque[str] = collections.deque()
        self._files: dict[str, _StoredFile] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._thread: threading.Thread | None = None

    # -- scripting ---------------------------------------------------------------------------

    def script(self, *behaviours: str) -> None:
        """Queue behaviours for the next inference POSTs, one each, before ``behaviour``."""
        for behaviour in behaviours:
            _check(behaviour)
        with self._lock:
            self._queue.extend(behaviours)

    @property
    def behaviour(self) -> str:
        """How inference POSTs are answered once the scripted queue is empty."""
        return self._behaviour

    @behaviour.setter
    def behaviour(self, value: str) -> None:
        _check(value)
        self._behaviour = value

    @property
    def hub_behaviour(self) -> str:
        """How the Hub look-up ``GET /api/models/...`` is answered."""
        return self._hub_behaviour

    @hub_behaviour.setter
    def hub_behaviour(self, value: str) -> None:
        _check(value)
        self._hub_behaviour = value

    def add_model(
        self,
        model: str,
        provider_id: str | None = None,
        *,
        provider: str = "fal-ai",
        status: str = "live",
        task: str = "text-to-image",
        labels: tuple[str, str] | None = None,
    ) -> None:
        """Serve a Hub model whose mapping names provider_id on provider (None: no mapping);
        ``labels`` are an image classifier's two labels (default ``NSFW_LABELS``)."""
        entry = self.models.setdefault(model, {"pipeline_tag": task})
        mapping = entry.setdefault("inferenceProviderMapping", {})
        if provider_id is not None:
            mapping[provider] = {"status": status, "providerId": provider_id, "task": task}
        if labels is not None:
            self.classification_labels[model] = labels

    def set_licence(self, repo: str, licence: str | None, *, kind: str = "model") -> None:
        """Make a model's (or a Space's) card say `licence` (None: no licence line); an
        unknown id is added, with no mapping."""
        entries = self.spaces if kind == "space" else self.models
        card = entries.setdefault(repo, {}).setdefault("cardData", {})
        card.pop("license_name", None)
        if licence is None:
            card.pop("license", None)
        else:
            card["license"] = licence

    @property
    def translation_behaviour(self) -> str:
        """How translation POSTs are answered (they never take from the scripted queue)."""
        return self._translation_behaviour

    @translation_behaviour.setter
    def translation_behaviour(self, value: str) -> None:
        _check(value)
        self._translation_behaviour = value

    @property
    def classification_behaviour(self) -> str:
        """How image-classification POSTs are answered (they never take from the scripted
        queue)."""
        return self._classification_behaviour

    @classification_behaviour.setter
    def classification_behaviour(self, value: str) -> None:
        if value not in CLASSIFICATION_BEHAVIOURS:
            raise ValueError(
                f"unknown classification behaviour {value!r}; "
                f"known: {sorted(CLASSIFICATION_BEHAVIOURS)}"
            )
        self._classification_behaviour = value

    def nsfw_score_of(self, image: bytes) -> float:
        """The unsafe label's score for this image: ``nsfw_score``, or what it says if a rule."""
        score = self.nsfw_score
        return float(score(image) if callable(score) else score)

    @property
    def status_behaviour(self) -> str:
        """How fal's queue answers status polls (``stuck``: IN_QUEUE for ever)."""
        return self._status_behaviour

    @status_behaviour.setter
    def status_behaviour(self, value: str) -> None:
        _check(value)
        self._status_behaviour = value

    @property
    def result_behaviour(self) -> str:
        """How fal's queue answers the GET of a job's result."""
        return self._result_behaviour

    @result_behaviour.setter
    def result_behaviour(self, value: str) -> None:
        _check(value)
        self._result_behaviour = value

    def is_translation_model(self, model: str) -> bool:
        return self.models.get(model, {}).get("pipeline_tag") == "translation"

    def is_classification_model(self, model: str) -> bool:
        return self.models.get(model, {}).get("pipeline_tag") == "image-classification"

    def next_behaviour(self) -> str:
        with self._lock:
            return self._queue.popleft() if self._queue else self._behaviour

    # -- what tests read ---------------------------------------------------------------------

    @property
    def inference_requests(self) -> list[RecordedRequest]:
        """The image POSTs received (router and endpoint), oldest first."""
        return [r for r in self.requests if r.method == "POST" and r.behaviour is not None]

    @property
    def translation_requests(self) -> list[RecordedRequest]:
        """The translation POSTs received, oldest first."""
        return [r for r in self.requests if r.method == "POST" and r.translation is not None]

    @property
    def classification_requests(self) -> list[RecordedRequest]:
        """The image-classification POSTs received, oldest first (``.image``: the bytes)."""
        return [r for r in self.requests if r.method == "POST" and r.classification is not None]

    @property
    def received_images(self) -> list[bytes | None]:
        """The photos fal's queue received (decoded from ``image_url``), oldest first."""
        return [r.image for r in self.inference_requests if r.query.get("_subdomain")]

    @property
    def status_requests(self) -> list[RecordedRequest]:
        """fal's queue status polls received, oldest first."""
        return [r for r in self.requests if r.queue_step == "status"]

    @property
    def result_requests(self) -> list[RecordedRequest]:
        """fal's queue result GETs received, oldest first."""
        return [r for r in self.requests if r.queue_step == "result"]

    @property
    def hub_requests(self) -> list[RecordedRequest]:
        """The Hub model look-ups received (``GET /api/models/...``), oldest first."""
        return [r for r in self.requests if r.path.startswith("/api/models/")]

    @property
    def space_requests(self) -> list[RecordedRequest]:
        """The Hub Space look-ups received (``GET /api/spaces/...``), oldest first."""
        return [r for r in self.requests if r.path.startswith("/api/spaces/")]

    # -- life --------------------------------------------------------------------------------

    def start(self) -> FakeHuggingFace:
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and cut every open connection (kept-alive ones included)."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        self.shutdown()
        self.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeHuggingFace:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # -- internals used by the handler -------------------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _track(self, connection: socket.socket, open_: bool) -> None:
        with self._lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def _store_file(self, content: bytes | None, delay: float = 0.0) -> str:
        name = f"{uuid.uuid4().hex}.png"
        with self._lock:
            self._files[name] = _StoredFile(content, delay)
        return f"{self.url}/files/{name}"

    def _sleep(self, seconds: float) -> bool:
        """Wait, cut short by stop(); False if the server is stopping."""
        return not self._stopping.wait(seconds)


def _check(behaviour: str) -> None:
    if behaviour not in BEHAVIOURS:
        raise ValueError(f"unknown behaviour {behaviour!r}; known: {sorted(BEHAVIOURS)}")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FakeHuggingFace

    def setup(self) -> None:
        super().setup()
        self.server._track(self.connection, True)

    def finish(self) -> None:
        self.server._track(self.connection, False)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: tests read server.requests instead

    # -- entry points ------------------------------------------------------------------------

    def do_GET(self) -> None:
        record = self._read_request()
        path = record.path
        if path.startswith("/api/models/"):
            self._answer_hub(record, path.removeprefix("/api/models/"))
        elif path.startswith("/api/spaces/"):
            self._answer_hub(record, path.removeprefix("/api/spaces/"), self.server.spaces)
        elif path == "/api/whoami-v2":
            self._answer_whoami(record)
        elif path.startswith("/files/"):
            self._answer_file(path.removeprefix("/files/"))
        elif match := QUEUE_PATH.match(path):
            self._answer_queue(record, match["id"], "status" if match["status"] else "result")
        else:
            self._send(_json_reply(404, {"error": "Not Found"}))

    def do_POST(self) -> None:
        record = self._read_request()
        model = record.path.removeprefix("/hf-inference/models/").strip("/")
        on_hf_inference = record.path.startswith("/hf-inference/models/")
        if on_hf_inference and self.server.is_translation_model(model):
            record.translation = self.server.translation_behaviour
            self._answer_translation(record, record.translation, model)
            return
        if on_hf_inference and self.server.is_classification_model(model):
            record.classification = self.server.classification_behaviour
            self._answer_classification(record, record.classification, model)
            return
        behaviour = self.server.next_behaviour()
        record.behaviour = behaviour
        path = record.path
        if path.startswith("/fal-ai/") and record.query.get("_subdomain") == ["queue"]:
            self._answer_fal_queue(record, behaviour, path.removeprefix("/fal-ai/"))
        elif path.startswith("/fal-ai/"):
            self._answer_fal(record, behaviour, path.removeprefix("/fal-ai/"))
        else:
            model = path.removeprefix("/hf-inference/models/").strip("/") or "endpoint"
            self._answer_raw_image(record, behaviour, model)

    # -- the three parts ---------------------------------------------------------------------

    def _answer_hub(
        self, record: RecordedRequest, rest: str, entries: dict[str, Any] | None = None
    ) -> None:
        model = rest.split("/revision/")[0]
        behaviour = self.server.hub_behaviour
        if behaviour == "hangup":
            self.close_connection = True
            return
        if behaviour == "slow" and not self.server._sleep(self.server.slow_seconds):
            return
        reply = error_reply(behaviour, model, self.server.retry_after)
        if reply is None:
            entry = (self.server.models if entries is None else entries).get(model)
            if entry is None:
                reply = error_reply("repo-not-found", model, self.server.retry_after)
            else:
                # As the Hub: with ?expand=..., only _id, id and the fields asked for.
                payload = {"_id": uuid.uuid5(uuid.NAMESPACE_URL, model).hex[:24], "id": model}
                expand = record.query.get("expand")
                payload.update(
                    {k: v for k, v in entry.items() if k in expand}
                    if expand
                    else {k: v for k, v in entry.items() if k != "inferenceProviderMapping"}
                )
                reply = _json_reply(200, payload)
        self._send(reply)

    def _answer_whoami(self, record: RecordedRequest) -> None:
        """The Hub's token check: who the bearer token belongs to, or 401 as the Hub answers."""
        token = record.headers.get("authorization", "").removeprefix("Bearer ")
        if self.server.hub_behaviour == "401" or not token.startswith("hf_"):
            self._send(
                _json_reply(
                    401,
                    {"error": "Invalid credentials in Authorization header"},
                    **{"X-Error-Message": "Invalid credentials in Authorization header"},
                )
            )
            return
        self._send(_json_reply(200, {"type": "user", "name": "traveller", "auth": {}}))

    def _answer_fal(self, record: RecordedRequest, behaviour: str, fal_model: str) -> None:
        if self._common_behaviour(behaviour, fal_model):
            return
        body = record.json if isinstance(record.json, dict) else {}
        size = body.get("image_size") or {}
        width, height = _size(size.get("width"), size.get("height"))
        if behaviour == "wrong-size":
            width += 64
        if behaviour == "empty":
            self._send(_json_reply(200, {"images": []}))
            return
        if behaviour == "wrong-json":
            self._send(_json_reply(200, WRONG_JSON))
            return
        if behaviour == "garbage":
            url = self.server._store_file(GARBAGE)
        elif behaviour == "image-404":
            url = self.server._store_file(None)
        else:
            png = draw_png(width, height, str(body.get("prompt", "")), body.get("seed"))
            delay = self.server.slow_seconds if behaviour == "image-slow" else 0.0
            url = self.server._store_file(png, delay)
        payload = {
            "images": [{"url": url, "width": width, "height": height, "content_type": "image/png"}],
            "timings": {"inference": 0.01},
            "seed": body.get("seed", 42),
            "has_nsfw_concepts": [self.server.nsfw_concepts],
            "prompt": body.get("prompt", ""),
        }
        self._send(_json_reply(200, payload))

    def _answer_fal_queue(self, record: RecordedRequest, behaviour: str, fal_model: str) -> None:
        """fal's queue submit: keep the photo, accept the job, answer where to poll."""
        submitted = time.monotonic()
        body = record.json if isinstance(record.json, dict) else {}
        found = DATA_URL.match(str(body.get("image_url", "")))
        if found:
            record.image = base64.b64decode(found["data"])
            record.image_type = found["mime"]
        if self._common_behaviour(behaviour, fal_model):
            return
        if behaviour == "wrong-json":
            self._send(_json_reply(200, WRONG_JSON))
            return
        prompt, seed = str(body.get("prompt", "")), body.get("seed")
        result = tint_png(record.image, prompt, seed, 64 if behaviour == "wrong-size" else 0)
        width, height = Image.open(io.BytesIO(result)).size
        if behaviour == "empty":
            result, url = None, None
        elif behaviour == "garbage":
            result = GARBAGE
            url = self.server._store_file(result)
        elif behaviour == "image-404":
            result, url = None, self.server._store_file(None)
        else:
            delay = self.server.slow_seconds if behaviour == "image-slow" else 0.0
            url = self.server._store_file(result, delay)
        job = QueueJob(
            request_id=str(uuid.uuid4()),
            app="/".join(fal_model.split("/")[:2]),
            behaviour=behaviour,
            image=record.image,
            result=result,
            image_url=url,
            width=width,
            height=height,
            seed=seed,
            prompt=prompt,
            submitted=submitted,
        )
        with self.server._lock:
            self.server.jobs[job.request_id] = job
        base = f"{self.server.url}/{job.app}/requests/{job.request_id}"
        payload = {
            "request_id": job.request_id,
            "status": "IN_QUEUE",
            "response_url": base,
            "status_url": base + "/status",
            "cancel_url": base + "/cancel",
            "queue_position": 0,
        }
        self._send(_json_reply(200, payload))

    def _answer_queue(self, record: RecordedRequest, request_id: str, step: str) -> None:
        """fal's queue after the submit: a job's status, or its result."""
        record.queue_step = step
        behaviour = (
            self.server.status_behaviour if step == "status" else self.server.result_behaviour
        )
        record.behaviour = behaviour
        with self.server._lock:
            job = self.server.jobs.get(request_id)
            if job is not None and step == "status":
                job.polls += 1
        if job is None:
            self._send(_json_reply(404, {"detail": f"Request {request_id} not found"}))
            return
        if self._common_behaviour(behaviour, job.app):
            return
        if behaviour == "wrong-json":
            self._send(_json_reply(200, WRONG_JSON))
        elif behaviour == "garbage":
            self._send(_Reply(200, GARBAGE, "text/html; charset=utf-8"))
        elif step == "status":
            if "stuck" in (behaviour, job.behaviour):
                self._send(_json_reply(200, {"status": "IN_QUEUE", "queue_position": 0}))
            elif self.server.queue_seconds is not None:
                done = time.monotonic() - job.submitted >= self.server.queue_seconds
                self._send(
                    _json_reply(200, {"status": "COMPLETED" if done else "IN_PROGRESS", "logs": []})
                )
            elif job.polls <= self.server.polls_in_progress:
                self._send(_json_reply(200, {"status": "IN_PROGRESS", "logs": []}))
            else:
                self._send(_json_reply(200, {"status": "COMPLETED", "logs": []}))
        else:
            images = []
            if job.image_url is not None:
                images.append(
                    {
                        "url": job.image_url,
                        "width": job.width,
                        "height": job.height,
                        "content_type": "image/png",
                    }
                )
            payload = {
                "images": images,
                "timings": {"inference": 0.01},
                "seed": job.seed if job.seed is not None else 42,
                "has_nsfw_concepts": [self.server.nsfw_concepts] * len(images),
                "prompt": job.prompt,
            }
            self._send(_json_reply(200, payload))

    def _answer_raw_image(self, record: RecordedRequest, behaviour: str, model: str) -> None:
        if behaviour == "scaled-to-zero":
            if "x-scale-up-timeout" not in record.headers:
                self._send(_json_reply(503, {"error": "Service Unavailable: scaling up"}))
                return
            self.server._sleep(self.server.scale_up_seconds)
        if self._common_behaviour(behaviour, model):
            return
        body = record.json if isinstance(record.json, dict) else {}
        parameters = body.get("parameters") or {}
        width, height = _size(parameters.get("width"), parameters.get("height"))
        if behaviour == "wrong-size":
            width += 64
        if behaviour == "empty":
            self._send(_Reply(200, b"", "image/png"))
        elif behaviour == "wrong-json":
            self._send(_json_reply(200, WRONG_JSON))
        elif behaviour == "garbage":
            self._send(_Reply(200, GARBAGE, "text/html; charset=utf-8"))
        else:
            prompt = str(body.get("inputs", ""))
            self._send(
                _Reply(200, draw_png(width, height, prompt, parameters.get("seed")), "image/png")
            )

    def _answer_translation(self, record: RecordedRequest, behaviour: str, model: str) -> None:
        if self._common_behaviour(behaviour, model):
            return
        if behaviour == "garbage":
            self._send(_Reply(200, GARBAGE, "text/html; charset=utf-8"))
        elif behaviour == "empty":
            self._send(_Reply(200, b"[]"))
        else:
            body = record.json if isinstance(record.json, dict) else {}
            english = translate_text(str(body.get("inputs", "")))
            self._send(_Reply(200, json.dumps([{"translation_text": english}]).encode()))

    def _answer_classification(self, record: RecordedRequest, behaviour: str, model: str) -> None:
        """hf-inference's image classification: the labels' scores, highest first."""
        parameters: dict[str, Any] = {}
        if isinstance(record.json, dict) and isinstance(record.json.get("inputs"), str):
            # With parameters, the client sends the image base64-encoded in JSON.
            record.image = base64.b64decode(record.json["inputs"])
            parameters = record.json.get("parameters") or {}
        else:
            record.image = record.body
        if self._common_behaviour(behaviour, model):
            return
        if behaviour == "garbage":
            self._send(_Reply(200, GARBAGE, "text/html; charset=utf-8"))
            return
        if behaviour == "empty":
            self._send(_Reply(200, b"[]"))
            return
        if behaviour == "wrong-json":
            self._send(_json_reply(200, WRONG_JSON))
            return
        try:
            Image.open(io.BytesIO(record.image)).verify()
            score = self.server.nsfw_score_of(record.image)
        except (OSError, SyntaxError):  # not an image, or a broken one (Pillow raises both)
            self._send(_json_reply(400, {"error": "cannot identify image file"}))
            return
        record.score = score
        first, second = self.server.classification_labels.get(model, NSFW_LABELS)
        answer = sorted(
            [{"label": first, "score": score}, {"label": second, "score": 1.0 - score}],
            key=lambda item: item["score"],
            reverse=True,
        )
        top_k = parameters.get("top_k")
        if isinstance(top_k, int) and top_k > 0:
            answer = answer[:top_k]
        self._send(_Reply(200, json.dumps(answer).encode()))

    def _answer_file(self, name: str) -> None:
        with self.server._lock:
            stored = self.server._files.get(name)
        if stored is not None and stored.delay and not self.server._sleep(stored.delay):
            return
        if stored is None or stored.content is None:
            self._send(_Reply(404, b"Not Found", "text/plain"))
        else:
            self._send(_Reply(200, stored.content, "image/png"))

    def _common_behaviour(self, behaviour: str, model: str) -> bool:
        """Answer the behaviours every POST shares; True if the request is dealt with."""
        if behaviour.startswith("echo-"):
            sent = self.headers.get("Authorization", "")
            status = int(behaviour.removeprefix("echo-"))
            self._send(
                _json_reply(status, {"error": f"invalid request: you sent {sent!r} for {model}"})
            )
            return True
        if behaviour == "hangup":
            self.close_connection = True
            return True
        if behaviour == "slow" and not self.server._sleep(self.server.slow_seconds):
            return True
        reply = error_reply(behaviour, model, self.server.retry_after)
        if reply is not None:
            self._send(reply)
            return True
        return False

    # -- plumbing ----------------------------------------------------------------------------

    def _read_request(self) -> RecordedRequest:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parsed = None
        if body:
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
        record = RecordedRequest(
            method=self.command,
            path=split.path,
            query=parse_qs(split.query),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
            json=parsed,
        )
        self.server._record(record)
        return record

    def _send(self, reply: _Reply) -> None:
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            self.send_header("X-Request-Id", f"Root={uuid.uuid4()}")
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(reply.body)
        except OSError:
            self.close_connection = True  # the client gave up (e.g. its timeout): nothing to do


def _size(width: Any, height: Any) -> tuple[int, int]:
    return int(width or 1024), int(height or 1024)


def start_hf_server() -> FakeHuggingFace:
    """Start a fake on a free port of 127.0.0.1; stop it with ``.stop()`` or use ``with``."""
    return FakeHuggingFace().start()


# The hf-inference tasks whose helpers copied the router's address at import (TravelFit's own
# list is imagegen.providers.hf_client.HF_INFERENCE_TASKS; the fake does not import the app).
HF_INFERENCE_TASKS = ("text-to-image", "image-to-image", "translation", "image-classification")


def clear_huggingface_hub_caches() -> None:
    """Forget the model look-ups huggingface_hub caches for the life of the process."""
    from huggingface_hub.inference._providers import _common, hf_inference

    _common._fetch_inference_provider_mapping.cache_clear()
    hf_inference._check_supported_task.cache_clear()


@contextlib.contextmanager
def huggingface_hub_pointed_at(url: str) -> Iterator[None]:
    """Within the block, huggingface_hub sends its Hub look-ups and router calls to url.

    Patches ``huggingface_hub.constants.ENDPOINT``, ``...constants.INFERENCE_PROXY_TEMPLATE``,
    ``...constants.HF_HUB_DISABLE_TELEMETRY`` (True) and the ``base_url`` of the hf-inference
    helpers of ``HF_INFERENCE_TASKS``, and clears the look-up caches on the way in and out, so
    no test sees another's mapping. Not thread-safe against other tests patching the same names
    at once (pytest runs tests one at a time in a process).
    """
    from huggingface_hub import constants
    from huggingface_hub.inference._providers import PROVIDERS

    helpers = [PROVIDERS["hf-inference"][task] for task in HF_INFERENCE_TASKS]
    saved = (
        constants.ENDPOINT,
        constants.INFERENCE_PROXY_TEMPLATE,
        constants.HF_HUB_DISABLE_TELEMETRY,
        [helper.base_url for helper in helpers],
    )
    clear_huggingface_hub_caches()
    constants.ENDPOINT = url
    constants.INFERENCE_PROXY_TEMPLATE = url + "/{provider}"
    constants.HF_HUB_DISABLE_TELEMETRY = True
    for helper in helpers:
        helper.base_url = url + "/hf-inference"
    try:
        yield
    finally:
        constants.ENDPOINT, constants.INFERENCE_PROXY_TEMPLATE = saved[0], saved[1]
        constants.HF_HUB_DISABLE_TELEMETRY = saved[2]
        for helper, base_url in zip(helpers, saved[3], strict=True):
            helper.base_url = base_url
        clear_huggingface_hub_caches()
