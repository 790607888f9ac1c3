"""A stand-in for Open-Meteo on 127.0.0.1: geocoding, forecast and archive, in its real JSON.

One threaded HTTP server answers, under any path prefix (each server gets its own, so that
cached answers of one test never serve another that happens to get the same port):

* ``GET …/v1/search?name=&count=&language=&format=json``: ``{"results": [...],
  "generationtime_ms": …}``, ``results`` left out when nothing matches and every empty field of
  a result left out, as the real service does. Like it, a name of 0–1 characters matches
  nothing, 2 characters only a name exactly, 3 and more any name containing them (the real
  one is fuzzier); ``count`` outside 1–100 is 400 ``{"error": true, "reason": "Parameter count
  must be between 1 and 100."}``. Names are answered in ``language`` (English when the place
  has no name in it), ordered by population; the places are tests/fakes/geonames.py's.
* ``GET …/v1/get?id=&language=``: one result object, or 400 ``Location ID not found.``.
* ``GET …/v1/forecast?latitude=&longitude=&daily=&timezone=&past_days=&forecast_days=``: daily
  values from ``past_days`` before the place's today (in ``timezone``) to ``forecast_days - 1``
  after, as parallel arrays under ``daily`` with ``time``, units under ``daily_units``. As the
  real API: ``past_days`` 0–92 and ``forecast_days`` 0–16, else 400; an unknown variable is 400.
  Stricter than it: ``daily`` without ``timezone`` is 400 (the real one silently uses GMT, which
  would give a place east of Greenwich the wrong days).
* ``GET …/v1/archive?…&start_date=&end_date=&daily=&timezone=``: the same, for each date range;
  several comma-separated ranges answer a JSON list of one object each, one range an object.
  Days of the last 5 (ERA5's delay) are null; a range past tomorrow is 400, as the real one.

Weather is deterministic (``climate()``: seasonal by latitude, varying a little by year) unless
a test sets a day: ``server.days[date] = {"temperature_2m_max": 31.0, …}`` (a value None is
answered null). The archive and the forecast read the same days, so a test can set what each
past year's same date was like.

``server.behaviour[endpoint]`` (endpoint: search, get, forecast, archive; default ``ok``):

=================  ==================================================================
``ok``             the answer above
``slow``           waits ``server.slow_seconds`` (10) first
``400``            400 ``{"error": true, "reason": …}`` (``server.reason``)
``429``            429 ``{"error": true, "reason": "Minutely API request limit exceeded. …"}``
``503``            503 with an HTML page, as a proxy in front would answer
``html``           200 with an HTML page
``wrong-json``     200 JSON without ``daily`` (forecast, archive) or ``results`` as an object
``short-arrays``   200 with a daily array one value short
``fahrenheit``     200 with temperatures in °F (``daily_units`` says so)
``truncated``      200, the JSON cut off by "Unexpected error while streaming data: …", as the
                   real server streams an error that happens after it started answering
``hangup``         closes the connection without answering
``huge``           200 with 2 MB of JSON
=================  ==================================================================

``server.requests`` records each request (``Recorded``: endpoint, query as a dict);
``server.count(endpoint)`` counts them.
"""

from __future__ import annotations

import datetime
import json
import math
import secrets
import threading
import time
import zoneinfo
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from tests.fakes.geonames import PLACES

ENDPOINTS = ("search", "get", "forecast", "archive")
BEHAVIOURS = frozenset(
    {"ok", "slow", "400", "429", "503", "html", "wrong-json", "short-arrays", "fahrenheit"}
    | {"truncated", "hangup", "huge"}
)
UNITS = {
    "temperature_2m_max": "°C",
    "temperature_2m_min": "°C",
    "temperature_2m_mean": "°C",
    "precipitation_probability_max": "%",
    "precipitation_sum": "mm",
    "wind_speed_10m_max": "km/h",
    "weather_code": "wmo code",
}
ARCHIVE_VARIABLES = set(UNITS) - {"precipitation_probability_max"}
HTML = b"<html><body><h1>502 Bad Gateway</h1></body></html>"


def climate(latitude: float, day: datetime.date) -> dict:
    """A plausible day: seasonal by latitude, a little different each year."""
    season = -math.cos(2 * math.pi * (day.timetuple().tm_yday - 15) / 365)
    if latitude < 0:
        season = -season
    mean = 25 - abs(latitude) * 0.3 + 10 * season + (day.year % 3 - 1) * 0.5
    rainy = (day.year + day.day) % 3 == 0
    return {
        "temperature_2m_max": round(mean + 4, 1),
        "temperature_2m_min": round(mean - 4, 1),
        "temperature_2m_mean": round(mean, 1),
        "precipitation_probability_max": 70 if rainy else 10,
        "precipitation_sum": 6.4 if rainy else 0.0,
        "wind_speed_10m_max": 12.0,
        "weather_code": 61 if rainy else 2,
    }


