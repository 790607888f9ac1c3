"""The create page as a Korean phone user meets it, in Chromium at 390 px: the task tabs one
after another (edit, then text, then try-on, then text), each with its own words, a photo
picker of our own, a kept photo removed, a refusal shown where the user looks, and the new
work in view after each submission. Screenshots land in test-output/screenshots/ (create-*).
"""

import os

import pytest

from imagegen.models import BlockedPattern, Generation, Quota, Upload
from tests import photos
from tests import test_browser_newcomer as newcomer

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [pytest.mark.worker, pytest.mark.browser]

browser = newcomer.browser
page_factory = newcomer.page_factory
shoot = newcomer.shoot
phone_page, log_in, assert_fits = newcomer.phone_page, newcomer.log_in, newcomer.assert_fits
PHONE = newcomer.PHONE


def tab(page, name):
    page.locator("label.task-tab", has_text=name).click()


def choose_photo(page, picker, path):
    """Tap our picker's button and choose a file, as a person does."""
    with page.expect_file_chooser() as chooser:
        page.locator(f"#photo-{picker} [data-role=choose]").click()
    chooser.value.set_files(str(path))


def submit(page):
    page.locator(".generate-form button[type=submit]").click()
    page.wait_for_load_state()


def assert_in_view(page, locator):
    """The element's top is on the screen, below the sticky header."""
    page.wait_for_function("() => document.readyState === 'complete'")
    box = locator.bounding_box()
    header = page.locator(".topbar").bounding_box()
    assert box is not None
    assert header["y"] + header["height"] - 1 <= box["y"] < PHONE["height"], (box, header)


def newest_card_in_view(page, task):
    """After a submission: the newest card is this task's and is on the screen."""
    card = page.locator("article.card").first
    newest = Generation.objects.filter(owner__username="jisoo").latest("created_at")
    assert newest.task == task
    assert card.get_attribute("id") == f"g-{newest.pk}"
    assert_in_view(page, card)
    return card


def test_edit_then_text_then_try_on_then_text_on_a_korean_phone(
    served_site, start_worker, page_factory, make_user, tmp_path
):
    make_user("jisoo")
    me = tmp_path / "me.jpg"
    me.write_bytes(photos.jpeg_with_gps(1600, 1200))
    coat = tmp_path / "coat.png"
    coat.write_bytes(photos.png_with_alpha(300, 300))
    start_worker(IMAGEGEN_DEMO_DELAY="1")
    page = newcomer.phone_page(page_factory, "ko", is_mobile=True, has_touch=True)
    log_in(page, served_site, "jisoo")

    # 1. An edit. The picker is ours, in Korean: no "Choose File / No file chosen".
    tab(page, "내 사진 편집")
    choose = page.locator("#photo-source_image [data-role=choose]")
    assert choose.inner_text() == "사진 고르기"
    native = page.locator('input[name="source_photo"]').bounding_box()
    assert native["width"] <= 1 and native["height"] <= 1
    choose_photo(page, "source_image", me)
    page.wait_for_function(
        "() => { const img = document.querySelector('#photo-source_image [data-role=preview]');"
        " return !img.hidden && img.complete && img.naturalWidth > 0; }"
    )
    assert page.locator("#photo-source_image [data-role=chosen]").inner_text() == "me.jpg"
    assert choose.inner_text() == "다른 사진 고르기"
    shoot(page, "create-edit-chosen-ko-phone")
    assert_fits(page)
    page.locator("#id_edit_prompt").fill("바닷가 노을 속의 나")
    page.locator("#id_consent").check()
    submit(page)
    card = newest_card_in_view(page, "edit")
    # What the phone shows right after sending, without scrolling.
    page.screenshot(path=str(newcomer.browser_tests.SHOTS / "create-after-submit-ko-phone.png"))
    card.locator("img").wait_for(timeout=60_000)
    assert_in_view(page, card)  # still there once done
    edit = Generation.objects.get(owner__username="jisoo", task="edit")
    assert edit.prompt == "바닷가 노을 속의 나"

    # Back on the page: the edit's tab, its words and its photo kept; consent asked again.
    assert page.locator('input[name="task"][value="edit"]').is_checked()
    assert page.locator("#id_edit_prompt").input_value() == "바닷가 노을 속의 나"
    assert not page.locator("#id_consent").is_checked()
    kept = page.locator("#photo-source_image [data-role=preview]")
    assert kept.is_visible() and str(edit.source_image_id) in kept.get_attribute("src")
    assert page.locator("#photo-source_image [data-role=remove]").input_value() == "사진 빼기"

    # 2. Text: the edit's photo stays behind on its tab and does not stop the submission.
    tab(page, "글로 만들기")
    assert page.locator("#id_prompt").input_value() == ""
    page.locator("#id_prompt").fill("제주도 성산일출봉의 일출")
    submit(page)
    assert not page.locator(".error-summary").count()
    newest_card_in_view(page, "text")
    text = Generation.objects.get(owner__username="jisoo", task="text")
    assert text.prompt == "제주도 성산일출봉의 일출" and text.source_image_id is None

    # 3. A try-on: its own (empty) description, the person's photo kept from the edit.
    tab(page, "옷 입어 보기")
    assert page.locator("#id_try_on_prompt").input_value() == ""
    assert page.locator("#photo-source_image [data-role=preview]").is_visible()
    assert not page.locator("#id_consent").is_checked()
    choose_photo(page, "garment_image", coat)
    page.locator("label[for=id_consent]").click()
    submit(page)
    newest_card_in_view(page, "try_on")
    try_on = Generation.objects.get(owner__username="jisoo", task="try_on")
    assert (try_on.prompt, try_on.source_image_id) == ("", edit.source_image_id)

    # 4. Text again: the text tab kept its own words, to tweak.
    tab(page, "글로 만들기")
    assert page.locator("#id_prompt").input_value() == "제주도 성산일출봉의 일출"
    page.locator("#id_prompt").fill("부산 광안대교의 야경")
    submit(page)
    newest_card_in_view(page, "text")
    made = Generation.objects.filter(owner__username="jisoo").order_by("created_at")
    assert [g.task for g in made] == ["edit", "text", "try_on", "text"]
    assert [g.prompt for g in made][-1] == "부산 광안대교의 야경"
    assert Quota.objects.get(user__username="jisoo").day_used == 4
    page.locator("article.card").nth(3).locator("img").wait_for(timeout=60_000)
    shoot(page, "create-after-journey-ko-phone")
    assert_fits(page)


