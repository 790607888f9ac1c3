"""Safety as a viewer and an owner see it, in Chromium at a phone's width in both languages:
reporting a shared image (open, choose a reason, confirm with "Send report"; Korean on a phone,
English on a desktop), a suspended link, a held image's placeholder.
Screenshots land in test-output/screenshots/ (safety-*)."""

import os

import pytest
from django.utils import timezone

from imagegen import services
from imagegen.models import Generation, ShareReport
from tests import test_browser as browser_tests
from tests import test_browser_newcomer as newcomer
from tests.conftest import run_queued_generations

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [pytest.mark.worker, pytest.mark.browser]

browser = newcomer.browser
page_factory = newcomer.page_factory
shoot = newcomer.shoot
phone_page, log_in, assert_fits = newcomer.phone_page, newcomer.log_in, newcomer.assert_fits
REASON = {"ko": "선정적인 내용", "en": "Sexual content"}
SEND = {"ko": "신고 보내기", "en": "Send report"}
DESKTOP = newcomer.browser_tests.DESKTOP
HELD = {"ko": "이 이미지는 검토를 기다리고 있어요.", "en": "This image is waiting for a review."}


@pytest.mark.parametrize(("language", "width"), [("ko", "phone"), ("en", "desktop")])
def test_a_viewer_reports_a_shared_image_only_once_they_confirm_it(
    served_site, page_factory, make_user, language, width
):
    owner = make_user(f"sharer-{language}")
    generation = services.submit_generation(
        user=owner, prompt="Gamcheon village", width=512, height=512
    )
    run_queued_generations()
    token = services.share_generation(generation_id=generation.pk, user=owner)
    if width == "phone":
        page = phone_page(page_factory, language)
    else:
        page = page_factory(viewport=DESKTOP, locale=newcomer.LANGUAGES[language])
        page.set_extra_http_headers({"Accept-Language": newcomer.LANGUAGES[language]})
    page.goto(f"{served_site}/s/{token}/")
    page.locator("details.report summary").click()  # open
    page.get_by_label(REASON[language]).check()  # choose: this sends nothing
    shoot(page, f"safety-report-chosen-{language}-{width}")
    if width == "phone":
        assert_fits(page)
    send = page.get_by_role("button", name=SEND[language])
    for target in [*page.locator(".report-reasons label").all(), send]:
        box = target.bounding_box()
        assert box["height"] >= 44 and box["width"] >= 44, box  # WCAG 2.5.5
    assert page.url == f"{served_site}/s/{token}/" and page.locator(".message").count() == 0
    assert not ShareReport.objects.exists()
    send.click()  # confirm
    page.wait_for_load_state()
    assert page.locator(".message").is_visible()
    shoot(page, f"safety-report-sent-{language}-{width}")
    (report,) = ShareReport.objects.filter(generation=generation)
    assert report.reason == "sexual" and not report.signed_in
    # The page's other form, the language switch, posts as well (the share page's referrer
    # policy once made every post from it fail the CSRF check).
    other = "en" if language == "ko" else "ko"
    browser_tests.open_menu(page)
    page.locator(f'form.language button[value="{other}"]').click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == other
    assert page.locator("details.report summary").is_visible()

    # Suspended (as reports from enough voices do): the link says so, not the image.
    Generation.objects.filter(pk=generation.pk).update(share_suspended_at=timezone.now())
    answer = page.goto(f"{served_site}/s/{token}/")
    assert answer.status == 403
    assert page.locator("img.shared, .shared img").count() == 0
    shoot(page, f"safety-suspended-{language}-{width}")
    if width == "phone":
        assert_fits(page)


@pytest.mark.parametrize("language", ["ko", "en"])
def test_the_owner_of_a_held_image_sees_a_neutral_placeholder(
    served_site, page_factory, make_user, language
):
    owner = make_user(f"held-{language}")
    held = Generation.objects.create(
        owner=owner,
        prompt="Haeundae at night",
        width=512,
        height=512,
        status=Generation.Status.HELD,
        finished_at=timezone.now(),
    )
    page = phone_page(page_factory, language)
    log_in(page, served_site, owner.username)
    page.goto(f"{served_site}/gallery/")
    card = page.locator(f"#g-{held.pk}")
    assert HELD[language] in card.inner_text()
    assert card.locator("img").count() == 0
    shoot(page, f"safety-held-gallery-{language}-phone")
    page.goto(f"{served_site}/g/{held.pk}/")
    assert HELD[language] in page.locator(".detail-info").inner_text()
    assert page.locator(".detail-media img").count() == 0
    assert not page.locator('[data-role="download"]').is_visible()
    shoot(page, f"safety-held-detail-{language}-phone")
    assert_fits(page)
