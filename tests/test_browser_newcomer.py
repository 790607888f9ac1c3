"""What a Korean newcomer and an integrator see, in Chromium at a phone's width and in both
languages: sign-up in the browser's time zone, the keys page's webhook field and curl example,
the API docs page, the create page's picture count, a share link. Screenshots of each page at
390 px, Korean and English, land in test-output/screenshots/ (newcomer-*).
"""

import os
import re

import pytest
from django.template import loader
from django.utils import translation

from accounts.models import Profile
from imagegen import services
from imagegen.models import Generation
from tests import test_browser as browser_tests
from tests.conftest import PASSWORD, run_queued_tasks

# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make here
# are still plain blocking calls, which Django would otherwise refuse next to a running loop.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [pytest.mark.worker, pytest.mark.browser]

browser = browser_tests.browser
page_factory = browser_tests.page_factory
shoot = browser_tests.shoot
PHONE = browser_tests.PHONE
LANGUAGES = {"ko": "ko-KR", "en": "en-GB"}

# Words of an element's text that the browser broke across two lines (a long key or URL may
# be; a word that fits on a line may not). A break after a hyphen ("Content-/Type") is a
# break between words, as in any text, so hyphens separate words here.
SPLIT_SHORT_WORDS = """el => {
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    const width = el.clientWidth, split = [];
    for (let node; (node = walker.nextNode());) {
        const re = /[^\\s-]+/g;
        for (let m; (m = re.exec(node.data));) {
            const range = document.createRange();
            range.setStart(node, m.index);
            range.setEnd(node, m.index + m[0].length);
            const rects = [...range.getClientRects()];
            const lines = new Set(rects.map(r => Math.round(r.top)));
            const wide = rects.reduce((sum, r) => sum + r.width, 0);
            if (lines.size > 1 && wide < width * 0.9) split.push(m[0]);
        }
    }
    return split;
}"""


def phone_page(page_factory, language, **options):
    page = page_factory(viewport=PHONE, locale=LANGUAGES[language], **options)
    page.set_extra_http_headers({"Accept-Language": LANGUAGES[language]})
    return page


def log_in(page, site, username):
    page.goto(f"{site}/accounts/login/")
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(PASSWORD)
    page.locator("main form button.primary").click()
    page.wait_for_url(f"{site}/")


def assert_fits(page):
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert page.csp_violations == []


@pytest.mark.parametrize("language", ["ko", "en"])
def test_a_new_account_gets_the_browsers_time_zone(served_site, page_factory, db, language):
    page = phone_page(page_factory, language, timezone_id="America/Sao_Paulo")
    page.goto(f"{served_site}/accounts/signup/")
    shoot(page, f"newcomer-signup-{language}-phone")
    assert_fits(page)
    page.locator("#id_username").fill(f"traveller-{language}")
    page.locator("#id_email").fill(f"traveller-{language}@example.org")
    page.locator("#id_password1").fill(PASSWORD)
    page.locator("#id_password2").fill(PASSWORD)
    page.locator("main form button.primary").click()
    page.wait_for_url(f"{served_site}/")
    profile = Profile.objects.get(user__username=f"traveller-{language}")
    assert profile.time_zone == "America/Sao_Paulo"
    page.goto(f"{served_site}/accounts/profile/")
    chosen = page.locator("#id_time_zone option:checked").inner_text()
    names = {"ko": "브라질 · 상파울루 · UTC-3", "en": "Brazil · Sao Paulo · UTC-3"}
    assert chosen == names[language]
    assert page.locator("#day-resets").inner_text().endswith("-03")
    if language == "ko":
        # 오전/오후 before the time, as Koreans write it.
        assert re.search(
            r"일 (오전|오후) \d{1,2}:\d\d -03$", page.locator("#day-resets").inner_text()
        )
    shoot(page, f"newcomer-profile-{language}-phone")
    assert_fits(page)


@pytest.mark.parametrize("language", ["ko", "en"])
def test_the_keys_page_webhook_field_and_curl_example_fit_a_phone(
    served_site, page_factory, make_user, language
):
    make_user("dohyun")
    page = phone_page(page_factory, language)
    log_in(page, served_site, "dohyun")
    page.goto(f"{served_site}/accounts/keys/")
    webhook, name = page.locator("#id_default_callback_url"), page.locator("#id_name")
    # The URL field is styled like the name field above it: as wide, with the same border.
    for prop in ("width", "border-top-left-radius", "padding-left", "border-top-color"):
        style = f"el => getComputedStyle(el).getPropertyValue('{prop}')"
        assert webhook.evaluate(style) == name.evaluate(style), prop
    assert webhook.bounding_box()["width"] > PHONE["width"] * 0.6
    name.fill("phone script")
    page.locator("form[action$='/keys/'] button[type=submit]").click()
    example = page.locator("pre.key-example")
    example.wait_for()
    assert example.evaluate(SPLIT_SHORT_WORDS) == []
    shoot(page, f"newcomer-keys-{language}-phone")
    assert_fits(page)


@pytest.mark.parametrize("language", ["ko", "en"])
def test_the_api_docs_fit_a_phone_and_lead_back_to_the_site(
    served_site, page_factory, db, language
):
    page = phone_page(page_factory, language)
    page.goto(f"{served_site}/api/v1/docs")
    page.wait_for_selector(".opblock-summary-path", timeout=20000)
    assert page.evaluate("window.innerWidth") == PHONE["width"]  # not a 980 px layout
    back = page.locator(".docs-bar a").nth(1)
    assert back.get_attribute("href") == "/"
    assert back.is_visible()
    shoot(page, f"newcomer-api-docs-{language}-phone")
    assert_fits(page)
    back.click()
    page.wait_for_url(f"{served_site}/**")


