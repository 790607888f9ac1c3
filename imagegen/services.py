"""TravelFit's workflows: each is the one place where its writes happen.

- `submit_generation` reserves a unit of quota, records the request and queues it
  (`submit_generations` does it for a batch, all or none).
- `run_generation` (called by the background task) asks the providers and stores the result.
- `refund` gives a unit back, exactly once; `cancel_generation` stops a queued request.
"""

import contextlib
import dataclasses
import datetime
import hashlib
import json
import logging
import pickle
import secrets
import threading
import time
import traceback
import uuid
from dataclasses import dataclass
from decimal import Decimal
from functools import partial

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.db import DatabaseError, connections, transaction
from django.db.models import Case, F, PositiveIntegerField, Q, Value, When
from django.utils import formats, timezone
from django.utils.translation import gettext
from django_q.brokers import get_broker
from django_q.exceptions import TimeoutException
from django_q.signing import BadSignature, SignedPackage
from django_q.tasks import async_task

from . import idempotency, translation, webhooks
from .images import ImageRejected, check_image, stored_bytes
from .models import (
    MAX_SEED,
    ApiToken,
    BlockedPattern,
    Generation,
    MonthlySpend,
    PromptRefusal,
    ProviderCooldown,
    Quota,
)
from .providers import get_provider, get_providers
from .providers.base import (
    BadOutput,
    GenerationRequest,
    OutOfQuota,
    PromptRejected,
    ProviderError,
    Unavailable,
    adapt,
    redact,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Periods:
    """The quota periods a moment falls in: its local day and the first day of its month."""

    day: datetime.date
    month: datetime.date

    @classmethod
    def current(cls):
        # The site's day (settings.TIME_ZONE), whatever zone a user's pages are shown in: a
        # quota counted in two zones would start a fresh day each time it crossed between them.
        today = timezone.localdate(timezone=timezone.get_default_timezone())
        return cls(day=today, month=today.replace(day=1))

    def day_resets_at(self):
        return _local_midnight(self.day + datetime.timedelta(days=1))

    def month_resets_at(self):
        following = (self.month + datetime.timedelta(days=32)).replace(day=1)
        return _local_midnight(following)


def _local_midnight(day):
    return timezone.make_aware(
        datetime.datetime.combine(day, datetime.time.min), timezone.get_default_timezone()
    )


class QuotaExceeded(Exception):
    """The user has fewer generations left in the current day or month than they asked for."""

    def __init__(self, *, period, limit, resets_at, asked=1, left=0):
        self.period = period
        self.limit = limit
        self.resets_at = resets_at
        self.asked = asked
        self.left = left
        when = formats.date_format(timezone.localtime(resets_at), "DATETIME_FORMAT")
        if left and period == "day":
            text = gettext(
                "You asked for %(asked)s, but only %(left)s of today's generations are left. "
                "More from %(when)s."
            )
        elif left:
            text = gettext(
                "You asked for %(asked)s, but only %(left)s of this month's generations are "
                "left. More from %(when)s."
            )
        elif period == "day":
            text = gettext(
                "You have used all %(limit)s of today's generations. More from %(when)s."
            )
        else:
            text = gettext(
                "You have used all %(limit)s of this month's generations. More from %(when)s."
            )
        super().__init__(text % {"limit": limit, "when": when, "asked": asked, "left": left})


def quota_for(user):
    """The user's quota row, created with the site's default limits on first use."""
    quota, _ = Quota.objects.get_or_create(user=user)
    return quota


def _reserve_quota(user, periods, units=1):
    """Take `units` of the user's quota, all or none: True if they were bonus credits; or
    QuotaExceeded.

    One conditional UPDATE: it starts a new period's counter at `units`, or adds them to the
    current one, only where both counters stay within their limits. The database applies it
    atomically, so concurrent submissions can never take more than the limit
    (QUEUE-AND-QUOTA.md). Short of the limits, one more conditional UPDATE takes that many
    bonus credits if the user has them: a batch is paid from one or the other, never split.
    """
    quota_for(user)
    day, month = periods.day, periods.month
    new_day = ~Q(day=day) | Q(day__isnull=True)
    new_month = ~Q(month=month) | Q(month__isnull=True)
    taken = (
        Quota.objects.filter(user=user)
        .filter(
            (new_day & Q(daily_limit__gte=units))
            | Q(day=day, day_used__lte=F("daily_limit") - units)
        )
        .filter(
            (new_month & Q(monthly_limit__gte=units))
            | Q(month=month, month_used__lte=F("monthly_limit") - units)
        )
        .update(
            day_used=Case(
                When(day=day, then=F("day_used") + units),
                default=Value(units),
                output_field=PositiveIntegerField(),
            ),
            day=day,
            month_used=Case(
                When(month=month, then=F("month_used") + units),
                default=Value(units),
                output_field=PositiveIntegerField(),
            ),
            month=month,
        )
    )
    if taken:
        return False
    if Quota.objects.filter(user=user, bonus_credits__gte=units).update(
        bonus_credits=F("bonus_credits") - units
    ):
        return True
    quota = Quota.objects.get(user=user)
    day_left = max(0, quota.daily_limit - quota.used_today(day))
    if day_left < units:
        raise QuotaExceeded(
            period="day",
            limit=quota.daily_limit,
            resets_at=periods.day_resets_at(),
            asked=units,
            left=day_left,
        )
    raise QuotaExceeded(
        period="month",
        limit=quota.monthly_limit,
        resets_at=periods.month_resets_at(),
        asked=units,
        left=max(0, quota.monthly_limit - quota.used_this_month(month)),
    )


class PromptBlocked(Exception):
    """The prompt matches one of the admins' blocked words or patterns."""


class BudgetExhausted(Exception):
    """The site's monthly budget is spent and IMAGEGEN_BUDGET_ACTION is refuse."""


def blocking_pattern(text):
    """The first active blocked pattern the text matches, or None."""
    return next((p for p in BlockedPattern.objects.filter(active=True) if p.matches(text)), None)


def check_prompt(*, user, prompt):
    """Refuse a prompt the policy blocks, counting the refusal; it never reaches a provider."""
    pattern = blocking_pattern(prompt)
    if pattern is None:
        return
    PromptRefusal.objects.create(user=user, pattern=pattern.pattern)
    logger.info("prompt of user %s refused by pattern %r", user.pk, pattern.pattern)
    if pattern.reason:
        raise PromptBlocked(
            gettext("This prompt is not allowed on this site (%(reason)s). Please change it.")
            % {"reason": pattern.reason}
        )
    raise PromptBlocked(gettext("This prompt is not allowed on this site. Please change it."))


def spent_this_month():
    """Estimated dollars spent on generations finished this month (local time): one row, read
    in one query however many generations there are (a SUM over them grew with the table)."""
    spend = MonthlySpend.objects.filter(month=Periods.current().month).first()
    return spend.total if spend else Decimal(0)


def record_spending(cost, *, finished_at):
    """Add a finished generation's cost to the total of the month it finished in.

    Call it in the transaction that records the cost on the generation, so the total and
    the rows never disagree. The UPDATE adds in the database (F()), so concurrent workers
    never lose each other's costs.
    """
    if not cost:
        return
    zone = timezone.get_default_timezone()
    month = timezone.localdate(finished_at, timezone=zone).replace(day=1)
    MonthlySpend.objects.get_or_create(month=month)
    MonthlySpend.objects.filter(month=month).update(total=F("total") + cost)


def budget_state():
    """(spent, budget, state): state is "none" (no budget), "ok", "warning" or "reached"."""
    budget = settings.IMAGEGEN_MONTHLY_BUDGET_USD
    spent = spent_this_month()
    if budget is None:
        return spent, None, "none"
    if spent >= budget:
        return spent, budget, "reached"
    if spent >= budget * Decimal(str(settings.IMAGEGEN_BUDGET_WARN_AT)):
        return spent, budget, "warning"
    return spent, budget, "ok"


def check_budget_allows_new_generations():
    if settings.IMAGEGEN_BUDGET_ACTION != "refuse":
        return
    _, _, state = budget_state()
    if state == "reached":
        resumes = formats.date_format(timezone.localtime(Periods.current().month_resets_at()))
        raise BudgetExhausted(
            gettext(
                "The site has used this month's image budget. New images can be made again "
                "from %(date)s."
            )
            % {"date": resumes}
        )


def grant_credits(*, user, credits):
    """Give a user extra generations beyond their limits; returns their new bonus balance."""
    if credits <= 0:
        raise ValueError("Grant at least one credit.")
    quota_for(user)
    Quota.objects.filter(user=user).update(bonus_credits=F("bonus_credits") + credits)
    balance = Quota.objects.values_list("bonus_credits", flat=True).get(user=user)
    logger.info("user %s granted %d credits (now %d)", user.pk, credits, balance)
    return balance


def submit_generation(*, user, **request):
    """Reserve a unit of quota, record the request and queue it; see submit_generations."""
    return submit_generations(user=user, count=1, **request)[0]


def submit_generations(
    *,
    user,
    count,
    prompt,
    negative_prompt="",
    width,
    height,
    seed=None,
    steps=None,
    guidance=None,
    preset=None,
    preset_input="",
    only_provider="",
    translate_prompt=True,
    callback_url="",
    api_token=None,
):
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
    """
    periods = Periods.current()
    check_budget_allows_new_generations()
    check_prompt(user=user, prompt=prompt)
    with transaction.atomic():
        bonus = _reserve_quota(user, periods, units=count)
        generations = [
            Generation.objects.create(
                owner=user,
                prompt=prompt,
                negative_prompt=negative_prompt,
                width=width,
                height=height,
                seed=seed,
                steps=steps,
                guidance=guidance,
                preset=preset,
                preset_input=preset_input if preset else "",
                only_provider=only_provider,
                translate_prompt=translate_prompt,
                callback_url=callback_url,
                api_token=api_token,
                charged=True,
                charged_day=None if bonus else periods.day,
                charged_month=None if bonus else periods.month,
                charged_bonus=bonus,
            )
            for _ in range(count)
        ]
        if dispatch_held(user_id=user.pk):
            for generation in generations:
                generation.refresh_from_db(fields=["enqueued_at"])
    logger.info(
        "generations %s queued for user %s", ", ".join(str(g.pk) for g in generations), user.pk
    )
    return generations


def retry_generation(*, generation_id, user):
    """Submit the user's own earlier request again, with the same parameters."""
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
    )


