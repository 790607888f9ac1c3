"""The gallery's finish in a real browser (Chromium via Playwright, the live server, a real
worker): whole images in even cards, Korean that breaks between words, no sideways scroll, and
the live script tidying up (queued notice, Cancel, the detail's parameters) when an image ends.
Screenshots land in test-output/screenshots/.
"""

import os

import pytest

from imagegen import services
from imagegen.models import Generation
from tests import test_browser as browser_tests
from tests.conftest import PASSWORD, wait_until_settled

# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make here
# are still plain blocking calls, which Django would otherwise refuse next to a running loop.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [pytest.mark.worker, pytest.mark.browser]

# test_browser's Chromium fixtures and screenshot helper, shared rather than copied.
browser = browser_tests.browser
page_factory = browser_tests.page_factory
shoot = browser_tests.shoot
DESKTOP, PHONE = browser_tests.DESKTOP, browser_tests.PHONE

KOREAN = "부산 감천문화마을 골목길 수채화 스타일의 따뜻한 여행 엽서 그림"


def log_in(page, site, username):
    page.goto(f"{site}/accounts/login/")
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{site}/")


# For each card image: its natural size, its box, and the part of the picture actually painted
# (by the CSS object-fit rules), so a crop (cover) or a squash (fill) shows up as numbers.
PAINTED = """() => [...document.querySelectorAll('article.card img')].map(img => {
    const box = img.getBoundingClientRect();
    const fit = getComputedStyle(img).objectFit;
    const nw = img.naturalWidth, nh = img.naturalHeight;
    let scaleX, scaleY;
    if (fit === 'fill') { scaleX = box.width / nw; scaleY = box.height / nh; }
    else {
        const s = fit === 'cover' ? Math.max(box.width / nw, box.height / nh)
            : fit === 'none' ? 1
            : Math.min(box.width / nw, box.height / nh);  // contain, scale-down
        scaleX = scaleY = fit === 'scale-down' ? Math.min(1, s) : s;
    }
    return {id: img.closest('article').id, nw, nh, boxW: box.width, boxH: box.height,
            paintedW: nw * scaleX, paintedH: nh * scaleY};
})"""

CARD_BOXES = """() => [...document.querySelectorAll('article.card')].map(card => {
    const r = card.getBoundingClientRect();
    return {id: card.id, top: Math.round(r.top), height: r.height};
})"""

# Each word of the element's text, as a DOM Range: a word split over two lines has two boxes.
SPLIT_WORDS = """el => {
    const node = [...el.childNodes].find(n => n.nodeType === Node.TEXT_NODE && n.data.trim());
    const text = node.data, split = [];
    let start = 0;
    for (const word of text.split(' ')) {
        const at = text.indexOf(word, start);
        start = at + word.length;
        if (!word.trim()) continue;
        const range = document.createRange();
        range.setStart(node, at);
        range.setEnd(node, at + word.length);
        const lines = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
        if (lines.size > 1) split.push(word);
    }
    return split;
}"""