@pytest.mark.parametrize("language", ["ko", "en"])
def test_the_create_page_asks_for_several_pictures_and_keeps_the_prompt(
    served_site, page_factory, make_user, language
):
    user = make_user(f"yuna-{language}")
    page = phone_page(page_factory, language)
    log_in(page, served_site, user.username)
    prompt = "부산 감천문화마을 골목길" if language == "ko" else "Gamcheon culture village"
    page.locator("#id_prompt").fill(prompt)
    page.locator("input[name=n][value='3']").check(force=True)
    page.locator(".generate-form button[type=submit]").click()
    page.wait_for_load_state()
    assert Generation.objects.filter(owner=user).count() == 3
    assert page.locator("#id_prompt").input_value() == prompt
    assert page.locator("input[name=n][value='3']").is_checked()
    shoot(page, f"newcomer-create-{language}-phone")
    assert_fits(page)


@pytest.mark.parametrize("language", ["ko", "en"])
def test_a_share_page_fits_a_phone(served_site, page_factory, make_user, language):
    user = make_user(f"share-{language}")
    generation = services.submit_generation(
        user=user, prompt="제주 성산일출봉의 일출", width=768, height=512
    )
    run_queued_tasks()
    token = services.share_generation(generation_id=generation.pk, user=user)
    page = phone_page(page_factory, language)
    page.goto(f"{served_site}/s/{token}/")
    image = page.locator('meta[property="og:image"]').get_attribute("content")
    assert image == f"{served_site}/s/{token}/image.png"
    assert page.request.get(image).headers["content-type"] == "image/png"
    shoot(page, f"newcomer-share-{language}-phone")
    assert_fits(page)


@pytest.mark.parametrize("language", ["ko", "en"])
def test_the_spraying_lock_and_the_database_outage_pages_fit_a_phone(
    serve_site, page_factory, make_user, language
):
    site = serve_site(LOGIN_ADDRESS_FAILURE_LIMIT="2")
    make_user("victim")
    page = phone_page(page_factory, language)
    for name in ("admin", "root", "victim"):
        page.goto(f"{site}/accounts/login/")
        page.locator("#id_username").fill(name)
        page.locator("#id_password").fill("Summer2026!" if name != "victim" else PASSWORD)
        page.locator("main form button.primary").click()
        page.wait_for_load_state()
    assert page.locator(".form-errors").is_visible()
    assert "_auth_user_id" not in str(page.context.cookies())
    shoot(page, f"newcomer-locked-network-{language}-phone")
    assert_fits(page)

    # The 503 page needs no database: rendered here, served at the site's address for its CSS.
    with translation.override(language):
        outage = loader.get_template("503.html").render()
    page.route(
        f"{site}/outage",
        lambda route: route.fulfill(status=503, body=outage, content_type="text/html"),
    )
    page.goto(f"{site}/outage")
    assert page.locator("h1").is_visible()
    shoot(page, f"newcomer-outage-{language}-phone")
    assert_fits(page)


def test_a_korean_traveller_tries_an_outfit_on_from_a_phone(
    served_site, start_worker, page_factory, make_user, tmp_path
):
    """Choose "try on", pick two photos, tick, submit, and see the result with both photos."""
    from tests import photos

    make_user("jisoo")
    person = tmp_path / "me.jpg"
    person.write_bytes(photos.jpeg_with_gps(480, 640))
    garment = tmp_path / "coat.png"
    garment.write_bytes(photos.png_with_alpha(300, 300))
    start_worker(IMAGEGEN_DEMO_DELAY="0")
    page = phone_page(page_factory, "ko")
    log_in(page, served_site, "jisoo")
    tab = page.locator("label.task-tab", has_text="옷 입어 보기")
    tab.click()
    # Only what a try-on takes is shown: two photo pickers, the tick, no shape or preset.
    assert page.locator('input[name="garment_photo"]').is_visible()
    assert not page.locator("#id_preset").is_visible()
    assert page.locator('[data-role="words-try_on"] label').inner_text() == "옷 설명(선택):"
    page.locator('input[name="source_photo"]').set_input_files(str(person))
    page.locator('input[name="garment_photo"]').set_input_files(str(garment))
    previews = page.locator('[data-role="preview"]')
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-role=preview]')]"
        ".every(img => !img.hidden && img.complete && img.naturalWidth > 0)"
    )
    assert previews.count() == 2
    shoot(page, "newcomer-try-on-chosen-ko-phone")
    assert_fits(page)
    page.locator("#id_try_on_prompt").fill("베이지색 린넨 코트")
    page.locator("#id_consent").check()
    page.locator(".generate-form button[type=submit]").click()
    page.wait_for_load_state()
    card = page.locator("article.card").first
    card.locator("img").wait_for(timeout=30_000)
    assert card.locator(".badge.task-try_on").inner_text() == "옷 입어 보기"
    card.locator("a.card-media").click()
    page.wait_for_selector(".detail-media img")
    sources = page.locator(".sources img")
    assert sources.count() == 2
    page.wait_for_function(
        "() => [...document.querySelectorAll('.sources img, .detail-media img')]"
        ".every(img => img.complete && img.naturalWidth > 0)"
    )
    generation = Generation.objects.get(owner__username="jisoo")
    assert generation.task == "try_on" and generation.status == "succeeded"
    shoot(page, "newcomer-try-on-result-ko-phone")
    assert_fits(page)