def _enqueue_in_transaction(generation_id):
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


def dispatch_held(*, user_id):
    """Hand the user's held generations to the broker while they have fewer than
    IMAGEGEN_IN_FLIGHT_PER_USER in it or running; returns how many were handed over.

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
        held = queued.filter(enqueued_at__isnull=True).order_by("created_at")
        if limit:
            in_flight = Generation.objects.filter(
                owner_id=user_id, status__in=Generation.ACTIVE, enqueued_at__isnull=False
            ).count()
            held = held[: max(0, limit - in_flight)]
        dispatched = 0
        for generation_id in held.values_list("pk", flat=True):
            if Generation.objects.filter(pk=generation_id, enqueued_at__isnull=True).update(
                enqueued_at=timezone.now()
            ):
                _enqueue_in_transaction(generation_id)
                dispatched += 1
    return dispatched


def _dispatch_next_of_owner(generation_id):
    owner_id = Generation.objects.filter(pk=generation_id).values_list("owner_id", flat=True)
    for user_id in owner_id:
        dispatch_held(user_id=user_id)


def enqueue_generation(generation_id):
    """Hand a generation to the django-q2 broker. Only its id travels, never a secret."""
    async_task(
        RUN_GENERATION,
        str(generation_id),
        task_name=f"generation-{generation_id}",
    )


def refund(generation_id):
    """Give back the unit of quota a generation holds. True if this call gave it back.

    The generation's `charged` flag is cleared with a conditional UPDATE first, so however
    many callers race here, exactly one refunds. A unit goes back to the period it was taken
    from; if that period is over, its counter has already started again and nothing is owed.
    """
    with transaction.atomic():
        if not Generation.objects.filter(pk=generation_id, charged=True).update(charged=False):
            return False
        owner_id, day, month, bonus = Generation.objects.values_list(
            "owner_id", "charged_day", "charged_month", "charged_bonus"
        ).get(pk=generation_id)
        if bonus:
            Quota.objects.filter(user_id=owner_id).update(bonus_credits=F("bonus_credits") + 1)
            logger.info("generation %s refunded (a bonus credit)", generation_id)
            return True
        Quota.objects.filter(user_id=owner_id).update(
            day_used=Case(
                When(day=day, day_used__gt=0, then=F("day_used") - 1),
                default=F("day_used"),
                output_field=PositiveIntegerField(),
            ),
            month_used=Case(
                When(month=month, month_used__gt=0, then=F("month_used") - 1),
                default=F("month_used"),
                output_field=PositiveIntegerField(),
            ),
        )
    logger.info("generation %s refunded", generation_id)
    return True


def cancel_generation(*, generation_id, user):
    """Cancel the user's own generation while it is still queued, and refund it."""
    with transaction.atomic():
        canceled = Generation.objects.filter(
            pk=generation_id, owner=user, status=Generation.Status.QUEUED
        ).update(status=Generation.Status.CANCELED, finished_at=timezone.now())
        if canceled:
            refund(generation_id)
            dispatch_held(user_id=user.pk)
            webhooks.generation_ended(generation_id)
    return bool(canceled)


