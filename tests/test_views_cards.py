"""The pages' cards and details: a share link that is off, card actions per status, the live
detail's parameters, "just now", remix, one quota refusal, the quota box's level, the favicon,
no caching of signed-in pages. (The error pages are test_error_pages.py.)"""

import datetime
import re

import pytest
from django.templatetags.static import static
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from imagegen import services
from imagegen.models import Generation
from imagegen.tasks import run_generation

CREATE = reverse("imagegen:create")
GALLERY = reverse("imagegen:gallery")


def make(user, prompt="Gyeongbokgung at dawn", **extra):
    return services.submit_generation(user=user, prompt=prompt, width=256, height=256, **extra)


def make_done(user, prompt="Gyeongbokgung at dawn", **extra):
    generation = make(user, prompt, **extra)
    run_generation(str(generation.pk))
    generation.refresh_from_db()
    return generation


def assert_site_look(body):
    """The page has the site's header and stylesheet, not Django's bare text."""
    assert 'class="topbar"' in body
    assert re.search(r'href="/static/css/site\.[0-9a-f]+\.css"', body)


def form_tag(body, generation, action):
    """The opening tag of the generation's `action` form (cancel, retry)."""
    url = reverse(f"imagegen:{action}", args=[generation.pk])
    match = re.search(rf'<form method="post" action="{re.escape(url)}"[^>]*>', body)
    assert match, f"no {action} form for {generation.pk}"
    return match.group(0)


def shown(tag):
    return not re.search(r"\shidden[\s>]", tag)


# --- share links that are off -----------------------------------------------------------------


def test_a_revoked_share_link_explains_itself_with_a_404(user_client, user, client):
    generation = make_done(user)
    user_client.post(reverse("imagegen:share", args=[generation.pk]))
    generation.refresh_from_db()
    link = reverse("imagegen:shared", args=[generation.share_token])
    assert Client().get(link).status_code == 200
    user_client.post(reverse("imagegen:unshare", args=[generation.pk]))
    response = Client().get(link)
    assert response.status_code == 404
    body = response.content.decode()
    assert_site_look(body)
    assert "This share link does not open anything" in body
    assert "turned the link off" in body
    assert generation.prompt not in body
    assert response["Referrer-Policy"] == "same-origin"


def test_a_share_link_that_never_existed_gets_the_same_page(client, db):
    response = client.get(reverse("imagegen:shared", args=["made-up-token"]))
    assert response.status_code == 404
    assert "This share link does not open anything" in response.content.decode()


# --- cards: actions per status ----------------------------------------------------------------


def test_cards_offer_cancel_while_queued_and_retry_after_failure_or_cancel(user_client, user):
    queued = make(user, "queued one")
    done = make_done(user, "done one")
    failed = make(user, "failed one")
    services.fail_generation(failed.pk, user_message="The service said no.", detail="test")
    canceled = make(user, "canceled one")
    services.cancel_generation(generation_id=canceled.pk, user=user)
    body = user_client.get(GALLERY).content.decode()
    expected = {
        queued: (True, False),
        done: (False, False),
        failed: (False, True),
        canceled: (False, True),
    }
    for generation, (cancel, retry) in expected.items():
        assert shown(form_tag(body, generation, "cancel")) is cancel, generation.prompt
        assert shown(form_tag(body, generation, "retry")) is retry, generation.prompt


def test_a_canceled_card_says_canceled_where_the_picture_would_be(user_client, user):
    canceled = make(user, "never made")
    services.cancel_generation(generation_id=canceled.pk, user=user)
    body = user_client.get(GALLERY).content.decode()
    card = body[body.index(f'id="g-{canceled.pk}"') :]
    assert re.match(
        r'[^<]*>\s*<a [^>]*>\s*<span class="placeholder ended" data-role="placeholder" '
        r'data-label="Canceled"',
        card,
    )


def test_retry_from_a_card_queues_a_canceled_one_again_and_returns_there(user_client, user):
    canceled = make(user, "second chance")
    services.cancel_generation(generation_id=canceled.pk, user=user)
    response = user_client.post(
        reverse("imagegen:retry", args=[canceled.pk]), {"next": GALLERY + "?show=failed"}
    )
    assert response.status_code == 302
    assert response["Location"] == GALLERY + "?show=failed"
    again = Generation.objects.exclude(pk=canceled.pk).get(owner=user)
    assert (again.prompt, again.status) == ("second chance", Generation.Status.QUEUED)


def test_cancel_from_a_card_returns_to_the_page_it_came_from(user_client, user):
    queued = make(user)
    response = user_client.post(reverse("imagegen:cancel", args=[queued.pk]), {"next": GALLERY})
    assert response["Location"] == GALLERY
    queued.refresh_from_db()
    assert queued.status == Generation.Status.CANCELED


def test_the_queued_notice_names_its_generation_for_the_live_script(user_client, user):
    user_client.post(CREATE, {"prompt": "Namsan tower", "width": "512", "height": "512"})
    generation = Generation.objects.get(owner=user)
    body = user_client.get(CREATE).content.decode()
    assert f'class="message queued-notice for-g-{generation.pk} success"' in body
    assert f'id="g-{generation.pk}"' in body  # the card the script watches


# --- the live detail's parameters -------------------------------------------------------------


def test_status_json_has_seed_provider_model_and_time_once_done(user_client, user):
    generation = make(user, seed=4242)
    url = reverse("imagegen:status", args=[generation.pk])
    waiting = user_client.get(url).json()
    assert (waiting["actual_seed"], waiting["provider"], waiting["model"]) == (None, "", "")
    assert waiting["duration_seconds"] is None
    run_generation(str(generation.pk))
    done = user_client.get(url).json()
    assert done["actual_seed"] == 4242
    assert done["provider"] == "demo"
    assert done["model"] == "travelfit-demo-postcard"
    assert isinstance(done["duration_seconds"], float) and done["duration_seconds"] >= 0


