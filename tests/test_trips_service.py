"""The trip lookbook's service (imagegen.services.trips): planning against the Open-Meteo
stand-in (tests/fakes/open_meteo.py), the manual path, one batch against the quota, a day
redone, the trip completed once its last picture ends (and its webhook), the metrics."""

import datetime

import pytest
from prometheus_client import REGISTRY

from imagegen import services
from imagegen.models import Generation, Quota, Trip, Upload
from imagegen.services import trips
from imagegen.trips import dates as trip_dates
from imagegen.trips import weather
from tests import photos
from tests.conftest import run_queued_generations
from tests.fakes.open_meteo import start_open_meteo

JEJU_CITY = 1846266


@pytest.fixture(autouse=True)
def own_media_folder(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def open_meteo_server(settings, db):
    server = start_open_meteo()
    for name, value in server.settings().items():
        setattr(settings, name, value)
    settings.TRIP_WEATHER = "open_meteo"
    settings.OPEN_METEO_API_KEY = ""
    yield server
    weather.forget_outages()
    server.stop()


def next_week(days=3):
    start = datetime.date.today() + datetime.timedelta(days=7)
    return start, start + datetime.timedelta(days=days - 1)


def counted(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0


def hot_days(server, start, count):
    for offset in range(count):
        server.days[start + datetime.timedelta(days=offset)] = {
            "temperature_2m_max": 30.0 + offset,
            "temperature_2m_min": 24.0,
            "precipitation_probability_max": 10,
            "wind_speed_10m_max": 8.0,
            "weather_code": 0,
        }


def test_an_ambiguous_destination_offers_its_places(open_meteo_server):
    start, end = next_week()
    with pytest.raises(trips.PlaceChoice) as refused:
        trips.plan_trip(destination="제주", start_date=start, end_date=end)
    assert {place.id for place in refused.value.candidates} == {1846265, JEJU_CITY}


def test_a_chosen_place_plans_every_day_from_one_forecast_request(open_meteo_server):
    start, end = next_week()
    hot_days(open_meteo_server, start, 3)
    before = counted("travelfit_trip_weather_lookups_total", outcome="fetched")
    plans = counted("travelfit_trip_plans_total", planner="rules")

    draft = trips.plan_trip(
        destination="제주",
        place_id=JEJU_CITY,
        start_date=start,
        end_date=end,
        activities={start: ["해변"]},
    )

    assert open_meteo_server.count("forecast") == 1
    assert [day.weather.temperature_max for day in draft.days] == [30.0, 31.0, 32.0]
    assert {day.weather.source for day in draft.days} == {"forecast"}
    # 28 °C and more: the hottest band's sleeveless top and shorts.
    assert {day.outfit.top.id for day in draft.days} == {"sleeveless"}
    assert draft.days[0].outfit.shoes.id == "sandals"
    assert draft.place_en == "Jeju City, South Korea"
    assert counted("travelfit_trip_weather_lookups_total", outcome="fetched") > before
    assert counted("travelfit_trip_plans_total", planner="rules") == plans + 1


def test_weather_down_asks_for_the_temperatures_then_plans_with_them(open_meteo_server):
    start, end = next_week(2)
    open_meteo_server.behaviour["forecast"] = "503"
    with pytest.raises(trips.NeedTemperatures) as asked:
        trips.plan_trip(destination="제주", place_id=JEJU_CITY, start_date=start, end_date=end)
    assert asked.value.dates == (start, end)

    draft = trips.plan_trip(
        destination="제주",
        place_id=JEJU_CITY,
        start_date=start,
        end_date=end,
        temperatures={start: (3, -2), end: (15, 9)},
    )
    assert [day.weather.source for day in draft.days] == ["manual", "manual"]
    assert [day.outfit.outer.id for day in draft.days] == ["padded_jacket", "trench_coat"]


def test_weather_off_plans_a_place_it_cannot_look_up_from_typed_temperatures(settings, db):
    settings.TRIP_WEATHER = "off"
    start, end = next_week(1)
    draft = trips.plan_trip(
        destination="제주", start_date=start, end_date=end, temperatures={start: (25, 19)}
    )
    assert (draft.place.name, draft.place_en) == ("제주", "제주")
    assert draft.days[0].outfit.top.id == "t_shirt"


def test_dates_are_checked_naming_the_field(settings, db):
    settings.TRIP_WEATHER = "off"
    start = datetime.date.today() + datetime.timedelta(days=1)
    with pytest.raises(trip_dates.InvalidTripDates) as refused:
        trips.plan_trip(
            destination="x",
            start_date=start,
            end_date=start + datetime.timedelta(days=settings.TRIP_MAX_DAYS),
        )
    assert refused.value.field == "end_date"


def manual_draft(settings, days=3):
    settings.TRIP_WEATHER = "off"
    start, end = next_week(days)
    temperatures = {start + datetime.timedelta(days=n): (20, 12) for n in range(days)}
    return trips.plan_trip(
        destination="제주", start_date=start, end_date=end, temperatures=temperatures
    )


def test_a_trip_is_one_batch_charged_together_and_completed_when_its_pictures_end(settings, user):
    draft = manual_draft(settings)
    photo = services.store_upload(user=user, data=photos.jpeg_with_gps(320, 240))

    trip = trips.create_trip(user=user, draft=draft, source_image=photo)

    days = list(trip.days.select_related("generation"))
    assert len(days) == 3 and Quota.objects.get(user=user).day_used == 3
    assert {day.generation.task for day in days} == {"edit"}
    assert all(day.generation.source_image_id == photo.pk for day in days)
    assert "Jeju" in days[0].generation.prompt or "제주" in days[0].generation.prompt
    assert Upload.objects.get(pk=photo.pk).used_at is not None
    run_queued_generations()
    trip.refresh_from_db()
    assert trip.status == Trip.Status.COMPLETED and trip.completed_at is not None
    assert set(Generation.objects.values_list("status", flat=True)) == {"succeeded"}


def test_a_trip_the_quota_cannot_pay_for_charges_nothing(settings, user):
    draft = manual_draft(settings)
    services.quota_for(user)
    Quota.objects.filter(user=user).update(daily_limit=2)

    with pytest.raises(services.QuotaExceeded) as refused:
        trips.create_trip(user=user, draft=draft)

    assert (refused.value.asked, refused.value.left, refused.value.fits) == (3, 2, 2)
    assert Trip.objects.count() == 0 and Generation.objects.count() == 0
    assert Quota.objects.get(user=user).used_today(datetime.date.today()) == 0


def test_a_day_redone_is_a_new_picture_and_the_trip_is_being_made_again(settings, user):
    trip = trips.create_trip(user=user, draft=manual_draft(settings, 2))
    run_queued_generations()
    first = trip.days.get(date=trip.start_date).generation_id

    day = trips.redo_day(user=user, trip=trip, date=trip.start_date)

    assert day.generation_id != first and day.generation.task == "text"
    trip.refresh_from_db()
    assert trip.status == Trip.Status.MAKING
    run_queued_generations()
    trip.refresh_from_db()
    assert trip.status == Trip.Status.COMPLETED


def test_the_price_is_said_before_anything_is_charged(db):
    assert trips.price_text(3) == "3 days × 1 picture = 3 units"


def test_the_open_meteo_key_is_redacted(settings):
    from lib.redaction import redact

    settings.OPEN_METEO_API_KEY = "om-commercial-key-123456"
    assert "om-commercial-key-123456" not in redact("apikey=om-commercial-key-123456")


def test_a_trip_webhook_answered_500_is_scheduled_again_with_the_next_attempt(
    settings, user, django_capture_on_commit_callbacks
):
    from django_q.models import Schedule

    from imagegen.models import WebhookDelivery
    from tests.conftest import run_queued_tasks
    from tests.fakes.webhook_receiver import start_receiver

    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    receiver = start_receiver()
    receiver.answers = [(500, b"down", {})]
    try:
        token = services.create_api_token(user=user, name="trips")[0]
        trip = trips.create_trip(
            user=user, draft=manual_draft(settings, 1), callback_url=receiver.url(), api_token=token
        )
        with django_capture_on_commit_callbacks(execute=True):
            run_queued_generations()
        run_queued_tasks()
        first = WebhookDelivery.objects.get(event_type="trip.completed")
        assert (first.outcome, first.status_code, first.error) == ("retrying", 500, "HTTP 500")
        assert first.next_attempt_at is not None
        again = Schedule.objects.get(func=trips.DELIVER_TRIP)
        assert (again.schedule_type, again.next_run) == (Schedule.ONCE, first.next_attempt_at)
        assert again.args == repr((str(trip.pk), 2))
    finally:
        receiver.stop()


def test_a_completed_trip_calls_its_callback_once_with_the_trip_signed(
    settings, user, django_capture_on_commit_callbacks
):
    import json

    from imagegen import webhooks
    from imagegen.models import WebhookDelivery
    from tests.conftest import run_queued_tasks
    from tests.fakes.webhook_receiver import start_receiver

    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    receiver = start_receiver()
    try:
        token = services.create_api_token(user=user, name="trips")[0]
        trip = trips.create_trip(
            user=user,
            draft=manual_draft(settings, 2),
            callback_url=receiver.url(),
            api_token=token,
            language="ko",
        )
        with django_capture_on_commit_callbacks(execute=True):
            run_queued_generations()
        run_queued_tasks()
        events = [json.loads(request.body) for request in receiver.received]
        assert [event["type"] for event in events] == ["trip.completed"]
        assert events[0]["data"]["id"] == str(trip.pk)
        assert len(events[0]["data"]["days"]) == 2
        headers = receiver.received[0].headers
        assert headers["webhook-signature"] == webhooks.sign(
            secret=token.webhook_secret,
            event_id=headers["webhook-id"],
            timestamp=int(headers["webhook-timestamp"]),
            body=receiver.received[0].body,
        )
        assert WebhookDelivery.objects.get(event_type="trip.completed").outcome == "delivered"
    finally:
        receiver.stop()
