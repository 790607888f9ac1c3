"""One user's batch does not hold up another's request: each user has at most
IMAGEGEN_IN_FLIGHT_PER_USER generations in the broker or running; the rest wait their turn."""

import threading

import pytest
from django.db import connection

from imagegen import services
from imagegen.models import Generation, Quota
from imagegen.selectors import queue_position
from imagegen.tasks import run_generation
from tests.conftest import wait_until_settled

REQUEST = {"prompt": "Gangneung coffee street", "width": 512, "height": 512}


def roomy(user):
    services.quota_for(user)
    Quota.objects.filter(user=user).update(daily_limit=1000, monthly_limit=1000)


def dispatched(user):
    return set(
        Generation.objects.filter(owner=user, enqueued_at__isnull=False).values_list(
            "pk", flat=True
        )
    )


@pytest.mark.django_db(transaction=True)
def test_a_second_user_waits_behind_at_most_two_of_a_big_batch(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    roomy(alice)
    batch = [services.submit_generation(user=alice, **REQUEST) for _ in range(10)]
    assert dispatched(alice) == {batch[0].pk, batch[1].pk}
    assert services.generations_waiting_in_broker() == {str(batch[0].pk), str(batch[1].pk)}
    mine = services.submit_generation(user=bob, **REQUEST)
    assert queue_position(mine) == 3  # behind alice's two, not her ten
    assert queue_position(Generation.objects.get(pk=batch[2].pk)) == 4  # held: after bob's

    run_generation(str(batch[0].pk))  # one of alice's ends: her next takes its place
    assert dispatched(alice) == {batch[0].pk, batch[1].pk, batch[2].pk}
    waiting = services.generations_waiting_in_broker()
    assert str(mine.pk) in waiting and str(batch[3].pk) not in waiting
    assert queue_position(Generation.objects.get(pk=mine.pk)) == 2


@pytest.mark.django_db(transaction=True)
def test_canceling_or_failing_frees_the_slot(make_user):
    alice = make_user("alice")
    roomy(alice)
    first, second, third, fourth = (
        services.submit_generation(user=alice, **REQUEST) for _ in range(4)
    )
    services.cancel_generation(generation_id=first.pk, user=alice)
    assert third.pk in dispatched(alice)
    services.fail_generation(second.pk, user_message="x", detail="x")
    assert fourth.pk in dispatched(alice)


@pytest.mark.django_db(transaction=True)
def test_simultaneous_submissions_of_one_user_never_pass_the_limit(make_user):
    alice = make_user("alice")
    roomy(alice)

    def submit():
        try:
            services.submit_generation(user=alice, **REQUEST)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Generation.objects.filter(owner=alice).count() == 20
    assert len(dispatched(alice)) == 2


@pytest.mark.django_db(transaction=True)
def test_held_generations_are_dispatched_by_the_sweep_if_a_finish_missed_them(make_user):
    alice = make_user("alice")
    roomy(alice)
    generations = [services.submit_generation(user=alice, **REQUEST) for _ in range(3)]
    # Both in-flight ones end without a dispatch (as if their worker died at that moment).
    Generation.objects.filter(pk__in=[g.pk for g in generations[:2]]).update(status="failed")
    services.recover_stuck()
    assert generations[2].pk in dispatched(alice)


def test_zero_means_first_come_first_served(user, settings):
    settings.IMAGEGEN_IN_FLIGHT_PER_USER = 0
    roomy(user)
    for _ in range(5):
        services.submit_generation(user=user, **REQUEST)
    assert len(dispatched(user)) == 5


@pytest.mark.worker
def test_with_real_workers_a_late_request_starts_among_the_first(start_worker, make_user):
    """2 workers, 1 s per image: user B, arriving behind A's 12, starts within the first 4."""
    alice, bob = make_user("alice"), make_user("bob")
    roomy(alice)
    batch = [services.submit_generation(user=alice, **REQUEST) for _ in range(12)]
    late = services.submit_generation(user=bob, **REQUEST)
    start_worker(IMAGEGEN_DEMO_DELAY="1", Q_WORKERS="2")
    wait_until_settled(late, timeout=60)
    for generation in batch[:4]:
        wait_until_settled(generation, timeout=60)
    starts = sorted(
        Generation.objects.exclude(started_at=None).values_list("started_at", "owner_id")
    )
    assert [owner for _, owner in starts].index(bob.pk) < 4
