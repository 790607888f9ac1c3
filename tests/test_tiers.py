"""Quality tiers: each picture chooses fast or best, served by its tier's providers and priced
in quota units; a site that sets no tiers has one, `standard`, at 1 unit."""

import csv
import io
import json
import re
import threading
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connections
from django.urls import reverse
from django.utils import translation

from imagegen import services
from imagegen.models import Generation, Quota
from imagegen.selectors import quota_status
from tests.conftest import run_queued_generations
from tests.photos import jpeg_with_gps

REQUEST = {"prompt": "Gamcheon culture village, Busan", "width": 512, "height": 512}


@pytest.fixture
def two_tiers(gradio_space, settings):
    """fast: the demo at 1 unit; best: the (fake) SD 3.5 Space at 3 units, with no fallback."""
    settings.IMAGEGEN_TIERS = [("fast", ["demo"], 1), ("best", ["gradio_space"], 3)]
    settings.IMAGEGEN_PROVIDERS = ["demo", "gradio_space"]
    settings.IMAGEGEN_DEFAULT_TIER = "fast"
    return gradio_space


def set_limits(user, daily, monthly=100, bonus=0):
    quota = services.quota_for(user)
    quota.daily_limit, quota.monthly_limit, quota.bonus_credits = daily, monthly, bonus
    quota.save()


def used(user):
    quota = Quota.objects.get(user=user)
    return quota.day_used, quota.month_used


def test_both_tiers_serve_side_by_side_each_from_its_own_chain_at_its_price(two_tiers, user):
    set_limits(user, daily=20)
    fast = services.submit_generation(user=user, tier="fast", **REQUEST)
    best = services.submit_generations(user=user, count=2, tier="best", **REQUEST)
    default = services.submit_generation(user=user, **REQUEST)

    assert used(user) == (1 + 2 * 3 + 1, 1 + 2 * 3 + 1)
    run_queued_generations()
    made = {g.pk: g for g in Generation.objects.filter(owner=user)}
    assert (made[fast.pk].tier, made[fast.pk].units, made[fast.pk].provider) == (
        "fast",
        1,
        "demo",
    )
    for generation in best:
        assert (made[generation.pk].tier, made[generation.pk].units) == ("best", 3)
        assert made[generation.pk].provider == "gradio_space"
        assert made[generation.pk].status == Generation.Status.SUCCEEDED
    assert made[default.pk].tier == "fast"  # IMAGEGEN_DEFAULT_TIER
    assert len(two_tiers.calls) == 2  # only the best ones reached the Space


def test_fallback_stays_inside_the_tier_and_a_failure_refunds_its_units(two_tiers, user):
    set_limits(user, daily=10)
    two_tiers.behaviour = "gpu-quota"
    generation = services.submit_generation(user=user, tier="best", **REQUEST)
    assert used(user) == (3, 3)

    run_queued_generations()
    generation.refresh_from_db()
    # The demo (fast's provider) could have drawn it; it was not asked: best was paid for.
    assert generation.status == Generation.Status.FAILED
    assert generation.provider == "gradio_space"
    assert generation.failure_class == "out_of_quota"
    assert used(user) == (0, 0)


def test_a_paused_tier_is_refused_before_charging_and_names_the_other(two_tiers, user, client):
    set_limits(user, daily=10)
    services.start_cooldown("gradio_space", 600, "You have exceeded your GPU quota")

    with pytest.raises(services.TierUnavailable) as refused:
        services.submit_generation(user=user, tier="best", **REQUEST)
    assert refused.value.suggested == "fast"
    assert "Fast" in str(refused.value) and "paused until" in str(refused.value)
    assert not Generation.objects.filter(owner=user).exists()
    assert quota_status(user).day_left == 10

    # The other tier still serves; the API says which to try, and lists best as unavailable.
    assert services.submit_generation(user=user, tier="fast", **REQUEST).tier == "fast"
    client.force_login(user)
    answer = client.post(
        reverse("api:create_generation"),
        {**REQUEST, "tier": "best", "aspect": "square", "width": None, "height": None},
        content_type="application/json",
    )
    assert answer.status_code == 503, answer.content
    assert answer.json()["error"]["code"] == "tier_unavailable"
    assert answer.json()["error"]["suggested_tier"] == "fast"
    listed = {t["name"]: t for t in client.get(reverse("api:tiers")).json()["results"]}
    assert (listed["best"]["available"], listed["fast"]["available"]) == (False, True)


def test_a_tier_whose_paid_providers_are_over_budget_is_paused(two_tiers, user, settings):
    settings.IMAGEGEN_TIERS = [("fast", ["demo"], 1), ("best", ["hf_inference"], 3)]
    settings.IMAGEGEN_PROVIDERS = ["demo", "hf_inference"]
    settings.HUGGINGFACE_API_TOKEN = "hf_test"
    settings.IMAGEGEN_MONTHLY_BUDGET_USD = Decimal("1")
    settings.IMAGEGEN_BUDGET_ACTION = "fallback"
    set_limits(user, daily=10)
    services.submit_generation(user=user, tier="best", **REQUEST)  # budget not spent yet
    services.record_spending(Decimal("1.5"), finished_at=Generation.objects.get().created_at)

    with pytest.raises(services.TierUnavailable, match="budget"):
        services.submit_generation(user=user, tier="best", **REQUEST)
    assert services.submit_generation(user=user, tier="fast", **REQUEST).tier == "fast"


