"""The rule planner: 기온별 옷차림 band by band at its edges, then rain, wind, activities, the
style note and the packing list."""

import datetime
import itertools

import pytest
from django.utils import translation

from imagegen.trips import outfits
from imagegen.trips.conditions import DayWeather, manual_day
from imagegen.trips.outfits import Outfit, felt_range, outfit_for, packing_list, plan_by_rules
from imagegen.trips.vocabulary import (
    ACTIVITIES,
    GARMENTS,
    SLOTS,
    STYLES,
    find_activity,
    find_style,
)

DAY = datetime.date(2026, 7, 1)


def day(high, low=None, *, rain=None, wind=None, code=None, on=DAY):
    return DayWeather(
        date=on,
        temperature_max=high,
        temperature_min=high if low is None else low,
        precipitation_probability=rain,
        wind_speed_max=wind,
        weather_code=code,
        source="forecast",
    )


def worn(weather, *activities, style=None):
    chosen = [ACTIVITIES[name] for name in activities]
    return outfit_for(weather, chosen, STYLES[style] if style else None).as_ids()


BAND_OUTFITS = {
    "28+": ("sleeveless", "shorts", None, "sandals", ["sunglasses", "sun_hat"]),
    "23-27": ("t_shirt", "chinos", None, "sneakers", ["sunglasses"]),
    "20-22": ("long_sleeve", "chinos", "thin_cardigan", "sneakers", []),
    "17-19": ("sweatshirt", "jeans", None, "sneakers", []),
    "12-16": ("long_sleeve", "jeans", "jacket", "sneakers", []),
    "9-11": ("knit", "jeans", "trench_coat", "sneakers", []),
    "5-8": ("knit", "jeans", "coat", "sneakers", ["thermal_layer"]),
    "<=4": (
        "thick_knit",
        "lined_trousers",
        "padded_jacket",
        "boots",
        ["thermal_layer", "scarf", "gloves"],
    ),
}


@pytest.mark.parametrize(
    ("temperature", "band"),
    [
        (35, "28+"),
        (28, "28+"),
        (27.5, "28+"),  # shown as 28°C
        (27.4, "23-27"),
        (23, "23-27"),
        (22.9, "23-27"),
        (22, "20-22"),
        (20, "20-22"),
        (19, "17-19"),
        (17, "17-19"),
        (16, "12-16"),
        (12, "12-16"),
        (11, "9-11"),
        (9, "9-11"),
        (8, "5-8"),
        (5, "5-8"),
        (4.4, "<=4"),
        (4, "<=4"),
        (-0.5, "<=4"),
        (-15, "<=4"),
    ],
)
def test_each_band_dresses_for_its_temperatures_up_to_its_edges(temperature, band):
    top, bottom, outer, shoes, extras = BAND_OUTFITS[band]

    assert worn(day(temperature)) == {
        "top": top,
        "bottom": bottom,
        "outer": outer,
        "shoes": shoes,
        "extras": extras,
    }


@pytest.mark.parametrize(
    ("high", "low", "outer"),
    [
        (24, 15, "thin_cardigan"),  # a cool evening after a warm day: something light to carry
        (30, 21, "thin_cardigan"),
        (30, 26, None),  # a hot night: nothing
        (18, 7, "trench_coat"),
        (14, 6, "coat"),
        (30, 2, "thin_cardigan"),  # at most two bands colder than the day: never a coat at 30°C
    ],
)
def test_the_low_chooses_the_outer_layer_to_carry(high, low, outer):
    assert worn(day(high, low))["outer"] == outer


def test_a_chance_of_rain_brings_an_umbrella_and_a_likely_rain_waterproof_shoes():
    assert worn(day(25, rain=29))["extras"] == ["sunglasses"]
    maybe = worn(day(25, rain=30))
    assert (maybe["shoes"], maybe["extras"]) == ("sneakers", ["sunglasses", "umbrella"])
    likely = worn(day(25, rain=60))
    assert (likely["shoes"], likely["extras"]) == ("waterproof_shoes", ["umbrella"])


