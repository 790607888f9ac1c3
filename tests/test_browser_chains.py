"""Edit again (issue 32) in a real browser, Korean at 390 px first: a chain of three with a
branch, made through the services with the demo provider; on the served site its detail page's
strip (the branch the user is on, the current version marked), the before/after slider moved
with the keyboard, a touch drag and a mouse drag, and the gallery's one card for the chain.
axe-core finds no WCAG 2.2 A/AA violation on either page. Screenshots land in
test-output/screenshots/ (chain-*)."""

import io
import os

import pytest
from PIL import Image

from imagegen import services
from tests import test_browser as browser_tests
from tests import test_browser_a11y as a11y
from tests.conftest import run_queued_generations

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [pytest.mark.worker, pytest.mark.browser]

browser = browser_tests.browser
page_factory = browser_tests.page_factory
shoot = browser_tests.shoot


def made(user, **request):
    generation = services.submit_generation(user=user, width=640, height=480, **request)
    run_queued_generations()
    generation.refresh_from_db()
    assert generation.status == "succeeded", generation.error_detail
    return generation


@pytest.fixture
def chain(make_user):
    """A first picture, two versions on from it, and a branch from version 1 (the newest)."""
    owner = make_user("haneul")
    first = made(owner, prompt="제주 성산일출봉의 아침")
    second = made(owner, task="edit", prompt="밤 풍경으로", parent=first)
    third = made(owner, task="edit", prompt="눈이 내리게", parent=second)
    branch = made(owner, task="edit", prompt="가을 단풍으로", parent=second)
    return first, second, third, branch


def strip_of(page):
    """The strip as (step label, link, is current) per version, in order."""
    items = page.locator(".chain-strip li")
    return [
        (
            items.nth(n).locator(".chain-step").inner_text(),
            items.nth(n).locator("a").get_attribute("href"),
            items.nth(n).get_attribute("aria-current") == "page",
        )
        for n in range(items.count())
    ]


def compare_state(page):
    """The range's value and valuetext, and the after image's clip as the browser applies it."""
    return page.evaluate(
        """() => {
            const range = document.querySelector('[data-role=compare-range]');
            const after = document.querySelector('[data-role=compare-after]');
            return [range.value, range.getAttribute('aria-valuetext'),
                    getComputedStyle(after).clipPath];
        }"""
    )


def pixel_at(page, fraction):
    """The colour the frame shows at `fraction` of its width, half way down (as painted)."""
    frame = page.locator(".compare-frame")
    image = Image.open(io.BytesIO(frame.screenshot())).convert("RGB")
    return image.getpixel((int(image.width * fraction), image.height // 2))


def painted_alone(page, side, fraction):
    """The colour one image ("before" or "after") paints at `fraction` of the frame with the other
    hidden and the after image unclipped; the styles the slider set are put back afterwards."""
    show, hide = (".compare-after", ".compare-before")
    if side == "before":
        show, hide = hide, show
    saved = page.evaluate(
        """([show, hide]) => {
            const [shown, hidden] = [document.querySelector(show), document.querySelector(hide)];
            const saved = [shown.style.cssText, hidden.style.cssText];
            shown.style.clipPath = 'none';
            hidden.style.visibility = 'hidden';
            return saved;
        }""",
        [show, hide],
    )
    colour = pixel_at(page, fraction)
    page.evaluate(
        """([show, hide, saved]) => {
            document.querySelector(show).style.cssText = saved[0];
            document.querySelector(hide).style.cssText = saved[1];
        }""",
        [show, hide, saved],
    )
    return colour


def touch_drag(page, from_x, to_x, y):
    """A finger on the screen moving from one point to another (Chromium's touch input)."""
    session = page.context.new_cdp_session(page)
    session.send(
        "Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": from_x, "y": y}]}
    )
    for step in range(1, 11):
        x = from_x + (to_x - from_x) * step / 10
        session.send(
            "Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]}
        )
    session.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


def thumb_centre(page):
    """Where the range's thumb is at its current value (the track's ends less the thumb)."""
    box = page.locator("[data-role=compare-range]").bounding_box()
    value = int(page.locator("[data-role=compare-range]").input_value())
    return box, box["x"] + 8 + (box["width"] - 16) * value / 100, box["y"] + box["height"] / 2