def fail_generation(
    generation_id,
    *,
    user_message,
    detail,
    failure_class="unexpected",
    provider="",
    refund_quota=True,
    claim=None,
):
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


def _claim(generation_id):
    """Move a queued generation to running under a new claim; None if another worker has it
    or it is over.

    The claim says whose work it is: once recover_stuck() has given a silent worker's
    generation to another, the first worker's late result or failure is not recorded.
    """
    claim = uuid.uuid4()
    now = timezone.now()
    claimed = Generation.objects.filter(pk=generation_id, status=Generation.Status.QUEUED).update(
        status=Generation.Status.RUNNING, started_at=now, heartbeat_at=now, claim=claim
    )
    return claim if claimed else None


@contextlib.contextmanager
def _heartbeat(generation_id, claim):
    """While the block runs, say every IMAGEGEN_HEARTBEAT_SECONDS that this worker is alive.

    A thread of the worker process writes `heartbeat_at`; when the process dies (SIGKILL, out
    of memory, the machine gone) the heartbeats stop and recover_stuck() puts the generation
    back in the queue. Inside a transaction (tests, sync mode) another connection could not see
    the claim, so there is nothing to beat for.
    """
    if transaction.get_connection().in_atomic_block:
        yield
        return
    stop = threading.Event()

    def beat():
        try:
            while not stop.wait(settings.IMAGEGEN_HEARTBEAT_SECONDS):
                try:
                    Generation.objects.filter(
                        pk=generation_id, claim=claim, status=Generation.Status.RUNNING
                    ).update(heartbeat_at=timezone.now())
                except DatabaseError as exc:
                    logger.warning("generation %s: heartbeat not saved: %s", generation_id, exc)
        finally:
            connections.close_all()  # this thread's own connections

    thread = threading.Thread(target=beat, name=f"heartbeat-{generation_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()


def start_cooldown(provider_name, seconds, reason):
    """Keep every worker away from a provider for `seconds` (extending, never shortening)."""
    until = timezone.now() + datetime.timedelta(seconds=seconds)
    with transaction.atomic():
        cooldown, created = ProviderCooldown.objects.get_or_create(
            provider=provider_name, defaults={"until": until, "reason": redact(reason)}
        )
        if not created and cooldown.until < until:
            cooldown.until, cooldown.reason = until, redact(reason)
            cooldown.save(update_fields=["until", "reason", "updated_at"])
    logger.warning("provider %s cools down until %s: %s", provider_name, until, redact(reason))


def active_cooldown(provider_name):
    """The provider's cool-down if it is still running, else None."""
    return ProviderCooldown.objects.filter(provider=provider_name, until__gt=timezone.now()).first()


def parameters_text(request, *, provider, model, original_prompt="", original_negative_prompt=""):
    """The parameters sent, in the `parameters` chunk layout other image apps write.

    The prompts are what the model got; the user's own words, when they were translated, are
    quoted fields of the last line (A1111 readers take quoted values there), not lines of their
    own, which those readers would take for part of the prompt.
    """
    lines = [request.prompt]
    if request.negative_prompt:
        lines.append(f"Negative prompt: {request.negative_prompt}")
    fields = [
        ("Steps", request.steps),
        ("CFG scale", request.guidance),
        ("Seed", request.seed),
        ("Size", f"{request.width}x{request.height}"),
        ("Model", model),
        ("Provider", provider),
        ("Original prompt", _quoted(original_prompt)),
        ("Original negative prompt", _quoted(original_negative_prompt)),
    ]
    lines.append(", ".join(f"{name}: {value}" for name, value in fields if value is not None))
    return "\n".join(lines)


def _quoted(text):
    return json.dumps(text, ensure_ascii=False) if text else None


def _store(generation, *, claim, provider, request, result, image, notes, seconds):
    # The user's own words too, where the model got a translation of them.
    originals = {
        "original_prompt": generation.prompt if generation.prompt_en else "",
        "original_negative_prompt": (
            generation.negative_prompt if generation.negative_prompt_en else ""
        ),
    }
    text = parameters_text(request, provider=provider.name, model=result.model, **originals)
    generation.image.save(
        f"image.{image.extension}", ContentFile(stored_bytes(image, text)), save=False
    )
    generation.thumbnail.save("thumb.webp", ContentFile(image.thumbnail), save=False)
    cost, finished_at = provider.cost(seconds), timezone.now()
    with transaction.atomic():
        stored = Generation.objects.filter(
            pk=generation.pk, status=Generation.Status.RUNNING, claim=claim
        ).update(
            status=Generation.Status.SUCCEEDED,
            image=generation.image.name,
            thumbnail=generation.thumbnail.name,
            actual_seed=request.seed,
            provider=provider.name,
            model_name=result.model,
            adaptations="\n".join(notes),
            estimated_cost=cost,
            finished_at=finished_at,
        )
        if stored:
            record_spending(cost, finished_at=finished_at)
            webhooks.generation_ended(generation.pk)
    if not stored:
        # Someone else settled it (a recovery sweep, an admin) while we worked: keep theirs.
        generation.image.delete(save=False)
        generation.thumbnail.delete(save=False)
    else:
        dispatch_held(user_id=generation.owner_id)
    return bool(stored)


def _ask(provider, request, *, generation_id, deadline):
    """Ask one provider, retrying with backoff while its failure says a retry can help.

    Returns (ProviderResult, image, seconds the successful call took) or the last
    ProviderError.
    """
    retries = settings.IMAGEGEN_RETRIES
    for attempt in range(retries + 1):
        Generation.objects.filter(pk=generation_id).update(attempts=F("attempts") + 1)
        started = time.monotonic()
        try:
            result = provider.generate(request)
            image = check_image(result.image, expected_size=(request.width, request.height))
            return result, image, time.monotonic() - started
        except ImageRejected as exc:
            error = BadOutput(exc.detail, user_message=exc.user_message)
        except ProviderError as exc:
            error = exc
        except Exception as exc:  # a bug or an unmapped library error: keep the worker going
            error = ProviderError("Unexpected error:\n" + "".join(traceback.format_exception(exc)))
            # With its traceback (the log formatter redacts it), and to Sentry when it is on.
            logger.exception(
                "generation %s: %s raised an unexpected error", generation_id, provider.name
            )
        logger.warning(
            "generation %s: %s attempt %d failed (%s): %s",
            generation_id,
            provider.name,
            attempt + 1,
            error.failure_class,
            error.detail.splitlines()[0] if error.detail else "",
        )
        if not error.retryable or attempt == retries:
            return error
        delay = error.retry_after
        if delay is None:
            delay = settings.IMAGEGEN_RETRY_BACKOFF * 2**attempt
        delay = min(delay, settings.IMAGEGEN_RETRY_MAX_WAIT)
        if time.monotonic() + delay > deadline:
            return error
        time.sleep(delay)
    return error


def run_generation(generation_id):
    """Make the image for a queued generation: the body of the background task.

    Idempotent: a second delivery of the same task finds the generation already claimed and
    returns. Providers are asked in IMAGEGEN_PROVIDERS order, skipping any that is cooling
    down; each is retried while its failure is transient; a failure that says the next one
    may help moves on. When none serves, the generation fails with the last failure's
    message and its unit of quota goes back.
    """
    claim = _claim(generation_id)
    if claim is None:
        logger.info("generation %s is not queued any more; nothing to do", generation_id)
        return
    with _heartbeat(generation_id, claim):
        try:
            _make(generation_id, claim)
        except TimeoutException:
            # django-q2 stops a task at IMAGEGEN_TASK_TIMEOUT: record it, not leave it running.
            fail_generation(
                generation_id,
                user_message="The image took too long to make. Please try again.",
                detail="Stopped by the task queue's time limit (IMAGEGEN_TASK_TIMEOUT).",
                failure_class="unavailable",
                claim=claim,
            )
            raise


def _translate(generation, claim):
    """(prompt, negative prompt, admins' detail) to send: in English when they have Korean in
    them and translation is on, unless the user asked for their words as they are.

    What was sent, the user's note and, when a translation failed, its detail (in
    error_detail, for admins) are recorded on the generation; a failure never stops it.
    """
    outcome = translation.translate_prompts(
        generation.prompt, generation.negative_prompt, wanted=generation.translate_prompt
    )
    if outcome is None:
        return generation.prompt, generation.negative_prompt, ""
    generation.prompt_en = outcome.prompt_en
    generation.negative_prompt_en = outcome.negative_prompt_en
    generation.translation_note = outcome.note
    Generation.objects.filter(pk=generation.pk, claim=claim).update(
        prompt_en=outcome.prompt_en,
        negative_prompt_en=outcome.negative_prompt_en,
        translation_note=outcome.note,
        error_detail=redact(outcome.detail),
    )
    return outcome.prompt, outcome.negative_prompt, outcome.detail


def _make(generation_id, claim):
    """Ask the providers in turn for a claimed generation, and record what came of it."""
    # Stop early enough to record the outcome before django-q2's own limit kills the task.
    deadline = time.monotonic() + settings.IMAGEGEN_TASK_TIMEOUT * 0.9
    generation = Generation.objects.get(pk=generation_id)
    prompt, negative_prompt, translation_detail = _translate(generation, claim)
    asked = GenerationRequest(
        prompt=prompt,
        negative_prompt=negative_prompt,
        width=generation.width,
        height=generation.height,
        seed=generation.seed if generation.seed is not None else secrets.randbelow(MAX_SEED + 1),
        steps=generation.steps,
        guidance=generation.guidance,
    )
    failures = []
    if generation.only_provider:
        providers = [get_provider(generation.only_provider)]
    else:
        providers = get_providers()
    over_budget = settings.IMAGEGEN_BUDGET_ACTION == "fallback" and budget_state()[2] == "reached"
    for provider in providers:
        if over_budget and provider.paid:
            failures.append(
                (
                    provider.name,
                    OutOfQuota(
                        "skipped: the monthly budget (IMAGEGEN_MONTHLY_BUDGET_USD) is spent",
                        user_message="The site has used this month's budget for paid images.",
                    ),
                )
            )
            continue
        cooldown = active_cooldown(provider.name)
        if cooldown:
            failures.append(
                (
                    provider.name,
                    OutOfQuota(
                        f"skipped: cooling down until {cooldown.until:%H:%M:%S} UTC "
                        f"({cooldown.reason})"
                    ),
                )
            )
            continue
        if time.monotonic() > deadline:
            break
        try:
            request, notes = adapt(asked, provider.capabilities, provider.name)
        except ProviderError as exc:
            failures.append((provider.name, exc))
            continue
        outcome = _ask(provider, request, generation_id=generation_id, deadline=deadline)
        if not isinstance(outcome, ProviderError):
            result, image, seconds = outcome
            _store(
                generation,
                claim=claim,
                provider=provider,
                request=dataclasses.replace(request, seed=result.seed or request.seed),
                result=result,
                image=image,
                notes=notes,
                seconds=seconds,
            )
            logger.info("generation %s done by %s", generation_id, provider.name)
            return
        failures.append((provider.name, outcome))
        if outcome.cooldown:
            start_cooldown(provider.name, outcome.cooldown, outcome.detail)
        if not outcome.try_next:
            break
    if not failures:
        failures.append(("all", Unavailable("No time was left to ask any provider.")))
    last_name, last = failures[-1]
    fail_generation(
        generation_id,
        user_message=last.user_message,
        failure_class=last.failure_class,
        provider=last_name if last_name != "all" else "",
        detail="\n\n".join(
            ([translation_detail] if translation_detail else [])
            + [f"{name} ({exc.failure_class}): {exc.detail}" for name, exc in failures]
        ),
        # A prompt the provider refused is the request's own doing; anything else is ours.
        refund_quota=not isinstance(last, PromptRejected),
        claim=claim,
    )


def delete_generation(*, generation_id, user):
    """Delete the user's own generation and its files; a queued one is canceled (refunded) first.

    A running one cannot be deleted yet (GenerationBusy): its worker would write files for a
    missing row. Returns False when there is nothing of the user's to delete.
    """
    if not Generation.objects.filter(pk=generation_id, owner=user).exists():
        return False
    return delete_generation_with_files(generation_id=generation_id)


class GenerationBusy(Exception):
    """The generation is running; the action must wait until it ends."""


def set_favourite(*, generation_id, user, favourite):
    return bool(Generation.objects.filter(pk=generation_id, owner=user).update(favourite=favourite))


def share_generation(*, generation_id, user):
    """The share token of the user's own finished image, made on first share. None if not theirs."""
    generation = Generation.objects.filter(
        pk=generation_id, owner=user, status=Generation.Status.SUCCEEDED
    ).first()
    if generation is None:
        return None
    if not generation.share_token:
        token = secrets.token_urlsafe(24)
        # Conditional, so two clicks at once end with one token, not two.
        Generation.objects.filter(pk=generation.pk, share_token__isnull=True).update(
            share_token=token
        )
        generation.refresh_from_db(fields=["share_token"])
    return generation.share_token


def revoke_share(*, generation_id, user):
    """Turn the share link off: the old link answers 404 from now on."""
    return bool(
        Generation.objects.filter(pk=generation_id, owner=user)
        .exclude(share_token=None)
        .update(share_token=None)
    )


def create_api_token(*, user, name, default_callback_url=""):
    """A new API key for the user: (ApiToken, key). The key is returned once, never stored.

    The token's `webhook_secret` (whsec_…) signs its webhooks: show it to the user with the
    key. A default callback URL is checked against the webhook policy (ValidationError).
    """
    default_callback_url = webhooks.check_callback_url(default_callback_url)
    key = "tf_" + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=key[:10],
        key_hash=hash_api_key(key),
        default_callback_url=default_callback_url,
        webhook_secret=webhooks.new_webhook_secret(),
    )
    return token, key


