"""The profile page, the user's language and time zone, password change, and the API keys page's
new home under /accounts/."""

import datetime
import zoneinfo

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from accounts.models import Profile
from imagegen import services
from imagegen.models import Generation, Quota
from tests.conftest import PASSWORD

PROFILE_URL = reverse("profile")


def set_preferences(user, language="", time_zone=""):
    Profile.objects.update_or_create(
        user=user, defaults={"language": language, "time_zone": time_zone}
    )


def log_in(client, user):
    """Log in through the log-in page, as a browser does (its session gets the preferences)."""
    response = client.post(reverse("login"), {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302


@pytest.mark.parametrize(
    "name", ["profile", "keys", "download_images", "delete_account", "password_change"]
)
def test_account_pages_send_anonymous_visitors_to_log_in(client, db, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={reverse(name)}"


def test_the_account_pages_live_under_accounts():
    assert PROFILE_URL == "/accounts/profile/"
    assert reverse("keys") == "/accounts/keys/"
    assert reverse("revoke_key", args=[7]) == "/accounts/keys/7/revoke"
    assert reverse("download_images") == "/accounts/download/"
    assert reverse("delete_account") == "/accounts/delete/"


def test_the_header_links_to_the_account_instead_of_api_keys(user_client):
    page = user_client.get(reverse("imagegen:create")).content.decode()
    assert f'<a href="{PROFILE_URL}">Account</a>' in page
    assert "API keys</a>" not in page
    on_profile = user_client.get(PROFILE_URL).content.decode()
    assert f'<a href="{PROFILE_URL}" aria-current="page">Account</a>' in on_profile


# --- Quota and usage ---------------------------------------------------------------------------


def test_the_profile_shows_the_quota_left_today_and_this_month(user_client, user):
    for n in range(3):
        services.submit_generation(user=user, prompt=f"Busan {n}", width=256, height=256)
    Quota.objects.filter(user=user).update(month_used=10)
    page = user_client.get(PROFILE_URL).content.decode()
    assert "<strong>17 of 20</strong> units left today" in page
    assert "<strong>290 of 300</strong> units left this month" in page


def test_reset_times_are_the_sites_midnights_shown_in_the_users_time_zone(client, user, settings):
    settings.TIME_ZONE = "UTC"
    set_preferences(user, time_zone="Asia/Seoul")
    log_in(client, user)
    response = client.get(PROFILE_URL)
    page = response.content.decode()
    today = timezone.now().astimezone(datetime.UTC).date()
    tomorrow = today + datetime.timedelta(days=1)
    next_month = (today.replace(day=1) + datetime.timedelta(days=32)).replace(day=1)
    # UTC midnight is 09:00 in Seoul.
    assert f'datetime="{tomorrow.isoformat()}T09:00:00+09:00"' in page
    # In the page's language's own date format (English here), with the zone's abbreviation.
    nine = datetime.datetime.combine(tomorrow, datetime.time(9))
    assert f"{date_format(nine, 'DATETIME_FORMAT')} KST" in page
    assert f'datetime="{next_month.isoformat()}T09:00:00+09:00"' in page
    assert "Times are in your time zone, Asia/Seoul." in page


def test_without_a_time_zone_the_sites_is_used(user_client, settings):
    settings.TIME_ZONE = "UTC"
    page = user_client.get(PROFILE_URL).content.decode()
    tomorrow = timezone.now().astimezone(datetime.UTC).date() + datetime.timedelta(days=1)
    assert f'datetime="{tomorrow.isoformat()}T00:00:00+00:00"' in page
    assert "Times are in your time zone, UTC." in page


def test_the_quota_counts_the_sites_day_whatever_the_users_time_zone(client, user, settings):
    # 25 hours apart: the two zones are never on the same date.
    settings.TIME_ZONE = "Pacific/Pago_Pago"
    set_preferences(user, time_zone="Pacific/Kiritimati")
    log_in(client, user)
    response = client.post(
        reverse("imagegen:create"), {"prompt": "Gyeongju at dusk", "aspect": "square"}
    )
    assert response.status_code == 302
    assert Generation.objects.filter(owner=user).count() == 1
    site_today = timezone.now().astimezone(zoneinfo.ZoneInfo("Pacific/Pago_Pago")).date()
    assert Quota.objects.get(user=user).day == site_today
    # The next midnight in Pago Pago (UTC-11) is 01:00 the day after in Kiritimati (UTC+14).
    page = client.get(PROFILE_URL).content.decode()
    shown = site_today + datetime.timedelta(days=2)
    assert f'datetime="{shown.isoformat()}T01:00:00+14:00"' in page
    assert "<strong>19 of 20</strong> units left today" in page


def test_the_users_time_zone_does_not_outlive_the_request(client, user, settings):
    settings.TIME_ZONE = "UTC"
    set_preferences(user, time_zone="Asia/Seoul")
    log_in(client, user)
    assert "Asia/Seoul" in client.get(PROFILE_URL).content.decode()
    assert timezone.get_current_timezone_name() == "UTC"


def test_the_profile_counts_the_last_30_days_and_lists_recent_generations(user_client, user):
    settings_quota = Quota.objects.get_or_create(user=user)[0]
    settings_quota.daily_limit = 50
    settings_quota.save()
    made = []
    for n in range(3):
        generation = services.submit_generation(
            user=user, prompt=f"Seoraksan trail {n}", width=256, height=256
        )
        services.run_generation(str(generation.pk))
        made.append(generation)
    failed = services.submit_generation(user=user, prompt="Namsan tower", width=256, height=256)
    services.fail_generation(failed.pk, user_message="No.", detail="test")
    old = services.submit_generation(user=user, prompt="Old trip", width=256, height=256)
    Generation.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - datetime.timedelta(days=31)
    )
    response = user_client.get(PROFILE_URL)
    page = response.content.decode()
    assert "In the last 30 days: 4 images asked for, 3 made, 1 failed." in page
    assert [g.pk for g in response.context["recent"]] == [
        failed.pk,
        made[2].pk,
        made[1].pk,
        made[0].pk,
        old.pk,
    ]
    assert reverse("imagegen:detail", args=[failed.pk]) in page
    assert 'class="badge status-failed">Failed</span>' in page


def test_the_profile_links_to_keys_password_download_and_delete(user_client, user, key):
    page = user_client.get(PROFILE_URL).content.decode()
    for name in ("keys", "password_change", "download_images", "delete_account"):
        assert f'href="{reverse(name)}"' in page
    assert "You have 1 API key." in page


# --- Preferences -------------------------------------------------------------------------------


def test_saving_preferences_keeps_them_and_sets_the_language_cookie(user_client, user):
    response = user_client.post(PROFILE_URL, {"language": "ko", "time_zone": "Asia/Seoul"})
    assert response.status_code == 302
    profile = Profile.objects.get(user=user)
    assert (profile.language, profile.time_zone) == ("ko", "Asia/Seoul")
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "ko"
    # Applied from the next page on, without logging in again.
    page = user_client.get(PROFILE_URL, HTTP_ACCEPT_LANGUAGE="en")
    assert page["Content-Language"] == "ko"
    assert "Asia/Seoul" in page.content.decode()


def test_following_the_browser_again_drops_the_language_cookie(user_client, user):
    set_preferences(user, language="ko")
    user_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "ko"
    response = user_client.post(PROFILE_URL, {"language": "", "time_zone": ""})
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == ""
    assert Profile.objects.get(user=user).language == ""
    page = user_client.get(PROFILE_URL, HTTP_ACCEPT_LANGUAGE="en")
    assert page["Content-Language"] == "en"


@pytest.mark.parametrize(
    "fields, error_field",
    [
        ({"language": "fr", "time_zone": ""}, "language"),
        ({"language": "", "time_zone": "Mars/Olympus_Mons"}, "time_zone"),
        ({"language": "", "time_zone": "asia/seoul"}, "time_zone"),
    ],
)
def test_unknown_languages_and_time_zones_are_refused(user_client, user, fields, error_field):
    response = user_client.post(PROFILE_URL, fields)
    assert response.status_code == 200
    assert response.context["form"].errors[error_field]
    assert not Profile.objects.filter(user=user).exclude(language="", time_zone="").exists()


def zone_choices(page_form):
    """{group label: [(value, label), …]} of the time zone select."""
    return {
        str(group): [(value, str(label)) for value, label in options]
        for group, options in page_form.fields["time_zone"].choices[1:]
    }


def test_common_time_zones_come_first_with_names_people_read(user_client, user):
    korean = zone_choices(user_client.get(PROFILE_URL, HTTP_ACCEPT_LANGUAGE="ko").context["form"])
    common = korean["자주 쓰는 시간대"]
    assert common[0] == ("Asia/Seoul", "서울 · UTC+9")
    assert ("Asia/Tokyo", "도쿄, 오사카 · UTC+9") in common
    english = zone_choices(user_client.get(PROFILE_URL, HTTP_ACCEPT_LANGUAGE="en").context["form"])
    assert english["Common"][0] == ("Asia/Seoul", "Seoul · UTC+9")
    everything = [value for options in english.values() for value, _label in options]
    # Every place people live, once; none of the aliases and relics.
    assert len(everything) == len(set(everything))
    assert "America/Argentina/Buenos_Aires" in everything and "Pacific/Chuuk" in everything
    for relic in ("Factory", "W-SU", "US/Pacific", "Etc/GMT+3", "ROK", "Japan"):
        assert relic not in everything
    isle_of_man = dict(english["All time zones"])["Europe/Isle_of_Man"]
    assert isle_of_man.startswith("Isle of Man · UTC")


def test_every_other_place_is_named_in_the_pages_language_without_old_aliases(user_client, user):
    korean = zone_choices(user_client.get(PROFILE_URL, HTTP_ACCEPT_LANGUAGE="ko").context["form"])
    places = dict(korean["모든 시간대"])
    assert places["America/Chicago"].startswith("미국 · 시카고 · UTC-")
    assert places["Asia/Kolkata"] == "인도 · 콜카타 · UTC+5:30"
    assert places["America/Argentina/Buenos_Aires"] == "아르헨티나 · 부에노스 아이레스 · UTC-3"
    # In the page's alphabet's order: 가나 before 독일 before 미국.
    labels = [label for _value, label in korean["모든 시간대"]]
    assert labels.index(places["Africa/Accra"]) < labels.index(places["Europe/Berlin"])
    assert labels.index(places["Europe/Berlin"]) < labels.index(places["America/Denver"])
    english = zone_choices(user_client.get(PROFILE_URL, HTTP_ACCEPT_LANGUAGE="en").context["form"])
    assert dict(english["All time zones"])["Europe/Kyiv"].startswith("Ukraine · Kyiv · UTC+")
    offered = {value for options in english.values() for value, _label in options}
    for alias in ("Africa/Asmera", "Asia/Calcutta", "America/Buenos_Aires", "Europe/Kiev"):
        assert alias not in offered
    assert "Africa/Asmara" in offered


def test_a_zone_saved_before_the_short_list_is_kept_when_the_form_is_saved(client, user):
    set_preferences(user, time_zone="US/Pacific")
    log_in(client, user)
    form = client.get(PROFILE_URL).context["form"]
    assert form["time_zone"].value() == "US/Pacific"
    assert "US/Pacific" in [
        value for options in zone_choices(form).values() for value, _ in options
    ]
    assert client.post(PROFILE_URL, {"language": "", "time_zone": "US/Pacific"}).status_code == 302


def test_korean_times_put_the_half_of_the_day_first(client, user, settings):
    """ "오후 10:16", as Koreans write it, not Django's "10:16 오후"."""
    settings.TIME_ZONE = "UTC"
    set_preferences(user, language="ko", time_zone="Asia/Seoul")
    log_in(client, user)
    made = datetime.datetime(2026, 12, 4, 13, 16, tzinfo=datetime.UTC)
    generation = Generation.objects.create(
        owner=user, prompt="남산 야경", width=512, height=512, created_at=made
    )
    page = client.get(reverse("imagegen:detail", args=[generation.pk])).content.decode()
    assert "2026년 12월 4일 오후 10:16" in page
    assert "10:16 오후" not in page


@pytest.mark.parametrize(
    "preferred, cookie, accept, shown",
    [
        ("en", "ko", "ko", "en"),
        ("ko", "en", "en", "ko"),
        ("ko", None, "en", "ko"),
        ("", "ko", "en", "ko"),  # no preference: the cookie, as Django does
        ("", None, "ko", "ko"),  # then Accept-Language
    ],
)
def test_the_users_language_beats_the_cookie_and_accept_language(
    client, user, preferred, cookie, accept, shown
):
    set_preferences(user, language=preferred)
    log_in(client, user)
    if cookie:
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = cookie
    response = client.get(PROFILE_URL, HTTP_ACCEPT_LANGUAGE=accept)
    assert response["Content-Language"] == shown
    assert f'<html lang="{shown}">' in response.content.decode()


def test_the_language_switcher_changes_a_users_chosen_language(client, user, make_user):
    set_preferences(user, language="ko")
    log_in(client, user)
    response = client.post(reverse("set_language"), {"language": "en", "next": PROFILE_URL})
    assert response.status_code == 302
    assert Profile.objects.get(user=user).language == "en"
    assert client.get(PROFILE_URL, HTTP_ACCEPT_LANGUAGE="ko")["Content-Language"] == "en"


def test_the_language_switcher_leaves_follow_my_browser_alone(client, user):
    set_preferences(user, language="")
    log_in(client, user)
    client.post(reverse("set_language"), {"language": "ko", "next": PROFILE_URL})
    assert Profile.objects.get(user=user).language == ""
    assert client.get(PROFILE_URL, HTTP_ACCEPT_LANGUAGE="en")["Content-Language"] == "ko"


def test_preferences_come_with_the_session_not_from_a_query_per_page(client, user):
    set_preferences(user, language="ko", time_zone="Asia/Seoul")
    log_in(client, user)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("imagegen:gallery"), HTTP_ACCEPT_LANGUAGE="en")
    assert response["Content-Language"] == "ko"
    assert not [q for q in queries.captured_queries if "accounts_profile" in q["sql"]]


def test_a_session_from_before_preferences_reads_them_once(client, user):
    set_preferences(user, language="ko")
    client.force_login(user)
    session = client.session
    session.pop("travelfit-preferences")
    session.save()
    assert client.get(PROFILE_URL, HTTP_ACCEPT_LANGUAGE="en")["Content-Language"] == "ko"
    with CaptureQueriesContext(connection) as queries:
        assert client.get(PROFILE_URL, HTTP_ACCEPT_LANGUAGE="en")["Content-Language"] == "ko"
    assert len([q for q in queries.captured_queries if "accounts_profile" in q["sql"]]) == 1
    # …that one is the page's own get_or_create, not the middleware's.


# --- Password change and the log-in page ---------------------------------------------------------


def test_password_change_is_in_the_sites_look_and_works(user_client, user):
    response = user_client.get(reverse("password_change"))
    page = response.content.decode()
    assert "registration/password_change_form.html" in [t.name for t in response.templates]
    assert "base.html" in [t.name for t in response.templates]
    assert "Django administration" not in page
    assert 'class="panel narrow"' in page
    new = "another-long-passphrase-77"
    done = user_client.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": new, "new_password2": new},
        follow=True,
    )
    assert done.redirect_chain[-1][0] == reverse("password_change_done")
    assert "Password changed" in done.content.decode()
    assert "Django administration" not in done.content.decode()
    assert f'href="{PROFILE_URL}"' in done.content.decode()
    user.refresh_from_db()
    assert user.check_password(new)
    assert user_client.get(PROFILE_URL).status_code == 200  # still signed in


