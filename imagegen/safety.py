"""The image safety check: a classifier looks at every result, and every uploaded photo, before
anyone but staff can see it.

IMAGEGEN_SAFETY_CHECK chooses how: `hf_inference` asks IMAGEGEN_SAFETY_MODEL through the
hf-inference provider (`InferenceClient.image_classification`, with HUGGINGFACE_API_TOKEN and
HF_ROUTER_URL, like the image calls); `local` runs a transformers image-classification pipeline
in the worker (requirements-local.txt); `off` looks at nothing; `auto` (the default) is
hf_inference when a token is configured, else off.

An image is flagged when an unsafe label (`nsfw`, `porn`, `hentai`, `sexy`, `explicit`,
`unsafe`) scores at least IMAGEGEN_SAFETY_THRESHOLD, or when the provider's own answer flags
it (fal's `has_nsfw_concepts`: then the classifier is not asked). A flagged result is held for
a person's review (never shown, never lost); when the classifier cannot be asked,
IMAGEGEN_SAFETY_ON_ERROR says whether to hold the image anyway (the default) or let it through.
"""

import io
import logging
import math
import threading
from dataclasses import dataclass, field

from django.conf import settings
from django.utils.translation import gettext_noop

from lib.redaction import redact

from . import metrics

logger = logging.getLogger(__name__)

UNSAFE_LABELS = frozenset({"nsfw", "porn", "hentai", "sexy", "explicit", "unsafe"})
OFF, HF_INFERENCE, LOCAL = "off", "hf_inference", "local"

_local_lock = threading.Lock()
_local_pipeline = None
_local_key = None


def mode() -> str:
    """The check in use: off, hf_inference or local (auto resolved now, so a token set or
    removed later is followed)."""
    chosen = settings.IMAGEGEN_SAFETY_CHECK
    if chosen == "auto":
        return HF_INFERENCE if settings.HUGGINGFACE_API_TOKEN else OFF
    return chosen


def is_on() -> bool:
    return mode() != OFF


def signup_is_open() -> bool:
    return settings.SIGNUP_LIMIT > 0


def off_by_default_warning() -> str | None:
    """The warning while `auto` left the check off and anyone can sign up; None otherwise."""
    if settings.IMAGEGEN_SAFETY_CHECK == "auto" and mode() == OFF and signup_is_open():
        return (
            "No image safety check: IMAGEGEN_SAFETY_CHECK is auto and no Hugging Face token is "
            "set, while anyone can sign up. Set HUGGINGFACE_API_TOKEN (or "
            "IMAGEGEN_SAFETY_CHECK=local), or IMAGEGEN_SAFETY_CHECK=off to say it is on purpose."
        )
    return None


@dataclass(frozen=True)
class Verdict:
    """What the check made of an image: `hold` it for review or not, the scores it saw and a
    note for admins (which label crossed the threshold, or why the classifier failed)."""

    hold: bool
    scores: dict[str, float] = field(default_factory=dict)
    note: str = ""
    error: bool = False

    @property
    def flagged(self) -> bool:
        return self.hold and not self.error


class SafetyCheckFailed(Exception):
    """The classifier could not be asked, or answered something that is no classification."""


def check(data: bytes, *, subject: str = "result", provider_flag: str = "") -> Verdict:
    """Look at an image's bytes (PNG, JPEG or WebP, already checked) as IMAGEGEN_SAFETY_CHECK
    says; never raises. `subject` (result, upload) labels the metrics.

    `provider_flag` is the provider's own word that the image may be unsafe (fal's
    has_nsfw_concepts, see ProviderResult): a free signal, so the image is held for review
    without asking the classifier. With the check off, nothing is held, the flag included.
    """
    current = mode()
    if current == OFF:
        return Verdict(hold=False, note="")
    verdict = Verdict(hold=True, note=provider_flag) if provider_flag else _check(current, data)
    outcome = "error" if verdict.error else "flagged" if verdict.hold else "passed"
    metrics.SAFETY_CHECKS.labels(subject, outcome).inc()
    return verdict


