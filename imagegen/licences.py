"""Which licence each configured model has, from its Hugging Face card (`license` in the card's
metadata), and whether it allows commercial use.

Looked up once per model and process (an hour, then again), with huggingface_hub's model_info at
HF_TIMEOUT; a model that is not a Hub id (the demo's, a local folder) or a failed look-up has no
licence known ("": shown as unknown, never as allowed). The manifest of every result records it.
"""

import functools
import logging
import re
import time

logger = logging.getLogger(__name__)

# Card licence ids (the Hub's list) that forbid commercial use.
NON_COMMERCIAL = re.compile(r"(^|-)nc(-|$)|non-commercial|noncommercial|research", re.IGNORECASE)
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
# Cards that say `license: other` and name it in `license_name`.
KNOWN_OTHER = {"flux-1-dev-non-commercial-license": "flux-1-dev-non-commercial-license"}
CACHE_SECONDS = 3600


def is_hub_id(model: str) -> bool:
    """True for an "owner/name" Hub id (not a URL, a path or the demo's name)."""
    return bool(HUB_ID.match(model or ""))


def licence_of(model: str) -> str:
    """The licence id on `model`'s Hub card ("cc-by-nc-sa-4.0", "apache-2.0"…), "" unknown."""
    if not is_hub_id(model):
        return ""
    return _cached(model, int(time.monotonic() // CACHE_SECONDS))


def forbids_commercial_use(licence: str) -> bool:
    """True for a licence that says non-commercial (cc-by-nc-*, FLUX.1 [dev]'s, research-only)."""
    return bool(licence) and bool(NON_COMMERCIAL.search(licence))


@functools.lru_cache(maxsize=64)
def _cached(model, _period):
    return lookup(model)


def lookup(model: str) -> str:
    """Ask the Hub for `model`'s card licence now ("" when it cannot say)."""
    from huggingface_hub import HfApi

    from .providers.hf import prepare_client_library

    prepare_client_library()
    try:
        info = HfApi().model_info(model, expand=["cardData"])
    except Exception as exc:  # any failure: the licence is unknown, the image still made
        logger.warning("licence of %s not known: %s", model, type(exc).__name__)
        return ""
    card = info.card_data.to_dict() if info.card_data else {}
    licence = card.get("license") or ""
    if isinstance(licence, list):
        licence = ",".join(licence)
    if licence == "other":
        licence = card.get("license_name") or "other"
    return str(licence)


def clear_cache() -> None:
    """Forget every looked-up licence (tests)."""
    _cached.cache_clear()


def configured_models() -> list[tuple[str, str]]:
    """(provider name, model) of every configured provider with a Hub model, in order."""
    from .providers import get_providers

    seen, models = set(), []
    for provider in get_providers():
        for model in _models_of(provider):
            if is_hub_id(model) and model not in seen:
                seen.add(model)
                models.append((provider.name, model))
    return models


def _models_of(provider):
    models = [provider.model] if getattr(provider, "model", "") else []
    edit = getattr(provider, "edit_model", "")
    if edit:
        models.append(edit)
    return models


def commercial_use_warnings() -> list[str]:
    """With IMAGEGEN_COMMERCIAL_USE=true, one line for every configured model whose licence
    forbids commercial use; [] otherwise."""
    from django.conf import settings

    if not settings.IMAGEGEN_COMMERCIAL_USE:
        return []
    lines = []
    for provider, model in configured_models():
        licence = licence_of(model)
        if forbids_commercial_use(licence):
            lines.append(
                f"{model} ({provider}) is licensed {licence}, which forbids commercial use "
                "(IMAGEGEN_COMMERCIAL_USE=true)."
            )
    return lines
