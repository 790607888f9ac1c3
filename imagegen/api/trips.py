"""API v1 for trip lookbooks (issue 31), a router of its own registered in imagegen/api/:
POST/GET /trips, GET /trips/{id}, GET /trips/{id}/sheet.jpg (the contact sheet),
POST /trips/{id}/days/{date}/redo.

The same keys, idempotency and error shape as the rest of the API (its helpers, imported).
A trip's `trip.completed` webhook is sent to `callback_url` (else the key's default) once
every day's picture has ended (services.trips.deliver_trip).
"""

import copy
import datetime
import uuid

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from ninja import Router

from .. import presenters, services, webhooks
from ..media import PRIVATE_IMAGE_CACHE
from ..models import Trip, TripDay, Upload
from ..services import trip_sheet, trips
from ..trip_presenters import trip_item
from ..trips.dates import InvalidTripDates
from .errors import ApiError, error_answers, invalid, refused
from .json_body import json_object
from .operations import IDEMPOTENCY_KEY, idempotent

router = Router(tags=["trips"])
CONTENT_TYPE = trip_sheet.CONTENT_TYPE

FIELDS = {
    "destination",
    "place_id",
    "start_date",
    "end_date",
    "source_image",
    "activities",
    "style",
    "tier",
    "temperatures",
    "callback_url",
}
EXAMPLE = {
    "destination": "제주",
    "place_id": 1846266,
    "start_date": "2026-12-14",
    "end_date": "2026-12-16",
    "source_image": "0b9f3c1e-3a5e-4f4e-9f55-6f1d1c0e2a11",
    "activities": {"2026-12-14": ["해변"], "2026-12-15": ["등산", "저녁 식사"]},
    "style": "편한 캐주얼",
    "tier": "standard",
}
MANUAL_EXAMPLE = {
    "destination": "Jeju",
    "start_date": "2026-12-14",
    "end_date": "2026-12-15",
    "temperatures": [
        {"date": "2026-12-14", "temperature_max": 11, "temperature_min": 4},
        {"date": "2026-12-15", "temperature_max": 9, "temperature_min": 2},
    ],
}
TRIP_ANSWER = {
    "id": "5f0c2a9e-8d7b-4a51-9a0e-3c2b1d4e5f60",
    "url": "https://travelfit.example/api/v1/trips/5f0c2a9e-8d7b-4a51-9a0e-3c2b1d4e5f60",
    "page_url": "https://travelfit.example/trips/5f0c2a9e-8d7b-4a51-9a0e-3c2b1d4e5f60/",
    "destination": {
        "name": "제주시",
        "label": "제주시, 제주특별자치도, 대한민국",
        "place_id": 1846266,
        "latitude": 33.50972,
        "longitude": 126.52194,
        "country": "대한민국",
        "timezone": "Asia/Seoul",
    },
    "start_date": "2026-12-14",
    "end_date": "2026-12-14",
    "style": "편한 캐주얼",
    "tier": "standard",
    "planner": "rules",
    "status": "making",
    "source_image": None,
    "share_url": None,
    "created_at": "2026-12-07T15:00:00Z",
    "completed_at": None,
    "days": [
        {
            "date": "2026-12-14",
            "weather": {
                "temperature_max": 10.2,
                "temperature_min": 4.1,
                "precipitation_probability": 20,
                "wind_speed_max": 14.0,
                "weather_code": 3,
                "weather": "흐림",
                "source": "forecast",
            },
            "activities": ["sightseeing"],
            "outfit": {
                "top": {"id": "knit", "name": "니트"},
                "bottom": {"id": "jeans", "name": "청바지"},
                "outer": {"id": "trench_coat", "name": "트렌치코트"},
                "shoes": {"id": "sneakers", "name": "운동화"},
                "extras": [],
            },
            "generation": None,
        }
    ],
    "packing_list": [
        {"item": {"id": "knit", "name": "니트"}, "days": ["2026-12-14"], "packed": False}
    ],
    "attribution": {
        "text": "Weather data by Open-Meteo.com",
        "url": "https://open-meteo.com/",
        "licence": "https://creativecommons.org/licenses/by/4.0/",
    },
}


def _answer(status):
    """An operation's documented answer, with its example."""
    return {status: {"content": {"application/json": {"example": copy.deepcopy(TRIP_ANSWER)}}}}