def test_a_kept_photo_is_removed_for_good_with_one_tap(
    served_site, page_factory, make_user, tmp_path
):
    make_user("jisoo")
    me = tmp_path / "me.jpg"
    me.write_bytes(photos.jpeg_with_gps(480, 640))
    page = newcomer.phone_page(page_factory, "ko")
    log_in(page, served_site, "jisoo")
    tab(page, "내 사진 편집")
    choose_photo(page, "source_image", me)
    page.locator("#id_edit_prompt").fill("눈 오는 경복궁")
    submit(page)  # no consent tick: sent back, the photo kept, the refusal in view
    summary = page.locator(".error-summary")
    assert_in_view(page, summary)
    assert "허락을 받았다면 체크해 주세요" in summary.inner_text()
    (upload,) = Upload.objects.filter(owner__username="jisoo")
    preview = page.locator("#photo-source_image [data-role=preview]")
    assert str(upload.pk) in preview.get_attribute("src")

    # Remembered once sent: tick, send, and the page keeps the photo for the next one.
    page.locator("#id_consent").check()
    submit(page)
    assert page.locator("#photo-source_image [data-role=preview]").is_visible()
    remove = page.locator("#photo-source_image [data-role=remove]")
    shoot(page, "create-photo-kept-ko-phone")
    remove.click()
    page.wait_for_function(
        "() => document.querySelector('#photo-source_image [data-role=preview]').hidden"
    )
    assert page.locator("#photo-source_image [data-role=choose]").inner_text() == "사진 고르기"
    assert not remove.is_visible()
    # Gone from what the page remembers, not only from the screen.
    page.reload()
    assert not page.locator("#photo-source_image [data-role=preview]").is_visible()
    assert page.locator('#photo-source_image input[name="source_image"]').input_value() == ""
    assert page.locator("#id_edit_prompt").input_value() == "눈 오는 경복궁"
    assert_fits(page)


def test_a_refused_edit_prompt_is_said_at_the_edit_tab_and_in_view(
    served_site, page_factory, make_user, tmp_path
):
    make_user("jisoo")
    BlockedPattern.objects.create(pattern="총기", reason="무기")
    me = tmp_path / "me.jpg"
    me.write_bytes(photos.jpeg_with_gps(480, 640))
    page = newcomer.phone_page(page_factory, "ko")
    log_in(page, served_site, "jisoo")
    page.locator("#id_prompt").fill("제주도 해변")  # the text tab's words, left alone
    tab(page, "내 사진 편집")
    choose_photo(page, "source_image", me)
    page.locator("#id_edit_prompt").fill("총기를 든 나")
    page.locator("#id_consent").check()
    submit(page)
    assert not Generation.objects.exists()
    summary = page.locator(".error-summary")
    assert_in_view(page, summary)
    assert page.evaluate("document.activeElement.classList.contains('error-summary')")
    assert "사용할 수 없는 프롬프트" in summary.inner_text()
    # At the edit's own words, on the tab that is open; the text tab's words untouched.
    assert page.locator('input[name="task"][value="edit"]').is_checked()
    assert (
        "사용할 수 없는 프롬프트" in page.locator("[data-role=words-edit] .errorlist").inner_text()
    )
    assert page.locator("#id_prompt").input_value() == "제주도 해변"
    shoot(page, "create-refused-ko-phone")
    assert_fits(page)


def test_the_photo_tabs_in_english_on_a_desktop(served_site, page_factory, make_user, tmp_path):
    make_user("jisoo")
    me = tmp_path / "me.jpg"
    me.write_bytes(photos.jpeg_with_gps(480, 640))
    page = page_factory(viewport=newcomer.browser_tests.DESKTOP, locale="en-GB")
    page.set_extra_http_headers({"Accept-Language": "en-GB"})
    log_in(page, served_site, "jisoo")
    tab(page, "Try an outfit on")
    assert page.locator("#photo-garment_image [data-role=choose]").inner_text() == "Choose a photo"
    choose_photo(page, "source_image", me)
    assert page.locator("#photo-source_image [data-role=choose]").inner_text() == (
        "Choose another photo"
    )
    assert page.locator("#photo-source_image [data-role=remove]").is_visible()
    assert (
        page.locator("label[for=id_try_on_prompt]")
        .inner_text()
        .startswith("The outfit in words (optional)")
    )
    shoot(page, "create-try-on-en-desktop")
    # Removing a photo chosen but not sent yet empties the picker too.
    page.locator("#photo-source_image [data-role=remove]").click()
    page.wait_for_function(
        "() => document.querySelector('#photo-source_image [data-role=preview]').hidden"
    )
    assert page.locator('input[name="source_photo"]').evaluate("i => i.files.length") == 0
    assert page.csp_violations == []
