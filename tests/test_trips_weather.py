"""The trip's destination and weather from Open-Meteo: a stand-in on 127.0.0.1 speaks its real
JSON (tests/fakes/open_meteo.py); the cache is the site's own (the database's, or Redis)."""

import datetime
import statistics

import pytest

from imagegen.trips import open_meteo, places, weather
from imagegen.trips.conditions import FORECAST, HISTORY
from imagegen.trips.open_meteo import WeatherUnavailable
from tests.fakes.open_meteo import climate, start_open_meteo

JEJU = places.Place(
    name="제주시",
    id=1846266,
    latitude=33.50972,
    longitude=126.52194,
    timezone="Asia/Seoul",
    country="대한민국",
    country_code="KR",
    admin1="제주특별자치도",
)


@pytest.fixture
def open_meteo_server(settings, db):
    server = start_open_meteo()
    for name, value in server.settings().items():
        setattr(settings, name, value)
    settings.TRIP_WEATHER = "open_meteo"
    settings.OPEN_METEO_API_KEY = ""
    yield server
    server.stop()


def days_from_today(*offsets):
    today = JEJU.today()
    return [today + datetime.timedelta(days=offset) for offset in offsets]


def outcomes(lookups):
    return [(lookup.kind, lookup.outcome) for lookup in lookups]


# --- Finding the destination ---------------------------------------------------------------


def test_an_ambiguous_korean_name_offers_each_place_in_korean(open_meteo_server):
    found = places.search_places("제주")

    assert found.place is None
    assert [place.label for place in found.candidates] == [
        "제주특별자치도, 대한민국",
        "제주시, 제주특별자치도, 대한민국",
    ]
    assert {place.id for place in found.candidates} == {1846265, 1846266}
    sent = open_meteo_server.requests[-1].query
    assert sent == {"name": "제주", "count": "10", "language": "ko", "format": "json"}


def test_a_name_whose_first_match_dominates_is_that_place(open_meteo_server):
    found = places.search_places("Paris", language="en")

    assert found.place is not None
    assert (found.place.label, found.place.timezone) == (
        "Paris, Île-de-France, France",
        "Europe/Paris",
    )


def test_a_place_and_the_province_around_it_are_one_destination(open_meteo_server):
    found = places.search_places("서울")

    assert found.place is not None and found.place.name == "서울"


def test_a_korean_name_finds_a_foreign_city_named_in_korean(open_meteo_server):
    found = places.search_places("파리")

    assert found.place.label == "파리, 일드프랑스, 프랑스"
    assert (found.place.latitude, found.place.longitude) == (48.85341, 2.3488)


def test_no_match_is_no_candidate(open_meteo_server):
    found = places.search_places("Atlantis")

    assert found.candidates == () and found.place is None
    assert outcomes(found.lookups) == [("geocoding", "fetched")]


def test_a_search_is_asked_once_then_read_from_the_cache(open_meteo_server):
    places.search_places("제주")
    again = places.search_places("  제주 ")

    assert open_meteo_server.count("search") == 1
    assert outcomes(again.lookups) == [("geocoding", "hit")]
    assert len(again.candidates) == 2


def test_the_chosen_place_is_looked_up_by_id_in_english(open_meteo_server):
    place = places.place_by_id(1846266, language="en")

    assert (place.name, place.country, place.timezone) == ("Jeju City", "South Korea", "Asia/Seoul")
    assert places.place_by_id(99, language="en") is None


def test_a_place_can_be_stored_and_read_back():
    assert places.Place(**JEJU.as_dict()) == JEJU


# --- The weather of each day ---------------------------------------------------------------


def test_days_within_the_horizon_come_from_one_forecast_request(open_meteo_server):
    dates = days_from_today(1, 2, 3)
    open_meteo_server.days[dates[1]] = {
        "temperature_2m_max": 27.25,
        "precipitation_probability_max": 80,
    }

    trip = weather.trip_weather(JEJU, dates)

    assert [day.date for day in trip.days] == dates and trip.missing == ()
    assert {day.source for day in trip.days} == {FORECAST}
    assert (trip.days[1].temperature_max, trip.days[1].precipitation_probability) == (27.2, 80)
    expected = climate(JEJU.latitude, dates[0])
    assert trip.days[0].temperature_min == expected["temperature_2m_min"]
    assert trip.days[0].weather_code == expected["weather_code"]
    assert (open_meteo_server.count("forecast"), open_meteo_server.count("archive")) == (1, 0)
    sent = open_meteo_server.requests[-1].query
    assert (sent["past_days"], sent["forecast_days"], sent["timezone"]) == ("0", "5", "Asia/Seoul")
    assert sent["daily"].split(",") == list(weather.FORECAST_VARIABLES)
    assert outcomes(trip.lookups) == [("forecast", "fetched")]


