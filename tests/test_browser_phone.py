"""A phone in the hand, in Chromium at 390 × 844: every tap target at least 44 × 44 px (WCAG
2.5.5) and a header of one row (a menu) on the main pages, signed out and in; the landing page
a visitor gets at / and /verify, whose file picker is a 44 px button in the page's language, as
the create page's; the sign-up e-mail said to be required, with our own error; the create
page's "Make 3 instead" after an over-quota refusal. Screenshots at 390 px (Korean) and 1280 px
(English) land in test-output/screenshots/ (phone-*).
"""

import os
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model

from imagegen import services
from imagegen.models import Generation
from tests import test_browser as browser_tests
from tests.conftest import PASSWORD, ROOT, run_queued_tasks

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [pytest.mark.worker, pytest.mark.browser]

browser = browser_tests.browser
page_factory = browser_tests.page_factory
shoot = browser_tests.shoot
DESKTOP, PHONE = browser_tests.DESKTOP, browser_tests.PHONE
LOCALES = {"ko": "ko-KR", "en": "en-GB"}
HANGUL = re.compile(r"[\uac00-\ud7a3]")
TARGET = 44  # CSS px, WCAG 2.5.5

# Every visible target smaller than 44 × 44 px: links, buttons, summaries, fields, and for a
# checkbox or radio its label (what a finger taps), for our photo pickers' hidden file input
# (.photo-input) its button-like label. A link inside a sentence is exempt, as
# WCAG 2.5.5 exempts inline targets: its paragraph has words besides the link's.
SMALL_TARGETS = """(within) => {
    const root = within ? document.querySelector(within) : document;
    const shown = el => {
        const box = el.getBoundingClientRect(), style = getComputedStyle(el);
        return box.width > 0 && box.height > 0 && style.visibility !== 'hidden'
            && !el.closest('[hidden], .visually-hidden');
    };
    const inSentence = el => {
        if (el.tagName !== 'A') return false;
        const block = el.closest('p');
        if (!block) return false;
        const rest = block.textContent.replace(el.textContent, '');
        return /[\\p{L}\\p{N}]/u.test(rest);
    };
    const small = [];
    for (const el of root.querySelectorAll(
            'a[href], button, summary, select, textarea, input:not([type=hidden])')) {
        const box = el.matches('input[type=checkbox], input[type=radio]')
            ? (el.closest('label') || (el.labels && el.labels[0]) || el)
            : el.matches('input[type=file].photo-input')
            ? ([...el.labels].find(label => label.matches('.photo-button')) || el) : el;
        if (!shown(box) || inSentence(el)) continue;
        const r = box.getBoundingClientRect();
        if (r.width < 43.5 || r.height < 43.5) {
            const name = (el.innerText || el.value || el.name || el.id || '').trim().slice(0, 40);
            const size = `${Math.round(r.width)}×${Math.round(r.height)}`;
            small.push(`${el.tagName.toLowerCase()} "${name}" ${size}`);
        }
    }
    return small;
}"""

# The header's height and whether its visible parts share one row.
HEADER = """() => {
    const header = document.querySelector('.topbar');
    const parts = [...header.querySelectorAll(':scope > *, :scope > details > summary')]
        .map(el => el.getBoundingClientRect()).filter(r => r.width > 0 && r.height > 0);
    const top = Math.max(...parts.map(r => r.top)), bottom = Math.min(...parts.map(r => r.bottom));
    return {height: header.getBoundingClientRect().height, oneRow: top < bottom};
}"""


def phone(page_factory, language="ko"):
    page = page_factory(viewport=PHONE, locale=LOCALES[language], is_mobile=True, has_touch=True)
    page.set_extra_http_headers({"Accept-Language": LOCALES[language]})
    return page


def desktop(page_factory, language="en"):
    page = page_factory(viewport=DESKTOP, locale=LOCALES[language])
    page.set_extra_http_headers({"Accept-Language": LOCALES[language]})
    return page


def log_in(page, site, username):
    page.goto(f"{site}/accounts/login/")
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(PASSWORD)
    page.locator("main form button.primary").click()
    page.wait_for_url(f"{site}/")


def check_phone_page(page, name, problems):
    """One row of header at most 64 px tall; no target under 44 px, the menu's included; what
    is wrong goes into `problems`, so that one run names every page's."""
    header = page.evaluate(HEADER)
    if not (header["oneRow"] and header["height"] <= 64):
        problems.append(f"{name}: header {header}")
    problems += [f"{name}: {small}" for small in page.evaluate(SMALL_TARGETS, None)]
    if page.evaluate("document.documentElement.scrollWidth") > PHONE["width"]:
        problems.append(f"{name}: wider than the phone")
    shoot(page, f"phone-{name}-ko-phone")
    menu = page.locator(".menu > summary")
    menu.click()
    if not page.locator(".menu-body .nav").is_visible():
        problems.append(f"{name}: the menu does not open")
    problems += [f"{name} menu: {small}" for small in page.evaluate(SMALL_TARGETS, ".menu-body")]
    shoot(page, f"phone-{name}-menu-ko-phone")
    menu.click()
    if page.locator(".menu-body .nav").is_visible():
        problems.append(f"{name}: the menu does not close")
    problems += [f"{name}: {violation}" for violation in page.csp_violations]


