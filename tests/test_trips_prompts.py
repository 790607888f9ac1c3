"""Each day's picture: an edit of the traveller's photo, or a text picture, in English."""

import datetime

from django.utils import translation

from imagegen.providers.base import EDIT, TEXT
from imagegen.trips.conditions import DayWeather
from imagegen.trips.outfits import plan_by_rules
from imagegen.trips.places import Place
from imagegen.trips.prompts import day_picture, outfit_words
from imagegen.trips.vocabulary import ACTIVITIES, STYLES

JEJU_EN = Place(name="Jeju City", id=1846266, latitude=33.5, longitude=126.5, country="South Korea")
DAY = datetime.date(2026, 7, 1)


def plan(high, low=None, *, rain=None, code=None, activities=()):
    weather = DayWeather(DAY, high, high if low is None else low, rain, None, code, "forecast")
    return plan_by_rules([weather], {DAY: [ACTIVITIES[a] for a in activities]})[0]


def test_with_a_photo_the_picture_is_an_edit_of_that_person_there_in_the_outfit():
    picture = day_picture(JEJU_EN, plan(30, 25, code=0, activities=["beach"]), with_photo=True)

    assert picture.task == EDIT
    assert picture.prompt.startswith(
        "Show this person on a beach near Jeju City, South Korea, on a sunny, hot day, "
        "wearing a sleeveless top, shorts and sandals, with sunglasses and a sun hat."
    )
    assert "Keep the person's face" in picture.prompt


def test_without_a_photo_the_picture_is_a_traveller_drawn_from_words():
    picture = day_picture(
        JEJU_EN,
        plan(24, 16, rain=70, activities=["dinner"]),
        with_photo=False,
        style=STYLES["smart"],
    )

    assert picture.task == TEXT
    assert picture.prompt == (
        "A photorealistic full-body travel photo of a traveller at a restaurant in Jeju City, "
        "South Korea in the evening, on a rainy, warm day, wearing a thin shirt, slacks and "
        "waterproof shoes, with a thin cardigan, carrying an umbrella in a smart casual style."
    )


def test_the_prompt_is_english_whatever_the_readers_language():
    with translation.override("ko"):
        words = outfit_words(plan(2).outfit)

    assert words == (
        "a thick knit sweater, fleece-lined trousers and boots, with a padded jacket, a scarf "
        "and gloves"
    )


def test_each_activity_puts_the_traveller_in_its_scene():
    hiking = day_picture(JEJU_EN, plan(15, activities=["hiking"]), with_photo=False).prompt
    plain = day_picture(JEJU_EN, plan(15), with_photo=False).prompt

    assert "on a mountain trail near Jeju City" in hiking
    assert "at a well-known sight of Jeju City" in plain
    assert "long-sleeved T-shirt" in plain  # "T-shirt" keeps its capital


def test_a_prompt_never_passes_the_sites_prompt_limit(settings):
    settings.IMAGEGEN_MAX_PROMPT_LENGTH = 120
    long_name = Place(name="Llanfairpwllgwyngyll" * 5, country="United Kingdom")

    assert len(day_picture(long_name, plan(20), with_photo=True).prompt) <= 120