def test_detail_has_rows_the_script_fills_hidden_until_known(user_client, user):
    queued = make(user)
    body = user_client.get(reverse("imagegen:detail", args=[queued.pk])).content.decode()
    for role in ("provider", "model", "took"):
        assert f'<div data-role="{role}-row" hidden>' in body
    assert '<dd data-role="seed">random</dd>' in body
    done = make_done(user)
    body = user_client.get(reverse("imagegen:detail", args=[done.pk])).content.decode()
    assert '<div data-role="provider-row"><dt>Provider</dt><dd data-role="provider">demo' in body
    assert f'<dd data-role="seed">{done.actual_seed}</dd>' in body


# --- times ------------------------------------------------------------------------------------


def test_under_a_minute_is_just_now_on_cards_and_detail(user_client, user):
    fresh = make_done(user, "fresh")
    older = make_done(user, "older")
    Generation.objects.filter(pk=older.pk).update(
        created_at=timezone.now() - datetime.timedelta(minutes=5, seconds=10)
    )
    gallery = user_client.get(GALLERY).content.decode()
    assert "0\xa0minutes ago" not in gallery
    fresh_card = gallery[gallery.index(f'id="g-{fresh.pk}"') :][:3000]
    older_card = gallery[gallery.index(f'id="g-{older.pk}"') :][:3000]
    assert ">just now</time>" in fresh_card
    assert ">5\xa0minutes ago</time>" in older_card
    detail = user_client.get(reverse("imagegen:detail", args=[fresh.pk])).content.decode()
    assert "(just now)" in detail


# --- remix and vary ---------------------------------------------------------------------------


def test_remix_and_vary_say_what_they_copied(user_client, user):
    source = make_done(user, "Busan fish market", seed=77)
    remix = user_client.get(CREATE, {"from": source.pk}).content.decode()
    assert "Copied the prompt, size and settings of “Busan fish market”" in remix
    assert "the seed 77 was kept" in remix
    vary = user_client.get(CREATE, {"from": source.pk, "vary": "1"}).content.decode()
    assert "the seed was cleared" in vary
    plain = user_client.get(CREATE).content.decode()
    assert "Copied the prompt" not in plain


# --- quota ------------------------------------------------------------------------------------


def use_quota(user, *, daily_limit, used_today, monthly_limit=300):
    quota = services.quota_for(user)
    periods = services.Periods.current()
    quota.daily_limit, quota.monthly_limit = daily_limit, monthly_limit
    quota.day, quota.day_used = periods.day, used_today
    quota.month, quota.month_used = periods.month, used_today
    quota.save()


def test_over_quota_the_refusal_is_said_once_with_a_localized_time(user_client, user):
    use_quota(user, daily_limit=3, used_today=3)
    response = user_client.post(CREATE, {"prompt": "one more", "width": "512", "height": "512"})
    assert response.status_code == 200
    body = response.content.decode()
    assert body.count("You have used all") == 1
    assert body.count("More from") == 1
    resets = timezone.localtime(services.Periods.current().day_resets_at())
    assert date_format(resets, "DATETIME_FORMAT") in body
    assert resets.strftime("%Y-%m-%d %H:%M") not in body  # the services' own format is not shown
    assert not Generation.objects.filter(owner=user).exists()


def test_retry_over_quota_says_when_more_come_in_the_localized_format(user_client, user):
    failed = make(user)
    services.fail_generation(failed.pk, user_message="No.", detail="test")
    use_quota(user, daily_limit=1, used_today=1)
    response = user_client.post(reverse("imagegen:retry", args=[failed.pk]), follow=True)
    body = response.content.decode()
    resets = timezone.localtime(services.Periods.current().day_resets_at())
    assert "You have used all 1 of today&#x27;s units. More from " in body
    assert date_format(resets, "DATETIME_FORMAT") in body


@pytest.mark.parametrize(
    ("daily_limit", "used", "monthly_limit", "level"),
    [
        (20, 0, 300, "ok"),
        (20, 15, 300, "ok"),  # 5 left of 20: a quarter
        (20, 16, 300, "low"),  # 4 left of 20: a fifth
        (100, 21, 300, "ok"),  # 79 left
        (100, 80, 300, "low"),  # 20 left of 100: a fifth, though many
        (5, 3, 300, "low"),  # 2 left
        (20, 20, 300, "empty"),
        (20, 5, 6, "low"),  # the month has 1 left
    ],
)
def test_the_quota_box_is_neutral_then_warns_then_refuses(
    user_client, user, daily_limit, used, monthly_limit, level
):
    use_quota(user, daily_limit=daily_limit, used_today=used, monthly_limit=monthly_limit)
    body = user_client.get(CREATE).content.decode()
    assert f'<div class="quota quota-{level}" id="quota-note">' in body


# --- favicon ----------------------------------------------------------------------------------


def test_the_favicon_is_linked_and_served(client, db):
    page = client.get(reverse("login")).content.decode()
    url = static("favicon.svg")
    assert f'<link rel="icon" href="{url}" type="image/svg+xml">' in page
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    assert b"<svg" in b"".join(response.streaming_content)


@pytest.mark.parametrize(
    "name", ["imagegen:create", "imagegen:gallery", "profile", "keys", "delete_account"]
)
def test_signed_in_pages_are_kept_by_no_cache(user_client, name):
    """Not by a proxy, not by the back button after logging out on a shared computer."""
    response = user_client.get(reverse(name))
    assert response.status_code == 200
    directives = {part.strip() for part in response["Cache-Control"].split(",")}
    assert {"private", "no-store"} <= directives
