"""Operators' tools: bonus credits, prompt policy, costs and budget, recovery, cleanup, health."""

import datetime
import functools
import os
import signal
import subprocess
import sys
import time
import uuid
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_q.brokers import get_broker

from imagegen import services
from imagegen.models import BlockedPattern, Generation, MonthlySpend, PromptRefusal, Quota
from imagegen.providers.demo import DemoProvider
from imagegen.selectors import quota_status
from imagegen.tasks import run_generation
from tests.conftest import ROOT, run_queued_tasks, wait_until_settled
from tests.test_quota import _in_threads

REQUEST = {"prompt": "Prague old town", "width": 256, "height": 256}


def command(name, *args, **options):
    out = StringIO()
    call_command(name, *args, stdout=out, **options)
    return out.getvalue()


def limit(user, daily):
    quota = services.quota_for(user)
    quota.daily_limit = daily
    quota.save()


# --- bonus credits ------------------------------------------------------------------------------


def test_credits_are_used_only_once_the_limit_is_reached_and_refunded_as_credits(user):
    limit(user, 1)
    assert (
        command("grant_credits", "alice", "2") == "Granted 2 credit(s) to alice; they now have 2.\n"
    )
    first = services.submit_generation(user=user, **REQUEST)
    second = services.submit_generation(user=user, **REQUEST)
    third = services.submit_generation(user=user, **REQUEST)
    assert (first.charged_bonus, second.charged_bonus, third.charged_bonus) == (False, True, True)
    with pytest.raises(services.QuotaExceeded):
        services.submit_generation(user=user, **REQUEST)
    services.cancel_generation(generation_id=third.pk, user=user)
    quota = Quota.objects.get(user=user)
    assert (quota.day_used, quota.bonus_credits) == (1, 1)


@pytest.mark.django_db(transaction=True)
def test_simultaneous_submissions_never_take_more_credits_than_there_are(make_user):
    user = make_user()
    limit(user, 0)
    services.grant_credits(user=user, credits=3)
    results = _in_threads(20, lambda i: services.submit_generation(user=user, **REQUEST))
    assert sum(isinstance(r, Generation) for r in results) == 3
    assert Quota.objects.get(user=user).bonus_credits == 0


@pytest.mark.parametrize(
    ("args", "message"), [(["nobody", "3"], "No user"), (["alice", "0"], "at least 1")]
)
def test_grant_credits_errors(user, args, message):
    with pytest.raises(CommandError, match=message):
        command("grant_credits", *args)


# --- prompt policy ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "is_regex", "prompt", "blocked"),
    [
        ("ass", False, "my passport photo", False),
        ("ass", False, "a donkey, an ass, in Spain", True),
        ("celebrity face", False, "A Celebrity Face in Paris", True),
        ("마약", False, "마약을 든 여행자", True),
        (r"\bnud(e|ity)\b", True, "nudity on the beach", True),
        (r"\bnud(e|ity)\b", True, "nudibranch diving", False),
    ],
)
def test_blocked_patterns_match_words_phrases_korean_and_regexes(
    user, pattern, is_regex, prompt, blocked
):
    BlockedPattern.objects.create(pattern=pattern, is_regex=is_regex)
    assert (services.blocking_pattern(prompt) is not None) == blocked


def test_a_blocked_prompt_is_refused_at_the_form_counted_and_never_queued(user_client, user):
    BlockedPattern.objects.create(pattern="weapon", reason="no weapons")
    BlockedPattern.objects.create(pattern="harmless", active=False)
    response = user_client.post(
        reverse("imagegen:create"), {"prompt": "A weapon shop in Prague", "aspect": "square"}
    )
    errors = response.context["form"].errors["prompt"]
    assert errors == ["This prompt is not allowed on this site (no weapons). Please change it."]
    assert not Generation.objects.exists()
    assert quota_status(user).day_left == 20
    assert PromptRefusal.objects.get().pattern == "weapon"
    ok = user_client.post(reverse("imagegen:create"), {"prompt": "A harmless café"})
    assert ok.status_code == 302


def test_a_blocked_prompt_through_a_preset_or_the_command_is_refused_too(user, presets):
    BlockedPattern.objects.create(pattern="vintage")  # the postcard preset's template says it
    with pytest.raises(CommandError, match="not allowed on this site"):
        command("generate", "Rome", user="alice", preset="Travel postcard")
    assert PromptRefusal.objects.count() == 1


def test_an_invalid_regex_is_refused_in_admin_validation():
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="Not a valid regular expression"):
        BlockedPattern(pattern="(unclosed", is_regex=True).full_clean()


# --- costs and budget ---------------------------------------------------------------------------


def test_each_generation_records_its_estimated_cost(user, settings):
    settings.IMAGEGEN_PROVIDERS = ["demo"]
    generation = services.submit_generation(user=user, **REQUEST)
    run_generation(str(generation.pk))
    generation.refresh_from_db()
    assert generation.estimated_cost == Decimal("0")


