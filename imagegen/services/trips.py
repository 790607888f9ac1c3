"""Trip lookbooks (issue 31): plan a trip, make its pictures as one batch, redo a day, and say
so when the last picture ends.

- `plan_trip(...)` finds the place (candidates when the name is ambiguous: PlaceChoice), checks
  the dates (dates.InvalidTripDates), gets every day's weather in one request per endpoint
  (imagegen.trips.weather, cached), or takes the temperatures the traveller typed when the
  weather is off or down, or a day is missing (NeedTemperatures says which), and plans the
  outfits (imagegen.trips.planner). Nothing is stored or charged: a TripDraft to confirm.
- `price_text(days, tier)` is what the confirm step and the API say before anything is charged.
- `create_trip(...)` records the Trip and its TripDays and submits one generation per day
  through services.generations.submit_generation, all in one transaction: every day charged
  and queued, or none (QuotaExceeded then counts the whole trip). The fair queue
  (dispatch_waiting) hands them to the workers a few at a time, like any batch.
- `redo_day(...)` submits one day's picture again.
- `generation_ended(id)` (on signals.generation_ended, sent for every end state) marks a trip
  completed once none of its pictures is still being made, and queues its `trip.completed`
  webhook when the trip was asked for with a callback URL.
"""

from __future__ import annotations

import datetime
import json
import logging
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.dispatch import receiver
from django.utils import timezone, translation
from django.utils.translation import gettext, ngettext

from .. import metrics, signals
from ..models import Generation, Trip, TripDay, Upload, WebhookDelivery
from ..trip_presenters import day_plan, packing_list_of, trip_item
from ..trips import dates as trip_dates_module
from ..trips import places, planner, prompts, weather
from ..trips.conditions import DayWeather, manual_day
from ..trips.open_meteo import WeatherUnavailable
from ..trips.outfits import DayPlan, Outfit, packing_list
from ..trips.vocabulary import ACTIVITIES, Activity, find_activity, find_style
from .errors import QuotaExceeded
from .generations import submit_generation, tier_for_request

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

logger = logging.getLogger(__name__)

TRIP_COMPLETED = "trip.completed"
DELIVER_TRIP = "imagegen.tasks.deliver_trip_webhook"


class PlaceChoice(Exception):
    """The destination is ambiguous (`candidates` to offer) or unknown (no candidates)."""

    field = "destination"

    def __init__(self, query: str, candidates: Sequence[places.Place]):
        self.query = query
        self.candidates = tuple(candidates)
        if self.candidates:
            message = gettext("“%(name)s” is more than one place: choose one.") % {"name": query}
        else:
            message = gettext("No place called “%(name)s” was found; check the spelling.") % {
                "name": query
            }
        super().__init__(message)
        self.message = message


class NeedTemperatures(Exception):
    """The weather service could not say what these days will be like: ask the traveller.
    `known` holds the days it did answer, `dates` every day still to ask for."""

    field = "temperatures"

    def __init__(self, dates: Sequence[datetime.date], known: Sequence[DayWeather], reason: str):
        self.dates = tuple(dates)
        self.known = tuple(known)
        self.reason = reason
        super().__init__(
            gettext(
                "The weather for these days could not be found: type the expected highest "
                "and lowest temperatures."
            )
        )


