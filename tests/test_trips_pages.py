"""The trip lookbook's pages and API v1 (imagegen.trip_views, imagegen.trips_api), against the
Open-Meteo stand-in and the demo provider."""

import datetime
import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from imagegen.models import Generation, Quota, Trip
from imagegen.trip_presenters import day_label as trip_day_label
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
    yield server
    weather.forget_outages()
    server.stop()


def next_week(days=3):
    start = datetime.date.today() + datetime.timedelta(days=7)
    return start, start + datetime.timedelta(days=days - 1)


def set_days(server, start, highs):
    for offset, high in enumerate(highs):
        server.days[start + datetime.timedelta(days=offset)] = {
            "temperature_2m_max": high,
            "temperature_2m_min": high - 6,
            "precipitation_probability_max": 70 if offset == 1 else 0,
            "wind_speed_10m_max": 5.0,
            "weather_code": 61 if offset == 1 else 0,
        }


def test_the_form_offers_candidates_then_confirms_with_the_price_then_makes_the_lookbook(
    open_meteo_server, user_client, user
):
    start, end = next_week()
    set_days(open_meteo_server, start, [25.0, 18.0, 14.0])
    form = {"destination": "제주", "start_date": start, "end_date": end}
    page = user_client.post(reverse("imagegen:trip_new"), form, HTTP_ACCEPT_LANGUAGE="ko")
    assert page.status_code == 200
    assert "제주시, 제주특별자치도, 대한민국" in page.content.decode()

    photo = SimpleUploadedFile("me.jpg", photos.jpeg_with_gps(), content_type="image/jpeg")
    sent = {
        **form,
        "place_id": JEJU_CITY,
        "photo": photo,
        "consent": "on",
        "activities": "해변\n\n저녁 식사",
    }
    answer = user_client.post(reverse("imagegen:trip_new"), sent, HTTP_ACCEPT_LANGUAGE="ko")
    assert answer.status_code == 302, answer.content.decode()[:2000]
    confirm = user_client.get(answer["Location"]).content.decode()
    assert "3 days × 1 picture = 3 units" in confirm
    assert "Open-Meteo" in confirm and Trip.objects.count() == 0

    made = user_client.post(reverse("imagegen:trip_confirm"))
    trip = Trip.objects.get()
    assert made["Location"] == reverse("imagegen:trip", args=[trip.pk])
    assert Quota.objects.get(user=user).day_used == 3
    run_queued_generations()
    page = user_client.get(made["Location"], HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert page.count('data-role="day"') == 3 and "Open-Meteo" in page
    # Each day's card says what its picture shows in Korean (place, day, outfit), in its text
    # and its alt text; the planner's English prompt stays the model's.
    place = trip.destination_name
    # Each day's weather drawn (clear, then rain as set above), not as an emoji a phone or a
    # desktop without an emoji font shows as an empty box.
    icons = re.findall(r'<svg class="weather-icon"[^>]*data-icon="([a-z_]+)"', page)
    assert icons == ["clear", "rain", "clear"]
    assert not set("☀⛅☁🌫🌦🌧❄⛈🌡") & set(page)  # the emoji these were
    for day in trip.days.select_related("generation"):
        assert day.generation.prompt[:30] not in page
        assert f'alt="AI 생성: {place}, {trip_day_label(day.date)}: ' in page
    assert trip.days.get(date=start).activities == ["beach"]
    assert trip.days.get(date=end).activities == ["dinner"]


def test_a_photo_without_consent_is_refused(open_meteo_server, user_client):
    start, end = next_week(1)
    photo = SimpleUploadedFile("me.jpg", photos.jpeg_with_gps(), content_type="image/jpeg")
    page = user_client.post(
        reverse("imagegen:trip_new"),
        {
            "destination": "제주",
            "place_id": JEJU_CITY,
            "start_date": start,
            "end_date": end,
            "photo": photo,
        },
    )
    assert page.status_code == 200 and "permission" in page.content.decode()


def test_weather_down_asks_for_temperatures_on_the_page(open_meteo_server, user_client):
    open_meteo_server.behaviour["forecast"] = "hangup"
    start, end = next_week(2)
    form = {"destination": "제주", "place_id": JEJU_CITY, "start_date": start, "end_date": end}
    page = user_client.post(reverse("imagegen:trip_new"), form).content.decode()
    assert f'name="t_max_{start.isoformat()}"' in page
    typed = {
        **form,
        f"t_max_{start.isoformat()}": "5",
        f"t_min_{start.isoformat()}": "0",
        f"t_max_{end.isoformat()}": "6",
        f"t_min_{end.isoformat()}": "1",
    }
    answer = user_client.post(reverse("imagegen:trip_new"), typed)
    assert answer.status_code == 302
    confirm = user_client.get(answer["Location"]).content.decode()
    assert "Typed by you" in confirm and "Open-Meteo" not in confirm


def make_trip(api, days=2, **extra):
    start, end = next_week(days)
    body = {
        "destination": "제주",
        "start_date": start.isoformat(),
        "end_date": end.isoformat(),
        "temperatures": [
            {
                "date": (start + datetime.timedelta(days=n)).isoformat(),
                "temperature_max": 29,
                "temperature_min": 22,
            }
            for n in range(days)
        ],
        **extra,
    }
    return api.post(reverse("api:trips"), json.dumps(body), content_type="application/json")


def test_the_api_makes_lists_and_shows_a_trip_with_days_and_packing_list(settings, api):
    settings.TRIP_WEATHER = "off"
    made = make_trip(api)
    assert made.status_code == 201, made.content
    trip = made.json()
    assert made["Location"].endswith(reverse("api:trip", args=[trip["id"]]))
    day = trip["days"][0]
    assert day["weather"]["source"] == "manual" and day["weather"]["temperature_max"] == 29
    assert day["outfit"]["top"]["id"] == "sleeveless"
    assert day["generation"]["status"] == "queued"
    assert {"item", "days"} <= set(trip["packing_list"][0])
    run_queued_generations()
    again = api.get(reverse("api:trip", args=[trip["id"]])).json()
    assert again["status"] == "completed"
    assert {d["generation"]["status"] for d in again["days"]} == {"succeeded"}
    listed = api.get(reverse("api:trips")).json()["results"]
    assert [item["id"] for item in listed] == [trip["id"]]

    redo = api.post(
        reverse("api:trip_day_redo", args=[trip["id"], trip["days"][1]["date"]]),
        content_type="application/json",
    )
    assert redo.status_code == 201 and redo.json()["status"] == "making"


def test_the_api_names_the_field_and_offers_candidates(open_meteo_server, api):
    start, end = next_week()
    body = {"destination": "제주", "start_date": start.isoformat(), "end_date": end.isoformat()}
    answer = api.post(reverse("api:trips"), json.dumps(body), content_type="application/json")
    assert answer.status_code == 400
    assert {c["place_id"] for c in answer.json()["error"]["candidates"]} == {1846265, JEJU_CITY}
    body.update(place_id=JEJU_CITY, end_date=(start - datetime.timedelta(days=1)).isoformat())
    answer = api.post(reverse("api:trips"), json.dumps(body), content_type="application/json")
    assert answer.status_code == 400 and "end_date" in answer.json()["error"]["fields"]


def test_the_api_asks_for_temperatures_when_the_weather_is_off(settings, api):
    settings.TRIP_WEATHER = "off"
    start, end = next_week(1)
    body = {"destination": "제주", "start_date": start.isoformat(), "end_date": end.isoformat()}
    answer = api.post(reverse("api:trips"), json.dumps(body), content_type="application/json")
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "temperatures_needed"
    assert answer.json()["error"]["dates"] == [start.isoformat()]


def test_the_api_charges_a_trip_once_per_idempotency_key(settings, api, user):
    settings.TRIP_WEATHER = "off"
    start, end = next_week(2)
    body = json.dumps(
        {
            "destination": "제주",
            "start_date": start.isoformat(),
            "end_date": end.isoformat(),
            "temperatures": [
                {"date": start.isoformat(), "temperature_max": 10, "temperature_min": 3},
                {"date": end.isoformat(), "temperature_max": 10, "temperature_min": 3},
            ],
        }
    )
    for _ in range(2):
        answer = api.post(
            reverse("api:trips"),
            body,
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY="trip-1",
        )
        assert answer.status_code == 201
    assert Trip.objects.count() == 1 and Generation.objects.count() == 2
    assert Quota.objects.get(user=user).day_used == 2


def test_the_trips_are_in_the_openapi_schema(client, db):
    schema = client.get("/api/v1/openapi.json").json()
    post = schema["paths"]["/api/v1/trips"]["post"]
    examples = post["requestBody"]["content"]["application/json"]["examples"]
    assert examples["forecast"]["value"]["destination"] == "제주"
    assert "/api/v1/trips/{trip_id}" in schema["paths"]


def test_a_shared_lookbook_shows_finished_pictures_only_until_the_link_is_off(
    settings, user_client, user, client
):
    settings.TRIP_WEATHER = "off"
    from imagegen.services import trips as trip_service

    start, end = next_week(2)
    draft = trip_service.plan_trip(
        destination="제주",
        start_date=start,
        end_date=end,
        temperatures={start: (20, 12), end: (20, 12)},
    )
    trip = trip_service.create_trip(user=user, draft=draft)
    user_client.post(reverse("imagegen:trip_share", args=[trip.pk]))
    trip.refresh_from_db()
    shared = reverse("imagegen:trip_shared", args=[trip.share_token])
    assert client.get(shared).content.decode().count("<img") == 0
    run_queued_generations()  # finished after the share: they join it
    page = client.get(shared)
    assert page.content.decode().count("<img") == 2
    # Their alt texts name the place, the day and the outfit, not the planner's English prompt.
    alts = re.findall(r'<img [^>]*alt="([^"]*)"', page.content.decode())
    prompts = [day.generation.prompt for day in trip.days.select_related("generation")]
    assert len(alts) == 2 and all("제주, " in alt for alt in alts)
    assert not any(prompt[:30] in alt for prompt in prompts for alt in alts)
    assert page["Referrer-Policy"] == "same-origin"
    day = trip.days.first()
    Generation.objects.filter(pk=day.generation_id).update(share_suspended_at=day.trip.created_at)
    assert client.get(shared).content.decode().count("<img") == 1
    user_client.post(reverse("imagegen:trip_share", args=[trip.pk]), {"off": "1"})
    assert client.get(shared).status_code == 404


def test_packing_ticks_are_kept(settings, user_client, user):
    settings.TRIP_WEATHER = "off"
    from imagegen.services import trips as trip_service

    start, end = next_week(1)
    draft = trip_service.plan_trip(
        destination="제주", start_date=start, end_date=end, temperatures={start: (2, -4)}
    )
    trip = trip_service.create_trip(user=user, draft=draft)
    user_client.post(
        reverse("imagegen:trip_packing", args=[trip.pk]), {"packed": ["padded_jacket", "bogus"]}
    )
    trip.refresh_from_db()
    assert trip.packed == ["padded_jacket"]
    page = user_client.get(reverse("imagegen:trip", args=[trip.pk])).content.decode()
    assert 'value="padded_jacket" checked' in page


def test_the_ops_page_counts_lookbooks(settings, admin_client, admin_user):
    settings.TRIP_WEATHER = "off"
    from imagegen.services import trips as trip_service

    start, end = next_week(1)
    draft = trip_service.plan_trip(
        destination="제주", start_date=start, end_date=end, temperatures={start: (20, 12)}
    )
    trip_service.create_trip(user=admin_user, draft=draft)
    page = admin_client.get(reverse("imagegen:ops")).content.decode()
    assert '<strong data-role="lookbooks">1</strong>' in page


def test_the_admin_lists_trips_read_only(settings, admin_client, admin_user):
    settings.TRIP_WEATHER = "off"
    from imagegen.services import trips as trip_service

    start, end = next_week(1)
    draft = trip_service.plan_trip(
        destination="오사카", start_date=start, end_date=end, temperatures={start: (20, 12)}
    )
    trip = trip_service.create_trip(user=admin_user, draft=draft)
    listing = admin_client.get(reverse("admin:imagegen_trip_changelist"))
    assert listing.status_code == 200 and "오사카" in listing.content.decode()
    one = admin_client.get(reverse("admin:imagegen_trip_change", args=[trip.pk]))
    assert one.status_code == 200 and trip.share_token is None
    assert admin_client.get(reverse("admin:imagegen_trip_add")).status_code == 403


def test_every_kind_of_weather_has_its_own_drawing():
    from django.template.loader import render_to_string

    from imagegen.trips import conditions

    kinds = {kind.id for kind in conditions._KINDS.values()} | {"unknown"}
    drawings = {
        kind: render_to_string("imagegen/trips/_weather_icon.html", {"icon": kind})
        for kind in kinds
    }
    assert len(set(drawings.values())) == len(kinds) == 9
    for kind, svg in drawings.items():
        assert f'data-icon="{kind}"' in svg and 'aria-hidden="true"' in svg and "<path" in svg
