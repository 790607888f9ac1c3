"""The operations page in Chromium, as staff see it on a phone and a desktop, in Korean and
English. Screenshots land in test-output/screenshots/ (ops-*)."""

import os

import pytest
from django.contrib.auth import get_user_model

from imagegen import ops
from tests import test_browser_newcomer as newcomer
from tests.test_views_ops_page import made

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [pytest.mark.worker, pytest.mark.browser]

browser = newcomer.browser
page_factory = newcomer.page_factory
shoot = newcomer.shoot
TITLE = {"ko": "운영 현황", "en": "Operations"}


@pytest.mark.parametrize("language", ["ko", "en"])
def test_staff_read_the_last_days_on_a_phone_and_a_desktop(served_site, page_factory, language):
    staff = get_user_model().objects.create_superuser(
        f"ops-{language}", f"ops-{language}@example.org", newcomer.PASSWORD
    )
    ops.forget()
    made(staff, 6)
    made(staff, 2, days_ago=1, status="failed", failure_class="out_of_quota")
    made(staff, 4, days_ago=3, provider="hf_inference", seconds=9)
    page = newcomer.phone_page(page_factory, language)
    newcomer.log_in(page, served_site, staff.username)
    page.goto(f"{served_site}/ops/")
    assert page.locator("h1").inner_text() == TITLE[language]
    assert page.locator("svg.chart").count() == 5
    shoot(page, f"ops-{language}-phone")
    newcomer.assert_fits(page)
    page.set_viewport_size({"width": 1280, "height": 900})
    shoot(page, f"ops-{language}-desktop")