@dataclass(frozen=True)
class TripDraft:
    """A planned trip, not yet stored or charged: what the confirm step shows."""

    place: places.Place
    place_en: str
    days: tuple[DayPlan, ...]
    planner: str
    style_note: str = ""
    weather_note: str = ""  # why some days are typed by hand, for operators
    packing: tuple = field(default=(), compare=False)

    @property
    def start_date(self):
        return self.days[0].date

    @property
    def end_date(self):
        return self.days[-1].date

    def as_data(self) -> dict:
        """JSON-ready, to keep the draft in the session between the plan and the confirm."""
        return {
            "place": self.place.as_dict(),
            "place_en": self.place_en,
            "planner": self.planner,
            "style_note": self.style_note,
            "days": [
                {
                    "weather": day.weather.as_dict(),
                    "activities": [activity.id for activity in day.activities],
                    "outfit": day.outfit.as_ids(),
                }
                for day in self.days
            ],
        }

    @classmethod
    def from_data(cls, data: Mapping) -> TripDraft:
        days = tuple(
            DayPlan(
                weather=DayWeather.from_dict(day["weather"]),
                activities=tuple(ACTIVITIES[id] for id in day["activities"] if id in ACTIVITIES),
                outfit=Outfit.from_ids(day["outfit"]),
            )
            for day in data["days"]
        )
        return cls(
            place=places.Place(**data["place"]),
            place_en=data["place_en"],
            days=days,
            planner=data["planner"],
            style_note=data.get("style_note", ""),
            packing=packing_list(days),
        )


def read_activities(
    entries: Mapping[datetime.date, Sequence[str]] | None,
) -> dict[datetime.date, tuple[Activity, ...]]:
    """Typed activities per day ("해변", "dinner") as the vocabulary's; unknown words dropped."""
    found = {}
    for date, words in (entries or {}).items():
        chosen = [find_activity(word) for word in words]
        found[date] = tuple(dict.fromkeys(activity for activity in chosen if activity))
    return found


def _count_lookups(lookups) -> None:
    for lookup in lookups:
        metrics.TRIP_WEATHER_LOOKUPS.labels(lookup.outcome).inc()


def find_place(destination: str, *, place_id: int | None = None, language: str = "ko"):
    """(Place, why it could not be looked up or ""): the chosen or only place a name matches,
    a place without coordinates (named as typed) when the service cannot be asked; PlaceChoice
    when the name is ambiguous or unknown."""
    name = " ".join(str(destination or "").split())
    try:
        if place_id:
            place = places.place_by_id(place_id, language=language)
            if place is None:
                raise PlaceChoice(name, ())
            return place, ""
        found = places.search_places(name, language=language)
    except WeatherUnavailable as exc:
        _count_lookups(exc.lookups)
        return places.Place(name=name[:200], language=language), exc.reason
    _count_lookups(found.lookups)
    if found.place is None:
        raise PlaceChoice(name, found.candidates)
    return found.place, ""


def plan_trip(
    *,
    destination: str,
    start_date: datetime.date,
    end_date: datetime.date,
    place_id: int | None = None,
    activities: Mapping[datetime.date, Sequence[str]] | None = None,
    style_note: str = "",
    temperatures: Mapping[datetime.date, tuple[float, float]] | None = None,
    language: str = "ko",
) -> TripDraft:
    """Plan a trip (see the module's docstring); raises PlaceChoice, InvalidTripDates,
    NeedTemperatures, or ValueError naming a typed temperature that is not one."""
    place, down = find_place(destination, place_id=place_id, language=language)
    days = trip_dates_module.trip_dates(start_date, end_date, today=place.today())
    temperatures = {date: pair for date, pair in (temperatures or {}).items() if date in days}
    typed = {date: manual_day(date, *pair) for date, pair in temperatures.items()}
    found: dict[datetime.date, DayWeather] = {}
    if len(typed) < len(days):
        try:
            answer = weather.trip_weather(place, [d for d in days if d not in typed])
        except WeatherUnavailable as exc:
            _count_lookups(exc.lookups)
            down = down or exc.reason
            found = {day.date: day for day in exc.known}
        else:
            _count_lookups(answer.lookups)
            found = {day.date: day for day in answer.days}
    found.update(typed)
    missing = [date for date in days if date not in found]
    if missing:
        known = [found[date] for date in days if date in found]
        raise NeedTemperatures(missing, known, down or "some days have no temperatures")
    plan = planner.plan_trip(
        [found[date] for date in days], read_activities(activities), style_note
    )
    metrics.TRIP_PLANS.labels(plan.planner).inc()
    return TripDraft(
        place=place,
        place_en=_english_name(place),
        days=plan.days,
        planner=plan.planner,
        style_note=str(style_note or "")[:200],
        weather_note=down,
        packing=plan.packing,
    )


