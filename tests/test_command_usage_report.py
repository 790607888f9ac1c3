"""`manage.py usage_report`: a month's usage per user and provider, in table, CSV and JSON."""

import csv
import datetime
import io
import json
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from imagegen.models import Generation, PromptRefusal

UTC = datetime.UTC


def at(month, day, hour=12, minute=0, second=0):
    return datetime.datetime(2026, month, day, hour, minute, second, tzinfo=UTC)


def make_generation(
    owner,
    status,
    *,
    finished=None,
    seconds=None,
    provider="",
    failure_class="",
    cost="0",
    created=None,
):
    """A generation as a worker would have left it; `seconds` sets started_at before finished."""
    started = finished - datetime.timedelta(seconds=seconds) if seconds is not None else None
    created = created or (started or finished) - datetime.timedelta(minutes=1)
    return Generation.objects.create(
        owner=owner,
        prompt="Jeju at dawn",
        width=512,
        height=512,
        status=status,
        provider=provider,
        failure_class=failure_class,
        image="generations/x.png" if status == Generation.Status.SUCCEEDED else "",
        created_at=created,
        started_at=started,
        finished_at=finished,
        estimated_cost=Decimal(cost),
    )


def refuse(user, when):
    PromptRefusal.objects.create(user=user, pattern="celebrity", created_at=when)


@pytest.fixture
def november(make_user):
    """Two users' November 2026, with October rows around it that must not be counted."""
    alice, bob = make_user("alice"), make_user("bob")
    ok, failed = Generation.Status.SUCCEEDED, Generation.Status.FAILED
    # alice on hf_inference: 2, 4, 6, 8 and 100 s → median 6, nearest-rank p95 100.
    for day, seconds in ((2, 2), (3, 4), (4, 6), (5, 8), (6, 100)):
        make_generation(
            alice, ok, finished=at(11, day), seconds=seconds, provider="hf_inference", cost="0.035"
        )
    make_generation(
        alice, ok, finished=at(11, 7), seconds=30, provider="gradio_space", cost="0.0017"
    )
    make_generation(alice, failed, finished=at(11, 8), failure_class="out_of_quota")
    make_generation(alice, failed, finished=at(11, 9), failure_class="out_of_quota")
    make_generation(
        alice, failed, finished=at(11, 9), provider="hf_inference", failure_class="unavailable"
    )
    make_generation(alice, Generation.Status.CANCELED, finished=at(11, 10))
    # bob on gradio_space: 10 and 20 s (and 40 s on hf_inference, below).
    for day, seconds, cost in ((11, 10, "0.0006"), (12, 20, "0.0011")):
        make_generation(
            bob, ok, finished=at(11, day), seconds=seconds, provider="gradio_space", cost=cost
        )
    make_generation(
        bob, failed, finished=at(11, 13), provider="gradio_space", failure_class="prompt_rejected"
    )
    # A failure without a class (an admin's edit) counts as unexpected.
    make_generation(bob, failed, finished=at(11, 14))
    # Never finished: counted by created_at, November for one, October for the other.
    make_generation(bob, Generation.Status.QUEUED, created=at(11, 20))
    make_generation(bob, Generation.Status.RUNNING, created=at(10, 31, 23, 59))
    # Finished at the very end of October (excluded) and at the very start of November
    # (included, though created in October).
    make_generation(
        alice,
        ok,
        finished=at(10, 31, 23, 59, 59),
        seconds=5,
        provider="hf_inference",
        cost="0.035",
    )
    make_generation(
        bob,
        ok,
        finished=at(11, 1, 0, 0, 0),
        seconds=40,
        provider="hf_inference",
        cost="0.035",
        created=at(10, 31, 23, 58),
    )
    refuse(alice, at(11, 3))
    refuse(alice, at(11, 4))
    refuse(alice, at(10, 30))
    # A user with refusals only still appears.
    refuse(make_user("carol"), at(11, 5))
    return alice, bob


def report(*args):
    out = io.StringIO()
    call_command("usage_report", *args, stdout=out)
    return out.getvalue()


def json_report(month="2026-11"):
    return json.loads(report("--month", month, "--format", "json"))


def by_name(rows):
    return {row["name"]: row for row in rows}


