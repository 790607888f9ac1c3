"""The rule planner: what to wear each day, from the temperature bands Korean weather apps use.

기온별 옷차림, by the day's felt temperature rounded to a whole degree, as the apps show it:

    28°C+ 민소매·반팔·반바지   23–27 반팔·얇은 셔츠   20–22 얇은 가디건·긴팔   17–19 니트·맨투맨
    12–16 자켓·가디건          9–11 트렌치코트·야상    5–8 코트·히트텍          ≤4 패딩·목도리

Which temperature: a traveller is out in the day, so the day's high chooses what they wear
(top, bottom, shoes); the low chooses the outer layer to carry for the morning and evening
(the apps' "일교차가 크니 겉옷을 챙기세요"), at most two bands colder than the day's so that a
30°C afternoon never gets a coat. Wind of 30 km/h or more makes both feel 2°C colder (4°C from
50 km/h) and brings a windbreaker. Rain (a 30% chance: an umbrella; 60% or a wet weather code:
waterproof shoes too), the style note and each activity then adjust the outfit, activities
last but weather after them, so that hiking boots survive the rain and sandals a summer shower.
"""

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from .conditions import DayWeather, weather_kind
from .vocabulary import (
    EXTRAS,
    GARMENTS,
    OUTER,
    SHOES,
    SLOTS,
    Activity,
    Garment,
    Style,
)

WINDY_KMH, STORMY_KMH = 30, 50
UMBRELLA_CHANCE, RAIN_CHANCE = 30, 60


@dataclass(frozen=True)
class Band:
    """One row of 기온별 옷차림: from `lowest` °C (None: no lower bound) up to the next band."""

    lowest: int | None
    top: str
    bottom: str
    outer: str | None
    shoes: str
    extras: tuple[str, ...] = ()


# Hottest first; a felt temperature belongs to the first band whose `lowest` it reaches.
BANDS = (
    Band(28, "sleeveless", "shorts", None, "sandals", ("sunglasses", "sun_hat")),
    Band(23, "t_shirt", "chinos", None, "sneakers", ("sunglasses",)),
    Band(20, "long_sleeve", "chinos", "thin_cardigan", "sneakers"),
    Band(17, "sweatshirt", "jeans", None, "sneakers"),
    Band(12, "long_sleeve", "jeans", "jacket", "sneakers"),
    Band(9, "knit", "jeans", "trench_coat", "sneakers"),
    Band(5, "knit", "jeans", "coat", "sneakers", ("thermal_layer",)),
    Band(
        None,
        "thick_knit",
        "lined_trousers",
        "padded_jacket",
        "boots",
        ("thermal_layer", "scarf", "gloves"),
    ),
)
HOTTEST, WARM, MILD, CHILLY, COLDEST = 0, 1, 2, 4, len(BANDS) - 1


@dataclass(frozen=True)
class Outfit:
    """What to wear on one day: a garment per slot, an outer layer if needed, extras."""

    top: Garment
    bottom: Garment
    outer: Garment | None
    shoes: Garment
    extras: tuple[Garment, ...] = ()

    def garments(self) -> tuple[Garment, ...]:
        """Every garment, slot by slot (the outer layer when there is one)."""
        worn = (self.top, self.bottom, self.outer, self.shoes, *self.extras)
        return tuple(garment for garment in worn if garment is not None)

    def as_ids(self) -> dict:
        """{"top": "t_shirt", …, "outer": None, "extras": [...]}: for JSON and storage."""
        return {
            "top": self.top.id,
            "bottom": self.bottom.id,
            "outer": self.outer.id if self.outer else None,
            "shoes": self.shoes.id,
            "extras": [garment.id for garment in self.extras],
        }

    @classmethod
    def from_ids(cls, ids: Mapping) -> "Outfit":
        """The outfit `as_ids` gave; KeyError for a garment not in the vocabulary."""
        outer = ids.get("outer")
        return cls(
            top=GARMENTS[ids["top"]],
            bottom=GARMENTS[ids["bottom"]],
            outer=GARMENTS[outer] if outer else None,
            shoes=GARMENTS[ids["shoes"]],
            extras=tuple(GARMENTS[garment] for garment in ids.get("extras", ())),
        )


