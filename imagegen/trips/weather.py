"""What a trip's days will be like at its destination, from Open-Meteo, cached.

`trip_weather(place, dates)` gives each day's weather with one request per endpoint for the
whole trip, however many days:

- days from 92 days ago to 14 days ahead come from the forecast API (`past_days` and
  `forecast_days` around the place's today: the forecast reaches 16 days, one is kept as margin
  for time zones, and it also serves the recent days the archive has not caught up with);
- later days come from the archive: the same calendar days over the last HISTORY_YEARS years
  (one request: the archive takes several date ranges for one place, and answers a list),
  averaged per day and labelled "history" (평년), never "forecast". The archive has no chance
  of rain, so the history's is the share of those years with at least 1 mm that day.

Each day is cached per place (to about a kilometre), date and source, so planning again is one
cache read; a day the service has no temperatures for is listed in `missing`, for the page to
ask. When the service is off, slow, down or answers nonsense, WeatherUnavailable says why and
carries what was known; the page then asks for the temperatures. Every lookup reports an
outcome (`open_meteo.OUTCOMES`) for the metrics.
"""

import datetime
import statistics
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings

from . import open_meteo
from .conditions import FORECAST, HISTORY, DayWeather
from .open_meteo import (
    FETCHED,
    HIT,
    OFF,
    SKIPPED,
    Lookup,
    ServiceFailure,
    WeatherUnavailable,
)
from .places import Place

PAST_DAYS, AHEAD_DAYS = 92, 14
HISTORY_YEARS = 5
ARCHIVE_LAG_DAYS = 7  # the archive is about 5 days behind; two more for time zones
RAINY_MM = 1.0
FORECAST_VARIABLES = (
    "temperature_2m_max",
    "temperature_2m_min",
    "precipitation_probability_max",
    "wind_speed_10m_max",
    "weather_code",
)
HISTORY_VARIABLES = (
    "temperature_2m_max",
    "temperature_2m_min",
    "precipitation_sum",
    "wind_speed_10m_max",
    "weather_code",
)
UNITS = {
    "temperature_2m_max": "°C",
    "temperature_2m_min": "°C",
    "wind_speed_10m_max": "km/h",
    "precipitation_sum": "mm",
}
# How long a day stays good: forecasts change through the day, the past does not.
CACHE_SECONDS = {FORECAST: 3 * 3600, HISTORY: 7 * 86400}


@dataclass(frozen=True)
class TripWeather:
    """Each day's weather that could be had, and the dates it could not (to ask for)."""

    place: Place
    days: tuple[DayWeather, ...]
    missing: tuple[datetime.date, ...]
    lookups: tuple[Lookup, ...]


def trip_weather(
    place: Place, dates: Iterable[datetime.date], *, today: datetime.date | None = None
) -> TripWeather:
    """Each date's weather at `place` (see the module's docstring)."""
    dates = sorted(set(dates))
    if settings.TRIP_WEATHER == "off" or not place.located:
        reason = "TRIP_WEATHER is off" if place.located else "the place has no coordinates"
        raise WeatherUnavailable(reason, lookups=[Lookup(FORECAST, OFF)])
    today = today or place.today()
    wanted = {
        FORECAST: [d for d in dates if -PAST_DAYS <= (d - today).days <= AHEAD_DAYS],
        HISTORY: [d for d in dates if not -PAST_DAYS <= (d - today).days <= AHEAD_DAYS],
    }
    keys = {(source, d): _day_key(place, source, d) for source in wanted for d in wanted[source]}
    cached = open_meteo.cache_get_many(
        [*keys.values(), *(open_meteo.outage_key(_url(s)) for s in wanted)]
    )
    found = {d: cached[keys[s, d]] for s in wanted for d in wanted[s] if keys[s, d] in cached}
    lookups, deadline = [], time.monotonic() + open_meteo.WAIT_SECONDS
    for source, fetch in ((FORECAST, _forecast), (HISTORY, _history)):
        need = [d for d in wanted[source] if d not in found]
        if wanted[source] and not need:
            lookups.append(Lookup(source, HIT))
        if not need:
            continue
        try:
            if open_meteo.outage_key(_url(source)) in cached:
                raise ServiceFailure(SKIPPED, "it failed moments ago")
            fetched = fetch(place, need, today, deadline - time.monotonic())
        except ServiceFailure as failure:
            lookups.append(Lookup(source, failure.outcome))
            open_meteo.remember_outage(_url(source), failure)
            known = [DayWeather.from_dict(day) for day in found.values() if day]
            raise WeatherUnavailable(
                f"{source}: {failure.reason}", lookups=lookups, known=known
            ) from None
        lookups.append(Lookup(source, FETCHED))
        open_meteo.cache_set_many(
            {keys[source, d]: day.as_dict() if day else {} for d, day in fetched.items()},
            CACHE_SECONDS[source],
        )
        found.update({d: day.as_dict() if day else {} for d, day in fetched.items()})
    days = tuple(DayWeather.from_dict(found[d]) for d in dates if found.get(d))
    missing = tuple(d for d in dates if not found.get(d))
    return TripWeather(place=place, days=days, missing=missing, lookups=tuple(lookups))