def test_json_counts_each_users_images_failures_refusals_and_cost(november):
    data = json_report()

    assert data["month"] == "2026-11"
    users = by_name(data["users"])
    assert list(users) == ["alice", "bob", "carol"]
    alice, bob, carol = users["alice"], users["bob"], users["carol"]
    assert alice["images"] == 6
    assert alice["failed"] == 3
    assert alice["failures"]["out_of_quota"] == 2
    assert alice["failures"]["unavailable"] == 1
    assert alice["canceled"] == 1
    assert alice["active"] == 0
    assert alice["refused"] == 2
    assert alice["cost_usd"] == "0.1767"  # 5 × 0.035 + 0.0017
    assert bob["images"] == 3
    assert bob["failures"]["prompt_rejected"] == 1
    assert bob["failures"]["unexpected"] == 1
    assert bob["failed"] == 2
    assert bob["active"] == 1
    assert bob["refused"] == 0
    assert bob["cost_usd"] == "0.0367"  # 0.0006 + 0.0011 + 0.035
    assert carol == {
        "name": "carol",
        "images": 0,
        "failed": 0,
        "failures": dict.fromkeys(alice["failures"], 0),
        "canceled": 0,
        "active": 0,
        "refused": 1,
        "median_s": None,
        "p95_s": None,
        "cost_usd": "0.0000",
    }


def test_json_has_a_column_for_every_failure_class_and_canceled(november):
    alice = by_name(json_report()["users"])["alice"]

    assert list(alice["failures"]) == [
        "misconfigured",
        "access_denied",
        "model_unavailable",
        "out_of_quota",
        "unavailable",
        "bad_output",
        "prompt_rejected",
        "task_unsupported",
        "unexpected",
    ]
    assert "canceled" in alice


def test_median_and_nearest_rank_p95_of_succeeded_durations(november):
    data = json_report()
    users = by_name(data["users"])

    assert users["alice"]["median_s"] == 7.0  # 2, 4, 6, 8, 30, 100: mean of 6 and 8
    assert users["alice"]["p95_s"] == 100.0  # rank ceil(0.95 × 6) = 6
    assert users["bob"]["median_s"] == 20.0  # 10, 20, 40
    assert users["bob"]["p95_s"] == 40.0
    providers = by_name(data["providers"])
    assert providers["hf_inference"]["median_s"] == 7.0  # 2, 4, 6, 8, 40, 100
    assert providers["hf_inference"]["p95_s"] == 100.0
    assert providers["gradio_space"]["median_s"] == 20.0  # 10, 20, 30
    assert providers["gradio_space"]["p95_s"] == 30.0


def test_json_rows_per_provider_with_failures_that_recorded_none(november):
    providers = by_name(json_report()["providers"])

    assert list(providers) == ["(none)", "gradio_space", "hf_inference"]
    assert providers["hf_inference"]["images"] == 6
    assert providers["hf_inference"]["failures"]["unavailable"] == 1
    assert providers["hf_inference"]["cost_usd"] == "0.2100"
    assert providers["gradio_space"]["images"] == 3
    assert providers["gradio_space"]["failures"]["prompt_rejected"] == 1
    assert providers["gradio_space"]["cost_usd"] == "0.0034"
    unrecorded = providers["(none)"]
    assert unrecorded["images"] == 0
    assert unrecorded["failures"]["out_of_quota"] == 2
    assert unrecorded["failures"]["unexpected"] == 1
    assert unrecorded["canceled"] == 1
    assert unrecorded["active"] == 1
    # A refused prompt never reaches a provider.
    assert unrecorded["refused"] is None


def test_json_totals_add_up_every_row_of_the_month(november):
    totals = json_report()["totals"]

    assert totals["images"] == 9
    assert totals["failed"] == 5
    assert totals["canceled"] == 1
    assert totals["active"] == 1
    assert totals["refused"] == 3
    assert totals["cost_usd"] == "0.2134"
    assert totals["median_s"] == 10.0  # 2, 4, 6, 8, 10, 20, 30, 40, 100
    assert totals["p95_s"] == 100.0


def test_generations_of_another_month_are_left_out(november):
    october = json_report("2026-10")

    users = by_name(october["users"])
    assert users["alice"]["images"] == 1
    assert users["alice"]["refused"] == 1
    assert users["alice"]["cost_usd"] == "0.0350"
    assert users["bob"]["images"] == 0
    assert users["bob"]["active"] == 1  # running since 31 October, counted by created_at
    assert october["totals"]["images"] == 1


