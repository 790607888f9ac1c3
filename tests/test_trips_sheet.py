"""The lookbook's contact sheet (imagegen.services.trip_sheet, imagegen.trips.sheet): one
labelled, signed JPEG of the whole trip, from the page and from API v1."""

import datetime
import io
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse
from PIL import Image, ImageDraw, ImageFont

from imagegen import services
from imagegen.marks import credentials, label
from imagegen.models import Generation
from imagegen.services import trips
from imagegen.trips import sheet
from tests.conftest import run_queued_generations

COLOURS = [(200, 30, 30), (30, 160, 60)]


@pytest.fixture(autouse=True)
def own_media_folder(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.TRIP_WEATHER = "off"


def three_day_trip(user, *, finished=2):
    """A trip of three days whose first `finished` pictures are solid colours (COLOURS), the
    others failed."""
    start = datetime.date.today() + datetime.timedelta(days=7)
    dates = [start + datetime.timedelta(days=n) for n in range(3)]
    draft = trips.plan_trip(
        destination="제주",
        start_date=dates[0],
        end_date=dates[-1],
        temperatures={date: (24 - 6 * n, 16 - 6 * n) for n, date in enumerate(dates)},
    )
    trip = trips.create_trip(user=user, draft=draft)
    run_queued_generations()
    for number, day in enumerate(trip.days.order_by("date")):
        generation = day.generation
        if number < finished:
            picture = io.BytesIO()
            portrait = Image.new("RGB", (768, 1024), COLOURS[number])  # as the trip asks
            portrait.save(picture, format="PNG")
            Path(generation.image.path).write_bytes(picture.getvalue())
        else:
            Generation.objects.filter(pk=generation.pk).update(status=Generation.Status.FAILED)
    return trip


def near(pixel, colour, tolerance=24):
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour, strict=True))


def test_the_sheet_has_a_tile_per_day_with_its_picture_the_label_and_credentials(user_client, user):
    trip = three_day_trip(user)
    page = user_client.get(reverse("imagegen:trip", args=[trip.pk])).content.decode()
    link = reverse("imagegen:trip_sheet", args=[trip.pk])
    assert f'href="{link}"' in page

    answer = user_client.get(link)
    assert answer.status_code == 200 and answer["Content-Type"] == "image/jpeg"
    assert answer["Content-Disposition"].startswith("attachment;")
    assert answer["Cache-Control"] == "private, no-store"
    image = Image.open(io.BytesIO(answer.content))
    plan = sheet.layout(3)
    assert image.format == "JPEG" and image.size == plan.size
    rgb = image.convert("RGB")
    for colour, (left, top, right, bottom) in zip(COLOURS, plan.pictures, strict=False):
        for x, y in ((left + 20, top + 20), ((left + right) // 2, (top + bottom) // 2)):
            assert near(rgb.getpixel((x, y)), colour), (x, y, rgb.getpixel((x, y)))
    left, top, _, _ = plan.pictures[2]  # failed: the empty tile, not another day's colour
    assert near(rgb.getpixel((left + 20, top + 20)), sheet.EMPTY, 8)

    plate = label.label_box(*image.size, "en")
    inside = rgb.getpixel((plate[0] + 3, (plate[1] + plate[3]) // 2))
    assert max(inside) < 110, inside  # the label's dark plate over the pale footer
    report = credentials.read(answer.content, "image/jpeg")
    assert report.present and report.valid, report
    assert report.digital_source_type == credentials.COMPOSITE
    assert len(report.ingredients) == 2  # the two finished days' pictures


def test_the_api_sends_the_sheet_to_its_owner_only_and_409_before_any_picture(api, user, make_user):
    trip = three_day_trip(user, finished=0)
    url = reverse("api:trip_sheet", args=[trip.pk])
    early = api.get(url)
    assert early.status_code == 409 and early.json()["error"]["code"] == "conflict"

    trip = three_day_trip(user, finished=1)
    url = reverse("api:trip_sheet", args=[trip.pk])
    answer = api.get(url, HTTP_ACCEPT_LANGUAGE="ko")
    assert answer.status_code == 200 and answer["Content-Type"] == "image/jpeg"
    assert Image.open(io.BytesIO(answer.content)).size == sheet.layout(3).size

    stranger = make_user("mallory")
    _, key = services.create_api_token(user=stranger, name="mallory")
    foreign = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert foreign.get(url).status_code == 404
    page = Client()
    page.force_login(stranger)
    assert page.get(reverse("imagegen:trip_sheet", args=[trip.pk])).status_code == 404


def test_the_page_says_when_there_is_no_picture_for_a_sheet_yet(user_client, user):
    trip = three_day_trip(user, finished=0)
    answer = user_client.get(reverse("imagegen:trip_sheet", args=[trip.pk]), follow=True)
    assert "once a day" in answer.content.decode()


def test_the_font_has_every_character_the_sheet_counts_on_and_marks_the_rest():
    font = ImageFont.truetype(str(sheet.FONT), 16)

    def drawn(char):
        canvas = Image.new("L", (24, 24))
        ImageDraw.Draw(canvas).text((2, 2), char, 255, font)
        return canvas.tobytes()

    missing = drawn("\U0001f600")  # an emoji: the font has none, nothing is drawn
    korean = "".join(
        bytes((row, cell)).decode("euc_kr")
        for row in range(0xB0, 0xC9)
        for cell in range(0xA1, 0xFF)
    )
    latin = "".join(chr(code) for code in range(0x21, 0x7F)) + sheet.LATIN_1.replace(
        "\xa0", ""
    ).replace("\xad", "")
    for char in korean + latin + sheet.SIGNS:
        assert sheet.drawable(char) == char
        assert drawn(char) != missing, char
    assert sheet.drawable("똠방 햏 🌧") == "?방 ? ?"  # 똠, 햏: outside KS X 1001