def test_gallery_shows_whole_images_in_even_cards_at_desktop_and_phone(
    served_site, start_worker, make_user, page_factory
):
    user = make_user("sora")
    shapes = {
        "landscape": services.submit_generation(
            user=user, prompt="Jeju coast, wide view", width=1024, height=576
        ),
        "portrait": services.submit_generation(
            user=user, prompt="Seoul tower, tall view", width=576, height=1024
        ),
        "korean": services.submit_generation(user=user, prompt=KOREAN, width=512, height=512),
    }
    canceled = services.submit_generation(user=user, prompt="never made", width=512, height=512)
    services.cancel_generation(generation_id=canceled.pk, user=user)
    start_worker(IMAGEGEN_DEMO_DELAY="0")
    for generation in shapes.values():
        assert wait_until_settled(generation).status == Generation.Status.SUCCEEDED

    for viewport, suffix in ((DESKTOP, "desktop"), (PHONE, "phone")):
        page = page_factory(viewport=viewport)
        log_in(page, served_site, "sora")
        page.goto(f"{served_site}/gallery/")
        page.wait_for_function(
            "() => [...document.querySelectorAll('article.card img')]"
            ".every(img => img.complete && img.naturalWidth > 0)"
        )
        shoot(page, f"gallery-shapes-{suffix}")

        painted = {item["id"]: item for item in page.evaluate(PAINTED)}
        assert len(painted) == 3
        for name, generation in shapes.items():
            item = painted[f"g-{generation.pk}"]
            # The thumbnail has the picture's own shape...
            assert item["nw"] / item["nh"] == pytest.approx(
                generation.width / generation.height, rel=0.02
            ), name
            # ...and all of it is painted inside the box, in that shape: not cropped, not squashed.
            assert item["paintedW"] <= item["boxW"] + 0.5, name
            assert item["paintedH"] <= item["boxH"] + 0.5, name
            assert item["paintedW"] / item["paintedH"] == pytest.approx(
                item["nw"] / item["nh"], rel=0.02
            ), name
            # The boxes themselves are all alike.
            assert item["boxW"] == pytest.approx(item["boxH"], abs=1), name

        # Cards in one row have one height.
        rows = {}
        for card in page.evaluate(CARD_BOXES):
            rows.setdefault(card["top"], []).append(card["height"])
        assert any(len(heights) > 1 for heights in rows.values())
        for heights in rows.values():
            assert max(heights) - min(heights) <= 1, rows

        # The canceled card says so where its picture would be.
        label = page.locator(f"#g-{canceled.pk} .placeholder").evaluate(
            "el => getComputedStyle(el, '::after').content"
        )
        assert label == '"Canceled"'
        assert page.locator(f"#g-{canceled.pk}").get_by_role("button", name="Retry").is_visible()

        # Korean wraps between words, never inside one.
        korean = page.locator(f"#g-{shapes['korean'].pk} .prompt")
        lines = korean.evaluate(
            "el => Math.round(el.offsetHeight / parseFloat(getComputedStyle(el).lineHeight))"
        )
        assert lines >= 2  # it does wrap at this width, so the check below means something
        assert korean.evaluate(SPLIT_WORDS) == []

        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
        assert page.csp_violations == []


def test_live_updates_tidy_the_queued_notice_cancel_and_fill_the_detail(
    served_site, start_worker, make_user, page_factory
):
    make_user("haneul")
    page = page_factory()
    log_in(page, served_site, "haneul")
    # No worker yet: the generation waits in the queue while the page is watched.
    page.locator("#id_prompt").fill("Andong hahoe village")
    page.get_by_role("button", name="Generate").click()
    page.wait_for_load_state()
    notice = page.locator(".message.queued-notice")
    assert notice.is_visible()
    card = page.locator("article.card").first
    assert card.get_by_role("button", name="Cancel").is_visible()
    assert not card.get_by_role("button", name="Retry").is_visible()

    detail = page_factory()
    log_in(detail, served_site, "haneul")
    detail.goto(served_site + card.locator("a.card-media").get_attribute("href"))
    assert not detail.locator('[data-role="provider-row"]').is_visible()
    assert detail.locator('[data-role="seed"]').inner_text() == "random"

    start_worker(IMAGEGEN_DEMO_DELAY="0")
    card.locator("img").wait_for(timeout=30_000)
    notice.wait_for(state="detached", timeout=5_000)
    assert not card.get_by_role("button", name="Cancel").is_visible()
    assert not card.get_by_role("button", name="Retry").is_visible()
    shoot(page, "prompt-after-done-desktop")

    detail.locator(".detail-media img").wait_for(timeout=30_000)
    generation = Generation.objects.get(owner__username="haneul")
    assert detail.locator('[data-role="provider"]').inner_text() == "demo"
    assert detail.locator('[data-role="model"]').inner_text() == generation.model_name
    assert detail.locator('[data-role="seed"]').inner_text() == str(generation.actual_seed)
    assert detail.locator('[data-role="took-row"]').is_visible()
    assert detail.locator('[data-role="took"]').inner_text().endswith(" s")
    assert not detail.get_by_role("button", name="Cancel").is_visible()
    shoot(detail, "detail-after-done-desktop")


def test_error_pages_look_like_the_site_at_desktop_and_phone(served_site, page_factory, db):
    for viewport, suffix in ((DESKTOP, "desktop"), (PHONE, "phone")):
        page = page_factory(viewport=viewport)
        for path, name, heading in (
            ("/no/such/page/", "404", "There is nothing at this address"),
            ("/s/made-up-token/", "share-off", "This share link does not open anything"),
        ):
            response = page.goto(served_site + path)
            assert response.status == 404
            assert page.locator("h1").inner_text() == heading
            assert page.locator(".topbar").is_visible()
            assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
            shoot(page, f"error-{name}-{suffix}")
        assert page.csp_violations == []
