"""The Django admin: generation actions, users with their quota and credits, cool-downs, the
prompt policy and the budget warning, through the admin's own URLs as a staff member uses them."""

import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_q.brokers import get_broker

from imagegen import services
from imagegen.admin_users import QuotaForm
from imagegen.models import Generation, PromptRefusal, ProviderCooldown, Quota
from imagegen.providers.demo import DemoProvider
from imagegen.tasks import run_generation

GENERATIONS = reverse("admin:imagegen_generation_changelist")
USERS = reverse("admin:auth_user_changelist")


def make_generation(owner, **fields):
    """A generation row as the admin lists it, without running a provider."""
    return Generation.objects.create(
        owner=owner, **{"prompt": "Seoul at night", "width": 256, "height": 256, **fields}
    )


def submitted(user, prompt="Busan harbour"):
    return services.submit_generation(user=user, prompt=prompt, width=256, height=256)


def succeeded(user, prompt="Jeju sunrise"):
    generation = submitted(user, prompt)
    run_generation(str(generation.pk))
    generation.refresh_from_db()
    assert generation.status == Generation.Status.SUCCEEDED
    return generation


def failed(user, prompt="Gyeongju temple"):
    generation = submitted(user, prompt)
    services.fail_generation(
        generation.pk,
        user_message="The provider is busy.",
        detail="gradio_space (unavailable): HTTP 503 from upstream\nTraceback line two",
        failure_class="unavailable",
    )
    generation.refresh_from_db()
    return generation


def act(client, action, objects, url=GENERATIONS, **extra):
    """Run an admin action on objects from the changelist; the page it ends on."""
    data = {"action": action, ACTION_CHECKBOX_NAME: [str(o.pk) for o in objects], **extra}
    return client.post(url, data, follow=True)


def messages_of(response):
    return [(m.level_tag, str(m)) for m in response.context["messages"]]


def file_path(field_file):
    return Path(django_settings.MEDIA_ROOT) / field_file.name


# --- Generation changelist and change page ---------------------------------------------------


def test_generation_list_shows_thumbnail_owner_duration_and_cost(admin_client, user):
    generation = succeeded(user)
    started = timezone.now() - datetime.timedelta(seconds=10)
    Generation.objects.filter(pk=generation.pk).update(
        started_at=started,
        finished_at=started + datetime.timedelta(seconds=2.25),
        estimated_cost=Decimal("0.0123"),
    )
    page = admin_client.get(GENERATIONS).content.decode()
    thumbnail = reverse("admin:imagegen_generation_thumbnail", args=[generation.pk])
    assert f'<img src="{thumbnail}" alt="Thumbnail" width="64" height="64"' in page
    assert "alice" in page
    assert ">2.2<" in page or ">2.3<" in page  # seconds, one decimal
    assert "$0.0123" in page
    assert admin_client.get(thumbnail)["Content-Type"] == "image/webp"


def test_generation_list_filters_by_failure_class_and_date(admin_client, user):
    failed(user, "Failed in Daegu")
    succeeded(user, "Done in Incheon")
    page = admin_client.get(GENERATIONS + "?failure_class=unavailable").content.decode()
    assert "Failed in Daegu" in page and "Done in Incheon" not in page
    today = timezone.localdate()
    dated = admin_client.get(
        GENERATIONS + f"?created_at__year={today.year}&created_at__month={today.month}"
    ).content.decode()
    assert "Failed in Daegu" in dated and "Done in Incheon" in dated
    searched = admin_client.get(GENERATIONS + "?q=alice").content.decode()
    assert "Failed in Daegu" in searched


def test_generation_list_queries_do_not_grow_with_rows(
    admin_client, make_user, django_assert_max_num_queries
):
    owners = [make_user(f"owner{i}") for i in range(30)]

    def add(count, start):
        for owner in owners[start : start + count]:
            make_generation(
                owner,
                status=Generation.Status.SUCCEEDED,
                image=f"generations/{owner.pk}/x.png",
                thumbnail=f"generations/{owner.pk}/x.thumb.webp",
                started_at=timezone.now(),
                finished_at=timezone.now(),
            )

    add(3, 0)
    with CaptureQueriesContext(connection) as three:
        assert admin_client.get(GENERATIONS).status_code == 200
    add(27, 3)
    with django_assert_max_num_queries(len(three)):
        page = admin_client.get(GENERATIONS)
    assert page.content.decode().count('alt="Thumbnail" width="64"') == 30


