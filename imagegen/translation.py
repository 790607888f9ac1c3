"""Korean prompts in English for the image models, which read English only.

PROMPT_TRANSLATION says how: `off`; `hf_inference`, the hf-inference provider through
huggingface_hub's InferenceClient and HF_ROUTER_URL, like the image calls; or `local`, a MarianMT
model (HF_TRANSLATION_MODEL) run in the worker with transformers. Only text with Hangul in it is
translated, and each text once per model: results are kept in Django's default cache.

The worker calls `translate_prompts` before it asks the providers. A translation that fails
never fails the generation: the words go out as they are, with a note saying so.
"""

import hashlib
import json
import logging
import re
import threading
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.utils.translation import gettext_noop

from lib.redaction import redact

from . import metrics

logger = logging.getLogger(__name__)

# Hangul syllables, Hangul Jamo and Hangul Compatibility Jamo.
HANGUL = re.compile("[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")
# A translation of the same words by the same model does not change; the cache may still drop it.
CACHE_SECONDS = 60 * 60 * 24 * 30

# Stored on the generation and shown to its owner, translated on display (`{% translate %}`
# of the stored text), so they carry nothing that varies.
TRANSLATED = gettext_noop(
    "Your Korean words were translated to English for the image model, which reads English only."
)
NOT_TRANSLATED = gettext_noop(
    "Translation to English did not work this time, so your words were sent as they are; "
    "the picture may follow them less closely."
)


class TranslationFailed(Exception):
    """A translation could not be made; the message is for admins and passed `redact`."""

    def __init__(self, detail):
        detail = redact(detail)
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True)
class PromptTranslation:
    """What the provider gets, what is stored, and what the user and the admins are told.

    `prompt_en` and `negative_prompt_en` are empty for text sent as it was (no Korean in it, or
    its translation failed); `detail` is empty unless something failed.
    """

    prompt: str
    negative_prompt: str
    prompt_en: str
    negative_prompt_en: str
    note: str
    detail: str


def has_hangul(text):
    return bool(HANGUL.search(text or ""))


def mode():
    """The translation in use: off, hf_inference or local (auto resolved now, so a token set or
    removed later is followed)."""
    chosen = settings.PROMPT_TRANSLATION
    if chosen == "auto":
        return "hf_inference" if settings.HUGGINGFACE_API_TOKEN else "off"
    return chosen


def is_on():
    return mode() != "off"


def off_by_default_warning():
    """The warning while `auto` left translation off; None otherwise."""
    if settings.PROMPT_TRANSLATION == "auto" and mode() == "off":
        return (
            "No prompt translation: PROMPT_TRANSLATION is auto and no Hugging Face token is set, "
            "so Korean prompts reach the image model untranslated. Set HUGGINGFACE_API_TOKEN (or "
            "PROMPT_TRANSLATION=local), or PROMPT_TRANSLATION=off to say it is on purpose."
        )
    return None


def cache_key(model, text):
    """The cache key of one text's translation by one model."""
    digest = hashlib.sha256(text.encode()).hexdigest()
    return f"translation:{hashlib.sha256(model.encode()).hexdigest()[:16]}:{digest}"


def translate(text):
    """`text` in English: translated when it has Hangul and translation is on, else as it is.

    Raises TranslationFailed when the translator fails or answers nothing.
    """
    chosen = mode()
    if chosen == "off" or not has_hangul(text):
        return text
    model = settings.HF_TRANSLATION_MODEL
    key = cache_key(model, text)
    try:
        cached = cache.get(key)
    except Exception as exc:  # an unreachable cache only costs a second translation
        logger.warning("translation cache not read: %s", redact(exc))
        cached = None
    metrics.TRANSLATION_CACHE.labels("hit" if cached else "miss").inc()
    if cached:
        return cached
    try:
        english = TRANSLATORS[chosen](text, model)
    except TranslationFailed:
        raise
    except Exception as exc:
        raise TranslationFailed(f"{chosen} ({model}): {_describe(exc)}") from exc
    english = (english or "").strip()
    if not english:
        raise TranslationFailed(f"{chosen} ({model}): the translation came back empty.")
    try:
        cache.set(key, english, CACHE_SECONDS)
    except Exception as exc:
        logger.warning("translation cache not written: %s", redact(exc))
    return english


def translate_prompts(prompt, negative_prompt, *, wanted=True):
    """The prompts a provider gets for a generation, or None when there is nothing to translate.

    Nothing to translate: translation is off, the user asked for their words as they are, or
    neither text has Hangul in it. Never raises: a text whose translation fails is sent as
    it is, and the note and detail say so.
    """
    if not is_on() or not wanted or not (has_hangul(prompt) or has_hangul(negative_prompt)):
        return None
    sent, english, failures = {}, {}, []
    for name, text in (("prompt", prompt), ("negative prompt", negative_prompt)):
        sent[name], english[name] = text, ""
        if not has_hangul(text):
            continue
        try:
            english[name] = sent[name] = translate(text)
        except Exception as exc:  # whatever it was, the generation goes on untranslated
            detail = exc.detail if isinstance(exc, TranslationFailed) else _describe(exc)
            failures.append(f"The {name} was sent untranslated: {detail}")
    if failures:
        logger.warning("prompt translation failed: %s", redact(" ".join(failures)))
    return PromptTranslation(
        prompt=sent["prompt"],
        negative_prompt=sent["negative prompt"],
        prompt_en=english["prompt"],
        negative_prompt_en=english["negative prompt"],
        note=NOT_TRANSLATED if failures else TRANSLATED,
        detail=redact("\n".join(["Prompt translation failed."] + failures)) if failures else "",
    )