def forget_outages() -> None:
    """Ask Open-Meteo again at once, after an outage was fixed (and between tests)."""
    open_meteo.forget_outages(settings.OPEN_METEO_GEOCODING_URL, _url(FORECAST), _url(HISTORY))


def _url(source: str) -> str:
    return (
        settings.OPEN_METEO_FORECAST_URL if source == FORECAST else settings.OPEN_METEO_ARCHIVE_URL
    )


def _forecast(place, dates, today, seconds):
    params = {
        **_where(place),
        "daily": ",".join(FORECAST_VARIABLES),
        "past_days": max(0, (today - dates[0]).days),
        # One more day than needed: the service's today may already be the place's tomorrow.
        "forecast_days": min(16, max(1, (dates[-1] - today).days + 2)),
    }
    answer = open_meteo.get_json(_url(FORECAST), params, seconds=seconds)
    rows = open_meteo.daily_rows(answer, FORECAST_VARIABLES, UNITS)
    return {d: _forecast_day(d, rows.get(d.isoformat())) for d in dates}


def _forecast_day(date, row):
    if not row or row["temperature_2m_max"] is None or row["temperature_2m_min"] is None:
        return None
    chance = row["precipitation_probability_max"]
    return DayWeather(
        date=date,
        temperature_max=round(row["temperature_2m_max"], 1),
        temperature_min=round(row["temperature_2m_min"], 1),
        precipitation_probability=None if chance is None else max(0, min(100, round(chance))),
        wind_speed_max=_rounded(row["wind_speed_10m_max"]),
        weather_code=_code(row["weather_code"]),
        source=FORECAST,
    )


def _history(place, dates, today, seconds):
    years = history_years(dates[-1], today)
    if not years:
        return dict.fromkeys(dates)
    params = {
        **_where(place),
        "daily": ",".join(HISTORY_VARIABLES),
        "start_date": ",".join(years_before(dates[0], years=y).isoformat() for y in years),
        "end_date": ",".join(years_before(dates[-1], years=y).isoformat() for y in years),
    }
    answer = open_meteo.get_json(_url(HISTORY), params, seconds=seconds)
    # One date range answers one object; several, a list of them, in the order asked.
    rows = {}
    for part in answer if isinstance(answer, list) else [answer]:
        rows.update(open_meteo.daily_rows(part, HISTORY_VARIABLES, UNITS))
    return {
        d: _average(d, [rows.get(years_before(d, years=y).isoformat()) for y in years])
        for d in dates
    }


def history_years(last: datetime.date, today: datetime.date) -> list[int]:
    """How many years back to look: the HISTORY_YEARS latest whose day the archive has."""
    newest = today - datetime.timedelta(days=ARCHIVE_LAG_DAYS)
    first = next(y for y in range(1, 200) if years_before(last, years=y) <= newest)
    return list(range(first, first + HISTORY_YEARS))


def years_before(date: datetime.date, *, years: int) -> datetime.date:
    """The same calendar day `years` earlier (29 February becomes the 28th)."""
    try:
        return date.replace(year=date.year - years)
    except ValueError:
        return date.replace(year=date.year - years, day=28)


def _average(date, rows):
    rows = [row for row in rows if row]
    highs = [row["temperature_2m_max"] for row in rows if row["temperature_2m_max"] is not None]
    lows = [row["temperature_2m_min"] for row in rows if row["temperature_2m_min"] is not None]
    if not highs or not lows:
        return None
    rain = [row["precipitation_sum"] for row in rows if row["precipitation_sum"] is not None]
    winds = [row["wind_speed_10m_max"] for row in rows if row["wind_speed_10m_max"] is not None]
    codes = Counter(_code(row["weather_code"]) for row in rows if row["weather_code"] is not None)
    return DayWeather(
        date=date,
        temperature_max=round(statistics.fmean(highs), 1),
        temperature_min=round(statistics.fmean(lows), 1),
        precipitation_probability=(
            round(100 * sum(mm >= RAINY_MM for mm in rain) / len(rain)) if rain else None
        ),
        wind_speed_max=_rounded(statistics.fmean(winds)) if winds else None,
        # The commonest weather of those days; of two as common, the wetter (higher) code.
        weather_code=max(codes, key=lambda code: (codes[code], code)) if codes else None,
        source=HISTORY,
        years=len(highs),
    )


def _rounded(value):
    return None if value is None else round(value, 1)


def _code(value):
    return None if value is None else int(value)


def _where(place):
    return {
        "latitude": f"{place.latitude:.4f}",
        "longitude": f"{place.longitude:.4f}",
        # Daily values need the place's own day; "auto" lets the service find its zone.
        "timezone": place.timezone or "auto",
    }


def _day_key(place, source, date):
    where = f"{place.latitude:.2f},{place.longitude:.2f}"
    return f"trips:day:{open_meteo.digest(_url(source))}:{where}:{source}:{date.isoformat()}"
