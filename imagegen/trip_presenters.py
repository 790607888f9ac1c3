"""A trip lookbook as the API, its webhook and the pages read it: each stored day as the
planner's DayPlan (weather, activities, outfit), the packing list, and the API's JSON items."""

from django.conf import settings
from django.urls import reverse
from django.utils import formats
from django.utils.translation import pgettext_lazy

from . import presenters
from .models import Trip, TripDay
from .trips.conditions import FORECAST, HISTORY, MANUAL, DayWeather, weather_kind
from .trips.open_meteo import ATTRIBUTION, ATTRIBUTION_URL, LICENCE_URL
from .trips.outfits import DayPlan, Outfit, packing_list
from .trips.vocabulary import ACTIVITIES

SOURCE_LABELS = {
    FORECAST: pgettext_lazy("weather source", "Forecast"),
    HISTORY: pgettext_lazy("weather source", "Usual weather"),
    MANUAL: pgettext_lazy("weather source", "Typed by you"),
}


def day_label(date) -> str:
    """ "12월 14일 (월)", "December 14 (Mon)": a trip day in the active language."""
    weekday = formats.date_format(date, "D")
    return f"{formats.date_format(date, 'MONTH_DAY_FORMAT')} ({weekday})"


def day_plan(day: TripDay) -> DayPlan:
    """A stored day as the planner's DayPlan (for its picture, the cards and the API)."""
    return DayPlan(
        weather=day_weather(day),
        activities=tuple(ACTIVITIES[id] for id in day.activities if id in ACTIVITIES),
        outfit=Outfit.from_ids(
            {
                "top": day.top,
                "bottom": day.bottom,
                "outer": day.outer or None,
                "shoes": day.shoes,
                "extras": day.extras,
            }
        ),
    )


def day_weather(day: TripDay) -> DayWeather:
    return DayWeather(
        date=day.date,
        temperature_max=day.temperature_max,
        temperature_min=day.temperature_min,
        precipitation_probability=day.precipitation_probability,
        wind_speed_max=day.wind_speed_max,
        weather_code=day.weather_code,
        source=day.weather_source or MANUAL,
        years=day.years,
    )


def packing_list_of(days):
    return packing_list([day_plan(day) for day in days])


def _garment(garment):
    return {"id": garment.id, "name": str(garment.label)} if garment else None


def day_item(day: TripDay, request=None) -> dict:
    plan = day_plan(day)
    outfit = plan.outfit
    kind = weather_kind(day.weather_code)
    generation = day.generation
    return {
        "date": day.date,
        "weather": {
            "temperature_max": day.temperature_max,
            "temperature_min": day.temperature_min,
            "precipitation_probability": day.precipitation_probability,
            "wind_speed_max": day.wind_speed_max,
            "weather_code": day.weather_code,
            "weather": str(kind.label) if kind else None,
            "source": day.weather_source,
        },
        "activities": [activity.id for activity in plan.activities],
        "outfit": {
            "top": _garment(outfit.top),
            "bottom": _garment(outfit.bottom),
            "outer": _garment(outfit.outer),
            "shoes": _garment(outfit.shoes),
            "extras": [_garment(garment) for garment in outfit.extras],
        },
        "generation": (
            presenters.generation_item(generation, request=request) if generation else None
        ),
    }


def trip_item(trip: Trip, request=None) -> dict:
    """A trip as the API and its webhook show it."""
    days = list(trip.days.select_related("generation"))
    packing = packing_list_of(days)
    base = presenters.site_origin(request) if request is not None else settings.SITE_URL
    return {
        "id": str(trip.pk),
        "url": base + reverse("api:trip", args=[trip.pk]),
        "page_url": base + reverse("imagegen:trip", args=[trip.pk]),
        "destination": {
            "name": trip.destination_name,
            "label": trip.destination_label,
            "place_id": trip.place_id,
            "latitude": trip.latitude,
            "longitude": trip.longitude,
            "country": trip.country,
            "timezone": trip.time_zone,
        },
        "start_date": trip.start_date,
        "end_date": trip.end_date,
        "style": trip.style_note,
        "tier": trip.tier,
        "planner": trip.planner,
        "status": trip.status,
        "source_image": str(trip.source_image_id) if trip.source_image_id else None,
        "share_url": (
            base + reverse("imagegen:trip_shared", args=[trip.share_token])
            if trip.share_token
            else None
        ),
        "created_at": trip.created_at,
        "completed_at": trip.completed_at,
        "days": [day_item(day, request) for day in days],
        "packing_list": [
            {
                "item": _garment(item.garment),
                "days": list(item.dates),
                "packed": item.garment.id in trip.packed,
            }
            for item in packing
        ],
        "attribution": {"text": ATTRIBUTION, "url": ATTRIBUTION_URL, "licence": LICENCE_URL},
    }