def revoke_api_token(*, token_id, user):
    """Delete one of the user's API keys; its name, or None if the user has no such key."""
    token = ApiToken.objects.filter(pk=token_id, user=user).first()
    if token is None:
        return None
    token.delete()
    return token.name


def hash_api_key(key):
    return hashlib.sha256(key.encode()).hexdigest()


def user_for_api_key(key):
    """The active user an API key belongs to, or None; notes when the key was last used."""
    token = token_for_api_key(key)
    return token.user if token else None


def token_for_api_key(key):
    """The ApiToken of an active user's key (its `user` loaded), or None; notes its last use."""
    token = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=hash_api_key(key), user__is_active=True)
        .first()
    )
    if token is None:
        return None
    # At most one write a minute per key: a busy script must not write on every request.
    now = timezone.now()
    ApiToken.objects.filter(pk=token.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - datetime.timedelta(minutes=1))
    ).update(last_used_at=now)
    return token


# A running generation's worker writes a heartbeat every IMAGEGEN_HEARTBEAT_SECONDS; after
# this many missed in a row, the worker is taken for dead.
MISSED_HEARTBEATS = 6
# A queued generation whose task is in no broker queue this long after it was (re)queued has
# lost its task (Redis drops what a dead worker had taken; a crash can fall between commit and
# push). Prefetched tasks of a live worker are not in the queue either: queuing one of them
# again only makes a duplicate task that finds the generation claimed and does nothing.
QUEUED_GRACE_SECONDS = 60
# Times a generation goes back in the queue after its worker died, before it fails (refunded):
# one that kills every worker that takes it (out of memory, say) must not go round for ever.
MAX_RECOVERIES = 2