@dataclass
class Recorded:
    endpoint: str
    query: dict


class Refused(Exception):
    """A request the real API would answer 400: `reason` is its wording."""


class FakeOpenMeteo(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.prefix = "/" + secrets.token_hex(4)
        self.behaviour = dict.fromkeys(ENDPOINTS, "ok")
        self.slow_seconds = 10.0
        self.reason = "Cannot initialize ForecastVariableDaily from invalid String value"
        self.days: dict[datetime.date, dict] = {}
        self.places = [dict(place) for place in PLACES]
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{self.prefix}"

    def settings(self) -> dict:
        """The OPEN_METEO_* settings that point at this server."""
        return {
            "OPEN_METEO_GEOCODING_URL": f"{self.url}/v1/search",
            "OPEN_METEO_FORECAST_URL": f"{self.url}/v1/forecast",
            "OPEN_METEO_ARCHIVE_URL": f"{self.url}/v1/archive",
        }

    def count(self, endpoint: str) -> int:
        return sum(1 for request in self.requests if request.endpoint == endpoint)

    def record(self, endpoint: str, query: dict) -> None:
        with self._lock:
            self.requests.append(Recorded(endpoint, query))

    def day(self, latitude: float, day: datetime.date) -> dict:
        return {**climate(latitude, day), **self.days.get(day, {})}

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    # --- answers ---------------------------------------------------------------------------

    def search(self, query: dict):
        count = _int(query.get("count", "10"))
        if not 1 <= count <= 100:
            raise Refused("Parameter count must be between 1 and 100.")
        name = query.get("name", "").strip().casefold()
        language = query.get("language", "en")

        def matches(place):
            names = [*place["names"].values(), *place.get("aliases", ())]
            names = [each.casefold() for each in names]
            return name in names if len(name) == 2 else any(name in each for each in names)

        found = [] if len(name) < 2 else [place for place in self.places if matches(place)]
        found.sort(key=lambda place: -place["population"])
        answer = {"generationtime_ms": 0.4}
        if found:
            answer["results"] = [_localised(place, language) for place in found[:count]]
        return answer

    def get(self, query: dict):
        wanted = _int(query.get("id", "0"))
        for place in self.places:
            if place["id"] == wanted:
                return _localised(place, query.get("language", "en"))
        raise Refused("Location ID not found.")

    def forecast(self, query: dict):
        variables = _variables(query, set(UNITS))
        past, ahead = _int(query.get("past_days", "0")), _int(query.get("forecast_days", "7"))
        if not 0 <= past <= 92:
            raise Refused(f"Past days is invalid. Allowed range 0 to 92. Given {past}.")
        if not 0 <= ahead <= 16:
            raise Refused(f"Forecast days is invalid. Allowed range 0 to 16. Given {ahead}.")
        zone, today = _zone_and_today(query)
        first = today - datetime.timedelta(days=past)
        dates = [first + datetime.timedelta(days=n) for n in range(past + ahead)]
        return self._weather(query, zone, variables, dates, lag=0)

    def archive(self, query: dict):
        variables = _variables(query, ARCHIVE_VARIABLES)
        starts = [_date(raw) for raw in query.get("start_date", "").split(",") if raw]
        ends = [_date(raw) for raw in query.get("end_date", "").split(",") if raw]
        if not starts or not ends:
            raise Refused("Both 'start_date' and 'end_date' must be set in the url")
        if len(starts) != len(ends):
            raise Refused(
                "Parameter 'start_date' and 'end_date' must have the same number of elements"
            )
        zone, today = _zone_and_today(query)
        answers = []
        for start, end in zip(starts, ends, strict=True):
            if end < start:
                raise Refused("End-date must be larger or equals than start-date")
            if end > today + datetime.timedelta(days=1):
                raise Refused(
                    "Parameter 'end_date' is out of allowed range from 1940-01-01 to "
                    f"{(today + datetime.timedelta(days=1)).isoformat()}"
                )
            dates = [start + datetime.timedelta(days=n) for n in range((end - start).days + 1)]
            answers.append(self._weather(query, zone, variables, dates, lag=5, today=today))
        return answers[0] if len(answers) == 1 else answers

    def _weather(self, query, zone, variables, dates, *, lag, today=None):
        latitude = float(query["latitude"])
        recent = today - datetime.timedelta(days=lag) if lag else None
        columns = {variable: [] for variable in variables}
        for day in dates:
            values = self.day(latitude, day)
            for variable in variables:
                late = recent is not None and day > recent
                columns[variable].append(None if late else values.get(variable))
        now = datetime.datetime.now(zone)
        return {
            "latitude": round(latitude, 3),
            "longitude": round(float(query["longitude"]), 3),
            "generationtime_ms": 0.8,
            "utc_offset_seconds": int(now.utcoffset().total_seconds()),
            "timezone": query["timezone"],
            "timezone_abbreviation": now.tzname(),
            "elevation": 18.0,
            "daily_units": {"time": "iso8601", **{v: UNITS[v] for v in variables}},
            "daily": {"time": [day.isoformat() for day in dates], **columns},
        }


def _localised(place: dict, language: str) -> dict:
    """One result as the real API answers it: in `language` if it can, empty fields left out."""

    def named(names):
        return names.get(language) or names.get("en") if names else None

    result = {
        "id": place["id"],
        "name": named(place["names"]),
        "latitude": place["latitude"],
        "longitude": place["longitude"],
        "elevation": place["elevation"],
        "feature_code": place["feature_code"],
        "country_code": place["country_code"],
        "timezone": place["timezone"],
        "population": place["population"],
        "country": named(place.get("country")),
        "admin1": named(place.get("admin1")),
    }
    return {key: value for key, value in result.items() if value not in (None, "")}


def _variables(query, known):
    variables = [name for name in query.get("daily", "").split(",") if name]
    for name in variables:
        if name not in known:
            raise Refused(
                f"Cannot initialize ForecastVariableDaily from invalid String value {name} "
                "for key daily"
            )
    if variables and not query.get("timezone"):
        raise Refused("Daily values need a timezone (this stand-in is stricter than the API)")
    return variables


def _zone_and_today(query):
    name = query.get("timezone", "GMT")
    zone = zoneinfo.ZoneInfo("UTC" if name in ("GMT", "auto") else name)
    return zone, datetime.datetime.now(zone).date()


def _int(raw):
    try:
        return int(raw)
    except ValueError:
        raise Refused(f"Invalid number {raw!r}") from None


def _date(raw):
    try:
        return datetime.date.fromisoformat(raw)
    except ValueError:
        raise Refused(f"Invalid date {raw!r}") from None


class _Handler(BaseHTTPRequestHandler):
    server: FakeOpenMeteo

    def do_GET(self):
        parts = urlsplit(self.path)
        endpoint = parts.path.rsplit("/", 1)[-1]
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        if endpoint not in ENDPOINTS or not parts.path.startswith(self.server.prefix + "/v1/"):
            return self._send(404, b'{"error": true, "reason": "Not Found"}')
        self.server.record(endpoint, query)
        behaviour = self.server.behaviour[endpoint]
        if behaviour not in BEHAVIOURS:
            raise ValueError(f"unknown behaviour {behaviour!r}")
        if behaviour == "slow":
            time.sleep(self.server.slow_seconds)
        if behaviour == "hangup":
            self.close_connection = True
            return
        try:
            answer = getattr(self.server, endpoint)(query)
        except Refused as refused:
            return self._send(400, _error(str(refused)))
        self._answer(behaviour, endpoint, answer)

    def _answer(self, behaviour, endpoint, answer):
        if behaviour == "400":
            return self._send(400, _error(self.server.reason))
        if behaviour == "429":
            reason = "Minutely API request limit exceeded. Please try again in one minute."
            return self._send(429, _error(reason))
        if behaviour == "503":
            return self._send(503, HTML, "text/html")
        if behaviour == "html":
            return self._send(200, HTML, "text/html")
        for part in answer if isinstance(answer, list) else [answer]:
            _spoil(part, behaviour, endpoint)
        body = json.dumps(answer, ensure_ascii=False).encode()
        if behaviour == "truncated":
            body = body[: len(body) // 2] + b"Unexpected error while streaming data: timeout"
        if behaviour == "huge":
            body = json.dumps({**answer, "padding": "x" * 2_000_000}).encode()
        self._send(200, body)

    def _send(self, status, body, content_type="application/json; charset=utf-8"):
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped waiting

    def log_message(self, *args):
        pass


def _spoil(answer, behaviour, endpoint):
    if behaviour == "wrong-json":
        if endpoint == "search":
            answer["results"] = {"not": "a list"}
        answer.pop("daily", None)
    elif behaviour == "short-arrays" and "daily" in answer:
        name = next(key for key in answer["daily"] if key != "time")
        answer["daily"][name] = answer["daily"][name][:-1]
    elif behaviour == "fahrenheit" and "daily" in answer:
        answer["daily_units"]["temperature_2m_max"] = "°F"


def _error(reason: str) -> bytes:
    return json.dumps({"error": True, "reason": reason}).encode()


def start_open_meteo() -> FakeOpenMeteo:
    server = FakeOpenMeteo()
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server
