"""The admin in a real browser: Debian's Chromium driven by Playwright against `manage.py serve`
on the test database. Screenshots of the generation list and the grant-credits page land in
test-output/screenshots/.
"""

import os
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model

from imagegen import services
from imagegen.models import Generation, ProviderCooldown, Quota
from imagegen.providers.demo import DemoProvider
from imagegen.tasks import run_generation
from tests import test_browser as browser_tests
from tests.conftest import PASSWORD

# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make here
# are still plain blocking calls, which Django would otherwise refuse next to a running loop.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [pytest.mark.worker, pytest.mark.browser]

# test_browser's Chromium fixtures and screenshot helper, shared rather than copied.
browser = browser_tests.browser
page_factory = browser_tests.page_factory
shoot = browser_tests.shoot


@pytest.fixture
def worker_env(worker_env):
    """The served site has a monthly budget, so the admin's budget warning can show."""
    return {**worker_env, "IMAGEGEN_MONTHLY_BUDGET_USD": "1.00"}


def run_action(page, action):
    page.locator("select[name=action]").select_option(action)
    page.get_by_role("button", name="Go").click()
    page.wait_for_load_state()


def message(page, level):
    return page.locator(f"ul.messagelist li.{level}")


def test_an_admin_retries_grants_credits_and_clears_a_cooldown(
    served_site, page_factory, make_user
):
    get_user_model().objects.create_superuser("root", "root@example.org", PASSWORD)
    alice, bob = make_user("alice"), make_user("bob")
    done = services.submit_generation(user=alice, prompt="Jeju sunrise", width=512, height=512)
    # 85 cents of a 1-dollar budget (the demo provider priced for it): the admin is warned.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DemoProvider, "cost", lambda self, seconds: Decimal("0.85"))
        run_generation(str(done.pk))
    broken = services.submit_generation(
        user=bob, prompt="Gyeongju temple at dusk", width=512, height=512
    )
    services.fail_generation(
        broken.pk,
        user_message="The provider is busy.",
        detail="gradio_space (unavailable): HTTP 503",
        failure_class="unavailable",
    )
    services.start_cooldown("gradio_space", 600, "ZeroGPU quota exceeded")

    page = page_factory()
    page.goto(f"{served_site}/admin/")
    page.locator("#id_username").fill("root")
    page.locator("#id_password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{served_site}/admin/")
    assert "$0.85, 85% of the $1.00 monthly budget" in message(page, "warning").inner_text()

    # Generations: thumbnails in the list, then retry the failed one.
    page.get_by_role("link", name="Generations").click()
    page.wait_for_url(f"{served_site}/admin/imagegen/generation/")
    thumbnail = page.locator("#result_list .field-thumb img")
    assert thumbnail.count() == 1
    thumbnail.first.wait_for()
    page.wait_for_function("() => document.querySelector('.field-thumb img').complete")
    assert thumbnail.first.evaluate("img => img.naturalWidth") > 0
    assert message(page, "warning").count() == 1
    shoot(page, "admin-generations-desktop")
    page.locator("tr", has_text="Gyeongju temple").locator("input.action-select").check()
    run_action(page, "retry_selected")
    assert "Queued 1 generation again" in message(page, "success").inner_text()
    retried = Generation.objects.get(owner=bob, status=Generation.Status.QUEUED)
    assert retried.prompt == "Gyeongju temple at dusk" and retried.charged

    # Users: grant 5 credits to alice and bob through the intermediate page.
    page.goto(f"{served_site}/admin/auth/user/")
    for name in ("alice", "bob"):
        page.locator("tr", has=page.get_by_role("link", name=name, exact=True)).locator(
            "input.action-select"
        ).check()
    shoot(page, "admin-users-desktop")
    run_action(page, "grant_credits")
    page.get_by_label("Credits for each user").fill("5")
    assert page.get_by_role("table", name="Selected users").inner_text().count("@example.org") == 2
    shoot(page, "admin-grant-credits-desktop")
    page.get_by_role("button", name="Grant credits").click()
    page.wait_for_load_state()
    assert "Granted 5 credits to 2 users" in message(page, "success").inner_text()
    assert Quota.objects.get(user=alice).bonus_credits == 5
    assert Quota.objects.get(user=bob).bonus_credits == 5

    # Cool-downs: clear the one that keeps workers off gradio_space.
    page.goto(f"{served_site}/admin/imagegen/providercooldown/")
    assert "ZeroGPU quota exceeded" in page.locator("#result_list").inner_text()
    page.locator("tr", has_text="gradio_space").locator("input.action-select").check()
    run_action(page, "clear_selected")
    assert "Cleared 1 cool-down" in message(page, "success").inner_text()
    assert not ProviderCooldown.objects.exists()
