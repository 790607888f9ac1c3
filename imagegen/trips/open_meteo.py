"""Asking Open-Meteo: one GET within a hard time limit, and its answer checked before use.

What the real service does (its documentation and source, 2026): answers are JSON; an error is
`{"error": true, "reason": "…"}` with HTTP 400 (a bad parameter) or 429 (over the free limits:
600 calls a minute, 5,000 an hour, 10,000 a day per address); daily values come as parallel
arrays under `daily` (with `time`), their units under `daily_units`, null where a value is
missing (the archive's last days, some models' far days); a forecast answer can even end in
"Unexpected error while streaming data" after a 200. So anything that is not the JSON expected
is treated as the service being down, never as data.

The wait is bounded as a whole (name resolution included, which no HTTP timeout covers): the
request runs in a small thread pool, and the caller stops waiting when its time is up. After a
failure, that endpoint is left alone for a minute (five after a 429), so that one traveller
waits, not everyone; answers are kept in Django's cache.
"""

import hashlib
import json
import logging
import math
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as WaitTimeout
from dataclasses import dataclass

import httpx
from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)

# CC BY 4.0 asks for credit wherever the data is shown; this is Open-Meteo's own wording.
ATTRIBUTION = "Weather data by Open-Meteo.com"
ATTRIBUTION_URL = "https://open-meteo.com/"
LICENCE_URL = "https://creativecommons.org/licenses/by/4.0/"
# Place names come from GeoNames, which Open-Meteo's geocoding credits on its page.
GEOCODING_ATTRIBUTION = "Location data based on GeoNames"

# A few seconds for a whole trip's weather: then the page asks for temperatures instead.
WAIT_SECONDS = 4.0
# A 14-day answer is a few kilobytes; a megabyte is not weather.
MAX_ANSWER_BYTES = 1_000_000

# Outcomes of one lookup, as metrics count them.
HIT = "hit"  # every value was in the cache: no request
FETCHED = "fetched"  # asked and answered
UNAVAILABLE = "unavailable"  # no answer in time, no connection, or a 5xx
MALFORMED = "malformed"  # an answer that is not what the API sends
RATE_LIMITED = "rate_limited"  # 429: over the free limits
REFUSED = "refused"  # 400: the API refused our parameters
SKIPPED = "skipped"  # not asked: the service failed moments ago
OFF = "off"  # TRIP_WEATHER=off
OUTCOMES = (HIT, FETCHED, UNAVAILABLE, MALFORMED, RATE_LIMITED, REFUSED, SKIPPED, OFF)

# After a failure the endpoint is not asked again for this long (seconds).
OUTAGE_SECONDS = {RATE_LIMITED: 300}
DEFAULT_OUTAGE_SECONDS = 60

_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="open-meteo")
_client = httpx.Client(follow_redirects=False, headers={"Accept": "application/json"})


class ServiceFailure(Exception):
    """Open-Meteo could not be used: `outcome` is one of OUTCOMES, `reason` says why in words
    an operator reads (never the API key)."""

    def __init__(self, outcome: str, reason: str):
        super().__init__(reason)
        self.outcome = outcome
        self.reason = reason


class WeatherUnavailable(Exception):
    """The weather (or the place) could not be had: `reason` for operators, `lookups` for
    metrics, `known` the days found before it failed (cached, or from an endpoint that did
    answer), for the page to fill in."""

    def __init__(self, reason: str, *, lookups=(), known=()):
        super().__init__(reason)
        self.reason = reason
        self.lookups = tuple(lookups)
        self.known = tuple(known)


@dataclass(frozen=True)
class Lookup:
    """One question to one endpoint (geocoding, forecast or history) and how it went."""

    kind: str
    outcome: str


def get_json(url: str, params: dict, *, seconds: float):
    """The JSON Open-Meteo answers at `url`, within `seconds`, or ServiceFailure."""
    if seconds <= 0:
        raise ServiceFailure(UNAVAILABLE, "no time was left to ask")
    if settings.OPEN_METEO_API_KEY:
        params = {**params, "apikey": settings.OPEN_METEO_API_KEY}
    future = _pool.submit(_fetch, url, params, seconds)
    try:
        status, body = future.result(timeout=seconds)
    except WaitTimeout:
        raise ServiceFailure(UNAVAILABLE, f"no answer within {seconds:.1f} s") from None
    except ServiceFailure:
        raise
    except Exception as exc:  # httpx's errors, and whatever else a broken network raises
        raise ServiceFailure(UNAVAILABLE, f"could not connect ({type(exc).__name__})") from None
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    if status == 429 or status == 400 or (isinstance(answer, dict) and answer.get("error")):
        outcome = RATE_LIMITED if status == 429 else REFUSED
        raise ServiceFailure(outcome, f"HTTP {status}: {_reason(answer)}")
    if status != 200:
        raise ServiceFailure(UNAVAILABLE, f"HTTP {status}")
    if answer is None:
        raise ServiceFailure(MALFORMED, "the answer is not JSON")
    return answer