@dataclass
class Recovery:
    requeued: list
    failed: list
    reenqueued: list


def recover_stuck(*, now=None, dry_run=False):
    """Find generations a dead worker or a lost task left behind, and settle them.

    Running, but no heartbeat for MISSED_HEARTBEATS × IMAGEGEN_HEARTBEAT_SECONDS: its worker
    is dead, so it goes back in the queue (up to MAX_RECOVERIES times, then it fails and is
    refunded). Queued, but its task is in no broker queue QUEUED_GRACE_SECONDS after it was
    queued: queued again. Every qcluster runs this every IMAGEGEN_RECOVERY_INTERVAL seconds;
    running it twice at once is harmless, as every change is a conditional UPDATE, a task
    claims its generation before working and a late result of a replaced worker is dropped.
    """
    now = now or timezone.now()
    recovery = Recovery(requeued=[], failed=[], reenqueued=[])
    if not dry_run:
        # Housekeeping that rides along: answers kept for Idempotency-Key past their 24 hours.
        idempotency.purge_expired(now=now)
    silent_since = now - datetime.timedelta(
        seconds=settings.IMAGEGEN_HEARTBEAT_SECONDS * MISSED_HEARTBEATS
    )
    silent = Q(heartbeat_at__lt=silent_since) | Q(
        heartbeat_at__isnull=True, started_at__lt=silent_since
    )
    stuck = Generation.objects.filter(silent, status=Generation.Status.RUNNING)
    for generation in stuck:
        if generation.recoveries < MAX_RECOVERIES:
            if dry_run or _requeue_running(generation, silent):
                recovery.requeued.append(generation.pk)
        elif dry_run or fail_generation(
            generation.pk,
            user_message="The worker making this image stopped. Your quota was given back; "
            "please try again.",
            detail=f"Its worker stopped sending heartbeats (last "
            f"{generation.heartbeat_at or generation.started_at:%Y-%m-%d %H:%M:%S} UTC) after "
            f"it had been put back in the queue {generation.recoveries} time(s).",
            failure_class="unavailable",
            claim=generation.claim,
        ):
            recovery.failed.append(generation.pk)
    if not dry_run:
        # Held generations whose owner has a free slot (a finish that could not dispatch them).
        owners = (
            Generation.objects.filter(status=Generation.Status.QUEUED, enqueued_at__isnull=True)
            .values_list("owner_id", flat=True)
            .distinct()
        )
        for user_id in list(owners):
            dispatch_held(user_id=user_id)
    lost = _lost_from_the_queue(now)
    for generation_id in lost:
        if dry_run or Generation.objects.filter(
            pk=generation_id, status=Generation.Status.QUEUED
        ).update(enqueued_at=timezone.now()):
            if not dry_run:
                enqueue_generation(generation_id)
            recovery.reenqueued.append(generation_id)
    if recovery.requeued or recovery.failed or recovery.reenqueued:
        logger.warning(
            "recovery: %d requeued, %d failed, %d queued again%s",
            len(recovery.requeued),
            len(recovery.failed),
            len(recovery.reenqueued),
            " (dry run)" if dry_run else "",
        )
    return recovery


