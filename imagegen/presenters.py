"""The JSON shapes of a generation, in one place.

- `status_payload`: what the pages' live status poll reads (imagegen/views.py `status`).
- `generation_item`: the API's item: the status plus the parameters it was made with and
  absolute links; the webhooks send the same shape (imagegen/webhooks.py).
- `link_base`: where those absolute links start, one rule for the API and the webhooks.
- `image_alt`: a generation's text alternative on every page (and for the live status script).
"""

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.text import Truncator
from django.utils.translation import gettext, pgettext

from . import selectors
from .models import Generation
from .safety import HELD_MESSAGE, REJECTED_MESSAGE, REJECTED_REFUNDED_MESSAGE
from .user_messages import localize

_LOOK_UP = object()
# At most this many characters of a picture's words in its text alternative.
ALT_WORDS_CHARS = 140


def status_payload(
    generation: Generation, *, position=_LOOK_UP, typical=_LOOK_UP
) -> dict[str, Any]:
    """What the live status poll (and the API) says about a generation.

    `position` and `typical` (the median duration of the provider serving the generation's
    tier) are looked up unless a
    caller that lists many generations has read them once for all.
    """
    done = generation.status == Generation.Status.SUCCEEDED
    if position is _LOOK_UP:
        position = selectors.queue_position(generation)
    if typical is _LOOK_UP:
        typical = selectors.typical_duration_now(generation.tier) if generation.is_active else None
    elapsed = estimate = None
    if generation.started_at:
        end = generation.finished_at or timezone.now()
        elapsed = round((end - generation.started_at).total_seconds(), 1)
    if generation.status == Generation.Status.QUEUED:
        estimate = selectors.wait_estimate(position, typical)
    elif generation.status == Generation.Status.RUNNING and typical is not None:
        estimate = round(max(0.0, typical - (elapsed or 0.0)), 1)
    return {
        "id": str(generation.pk),
        "task": generation.task,
        "source_image": _id_or_none(generation.source_image_id),
        "garment_image": _id_or_none(generation.garment_image_id),
        "parent": _id_or_none(generation.parent_id),
        "chain_root": _id_or_none(generation.chain_root_id),
        "from_original": generation.from_original,
        "status": generation.status,
        "tier": generation.tier,
        "units": generation.units,
        "status_label": generation.get_status_display(),
        "active": generation.is_active,
        "position": position,
        "estimated_seconds": estimate,
        "elapsed_seconds": elapsed,
        "error": localize(generation.error_message),
        # Held for review, or removed after one: what the owner is told instead of an image.
        "notice": review_notice(generation),
        "demo": generation.is_demo,
        # What the detail page fills in when a generation it is watching ends.
        "actual_seed": generation.actual_seed,
        "provider": generation.provider,
        "model": generation.model_name,
        "prompt_en": generation.prompt_en,
        "negative_prompt_en": generation.negative_prompt_en,
        "translation_note": localize(generation.translation_note),
        "duration_seconds": (
            round(generation.duration.total_seconds(), 1) if generation.duration else None
        ),
        "detail_url": reverse("imagegen:detail", args=[generation.pk]),
        "image_url": reverse("imagegen:image", args=[generation.pk]) if done else None,
        "thumbnail_url": reverse("imagegen:thumbnail", args=[generation.pk]) if done else None,
    }


def review_notice(generation: Generation) -> str:
    """What the owner is told instead of the image while it waits for a review, or once it
    was removed (and whether their quota came back); empty otherwise."""
    if generation.status == Generation.Status.HELD:
        return gettext(HELD_MESSAGE)
    if generation.status == Generation.Status.REJECTED:
        # A held image's units come back when it is removed; a reported share's do not.
        return gettext(REJECTED_MESSAGE if generation.charged else REJECTED_REFUNDED_MESSAGE)
    return ""


def shown_words(generation: Generation, words: str = "") -> str:
    """The words a card and an alt text show for a generation: what the user wrote (a preset's
    input, not the template around it); `words`, when given, stand for them (a lookbook day's
    caption: the planner wrote that prompt, in English)."""
    return words or (generation.preset_input if generation.preset_id else generation.prompt)


