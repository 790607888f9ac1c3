"""A Korean traveller's whole journey in a real browser (Chromium with a Korean locale, so it
asks for Korean the way a browser in Korea does), and every page in both languages at phone
width. Against the real `manage.py serve` and a real worker; the Korean prompt goes through the
prompt translation (a fake Hugging Face on 127.0.0.1 speaking the translation protocol) before
the demo provider draws it; the password reset e-mail goes through a real SMTP server
(aiosmtpd) on 127.0.0.1. Screenshots land in test-output/screenshots/ (ko-*, walk-*).
"""

import os
import re
import uuid

import pytest

from imagegen import services
from imagegen.models import Generation
from tests import test_browser as browser_tests
from tests.conftest import run_queued_tasks, wait_until_settled
from tests.fakes.hf_server import start_hf_server
from tests.fakes.smtp import smtp_inbox

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [pytest.mark.worker, pytest.mark.browser]

browser = browser_tests.browser
page_factory = browser_tests.page_factory
shoot = browser_tests.shoot
assert_accessible_basics = browser_tests.assert_accessible_basics
DESKTOP, PHONE = browser_tests.DESKTOP, browser_tests.PHONE
PASSWORD = browser_tests.PASSWORD
KOREAN_PROMPT = "제주도 성산일출봉의 일출, 수채화 스타일"
HANGUL = re.compile(r"[\uac00-\ud7a3]")


@pytest.fixture
def inbox():
    with smtp_inbox() as inbox:
        yield inbox


@pytest.fixture
def translator():
    with start_hf_server() as server:
        # A model name of this run's own: a translation cached by an earlier run (the Redis
        # cache outlives a test) must not stand in for the call this test watches for.
        server.model = f"travelfit-test/opus-mt-ko-en-{uuid.uuid4().hex[:8]}"
        server.add_model(server.model, server.model, provider="hf-inference", task="translation")
        yield server


@pytest.fixture
def korean_site(serve_site, start_worker, presets, inbox, translator):
    """The site and a worker with prompt translation on, mail to the SMTP server."""
    env = {
        "PROMPT_TRANSLATION": "hf_inference",
        "HF_TRANSLATION_MODEL": translator.model,
        "HF_ROUTER_URL": translator.url,
        "HF_ENDPOINT": translator.url,  # the Hub's model look-up, on this machine
        "HUGGINGFACE_API_TOKEN": "hf_korean_journey_token",
        "IMAGEGEN_DEMO_DELAY": "1",
        "EMAIL_URL": inbox.url,
        "DEFAULT_FROM_EMAIL": "TravelFit <travel@example.org>",
    }
    start_worker(**env)
    return serve_site(**env)


def korean_page(page_factory, viewport=DESKTOP):
    return page_factory(viewport=viewport, locale="ko-KR")


def assert_korean(page):
    assert page.locator("html").get_attribute("lang") == "ko"
    assert HANGUL.search(page.locator("h1").first.inner_text()), page.url


def shot_name(path):
    """/accounts/password_reset/done/ → accounts-password_reset-done; / → create."""
    parts = [part for part in path.split("/") if part]
    if parts[:1] in (["g"], ["s"]) and len(parts) > 1 and parts[1] != "not-a-share-token":
        parts[1] = "id"  # not the random id, so each run overwrites the last run's picture
    return "-".join(parts) or "create"


def assert_fits(page):
    width = page.evaluate("window.innerWidth")
    assert page.evaluate("document.documentElement.scrollWidth") <= width, page.url


