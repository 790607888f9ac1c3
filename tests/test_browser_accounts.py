"""The account pages in a real browser: Debian's Chromium driven by Playwright against
`manage.py serve` on the test database. Screenshots of the profile and API keys pages, desktop
and phone, land in test-output/screenshots/.
"""

import os

import pytest
from playwright.sync_api import expect

from imagegen import services
from imagegen.models import Generation
from tests import test_browser as browser_tests
from tests.conftest import PASSWORD, run_queued_tasks

# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make here
# are still plain blocking calls, which Django would otherwise refuse next to a running loop.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [pytest.mark.worker, pytest.mark.browser]

# test_browser's Chromium fixtures and helpers, shared rather than copied.
browser = browser_tests.browser
page_factory = browser_tests.page_factory
shoot = browser_tests.shoot
assert_accessible_basics = browser_tests.assert_accessible_basics
DESKTOP = browser_tests.DESKTOP
PHONE = browser_tests.PHONE


def assert_no_horizontal_scroll(page):
    width = page.evaluate("window.innerWidth")
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def test_profile_and_keys_pages_fit_a_phone_and_copy_a_new_key(
    served_site, page_factory, make_user
):
    user = make_user("jiwoo")
    for prompt in ("Bukchon hanok village in the snow", "Haeundae beach at night"):
        services.submit_generation(user=user, prompt=prompt, width=256, height=256)
    run_queued_tasks()
    services.submit_generation(user=user, prompt="Waiting for its turn", width=256, height=256)
    assert Generation.objects.filter(owner=user, status="succeeded").count() == 2

    page = page_factory(permissions=["clipboard-read", "clipboard-write"])
    page.goto(f"{served_site}/accounts/login/")
    page.locator("#id_username").fill("jiwoo")
    page.locator("#id_password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Account").click()
    page.locator("#id_time_zone").select_option("Asia/Seoul")
    page.get_by_role("button", name="Save").click()
    assert "Your preferences are saved." in page.locator(".messages").inner_text()
    assert page.locator("#day-resets").inner_text().endswith("KST")
    assert "3 images asked for, 2 made" in page.locator("#usage-summary").inner_text()
    assert_accessible_basics(page)
    for viewport, suffix in ((DESKTOP, "desktop"), (PHONE, "phone")):
        page.set_viewport_size(viewport)
        assert_no_horizontal_scroll(page)
        shoot(page, f"account-profile-{suffix}")

    page.set_viewport_size(DESKTOP)
    page.get_by_role("link", name="Manage API keys").click()
    page.locator("#id_name").fill("a script with a rather long name for a phone screen")
    page.get_by_role("button", name="Make key").click()
    key = page.locator("#new-key").input_value()
    assert key.startswith("tf_")
    copy = page.locator('[data-copy="#new-key"]')
    assert copy.inner_text() == "Copy"
    copy.click()
    expect(copy).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == key
    assert_accessible_basics(page)
    for viewport, suffix in ((DESKTOP, "desktop"), (PHONE, "phone")):
        page.set_viewport_size(viewport)
        assert_no_horizontal_scroll(page)
        shoot(page, f"account-keys-{suffix}")
    assert page.csp_violations == []