BODY = {
    "type": "object",
    "required": ["destination", "start_date", "end_date"],
    "additionalProperties": False,
    "properties": {
        "destination": {"type": "string", "maxLength": 200, "description": "제주, 오사카, Paris"},
        "place_id": {
            "type": "integer",
            "description": "One of the `candidates` a 400 offered for an ambiguous name.",
        },
        "start_date": {"type": "string", "format": "date"},
        "end_date": {"type": "string", "format": "date"},
        "source_image": {
            "type": "string",
            "format": "uuid",
            "description": "An upload's id (POST /uploads): every day is an edit of this photo.",
        },
        "activities": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
            "description": "Per date, what is done (해변, 등산, 시내 구경, 저녁 식사…).",
        },
        "style": {"type": "string", "maxLength": 200},
        "tier": {"type": "string"},
        "temperatures": {
            "type": "array",
            "description": "The manual path: each day's expected °C, when the weather is off or "
            "down (a 400 `temperatures_needed` names the dates).",
            "items": {
                "type": "object",
                "required": ["date", "temperature_max", "temperature_min"],
                "properties": {
                    "date": {"type": "string", "format": "date"},
                    "temperature_max": {"type": "number"},
                    "temperature_min": {"type": "number"},
                },
            },
        },
        "callback_url": {"type": "string", "format": "uri"},
    },
}


def _date(value, field, errors):
    try:
        return datetime.date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        pass
    errors.setdefault(field, []).append(_("Send a date as YYYY-MM-DD."))
    return None


def _read(request, data):
    """The trip request's values, or the ApiError naming every field refused."""
    errors = {}
    for name in sorted(set(data) - FIELDS):
        errors[name] = [_("Unknown field: leave it out (field names are listed in the API docs).")]
    destination = data.get("destination")
    if not isinstance(destination, str) or not destination.strip():
        errors["destination"] = [_("Name the destination: 제주, 오사카, Paris…")]
    start = _date(data.get("start_date"), "start_date", errors)
    end = _date(data.get("end_date"), "end_date", errors)
    place_id = data.get("place_id")
    if place_id is not None and (not isinstance(place_id, int) or isinstance(place_id, bool)):
        errors["place_id"] = [_("Send one of the candidates' ids, a whole number.")]
    activities = {}
    raw = data.get("activities") or {}
    if not isinstance(raw, dict):
        errors["activities"] = [_('Send an object: {"2026-12-14": ["해변"]}.')]
    else:
        for key, words in raw.items():
            day = _date(key, "activities", errors)
            if day and isinstance(words, list) and all(isinstance(w, str) for w in words):
                activities[day] = words
            elif day:
                errors.setdefault("activities", []).append(_("Send a list of words per date."))
    temperatures = {}
    raw = data.get("temperatures") or []
    if not isinstance(raw, list):
        errors["temperatures"] = [_("Send a list of days with their temperatures.")]
    else:
        for entry in raw:
            entry = entry if isinstance(entry, dict) else {}
            day = _date(entry.get("date"), "temperatures", errors)
            high, low = entry.get("temperature_max"), entry.get("temperature_min")
            if day:
                temperatures[day] = (high, low)
    style = data.get("style") or ""
    if not isinstance(style, str) or len(style) > 200:
        errors["style"] = [_("Send at most %(limit)s characters.") % {"limit": 200}]
    tier = data.get("tier") or ""
    if not isinstance(tier, str):
        errors["tier"] = [_("Send a tier's name.")]
    photo = None
    if data.get("source_image") is not None:
        try:
            photo = Upload.objects.get(pk=uuid.UUID(str(data["source_image"])), owner=request.user)
        except (ValueError, Upload.DoesNotExist):
            errors["source_image"] = [_("There is no photo of yours with this id.")]
    callback_url = ""
    try:
        callback_url = webhooks.resolve_callback_url(
            api_token=request.api_token,
            callback_url=data.get("callback_url") or "",
            for_staff=request.user.is_staff,
        )
    except DjangoValidationError as exc:
        errors["callback_url"] = exc.messages
    if errors:
        raise invalid(errors)
    return (
        {
            "destination": destination,
            "place_id": place_id,
            "start_date": start,
            "end_date": end,
            "activities": activities,
            "style_note": style,
            "temperatures": temperatures,
        },
        photo,
        tier,
        callback_url,
    )


def _create(request):
    data = json_object(request)
    plan_args, photo, tier, callback_url = _read(request, data)
    try:
        draft = trips.plan_trip(**plan_args, language=request.LANGUAGE_CODE)
    except trips.PlaceChoice as choice:
        raise ApiError(
            400,
            "invalid",
            choice.message,
            fields={"destination": [choice.message]},
            candidates=[
                {"place_id": place.id, "name": place.name, "label": place.label}
                for place in choice.candidates
            ],
        ) from None
    except InvalidTripDates as exc:
        raise invalid({exc.field: [str(exc.message)]}) from None
    except trips.NeedTemperatures as need:
        raise ApiError(
            400,
            "temperatures_needed",
            str(need),
            fields={"temperatures": [str(need)]},
            dates=list(need.dates),
        ) from None
    except ValueError as exc:  # a typed temperature that is not one
        raise invalid({"temperatures": [str(exc)]}) from None
    try:
        trip = trips.create_trip(
            user=request.user,
            draft=draft,
            source_image=photo,
            tier=tier,
            origin=presenters.request_origin(request),
            callback_url=callback_url,
            api_token=request.api_token,
            language=request.LANGUAGE_CODE,
        )
    except services.SubmissionRefused as exc:
        raise refused(exc) from None
    location = request.build_absolute_uri(reverse("api:trip", args=[trip.pk]))
    return 201, trip_item(trip, request), {"Location": location}