def test_a_korean_traveller_does_everything_in_korean(korean_site, page_factory, inbox, translator):
    site = korean_site
    page = korean_page(page_factory)

    # Sign up: every label, button and message in Korean.
    page.goto(f"{site}/accounts/signup/")
    assert_korean(page)
    page.locator("#id_username").fill("minji")
    page.locator("#id_email").fill("minji@example.org")
    page.locator("#id_password1").fill(PASSWORD)
    page.locator("#id_password2").fill(PASSWORD)
    shoot(page, "ko-signup-desktop")
    page.get_by_role("button", name="회원가입").click()
    page.wait_for_url(f"{site}/")
    assert_korean(page)
    assert_accessible_basics(page)

    # A Korean prompt: the model gets English, the page shows both.
    assert page.locator("label[for=id_prompt]").inner_text().startswith("프롬프트")
    page.locator("#id_prompt").fill(KOREAN_PROMPT)
    page.get_by_role("button", name="생성하기").click()
    generation = Generation.objects.get(owner__username="minji")
    wait_until_settled(generation)
    generation.refresh_from_db()
    assert generation.status == "succeeded"
    assert generation.prompt == KOREAN_PROMPT
    assert generation.prompt_en == (
        "Sunrise at Seongsan Ilchulbong on Jeju Island, watercolour style"
    )
    (asked,) = translator.translation_requests
    assert asked.json["inputs"] == KOREAN_PROMPT
    page.goto(f"{site}/g/{generation.pk}/")
    assert_korean(page)
    assert generation.prompt_en in page.locator('[data-role="prompt-en"]').inner_text()
    assert page.locator(".badge.status-succeeded").inner_text() == "완료"
    shoot(page, "ko-detail-desktop")

    # Share it; someone without an account opens the link in Korean.
    page.get_by_role("button", name=re.compile("공유 링크")).click()
    share_url = page.locator("#share-link").input_value()
    stranger = korean_page(page_factory, PHONE)
    stranger.goto(share_url)
    assert stranger.locator("html").get_attribute("lang") == "ko"
    assert KOREAN_PROMPT in stranger.locator(".prompt-title").inner_text()
    assert_fits(stranger)
    shoot(stranger, "ko-shared-phone")

    # The gallery and the profile.
    page.get_by_role("link", name="내 갤러리").first.click()
    assert_korean(page)
    assert page.locator(".card").count() == 1
    shoot(page, "ko-gallery-desktop")
    page.get_by_role("link", name="계정").click()
    assert_korean(page)
    shoot(page, "ko-profile-desktop")
    page.set_viewport_size(PHONE)
    assert_fits(page)
    shoot(page, "ko-profile-phone")
    page.set_viewport_size(DESKTOP)

    # Log out, forget the password, reset it from a Korean e-mail, log in with the new one.
    page.locator("form[action$='/logout/'] button").click()
    page.goto(f"{site}/accounts/login/")
    page.get_by_role("link", name=re.compile("비밀번호")).first.click()
    assert_korean(page)
    page.locator("#id_email").fill("minji@example.org")
    page.locator("form.panel button[type=submit], main form button[type=submit]").first.click()
    assert_korean(page)
    ((_, mail),) = inbox.messages
    assert HANGUL.search(mail.split("\n\n", 1)[1] if "\n\n" in mail else mail)
    link = re.search(r"(http://127\.0\.0\.1:\d+/accounts/reset/\S+/)", mail)[1]
    page.goto(link)
    assert_korean(page)
    new_password = "새-비밀번호-long-enough-77"
    page.locator("#id_new_password1").fill(new_password)
    page.locator("#id_new_password2").fill(new_password)
    page.locator("main form button[type=submit]").click()
    assert_korean(page)
    page.goto(f"{site}/accounts/login/")
    page.locator("#id_username").fill("minji")
    page.locator("#id_password").fill(new_password)
    page.get_by_role("button", name="로그인").last.click()
    page.wait_for_url(f"{site}/")

    # Delete the account: password first, then everything is gone.
    page.goto(f"{site}/accounts/delete/")
    assert_korean(page)
    shoot(page, "ko-delete-account-desktop")
    page.locator("input[type=password]").fill(new_password)
    page.locator("main form button.danger").click()
    assert_korean(page)
    assert not Generation.objects.filter(pk=generation.pk).exists()
    assert page.csp_violations == []


def test_every_page_fits_a_phone_in_both_languages(served_site, page_factory, make_user):
    """No page scrolls sideways at 390 px, in Korean or English, and each says its language."""
    user = make_user("walker")
    generation = services.submit_generation(
        user=user, prompt="부산 감천문화마을의 골목길, 수채화 스타일 " * 3, width=1024, height=576
    )
    run_queued_tasks()
    generation.refresh_from_db()
    share = services.share_generation(generation_id=generation.pk, user=user)
    assert share
    private = [
        "/",
        "/gallery/",
        f"/g/{generation.pk}/",
        f"/g/{generation.pk}/delete",
        "/accounts/profile/",
        "/accounts/keys/",
        "/accounts/password_change/",
        "/accounts/delete/",
        "/no-such-page/",
    ]
    public = [
        "/accounts/login/",
        "/accounts/signup/",
        "/accounts/password_reset/",
        "/accounts/password_reset/done/",
        f"/s/{share}/",
        "/s/not-a-share-token/",
    ]
    for language, locale in (("ko", "ko-KR"), ("en", "en-US")):
        page = page_factory(viewport=PHONE, locale=locale)
        for path in public:
            page.goto(served_site + path)
            assert page.locator("html").get_attribute("lang") == language, path
            assert_fits(page)
            shoot(page, f"walk-{language}-{shot_name(path)}")
        page.goto(f"{served_site}/accounts/login/")
        page.locator("#id_username").fill("walker")
        page.locator("#id_password").fill(PASSWORD)
        page.locator("main form button[type=submit]").click()
        page.wait_for_url(f"{served_site}/")
        for path in private:
            page.goto(served_site + path)
            assert page.locator("html").get_attribute("lang") == language, path
            # The detail page's heading is the user's own (Korean) prompt in both languages.
            own_words = path.startswith("/g/") and not path.endswith("delete")
            if not own_words:
                has_hangul = bool(HANGUL.search(page.locator("h1").first.inner_text()))
                assert has_hangul == (language == "ko"), path
            assert_fits(page)
            shoot(page, f"walk-{language}-{shot_name(path)}")
        assert page.csp_violations == []