def test_days_beyond_the_horizon_are_the_same_days_of_past_years_averaged(open_meteo_server):
    dates = days_from_today(40, 41)
    years = [weather.years_before(dates[0], years=y) for y in range(1, 6)]
    for n, day in enumerate(years):
        open_meteo_server.days[day] = {
            "temperature_2m_max": 20.0 + n,
            "temperature_2m_min": 10.0 + n,
            "precipitation_sum": 2.5 if n < 2 else 0.0,
            "weather_code": 61 if n < 2 else 3,
        }

    trip = weather.trip_weather(JEJU, dates)

    assert (open_meteo_server.count("archive"), open_meteo_server.count("forecast")) == (1, 0)
    sent = open_meteo_server.requests[-1].query
    assert sent["start_date"].split(",") == [day.isoformat() for day in years]
    assert sent["end_date"].split(",") == [
        weather.years_before(dates[1], years=y).isoformat() for y in range(1, 6)
    ]
    first = trip.days[0]
    assert (first.source, first.years) == (HISTORY, 5)
    assert (first.temperature_max, first.temperature_min) == (22.0, 12.0)
    assert first.precipitation_probability == 40  # 2 of the 5 years had 1 mm or more
    assert first.weather_code == 3  # the commonest weather of those days
    second = trip.days[1]
    others = [climate(JEJU.latitude, weather.years_before(dates[1], years=y)) for y in range(1, 6)]
    assert second.temperature_max == round(
        statistics.fmean(o["temperature_2m_max"] for o in others), 1
    )


def test_a_trip_across_the_horizon_asks_each_endpoint_once(open_meteo_server):
    dates = days_from_today(*range(10, 24))  # 14 days: 10–14 forecast, 15–23 history

    trip = weather.trip_weather(JEJU, dates)

    assert len(trip.days) == 14 and trip.missing == ()
    assert [day.source for day in trip.days] == [FORECAST] * 5 + [HISTORY] * 9
    assert (open_meteo_server.count("forecast"), open_meteo_server.count("archive")) == (1, 1)


def test_recent_days_come_from_the_forecast_past_days_not_the_lagging_archive(open_meteo_server):
    dates = days_from_today(-3, -2, -1, 0)

    trip = weather.trip_weather(JEJU, dates)

    assert [day.source for day in trip.days] == [FORECAST] * 4
    assert open_meteo_server.requests[-1].query["past_days"] == "3"
    assert open_meteo_server.count("archive") == 0


def test_a_day_with_null_temperatures_is_left_for_the_traveller_to_give(open_meteo_server):
    dates = days_from_today(1, 2)
    open_meteo_server.days[dates[1]] = {"temperature_2m_max": None}

    trip = weather.trip_weather(JEJU, dates)

    assert [day.date for day in trip.days] == dates[:1]
    assert trip.missing == (dates[1],)


def test_a_year_the_archive_has_no_values_for_is_left_out_of_the_average(open_meteo_server):
    dates = days_from_today(60)
    open_meteo_server.days[weather.years_before(dates[0], years=1)] = {
        "temperature_2m_max": None,
        "temperature_2m_min": None,
    }

    trip = weather.trip_weather(JEJU, dates)

    assert trip.days[0].years == 4


def test_planning_again_reads_every_day_from_the_cache(open_meteo_server):
    dates = days_from_today(*range(8, 22))
    open_meteo_server.days[dates[0]] = {"temperature_2m_min": None}  # missing days too
    first = weather.trip_weather(JEJU, dates)
    asked = len(open_meteo_server.requests)

    again = weather.trip_weather(JEJU, dates)

    assert len(open_meteo_server.requests) == asked == 2
    assert again.days == first.days and again.missing == first.missing == (dates[0],)
    assert outcomes(again.lookups) == [("forecast", "hit"), ("history", "hit")]


def test_a_trip_more_than_a_year_ahead_still_finds_past_years(open_meteo_server):
    dates = days_from_today(400)

    trip = weather.trip_weather(JEJU, dates)

    assert trip.days[0].years == 5
    first_start = open_meteo_server.requests[-1].query["start_date"].split(",")[0]
    assert first_start == weather.years_before(dates[0], years=2).isoformat()


def test_the_29th_of_february_of_past_years_is_the_28th():
    leap = datetime.date(2028, 2, 29)

    assert weather.years_before(leap, years=1) == datetime.date(2027, 2, 28)
    assert weather.years_before(leap, years=4) == leap.replace(year=2024)


# --- When the service cannot be used -------------------------------------------------------