def _english_name(place: places.Place) -> str:
    """The place's English name for the prompts (its own name when it cannot be had)."""
    if place.id is None or place.language == "en":
        return prompts.destination_words(place)
    try:
        english = places.place_by_id(place.id, language="en")
    except WeatherUnavailable:
        english = None
    return prompts.destination_words(english or place)


def price_text(days: int, tier: str = "") -> str:
    """ "3 days × 1 picture = 3 units": what a lookbook costs, before anything is charged."""
    chosen = tier_for_request(tier)
    return gettext("%(days)s × %(pictures)s = %(units)s") % {
        "days": ngettext("%(count)d day", "%(count)d days", days) % {"count": days},
        "pictures": ngettext("%(count)d picture", "%(count)d pictures", 1) % {"count": 1},
        "units": chosen.units_text(days),
    }


def _picture_size():
    """A text picture's size: portrait, as large as the provider allows up to 1024 px."""
    from ..models import Aspect
    from ..tiers import aspect_size, primary_provider

    return aspect_size(Aspect.PORTRAIT, primary_provider().capabilities)


def _submit_day(user, trip, plan: DayPlan, *, origin: str, language: str) -> Generation:
    place = places.Place(name=trip.destination_en or trip.destination_name)
    picture = prompts.day_picture(
        place,
        plan,
        with_photo=trip.source_image_id is not None,
        style=find_style(trip.style_note),
    )
    width, height = _picture_size()
    return submit_generation(
        user=user,
        prompt=picture.prompt,
        negative_prompt=picture.negative_prompt,
        width=width,
        height=height,
        task=picture.task,
        source_image=trip.source_image,
        tier=trip.tier,
        translate_prompt=False,  # the prompt is English already
        origin=origin,
        language=language,
        api_token=trip.api_token,
    )


def create_trip(
    *,
    user: AbstractBaseUser,
    draft: TripDraft,
    source_image: Upload | None = None,
    tier: str = "",
    origin: str = "",
    callback_url: str = "",
    api_token=None,
    language: str = "",
) -> Trip:
    """Store the trip and submit every day's picture as one batch (the module's docstring)."""
    chosen = tier_for_request(tier)
    language = language or translation.get_language() or settings.LANGUAGE_CODE
    place = draft.place
    with transaction.atomic():
        trip = Trip.objects.create(
            owner=user,
            destination_name=place.name[:200],
            destination_label=place.label[:300],
            destination_en=draft.place_en[:200],
            place_id=place.id,
            latitude=place.latitude,
            longitude=place.longitude,
            country=place.country[:100],
            country_code=place.country_code[:2],
            time_zone=place.timezone[:64],
            start_date=draft.start_date,
            end_date=draft.end_date,
            style_note=draft.style_note,
            tier=chosen.name,
            planner=draft.planner,
            source_image=source_image,
            callback_url=callback_url,
            api_token=api_token,
            language=language,
        )
        for number, plan in enumerate(draft.days):
            try:
                generation = _submit_day(user, trip, plan, origin=origin, language=language)
            except QuotaExceeded as refused:
                # The days before this one were charged in this transaction, which rolls back:
                # say what the whole trip needs, and what is left once they are given back.
                left = refused.left + number * chosen.units
                raise QuotaExceeded(
                    period=refused.period,
                    limit=refused.limit,
                    resets_at=refused.resets_at,
                    asked=len(draft.days) * chosen.units,
                    left=left,
                    fits=left // chosen.units,
                ) from None
            _store_day(trip, plan, generation)
    logger.info("trip %s of user %s: %d days queued", trip.pk, user.pk, len(draft.days))
    return trip