def test_a_wet_weather_code_counts_as_rain_when_the_chance_is_unknown():
    assert worn(day(15, code=61))["shoes"] == "waterproof_shoes"
    assert worn(day(15, code=3))["shoes"] == "sneakers"


def test_sandals_stay_in_a_summer_shower_and_hiking_boots_in_any_rain():
    assert worn(day(31, rain=80))["shoes"] == "sandals"
    assert worn(day(15, rain=80), "hiking")["shoes"] == "hiking_boots"


def test_wind_feels_colder_and_brings_a_windbreaker():
    assert felt_range(day(21, 15, wind=29)) == (15, 21)
    assert felt_range(day(21, 15, wind=30)) == (13, 19)
    assert felt_range(day(21, 15, wind=50)) == (11, 17)
    windy = worn(day(21, 21, wind=35))
    assert (windy["top"], windy["outer"]) == ("sweatshirt", "windbreaker")  # 19°C as felt


def test_no_sun_hat_in_the_wind():
    assert "sun_hat" not in worn(day(33, wind=40))["extras"]


def test_a_warm_beach_day_is_swimwear_shorts_and_sandals():
    beach = worn(day(26), "beach")

    assert (beach["bottom"], beach["shoes"]) == ("shorts", "sandals")
    assert {"swimwear", "sunglasses", "sun_hat"} <= set(beach["extras"])


def test_a_cool_beach_day_adds_a_windbreaker_against_the_sea_wind():
    beach = worn(day(18), "beach")

    assert (beach["outer"], beach["shoes"]) == ("windbreaker", "sneakers")
    assert "swimwear" not in beach["extras"]


def test_hiking_is_boots_trousers_and_a_shell_not_a_town_coat():
    assert worn(day(24), "hiking") == {
        "top": "t_shirt",
        "bottom": "hiking_trousers",
        "outer": "windbreaker",
        "shoes": "hiking_boots",
        "extras": ["sunglasses", "sun_hat"],
    }
    assert worn(day(14, 6), "hiking")["outer"] == "padded_jacket"  # not the band's coat


def test_dinner_dresses_up_whatever_the_band():
    assert worn(day(25), "dinner") == {
        "top": "thin_shirt",
        "bottom": "slacks",
        "outer": None,
        "shoes": "loafers",
        "extras": ["sunglasses"],
    }
    assert worn(day(30), "dinner")["bottom"] == "linen_trousers"
    assert worn(day(0), "dinner")["shoes"] == "boots"  # loafers stay home in the snow


def test_a_day_on_foot_is_sneakers_and_a_museum_in_summer_a_cardigan_for_the_cold_air():
    assert worn(day(31), "sightseeing")["shoes"] == "sneakers"
    assert worn(day(31), "museum")["outer"] == "thin_cardigan"
    assert worn(day(31), "shopping")["shoes"] == "sneakers"


def test_the_most_demanding_activity_has_the_last_word():
    assert worn(day(25), "dinner", "hiking")["shoes"] == "hiking_boots"
    assert worn(day(25), "beach", "dinner")["shoes"] == "loafers"


def test_a_smart_style_note_means_shirts_slacks_and_loafers():
    assert worn(day(25), style="smart") == worn(day(25), "dinner")
    assert worn(day(15), style="sporty")["outer"] == "windbreaker"
    assert worn(day(15), style="casual") == worn(day(15))


def test_style_notes_and_activities_are_read_in_both_languages():
    assert find_style("편한 캐주얼") == STYLES["casual"]
    assert find_style("깔끔하고 단정하게") == STYLES["smart"]
    assert find_style("Sporty please") == STYLES["sporty"]
    assert find_style("빨간색 위주") is None
    for typed, expected in [
        ("해변", "beach"),
        ("Beach", "beach"),
        ("등산", "hiking"),
        ("HIKING", "hiking"),
        ("시내 구경", "sightseeing"),
        ("저녁 식사", "dinner"),
        ("dinner", "dinner"),
        ("미술관", "museum"),
    ]:
        assert find_activity(typed) == ACTIVITIES[expected], typed
    assert find_activity("낮잠") is None


