"""Quota: reservation at submission, limits per day and month, refunds exactly once."""

import datetime
import threading

import pytest
from django.db import connections

from imagegen import services
from imagegen.models import Generation, Quota
from imagegen.selectors import quota_status

REQUEST = {"prompt": "Gyeongbokgung palace in autumn", "width": 512, "height": 512}


def set_limits(user, daily, monthly=100):
    quota = services.quota_for(user)
    quota.daily_limit, quota.monthly_limit = daily, monthly
    quota.save()
    return quota


def test_submission_takes_one_unit_of_day_and_month(user):
    set_limits(user, daily=3, monthly=10)
    services.submit_generation(user=user, **REQUEST)
    status = quota_status(user)
    assert (status.day_left, status.month_left) == (2, 9)
    assert not status.exhausted


def test_new_users_get_the_default_limits_from_settings(user, settings):
    settings.IMAGEGEN_DAILY_QUOTA = 7
    settings.IMAGEGEN_MONTHLY_QUOTA = 70
    quota = services.quota_for(user)
    assert (quota.daily_limit, quota.monthly_limit) == (7, 70)


def test_at_the_daily_limit_nothing_is_queued_and_the_reset_is_tomorrow(user):
    set_limits(user, daily=1)
    services.submit_generation(user=user, **REQUEST)
    with pytest.raises(services.QuotaExceeded) as raised:
        services.submit_generation(user=user, **REQUEST)
    assert raised.value.period == "day"
    periods = services.Periods.current()
    assert raised.value.resets_at == periods.day_resets_at()
    assert "today's" in str(raised.value)
    assert Generation.objects.filter(owner=user).count() == 1
    assert quota_status(user).exhausted


def test_the_monthly_limit_binds_even_with_days_left(user):
    set_limits(user, daily=5, monthly=2)
    services.submit_generation(user=user, **REQUEST)
    services.submit_generation(user=user, **REQUEST)
    with pytest.raises(services.QuotaExceeded) as raised:
        services.submit_generation(user=user, **REQUEST)
    assert raised.value.period == "month"
    assert raised.value.resets_at.day == 1
    assert quota_status(user).resets_at == raised.value.resets_at


def test_a_new_day_starts_the_daily_counter_again(user):
    quota = set_limits(user, daily=1)
    services.submit_generation(user=user, **REQUEST)
    quota.refresh_from_db()
    quota.day = quota.day - datetime.timedelta(days=1)
    quota.save()
    services.submit_generation(user=user, **REQUEST)
    quota.refresh_from_db()
    assert quota.day == services.Periods.current().day
    assert quota.day_used == 1
    assert quota.month_used == 2


def test_a_zero_limit_refuses_everything(user):
    set_limits(user, daily=0)
    with pytest.raises(services.QuotaExceeded):
        services.submit_generation(user=user, **REQUEST)
    assert not Generation.objects.exists()


def test_refund_gives_the_unit_back_exactly_once(user):
    set_limits(user, daily=2)
    generation = services.submit_generation(user=user, **REQUEST)
    assert services.refund(generation.pk) is True
    assert services.refund(generation.pk) is False
    quota = Quota.objects.get(user=user)
    assert (quota.day_used, quota.month_used) == (0, 0)


def test_refund_after_the_day_changed_leaves_the_new_day_alone(user):
    quota = set_limits(user, daily=5)
    generation = services.submit_generation(user=user, **REQUEST)
    # The generation was charged yesterday; since then the user has used 3 today.
    yesterday = generation.charged_day - datetime.timedelta(days=1)
    Generation.objects.filter(pk=generation.pk).update(charged_day=yesterday)
    Quota.objects.filter(pk=quota.pk).update(day_used=3)
    services.refund(generation.pk)
    quota.refresh_from_db()
    assert quota.day_used == 3
    assert quota.month_used == 0


def test_canceling_a_queued_generation_refunds_it(user, make_user):
    set_limits(user, daily=1)
    generation = services.submit_generation(user=user, **REQUEST)
    intruder = make_user("mallory")
    assert services.cancel_generation(generation_id=generation.pk, user=intruder) is False
    assert services.cancel_generation(generation_id=generation.pk, user=user) is True
    generation.refresh_from_db()
    assert generation.status == Generation.Status.CANCELED
    assert quota_status(user).day_left == 1
    assert services.cancel_generation(generation_id=generation.pk, user=user) is False


def _in_threads(count, target):
    """Run target(i) in `count` threads released together; return results or exceptions."""
    barrier = threading.Barrier(count)
    results = [None] * count

    def run(i):
        try:
            barrier.wait()
            results[i] = target(i)
        except Exception as exc:  # collected and asserted on by the caller
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.django_db(transaction=True)
def test_twenty_simultaneous_submissions_with_one_left_queue_exactly_one(make_user):
    user = make_user()
    set_limits(user, daily=1)
    results = _in_threads(20, lambda i: services.submit_generation(user=user, **REQUEST))
    queued = [r for r in results if isinstance(r, Generation)]
    refused = [r for r in results if isinstance(r, services.QuotaExceeded)]
    assert len(queued) == 1, results
    assert len(refused) == 19, results
    assert Generation.objects.filter(owner=user).count() == 1
    quota = Quota.objects.get(user=user)
    assert (quota.day_used, quota.month_used) == (1, 1)


@pytest.mark.django_db(transaction=True)
def test_twenty_simultaneous_refunds_give_back_one_unit(make_user):
    user = make_user()
    set_limits(user, daily=3)
    services.submit_generation(user=user, **REQUEST)
    generation = services.submit_generation(user=user, **REQUEST)
    results = _in_threads(20, lambda i: services.refund(generation.pk))
    assert results.count(True) == 1, results
    assert results.count(False) == 19, results
    quota = Quota.objects.get(user=user)
    assert (quota.day_used, quota.month_used) == (1, 1)


@pytest.mark.django_db(transaction=True)
def test_twenty_reviewers_rejecting_a_held_image_at_once_give_its_units_back_once(make_user):
    from imagegen.models import ReviewDecision

    user, reviewer = make_user(), make_user("reviewer", is_staff=True)
    set_limits(user, daily=3)
    services.submit_generation(user=user, **REQUEST)
    held = services.submit_generation(user=user, **REQUEST)
    Generation.objects.filter(pk=held.pk).update(status=Generation.Status.HELD)
    results = _in_threads(20, lambda i: services.reject(generation_ids=[held.pk], by=reviewer))
    assert results.count(1) == 1, results
    assert results.count(0) == 19, results
    quota = Quota.objects.get(user=user)
    assert (quota.day_used, quota.month_used) == (1, 1)
    assert ReviewDecision.objects.filter(generation_id=held.pk).count() == 1
