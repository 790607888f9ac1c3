"""Reads that pages, the API and commands share."""

from dataclasses import dataclass

from .models import Generation
from .services import Periods, quota_for


def generations_of(user):
    """A user's generations, newest first (served by the gallery index)."""
    return Generation.objects.filter(owner=user).order_by("-created_at")


@dataclass(frozen=True)
class QuotaStatus:
    daily_limit: int
    day_left: int
    monthly_limit: int
    month_left: int
    resets_at: object  # when the binding limit next gives more, or None

    @property
    def exhausted(self):
        return self.day_left == 0 or self.month_left == 0


def quota_status(user):
    """How many generations the user has left today and this month, and when more come."""
    quota = quota_for(user)
    periods = Periods.current()
    day_left = max(0, quota.daily_limit - quota.used_today(periods.day))
    month_left = max(0, quota.monthly_limit - quota.used_this_month(periods.month))
    if month_left == 0:
        resets_at = periods.month_resets_at()
    elif day_left == 0:
        resets_at = periods.day_resets_at()
    else:
        resets_at = None
    return QuotaStatus(quota.daily_limit, day_left, quota.monthly_limit, month_left, resets_at)


def queue_position(generation):
    """1 for the next queued generation to start, 2 for the one after it, …"""
    if generation.status != Generation.Status.QUEUED:
        return None
    ahead = Generation.objects.filter(
        status=Generation.Status.QUEUED, created_at__lt=generation.created_at
    ).count()
    return ahead + 1
