"""The JSON shapes of a generation, in one place.

- `status_payload`: what the pages' live status poll reads (imagegen/views.py `status`).
- `generation_item`: the API's item: the status plus the parameters it was made with and
  absolute links; the webhooks send the same shape (imagegen/webhooks.py).
"""

from collections.abc import Callable, Iterable
from typing import Any

from django.urls import reverse
from django.utils import timezone

from . import selectors
from .models import Generation
from .user_messages import localize

_LOOK_UP = object()


def status_payload(
    generation: Generation, *, position=_LOOK_UP, typical=_LOOK_UP
) -> dict[str, Any]:
    """What the live status poll (and the API) says about a generation.

    `position` and `typical` (the serving provider's median duration) are looked up unless a
    caller that lists many generations has read them once for all.
    """
    done = generation.status == Generation.Status.SUCCEEDED
    if position is _LOOK_UP:
        position = selectors.queue_position(generation)
    if typical is _LOOK_UP:
        typical = selectors.typical_duration_now() if generation.is_active else None
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
        "status": generation.status,
        "status_label": generation.get_status_display(),
        "active": generation.is_active,
        "position": position,
        "estimated_seconds": estimate,
        "elapsed_seconds": elapsed,
        "error": localize(generation.error_message),
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


def generation_item(
    generation: Generation,
    status: dict[str, Any] | None = None,
    *,
    absolute: Callable[[str], str],
) -> dict[str, Any]:
    """A generation as the API (and its webhooks) show it: its live status and the parameters it
    was made with.

    `absolute` turns a path into the URL a client follows (the request's host, or SITE_URL for a
    webhook), and the image URLs are the API's own, which accept an API key as well as the
    session. `status` is status_payload()'s, when the caller read the queue once for many.
    """
    if status is None:
        status = status_payload(generation)
    done = status["image_url"] is not None
    token = generation.share_token
    return {
        **status,
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
    generations: Iterable[Generation], *, absolute: Callable[[str], str]
) -> list[dict[str, Any]]:
    """Items of many generations, with the queue and the typical duration read once."""
    generations = list(generations)
    queued = [g for g in generations if g.status == Generation.Status.QUEUED]
    positions = selectors.queue_positions(queued)
    typical = selectors.typical_duration_now() if any(g.is_active for g in generations) else None
    return [
        generation_item(
            g,
            status_payload(g, position=positions.get(g.pk), typical=typical),
            absolute=absolute,
        )
        for g in generations
    ]
