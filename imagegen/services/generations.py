"""A user's generations: submit (quota, policy, budget, the row, the queue), dispatch waiting ones,
retry, cancel, fail, favourite, and delete with their files (a user's own, an admin's, a
whole account's)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from functools import partial
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext, gettext_lazy
from django_q.tasks import async_task

from lib import request_id

from .. import metrics, tiers, webhooks
from ..models import (
    PHOTOS_OF_TASK,
    Generation,
    Preset,
    Quota,
    Upload,
)
from ..periods import Periods
from ..providers import available_tasks
from ..providers.base import (
    redact,
)
from .availability import check_tier_can_serve
from .budget import check_budget_allows_new_generations
from .chains import keep_children, start_from
from .errors import InvalidRequest
from .policy import check_prompt
from .quota import refund, reserve_quota
from .uploads import use_uploads

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

logger = logging.getLogger(__name__)


def submit_generation(*, user: AbstractBaseUser, **request: Any) -> Generation:
    """Reserve a unit of quota, record the request and queue it; see submit_generations."""
    return submit_generations(user=user, count=1, **request)[0]


# The request's own fields, stored on each generation as given (submit_generations' `request`).
REQUEST_FIELDS = {
    "negative_prompt": "",
    "seed": None,
    "steps": None,
    "guidance": None,
    "translate_prompt": True,
    "include_prompt": False,
    "callback_url": "",
    "api_token": None,
    "origin": "",
}


def submit_generations(
    *,
    user: AbstractBaseUser,
    count: int,
    prompt: str,
    width: int,
    height: int,
    preset: Preset | None = None,
    preset_input: str = "",
    only_provider: str = "",
    task: str = Generation.Task.TEXT,
    source_image: Upload | None = None,
    garment_image: Upload | None = None,
    tier: str = "",
    language: str = "",
    parent: Generation | str | None = None,
    from_original: bool = False,
    **request,
) -> list[Generation]:
    """Reserve `count` units of quota, record `count` generations of the same request and
    queue them, in one transaction: all are charged and queued, or none.

    Raises QuotaExceeded when fewer than `count` are left, PromptBlocked for a prompt the
    policy refuses and BudgetExhausted when the site's monthly budget is spent and set to
    refuse.

    `prompt` is what the provider gets (a preset's template already applied, and translated
    to English by the worker when it has Korean in it, unless `translate_prompt` is False);
    with a preset, `preset_input` keeps the user's own words so the request can be remixed.
    `callback_url` is called when it ends, signed with `api_token`'s secret: pass what
    webhooks.resolve_callback_url() returned (it applies the key's default and the URL policy).
    `origin` is the scheme://host the request came to: its links start there (presenters).
    `task` is text, edit (`source_image`, the user's upload, changed as the prompt says) or
    try_on (`source_image` the person, `garment_image` the garment); InvalidRequest names the
    field when they do not go together or no configured provider can do the task.
    `tier` names the quality tier (empty: the site's default): its providers serve the request
    and each generation reserves its price in units; TierUnavailable when the whole tier is
    paused, before anything is charged.
    An edit or a try-on is recorded at the size its provider makes it (_sources).
    `parent` (an edit only): a finished result of the user's to edit instead of a photo, or
    with `from_original` the chain's first picture with all its instructions (services/chains).
    `include_prompt` writes the prompt into the result's content credentials (off by default).
    `language` is the language of the request (default: the active one); the generations'
    webhooks speak it. `request` holds the rest (REQUEST_FIELDS: negative_prompt, seed, steps,
    guidance, translate_prompt, include_prompt, callback_url, api_token, origin), stored as
    given.
    """
    unknown = set(request) - set(REQUEST_FIELDS)
    if unknown:
        raise TypeError(f"submit_generations() got unexpected arguments: {sorted(unknown)}")
    request = {**REQUEST_FIELDS, **request}
    chosen = tier_for_request(tier)
    language = language or translation.get_language() or settings.LANGUAGE_CODE
    sources = _sources(
        user=user,
        task=task,
        tier=chosen,
        only_provider=only_provider,
        size=(width, height),
        source_image=source_image,
        garment_image=garment_image,
        parent=parent,
        from_original=from_original,
    )
    periods = Periods.current()
    _check_may_serve(user=user, tier=chosen, task=task, prompt=prompt)
    fields = {
        **request,
        **sources,
        "prompt": prompt,
        "preset": preset,
        "preset_input": preset_input if preset else "",
        "only_provider": only_provider,
        "language": language,
        "task": task,
    }
    generations = _record(user=user, count=count, tier=chosen, periods=periods, fields=fields)
    # Counted once the rows are there for good: a trip whose quota gives out on its third day
    # rolls its first two back with it (services.trips.create_trip), and they were never made.
    transaction.on_commit(partial(metrics.SUBMITTED.labels(task, chosen.name).inc, count))
    logger.info(
        "generations %s queued for user %s", ", ".join(str(g.pk) for g in generations), user.pk
    )
    return generations


def _sources(*, user, task, tier, only_provider, size, parent, from_original, **photos):
    """The request's checked photos, chain links and size, as the generation's fields.

    An edit or a try-on is recorded at the size its provider will make it of the photo (or of
    the result an edit again starts from), where the provider says (the photo's own size where
    its service chooses): the queued page, the result and the PNG's text then say one size.
    `size` counts for text only."""
    start = _chain_start(
        user=user,
        parent=parent,
        task=task,
        source_image=photos["source_image"],
        from_original=from_original,
    )
    if start is not None:
        photos["source_image"] = start.source_image
    source_image = photos["source_image"]
    check_task(task, **photos, user=user, from_result=start is not None and source_image is None)
    check_tier_task(tier, task)
    photo = start.size if start else None
    if source_image is not None:
        photo = (source_image.width, source_image.height)
    if photo is not None:
        size = (
            tiers.photo_result_size(task, *photo, tier=tier, only_provider=only_provider) or photo
        )
    return {
        **photos,
        "width": size[0],
        "height": size[1],
        "parent": start.parent if start else None,
        "chain_root": start.chain_root if start else None,
        "from_original": bool(start and from_original),
    }


def _chain_start(*, user, parent, task, source_image, from_original):
    """Where an edit again starts (services/chains.py), None for any other request."""
    if parent is not None:
        return start_from(
            user=user,
            parent=parent,
            task=task,
            source_image=source_image,
            from_original=from_original,
        )
    if from_original:
        raise InvalidRequest(
            "from_original", gettext("Only an edit of one of your pictures has an original.")
        )
    return None


def _record(*, user, count, tier, periods, fields):
    """Reserve the units and create `count` queued generations of `fields`, in one
    transaction; the photos they use are kept, and the user's waiting ones dispatched."""
    with transaction.atomic():
        bonus = reserve_quota(user, periods, units=count * tier.units, per_picture=tier.units)
        generations = [
            Generation.objects.create(
                **fields,
                owner=user,
                tier=tier.name,
                units=tier.units,
                request_id=request_id.current(),
                charged=True,
                charged_day=None if bonus else periods.day,
                charged_month=None if bonus else periods.month,
                charged_bonus=bonus,
            )
            for _ in range(count)
        ]
        use_uploads([fields["source_image"], fields["garment_image"]])
        if dispatch_waiting(user_id=user.pk):
            for generation in generations:
                generation.refresh_from_db(fields=["enqueued_at"])
    return generations


def _check_may_serve(*, user, tier, task, prompt):
    """Refused unless the budget, the tier's providers and the prompt policy allow it."""
    check_budget_allows_new_generations()
    check_tier_can_serve(tier, task)
    if prompt:
        check_prompt(user=user, prompt=prompt)


def check_task(
    task: str,
    *,
    source_image: Upload | None,
    garment_image: Upload | None,
    user: AbstractBaseUser,
    from_result: bool = False,
) -> None:
    """InvalidRequest, naming the field, unless the task and its photos go together, the
    photos are the user's, and a configured provider can do the task. `from_result`: an edit
    again, whose source is a result of the user's rather than a photo."""
    if task not in Generation.Task.values:
        raise InvalidRequest("task", gettext("Choose text, edit or try_on."))
    for field, photo in (("source_image", source_image), ("garment_image", garment_image)):
        needed = field in PHOTOS_OF_TASK[task] and not (from_result and field == "source_image")
        if needed and photo is None:
            raise InvalidRequest(field, PHOTO_NEEDED[field])
        if not needed and photo is not None:
            raise InvalidRequest(
                field, gettext("This photo has no place in this task: leave it out.")
            )
        if photo is not None and photo.owner_id != user.pk:
            raise InvalidRequest(field, gettext("There is no photo of yours with this id."))
    if task not in available_tasks():
        raise InvalidRequest(
            "task", gettext("This site's image services cannot do this kind of picture.")
        )


def tier_for_request(name: str) -> tiers.Tier:
    """The tier a request names (empty: the default), or InvalidRequest naming `tier`."""
    if not name:
        return tiers.default_tier()
    tier = tiers.tier_named(name)
    if tier is None:
        names = ", ".join(tier.name for tier in tiers.tiers())
        raise InvalidRequest(
            "tier", gettext("Choose one of this site's tiers: %(names)s.") % {"names": names}
        )
    return tier


def check_tier_task(tier: tiers.Tier, task: str) -> None:
    """InvalidRequest naming `tier` when its providers cannot do the task but another's can."""
    if task in tier.tasks():
        return
    others = [other.label for other in tiers.tiers() if task in other.tasks()]
    raise InvalidRequest(
        "tier",
        gettext("“%(tier)s” cannot make this kind of picture; choose %(others)s.")
        % {"tier": tier.label, "others": " / ".join(f"“{label}”" for label in others)},
    )


# What a photo task without its photo is told (the form and the API say the same).
PHOTO_NEEDED = {
    "source_image": gettext_lazy("Choose the photo to use: for a try-on, the person's."),
    "garment_image": gettext_lazy("Choose a photo of the garment to try on."),
}


def retry_generation(
    *, generation_id: uuid.UUID | str, user: AbstractBaseUser, origin: str = "", language: str = ""
) -> Generation:
    """Submit the user's own earlier request again, with the same parameters; `origin` is
    where the retry was asked (else where the first was), `language` the retry's language."""
    source = Generation.objects.get(pk=generation_id, owner=user)
    return submit_generation(
        user=user,
        prompt=source.prompt,
        negative_prompt=source.negative_prompt,
        width=source.width,
        height=source.height,
        seed=source.seed,
        steps=source.steps,
        guidance=source.guidance,
        preset=source.preset,
        preset_input=source.preset_input,
        only_provider=source.only_provider,
        translate_prompt=source.translate_prompt,
        include_prompt=source.include_prompt,
        # An integrator's retry reports back where the first one would have.
        callback_url=source.callback_url,
        api_token=source.api_token,
        origin=origin or source.origin,
        language=language,
        task=source.task,
        **_source_of(source),
        garment_image=_still_there(source, "garment_image"),
        # The same tier if the site still has it, else the site's default.
        tier=source.tier if tiers.tier_named(source.tier) else "",
    )


def _source_of(generation):
    """What a retry starts from: the same parent (an edit again) or the same photo."""
    if generation.parent_id is not None:
        return {"parent": generation.parent_id, "from_original": generation.from_original}
    return {"source_image": _still_there(generation, "source_image")}


def _still_there(generation, field):
    """The generation's photo in `field`, or InvalidRequest when it was deleted since."""
    photo = getattr(generation, field)
    if photo is None and field in PHOTOS_OF_TASK[generation.task]:
        raise InvalidRequest(
            field,
            gettext(
                "The photo this was made from was deleted %(days)s days after its last use, "
                "so it cannot be made again. Upload the photo again to start anew."
            )
            % {"days": settings.IMAGEGEN_UPLOAD_RETENTION_DAYS},
        )
    return photo


def enqueue_in_transaction(generation_id):
    """Queue a generation as part of the current transaction's outcome.

    With the ORM broker the task row is written in the same transaction: it commits or rolls
    back with the generation, nothing can be lost between them, and it saves a commit (and
    django-q2's closing of the connection, which it does for an enqueue outside a transaction).
    With Redis the task is pushed once the rows are committed, so a worker never looks for a
    generation it cannot see yet; a crash in between is what recover_stuck() catches.
    """
    if settings.Q_BROKER == "orm":
        enqueue_generation(generation_id)
    else:
        transaction.on_commit(partial(enqueue_generation, generation_id))


RUN_GENERATION = "imagegen.tasks.run_generation"


def dispatch_waiting(*, user_id: int) -> int:
    """Hand the user's waiting generations (queued, not yet given to the broker) to it while
    they have fewer than IMAGEGEN_IN_FLIGHT_PER_USER in it or running; returns how many were
    handed over.

    A generation is recorded at once (quota, row, position) but only dispatched (enqueued_at
    set, task queued) when one of its owner's slots is free, so one user's batch of fifty waits
    in the database, not in the broker's first-come queue in front of everyone else: another
    user's request is at most a couple of tasks behind. Called on submission and whenever a
    generation ends, and by the recovery sweep; the owner's quota row is locked meanwhile, so
    concurrent calls never dispatch past the limit.
    """
    limit = settings.IMAGEGEN_IN_FLIGHT_PER_USER
    with transaction.atomic():
        list(Quota.objects.select_for_update().filter(user_id=user_id).values_list("pk"))
        queued = Generation.objects.filter(owner_id=user_id, status=Generation.Status.QUEUED)
        waiting = queued.filter(enqueued_at__isnull=True).order_by("created_at")
        if limit:
            in_flight = Generation.objects.filter(
                owner_id=user_id, status__in=Generation.ACTIVE, enqueued_at__isnull=False
            ).count()
            waiting = waiting[: max(0, limit - in_flight)]
        dispatched = 0
        for generation_id in waiting.values_list("pk", flat=True):
            if Generation.objects.filter(pk=generation_id, enqueued_at__isnull=True).update(
                enqueued_at=timezone.now()
            ):
                enqueue_in_transaction(generation_id)
                dispatched += 1
    return dispatched


def _dispatch_next_of_owner(generation_id):
    owner_id = Generation.objects.filter(pk=generation_id).values_list("owner_id", flat=True)
    for user_id in owner_id:
        dispatch_waiting(user_id=user_id)


def enqueue_generation(generation_id: uuid.UUID | str) -> None:
    """Hand a generation to the django-q2 broker. Only its id travels, never a secret."""
    async_task(
        RUN_GENERATION,
        str(generation_id),
        task_name=f"generation-{generation_id}",
    )


def cancel_generation(*, generation_id: uuid.UUID | str, user: AbstractBaseUser) -> bool:
    """Cancel the user's own generation while it is still queued, and refund it."""
    with transaction.atomic():
        canceled = Generation.objects.filter(
            pk=generation_id, owner=user, status=Generation.Status.QUEUED
        ).update(status=Generation.Status.CANCELED, finished_at=timezone.now())
        if canceled:
            refund(generation_id)
            dispatch_waiting(user_id=user.pk)
            webhooks.generation_ended(generation_id)
    return bool(canceled)


def fail_generation(
    generation_id: uuid.UUID | str,
    *,
    user_message: str,
    detail: str,
    failure_class: str = "unexpected",
    provider: str = "",
    refund_quota: bool = True,
    claim: uuid.UUID | None = None,
) -> bool:
    """Move an unfinished generation to failed, keeping its parameters, and refund it.

    `provider` names the last one asked, so reports can count failures per provider. A worker
    passes its `claim`: if the generation was given to another worker meanwhile, nothing
    changes. The messages pass `redact` once more: they are stored and shown.
    """
    unfinished = Generation.objects.filter(pk=generation_id, status__in=Generation.ACTIVE)
    if claim is not None:
        unfinished = unfinished.filter(claim=claim)
    with transaction.atomic():
        failed = unfinished.update(
            status=Generation.Status.FAILED,
            error_message=redact(user_message),
            error_detail=redact(detail),
            failure_class=failure_class,
            provider=provider,
            finished_at=timezone.now(),
        )
        if failed and refund_quota:
            refund(generation_id)
        if failed:
            webhooks.generation_ended(generation_id)
    if failed:
        _dispatch_next_of_owner(generation_id)
    return bool(failed)


def delete_generation(*, generation_id: uuid.UUID | str, user: AbstractBaseUser) -> bool:
    """Delete the user's own generation and its files; a queued one is canceled (refunded) first.

    A running one cannot be deleted yet (GenerationBusy): its worker would write files for a
    missing row. Returns False when there is nothing of the user's to delete.
    """
    if not Generation.objects.filter(pk=generation_id, owner=user).exists():
        return False
    return delete_generation_with_files(generation_id=generation_id)


class GenerationBusy(Exception):
    """The generation is running; the action must wait until it ends."""


def set_favourite(
    *, generation_id: uuid.UUID | str, user: AbstractBaseUser, favourite: bool
) -> bool:
    return bool(Generation.objects.filter(pk=generation_id, owner=user).update(favourite=favourite))


def delete_generation_with_files(*, generation_id: uuid.UUID | str) -> bool:
    """Delete any user's generation and its files (for admins); a queued one is canceled and
    refunded first. Raises GenerationBusy while it runs; False if it is gone already.
    """
    with transaction.atomic():
        generation = Generation.objects.select_related("owner").filter(pk=generation_id).first()
        if generation is None:
            return False
        cancel_generation(generation_id=generation_id, user=generation.owner)
        if generation.status != Generation.Status.RUNNING:
            keep_children(generation)
        deleted, _ = (
            Generation.objects.filter(pk=generation_id)
            .exclude(status=Generation.Status.RUNNING)
            .delete()
        )
        if not deleted:
            raise GenerationBusy(gettext("It is being made right now; delete it when done."))
        # Files go once the row is gone for good: a rollback must not leave a row without them.
        names = [getattr(generation, field).name for field in Generation.FILE_FIELDS]
        transaction.on_commit(partial(_delete_generation_files, names))
    logger.info("generation %s deleted with its files", generation_id)
    return True


def delete_users_with_files(*, user_ids: Iterable[int]) -> None:
    """Delete users with their generations, photos, quota and keys, and every file of theirs."""
    from .uploads import upload_file_names

    with transaction.atomic():
        names = [
            name
            for files in Generation.objects.filter(owner_id__in=user_ids).values_list(
                *Generation.FILE_FIELDS
            )
            for name in files
        ] + upload_file_names(user_ids=user_ids)
        get_user_model().objects.filter(pk__in=user_ids).delete()
        transaction.on_commit(partial(_delete_generation_files, names))
    logger.info("users %s deleted with their generations and files", user_ids)


def _delete_generation_files(names):
    storage = Generation._meta.get_field("image").storage
    for name in names:
        if name:
            storage.delete(name)