def test_bonus_credits_pay_units_and_come_back_as_units(two_tiers, user):
    set_limits(user, daily=0, monthly=0, bonus=7)
    generation = services.submit_generation(user=user, tier="best", **REQUEST)
    assert Quota.objects.get(user=user).bonus_credits == 4
    assert services.cancel_generation(generation_id=generation.pk, user=user)
    assert Quota.objects.get(user=user).bonus_credits == 7


def test_a_refund_never_takes_a_counter_below_zero(two_tiers, user):
    set_limits(user, daily=10)
    generation = services.submit_generation(user=user, tier="best", **REQUEST)
    Quota.objects.filter(user=user).update(day_used=1)  # an admin lowered it meanwhile
    assert services.refund(generation.pk)
    assert used(user) == (0, 0)


def test_quota_is_exact_in_units_when_it_runs_out_with_units_left(two_tiers, user):
    set_limits(user, daily=5)
    services.submit_generation(user=user, tier="best", **REQUEST)
    with pytest.raises(services.QuotaExceeded) as refused:
        services.submit_generation(user=user, tier="best", **REQUEST)
    assert "needs 3 units, but only 2 of today's units are left" in str(refused.value)
    services.submit_generations(user=user, count=2, tier="fast", **REQUEST)
    assert used(user) == (5, 5)
    assert quota_status(user).exhausted


def _in_threads(threads, per_thread, target):
    barrier = threading.Barrier(threads)
    results = []
    lock = threading.Lock()

    def run(i):
        try:
            barrier.wait()
            for j in range(per_thread):
                try:
                    outcome = target(i, j)
                except Exception as exc:  # collected and asserted on below
                    outcome = exc
                with lock:
                    results.append(outcome)
        finally:
            connections.close_all()

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return results


@pytest.mark.django_db(transaction=True)
def test_two_hundred_concurrent_submissions_of_both_tiers_take_exactly_the_units(
    make_user, settings
):
    settings.IMAGEGEN_TIERS = [("fast", ["demo"], 1), ("best", ["demo"], 3)]
    settings.IMAGEGEN_DEFAULT_TIER = "fast"
    user = make_user()
    set_limits(user, daily=50, monthly=50)

    def submit(i, j):
        tier = "best" if (i + j) % 2 else "fast"
        return services.submit_generations(user=user, count=1 + j % 2, tier=tier, **REQUEST)

    results = _in_threads(20, 10, submit)
    assert len(results) == 200
    unexpected = [r for r in results if isinstance(r, Exception)]
    unexpected = [r for r in unexpected if not isinstance(r, services.QuotaExceeded)]
    assert not unexpected, unexpected[:3]
    queued = [g for r in results if isinstance(r, list) for g in r]
    taken = sum(g.units for g in queued)
    assert taken == sum(Generation.objects.filter(owner=user).values_list("units", flat=True))
    assert used(user) == (taken, taken)
    # Every refused one asked for more than was left then, so at most 2 × 3 - 1 are unused.
    assert 50 - 5 <= taken <= 50


def test_the_api_takes_a_tier_lists_them_and_shows_tier_and_units(two_tiers, api):
    answer = api.post(
        reverse("api:create_generation"),
        {"prompt": "Jeju", "tier": "best", "n": 2},
        content_type="application/json",
    )
    assert answer.status_code == 201, answer.content
    items = answer.json()["results"]
    assert [(item["tier"], item["units"]) for item in items] == [("best", 3), ("best", 3)]
    assert api.get(reverse("api:quota")).json()["day_left"] == 20 - 6

    unknown = api.post(
        reverse("api:create_generation"),
        {"prompt": "Jeju", "tier": "gold"},
        content_type="application/json",
    )
    assert unknown.status_code == 400
    assert "fast, best" in unknown.json()["error"]["fields"]["tier"][0]

    listed = api.get(reverse("api:tiers"), headers={"accept-language": "ko"}).json()["results"]
    assert [(t["name"], t["units"], t["default"]) for t in listed] == [
        ("fast", 1, True),
        ("best", 3, False),
    ]
    assert listed[1]["label"] == "최고 품질"
    # Nothing measured yet: the demo's delay, and IMAGEGEN_SECONDS_PER_IMAGE for the Space.
    assert (listed[0]["typical_seconds"], listed[1]["typical_seconds"]) == (0.0, 10.0)
    assert "try_on" in listed[0]["tasks"] and "edit" not in listed[1]["tasks"]


