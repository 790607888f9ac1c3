"""Finding a trip's destination with Open-Meteo's geocoding (GeoNames places), in Korean or
English.

`search_places("제주")` answers the places a typed name matches, named in `language`, and says
whether it is one destination or several to offer (제주시 / 제주특별자치도). The service matches
names of 3 characters and more loosely, but a 2-character name only exactly, and Korean city
names are often 2 characters ("제주", "부산", "파리"). It leaves `results` out when nothing
matches, and every empty field of a result. Answers are cached for a month: places stay put.
"""

import datetime
import zoneinfo
from dataclasses import asdict, dataclass

from django.conf import settings

from . import open_meteo
from .open_meteo import Lookup, ServiceFailure, WeatherUnavailable

GEOCODING = "geocoding"
CACHE_SECONDS = 30 * 86400
# A name matching several places is one destination when the first is ten times as populous
# as the next, or when the others lie within a few kilometres of it (a city, and the district
# of the same name around it); else the traveller chooses among the first few.
DOMINANT_POPULATION, SAME_PLACE_DEGREES, MAX_CANDIDATES = 10, 0.05, 5


@dataclass(frozen=True)
class Place:
    """A destination, named in `language`; without coordinates when typed by hand."""

    name: str
    id: int | None = None
    latitude: float | None = None
    longitude: float | None = None
    timezone: str = ""
    country: str = ""
    country_code: str = ""
    admin1: str = ""
    feature_code: str = ""
    population: int = 0
    language: str = "ko"

    @property
    def located(self) -> bool:
        return self.latitude is not None and self.longitude is not None

    @property
    def label(self) -> str:
        """The name and where it is, without repeats: "제주시, 제주특별자치도, 대한민국"."""
        parts = [self.name, self.admin1, self.country]
        return ", ".join(dict.fromkeys(part for part in parts if part))

    def as_dict(self) -> dict:
        """JSON-ready, to keep the chosen destination with a trip (`Place(**data)` reads it)."""
        return asdict(self)

    def today(self) -> datetime.date:
        """The date at the place now (UTC's when its time zone is unknown)."""
        try:
            zone = zoneinfo.ZoneInfo(self.timezone)
        except (ValueError, zoneinfo.ZoneInfoNotFoundError):
            zone = datetime.UTC
        return datetime.datetime.now(zone).date()


@dataclass(frozen=True)
class PlaceSearch:
    """What a typed destination matched: one place, several to choose from, or none."""

    query: str
    candidates: tuple[Place, ...]
    lookups: tuple[Lookup, ...]

    @property
    def place(self) -> Place | None:
        """The destination, when the name is not ambiguous."""
        return self.candidates[0] if len(self.candidates) == 1 else None


def search_places(name: str, *, language: str = "ko") -> PlaceSearch:
    """The destinations a typed name matches, the likeliest first; WeatherUnavailable when
    TRIP_WEATHER is off or the geocoding service cannot be asked."""
    query = " ".join(str(name or "").split())
    params = {"name": query, "count": 10, "language": language, "format": "json"}
    answer, lookup = open_meteo.ask_cached(
        settings.OPEN_METEO_GEOCODING_URL,
        params,
        GEOCODING,
        check=_results,
        seconds=CACHE_SECONDS,
    )
    places = [_place(result, language) for result in _results(answer)]
    return PlaceSearch(query=query, candidates=_destinations(places), lookups=(lookup,))


def place_by_id(place_id: int, *, language: str = "ko") -> Place | None:
    """A place the search offered, by its id, named in `language`; None when there is none."""
    url = settings.OPEN_METEO_GEOCODING_URL.rsplit("/", 1)[0] + "/get"
    try:
        answer, _ = open_meteo.ask_cached(
            url,
            {"id": int(place_id), "language": language},
            GEOCODING,
            check=_object,
            seconds=CACHE_SECONDS,
        )
    except WeatherUnavailable as exc:
        if exc.lookups and exc.lookups[0].outcome == open_meteo.REFUSED:
            return None  # 400 "Location ID not found."
        raise
    place = _place(answer, language)
    return place if place and place.id == int(place_id) else None


def _object(answer):
    if not isinstance(answer, dict):
        raise ServiceFailure(open_meteo.MALFORMED, "the answer is not a JSON object")
    return answer


def _results(answer):
    results = _object(answer).get("results", [])  # left out when nothing matches
    if not isinstance(results, list):
        raise ServiceFailure(open_meteo.MALFORMED, "results is not a list")
    return results


def _place(result, language):
    """A Place from one geocoding result, or None for one without a name or coordinates."""
    if not isinstance(result, dict):
        return None
    try:
        return Place(
            name=str(result["name"]),
            id=int(result["id"]),
            latitude=float(result["latitude"]),
            longitude=float(result["longitude"]),
            timezone=str(result.get("timezone") or ""),
            country=str(result.get("country") or ""),
            country_code=str(result.get("country_code") or ""),
            admin1=str(result.get("admin1") or ""),
            feature_code=str(result.get("feature_code") or ""),
            population=int(result.get("population") or 0),
            language=language,
        )
    except (KeyError, TypeError, ValueError):
        return None


def _destinations(places):
    """The candidates worth offering: the first alone when it dominates, else the distinct."""
    distinct = []
    for place in places:
        if place and not any(_same_place(place, seen) for seen in distinct):
            distinct.append(place)
    if len(distinct) > 1:
        first, second = distinct[0].population, distinct[1].population
        if first >= DOMINANT_POPULATION * max(second, 1):
            return tuple(distinct[:1])
    return tuple(distinct[:MAX_CANDIDATES])


def _same_place(place, other):
    near = (
        abs(place.latitude - other.latitude) < SAME_PLACE_DEGREES
        and abs(place.longitude - other.longitude) < SAME_PLACE_DEGREES
    )
    return near or place.label == other.label
