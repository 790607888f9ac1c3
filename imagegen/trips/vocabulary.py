"""The trip lookbook's fixed words: garments, activities and styles, in Korean and English.

Every plan, whether the rules or a chat model made it, names garments from `GARMENTS` only, so
that a page, the packing list and the picture prompt can always say what a garment is. Names
are marked for gettext (context "garment", "activity", "style"): the reader's language comes
from the catalogue, and the English source text is what the image and chat models read.

A garment also says which temperatures it suits (`coldest`…`warmest`, °C as felt): the rules
never choose outside that range, and a chat model's plan that does is refused as nonsense.
"""

from dataclasses import dataclass
from functools import cached_property

from django.utils import translation
from django.utils.functional import Promise
from django.utils.translation import pgettext_lazy

TOP, BOTTOM, OUTER, SHOES, EXTRAS = "top", "bottom", "outer", "shoes", "extras"
SLOTS = (TOP, BOTTOM, OUTER, SHOES, EXTRAS)


def english(label: Promise) -> str:
    """A marked name's English source text, whatever language is active."""
    with translation.override("en"):
        return str(label)


@dataclass(frozen=True)
class Garment:
    """One thing to wear or carry, in one slot of an outfit."""

    id: str
    slot: str
    label: Promise  # in the active language: str(garment.label)
    coldest: int  # the coldest felt temperature (°C) it suits
    warmest: int  # the warmest

    @cached_property
    def english(self) -> str:
        """Its English name (kept: activating a language for it costs more than the rest of
        a picture prompt)."""
        return english(self.label)

    def suits(self, coldest: float, warmest: float) -> bool:
        """Whether it can be worn on a day felt between `coldest` and `warmest` °C."""
        return self.coldest <= warmest and coldest <= self.warmest

    def __str__(self) -> str:
        return str(self.label)


def _garment(id, slot, label, coldest, warmest):
    return Garment(id=id, slot=slot, label=label, coldest=coldest, warmest=warmest)


_ALL = (
    _garment("sleeveless", TOP, pgettext_lazy("garment", "Sleeveless top"), 25, 50),
    _garment("t_shirt", TOP, pgettext_lazy("garment", "T-shirt"), 18, 50),
    _garment("linen_shirt", TOP, pgettext_lazy("garment", "Linen shirt"), 22, 50),
    _garment("thin_shirt", TOP, pgettext_lazy("garment", "Thin shirt"), 18, 32),
    _garment("long_sleeve", TOP, pgettext_lazy("garment", "Long-sleeved T-shirt"), 9, 25),
    _garment("shirt", TOP, pgettext_lazy("garment", "Shirt"), 5, 27),
    _garment("sweatshirt", TOP, pgettext_lazy("garment", "Sweatshirt"), 5, 22),
    _garment("knit", TOP, pgettext_lazy("garment", "Knit sweater"), -30, 22),
    _garment("thick_knit", TOP, pgettext_lazy("garment", "Thick knit sweater"), -40, 10),
    _garment("shorts", BOTTOM, pgettext_lazy("garment", "Shorts"), 20, 50),
    _garment("linen_trousers", BOTTOM, pgettext_lazy("garment", "Linen trousers"), 22, 50),
    _garment("chinos", BOTTOM, pgettext_lazy("garment", "Chinos"), 9, 32),
    _garment("jeans", BOTTOM, pgettext_lazy("garment", "Jeans"), -10, 27),
    _garment("slacks", BOTTOM, pgettext_lazy("garment", "Slacks"), -10, 32),
    _garment("hiking_trousers", BOTTOM, pgettext_lazy("garment", "Hiking trousers"), -20, 32),
    _garment("lined_trousers", BOTTOM, pgettext_lazy("garment", "Fleece-lined trousers"), -40, 10),
    _garment("thin_cardigan", OUTER, pgettext_lazy("garment", "Thin cardigan"), 15, 40),
    _garment("jacket", OUTER, pgettext_lazy("garment", "Jacket"), 8, 22),
    _garment("windbreaker", OUTER, pgettext_lazy("garment", "Windbreaker"), 3, 40),
    _garment("trench_coat", OUTER, pgettext_lazy("garment", "Trench coat"), 5, 19),
    _garment("field_jacket", OUTER, pgettext_lazy("garment", "Field jacket"), 3, 17),
    _garment("coat", OUTER, pgettext_lazy("garment", "Coat"), -10, 12),
    _garment("padded_jacket", OUTER, pgettext_lazy("garment", "Padded jacket"), -40, 8),
    _garment("sandals", SHOES, pgettext_lazy("garment", "Sandals"), 20, 50),
    _garment("sneakers", SHOES, pgettext_lazy("garment", "Sneakers"), -15, 40),
    _garment("loafers", SHOES, pgettext_lazy("garment", "Loafers"), 3, 40),
    _garment("boots", SHOES, pgettext_lazy("garment", "Boots"), -40, 14),
    _garment("hiking_boots", SHOES, pgettext_lazy("garment", "Hiking boots"), -30, 45),
    _garment("waterproof_shoes", SHOES, pgettext_lazy("garment", "Waterproof shoes"), -15, 40),
    _garment("umbrella", EXTRAS, pgettext_lazy("garment", "Umbrella"), -50, 50),
    _garment("sunglasses", EXTRAS, pgettext_lazy("garment", "Sunglasses"), 10, 50),
    _garment("sun_hat", EXTRAS, pgettext_lazy("garment", "Sun hat"), 18, 50),
    _garment("swimwear", EXTRAS, pgettext_lazy("garment", "Swimwear"), 20, 50),
    _garment("thermal_layer", EXTRAS, pgettext_lazy("garment", "Thermal base layer"), -40, 10),
    _garment("scarf", EXTRAS, pgettext_lazy("garment", "Scarf"), -40, 8),
    _garment("gloves", EXTRAS, pgettext_lazy("garment", "Gloves"), -40, 6),
)
GARMENTS: dict[str, Garment] = {garment.id: garment for garment in _ALL}