def _requeue_running(generation, silent):
    """Put a generation whose worker went silent back in the queue; False if it moved on."""
    with transaction.atomic():
        if Generation.objects.filter(
            silent, pk=generation.pk, status=Generation.Status.RUNNING, claim=generation.claim
        ).update(
            status=Generation.Status.QUEUED,
            started_at=None,
            heartbeat_at=None,
            claim=None,
            enqueued_at=timezone.now(),
            recoveries=F("recoveries") + 1,
        ):
            _enqueue_in_transaction(generation.pk)
            return True
    return False


def _lost_from_the_queue(now):
    """Ids of generations queued for a while whose task no broker queue holds."""
    cutoff = now - datetime.timedelta(seconds=QUEUED_GRACE_SECONDS)
    waiting_long = list(
        Generation.objects.filter(status=Generation.Status.QUEUED)
        .filter(enqueued_at__lt=cutoff)
        .values_list("pk", flat=True)
    )
    if not waiting_long:
        return []
    in_queue = generations_waiting_in_broker()
    return [pk for pk in waiting_long if str(pk) not in in_queue]


def generations_waiting_in_broker():
    """Ids (as text) of the generations whose task waits in the broker for a worker to take it.

    ORM: rows not locked by a worker; Redis: the list. Tasks a worker has taken (running or
    prefetched) are not counted.
    """
    broker = get_broker()
    if settings.Q_BROKER == "orm":
        payloads = (
            broker.get_connection()
            .filter(key=broker.list_key, lock__lte=timezone.now())
            .values_list("payload", flat=True)
        )
    else:
        payloads = broker.connection.lrange(broker.list_key, 0, -1)
    waiting = set()
    for payload in payloads:
        try:
            task = SignedPackage.loads(payload)
        except (BadSignature, pickle.UnpicklingError, ValueError, TypeError, EOFError):
            continue  # not one of ours, or signed with another SECRET_KEY
        if task.get("func") == RUN_GENERATION and task.get("args"):
            waiting.add(str(task["args"][0]))
    return waiting