def _check(current, data):
    try:
        scores = _classify(current, data)
    except SafetyCheckFailed as exc:
        hold = settings.IMAGEGEN_SAFETY_ON_ERROR == "hold"
        note = redact(f"The safety check failed ({current}): {exc}")
        logger.warning("%s; %s", note, "held for review" if hold else "allowed")
        return Verdict(hold=hold, note=note, error=True)
    unsafe = {label: score for label, score in scores.items() if label.lower() in UNSAFE_LABELS}
    worst = max(unsafe.items(), key=lambda item: item[1], default=(None, 0.0))
    threshold = settings.IMAGEGEN_SAFETY_THRESHOLD
    if worst[0] is not None and worst[1] >= threshold:
        return Verdict(
            hold=True,
            scores=scores,
            note=f"Flagged by {settings.IMAGEGEN_SAFETY_MODEL}: {worst[0]} {worst[1]:.3f} "
            f"≥ {threshold:g} (IMAGEGEN_SAFETY_THRESHOLD).",
        )
    return Verdict(hold=False, scores=scores)


def problems() -> list[tuple[str, str]]:
    """What keeps the check from working, as (problem, fix); tries the classifier on a small
    picture (`manage.py imagegen_check`)."""
    current = mode()
    if current == OFF:
        return []
    from PIL import Image

    sample = io.BytesIO()
    Image.new("RGB", (64, 64), (120, 160, 200)).save(sample, "PNG")
    try:
        scores = _classify(current, sample.getvalue())
    except SafetyCheckFailed as exc:
        return [(redact(f"The safety classifier cannot be asked: {exc}"), _fix(current))]
    if not UNSAFE_LABELS & {label.lower() for label in scores}:
        return [
            (
                f"{settings.IMAGEGEN_SAFETY_MODEL} has no unsafe label (it answers "
                f"{', '.join(sorted(scores))}), so nothing would ever be held.",
                "Set IMAGEGEN_SAFETY_MODEL to an NSFW classifier such as "
                "Falconsai/nsfw_image_detection.",
            )
        ]
    return []


def _classify(current, data):
    """{label: score} by the check in use, or SafetyCheckFailed, whatever went wrong."""
    try:
        return _classify_hf(data) if current == HF_INFERENCE else _classify_local(data)
    except SafetyCheckFailed:
        raise
    except Exception as exc:  # check() promises never to raise: an image Pillow refuses to
        # decode (DecompressionBombError is no OSError), a model that fails in its own way...
        logger.exception("The safety classifier failed unexpectedly")
        raise SafetyCheckFailed(f"{type(exc).__name__}: {str(exc)[:300]}") from exc


def _fix(current):
    if current == HF_INFERENCE:
        return (
            "Check HUGGINGFACE_API_TOKEN and that the hf-inference provider serves "
            "IMAGEGEN_SAFETY_MODEL for image-classification "
            "(https://huggingface.co/models?inference_provider=hf-inference&"
            "pipeline_tag=image-classification)."
        )
    return (
        "Install requirements-local.txt, and set IMAGEGEN_SAFETY_MODEL to an image-classification "
        "model this machine has (a Hub id it can download, or a folder saved with "
        "save_pretrained())."
    )


# --- hf_inference ----------------------------------------------------------------------------


def _classify_hf(data):
    """{label: score} from the hf-inference provider, or SafetyCheckFailed."""
    from huggingface_hub import InferenceClient

    from .providers import hf_client

    token = settings.HUGGINGFACE_API_TOKEN
    if not token:
        raise SafetyCheckFailed("HUGGINGFACE_API_TOKEN is not set.")
    hf_client.prepare_client_library()
    client = InferenceClient(provider="hf-inference", api_key=token, timeout=settings.HF_TIMEOUT)
    model = settings.IMAGEGEN_SAFETY_MODEL
    try:
        answer = client.image_classification(data, model=model)
    except Exception as exc:  # every failure of the call is the same to us: no verdict
        raise SafetyCheckFailed(_hf_failure(exc, model)) from exc
    return _scores(answer)