@pytest.fixture
def shared_generation(make_user):
    owner = make_user("sora")
    generation = services.submit_generation(
        user=owner, prompt="부산 감천문화마을의 골목길, 수채화 스타일", width=1024, height=576
    )
    run_queued_tasks()
    generation.refresh_from_db()
    token = services.share_generation(generation_id=generation.pk, user=owner)
    return generation, token


def test_every_target_is_44_px_and_the_header_is_one_row_on_a_phone(
    served_site, page_factory, shared_generation
):
    generation, token = shared_generation
    page = phone(page_factory)
    problems = []
    for path, name in (
        ("/", "landing"),
        ("/accounts/login/", "login"),
        ("/accounts/signup/", "signup"),
        (f"/s/{token}/", "shared-signed-out"),
        ("/verify", "verify"),
    ):
        page.goto(served_site + path)
        check_phone_page(page, name, problems)
    # The shared page's report toggle, opened: its reasons are targets too.
    page.goto(f"{served_site}/s/{token}/")
    page.locator(".report summary").click()
    problems += [f"report: {small}" for small in page.evaluate(SMALL_TARGETS, ".report")]

    log_in(page, served_site, "sora")
    for path, name in (
        ("/", "create"),
        ("/gallery/", "gallery"),
        (f"/g/{generation.pk}/", "detail"),
        ("/accounts/profile/", "profile"),
        (f"/s/{token}/", "shared-signed-in"),
    ):
        page.goto(served_site + path)
        check_phone_page(page, name, problems)
    # The create page's advanced settings, opened.
    page.goto(served_site + "/")
    page.locator(".advanced summary").click()
    problems += [f"advanced: {small}" for small in page.evaluate(SMALL_TARGETS, ".advanced")]
    assert problems == [], "\n".join(problems)

    # The menu leads where it says: a phone user reaches the gallery through it.
    page.locator(".menu > summary").click()
    page.locator(".menu-body").get_by_role("link", name="내 갤러리").click()
    page.wait_for_url(f"{served_site}/gallery/")
    page.locator(".menu > summary").click()
    page.locator(".language button[lang=en]").click()
    page.wait_for_url(f"{served_site}/gallery/")
    assert page.locator("html").get_attribute("lang") == "en"


def test_the_verify_pages_file_picker_is_a_44_px_button_in_the_pages_language(
    served_site, page_factory, tmp_path
):
    page = phone(page_factory)
    page.goto(f"{served_site}/verify")
    button = page.locator("label.photo-button[for=verify-file]")
    box = button.bounding_box()
    assert box["width"] >= TARGET and box["height"] >= TARGET, box
    assert button.inner_text() == "이미지 고르기"
    picture = tmp_path / "seoul-at-night.png"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n")  # the name is all the picker shows
    page.locator("#verify-file").set_input_files(str(picture))
    assert page.locator("[data-role=chosen]").inner_text() == "seoul-at-night.png"
    assert button.inner_text() == "다른 이미지 고르기"
    assert page.evaluate(SMALL_TARGETS, ".verify-form") == []
    shoot(page, "phone-verify-chosen-ko-phone")


@pytest.mark.parametrize("signed_in", [False, True])
def test_on_a_desktop_the_header_shows_everything_in_one_row(
    served_site, page_factory, make_user, signed_in
):
    page = desktop(page_factory)
    if signed_in:
        make_user("an-unusually-long-user-name-for-a-header-" + "x" * 40)
        log_in(page, served_site, "an-unusually-long-user-name-for-a-header-" + "x" * 40)
        page.goto(f"{served_site}/gallery/")
    else:
        page.goto(f"{served_site}/accounts/login/")
    header = page.evaluate(HEADER)
    assert header["oneRow"] and header["height"] <= 64, header
    assert not page.locator(".menu > summary").is_visible()
    nav = page.locator(".menu-body .nav")
    assert nav.is_visible()
    if signed_in:
        assert nav.get_by_role("link", name="My gallery").is_visible()
        assert nav.get_by_role("button", name=re.compile("^Log out")).is_visible()
    else:
        assert nav.get_by_role("link", name="Sign up").is_visible()
    assert page.locator(".language button[lang=ko]").is_visible()
    assert page.evaluate(SMALL_TARGETS, ".topbar") == []
    shoot(page, f"phone-header-{'in' if signed_in else 'out'}-en-desktop")


