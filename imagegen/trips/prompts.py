"""The words for each day's picture, in English (what the image models read).

With the traveller's photo the picture is an edit of that same photo for every day ("Show this
person on a beach near Jeju City, …, wearing …, keep the face"), so that the trip keeps the
same person; without one, a text prompt draws a traveller there in that outfit and weather.
The place should be named in English (`places.place_by_id(id, language="en")`); a Korean name
still works where prompt translation is on.
"""

from dataclasses import dataclass

from django.conf import settings

from ..providers.base import EDIT, TEXT
from .conditions import weather_kind
from .outfits import DayPlan, Outfit, felt_range
from .places import Place
from .vocabulary import Style

# Where each activity puts the traveller; the first of a day's activities in this order wins.
SCENES = {
    "hiking": "on a mountain trail near {place}",
    "beach": "on a beach near {place}",
    "dinner": "at a restaurant in {place} in the evening",
    "museum": "in a museum in {place}",
    "shopping": "in a shopping street in {place}",
    "sightseeing": "in the streets of {place}, its well-known sights behind",
}
ANYWHERE = "at a well-known sight of {place}"
# Extras that show in a picture; the rest (a thermal layer, swimwear in a bag) do not.
WORN_EXTRAS = ("sunglasses", "sun_hat", "scarf", "gloves")
CARRIED_EXTRAS = ("umbrella",)
PLURAL_ONLY = ("swimwear",)
# How warm a day feels by its felt high, in words.
WARMTH = ((28, "hot"), (20, "warm"), (12, "mild"), (5, "cool"), (-999, "cold"))
NEGATIVE_PROMPT = "blurry, distorted face, extra limbs, extra fingers, text, watermark"


@dataclass(frozen=True)
class DayPicture:
    """What to ask the image provider for one day: an edit of the photo, or a text picture."""

    task: str  # providers.base.EDIT or TEXT
    prompt: str
    negative_prompt: str = NEGATIVE_PROMPT


def day_picture(
    place: Place, plan: DayPlan, *, with_photo: bool, style: Style | None = None
) -> DayPicture:
    """The picture of one planned day at `place`."""
    scene = _scene(place, plan)
    weather = _weather_words(plan)
    outfit = outfit_words(plan.outfit)
    styled = f" in a {style.prompt} style" if style else ""
    if with_photo:
        prompt = (
            f"Show this person {scene}, on {weather}, wearing {outfit}{styled}. Keep the "
            "person's face, hair, skin tone and build exactly as in the photo. Photorealistic "
            "full-body travel photo."
        )
        task = EDIT
    else:
        prompt = (
            f"A photorealistic full-body travel photo of a traveller {scene}, on {weather}, "
            f"wearing {outfit}{styled}."
        )
        task = TEXT
    return DayPicture(task=task, prompt=prompt[: settings.IMAGEGEN_MAX_PROMPT_LENGTH])


def destination_words(place: Place) -> str:
    """ "Jeju City, South Korea": the name and the country, when they differ."""
    parts = [place.name[:80], place.country[:60]]
    return ", ".join(dict.fromkeys(part for part in parts if part))


def outfit_words(outfit: Outfit) -> str:
    """ "a T-shirt, chinos and sneakers, with a thin cardigan and sunglasses, carrying an
    umbrella": what shows in the picture."""
    worn = [_named(outfit.top), _named(outfit.bottom), _named(outfit.shoes)]
    extra = [_named(outfit.outer)] if outfit.outer else []
    extra += [_named(garment) for garment in outfit.extras if garment.id in WORN_EXTRAS]
    carried = [_named(garment) for garment in outfit.extras if garment.id in CARRIED_EXTRAS]
    words = _listed(worn)
    if extra:
        words += f", with {_listed(extra)}"
    if carried:
        words += f", carrying {_listed(carried)}"
    return words


def _scene(place: Place, plan: DayPlan) -> str:
    chosen = {activity.id for activity in plan.activities}
    template = next((SCENES[id] for id in SCENES if id in chosen), ANYWHERE)
    return template.format(place=destination_words(place))


def _weather_words(plan: DayPlan) -> str:
    """ "a rainy, cool day": the weather's kind (or a likely rain) and how warm it feels."""
    _, high = felt_range(plan.weather)
    warmth = next(word for lowest, word in WARMTH if high >= lowest)
    kind = weather_kind(plan.weather.weather_code)
    wet = (plan.weather.precipitation_probability or 0) >= 60
    if kind is not None:
        return kind.english.replace(" day", f", {warmth} day", 1)
    return f"a rainy, {warmth} day" if wet else f"a {warmth} day"


def _named(garment) -> str:
    name = garment.english
    if not name[1:2].isupper():  # "T-shirt" keeps its capital, "Long-sleeved T-shirt" too
        name = name[0].lower() + name[1:]
    if name.endswith("s") or garment.id in PLURAL_ONLY:
        return name
    return ("an " if name[0].lower() in "aeiou" else "a ") + name


def _listed(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