@router.post(
    "",
    response={201: dict, **error_answers(400, 401, 403, 409, 415, 429, 503)},
    url_name="trips",
    summary="Make a trip lookbook",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": BODY,
                    "examples": {
                        "forecast": {"summary": "제주, three days", "value": EXAMPLE},
                        "manual": {"summary": "Temperatures typed", "value": MANUAL_EXAMPLE},
                    },
                }
            },
        },
        "parameters": [IDEMPOTENCY_KEY],
        "responses": _answer(201),
    },
)
def create_trip(request):
    """Plan a trip (the destination's weather for every day, an outfit per day from the
    temperature bands) and make one picture per day, as one batch: all charged, or none (429).
    An ambiguous destination is a 400 with `candidates` (send one's `place_id`); when the
    weather cannot be had, a 400 `temperatures_needed` names the `dates` to send
    `temperatures` for. With an `Idempotency-Key`, a retry is not charged twice."""
    return idempotent(request, lambda: _create(request))


@router.get(
    "",
    response={200: dict, **error_answers(401, 429)},
    summary="List your trips",
    openapi_extra={
        "responses": {
            200: {"content": {"application/json": {"example": {"results": [TRIP_ANSWER]}}}}
        }
    },
)
def list_trips(request):
    """Your trips, newest first (the latest 50)."""
    return {"results": [trip_item(trip, request) for trip in _own(request)[:50]]}


def _own(request):
    return Trip.objects.filter(owner=request.user).select_related("source_image")


@router.get(
    "/{uuid:trip_id}",
    response={200: dict, **error_answers(401, 404, 429)},
    url_name="trip",
    summary="Get one trip",
    openapi_extra={"responses": _answer(200)},
)
def get_trip(request, trip_id: uuid.UUID):
    """Its days (`weather`, `outfit`, `generation` with its live status), the packing list."""
    return trip_item(get_object_or_404(_own(request), pk=trip_id), request)


@router.post(
    "/{uuid:trip_id}/days/{date}/redo",
    response={201: dict, **error_answers(400, 401, 403, 404, 409, 429, 503)},
    url_name="trip_day_redo",
    summary="Make one day's picture again",
    openapi_extra={"parameters": [IDEMPOTENCY_KEY], "responses": _answer(201)},
)
def redo_day(request, trip_id: uuid.UUID, date: datetime.date):
    """A new picture for that day (charged like any); the trip is being made again."""
    trip = get_object_or_404(_own(request), pk=trip_id)
    get_object_or_404(TripDay, trip=trip, date=date)

    def answer():
        try:
            trips.redo_day(
                user=request.user,
                trip=trip,
                date=date,
                origin=presenters.request_origin(request),
                language=request.LANGUAGE_CODE,
            )
        except services.SubmissionRefused as exc:
            raise refused(exc) from None
        trip.refresh_from_db()
        return 201, trip_item(trip, request), {}

    return idempotent(request, answer)


@router.get(
    "/{uuid:trip_id}/sheet.jpg",
    response=error_answers(401, 404, 409, 429),
    url_name="trip_sheet",
    summary="Download the contact sheet",
    openapi_extra={
        "responses": {
            200: {
                "description": "The contact sheet, as an attachment.",
                "content": {CONTENT_TYPE: {"schema": {"type": "string", "format": "binary"}}},
            }
        }
    },
)
def sheet(request, trip_id: uuid.UUID):
    """One JPEG of the whole trip: a tile per day with its picture, date, weather (max/min,
    chance of rain) and outfit, in the request's language (`Accept-Language`), with the
    "AI-generated" label burnt in and signed content credentials. Days without a finished
    picture get an empty tile; 409 while no day has one."""
    trip = get_object_or_404(_own(request), pk=trip_id)
    try:
        made = trip_sheet.contact_sheet(trip, language=request.LANGUAGE_CODE)
    except trip_sheet.NoPictures:
        raise ApiError(
            409, "conflict", _("The contact sheet comes once a day's picture is finished.")
        ) from None
    response = HttpResponse(made.data, content_type=made.content_type)
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=made.filename
    )
    response["Cache-Control"] = PRIVATE_IMAGE_CACHE
    return response