@pytest.mark.parametrize("language", ["ko", "en"])
def test_a_visitor_at_the_root_sees_what_travelfit_makes_and_the_way_to_sign_up(
    served_site, page_factory, db, language
):
    page = phone(page_factory, language) if language == "ko" else desktop(page_factory)
    response = page.goto(f"{served_site}/")
    assert response.status == 200 and page.url == f"{served_site}/"
    assert page.locator("html").get_attribute("lang") == language
    heading = page.locator("h1").inner_text()
    assert bool(HANGUL.search(heading)) == (language == "ko"), heading
    examples = page.locator(".example img")
    assert examples.count() == 4
    alts = set()
    for index in range(4):
        image = examples.nth(index)
        image.scroll_into_view_if_needed()
        page.wait_for_function(
            "img => img.complete && img.naturalWidth > 0", arg=image.element_handle()
        )
        assert image.evaluate("img => img.naturalWidth") == 480
        alt = image.get_attribute("alt")
        assert len(alt) > 20 and bool(HANGUL.search(alt)) == (language == "ko"), alt
        alts.add(alt)
        caption = image.locator("xpath=../figcaption").inner_text()
        assert bool(HANGUL.search(caption)) == (language == "ko"), caption
    assert len(alts) == 4
    # Small files: the four together weigh less than one photo's thumbnail.
    shipped = Path(ROOT, "static", "img", "examples")
    assert sum(path.stat().st_size for path in shipped.glob("*.webp")) < 40_000
    page.evaluate("window.scrollTo(0, 0)")
    sign_up = page.locator(".landing-hero").get_by_role(
        "link", name={"ko": "무료로 가입하기", "en": "Sign up free"}[language]
    )
    box = sign_up.bounding_box()
    assert box["y"] + box["height"] <= page.viewport_size["height"]  # in the first screen
    assert (
        page.locator(".landing-hero")
        .get_by_role("link", name={"ko": "로그인", "en": "Log in"}[language])
        .is_visible()
    )
    shoot(page, f"phone-landing-{language}-{'phone' if language == 'ko' else 'desktop'}")
    sign_up.click()
    page.wait_for_url(f"{served_site}/accounts/signup/")
    assert page.csp_violations == []


def test_signed_in_the_root_is_still_the_create_page(served_site, page_factory, make_user):
    make_user("mina")
    page = phone(page_factory)
    log_in(page, served_site, "mina")
    page.goto(f"{served_site}/")
    assert page.locator("#id_prompt").is_visible()
    assert page.locator(".landing-hero").count() == 0


def test_the_sign_up_email_is_required_in_words_and_left_out_gets_our_error(
    served_site, page_factory, db
):
    page = phone(page_factory)
    page.goto(f"{served_site}/accounts/signup/")
    label = page.locator("label[for=id_email]").inner_text()
    assert "필수" in label, label
    help_text = page.locator("#id_email_helptext").inner_text()
    assert "비밀번호" in help_text and "때만" not in help_text, help_text
    page.locator("#id_username").fill("haneul")
    page.locator("#id_password1").fill(PASSWORD)
    page.locator("#id_password2").fill(PASSWORD)
    page.locator("main form button.primary").click()
    error = page.locator("#id_email_error, .errorlist").filter(has_text="이메일 주소를 적어 주세요")
    error.first.wait_for(timeout=10_000)
    email_box = page.locator("#id_email").bounding_box()
    error_box = error.first.bounding_box()
    assert abs(error_box["y"] - email_box["y"]) < 120  # beside the field, not elsewhere
    assert not get_user_model().objects.filter(username="haneul").exists()
    shoot(page, "phone-signup-email-required-ko-phone")
    page.locator("#id_email").fill("haneul@example.org")
    page.locator("#id_password1").fill(PASSWORD)
    page.locator("#id_password2").fill(PASSWORD)
    page.locator("main form button.primary").click()
    page.wait_for_url(f"{served_site}/")
    assert get_user_model().objects.filter(username="haneul").exists()


def test_a_refusal_for_four_with_three_left_is_one_tap_from_making_three(
    served_site, page_factory, make_user
):
    user = make_user("jiwoo")
    quota = services.quota_for(user)
    periods = services.Periods.current()
    quota.day, quota.day_used = periods.day, settings.IMAGEGEN_DAILY_QUOTA - 3
    quota.month, quota.month_used = periods.month, settings.IMAGEGEN_DAILY_QUOTA - 3
    quota.save()
    page = phone(page_factory)
    log_in(page, served_site, "jiwoo")
    page.locator("#id_prompt").fill("부산 해운대의 밤바다")
    page.locator(".count-field label").filter(has_text="4").click()
    page.locator("button.primary", has_text="생성하기").click()
    page.wait_for_load_state()
    refusal = page.locator(".form-errors")
    assert "지금은 3장까지 만들 수 있어요" in refusal.inner_text()
    offer = refusal.get_by_role("button", name="대신 3장 만들기")
    offer.scroll_into_view_if_needed()
    assert offer.is_visible()
    box = offer.bounding_box()
    assert box["height"] >= TARGET and box["width"] >= TARGET
    shoot(page, "phone-quota-offer-ko-phone")
    assert not Generation.objects.filter(owner=user).exists()
    offer.click()
    page.wait_for_url(f"{served_site}/#latest")  # the new work, in view
    made = Generation.objects.filter(owner=user)
    assert made.count() == 3
    assert {g.prompt for g in made} == {"부산 해운대의 밤바다"}
    assert page.locator(".quota").inner_text().startswith("오늘")
    assert "0크레딧" in page.locator(".quota").inner_text()