def _hf_failure(exc, model):
    """An admin's account of why hf-inference gave no classification."""
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError

    from .providers import hf, hf_client

    where = "safety check (hf-inference)"
    # translate_error's advice for a missing model names the image settings (HF_MODEL,
    # text-to-image models); the safety check's model is another setting and another kind.
    choose = (
        "set IMAGEGEN_SAFETY_MODEL to an image-classification model that hf-inference serves ("
        + hf_client.models_page("image-classification", "hf-inference")
        + ")"
    )
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(exc, RepositoryNotFoundError) and not isinstance(exc, GatedRepoError):
        return (
            f"model_unavailable: {where}: no model {model} on the Hub or at hf-inference "
            f"({hf_client.server_message(exc) or 'HTTP 404'}); {choose}."
        )
    if isinstance(exc, HfHubHTTPError) and status in (404, 410):
        return (
            f"model_unavailable: {where}: HTTP {status}: {hf_client.server_message(exc)}. "
            f"hf-inference does not serve {model} (any more); {choose}."
        )
    if isinstance(exc, ValueError) and "doesn't support task" in str(exc):
        return f"misconfigured: {where}: {exc}; {choose}."
    if isinstance(exc, ValueError) and "Expected a list" in str(exc):
        # A JSON object where the client expects the list of labels.
        return f"bad_output: {where}: the answer was not a list of labels ({str(exc)[:200]})."
    error = hf.translate_error(exc, model=model, where=where)
    return f"{error.failure_class}: {error.detail}"


def _scores(answer):
    try:
        scores = {str(item["label"]): float(item["score"]) for item in answer}
    except (TypeError, KeyError, ValueError) as exc:
        raise SafetyCheckFailed(f"The answer is not a classification: {answer!r:.200}") from exc
    if not scores:
        raise SafetyCheckFailed("The classifier answered no labels.")
    # NaN compares False with the threshold: such a score would pass any image unseen.
    if not all(math.isfinite(score) for score in scores.values()):
        raise SafetyCheckFailed(f"The classifier answered scores that are no numbers: {scores}")
    return scores


# --- local -----------------------------------------------------------------------------------


def _classify_local(data):
    """{label: score} from a transformers pipeline in this process, or SafetyCheckFailed."""
    from PIL import Image, UnidentifiedImageError

    try:
        pipeline = _load_local(settings.IMAGEGEN_SAFETY_MODEL)
        image = Image.open(io.BytesIO(data)).convert("RGB")
        answer = pipeline(image, top_k=None)
    except SafetyCheckFailed:
        raise
    except (OSError, UnidentifiedImageError, ValueError, RuntimeError) as exc:
        raise SafetyCheckFailed(f"{type(exc).__name__}: {str(exc)[:300]}") from exc
    return _scores(answer)


def _load_local(model):
    """The image-classification pipeline of `model`, loaded once per process."""
    global _local_pipeline, _local_key
    with _local_lock:
        if _local_key == model:
            return _local_pipeline
        try:
            from transformers import pipeline
        except ImportError as exc:
            raise SafetyCheckFailed(
                "IMAGEGEN_SAFETY_CHECK=local needs transformers: "
                "pip install -r requirements-local.txt"
            ) from exc
        try:
            loaded = pipeline("image-classification", model=model, device="cpu")
        except Exception as exc:  # missing files, no network for a hub id, not a classifier
            raise SafetyCheckFailed(
                f"could not load IMAGEGEN_SAFETY_MODEL={model!r} ({type(exc).__name__}: "
                f"{str(exc)[:300]})"
            ) from exc
        _local_pipeline, _local_key = loaded, model
        return loaded


HELD_MESSAGE = gettext_noop(
    "This image is waiting for a review. A person looks at it before it is shown; if they "
    "remove it, what it used of your quota is given back."
)
REJECTED_MESSAGE = gettext_noop("This image was removed after a review.")
REJECTED_REFUNDED_MESSAGE = gettext_noop(
    "This image was removed after a review; what it used of your quota was given back."
)
UPLOAD_FLAGGED = gettext_noop(
    "This photo cannot be used here: the safety check flagged it. Choose another photo."
)
UPLOAD_UNCHECKED = gettext_noop("This photo could not be checked just now; try again in a minute.")