@dataclass(frozen=True)
class DayPlan:
    """One day of a trip: its weather, what the traveller does, what they wear."""

    weather: DayWeather
    activities: tuple[Activity, ...]
    outfit: Outfit

    @property
    def date(self) -> date:
        return self.weather.date


@dataclass(frozen=True)
class PackingItem:
    """One garment to pack, once, with the days it is worn."""

    garment: Garment
    dates: tuple[date, ...]


def whole_degrees(temperature: float) -> int:
    """Rounded half up, as weather apps show it (27.5 → 28, -0.5 → 0)."""
    return math.floor(temperature + 0.5)


def felt_range(day: DayWeather) -> tuple[int, int]:
    """The day's low and high as felt, in whole degrees: the wind takes a little off both."""
    wind = day.wind_speed_max or 0
    chill = 4 if wind >= STORMY_KMH else 2 if wind >= WINDY_KMH else 0
    return whole_degrees(day.temperature_min - chill), whole_degrees(day.temperature_max - chill)


def band_index(felt: int) -> int:
    """Which band (0 the hottest) a felt whole-degree temperature is in."""
    for index, band in enumerate(BANDS):
        if band.lowest is None or felt >= band.lowest:
            return index
    return COLDEST


def outfit_for(
    day: DayWeather, activities: Sequence[Activity] = (), style: Style | None = None
) -> Outfit:
    """The rules' outfit for one day (the module's docstring says how)."""
    low, high = felt_range(day)
    day_band, night_band = band_index(high), band_index(low)
    band = BANDS[day_band]
    wear = {
        "top": band.top,
        "bottom": band.bottom,
        OUTER: _outer(day_band, night_band),
        SHOES: band.shoes,
        EXTRAS: list(band.extras),
    }
    if style is not None:
        STYLE_RULES.get(style.id, _unchanged)(wear, day_band)
    chosen = {activity.id for activity in activities}
    for activity_id, adjust in ACTIVITY_RULES:
        if activity_id in chosen:
            adjust(wear, day_band)
    _weather(wear, day, day_band)
    return Outfit(
        top=GARMENTS[wear["top"]],
        bottom=GARMENTS[wear["bottom"]],
        outer=GARMENTS[wear[OUTER]] if wear[OUTER] else None,
        shoes=GARMENTS[wear[SHOES]],
        extras=tuple(GARMENTS[garment] for garment in dict.fromkeys(wear[EXTRAS])),
    )


def _outer(day_band: int, night_band: int) -> str | None:
    """The outer layer of the colder of the night's band and two bands below the day's,
    or, when that band has none, of the nearest warmer band down to the day's own."""
    for index in range(min(night_band, day_band + 2), day_band - 1, -1):
        if BANDS[index].outer:
            return BANDS[index].outer
    return None


def _swap(wear: dict, slot: str, changes: Mapping[str, str]) -> None:
    wear[slot] = changes.get(wear[slot], wear[slot])


def _unchanged(wear: dict, day_band: int) -> None:
    """Casual is how the bands dress anyway."""


def _smart(wear: dict, day_band: int) -> None:
    _swap(wear, "top", SMARTER_TOPS)
    _swap(wear, "bottom", SMARTER_BOTTOMS)
    if day_band != COLDEST:
        _swap(wear, SHOES, {"sneakers": "loafers", "sandals": "loafers"})


def _sporty(wear: dict, day_band: int) -> None:
    _swap(wear, "top", {"long_sleeve": "sweatshirt"})
    _swap(
        wear,
        OUTER,
        {"jacket": "windbreaker", "trench_coat": "windbreaker", "field_jacket": "windbreaker"},
    )
    _swap(wear, SHOES, {"loafers": "sneakers"})


SMARTER_TOPS = {
    "sleeveless": "linen_shirt",
    "t_shirt": "thin_shirt",
    "long_sleeve": "shirt",
    "sweatshirt": "knit",
}
SMARTER_BOTTOMS = {
    "shorts": "linen_trousers",
    "chinos": "slacks",
    "jeans": "slacks",
    "hiking_trousers": "slacks",
}
STYLE_RULES = {"casual": _unchanged, "smart": _smart, "sporty": _sporty}


