"""Choosing a tier on the create page, in Chromium, at a phone's width and a desktop's, in Korean
and English: each tier with its price and usual wait, the quota in units, and the choice
charged. Screenshots land in test-output/screenshots/ (tiers-*)."""

import os

import pytest

from imagegen.models import Generation, Quota
from tests import test_browser_newcomer as newcomer

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [pytest.mark.worker, pytest.mark.browser]

browser = newcomer.browser
page_factory = newcomer.page_factory
shoot = newcomer.shoot
phone_page, log_in, assert_fits = newcomer.phone_page, newcomer.log_in, newcomer.assert_fits
TIERS = {"IMAGEGEN_TIERS": "fast=demo:1;best=demo:3", "IMAGEGEN_DEFAULT_TIER": "fast"}
TEXT = {
    "ko": {"best": "최고 품질", "units": "크레딧 중", "price": "3크레딧", "generate": "생성하기"},
    "en": {"best": "Best", "units": "units left today", "price": "3 units", "generate": "Generate"},
}


@pytest.mark.parametrize("language", ["ko", "en"])
def test_a_user_chooses_the_best_tier_on_a_phone_and_pays_its_units(
    serve_site, page_factory, make_user, language
):
    site = serve_site(**TIERS)
    user = make_user(f"chooser-{language}")
    text = TEXT[language]
    page = phone_page(page_factory, language)
    log_in(page, site, user.username)

    tiers = page.locator("fieldset.tier-field")
    assert tiers.locator("label.tier-option").count() == 2
    best = tiers.locator("label.tier-option", has_text=text["best"])
    assert text["price"] in best.inner_text()
    assert text["units"] in page.locator("#quota-note").inner_text()
    tiers.scroll_into_view_if_needed()
    shoot(page, f"tiers-create-{language}-phone")
    assert_fits(page)

    best.click()
    page.locator("#id_prompt").fill("Jeonju hanok village at dusk")
    page.get_by_role("button", name=text["generate"], exact=True).click()
    page.wait_for_load_state()
    generation = Generation.objects.get(owner=user)
    assert (generation.tier, generation.units) == ("best", 3)
    assert Quota.objects.get(user=user).day_used == 3
    # The form keeps the choice for the next picture.
    assert page.locator('input[name="tier"][value="best"]').is_checked()


def test_the_tiers_on_a_desktop_in_korean(serve_site, page_factory, make_user):
    site = serve_site(**TIERS)
    user = make_user("chooser-desk")
    page = page_factory(viewport={"width": 1280, "height": 900}, locale="ko-KR")
    page.set_extra_http_headers({"Accept-Language": "ko-KR"})
    log_in(page, site, user.username)
    labels = page.locator("label.tier-option")
    boxes = [labels.nth(i).bounding_box() for i in range(2)]
    assert boxes[0]["y"] == boxes[1]["y"]  # side by side, not stacked
    page.locator("fieldset.tier-field").scroll_into_view_if_needed()
    shoot(page, "tiers-create-ko-desktop")
