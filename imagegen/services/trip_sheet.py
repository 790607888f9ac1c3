"""A trip lookbook's one download: its contact sheet (imagegen.trips.sheet), a JPEG of every
day's picture with its date, weather and outfit, in the reader's language.

It holds AI-made pictures, so it carries what any file of ours does (issue 30): the visible
"AI-generated" label burnt into its corner, and content credentials signed last, saying it is a
composite of AI-made media with each day's picture as an ingredient (by its SHA-256: their own
manifests stay in their files). It gets no watermark of its own: it has no generation, so no
mark id, and the days' watermarks do not survive being scaled into tiles.

Made on each request, not stored: a sheet of 14 days is read, drawn and signed in well under a
second, and stays right when a day is redone or the reader's language differs.
"""

import io
from dataclasses import dataclass

from django.utils import timezone, translation
from django.utils.translation import gettext, ngettext
from PIL import Image

from ..marks import credentials, label
from ..marks.credentials import Ingredient, Provenance
from ..models import Generation, Trip, TripDay
from ..trip_presenters import SOURCE_LABELS, day_label, day_plan
from ..trips import sheet
from ..trips.conditions import FORECAST, HISTORY, weather_kind
from ..trips.open_meteo import ATTRIBUTION

CONTENT_TYPE = "image/jpeg"
QUALITY = 88
DESCRIPTION = (
    "A contact sheet of a trip lookbook: each day's AI-made picture with its date, weather and "
    "outfit, and a visible label saying the pictures were made by AI."
)


class NoPictures(Exception):
    """No day of the trip has a finished picture yet: there is nothing to put on a sheet."""


@dataclass(frozen=True)
class ContactSheet:
    """The signed, labelled sheet and the name to download it as."""

    data: bytes
    content_type: str
    filename: str


def contact_sheet(trip: Trip, *, language: str) -> ContactSheet:
    """The trip's contact sheet in `language`; NoPictures while no day has a picture."""
    days = list(trip.days.select_related("generation"))
    found = {day.date: picture for day in days if (picture := _picture(day))}
    if not found:
        raise NoPictures(trip.pk)
    images = {date: image for date, (_data, image, _type) in found.items()}
    with translation.override(language):
        drawn = sheet.draw(_sheet(trip, days, images))
        labelled = label.burn_label(drawn, language)
    buffer = io.BytesIO()
    labelled.save(buffer, format="JPEG", quality=QUALITY, optimize=True)
    ingredients = tuple(
        Ingredient.photo(data, title=f"{date.isoformat()} picture", content_type=content_type)
        for date, (data, _image, content_type) in found.items()
    )
    filename = f"travelfit-lookbook-{trip.start_date.isoformat()}.jpg"
    provenance = Provenance(
        provider="travelfit",
        model="",
        when=timezone.now(),
        photos=ingredients,
        title=filename,
        description=DESCRIPTION,
    )
    signed = credentials.sign(buffer.getvalue(), CONTENT_TYPE, provenance)
    return ContactSheet(data=signed, content_type=CONTENT_TYPE, filename=filename)


def _picture(day: TripDay):
    """(bytes, decoded image, content type) of the day's finished picture, or None."""
    generation = day.generation
    if generation is None or generation.status != Generation.Status.SUCCEEDED:
        return None
    if not generation.image:
        return None
    try:
        with generation.image.open("rb") as handle:
            data = handle.read()
        image = Image.open(io.BytesIO(data))
        image.load()
    except (OSError, ValueError):
        return None  # a file gone missing: its tile says there is no picture
    return data, image, generation.image_content_type


def _sheet(trip, days, images) -> sheet.Sheet:
    """The sheet's words, in the active language."""
    count = len(days)
    subtitle = f"{day_label(trip.start_date)} – {day_label(trip.end_date)} · " + ngettext(
        "%(count)d day", "%(count)d days", count
    ) % {"count": count}
    credited = any(day.weather_source in (FORECAST, HISTORY) for day in days)
    return sheet.Sheet(
        title=_title(trip),
        subtitle=subtitle,
        days=tuple(_tile(day, images.get(day.date)) for day in days),
        footer=f"TravelFit · {ATTRIBUTION} (CC BY 4.0)" if credited else "TravelFit",
        missing=gettext("No picture yet"),
    )


def _title(trip):
    """The destination as the traveller reads it, in the first form the font can draw."""
    for name in (trip.destination_label, trip.destination_name, trip.destination_en):
        if name and sheet.fully_drawable(name):
            return name
    return trip.destination_label or trip.destination_name


def _tile(day: TripDay, image) -> sheet.SheetDay:
    plan = day_plan(day)
    kind = weather_kind(day.weather_code)
    words = [str(kind.label)] if kind else []
    words.append(f"{round(day.temperature_max)}° / {round(day.temperature_min)}°")
    if day.precipitation_probability is not None:
        words.append(f"{gettext('Chance of rain')} {day.precipitation_probability}%")
    outfit = plan.outfit
    garments = [outfit.top, outfit.bottom, outfit.outer, outfit.shoes, *outfit.extras]
    return sheet.SheetDay(
        date=day_label(day.date),
        weather=" · ".join(words),
        outfit=tuple(str(garment) for garment in garments if garment),
        picture=image,
        note=str(SOURCE_LABELS.get(day.weather_source, "")),
    )