def _walking(wear: dict, day_band: int) -> None:
    """A day on foot: comfortable shoes (boots stay in the cold)."""
    _swap(wear, SHOES, {"sandals": "sneakers", "loafers": "sneakers"})


def _museum(wear: dict, day_band: int) -> None:
    _walking(wear, day_band)
    if day_band <= WARM and not wear[OUTER]:
        wear[OUTER] = "thin_cardigan"  # the air conditioning inside


def _beach(wear: dict, day_band: int) -> None:
    if day_band <= WARM:
        wear.update(bottom="shorts", shoes="sandals")
        wear[EXTRAS] += ["swimwear", "sunglasses", "sun_hat"]
        return
    if day_band <= CHILLY:
        wear[EXTRAS].append("sunglasses")
    if not wear[OUTER]:
        wear[OUTER] = "windbreaker"  # the wind off the sea


def _hiking(wear: dict, day_band: int) -> None:
    _swap(wear, "top", {"sleeveless": "t_shirt", "linen_shirt": "t_shirt", "thin_shirt": "t_shirt"})
    wear["bottom"] = "shorts" if day_band == HOTTEST else "hiking_trousers"
    wear[SHOES] = "hiking_boots"
    # The summit is colder and windier: a shell or a padded jacket, never a town coat.
    _swap(wear, OUTER, HIKING_OUTERS)
    wear[OUTER] = wear[OUTER] or "windbreaker"
    if day_band <= MILD:
        wear[EXTRAS].append("sun_hat")


HIKING_OUTERS = {
    "thin_cardigan": "windbreaker",
    "jacket": "windbreaker",
    "trench_coat": "windbreaker",
    "field_jacket": "windbreaker",
    "coat": "padded_jacket",
}
# In this order, so that the most demanding activity of a day has the last word.
ACTIVITY_RULES = (
    ("sightseeing", _walking),
    ("shopping", _walking),
    ("museum", _museum),
    ("beach", _beach),
    ("dinner", _smart),  # dressed up, whatever the style note says
    ("hiking", _hiking),
)


def _weather(wear: dict, day: DayWeather, day_band: int) -> None:
    """Rain and wind, after everything else."""
    kind = weather_kind(day.weather_code)
    chance = day.precipitation_probability or 0
    wet = chance >= RAIN_CHANCE or (kind is not None and kind.wet)
    if wet or chance >= UMBRELLA_CHANCE:
        wear[EXTRAS].append("umbrella")
    if wet:
        _swap(wear, SHOES, {"sneakers": "waterproof_shoes", "loafers": "waterproof_shoes"})
        wear[EXTRAS] = [item for item in wear[EXTRAS] if item not in ("sunglasses", "sun_hat")]
    if (day.wind_speed_max or 0) >= WINDY_KMH:
        wear[EXTRAS] = [item for item in wear[EXTRAS] if item != "sun_hat"]
        if not wear[OUTER] and day_band != HOTTEST:
            wear[OUTER] = "windbreaker"


def plan_by_rules(
    days: Iterable[DayWeather],
    activities: Mapping[date, Sequence[Activity]] | None = None,
    style: Style | None = None,
) -> tuple[DayPlan, ...]:
    """Every day's plan by the rules, in date order."""
    activities = activities or {}
    plans = []
    for day in sorted(days, key=lambda day: day.date):
        done = tuple(activities.get(day.date, ()))
        plans.append(DayPlan(weather=day, activities=done, outfit=outfit_for(day, done, style)))
    return tuple(plans)


def packing_list(plans: Iterable[DayPlan]) -> tuple[PackingItem, ...]:
    """Each garment of the trip once, with the days it is worn: slot by slot, then in the
    order it is first worn."""
    worn: dict[str, list[date]] = {}
    for plan in sorted(plans, key=lambda plan: plan.date):
        for garment in plan.outfit.garments():
            worn.setdefault(garment.id, []).append(plan.date)
    order = sorted(worn, key=lambda garment_id: SLOTS.index(GARMENTS[garment_id].slot))
    return tuple(PackingItem(GARMENTS[garment_id], tuple(worn[garment_id])) for garment_id in order)