@dataclass
class Cleanup:
    generations: int
    files: int
    bytes: int


def cleanup_generations(*, older_than_days, dry_run=False, include_favourites=False):
    """Delete finished generations older than the given days, rows and files.

    Favourites are kept unless asked; queued and running ones are never touched.
    """
    if older_than_days < 1:
        raise ValueError("Give at least one day.")
    cutoff = timezone.now() - datetime.timedelta(days=older_than_days)
    old = Generation.objects.filter(created_at__lt=cutoff).exclude(status__in=Generation.ACTIVE)
    if not include_favourites:
        old = old.exclude(favourite=True)
    cleanup = Cleanup(generations=0, files=0, bytes=0)
    for generation in old.iterator():
        files = [field for field in (generation.image, generation.thumbnail) if field]
        for field in files:
            try:
                cleanup.bytes += field.size
                cleanup.files += 1
            except (FileNotFoundError, OSError):
                pass  # already gone: nothing to free
        cleanup.generations += 1
        if dry_run:
            continue
        generation.delete()
        for field in files:
            field.delete(save=False)
    logger.info(
        "cleanup: %d generations, %d files, %d bytes older than %d days%s",
        cleanup.generations,
        cleanup.files,
        cleanup.bytes,
        older_than_days,
        " (dry run)" if dry_run else "",
    )
    return cleanup