@pytest.mark.parametrize(
    ("behaviour", "outcome"),
    [
        ("503", "unavailable"),
        ("hangup", "unavailable"),
        ("html", "malformed"),
        ("wrong-json", "malformed"),
        ("short-arrays", "malformed"),
        ("fahrenheit", "malformed"),
        ("truncated", "malformed"),
        ("huge", "malformed"),
        ("429", "rate_limited"),
        ("400", "refused"),
    ],
)
def test_a_forecast_that_fails_or_makes_no_sense_is_weather_unavailable(
    open_meteo_server, behaviour, outcome
):
    open_meteo_server.behaviour["forecast"] = behaviour

    with pytest.raises(WeatherUnavailable) as raised:
        weather.trip_weather(JEJU, days_from_today(1, 2))

    assert outcomes(raised.value.lookups) == [("forecast", outcome)]
    assert raised.value.reason.startswith("forecast: ")


@pytest.mark.parametrize("behaviour", ["html", "wrong-json", "truncated", "429"])
def test_a_search_that_fails_is_weather_unavailable_and_not_cached(open_meteo_server, behaviour):
    open_meteo_server.behaviour["search"] = behaviour

    with pytest.raises(WeatherUnavailable):
        places.search_places("제주")
    weather.forget_outages()
    open_meteo_server.behaviour["search"] = "ok"

    assert len(places.search_places("제주").candidates) == 2


def test_a_slow_service_is_given_up_within_the_bound(open_meteo_server):
    open_meteo_server.behaviour["forecast"] = "slow"
    open_meteo_server.slow_seconds = 3 * open_meteo.WAIT_SECONDS

    with pytest.raises(WeatherUnavailable) as raised:
        weather.trip_weather(JEJU, days_from_today(1))

    assert raised.value.reason.startswith("forecast: no answer within ")
    assert open_meteo_server.count("forecast") == 1  # asked, then given up on
    assert outcomes(raised.value.lookups) == [("forecast", "unavailable")]


def test_after_a_failure_the_service_is_left_alone_until_forgotten(open_meteo_server):
    open_meteo_server.behaviour["forecast"] = "503"
    with pytest.raises(WeatherUnavailable):
        weather.trip_weather(JEJU, days_from_today(1))
    open_meteo_server.behaviour["forecast"] = "ok"

    with pytest.raises(WeatherUnavailable) as raised:
        weather.trip_weather(JEJU, days_from_today(1))
    assert outcomes(raised.value.lookups) == [("forecast", "skipped")]
    assert open_meteo_server.count("forecast") == 1

    weather.forget_outages()
    assert weather.trip_weather(JEJU, days_from_today(1)).days


def test_a_refused_question_does_not_keep_others_from_asking(open_meteo_server):
    open_meteo_server.behaviour["forecast"] = "400"
    with pytest.raises(WeatherUnavailable):
        weather.trip_weather(JEJU, days_from_today(1))
    open_meteo_server.behaviour["forecast"] = "ok"

    assert weather.trip_weather(JEJU, days_from_today(1)).days


def test_what_was_known_before_the_archive_failed_comes_with_the_error(open_meteo_server):
    dates = days_from_today(13, 14, 15, 16)
    open_meteo_server.behaviour["archive"] = "503"

    with pytest.raises(WeatherUnavailable) as raised:
        weather.trip_weather(JEJU, dates)

    assert outcomes(raised.value.lookups) == [("forecast", "fetched"), ("history", "unavailable")]
    again = pytest.raises(WeatherUnavailable, weather.trip_weather, JEJU, dates).value
    assert [day.date for day in again.known] == dates[:2]  # the forecast, now from the cache


def test_off_asks_nothing(open_meteo_server, settings):
    settings.TRIP_WEATHER = "off"

    with pytest.raises(WeatherUnavailable) as searched:
        places.search_places("제주")
    with pytest.raises(WeatherUnavailable) as planned:
        weather.trip_weather(JEJU, days_from_today(1))

    assert outcomes(searched.value.lookups) == [("geocoding", "off")]
    assert outcomes(planned.value.lookups) == [("forecast", "off")]
    assert open_meteo_server.requests == []


def test_a_place_typed_by_hand_has_no_weather(open_meteo_server):
    with pytest.raises(WeatherUnavailable):
        weather.trip_weather(places.Place(name="우리 할머니 댁"), days_from_today(1))
    assert open_meteo_server.requests == []


def test_the_commercial_key_is_sent_and_never_repeated_in_a_reason(open_meteo_server, settings):
    settings.OPEN_METEO_API_KEY = "om-secret-key-123456"
    open_meteo_server.behaviour["forecast"] = "400"
    open_meteo_server.reason = "API key om-secret-key-123456 is not valid"

    with pytest.raises(WeatherUnavailable) as raised:
        weather.trip_weather(JEJU, days_from_today(1))

    assert open_meteo_server.requests[-1].query["apikey"] == "om-secret-key-123456"
    assert "om-secret-key-123456" not in raised.value.reason
    assert "not valid" in raised.value.reason


def test_the_attribution_is_open_meteos_own_wording():
    assert open_meteo.ATTRIBUTION == "Weather data by Open-Meteo.com"
    assert open_meteo.LICENCE_URL == "https://creativecommons.org/licenses/by/4.0/"