def _store_day(trip, plan: DayPlan, generation) -> TripDay:
    weather_day = plan.weather
    outfit = plan.outfit.as_ids()
    return TripDay.objects.create(
        trip=trip,
        date=plan.date,
        temperature_max=weather_day.temperature_max,
        temperature_min=weather_day.temperature_min,
        precipitation_probability=weather_day.precipitation_probability,
        wind_speed_max=weather_day.wind_speed_max,
        weather_code=weather_day.weather_code,
        weather_source=weather_day.source,
        years=weather_day.years,
        top=outfit["top"],
        bottom=outfit["bottom"],
        outer=outfit["outer"] or "",
        shoes=outfit["shoes"],
        extras=outfit["extras"],
        activities=[activity.id for activity in plan.activities],
        generation=generation,
    )


def trip_packing(trip: Trip):
    """The trip's packing list (each garment once, with its days), from its stored days."""
    return packing_list_of(trip.days.all())


def redo_day(
    *, user: AbstractBaseUser, trip: Trip, date: datetime.date, origin: str = "", language=""
) -> TripDay:
    """Make one day's picture again (a new generation, charged like any); TripDay.DoesNotExist
    for a date that is not one of the trip's."""
    language = language or translation.get_language() or settings.LANGUAGE_CODE
    with transaction.atomic():
        day = TripDay.objects.select_for_update().get(trip=trip, trip__owner=user, date=date)
        day.generation = _submit_day(user, trip, day_plan(day), origin=origin, language=language)
        day.save(update_fields=["generation"])
        Trip.objects.filter(pk=trip.pk).update(status=Trip.Status.MAKING, completed_at=None)
    return day


def set_packed(*, trip: Trip, garment_ids: Sequence[str]) -> list[str]:
    """Keep the packing list's ticks: only garments the trip's list has."""
    listed = {item.garment.id for item in trip_packing(trip)}
    packed = [garment for garment in dict.fromkeys(garment_ids) if garment in listed]
    Trip.objects.filter(pk=trip.pk).update(packed=packed)
    return packed


def share_trip(*, trip: Trip) -> str:
    """The trip's share token, made on first share. Each finished picture is shared with it
    under its own token, so the image share's rules hold for each: a viewer reports a picture
    on its page, and a picture whose reports suspended it, or held for review, is not shown."""
    from .sharing import share_generation

    if not trip.share_token:
        Trip.objects.filter(pk=trip.pk, share_token__isnull=True).update(
            share_token=secrets.token_urlsafe(24)
        )
        trip.refresh_from_db(fields=["share_token"])
    for day in trip.days.exclude(generation=None):
        share_generation(generation_id=day.generation_id, user=trip.owner)
    return trip.share_token


def unshare_trip(*, trip: Trip) -> None:
    """The trip's link off, and its pictures' links with it."""
    from .sharing import revoke_share

    Trip.objects.filter(pk=trip.pk).update(share_token=None)
    for day in trip.days.exclude(generation=None):
        revoke_share(generation_id=day.generation_id, user=trip.owner)


# --- The end of a trip's pictures ---------------------------------------------------------------


@receiver(signals.generation_ended)
def _on_generation_ended(sender, *, generation_id, **kwargs):
    generation_ended(generation_id)


def generation_ended(generation_id) -> None:
    """Called wherever a generation reaches an end state (inside that transaction): a trip
    none of whose pictures is still being made is completed, once, and its webhook queued."""
    trip_ids = list(
        TripDay.objects.filter(generation_id=generation_id).values_list("trip_id", flat=True)
    )
    for trip_id in trip_ids:
        _share_if_trip_shared(trip_id, generation_id)
        unfinished = TripDay.objects.filter(
            trip_id=trip_id, generation__status__in=Generation.ACTIVE
        ).exists()
        if unfinished:
            continue
        completed = Trip.objects.filter(pk=trip_id, status=Trip.Status.MAKING).update(
            status=Trip.Status.COMPLETED, completed_at=timezone.now()
        )
        if completed and Trip.objects.filter(pk=trip_id).exclude(callback_url="").exists():
            transaction.on_commit(partial(enqueue_trip_delivery, trip_id, 1))