def _describe(exc):
    """An admin's one-line account of what a translator raised."""
    from .providers.hf_client import server_message

    if isinstance(exc, json.JSONDecodeError | IndexError | KeyError):
        # A 200 whose body is not [{"translation_text": ...}]: HTML from a proxy, or [].
        return redact(f"the answer was not a translation ({type(exc).__name__}: {exc})"[:1000])
    status = getattr(getattr(exc, "response", None), "status_code", None)
    said = server_message(exc)
    where = f"HTTP {status}: " if status else ""
    return redact(f"{type(exc).__name__}: {where}{said}"[:1000])


def _by_hf_inference(text, model):
    """Ask the hf-inference provider, through HF_ROUTER_URL, as the image calls go."""
    from huggingface_hub import InferenceClient

    from .providers.hf_client import TOKEN_HELP, prepare_client_library

    token = settings.HUGGINGFACE_API_TOKEN
    if not token:
        raise TranslationFailed(f"HUGGINGFACE_API_TOKEN is not set. {TOKEN_HELP}")
    prepare_client_library()
    client = InferenceClient(
        provider="hf-inference", token=token, timeout=settings.HF_TRANSLATION_TIMEOUT
    )
    return client.translation(text, model=model).translation_text


_local_lock = threading.Lock()
_local_models = {}


def _by_local_model(text, model):
    """Translate in this process with transformers (a seq2seq model such as MarianMT)."""
    try:
        import torch
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer
    except ImportError as exc:
        raise TranslationFailed(
            f"PROMPT_TRANSLATION=local needs transformers, torch and sentencepiece ({exc}): "
            "pip install -r requirements-local.txt, or set PROMPT_TRANSLATION=hf_inference."
        ) from exc
    # Loaded once per worker process; a second thread waits rather than loading it twice.
    with _local_lock:
        loaded = _local_models.get(model)
        if loaded is None:
            tokenizer = AutoTokenizer.from_pretrained(model)
            seq2seq = AutoModelForSeq2SeqLM.from_pretrained(model).eval()
            loaded = _local_models[model] = (tokenizer, seq2seq)
    tokenizer, seq2seq = loaded
    with torch.inference_mode():
        batch = tokenizer([text], return_tensors="pt", truncation=True)
        output = seq2seq.generate(**batch)
    return tokenizer.batch_decode(output, skip_special_tokens=True)[0]


TRANSLATORS = {"hf_inference": _by_hf_inference, "local": _by_local_model}


def check():
    """Problems with the translation settings, as (problem, fix); [] when it can work.

    For hf_inference, looks the model up on the Hub the way huggingface_hub does for inference
    providers: which ones serve it, and for what task. Which models hf-inference serves changes
    over time, so a model that worked may stop.
    """
    chosen = mode()
    model = settings.HF_TRANSLATION_MODEL
    if chosen == "off":
        return []
    if chosen == "local":
        return _check_local(model)
    return _check_hf_inference(model)


def _check_local(model):
    try:
        import sentencepiece  # noqa: F401  (MarianTokenizer needs it)
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as exc:
        return [
            (
                f"PROMPT_TRANSLATION=local, but a package is missing ({exc}).",
                "pip install -r requirements-local.txt, or set PROMPT_TRANSLATION=hf_inference.",
            )
        ]
    return []


def _check_hf_inference(model):
    import httpx2
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError

    from .providers.hf_client import check_token, page_of, use_timeout_everywhere

    problems = check_token()
    if problems:
        return problems
    use_timeout_everywhere(settings.HF_TIMEOUT)
    try:
        info = HfApi(token=settings.HUGGINGFACE_API_TOKEN).model_info(
            model, expand=["inferenceProviderMapping", "pipeline_tag"]
        )
    except GatedRepoError:
        return [
            (
                f"The translation model {model} is gated and this token's owner has no access.",
                f"Open {page_of(model)} and press 'Agree and access repository'.",
            )
        ]
    except RepositoryNotFoundError:
        return [
            (
                f"No translation model {model} on the Hub.",
                "Set HF_TRANSLATION_MODEL to a Korean-to-English model, e.g. "
                "Helsinki-NLP/opus-mt-ko-en.",
            )
        ]
    except (HfHubHTTPError, httpx2.HTTPError) as exc:
        return [(f"Could not look up {model}: {_describe(exc)}", "Try again later.")]
    if info.pipeline_tag != "translation":
        return [
            (
                f"{model} is not a translation model (its task is {info.pipeline_tag or 'none'}).",
                "Set HF_TRANSLATION_MODEL to a Korean-to-English translation model.",
            )
        ]
    served_by = {m.provider: m for m in info.inference_provider_mapping or []}
    mapping = served_by.get("hf-inference")
    if mapping is None or mapping.status != "live":
        listed = ", ".join(sorted(served_by)) or "no provider"
        return [
            (
                f"The hf-inference provider does not serve {model} now (served by: {listed}); "
                "Korean prompts would go out untranslated.",
                "Choose a translation model hf-inference serves "
                "(https://huggingface.co/models?inference_provider=hf-inference"
                "&pipeline_tag=translation) for HF_TRANSLATION_MODEL, or set "
                "PROMPT_TRANSLATION=local.",
            )
        ]
    return []