def _fetch(url, params, seconds):
    """(status, body), read no further than MAX_ANSWER_BYTES."""
    with _client.stream("GET", url, params=params, timeout=seconds) as response:
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > MAX_ANSWER_BYTES:
                raise ServiceFailure(MALFORMED, "the answer is too large")
        return response.status_code, bytes(body)


def _reason(answer) -> str:
    reason = answer.get("reason") if isinstance(answer, dict) else None
    text = str(reason or "no reason given")[:300]
    if settings.OPEN_METEO_API_KEY:
        text = text.replace(settings.OPEN_METEO_API_KEY, "…")
    return text


def daily_rows(answer, variables: tuple[str, ...], units: dict[str, str]) -> dict[str, dict]:
    """{"2026-05-02": {variable: value or None, …}, …} from one answer's `daily` arrays.

    ServiceFailure(MALFORMED) unless every variable is an array as long as `time` holding
    numbers or nulls, and its unit (when `daily_units` gives one) is the one asked for.
    """
    daily = answer.get("daily") if isinstance(answer, dict) else None
    times = daily.get("time") if isinstance(daily, dict) else None
    if not isinstance(times, list) or not all(isinstance(time, str) for time in times):
        raise ServiceFailure(MALFORMED, "the answer has no daily time array")
    stated = answer.get("daily_units")
    columns = {}
    for variable in variables:
        column = daily.get(variable)
        if not isinstance(column, list) or len(column) != len(times):
            raise ServiceFailure(MALFORMED, f"daily {variable} is missing or of the wrong length")
        if not all(value is None or _is_number(value) for value in column):
            raise ServiceFailure(MALFORMED, f"daily {variable} holds something not a number")
        unit = stated.get(variable) if isinstance(stated, dict) else None
        if unit is not None and variable in units and unit != units[variable]:
            raise ServiceFailure(
                MALFORMED, f"daily {variable} is in {unit!r}, not {units[variable]!r}"
            )
        columns[variable] = column
    return {
        time: {variable: columns[variable][index] for variable in variables}
        for index, time in enumerate(times)
    }


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def ask_cached(url: str, params: dict, kind: str, *, check, seconds: int):
    """(answer, Lookup): from the cache, else asked, passed to `check` (which raises
    ServiceFailure for an answer not of the expected shape) and kept `seconds`;
    WeatherUnavailable when TRIP_WEATHER is off or the endpoint fails."""
    if settings.TRIP_WEATHER == "off":
        raise WeatherUnavailable("TRIP_WEATHER is off", lookups=[Lookup(kind, OFF)])
    key = "trips:answer:" + digest(url, sorted(params.items()))
    cached = cache_get_many([key, outage_key(url)])
    if key in cached:
        return cached[key], Lookup(kind, HIT)
    try:
        if outage_key(url) in cached:
            raise ServiceFailure(SKIPPED, "it failed moments ago")
        answer = get_json(url, params, seconds=WAIT_SECONDS)
        check(answer)
    except ServiceFailure as failure:
        remember_outage(url, failure)
        raise WeatherUnavailable(
            f"{kind}: {failure.reason}", lookups=[Lookup(kind, failure.outcome)]
        ) from None
    cache_set_many({key: answer}, seconds)
    return answer, Lookup(kind, FETCHED)


def digest(*parts) -> str:
    """A short fixed-length cache key part for anything (URLs, parameters)."""
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


def outage_key(url: str) -> str:
    return "trips:outage:" + digest(url)


def remember_outage(url: str, failure: ServiceFailure) -> None:
    """Leave the endpoint alone for a while after it failed (not after a refusal: that is
    about the question, not the service)."""
    if failure.outcome in (SKIPPED, REFUSED):
        return
    seconds = OUTAGE_SECONDS.get(failure.outcome, DEFAULT_OUTAGE_SECONDS)
    cache_set_many({outage_key(url): failure.outcome}, seconds)
    logger.warning("Open-Meteo %s: %s", failure.outcome, failure.reason)


def forget_outages(*urls: str) -> None:
    """Ask these endpoints again at once (after an outage was fixed; tests)."""
    try:
        cache.delete_many([outage_key(url) for url in urls])
    except Exception as exc:  # an unreachable cache remembers nothing anyway
        logger.warning("weather outages not forgotten: %s", type(exc).__name__)


def cache_get_many(keys: list[str]) -> dict:
    """Django's cache, or nothing when it cannot be read: that costs a request, not a trip."""
    try:
        return cache.get_many(keys)
    except Exception as exc:
        logger.warning("weather cache not read: %s", type(exc).__name__)
        return {}


def cache_set_many(values: dict, seconds: int) -> None:
    try:
        cache.set_many(values, seconds)
    except Exception as exc:
        logger.warning("weather cache not written: %s", type(exc).__name__)
