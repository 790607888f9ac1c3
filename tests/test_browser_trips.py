"""The trip lookbook in a real browser, Korean, 390 px first (issue 31): "제주, three days next
week, my photo" against the real `manage.py serve`, a real worker with the demo provider and
the Open-Meteo stand-in; and the same with the weather service off, temperatures typed in.
Screenshots land in test-output/screenshots/ (trip-*)."""

import datetime
import os

import pytest

from imagegen.models import Generation, Trip
from tests import photos
from tests import test_browser as browser_tests
from tests.fakes.open_meteo import start_open_meteo

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [pytest.mark.worker, pytest.mark.browser]

browser = browser_tests.browser
page_factory = browser_tests.page_factory
shoot = browser_tests.shoot
DESKTOP, PHONE = browser_tests.DESKTOP, browser_tests.PHONE
PASSWORD = browser_tests.PASSWORD


@pytest.fixture
def open_meteo_server():
    server = start_open_meteo()
    yield server
    server.stop()


def log_in(page, site, username):
    page.goto(f"{site}/accounts/login/")
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(PASSWORD)
    page.locator("form button[type=submit]").last.click()
    page.wait_for_url(f"{site}/")


def fill_trip(page, site, start, end):
    page.goto(f"{site}/trips/new/")
    assert page.locator("h1").inner_text() == "여행 룩북 만들기"
    page.locator("#id_destination").fill("제주")
    page.locator("#id_start_date").fill(start.isoformat())
    page.locator("#id_end_date").fill(end.isoformat())


def assert_fits(page, viewport):
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]


def test_jeju_three_days_next_week_with_my_photo_on_a_korean_phone(
    serve_site, start_worker, page_factory, make_user, open_meteo_server, tmp_path
):
    start = datetime.date.today() + datetime.timedelta(days=7)
    end = start + datetime.timedelta(days=2)
    for offset, (high, low) in enumerate(((30.0, 24.0), (21.0, 15.0), (10.0, 4.0))):
        open_meteo_server.days[start + datetime.timedelta(days=offset)] = {
            "temperature_2m_max": high,
            "temperature_2m_min": low,
            "precipitation_probability_max": 10,
            "wind_speed_10m_max": 5.0,
            "weather_code": 1,
        }
    env = {**open_meteo_server.settings(), "TRIP_WEATHER": "open_meteo"}
    start_worker(IMAGEGEN_DEMO_DELAY="1")
    site = serve_site(**env)
    make_user("haneul")
    me = tmp_path / "me.jpg"
    me.write_bytes(photos.jpeg_with_gps(480, 640))
    page = page_factory(viewport=PHONE, locale="ko-KR", is_mobile=True, device_scale_factor=2)
    log_in(page, site, "haneul")

    fill_trip(page, site, start, end)
    page.locator("#id_photo").set_input_files(str(me))
    page.locator("#id_consent").check()
    page.locator("#id_activities").fill("해변\n시내 구경\n등산")
    shoot(page, "trip-form-phone")
    page.locator("form.trip-form button[type=submit]").click()
    # 제주 is two places: the page offers both; the traveller chooses the city.
    page.get_by_label("제주시, 제주특별자치도, 대한민국").check()
    page.locator("#id_consent").check()
    page.locator("form.trip-form button[type=submit]").click()

    page.wait_for_url(f"{site}/trips/new/confirm")
    assert "3일 × 1장 = 3" in page.locator('[data-role="price"]').inner_text()
    assert_fits(page, PHONE)
    shoot(page, "trip-confirm-phone")
    page.get_by_role("button", name="룩북 만들기").click()

    trip = Trip.objects.get()
    page.wait_for_url(f"{site}/trips/{trip.pk}/")
    page.locator('article.card[data-status="succeeded"]').nth(2).wait_for(timeout=90_000)
    days = page.locator('[data-role="day"]')
    assert days.count() == 3
    assert [days.nth(n).locator('[data-role="max"]').inner_text() for n in range(3)] == [
        "30°",
        "21°",
        "10°",
    ]
    # The bands: 28 °C+ 민소매, 20–22 긴팔 with a thin cardigan, 9–11 a trench coat.
    outfits = [days.nth(n).locator(".trip-outfit").inner_text() for n in range(3)]
    assert "예보" in days.nth(0).inner_text()
    generations = Generation.objects.filter(trip_days__trip=trip)
    assert {g.task for g in generations} == {"edit"}
    assert {g.provider for g in generations} == {"demo"}
    assert page.locator(".trip-credit").inner_text().startswith("Weather data by Open-Meteo")
    assert all(outfit for outfit in outfits)
    assert page.locator(".packing-list li").count() >= 5
    page.locator(".packing-list input").first.check()
    page.get_by_role("button", name="체크 저장").click()
    page.locator("#share form button").click()
    share_url = page.locator('[data-role="share-url"]').input_value()
    assert page.locator(".packing-list input").first.is_checked()
    assert_fits(page, PHONE)
    shoot(page, "trip-lookbook-phone")

    viewer = page_factory(viewport=DESKTOP, locale="ko-KR")
    viewer.goto(share_url)
    viewer.locator(".trip-picture img").nth(2).wait_for()
    assert viewer.locator('[data-role="day"]').count() == 3
    shoot(viewer, "trip-shared-desktop")
    desktop = page_factory(viewport=DESKTOP, locale="ko-KR")
    log_in(desktop, site, "haneul")
    desktop.goto(f"{site}/trips/{trip.pk}/")
    shoot(desktop, "trip-lookbook-desktop")
    assert page.csp_violations == [] and desktop.csp_violations == []


def test_offline_the_temperatures_are_typed_in_and_the_rest_works_the_same(
    serve_site, start_worker, page_factory, make_user
):
    start_worker(IMAGEGEN_DEMO_DELAY="0")
    site = serve_site(TRIP_WEATHER="off")
    make_user("dana")
    page = page_factory(viewport=PHONE, locale="ko-KR", is_mobile=True)
    log_in(page, site, "dana")
    start = datetime.date.today() + datetime.timedelta(days=7)
    end = start + datetime.timedelta(days=1)
    fill_trip(page, site, start, end)
    page.locator("form.trip-form button[type=submit]").click()
    page.locator(f"#id_t_max_{start.isoformat()}").fill("3")
    page.locator(f"#id_t_min_{start.isoformat()}").fill("-2")
    page.locator(f"#id_t_max_{end.isoformat()}").fill("26")
    page.locator(f"#id_t_min_{end.isoformat()}").fill("20")
    shoot(page, "trip-typed-phone")
    page.locator("form.trip-form button[type=submit]").click()
    page.wait_for_url(f"{site}/trips/new/confirm")
    assert "직접 입력" in page.inner_text("body")
    assert page.locator(".trip-credit").count() == 0
    page.get_by_role("button", name="룩북 만들기").click()
    page.locator('article.card[data-status="succeeded"]').nth(1).wait_for(timeout=90_000)
    days = page.locator('[data-role="day"]')
    assert "패딩" in days.nth(0).locator(".trip-outfit").inner_text()
    assert "반팔" in days.nth(1).locator(".trip-outfit").inner_text()
    assert {g.task for g in Generation.objects.all()} == {"text"}
    assert_fits(page, PHONE)
    shoot(page, "trip-typed-lookbook-phone")