def test_a_task_the_chosen_tier_cannot_do_is_refused_naming_the_tier(two_tiers, user):
    photo = services.store_upload(user=user, data=jpeg_with_gps())
    with translation.override("en"), pytest.raises(services.InvalidRequest) as refused:
        services.submit_generation(
            user=user, tier="best", task="edit", source_image=photo, **REQUEST
        )
    assert refused.value.field == "tier"
    assert "“Fast”" in str(refused.value)


def test_the_page_offers_each_tier_with_its_price_and_wait_and_charges_it(two_tiers, user_client):
    page = user_client.get(reverse("imagegen:create")).content.decode()
    assert 'name="tier" value="best"' in page
    assert "about 1 s · 1 unit" in page  # the demo's delay (0 here), nothing measured yet
    assert "3 units" in page
    assert "units left today" in page

    answer = user_client.post(
        reverse("imagegen:create"),
        {"prompt": "Seoraksan in autumn", "aspect": "square", "n": "1", "tier": "best"},
    )
    assert answer.status_code == 302
    assert Generation.objects.get().units == 3


def test_retry_and_remix_keep_the_tier(two_tiers, user, user_client):
    set_limits(user, daily=10)
    first = services.submit_generation(user=user, tier="best", **REQUEST)
    assert services.retry_generation(generation_id=first.pk, user=user).tier == "best"
    page = user_client.get(reverse("imagegen:create") + f"?from={first.pk}").content.decode()
    assert re.search(r'<input[^>]*name="tier" value="best"[^>]*checked', page)
    assert not re.search(r'<input[^>]*name="tier" value="fast"[^>]*checked', page)


def test_a_site_without_tiers_offers_no_choice_and_charges_one_unit(user, user_client):
    page = user_client.get(reverse("imagegen:create")).content.decode()
    assert 'name="tier"' not in page
    # Units are the quota's word on every site; here each picture costs one.
    assert "Each picture costs 1 unit of your quota." in page
    generation = services.submit_generation(user=user, **REQUEST)
    assert (generation.tier, generation.units) == ("standard", 1)
    listed = user_client.get(reverse("api:tiers")).json()["results"]
    assert [(t["name"], t["units"], t["label"]) for t in listed] == [("standard", 1, "Standard")]


def test_admin_shows_and_filters_by_tier(two_tiers, user, admin_client):
    set_limits(user, daily=10)
    services.submit_generation(user=user, tier="fast", prompt="fast one", width=512, height=512)
    services.submit_generation(user=user, tier="best", prompt="best one", width=512, height=512)
    page = admin_client.get(
        reverse("admin:imagegen_generation_changelist"), {"tier": "best"}
    ).content.decode()
    assert "best one" in page and "fast one" not in page
    assert "best · 3 units" in page


def test_usage_report_and_advice_break_the_month_down_by_tier(two_tiers, user, settings):
    set_limits(user, daily=10)
    services.submit_generation(user=user, tier="fast", **REQUEST)
    services.submit_generation(user=user, tier="best", **REQUEST)
    run_queued_generations()
    Generation.objects.filter(tier="best").update(estimated_cost=Decimal("0.06"))

    out = io.StringIO()
    call_command("usage_report", "--format", "json", stdout=out)
    rows = {row["name"]: row for row in json.loads(out.getvalue())["tiers"]}
    assert (rows["fast"]["images"], rows["fast"]["units"]) == (1, 1)
    assert (rows["best"]["images"], rows["best"]["units"], rows["best"]["cost_usd"]) == (
        1,
        3,
        "0.0600",
    )
    out = io.StringIO()
    call_command("usage_report", "--format", "csv", stdout=out)
    sections = [row["section"] for row in csv.DictReader(io.StringIO(out.getvalue()))]
    assert sections.count("tier") == 2

    out = io.StringIO()
    call_command("imagegen_advise", stdout=out)
    assert "best: 1 images, 3 units, $0.0600 estimated; $0.0600 an image, $0.0200 a unit" in (
        out.getvalue()
    )


def test_health_lists_the_tiers_and_warns_when_one_cannot_serve(two_tiers, monitor, db):
    services.start_cooldown("gradio_space", 600, "You have exceeded your GPU quota")
    details = monitor.get("/health").json()
    assert details["tiers"] == [
        {"name": "fast", "units": 1, "providers": ["demo"], "state": "ok"},
        {"name": "best", "units": 3, "providers": ["gradio_space"], "state": "paused"},
    ]
    assert any(w.startswith("Tier best has no provider") for w in details["warnings"])


def test_imagegen_check_lists_each_tier_with_its_chain_and_price(two_tiers, db):
    out = io.StringIO()
    call_command("imagegen_check", stdout=out, stderr=io.StringIO())
    assert "Tier fast (default): demo, 1 unit a picture" in out.getvalue()
    assert "Tier best: gradio_space, 3 units a picture" in out.getvalue()


def test_the_detail_page_says_which_tier_and_what_it_cost(two_tiers, user, user_client):
    generation = services.submit_generation(user=user, tier="best", **REQUEST)
    page = user_client.get(reverse("imagegen:detail", args=[generation.pk])).content.decode()
    assert '<dd data-role="tier">Best · 3 units</dd>' in page
