"""What an owner sees of their results, in Chromium at 390 px in Korean and 1280 px in English:
which gallery cards are shared, an edit's original photo whole and captioned as the original
beside the result and its true size, a share link that viewers' reports suspended, and what
happens to a held image. Screenshots land in test-output/screenshots/ (results-*).
"""

import os

import pytest
from django.utils import timezone

from imagegen import services
from imagegen.models import Generation
from tests import photos
from tests import test_browser_newcomer as newcomer
from tests.conftest import run_queued_generations

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [pytest.mark.worker, pytest.mark.browser]

browser = newcomer.browser
page_factory = newcomer.page_factory
shoot = newcomer.shoot
log_in = newcomer.log_in
DESKTOP = newcomer.browser_tests.DESKTOP
PHONE = newcomer.PHONE

WORDS = {
    "ko": {
        "shared": "공유 중",
        "suspended": "링크 일시 중지",
        "original": "원본 사진",
        "result": "결과",
        "note": "링크가 일시 중지됐어요.",
        "held": "담당자가 직접 확인하고",
        "next": "승인되면 이미지가 여기에 저절로 나타나요.",
    },
    "en": {
        "shared": "Shared",
        "suspended": "Link suspended",
        "original": "Original photo",
        "result": "Result",
        "note": "The link is suspended.",
        "held": "A person looks at it before it is shown",
        "next": "Approved, the image appears here by itself.",
    },
}


@pytest.mark.parametrize(("language", "viewport"), [("ko", PHONE), ("en", DESKTOP)])
def test_an_owner_sees_shares_sources_sizes_and_reviews(
    served_site, page_factory, make_user, language, viewport
):
    owner = make_user(f"owner-{language}")
    photo = services.store_upload(user=owner, data=photos.jpeg_with_gps(480, 640))
    edit = services.submit_generation(
        user=owner, prompt="in the snow", width=1, height=1, task="edit", source_image=photo
    )
    reported = services.submit_generation(user=owner, prompt="Busan", width=512, height=384)
    run_queued_generations()
    for generation in (edit, reported):
        services.share_generation(generation_id=generation.pk, user=owner)
    suspended_at = timezone.now()
    Generation.objects.filter(pk=reported.pk).update(share_suspended_at=suspended_at)
    held = Generation.objects.create(
        owner=owner,
        prompt="Haeundae at night",
        width=512,
        height=512,
        status=Generation.Status.HELD,
        finished_at=timezone.now(),
        charged=True,
    )
    words = WORDS[language]
    page = page_factory(viewport=viewport, locale=newcomer.LANGUAGES[language])
    page.set_extra_http_headers({"Accept-Language": newcomer.LANGUAGES[language]})
    log_in(page, served_site, owner.username)
    where = f"{language}-{'phone' if viewport == PHONE else 'desktop'}"

    # The gallery: which cards are shared (and which link is suspended), in words.
    page.goto(f"{served_site}/gallery/")
    shared = page.locator(f"#g-{edit.pk} .badge.share-on")
    assert shared.is_visible() and shared.inner_text().strip().endswith(words["shared"])
    assert shared.locator("[aria-hidden=true]").count() == 1  # the icon is not read out
    flagged = page.locator(f"#g-{reported.pk} .badge.share-suspended")
    assert flagged.is_visible() and words["suspended"] in flagged.inner_text()
    assert page.locator(f"#g-{held.pk} .badge.share-on").count() == 0
    assert words["held"] in page.locator(f"#g-{held.pk}").inner_text()
    shoot(page, f"results-gallery-{where}")
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]

    # An edit: the original whole (a portrait stays a portrait), captioned as the original;
    # the result captioned as the result, and the size the page says is the image's own.
    page.goto(f"{served_site}/g/{edit.pk}/")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.sources img, .detail-media img')]"
        ".every(img => img.complete && img.naturalWidth > 0)"
    )
    source = page.locator(".sources img").evaluate(
        "img => ({nw: img.naturalWidth, nh: img.naturalHeight,"
        " w: img.getBoundingClientRect().width, h: img.getBoundingClientRect().height})"
    )
    assert (source["nw"], source["nh"]) == (480, 640)
    assert source["w"] / source["h"] == pytest.approx(480 / 640, rel=0.02)
    assert page.locator(".sources figcaption").inner_text().strip() == words["original"]
    assert page.locator(".media-caption").inner_text().strip() == words["result"]
    result = page.locator(".detail-media img").evaluate("i => [i.naturalWidth, i.naturalHeight]")
    assert page.locator("[data-role=size]").inner_text() == f"{result[0]} × {result[1]}"
    shoot(page, f"results-edit-detail-{where}")

    # A share link viewers' reports suspended: the owner is told, and what comes next.
    page.goto(f"{served_site}/g/{reported.pk}/")
    note = page.locator(".share-suspended-note")
    assert note.is_visible() and words["note"] in note.inner_text()
    shoot(page, f"results-suspended-detail-{where}")

    # A held image: a person reviews it, it appears by itself if approved, units back if not.
    page.goto(f"{served_site}/g/{held.pk}/")
    info = page.locator(".detail-info").inner_text()
    assert words["held"] in info and words["next"] in info
    shoot(page, f"results-held-detail-{where}")
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    assert page.csp_violations == []
