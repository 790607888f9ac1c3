"""A day's weather as the outfit planner reads it, wherever it came from.

`source` says where: the forecast (Open-Meteo's forecast API, which also serves the last few
months, newer than its archive), history (the same calendar day averaged over past years,
shown as 평년, never as a forecast), or manual (temperatures the traveller typed because the
weather service could not be asked). Temperatures are °C, wind km/h, as Open-Meteo answers.
"""

import datetime
import math
from dataclasses import asdict, dataclass

from django.utils.functional import Promise
from django.utils.translation import pgettext_lazy

FORECAST, HISTORY, MANUAL = "forecast", "history", "manual"
SOURCES = (FORECAST, HISTORY, MANUAL)
# The coldest and warmest temperatures a traveller may type (Earth's records, rounded out).
COLDEST, WARMEST = -90, 60


@dataclass(frozen=True)
class DayWeather:
    """One day's weather: what the planner, the day's card and the API show."""

    date: datetime.date
    temperature_max: float
    temperature_min: float
    precipitation_probability: int | None = None  # %, the day's highest chance of rain
    wind_speed_max: float | None = None  # km/h
    weather_code: int | None = None  # WMO code, as Open-Meteo gives it
    source: str = MANUAL
    years: int = 0  # history: how many past years were averaged

    def as_dict(self) -> dict:
        """JSON-ready: the date as YYYY-MM-DD."""
        return {**asdict(self), "date": self.date.isoformat()}

    @classmethod
    def from_dict(cls, data: dict) -> "DayWeather":
        return cls(**{**data, "date": datetime.date.fromisoformat(data["date"])})


def manual_day(date: datetime.date, temperature_max: float, temperature_min: float) -> DayWeather:
    """The day a traveller typed; ValueError names the field that is wrong."""
    for name, value in (("temperature_max", temperature_max), ("temperature_min", temperature_min)):
        if (
            not isinstance(value, int | float)
            or isinstance(value, bool)
            or not math.isfinite(value)
        ):
            raise ValueError(f"{name} must be a number of °C.")
        if not COLDEST <= value <= WARMEST:
            raise ValueError(f"{name} must be between {COLDEST} and {WARMEST} °C.")
    if temperature_min > temperature_max:
        raise ValueError("temperature_min must not be above temperature_max.")
    return DayWeather(
        date=date,
        temperature_max=float(temperature_max),
        temperature_min=float(temperature_min),
        source=MANUAL,
    )


@dataclass(frozen=True)
class WeatherKind:
    """A family of WMO weather codes: one icon, one word for the card and the picture."""

    id: str
    label: Promise
    english: str  # how a picture prompt says it
    wet: bool = False  # rain, drizzle, snow or thunder: an umbrella and shoes for it


CLEAR = WeatherKind("clear", pgettext_lazy("weather", "Clear"), "a sunny day")
PARTLY_CLOUDY = WeatherKind(
    "partly_cloudy", pgettext_lazy("weather", "Partly cloudy"), "a partly cloudy day"
)
CLOUDY = WeatherKind("cloudy", pgettext_lazy("weather", "Cloudy"), "an overcast day")
FOG = WeatherKind("fog", pgettext_lazy("weather", "Fog"), "a foggy day")
DRIZZLE = WeatherKind("drizzle", pgettext_lazy("weather", "Drizzle"), "a drizzly day", True)
RAIN = WeatherKind("rain", pgettext_lazy("weather", "Rain"), "a rainy day", True)
SNOW = WeatherKind("snow", pgettext_lazy("weather", "Snow"), "a snowy day", True)
THUNDER = WeatherKind(
    "thunderstorm", pgettext_lazy("weather", "Thunderstorm"), "a stormy day", True
)
# WMO 4677 codes as Open-Meteo documents them for `weather_code`.
_KINDS = {
    0: CLEAR,
    1: PARTLY_CLOUDY,
    2: PARTLY_CLOUDY,
    3: CLOUDY,
    45: FOG,
    48: FOG,
    **dict.fromkeys((51, 53, 55, 56, 57), DRIZZLE),
    **dict.fromkeys((61, 63, 65, 66, 67, 80, 81, 82), RAIN),
    **dict.fromkeys((71, 73, 75, 77, 85, 86), SNOW),
    **dict.fromkeys((95, 96, 99), THUNDER),
}


def weather_kind(code: int | None) -> WeatherKind | None:
    """The kind of a WMO code, or None for no code or one Open-Meteo does not use."""
    return _KINDS.get(code) if code is not None else None