def test_garments_and_activities_are_named_in_the_readers_language():
    with translation.override("ko"):
        names = [
            str(GARMENTS[id]) for id in ("t_shirt", "thin_cardigan", "padded_jacket", "umbrella")
        ]
        assert names == ["반팔 티셔츠", "얇은 가디건", "패딩", "우산"]
        assert str(ACTIVITIES["sightseeing"]) == "시내 구경"
        assert GARMENTS["t_shirt"].english == "T-shirt"
    with translation.override("en"):
        assert str(GARMENTS["padded_jacket"]) == "Padded jacket"


def test_the_packing_list_has_each_garment_once_with_the_days_it_is_worn():
    days = [
        day(25, on=DAY),
        day(25, rain=70, on=DAY + datetime.timedelta(days=1)),
        day(15, on=DAY + datetime.timedelta(days=2)),
    ]

    packing = packing_list(plan_by_rules(days))

    listed = [(item.garment.id, [d.day for d in item.dates]) for item in packing]
    assert listed == [
        ("t_shirt", [1, 2]),
        ("long_sleeve", [3]),
        ("chinos", [1, 2]),
        ("jeans", [3]),
        ("jacket", [3]),
        ("sneakers", [1, 3]),
        ("waterproof_shoes", [2]),
        ("sunglasses", [1]),
        ("umbrella", [2]),
    ]
    slots = [item.garment.slot for item in packing]
    assert slots == sorted(slots, key=SLOTS.index)


def test_plans_follow_the_dates_and_each_days_activities():
    later, earlier = day(25, on=DAY + datetime.timedelta(days=1)), day(25, on=DAY)

    plans = plan_by_rules([later, earlier], {later.date: [ACTIVITIES["hiking"]]})

    assert [plan.date for plan in plans] == [earlier.date, later.date]
    assert [plan.outfit.shoes.id for plan in plans] == ["sneakers", "hiking_boots"]


def test_the_rules_never_choose_a_garment_outside_its_temperatures():
    """What makes a chat model's plan nonsense never comes out of the rules themselves."""
    activity_sets = [(), *[(name,) for name in ACTIVITIES], ("beach", "dinner")]
    styles = [None, *STYLES.values()]
    for high, spread, wind, rain, activities, style in itertools.product(
        range(-15, 41, 2), (0, 8, 16), (0, 35, 55), (0, 40, 80), activity_sets, styles
    ):
        weather = day(high, high - spread, wind=wind, rain=rain)
        outfit = outfit_for(weather, [ACTIVITIES[a] for a in activities], style)
        low, felt_high = felt_range(weather)
        for garment in outfit.garments():
            assert garment.suits(low, felt_high), (garment.id, high, spread, wind, activities)


def test_an_outfit_is_stored_by_its_garment_ids_and_read_back():
    outfit = outfit_for(day(3, rain=80), [ACTIVITIES["dinner"]])

    assert Outfit.from_ids(outfit.as_ids()) == outfit
    with pytest.raises(KeyError):
        Outfit.from_ids({**outfit.as_ids(), "top": "tuxedo"})


def test_temperatures_typed_by_hand_are_checked_field_by_field():
    assert manual_day(DAY, 21, 14).source == "manual"
    with pytest.raises(ValueError, match="temperature_min must not be above"):
        manual_day(DAY, 10, 14)
    with pytest.raises(ValueError, match="temperature_max must be between"):
        manual_day(DAY, 75, 14)
    with pytest.raises(ValueError, match="temperature_min must be a number"):
        manual_day(DAY, 20, float("nan"))


def test_the_bands_are_the_korean_chart():
    lowest = [band.lowest for band in outfits.BANDS]
    assert lowest == [28, 23, 20, 17, 12, 9, 5, None]