def garments_for(slot: str) -> tuple[Garment, ...]:
    """The vocabulary of one slot, in the order above."""
    return tuple(garment for garment in _ALL if garment.slot == slot)


@dataclass(frozen=True)
class Activity:
    """Something a traveller does on a day that changes what they wear."""

    id: str
    label: Promise
    # Words a traveller may type for it, in either language (lower case, no spaces).
    words: tuple[str, ...]

    @cached_property
    def english(self) -> str:
        return english(self.label)

    def __str__(self) -> str:
        return str(self.label)


ACTIVITIES: dict[str, Activity] = {
    activity.id: activity
    for activity in (
        Activity(
            "sightseeing",
            pgettext_lazy("activity", "Sightseeing"),
            ("시내구경", "시내", "관광", "구경", "산책", "sightseeing", "city", "walk"),
        ),
        Activity("shopping", pgettext_lazy("activity", "Shopping"), ("쇼핑", "shopping")),
        Activity(
            "museum",
            pgettext_lazy("activity", "Museum"),
            ("박물관", "미술관", "전시", "museum", "gallery", "exhibition"),
        ),
        Activity(
            "beach",
            pgettext_lazy("activity", "Beach"),
            ("해변", "바다", "해수욕", "수영", "beach", "sea", "swimming"),
        ),
        Activity(
            "dinner",
            pgettext_lazy("activity", "Dinner out"),
            ("저녁식사", "저녁", "식사", "레스토랑", "dinner", "restaurant"),
        ),
        Activity(
            "hiking",
            pgettext_lazy("activity", "Hiking"),
            ("등산", "하이킹", "트레킹", "올레길", "hiking", "hike", "trekking"),
        ),
    )
}


def find_activity(text: str) -> Activity | None:
    """The activity a typed word names ("해변", "저녁 식사", "Beach", "hiking"), or None."""
    word = "".join(str(text or "").lower().split())
    for activity in ACTIVITIES.values():
        if word == activity.id or word in activity.words:
            return activity
    return None


@dataclass(frozen=True)
class Style:
    """A way of dressing a style note asks for, found by its words."""

    id: str
    label: Promise
    words: tuple[str, ...]
    prompt: str  # how the picture prompt says it, in English


STYLES: dict[str, Style] = {
    style.id: style
    for style in (
        Style(
            "smart",
            pgettext_lazy("style", "Smart"),
            ("단정", "깔끔", "포멀", "정장", "세미", "오피스", "댄디", "smart", "formal", "neat"),
            "smart casual",
        ),
        Style(
            "sporty",
            pgettext_lazy("style", "Sporty"),
            ("스포티", "활동", "운동", "애슬", "sporty", "athletic", "active"),
            "sporty",
        ),
        Style(
            "casual",
            pgettext_lazy("style", "Casual"),
            ("캐주얼", "편한", "편안", "casual", "comfortable", "relaxed"),
            "relaxed casual",
        ),
    )
}


def find_style(note: str) -> Style | None:
    """The first style whose words the note ("편한 캐주얼", "smart for dinners") contains."""
    text = str(note or "").lower()
    for style in STYLES.values():
        if any(word in text for word in style.words):
            return style
    return None