def test_a_chain_on_a_korean_phone_strip_slider_and_gallery_card(served_site, page_factory, chain):
    first, second, third, branch = chain
    site = served_site
    page = a11y.open_page(page_factory, "ko-phone")
    a11y.log_in(page, site, "haneul")

    # Version 2 of the first branch: its strip is that branch, itself marked.
    page.goto(f"{site}/g/{third.pk}/")
    assert page.locator("#chain-title").inner_text() == "이 사진의 편집 기록: 4개 버전"
    assert strip_of(page) == [
        ("원본", f"/g/{first.pk}/", False),
        ("버전 1", f"/g/{second.pk}/", False),
        ("버전 2", f"/g/{third.pk}/", True),
    ]
    assert "눈이 내리게" in page.locator(".chain-strip li.current").inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    # The branch made later from version 1: its own strip, the other one not in it.
    page.goto(f"{site}/g/{branch.pk}/")
    assert [link for _, link, _ in strip_of(page)] == [
        f"/g/{first.pk}/",
        f"/g/{second.pk}/",
        f"/g/{branch.pk}/",
    ]
    assert strip_of(page)[2][2] and "가을 단풍으로" in page.locator(".chain-strip").inner_text()
    # Version 1, with two made from it: the strip follows the newest and says so, in Korean.
    page.goto(f"{site}/g/{second.pk}/")
    assert strip_of(page)[1][2] and strip_of(page)[2][1] == f"/g/{branch.pk}/"
    note = page.locator(".chain-strip p.muted").inner_text()
    assert "2" in note and "versions" not in note

    # The before/after of version 2 against version 1, with the keyboard.
    page.goto(f"{site}/g/{third.pk}/")
    page.locator(".compare-after").evaluate("img => img.decode()")
    page.locator(".compare-before").evaluate("img => img.decode()")
    assert compare_state(page) == ["50", "편집 후 50%", "inset(0px 50% 0px 0px)"]
    before = {x: painted_alone(page, "before", x) for x in (0.47, 0.53)}
    after = {x: painted_alone(page, "after", x) for x in (0.47, 0.53)}
    for x in (0.47, 0.53):  # the two versions differ there, by more than the tolerance below
        assert max(abs(a - b) for a, b in zip(before[x], after[x], strict=True)) > 12, (
            x,
            before[x],
            after[x],
        )
    assert compare_state(page)[2] == "inset(0px 50% 0px 0px)"  # put back as it was
    assert pixel_at(page, 0.47) == pytest.approx(after[0.47], abs=3)  # after left of the split
    assert pixel_at(page, 0.53) == pytest.approx(before[0.53], abs=3)  # before right of it
    slider = page.get_by_label("밀어서 편집 전후 비교")
    slider.focus()
    for _ in range(5):
        page.keyboard.press("ArrowRight")
    assert compare_state(page) == ["55", "편집 후 55%", "inset(0px 45% 0px 0px)"]
    assert pixel_at(page, 0.53) == pytest.approx(after[0.53], abs=3)  # now after shows there
    split = "getComputedStyle(document.querySelector('.compare-frame')).getPropertyValue('--split')"
    assert page.evaluate(split).strip() == "55%"  # the line between them moved along
    for _ in range(10):
        page.keyboard.press("ArrowLeft")
    assert compare_state(page)[:2] == ["45", "편집 후 45%"]
    assert pixel_at(page, 0.47) == pytest.approx(before[0.47], abs=3)  # before shows there now
    shoot(page, "chain-detail-phone")

    # A finger dragging the thumb most of the way right.
    page.locator(".compare").scroll_into_view_if_needed()
    box, x, y = thumb_centre(page)
    touch_drag(page, x, box["x"] + box["width"] * 0.85, y)
    value = int(compare_state(page)[0])
    assert 75 <= value <= 95
    assert compare_state(page)[2] == f"inset(0px {100 - value}% 0px 0px)"
    problems = [f"detail (ko-phone): {v}" for v in a11y.violations(page, "chain-detail")]

    # The gallery: the chain is one card, its count said, opening the newest version.
    page.goto(f"{site}/gallery/")
    cards = page.locator("article.card")
    assert cards.count() == 1
    card = cards.first
    assert card.locator('[data-role="versions"]').inner_text().strip() == "4개 버전"
    media = card.locator("a.card-media")
    assert media.get_attribute("href") == f"/g/{branch.pk}/"
    assert media.get_attribute("aria-label").startswith("버전 4개 중 가장 최근 버전 열기:")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shoot(page, "chain-gallery-phone")
    problems += [f"gallery (ko-phone): {v}" for v in a11y.violations(page, "chain-gallery")]

    # At a desktop, in English: a mouse dragging the thumb left.
    desktop = a11y.open_page(page_factory, "en-desktop")
    a11y.log_in(desktop, site, "haneul")
    desktop.goto(f"{site}/g/{third.pk}/")
    desktop.locator(".compare").scroll_into_view_if_needed()
    box, x, y = thumb_centre(desktop)
    desktop.mouse.move(x, y)
    desktop.mouse.down()
    desktop.mouse.move(box["x"] + box["width"] * 0.2, y, steps=8)
    desktop.mouse.up()
    value = int(compare_state(desktop)[0])
    assert 10 <= value <= 30
    assert compare_state(desktop)[1] == f"{value}% after"
    shoot(desktop, "chain-detail-desktop")
    problems += [f"detail (en-desktop): {v}" for v in a11y.violations(desktop, "chain-detail")]
    desktop.goto(f"{site}/gallery/")
    shoot(desktop, "chain-gallery-desktop")
    problems += [f"gallery (en-desktop): {v}" for v in a11y.violations(desktop, "chain-gallery")]
    assert problems == [], "\n".join(problems)
    assert page.csp_violations == [] and desktop.csp_violations == []