def test_months_are_local_to_the_time_zone(make_user, settings):
    settings.TIME_ZONE = "Asia/Seoul"
    alice = make_user("alice")
    # 15:30 UTC on 31 October is 00:30 on 1 November in Seoul.
    make_generation(
        alice,
        Generation.Status.SUCCEEDED,
        finished=at(10, 31, 15, 30),
        seconds=3,
        provider="hf_inference",
        cost="0.035",
    )

    assert json_report("2026-11")["totals"]["images"] == 1
    assert json_report("2026-10")["totals"]["images"] == 0


def test_csv_has_a_header_and_one_row_per_section_and_name(november):
    rows = list(csv.DictReader(io.StringIO(report("--month", "2026-11", "--format", "csv"))))

    assert [(row["section"], row["name"]) for row in rows] == [
        ("user", "alice"),
        ("user", "bob"),
        ("user", "carol"),
        ("provider", "(none)"),
        ("provider", "gradio_space"),
        ("provider", "hf_inference"),
        ("total", "all"),
    ]
    alice = rows[0]
    assert alice["images"] == "6"
    assert alice["failed"] == "3"
    assert alice["out_of_quota"] == "2"
    assert alice["unavailable"] == "1"
    assert alice["misconfigured"] == "0"
    assert alice["canceled"] == "1"
    assert alice["refused"] == "2"
    assert alice["median_s"] == "7.0"
    assert alice["p95_s"] == "100.0"
    assert alice["cost_usd"] == "0.1767"
    assert rows[2]["median_s"] == ""  # carol has nothing timed
    assert rows[5]["refused"] == ""  # providers have no refusals
    assert rows[6]["refused"] == "3"
    assert rows[6]["cost_usd"] == "0.2134"


def test_table_aligns_a_row_per_user_and_provider_with_totals(november):
    text = report("--month", "2026-11")

    assert "Usage in 2026-11 (UTC)" in text
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("name"))
    alice = next(line for line in lines if line.startswith("alice"))
    # Numbers are right-aligned under their headers.
    assert alice.index("$0.1767") + len("$0.1767") == header.index("cost") + len("cost")
    assert alice.split()[:6] == ["alice", "6", "3", "1", "0", "2"]
    assert "out_of_quota 2, unavailable 1" in alice
    totals = lines[lines.index("Totals") + 2]
    assert totals.split()[:6] == ["all", "9", "5", "1", "1", "3"]
    assert "$0.2134" in totals


def test_default_month_is_the_current_one(user):
    make_generation(
        user,
        Generation.Status.SUCCEEDED,
        finished=datetime.datetime.now(UTC),
        seconds=2,
        provider="demo",
    )

    data = json.loads(report("--format", "json"))

    assert data["totals"]["images"] == 1


def test_an_empty_month_reports_zero_totals(db):
    data = json_report("2026-11")

    assert data["users"] == []
    assert data["totals"]["images"] == 0
    assert data["totals"]["cost_usd"] == "0.0000"
    assert "(none this month)" in report("--month", "2026-11")


@pytest.mark.parametrize("month", ["2026-13", "2026-00", "june", "2026/11", "26-11"])
def test_a_bad_month_is_an_error_that_says_the_format(db, month):
    with pytest.raises(CommandError, match="YYYY-MM|01 to 12"):
        report("--month", month)


def test_an_unknown_format_is_an_error(db):
    with pytest.raises(CommandError):
        report("--format", "xml")


@pytest.mark.parametrize("users", [2, 10])
def test_query_count_does_not_grow_with_users(make_user, django_assert_max_num_queries, users):
    for number in range(users):
        owner = make_user(f"user{number}")
        make_generation(
            owner,
            Generation.Status.SUCCEEDED,
            finished=at(11, 2),
            seconds=5,
            provider="hf_inference",
            cost="0.035",
        )
        make_generation(
            owner, Generation.Status.FAILED, finished=at(11, 3), failure_class="unavailable"
        )
        refuse(owner, at(11, 4))

    with django_assert_max_num_queries(2):
        data = json_report()

    assert len(data["users"]) == users
