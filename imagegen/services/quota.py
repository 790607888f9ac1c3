"""The quota: reserving units for a submission (one conditional UPDATE), giving them back, bonus
credits. `reserve_quota` is the only place a unit is taken."""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import Case, F, PositiveIntegerField, Q, Value, When

from .. import metrics
from ..models import (
    Generation,
    Quota,
)
from .errors import QuotaExceeded

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

logger = logging.getLogger(__name__)


def quota_for(user: AbstractBaseUser) -> Quota:
    """The user's quota row, created with the site's default limits on first use."""
    quota, _ = Quota.objects.get_or_create(user=user)
    return quota


def reserve_quota(user, periods, units=1, per_picture=1):
    """Take `units` of the user's quota, all or none: True if they were bonus credits; or
    QuotaExceeded, which says how many pictures at `per_picture` units fit in what is left.

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
    month_left = max(0, quota.monthly_limit - quota.used_this_month(month))
    # A smaller batch is paid from the limits (both must allow it) or from the bonus alone.
    fits = max(min(day_left, month_left), quota.bonus_credits) // per_picture
    if day_left < units:
        refusal = QuotaExceeded(
            period="day",
            limit=quota.daily_limit,
            resets_at=periods.day_resets_at(),
            asked=units,
            left=day_left,
            fits=fits,
        )
    else:
        refusal = QuotaExceeded(
            period="month",
            limit=quota.monthly_limit,
            resets_at=periods.month_resets_at(),
            asked=units,
            left=month_left,
            fits=fits,
        )
    metrics.QUOTA_REFUSALS.labels(refusal.period).inc()
    raise refusal


def grant_credits(*, user: AbstractBaseUser, credits: int) -> int:
    """Give a user extra generations beyond their limits; returns their new bonus balance."""
    if credits <= 0:
        raise ValueError("Grant at least one credit.")
    quota_for(user)
    Quota.objects.filter(user=user).update(bonus_credits=F("bonus_credits") + credits)
    balance = Quota.objects.values_list("bonus_credits", flat=True).get(user=user)
    logger.info("user %s granted %d credits (now %d)", user.pk, credits, balance)
    return balance


def refund(generation_id: uuid.UUID | str) -> bool:
    """Give back the units of quota a generation holds (its tier's price). True if this call
    gave them back.

    The generation's `charged` flag is cleared with a conditional UPDATE first, so however
    many callers race here, exactly one refunds. Units go back to the period they were taken
    from; if that period is over, its counter has already started again and nothing is owed.
    """
    with transaction.atomic():
        if not Generation.objects.filter(pk=generation_id, charged=True).update(charged=False):
            return False
        owner_id, day, month, bonus, units = Generation.objects.values_list(
            "owner_id", "charged_day", "charged_month", "charged_bonus", "units"
        ).get(pk=generation_id)
        if bonus:
            Quota.objects.filter(user_id=owner_id).update(bonus_credits=F("bonus_credits") + units)
            logger.info("generation %s refunded (%d bonus credits)", generation_id, units)
            return True
        Quota.objects.filter(user_id=owner_id).update(
            day_used=_less(F("day_used"), units, day=day),
            month_used=_less(F("month_used"), units, month=month),
        )
    logger.info("generation %s refunded (%d units)", generation_id, units)
    return True


def _less(used, units, **period):
    """`used` less `units` if the counter is still that period's, never below 0."""
    ((field, value),) = period.items()
    name = used.name
    return Case(
        When(**{field: value, f"{name}__gte": units}, then=used - units),
        When(**{field: value}, then=Value(0)),
        default=used,
        output_field=PositiveIntegerField(),
    )
