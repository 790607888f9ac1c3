"""The quota periods: the site's day and month (settings.TIME_ZONE), and when each ends."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.utils import timezone


@dataclass(frozen=True)
class Periods:
    """The quota periods a moment falls in: its local day and the first day of its month."""

    day: datetime.date
    month: datetime.date

    @classmethod
    def current(cls) -> Periods:
        # The site's day (settings.TIME_ZONE), whatever zone a user's pages are shown in: a
        # quota counted in two zones would start a fresh day each time it crossed between them.
        today = timezone.localdate(timezone=timezone.get_default_timezone())
        return cls(day=today, month=today.replace(day=1))

    def day_resets_at(self) -> datetime.datetime:
        return local_midnight(self.day + datetime.timedelta(days=1))

    def month_resets_at(self) -> datetime.datetime:
        following = (self.month + datetime.timedelta(days=32)).replace(day=1)
        return local_midnight(following)


def local_midnight(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(
        datetime.datetime.combine(day, datetime.time.min), timezone.get_default_timezone()
    )