def delete_generation_with_files(*, generation_id):
    """Delete any user's generation and its files (for admins); a queued one is canceled and
    refunded first. Raises GenerationBusy while it runs; False if it is gone already.
    """
    with transaction.atomic():
        generation = Generation.objects.select_related("owner").filter(pk=generation_id).first()
        if generation is None:
            return False
        cancel_generation(generation_id=generation_id, user=generation.owner)
        deleted, _ = (
            Generation.objects.filter(pk=generation_id)
            .exclude(status=Generation.Status.RUNNING)
            .delete()
        )
        if not deleted:
            raise GenerationBusy(gettext("It is being made right now; delete it when done."))
        # Files go once the row is gone for good: a rollback must not leave a row without them.
        names = [generation.image.name, generation.thumbnail.name]
        transaction.on_commit(partial(_delete_generation_files, names))
    logger.info("generation %s deleted by an admin", generation_id)
    return True


def delete_users_with_files(*, user_ids):
    """Delete users with their generations, quota and keys, and their generations' files."""
    with transaction.atomic():
        names = [
            name
            for pair in Generation.objects.filter(owner_id__in=user_ids).values_list(
                "image", "thumbnail"
            )
            for name in pair
        ]
        get_user_model().objects.filter(pk__in=user_ids).delete()
        transaction.on_commit(partial(_delete_generation_files, names))
    logger.info("users %s deleted by an admin", user_ids)


def _delete_generation_files(names):
    storage = Generation._meta.get_field("image").storage
    for name in names:
        if name:
            storage.delete(name)


def clear_cooldowns(*, providers):
    """End the providers' cool-downs: every worker asks them again. Returns how many ended."""
    cleared, _ = ProviderCooldown.objects.filter(provider__in=providers).delete()
    logger.info("cool-downs of %s cleared by an admin", providers)
    return cleared