def image_alt(generation: Generation, words: str = "") -> str:
    """A generation's <img alt>: that it is AI-made, then what it shows, in the reader's
    language ("AI 생성: 부산 감천문화마을…", "AI-generated: Hallstatt in the snow"). Its words
    are shown_words', shortened; a photo task without words says which task it was."""
    words = " ".join(shown_words(generation, words).split()) or str(generation.get_task_display())
    return pgettext("image alt text", "AI-generated: %(words)s") % {
        "words": Truncator(words).chars(ALT_WORDS_CHARS)
    }


def _id_or_none(value):
    return str(value) if value else None


def request_origin(request: HttpRequest) -> str:
    """scheme://host the request came to (https behind a trusted proxy, the Host checked)."""
    return f"{request.scheme}://{request.get_host()}"


def site_origin(request: HttpRequest) -> str:
    """Where the site's public links start: SITE_URL, else the request's origin."""
    return settings.SITE_URL or request_origin(request)


def link_base(generation: Generation, request: HttpRequest | None = None) -> str:
    """Where a generation's absolute links start, the same in API answers and in webhooks:
    SITE_URL when set; else the origin of the request that made the generation; else (made by
    a command) the origin of the request asking now; "" only for a webhook of such a one."""
    if settings.SITE_URL:
        return settings.SITE_URL
    if generation.origin:
        return generation.origin
    return request_origin(request) if request is not None else ""


def generation_item(
    generation: Generation,
    status: dict[str, Any] | None = None,
    *,
    request: HttpRequest | None = None,
) -> dict[str, Any]:
    """A generation as the API (and its webhooks) show it: its live status and the parameters it
    was made with.

    Links are absolute from link_base(), and the image URLs are the API's own, which accept an
    API key as well as the session. `status` is status_payload()'s, when the caller read the
    queue once for many.
    """
    if status is None:
        status = status_payload(generation)
    base = link_base(generation, request)

    def absolute(path):
        return base + path

    done = status["image_url"] is not None
    token = generation.share_token
    return {
        **status,
        "url": absolute(reverse("api:generation", args=[generation.pk])),
        "detail_url": absolute(status["detail_url"]),
        "image_url": absolute(reverse("api:image", args=[generation.pk])) if done else None,
        "thumbnail_url": absolute(reverse("api:thumbnail", args=[generation.pk])) if done else None,
        "share_url": absolute(reverse("imagegen:shared", args=[token])) if token else None,
        "prompt": generation.prompt,
        "negative_prompt": generation.negative_prompt,
        # English sent to the model when the words were translated; empty when sent as they are.
        "prompt_en": generation.prompt_en,
        "negative_prompt_en": generation.negative_prompt_en,
        "translation_note": status["translation_note"],
        "translate_prompt": generation.translate_prompt,
        "preset": generation.preset_id,
        "width": generation.width,
        "height": generation.height,
        "seed": generation.seed,
        "actual_seed": generation.actual_seed,
        "steps": generation.steps,
        "guidance": generation.guidance,
        "provider": generation.provider,
        "model": generation.model_name,
        "callback_url": generation.callback_url,
        "created_at": generation.created_at,
        "finished_at": generation.finished_at,
        "favourite": generation.favourite,
    }


def generation_items(
    generations: Iterable[Generation], *, request: HttpRequest | None = None
) -> list[dict[str, Any]]:
    """Items of many generations, with the queue and the typical duration read once."""
    generations = list(generations)
    queued = [g for g in generations if g.status == Generation.Status.QUEUED]
    positions = selectors.queue_positions(queued)
    # Read once per tier that has an active generation here (usually one).
    typical = {
        tier: selectors.typical_duration_now(tier)
        for tier in {g.tier for g in generations if g.is_active}
    }
    return [
        generation_item(
            g,
            status_payload(g, position=positions.get(g.pk), typical=typical.get(g.tier)),
            request=request,
        )
        for g in generations
    ]
