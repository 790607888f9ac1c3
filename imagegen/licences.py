"""Which licence each configured model has, from its Hugging Face card (`license` in the card's
metadata, or `license_name` when that says `other`), and whether it allows commercial use.

A provider names the Hub repositories behind its models (`ImageProvider.hub_repos`): a model
repository, or a Space (a Gradio provider's). A Space's card is read first; when it states no
licence, the model repository of the same id (a model's own demo Space shares its id, as
yisol/IDM-VTON does). Looked up once per repository and process for an hour, with a short
timeout; anything else (the demo's model, a URL, a local folder) or a failed look-up has no
licence known (""): shown as unknown, never as allowed. The manifest of every result records it.
"""

import functools
import logging
import re
import time
from dataclasses import dataclass

logger = logging.getLogger(__name__)

# Card licence ids (the Hub's list, or a card's license_name) that forbid commercial use:
# cc-by-nc-*, flux-1-dev-non-commercial-license, research-only ones.
NON_COMMERCIAL = re.compile(r"(^|-)nc(-|$)|non-commercial|noncommercial|research", re.IGNORECASE)
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
CACHE_SECONDS = 3600
# A card look-up waits at most this long (HF_TIMEOUT, if shorter): /health may be the caller.
LOOKUP_TIMEOUT_SECONDS = 10.0
MODEL, SPACE = "model", "space"


@dataclass(frozen=True)
class ConfiguredModel:
    """A model a configured provider runs, the Hub repository whose card holds its licence,
    and that licence ("" unknown)."""

    provider: str
    model: str
    repo: str
    kind: str
    licence: str

    @property
    def forbids_commercial_use(self) -> bool:
        return forbids_commercial_use(self.licence)


def is_hub_id(model: str) -> bool:
    """True for an "owner/name" Hub id (not a URL, a path or the demo's name)."""
    return bool(HUB_ID.match(model or ""))


def forbids_commercial_use(licence: str) -> bool:
    """True for a licence that says non-commercial (cc-by-nc-*, FLUX.1 [dev]'s, research-only)."""
    return bool(licence) and bool(NON_COMMERCIAL.search(licence))


def licence_of(model: str) -> str:
    """The licence of `model` as a result names it (ProviderResult.model): its configured
    provider's Hub repository's, else its own card's when it is a Hub id; "" unknown."""
    for configured in _configured_repos():
        if configured.model == model:
            return repo_licence(configured.repo, configured.kind)
    return repo_licence(model, MODEL)


def repo_licence(repo: str, kind: str = MODEL) -> str:
    """The licence id on a Hub repository's card ("cc-by-nc-sa-4.0", "apache-2.0"…), ""
    unknown; cached for CACHE_SECONDS."""
    if not is_hub_id(repo):
        return ""
    return _cached(repo, kind, int(time.monotonic() // CACHE_SECONDS))


@functools.lru_cache(maxsize=64)
def _cached(repo, kind, _period):
    licence = lookup(repo, kind)
    if not licence and kind == SPACE:
        licence = lookup(repo, MODEL)
    return licence


def lookup(repo: str, kind: str = MODEL) -> str:
    """Ask the Hub for a repository's card licence now ("" when it cannot say)."""
    from django.conf import settings
    from huggingface_hub import HfApi

    from .providers.hf import prepare_client_library

    prepare_client_library()
    api = HfApi(token=settings.HUGGINGFACE_API_TOKEN or None)
    info_of = api.space_info if kind == SPACE else api.model_info
    try:
        info = info_of(
            repo,
            expand=["cardData"],
            timeout=min(settings.HF_TIMEOUT, LOOKUP_TIMEOUT_SECONDS),
        )
    except Exception as exc:  # any failure: the licence is unknown, the image still made
        logger.warning("licence of %s %s not known: %s", kind, repo, type(exc).__name__)
        return ""
    card = info.card_data.to_dict() if info.card_data else {}
    licence = card.get("license") or ""
    if isinstance(licence, list):
        licence = ",".join(str(each) for each in licence)
    if licence == "other":
        licence = card.get("license_name") or "other"
    return str(licence)


def clear_cache() -> None:
    """Forget every looked-up licence (tests, and a changed configuration)."""
    _cached.cache_clear()


def _configured_repos():
    """(provider, HubRepo) of every configured provider's Hub repositories, once each."""
    from .providers import get_providers

    seen = set()
    for provider in get_providers():
        for hub in provider.hub_repos():
            if is_hub_id(hub.repo) and (hub.kind, hub.repo) not in seen:
                seen.add((hub.kind, hub.repo))
                yield _Repo(provider.name, hub.model, hub.repo, hub.kind)


@dataclass(frozen=True)
class _Repo:
    provider: str
    model: str
    repo: str
    kind: str


def configured_models() -> list[ConfiguredModel]:
    """Every configured provider's Hub models with their licences, in the providers' order
    (looked up now unless cached)."""
    return [
        ConfiguredModel(
            repo.provider, repo.model, repo.repo, repo.kind, repo_licence(repo.repo, repo.kind)
        )
        for repo in _configured_repos()
    ]


def commercial_use_warnings() -> list[str]:
    """With IMAGEGEN_COMMERCIAL_USE=true, one line for every configured model whose licence
    forbids commercial use; [] otherwise (and no look-up)."""
    from django.conf import settings

    if not settings.IMAGEGEN_COMMERCIAL_USE:
        return []
    return [
        f"{model.repo} ({model.provider}) is licensed {model.licence}, which forbids commercial "
        "use, and IMAGEGEN_COMMERCIAL_USE=true: use another model, or a licence for this one."
        for model in configured_models()
        if model.forbids_commercial_use
    ]