def test_provider_prices_come_from_settings(settings):
    from imagegen.providers import get_provider

    settings.IMAGEGEN_INFERENCE_USD_PER_IMAGE = Decimal("0.05")
    settings.IMAGEGEN_SPACE_USD_PER_HOUR = Decimal("0.60")
    assert get_provider("hf_inference").cost(12) == Decimal("0.05")
    assert get_provider("gradio_space").cost(30) == Decimal("0.005000")  # 30 s of $0.60/h
    assert get_provider("hf_endpoint").paid and not get_provider("demo").paid


def spend(user, dollars):
    """One generation this month that cost `dollars`: the demo provider, priced for it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DemoProvider, "cost", lambda self, seconds: Decimal(dollars))
        generation = services.submit_generation(user=user, **REQUEST)
        run_generation(str(generation.pk))
    generation.refresh_from_db()
    assert generation.estimated_cost == Decimal(dollars)
    return generation


def test_the_months_spending_adds_up_each_finished_generations_cost(user):
    spend(user, "0.05")
    spend(user, "0")
    spend(user, "0.0123")
    assert services.spent_this_month() == Decimal("0.0623")


def test_the_budget_is_one_query_that_never_reads_the_generations(user, settings):
    settings.IMAGEGEN_MONTHLY_BUDGET_USD = Decimal("1.00")
    spend(user, "0.90")
    with CaptureQueriesContext(connection) as captured:
        assert services.budget_state() == services.BudgetState(
            Decimal("0.90"), Decimal("1.00"), "warning"
        )
    assert len(captured) == 1
    assert "imagegen_generation" not in captured[0]["sql"]


def test_deleting_a_generation_does_not_give_its_cost_back_to_the_budget(user):
    generation = spend(user, "0.40")
    services.delete_generation(generation_id=generation.pk, user=user)
    assert services.spent_this_month() == Decimal("0.40")


def test_spending_counts_in_the_local_month_the_generation_finished(user, settings):
    settings.TIME_ZONE = "Asia/Seoul"
    new_year_in_seoul = datetime.datetime(2026, 12, 31, 15, 30, tzinfo=datetime.UTC)
    with transaction.atomic():
        services.record_spending(Decimal("0.25"), finished_at=new_year_in_seoul)
    assert MonthlySpend.objects.get().month == datetime.date(2027, 1, 1)


@pytest.mark.django_db(transaction=True)
def test_workers_finishing_at_once_lose_none_of_each_others_costs():
    now = timezone.now()

    def finish(i):
        with transaction.atomic():
            services.record_spending(Decimal("0.01"), finished_at=now)

    results = _in_threads(10, finish)
    assert results == [None] * 10
    assert services.spent_this_month() == Decimal("0.10")


def test_at_the_budget_paid_providers_are_skipped_for_free_ones(user, settings):
    settings.IMAGEGEN_MONTHLY_BUDGET_USD = Decimal("1.00")
    spend(user, "1.00")
    settings.IMAGEGEN_PROVIDERS = ["hf_inference", "demo"]
    settings.HUGGINGFACE_API_TOKEN = "hf_" + "x" * 34  # never used: the budget skips it
    generation = services.submit_generation(user=user, **REQUEST)
    run_generation(str(generation.pk))
    generation.refresh_from_db()
    assert (generation.status, generation.provider) == (Generation.Status.SUCCEEDED, "demo")


def test_at_the_budget_with_refuse_nothing_new_is_queued(user_client, monitor, user, settings):
    settings.IMAGEGEN_MONTHLY_BUDGET_USD = Decimal("1.00")
    settings.IMAGEGEN_BUDGET_ACTION = "refuse"
    spend(user, "1.20")
    response = user_client.post(reverse("imagegen:create"), {"prompt": "one more"})
    assert "used this month&#x27;s image budget" in response.content.decode()
    assert Generation.objects.count() == 1
    health = user_client.get("/health")
    assert health.status_code == 503
    assert health.json()["budget"] == {
        "spent_usd": "1.20",
        "budget_usd": "1.00",
        "state": "reached",
    }


def test_health_warns_as_the_budget_nears(user, monitor, settings):
    settings.IMAGEGEN_MONTHLY_BUDGET_USD = Decimal("10")
    spend(user, "8.50")
    data = monitor.get("/health").json()
    assert data["status"] == "healthy"
    assert data["budget"]["state"] == "warning"
    assert "Monthly budget warning: $8.50 of $10.00 spent." in data["warnings"]


# --- health -------------------------------------------------------------------------------------


def test_health_reports_queue_and_provider_states(monitor, user, settings):
    services.submit_generation(user=user, **REQUEST)
    running = services.submit_generation(user=user, **REQUEST)
    Generation.objects.filter(pk=running.pk).update(status=Generation.Status.RUNNING)
    settings.IMAGEGEN_PROVIDERS = ["hf_inference", "gradio_space", "demo"]
    settings.HUGGINGFACE_API_TOKEN = "hf_" + "T" * 34
    settings.GRADIO_SPACE = ""
    services.start_cooldown("hf_inference", 600, "You have exceeded your GPU quota")
    data = monitor.get("/health").json()
    assert data["queue"] == {"queued": 1, "running": 1}
    states = {p["name"]: p["state"] for p in data["providers"]}
    assert states == {"hf_inference": "cooling_down", "gradio_space": "misconfigured", "demo": "ok"}
    # It can serve (demo is ok), but no worker runs in this test to take the queued one.
    assert data["status"] == "degraded" and data["broker"] == "ok"
    assert "hf_" + "T" * 34 not in str(data)


def test_health_is_503_when_no_provider_can_serve(monitor, db, settings):
    settings.IMAGEGEN_PROVIDERS = ["hf_inference"]
    settings.HUGGINGFACE_API_TOKEN = ""
    response = monitor.get("/health")
    assert response.status_code == 503
    assert response.json()["providers"][0]["problem"] == "HUGGINGFACE_API_TOKEN is not set."


@pytest.mark.worker
def test_health_sees_a_running_worker(start_worker, monitor):
    assert monitor.get("/health").json()["workers"]["workers"] == 0
    start_worker()
    deadline = timezone.now() + datetime.timedelta(seconds=30)
    while timezone.now() < deadline:
        workers = monitor.get("/health").json()["workers"]
        if workers["workers"]:
            break
        time.sleep(0.5)  # as a monitor polls
    assert workers["clusters"] == 1 and workers["workers"] >= 1


# --- recovery -----------------------------------------------------------------------------------


def make_stuck(user, *, silent_for=60, recoveries=0):
    """A running generation whose worker last said it was alive `silent_for` seconds ago."""
    generation = services.submit_generation(user=user, **REQUEST)
    Generation.objects.filter(pk=generation.pk).update(
        status=Generation.Status.RUNNING,
        started_at=timezone.now() - datetime.timedelta(minutes=30),
        heartbeat_at=timezone.now() - datetime.timedelta(seconds=silent_for),
        claim=uuid.uuid4(),
        recoveries=recoveries,
    )
    return generation


@pytest.mark.django_db(transaction=True)
def test_a_generation_whose_worker_went_silent_is_queued_again_then_failed_and_refunded(
    make_user,
):
    user = make_user()
    first = make_stuck(user)  # 60 s without a heartbeat: six missed at the default 5 s
    fresh = make_stuck(user, silent_for=5)  # its worker is alive, however long it runs
    again = make_stuck(user, recoveries=services.MAX_RECOVERIES)
    output = command("recover_stuck")
    assert "1 put back in the queue" in output and "1 failed and refunded" in output
    first.refresh_from_db()
    assert (first.status, first.recoveries) == (Generation.Status.QUEUED, 1)
    assert run_queued_tasks() >= 1
    assert wait_until_settled(first).status == Generation.Status.SUCCEEDED
    fresh.refresh_from_db()
    assert fresh.status == Generation.Status.RUNNING
    again.refresh_from_db()
    assert (again.status, again.failure_class) == (Generation.Status.FAILED, "unavailable")
    assert not again.charged
    assert quota_status(user).day_left == 20 - 2  # first and fresh still hold theirs


@pytest.mark.django_db(transaction=True)
def test_a_queued_generation_whose_task_was_lost_is_queued_again(make_user):
    user = make_user()
    generation = services.submit_generation(user=user, **REQUEST)
    get_broker().purge_queue()  # the task is lost, as on Redis when its worker dies
    Generation.objects.filter(pk=generation.pk).update(
        enqueued_at=timezone.now() - datetime.timedelta(minutes=10)
    )
    assert "1 would be queued again (task lost)" in command("recover_stuck", "--dry-run")
    assert run_queued_tasks() == 0
    output = command("recover_stuck")
    assert "1 queued again (task lost)" in output
    assert run_queued_tasks() == 1
    generation.refresh_from_db()
    assert generation.status == Generation.Status.SUCCEEDED


@pytest.mark.django_db(transaction=True)
def test_lost_tasks_are_found_however_busy_the_queue_is(make_user, settings):
    settings.IMAGEGEN_IN_FLIGHT_PER_USER = 0  # all eleven in the broker at once
    user = make_user()
    orphans = [services.submit_generation(user=user, **REQUEST) for _ in range(10)]
    get_broker().purge_queue()  # their tasks are gone (a dead Redis worker had taken them)
    Generation.objects.filter(pk__in=[g.pk for g in orphans]).update(
        enqueued_at=timezone.now() - datetime.timedelta(minutes=5)
    )
    waiting = services.submit_generation(user=user, **REQUEST)  # its task is in the queue
    Generation.objects.filter(pk=waiting.pk).update(
        enqueued_at=timezone.now() - datetime.timedelta(minutes=5)
    )
    recovery = services.recover_stuck()
    assert sorted(recovery.reenqueued) == sorted(g.pk for g in orphans)
    assert services.generations_waiting_in_broker() == {str(g.pk) for g in [*orphans, waiting]}
    # Right after, nothing is lost any more: a second sweep queues nothing twice.
    assert services.recover_stuck().reenqueued == []
    assert run_queued_tasks() == 11
    assert set(Generation.objects.values_list("status", flat=True)) == {"succeeded"}


def test_a_late_result_from_a_replaced_worker_is_not_recorded(user):
    generation = services.submit_generation(user=user, **REQUEST)
    Generation.objects.filter(pk=generation.pk).update(
        status=Generation.Status.RUNNING,
        claim=uuid.uuid4(),  # another worker's claim
    )
    assert not services.fail_generation(
        generation.pk, user_message="late", detail="late", claim=uuid.uuid4()
    )
    generation.refresh_from_db()
    assert (generation.status, generation.charged) == (Generation.Status.RUNNING, True)


def test_dry_run_changes_nothing(user):
    stuck = make_stuck(user)
    assert "1 would be put back in the queue" in command("recover_stuck", "--dry-run")
    stuck.refresh_from_db()
    assert stuck.status == Generation.Status.RUNNING


@pytest.mark.worker
def test_a_killed_worker_is_recovered_by_the_sweep(start_worker, make_user):
    user = make_user()
    doomed = start_worker(IMAGEGEN_DEMO_DELAY="30")
    generation = services.submit_generation(user=user, **REQUEST)
    deadline = timezone.now() + datetime.timedelta(seconds=30)
    while generation.status != Generation.Status.RUNNING and timezone.now() < deadline:
        generation.refresh_from_db()
    assert generation.status == Generation.Status.RUNNING
    os.killpg(doomed.pid, signal.SIGKILL)  # the worker dies mid-generation
    doomed.wait()
    later = timezone.now() + datetime.timedelta(hours=1)
    recovery = services.recover_stuck(now=later)
    assert recovery.requeued == [generation.pk]
    start_worker()
    assert wait_until_settled(generation).status == Generation.Status.SUCCEEDED


# --- cleanup ------------------------------------------------------------------------------------


def test_cleanup_deletes_old_finished_generations_with_their_files(user):
    old, favourite, recent = (services.submit_generation(user=user, **REQUEST) for _ in range(3))
    for generation in (old, favourite, recent):
        run_generation(str(generation.pk))
    queued_old = services.submit_generation(user=user, **REQUEST)
    long_ago = timezone.now() - datetime.timedelta(days=40)
    Generation.objects.filter(pk__in=[old.pk, favourite.pk, queued_old.pk]).update(
        created_at=long_ago
    )
    Generation.objects.filter(pk=favourite.pk).update(favourite=True)
    old.refresh_from_db()
    # The image, its thumbnail and the copy with the "AI-generated" label burnt in.
    paths = [Path(old.image.path), Path(old.thumbnail.path), Path(old.labelled_image.path)]

    dry = command("cleanup_generations", "--older-than", "30", "--dry-run")
    assert dry.startswith("Would delete 1 generation(s) older than 30 days: 3 file(s)")
    assert all(path.exists() for path in paths)

    command("cleanup_generations", "--older-than", "30")
    assert not Generation.objects.filter(pk=old.pk).exists()
    assert not any(path.exists() for path in paths)
    remaining = set(Generation.objects.values_list("pk", flat=True))
    assert remaining == {favourite.pk, recent.pk, queued_old.pk}
    command("cleanup_generations", "--older-than", "30", "--include-favourites")
    assert not Generation.objects.filter(pk=favourite.pk).exists()


def test_cleanup_needs_a_positive_age(db):
    with pytest.raises(CommandError, match="at least one day"):
        command("cleanup_generations", "--older-than", "0")


def test_migrating_schedules_the_recovery_sweep(tmp_path):
    # A fresh database, migrated as `make run` does (the test database's rows are flushed).
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "travelfit.settings",
        "DATA_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.sqlite3'}",
        "Q_BROKER": "orm",
    }
    run = functools.partial(
        subprocess.run, cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    run([sys.executable, "manage.py", "migrate", "--noinput"])
    shown = run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "-c",
            "from django_q.models import Schedule; "
            "s = Schedule.objects.get(func='imagegen.tasks.recover_stuck'); "
            "print(s.schedule_type, s.minutes, s.repeats)",
        ]
    )
    assert shown.stdout.strip().splitlines()[-1] == "I 5 -1"
