"""The operations page: the last 14 days as server-drawn SVG charts, for staff, from the usage
report's numbers, with a number of queries that does not grow with the generations."""

import datetime
import re
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from imagegen import ops
from imagegen.models import Generation


@pytest.fixture(autouse=True)
def counted_afresh(db):
    """Kept day counts live in the shared cache (Redis in the second run): start without."""
    ops.forget()
    yield
    ops.forget()


def made(user, n, *, days_ago=0, status="succeeded", provider="demo", seconds=4.0, **extra):
    finished = timezone.now() - datetime.timedelta(days=days_ago)
    Generation.objects.bulk_create(
        Generation(
            owner=user,
            prompt="Hallasan",
            width=64,
            height=64,
            status=status,
            provider=provider,
            created_at=finished - datetime.timedelta(seconds=seconds + 2),
            enqueued_at=finished - datetime.timedelta(seconds=seconds + 2),
            started_at=finished - datetime.timedelta(seconds=seconds),
            finished_at=finished,
            image="generations/x.png" if status == "succeeded" else "",
            thumbnail="generations/x.webp" if status == "succeeded" else "",
            **extra,
        )
        for _ in range(n)
    )


def test_only_staff_see_the_page(client, user, admin_user):
    client.force_login(user)
    assert client.get(reverse("imagegen:ops")).status_code == 302  # to the admin's log-in
    client.force_login(admin_user)
    assert client.get(reverse("imagegen:ops")).status_code == 200
    index = client.get(reverse("admin:index")).content.decode()
    assert reverse("imagegen:ops") in index


def test_the_days_count_what_the_usage_report_counts(user):
    made(user, 3)
    made(user, 2, days_ago=1, status="failed", failure_class="out_of_quota")
    made(user, 1, days_ago=1, estimated_cost=Decimal("0.25"), provider="hf_inference", seconds=8)
    made(user, 5, days_ago=20)  # before the 14 days
    days = ops.last_days()
    assert len(days) == 14
    today, yesterday = days[-1], days[-2]
    assert today.statuses == {"succeeded": 3}
    assert yesterday.statuses == {"failed": 2, "succeeded": 1}
    assert yesterday.failures == {"out_of_quota": 2}
    assert yesterday.cost == Decimal("0.25")
    assert 5 < ops.quantile(0.5, yesterday.seconds["hf_inference"]) <= 8  # 8 s, in (5, 8]
    assert sum(today.waits) == 3 and 1 < ops.quantile(0.5, today.waits) <= 2  # 2 s each
    totals = ops.totals(days)
    assert totals["made"] == 4 and totals["failed_share"] == pytest.approx(2 / 6)


def test_percentiles_are_read_from_the_bucket_counts():
    counts = [0] * (len(ops.EDGES) + 1)
    counts[ops.EDGES.index(5)] = 90  # 90 in (3, 5]
    counts[ops.EDGES.index(60)] = 10  # 10 in (45, 60]
    assert 3 < ops.quantile(0.5, counts) <= 5
    assert 45 < ops.quantile(0.95, counts) <= 60
    assert ops.quantile(0.5, [0] * len(counts)) is None


def test_the_charts_are_svg_with_a_bar_per_status_and_day(admin_client, admin_user):
    made(admin_user, 3)
    made(admin_user, 1, days_ago=2, status="failed", failure_class="unavailable")
    page = admin_client.get(reverse("imagegen:ops")).content.decode()
    assert page.count('<svg class="chart"') == 5
    assert re.search(r"<rect [^>]*fill=\"#2e7d5b\"><title>Done: 3</title>", page)
    assert "<title>Service down or timed out (unavailable): 100%</title>" in page
    assert "<script" not in page.split("<main")[1]  # no chart library


def test_failure_classes_are_named_in_the_readers_language_with_their_metric_name(
    admin_client, admin_user
):
    made(admin_user, 1, status="failed", failure_class="out_of_quota")
    made(admin_user, 1, status="failed", failure_class="edited by hand")
    page = admin_client.get(reverse("imagegen:ops"), HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    legend = page.split('<ul class="ops-legend">')[2].split("</ul>")[0]
    assert "제공자 한도 소진 (out_of_quota)" in legend
    # A class no provider reports counts as unexpected, as in usage_report: never dropped.
    assert "예상하지 못한 오류 (unexpected)" in legend
    assert "<title>예상하지 못한 오류 (unexpected): 50%</title>" in page


def test_its_queries_do_not_grow_with_the_generations(
    admin_client, admin_user, django_assert_max_num_queries
):
    made(admin_user, 5)
    made(admin_user, 5, days_ago=2)
    admin_client.get(reverse("imagegen:ops"))  # counts the days that are over, once
    with django_assert_max_num_queries(20) as few:
        admin_client.get(reverse("imagegen:ops"))
    made(admin_user, 400)
    made(admin_user, 50, days_ago=0, status="failed", failure_class="bad_output")
    with django_assert_max_num_queries(len(few.captured_queries)):
        page = admin_client.get(reverse("imagegen:ops")).content.decode()
    assert "<title>Done: 405</title>" in page


def test_a_day_that_is_over_is_counted_once_and_kept(user):
    made(user, 2, days_ago=3)
    assert ops.last_days()[-4].statuses == {"succeeded": 2}
    made(user, 7, days_ago=3)  # cannot happen to a day that is over: shows it was kept
    made(user, 1)
    days = ops.last_days()
    assert days[-4].statuses == {"succeeded": 2}
    assert days[-1].statuses == {"succeeded": 1}  # today is always counted afresh
    ops.forget()
    assert ops.last_days()[-4].statuses == {"succeeded": 9}


def test_a_past_day_with_work_still_queued_is_counted_again(user):
    made(user, 1, days_ago=2)
    Generation.objects.update(status="queued", finished_at=None, started_at=None)
    assert ops.last_days()[-3].statuses == {"queued": 1}
    # The worker finishes it late: the day is read afresh, not from a kept count.
    Generation.objects.update(
        status="succeeded", finished_at=timezone.now() - datetime.timedelta(days=2)
    )
    assert ops.last_days()[-3].statuses == {"succeeded": 1}