def test_generation_list_reads_one_page_of_generations_newest_first_from_its_index(
    admin_client, user, settings
):
    """Besides its count (PostgreSQL's estimate once the table is large), the list reads the
    generations once: one page, in the generation_recent index's order. The budget warning
    reads the month's running total, not a sum over the month's generations."""
    settings.IMAGEGEN_MONTHLY_BUDGET_USD = Decimal("1.00")
    spend(user, "0.95")
    Generation.objects.bulk_create(
        Generation(owner=user, prompt=f"Trip {i}", width=256, height=256) for i in range(60)
    )
    with CaptureQueriesContext(connection) as captured:
        page = admin_client.get(GENERATIONS)
    assert messages_of(page)[0][0] == "warning"
    reads = [q["sql"] for q in captured if '"imagegen_generation"' in q["sql"]]
    pages = [sql for sql in reads if not sql.startswith('SELECT COUNT(*) AS "__count"')]
    assert len(pages) == 1, reads
    newest_first = '"imagegen_generation"."created_at" DESC, "imagegen_generation"."id" DESC'
    assert pages[0].endswith(f"ORDER BY {newest_first} LIMIT 50")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # As on a large table: a plan with no Sort exists only if an index has the order.
            cursor.execute("SET LOCAL enable_seqscan = off; SET LOCAL enable_sort = off")
            cursor.execute("EXPLAIN " + pages[0])
            plan = "\n".join(row[0] for row in cursor.fetchall())
        assert "generation_recent" in plan and "Sort" not in plan, plan


def test_user_list_shows_usage_and_credits_without_a_query_per_row(
    admin_client, make_user, django_assert_max_num_queries
):
    alice = make_user("alice")
    submitted(alice)
    submitted(alice)
    services.grant_credits(user=alice, credits=7)
    page = admin_client.get(USERS)
    row = next(r for r in page.content.decode().split("<tr") if ">alice<" in r)
    # generations, used today, used this month, bonus credits
    for column, value in [
        ("generation_count", 2),
        ("used_today", 2),
        ("used_this_month", 2),
        ("bonus_credits", 7),
    ]:
        assert f'class="field-{column}">{value}<' in row

    with CaptureQueriesContext(connection) as few:
        admin_client.get(USERS)
    for i in range(20):
        user = make_user(f"traveller{i}")
        submitted(user)
    with django_assert_max_num_queries(len(few)):
        rows = admin_client.get(USERS).content.decode().count('class="action-select"')
    assert rows == 22  # alice, admin and the 20 travellers