def test_password_change_needs_the_old_password(user_client, user):
    response = user_client.post(
        reverse("password_change"),
        {
            "old_password": "wrong",
            "new_password1": "x-long-pass-9",
            "new_password2": "x-long-pass-9",
        },
    )
    assert response.status_code == 200
    assert response.context["form"].errors["old_password"]
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_the_log_in_page_links_to_reset_and_sign_up(client, db):
    page = client.get(reverse("login")).content.decode()
    assert f'href="{reverse("password_reset")}">Forgot your password?</a>' in page
    assert f'<a href="{reverse("signup")}">' in page


# --- The API keys page's new address ---------------------------------------------------------


def test_the_old_keys_address_redirects_for_good(user_client):
    response = user_client.get("/account/api-keys/")
    assert response.status_code == 301
    assert response["Location"] == reverse("keys")


def test_a_new_key_has_a_copy_button(user_client, user):
    response = user_client.post(reverse("keys"), {"name": "trip planner"}, follow=True)
    page = response.content.decode()
    key = response.context["new_key"]
    assert f'id="new-key" value="{key}"' in page
    assert 'data-copy="#new-key"' in page
    again = user_client.get(reverse("keys")).content.decode()
    assert 'data-copy="#new-key"' not in again


def test_admins_see_preferences_and_address_throttles_read_only(admin_client, user, client):
    set_preferences(user, language="ko", time_zone="Asia/Seoul")
    client.post(reverse("password_reset"), {"email": "nobody@example.org"})  # one throttle row
    profiles = admin_client.get(reverse("admin:accounts_profile_changelist")).content.decode()
    assert user.username in profiles and "Asia/Seoul" in profiles
    assert admin_client.get(reverse("admin:accounts_profile_add")).status_code == 403
    throttles = admin_client.get(reverse("admin:accounts_addressthrottle_changelist"))
    assert "password_reset" in throttles.content.decode()
    assert admin_client.get(reverse("admin:accounts_addressthrottle_add")).status_code == 403


def test_the_keys_page_links_to_the_api_docs(user_client):
    page = user_client.get(reverse("keys")).content.decode()
    assert 'href="/api/v1/docs"' in page