def _share_if_trip_shared(trip_id, generation_id):
    """A picture that finishes after its lookbook was shared joins the shared lookbook."""
    from .sharing import share_generation

    trip = Trip.objects.filter(pk=trip_id).exclude(share_token=None).select_related("owner")
    for shared in trip:
        share_generation(generation_id=generation_id, user=shared.owner)


def enqueue_trip_delivery(trip_id, attempt):
    from django_q.tasks import async_task

    async_task(DELIVER_TRIP, str(trip_id), attempt, task_name=f"trip-webhook-{trip_id}-{attempt}")


def trip_event_body(trip: Trip) -> bytes:
    """`{"type": "trip.completed", "timestamp", "data": <the trip as the API shows it>}`."""
    with translation.override(trip.language or "en"):
        data = trip_item(trip)
    event = {"type": TRIP_COMPLETED, "timestamp": trip.completed_at, "data": data}
    return json.dumps(
        event, cls=DjangoJSONEncoder, separators=(",", ":"), ensure_ascii=False
    ).encode()


def deliver_trip(trip_id, attempt=1):
    """One attempt at a trip's `trip.completed` webhook, signed and sent as a generation's
    (imagegen.webhooks: the same URL policy, headers and backoff); recorded as a
    WebhookDelivery of its last day's picture, with the event type trip.completed."""
    from .. import webhooks

    trip = Trip.objects.select_related("api_token").filter(pk=trip_id).first()
    if trip is None or not trip.callback_url or trip.status != Trip.Status.COMPLETED:
        return None
    last = trip.days.exclude(generation=None).order_by("-date").first()
    if last is None:
        return None
    event_id = f"msg_trip_{trip.pk.hex}"  # letters, digits and _ only, as the specification asks
    try:
        with transaction.atomic():
            delivery = WebhookDelivery.objects.create(
                generation_id=last.generation_id,
                url=trip.callback_url,
                event_id=event_id,
                event_type=TRIP_COMPLETED,
                attempt=attempt,
            )
    except IntegrityError:
        return None
    token = trip.api_token
    if token is None or not token.webhook_secret:
        return webhooks.finish_delivery(
            delivery,
            outcome=WebhookDelivery.Outcome.GAVE_UP,
            error="The API key it was submitted with was revoked: nothing can sign the call.",
        )
    body = trip_event_body(trip)
    timestamp = int(time.time())
    headers = {
        "webhook-id": event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": webhooks.sign(
            secret=token.webhook_secret, event_id=event_id, timestamp=timestamp, body=body
        ),
        "content-type": "application/json",
        "content-language": trip.language or "en",
        "user-agent": webhooks.USER_AGENT,
    }
    try:
        status, excerpt, retry_after = webhooks.post_event(trip.callback_url, body, headers)
    except Exception as exc:  # a refused URL, a network error: tried again by the backoff
        status, excerpt, retry_after = None, "", None
        delivery.error = webhooks.redact(f"{type(exc).__name__}: {exc}")[:500]
    delivery.status_code = status
    delivery.response_excerpt = excerpt
    if status is not None and 200 <= status < 300:
        return webhooks.finish_delivery(delivery, outcome=WebhookDelivery.Outcome.DELIVERED)
    if status == 410 or attempt > len(webhooks.BACKOFF):
        return webhooks.finish_delivery(delivery, outcome=WebhookDelivery.Outcome.GAVE_UP)
    wait = max(webhooks.BACKOFF[attempt - 1], retry_after or 0)
    next_at = timezone.now() + datetime.timedelta(seconds=wait)
    delivery.error = delivery.error or f"HTTP {status}"
    return webhooks.schedule_next_attempt(
        delivery, func=DELIVER_TRIP, subject_id=trip.pk, at=next_at
    )
