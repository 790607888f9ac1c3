"""The marks as people see them, in Chromium (issue 30): the "AI 생성" label on the gallery, the
detail page and the share page at 390 px, with its accessible name; and /verify, signed out,
telling a TravelFit image, the same image stripped of its metadata (watermark only) and a
foreign picture apart. Screenshots (desktop and 390 px) land in test-output/screenshots/
(marks-*)."""

import io
import os

import pytest
from PIL import Image

from imagegen import services
from tests import test_browser as browser_tests
from tests.conftest import run_queued_tasks
from tests.photos import picture
from tests.test_browser_phone import desktop, log_in, phone

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [pytest.mark.worker, pytest.mark.browser]

browser = browser_tests.browser
page_factory = browser_tests.page_factory
shoot = browser_tests.shoot

# The label's box, its text size and whether it lies over the image's top-left corner.
LABEL = """(scope) => {
    const root = document.querySelector(scope);
    const label = root.querySelector('[data-role="ai-label"]');
    const image = root.querySelector('img');
    if (!label || !image) return null;
    const l = label.getBoundingClientRect(), i = image.getBoundingClientRect();
    const style = getComputedStyle(label);
    return {
        text: label.textContent.trim(), name: label.getAttribute('aria-label'),
        role: label.getAttribute('role'), shown: l.width > 0 && !label.closest('[hidden]'),
        fontSize: parseFloat(style.fontSize), over: l.left >= i.left - 1 && l.top >= i.top - 1
            && l.right <= i.right + 1 && l.bottom <= i.bottom + 1,
        colour: style.color, background: style.backgroundColor,
    };
}"""


@pytest.fixture
def made(make_user):
    owner = make_user("sora")
    generation = services.submit_generation(
        user=owner, prompt="부산 감천문화마을의 골목길", width=768, height=512
    )
    run_queued_tasks()
    generation.refresh_from_db()
    token = services.share_generation(generation_id=generation.pk, user=owner)
    return generation, token


def check_label(page, scope, problems, where):
    label = page.evaluate(LABEL, scope)
    if not label:
        problems.append(f"{where}: no label or no image")
        return
    if label["text"] != "AI 생성" or not label["shown"] or not label["over"]:
        problems.append(f"{where}: {label}")
    if label["role"] != "img" or not label["name"]:
        problems.append(f"{where}: no accessible name {label}")
    if label["fontSize"] < 12:
        problems.append(f"{where}: text {label['fontSize']} px")
    if label["colour"] != "rgb(255, 255, 255)" or label["background"] != "rgba(0, 0, 0, 0.8)":
        problems.append(f"{where}: colours {label['colour']} on {label['background']}")


def test_the_label_is_on_every_image_at_phone_size(served_site, page_factory, made):
    generation, token = made
    problems = []
    page = phone(page_factory)
    log_in(page, served_site, "sora")
    page.goto(f"{served_site}/gallery/")
    check_label(page, f"#g-{generation.pk}", problems, "gallery")
    shoot(page, "marks-gallery-ko-phone")
    page.goto(f"{served_site}/g/{generation.pk}/")
    check_label(page, ".detail-figure", problems, "detail")
    if not page.locator('[data-role="download-original"]').is_visible():
        problems.append("detail: no original download for the owner")
    shoot(page, "marks-detail-ko-phone")
    visitor = phone(page_factory)
    visitor.goto(f"{served_site}/s/{token}/")
    check_label(visitor, ".shared", problems, "share page")
    shoot(visitor, "marks-shared-ko-phone")
    wide = desktop(page_factory, "ko")
    wide.goto(f"{served_site}/s/{token}/")
    check_label(wide, ".shared", problems, "share page, desktop")
    shoot(wide, "marks-shared-ko-desktop")
    for each in (page, visitor, wide):
        problems += each.csp_violations
    assert not problems


def verdict_of(page, site, data, name):
    page.goto(f"{site}/verify")
    page.locator("#verify-file").set_input_files(
        {"name": name, "mimeType": "image/png", "buffer": data}
    )
    page.locator(".verify-form button").click()
    page.wait_for_selector('[data-role="verdict"]')
    return page.locator('[data-role="verdict"]').get_attribute("data-verdict")


def test_verify_tells_ours_stripped_and_foreign_apart(served_site, page_factory, made):
    generation, _token = made
    with generation.image.open("rb") as handle:
        ours = handle.read()
    stripped = io.BytesIO()
    Image.open(io.BytesIO(ours)).convert("RGB").save(stripped, "PNG")  # no manifest, no text
    foreign = io.BytesIO()
    picture(768, 512, (30, 140, 90)).save(foreign, "PNG")
    page = phone(page_factory)
    assert verdict_of(page, served_site, ours, "ours.png") == "both"
    shoot(page, "marks-verify-ours-ko-phone")
    assert page.locator('[data-role="own-generation"]').count() == 0  # a stranger: no link
    assert verdict_of(page, served_site, stripped.getvalue(), "stripped.png") == "watermark"
    shoot(page, "marks-verify-stripped-ko-phone")
    assert verdict_of(page, served_site, foreign.getvalue(), "foreign.png") == "none"
    shoot(page, "marks-verify-foreign-ko-phone")
    wide = desktop(page_factory)
    assert verdict_of(wide, served_site, ours, "ours.png") == "both"
    shoot(wide, "marks-verify-ours-en-desktop")
    # The owner, signed in, gets the link to their generation.
    log_in(wide, served_site, "sora")
    assert verdict_of(wide, served_site, stripped.getvalue(), "stripped.png") == "watermark"
    link = wide.locator('[data-role="own-generation"]')
    assert link.get_attribute("href") == f"/g/{generation.pk}/"
    assert not page.csp_violations and not wide.csp_violations
