"""Lost work comes back: real qcluster processes, killed with SIGKILL, on the configured broker
(CI runs this module on the ORM broker and on Redis)."""

import datetime
import os
import signal
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone
from django_q.brokers import get_broker

from imagegen import services
from imagegen.models import Generation, Quota
from tests.conftest import wait_until_settled

REQUEST = {"prompt": "Hallasan in snow", "width": 512, "height": 512}


def statuses(generations):
    return dict(
        Generation.objects.filter(pk__in=[g.pk for g in generations]).values_list("pk", "status")
    )


def wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"not {what} after {timeout} s")


@pytest.mark.worker
def test_every_generation_of_a_killed_worker_runs_again_within_two_minutes(start_worker, make_user):
    """Default heartbeat and sweep settings; the worker dies with two running and two taken."""
    user = make_user()
    doomed = start_worker(IMAGEGEN_DEMO_DELAY="8", Q_WORKERS="2")
    generations = [services.submit_generation(user=user, **REQUEST) for _ in range(6)]
    wait_for(lambda: list(statuses(generations).values()).count("running") == 2, 60, "two running")
    time.sleep(1)  # the cluster takes (prefetches) more than it runs
    killed = {pk for pk, status in statuses(generations).items() if status == "running"}
    os.killpg(doomed.pid, signal.SIGKILL)
    doomed.wait()
    killed_at, killed_wall = time.monotonic(), timezone.now()

    start_worker(IMAGEGEN_DEMO_DELAY="8", Q_WORKERS="2")
    back_after = {}  # seconds after the kill each was running again (or done)
    while len(back_after) < len(generations) and time.monotonic() - killed_at < 150:
        rows = Generation.objects.filter(pk__in=[g.pk for g in generations])
        for pk, status, started in rows.values_list("pk", "status", "started_at"):
            again = status == "succeeded" or (status == "running" and started > killed_wall)
            if again and pk not in back_after:
                back_after[pk] = round(time.monotonic() - killed_at, 1)
        time.sleep(0.2)
    assert len(back_after) == len(generations), statuses(generations)
    assert max(back_after.values()) <= 120, back_after

    for generation in generations:
        wait_until_settled(generation, timeout=60)
    done = Generation.objects.filter(pk__in=[g.pk for g in generations])
    assert set(done.values_list("status", flat=True)) == {"succeeded"}
    # Asked of the provider once, or twice when its first worker was killed mid-way: never
    # made twice to the end. Charged once each; one image file each.
    assert len(killed) == 2
    for generation in done:
        assert generation.attempts == (2 if generation.pk in killed else 1), generation.pk
        assert generation.recoveries == (1 if generation.pk in killed else 0)
    quota = Quota.objects.get(user=user)
    assert quota.day_used == quota.month_used == 6
    folder = Path(settings.MEDIA_ROOT) / "generations" / str(user.pk)
    # One image each, nothing twice (the copies with the label burnt in are made after "done",
    # so some may still be on their way).
    labelled = list(folder.glob("*.labelled.png"))
    assert len(set(folder.glob("*.png")) - set(labelled)) == 6
    assert len(labelled) <= 6


@pytest.mark.worker
def test_a_slow_generation_on_a_live_worker_is_left_alone(start_worker, make_user):
    """Heartbeats, not age, decide: one running longer than six heartbeats is not taken away."""
    user = make_user()
    fast = {"IMAGEGEN_HEARTBEAT_SECONDS": "0.5", "IMAGEGEN_RECOVERY_INTERVAL": "1"}
    start_worker(IMAGEGEN_DEMO_DELAY="6", **fast)  # 6 s > 6 × 0.5 s without a heartbeat
    generation = services.submit_generation(user=user, **REQUEST)
    wait_until_settled(generation, timeout=60)
    assert (generation.status, generation.attempts, generation.recoveries) == ("succeeded", 1, 0)


@pytest.mark.worker
def test_a_task_lost_from_the_broker_is_queued_again_by_a_running_cluster(start_worker, make_user):
    """Lost between commit and push (or taken by a dead Redis worker): no task anywhere."""
    user = make_user()
    generation = services.submit_generation(user=user, **REQUEST)
    get_broker().purge_queue()
    Generation.objects.filter(pk=generation.pk).update(
        enqueued_at=timezone.now() - datetime.timedelta(minutes=5)
    )
    start_worker(IMAGEGEN_RECOVERY_INTERVAL="1")
    assert wait_until_settled(generation, timeout=60).status == Generation.Status.SUCCEEDED


@pytest.mark.worker
@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_of_the_whole_process_group_finishes_work_and_loses_nothing(
    start_worker, make_user, stop_signal
):
    """As systemd stops a service (KillMode=control-group): the signal reaches every process."""
    user = make_user()
    worker = start_worker(IMAGEGEN_DEMO_DELAY="4", Q_WORKERS="2", IMAGEGEN_TASK_TIMEOUT="20")
    generations = [services.submit_generation(user=user, **REQUEST) for _ in range(4)]
    wait_for(lambda: list(statuses(generations).values()).count("running") == 2, 60, "two running")
    time.sleep(0.5)  # the other two are fetched by the cluster, not started
    stopping = time.monotonic()
    os.killpg(worker.pid, stop_signal)
    worker.wait(timeout=20)  # within the task timeout; it used to hang for ever
    assert time.monotonic() - stopping < 20
    after_stop = statuses(generations)
    assert sorted(after_stop.values()) == ["queued", "queued", "succeeded", "succeeded"]
    waiting = {pk for pk, status in after_stop.items() if status == "queued"}
    assert {str(pk) for pk in waiting} <= services.generations_waiting_in_broker()

    start_worker(IMAGEGEN_DEMO_DELAY="0")
    for generation in generations:
        assert wait_until_settled(generation, timeout=60).status == "succeeded"
        assert (generation.attempts, generation.recoveries) == (1, 0)