def test_error_detail_is_on_the_change_page_for_staff_only(admin_client, client, user):
    generation = failed(user)
    url = reverse("admin:imagegen_generation_change", args=[generation.pk])
    page = admin_client.get(url).content.decode()
    assert "HTTP 503 from upstream" in page and "Traceback line two" in page
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_thumbnails_in_the_admin_are_for_staff_only(client, user):
    generation = succeeded(user)
    client.force_login(user)
    response = client.get(reverse("admin:imagegen_generation_thumbnail", args=[generation.pk]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_generations_cannot_be_added_in_the_admin(admin_client):
    assert admin_client.get(reverse("admin:imagegen_generation_add")).status_code == 403


# --- Generation actions ----------------------------------------------------------------------


def test_retry_queues_a_new_generation_for_the_owner_and_takes_quota(
    admin_client, user, django_capture_on_commit_callbacks
):
    source = failed(user)
    assert Quota.objects.get(user=user).day_used == 0  # the failure was refunded
    waiting = get_broker().queue_size()
    with django_capture_on_commit_callbacks(execute=True):
        response = act(admin_client, "retry_selected", [source])
    assert ("success", "Queued 1 generation again, as new generations for their owners.") in (
        messages_of(response)
    )
    retried = Generation.objects.exclude(pk=source.pk).get()
    assert retried.owner == user and retried.prompt == source.prompt
    assert retried.status == Generation.Status.QUEUED and retried.charged
    assert Quota.objects.get(user=user).day_used == 1
    assert get_broker().queue_size() == waiting + 1


def test_retry_reports_owners_out_of_quota_and_skips_unfailed(admin_client, user):
    source = failed(user)
    done = succeeded(user, "Already done")
    Quota.objects.filter(user=user).update(daily_limit=1)
    response = act(admin_client, "retry_selected", [source, done])
    texts = dict(messages_of(response))
    assert Generation.objects.count() == 2
    warnings = [text for level, text in messages_of(response) if level == "warning"]
    assert any(text.startswith("Not queued: alice") and "1 of today" in text for text in warnings)
    assert "Skipped 1: only failed or canceled generations can be retried." in warnings
    assert "success" not in texts


def test_cancel_stops_queued_ones_and_refunds_them(admin_client, user):
    queued = submitted(user)
    done = succeeded(user)
    assert Quota.objects.get(user=user).day_used == 2
    response = act(admin_client, "cancel_selected", [queued, done])
    assert ("success", "Canceled 1 generation; their quota went back.") in messages_of(response)
    assert ("warning", "Skipped 1: only queued generations can be canceled.") in messages_of(
        response
    )
    queued.refresh_from_db()
    assert queued.status == Generation.Status.CANCELED and not queued.charged
    assert Quota.objects.get(user=user).day_used == 1
    done.refresh_from_db()
    assert done.status == Generation.Status.SUCCEEDED


def test_refund_gives_quota_back_exactly_once(admin_client, user):
    first, second = succeeded(user, "One"), succeeded(user, "Two")
    assert Quota.objects.get(user=user).day_used == 2
    response = act(admin_client, "refund_selected", [first])
    assert ("success", "Refunded 1 generation.") in messages_of(response)
    assert Quota.objects.get(user=user).day_used == 1
    again = act(admin_client, "refund_selected", [first])
    assert ("warning", "1 generation held no quota (already refunded).") in messages_of(again)
    assert Quota.objects.get(user=user).day_used == 1
    second.refresh_from_db()
    assert second.charged


def test_refund_gives_a_bonus_credit_back(admin_client, user):
    Quota.objects.create(user=user, daily_limit=0, bonus_credits=1)
    paid_with_credit = submitted(user)
    assert paid_with_credit.charged_bonus
    act(admin_client, "refund_selected", [paid_with_credit])
    assert Quota.objects.get(user=user).bonus_credits == 1


def test_delete_asks_first_then_removes_rows_and_files(
    admin_client, user, django_capture_on_commit_callbacks
):
    kept, doomed = succeeded(user, "Kept"), succeeded(user, "Doomed")
    paths = [file_path(doomed.image), file_path(doomed.thumbnail)]
    assert all(p.exists() for p in paths)
    confirm = act(admin_client, "delete_selected", [doomed])
    assert "Are you sure" in confirm.content.decode()
    assert Generation.objects.filter(pk=doomed.pk).exists()
    with django_capture_on_commit_callbacks(execute=True):
        response = act(admin_client, "delete_selected", [doomed], post="yes")
    assert ("success", "Successfully deleted 1 generation.") in messages_of(response)
    assert not Generation.objects.filter(pk=doomed.pk).exists()
    assert not any(p.exists() for p in paths)
    assert file_path(kept.image).exists() and file_path(kept.thumbnail).exists()


def test_delete_refuses_running_ones_and_refunds_queued_ones(
    admin_client, user, django_capture_on_commit_callbacks
):
    running, queued = submitted(user, "Running"), submitted(user, "Queued")
    Generation.objects.filter(pk=running.pk).update(status=Generation.Status.RUNNING)
    with django_capture_on_commit_callbacks(execute=True):
        response = act(admin_client, "delete_selected", [running, queued], post="yes")
    assert (
        "warning",
        "Not deleted: 1 generation running right now; delete when done.",
    ) in messages_of(response)
    assert list(Generation.objects.values_list("pk", flat=True)) == [running.pk]
    assert Quota.objects.get(user=user).day_used == 1  # the queued one's unit came back


def test_the_change_page_delete_removes_the_files(
    admin_client, user, django_capture_on_commit_callbacks
):
    generation = succeeded(user)
    paths = [file_path(generation.image), file_path(generation.thumbnail)]
    url = reverse("admin:imagegen_generation_delete", args=[generation.pk])
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(url, {"post": "yes"})
    assert not Generation.objects.exists()
    assert not any(p.exists() for p in paths)


# --- Users, quota and credits ----------------------------------------------------------------


def test_grant_credits_asks_how_many_then_raises_each_users_bonus(admin_client, make_user):
    alice, bob = make_user("alice"), make_user("bob")
    services.grant_credits(user=alice, credits=2)
    page = act(admin_client, "grant_credits", [alice, bob], url=USERS)
    html = page.content.decode()
    assert page.templates[0].name == "admin/imagegen/grant_credits.html"
    assert "Grant to 2 users" in html and ">alice<" in html and ">bob<" in html
    assert not Quota.objects.filter(user=bob).exists()

    refused = act(admin_client, "grant_credits", [alice, bob], url=USERS, apply="1", credits="0")
    assert "Ensure this value is greater than or equal to 1." in refused.content.decode()
    assert Quota.objects.get(user=alice).bonus_credits == 2

    done = act(admin_client, "grant_credits", [alice, bob], url=USERS, apply="1", credits="5")
    assert ("success", "Granted 5 credits to 2 users: alice, bob.") in messages_of(done)
    assert Quota.objects.get(user=alice).bonus_credits == 7
    assert Quota.objects.get(user=bob).bonus_credits == 5


def test_the_user_page_edits_limits_and_credits_and_shows_counters(admin_client, user):
    submitted(user)
    html = admin_client.get(reverse("admin:auth_user_change", args=[user.pk])).content.decode()
    for field in ("daily_limit", "monthly_limit", "bonus_credits"):
        assert f'name="quota-0-{field}"' in html
    assert 'name="quota-0-day_used"' not in html  # counters are read-only
    assert "Day used" in html and "Month used" in html


def test_saving_a_quota_keeps_counters_reserved_meanwhile(user):
    submitted(user)
    quota = Quota.objects.get(user=user)
    form = QuotaForm(
        {"daily_limit": 50, "monthly_limit": quota.monthly_limit, "bonus_credits": 3},
        instance=quota,
    )
    submitted(user)  # a reservation while the admin's form is open
    assert form.is_valid()
    form.save()
    quota.refresh_from_db()
    assert (quota.daily_limit, quota.bonus_credits, quota.day_used) == (50, 3, 2)


def test_deleting_a_user_removes_their_files(
    admin_client, user, django_capture_on_commit_callbacks
):
    generation = succeeded(user)
    paths = [file_path(generation.image), file_path(generation.thumbnail)]
    url = reverse("admin:auth_user_delete", args=[user.pk])
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(url, {"post": "yes"})
    assert not Generation.objects.exists()
    assert not any(p.exists() for p in paths)


# --- Cool-downs, prompt policy ---------------------------------------------------------------


def test_clearing_a_cooldown_lets_workers_use_the_provider_again(admin_client):
    services.start_cooldown("gradio_space", 600, "ZeroGPU quota exceeded")
    services.start_cooldown("inference_api", 600, "402 Payment Required")
    listing = admin_client.get(reverse("admin:imagegen_providercooldown_changelist"))
    assert "ZeroGPU quota exceeded" in listing.content.decode()
    cleared = ProviderCooldown.objects.get(provider="gradio_space")
    response = act(
        admin_client,
        "clear_selected",
        [cleared],
        url=reverse("admin:imagegen_providercooldown_changelist"),
    )
    assert (
        "success",
        "Cleared 1 cool-down: workers use gradio_space again.",
    ) in messages_of(response)
    assert services.active_cooldown("gradio_space") is None
    assert services.active_cooldown("inference_api") is not None
    add = admin_client.get(reverse("admin:imagegen_providercooldown_add"))
    assert add.status_code == 403


def test_a_blocked_pattern_with_a_broken_regex_is_refused(admin_client):
    url = reverse("admin:imagegen_blockedpattern_add")
    data = {"pattern": "(unclosed", "is_regex": "on", "reason": "", "active": "on"}
    response = admin_client.post(url, data)
    assert "Not a valid regular expression" in response.content.decode()
    response = admin_client.post(url, {**data, "pattern": r"\bselfie\b"})
    assert response.status_code == 302
    assert services.blocking_pattern("a selfie in Seoul").pattern == r"\bselfie\b"


def test_prompt_refusals_are_listed_read_only(admin_client, user):
    refusal = PromptRefusal.objects.create(user=user, pattern="celebrity")
    listing = admin_client.get(reverse("admin:imagegen_promptrefusal_changelist"))
    assert "celebrity" in listing.content.decode()
    filtered = admin_client.get(
        reverse("admin:imagegen_promptrefusal_changelist") + "?pattern=other"
    )
    assert "alice" not in filtered.content.decode()
    change = admin_client.get(reverse("admin:imagegen_promptrefusal_change", args=[refusal.pk]))
    assert 'name="pattern"' not in change.content.decode()  # shown, not editable
    assert admin_client.get(reverse("admin:imagegen_promptrefusal_add")).status_code == 403


# --- The monthly budget ----------------------------------------------------------------------


def spend(user, *amounts):
    """A generation this month for each amount, made by the demo provider priced for it."""
    for amount in amounts:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(
                DemoProvider, "cost", lambda self, seconds, amount=amount: Decimal(amount)
            )
            succeeded(user)


@pytest.mark.parametrize("url", [reverse("admin:index"), GENERATIONS])
def test_admins_are_warned_as_spending_nears_the_budget(admin_client, user, settings, url):
    settings.IMAGEGEN_MONTHLY_BUDGET_USD = Decimal("1.00")
    spend(user, "0.5", "0.2")
    assert messages_of(admin_client.get(url)) == []  # 70%
    spend(user, "0.2")
    assert messages_of(admin_client.get(url)) == [
        (
            "warning",
            "Image spending this month is $0.90, 90% of the $1.00 monthly budget "
            "(IMAGEGEN_MONTHLY_BUDGET_USD).",
        )
    ]
    assert 'class="warning"' in admin_client.get(url).content.decode()


def test_admins_see_an_error_once_the_budget_is_spent(admin_client, user, settings):
    settings.IMAGEGEN_MONTHLY_BUDGET_USD = Decimal("1.00")
    settings.IMAGEGEN_BUDGET_ACTION = "refuse"
    spend(user, "0.6", "0.45")
    assert messages_of(admin_client.get(reverse("admin:index"))) == [
        (
            "error",
            "This month's image budget is spent: $1.05 of $1.00 (105%). "
            "New generations are refused until the month ends.",
        )
    ]


def test_no_budget_means_no_warning(admin_client, user, settings):
    settings.IMAGEGEN_MONTHLY_BUDGET_USD = None
    spend(user, "100")
    assert messages_of(admin_client.get(reverse("admin:index"))) == []


def test_uploaded_photos_are_listed_for_admins_without_the_photos(admin_client, user):
    from imagegen import services
    from imagegen.models import Upload
    from tests import photos

    photo = services.store_upload(user=user, data=photos.jpeg_with_gps(320, 240))
    listing = admin_client.get(reverse("admin:imagegen_upload_changelist")).content.decode()
    assert "alice" in listing and "320" in listing
    page = admin_client.get(reverse("admin:imagegen_upload_change", args=[photo.pk]))
    assert page.status_code == 200
    assert photo.image.name not in page.content.decode()  # no link to the face itself
    assert "<img" not in page.content.decode().split('id="content"')[1]
    assert admin_client.get(reverse("admin:imagegen_upload_add")).status_code == 403
    assert Upload.objects.count() == 1
