"""A trip's days, checked: not in the past, the last not before the first, at most TRIP_MAX_DAYS.

The form and the API both ask `trip_dates(start, end, today=…)`; its error names the field at
fault, with a message in the reader's language. "Today" is the destination's
(`places.Place.today()`), since the trip's days are the destination's days.
"""

import datetime

from django.conf import settings
from django.utils.functional import lazy
from django.utils.translation import gettext_lazy, ngettext


class InvalidTripDates(ValueError):
    """`field` ("start_date" or "end_date") and `message`, for the form or the API's error."""

    def __init__(self, field: str, message):
        super().__init__(str(message))
        self.field = field
        self.message = message


def trip_dates(
    start: datetime.date, end: datetime.date, *, today: datetime.date
) -> list[datetime.date]:
    """Every day from `start` to `end`, both included, or InvalidTripDates."""
    if start < today:
        raise InvalidTripDates(
            "start_date", gettext_lazy("A trip can start today at the earliest.")
        )
    if end < start:
        raise InvalidTripDates(
            "end_date", gettext_lazy("The last day of the trip is before its first day.")
        )
    days = (end - start).days + 1
    if days > settings.TRIP_MAX_DAYS:
        raise InvalidTripDates("end_date", _too_long(settings.TRIP_MAX_DAYS, days))
    return [start + datetime.timedelta(days=n) for n in range(days)]


def _too_many_days(limit: int, days: int) -> str:
    return ngettext(
        "A lookbook covers at most %(limit)d day; this trip has %(days)d.",
        "A lookbook covers at most %(limit)d days; this trip has %(days)d.",
        limit,
    ) % {"limit": limit, "days": days}


# Translated when shown, in the reader's language, not when the dates were checked.
_too_long = lazy(_too_many_days, str)
