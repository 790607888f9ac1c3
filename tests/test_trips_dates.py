"""A trip's dates: each mistake named by its field, in the reader's language."""

import datetime

import pytest
from django.utils import translation

from imagegen.trips.dates import InvalidTripDates, trip_dates

TODAY = datetime.date(2026, 7, 1)


def days(first, last):
    return trip_dates(
        TODAY + datetime.timedelta(days=first), TODAY + datetime.timedelta(days=last), today=TODAY
    )


def test_a_trip_is_every_day_from_the_first_to_the_last():
    assert days(0, 2) == [TODAY + datetime.timedelta(days=n) for n in range(3)]
    assert days(5, 5) == [TODAY + datetime.timedelta(days=5)]


def test_a_trip_may_not_start_in_the_past():
    with pytest.raises(InvalidTripDates) as raised:
        days(-1, 2)

    assert raised.value.field == "start_date"


def test_the_last_day_may_not_come_before_the_first():
    with pytest.raises(InvalidTripDates) as raised:
        days(3, 2)

    assert raised.value.field == "end_date"


def test_a_trip_longer_than_trip_max_days_is_refused_naming_the_limit(settings):
    settings.TRIP_MAX_DAYS = 14
    assert len(days(1, 14)) == 14

    with pytest.raises(InvalidTripDates) as raised:
        days(1, 15)

    assert raised.value.field == "end_date"
    with translation.override("en"):
        assert str(raised.value.message) == "A lookbook covers at most 14 days; this trip has 15."
    with translation.override("ko"):
        assert (
            str(raised.value.message)
            == "룩북은 최대 14일까지 만들 수 있어요. 이 여행은 15일이에요."
        )
