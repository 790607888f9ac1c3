"""Accounts against abuse: failed log-ins locked out (site and admin), sign-ups and reset e-mails
limited per client address, and the password reset by e-mail through a real SMTP server."""

import re
import threading

import pytest
from axes.models import AccessAttempt
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.urls import reverse

from lib.rate import client_address
from tests.conftest import PASSWORD
from tests.fakes.smtp import smtp_inbox

LOGIN = reverse("login")
SIGNUP = reverse("signup")


def log_in(client, password, username="alice", **extra):
    return client.post(LOGIN, {"username": username, "password": password}, **extra)


# --- failed log-ins ---------------------------------------------------------------------------


def test_after_the_limit_even_the_right_password_is_refused_for_a_while(client, user, settings):
    for _ in range(settings.LOGIN_FAILURE_LIMIT - 1):
        assert log_in(client, "wrong").status_code == 200  # the form says "not correct"
    locked = log_in(client, "wrong")
    assert locked.status_code == 429
    assert locked["Retry-After"] == str(settings.LOGIN_COOLOFF_MINUTES * 60)
    page = locked.content.decode()
    assert "Too many failed log-ins" in page and "15 minutes" in page
    right = log_in(client, PASSWORD)
    assert right.status_code == 429
    assert "_auth_user_id" not in client.session


def test_the_lock_is_per_address_and_user_name(client, make_user, settings):
    make_user("alice")
    make_user("bob")
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        log_in(client, "wrong")
    # Someone else on the same network, and alice from elsewhere, are not locked out.
    assert log_in(Client(), PASSWORD, username="bob").status_code == 302
    elsewhere = Client(REMOTE_ADDR="203.0.113.9")
    assert log_in(elsewhere, PASSWORD).status_code == 302


def test_the_admin_log_in_is_protected_too(client, make_user, settings):
    make_user("ops", is_staff=True, is_superuser=True)
    admin_login = reverse("admin:login")
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        client.post(admin_login, {"username": "ops", "password": "wrong"})
    response = client.post(admin_login, {"username": "ops", "password": PASSWORD})
    assert response.status_code == 429


def test_an_admin_unlocks_a_locked_out_user(client, user, admin_client, settings):
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        log_in(client, "wrong")
    assert log_in(client, PASSWORD).status_code == 429
    attempts = reverse("admin:axes_accessattempt_changelist")
    listed = admin_client.get(attempts).content.decode()
    assert "alice" in listed
    attempt = AccessAttempt.objects.get(username="alice")
    admin_client.post(
        attempts,
        {"action": "delete_selected", ACTION_CHECKBOX_NAME: [attempt.pk], "post": "yes"},
    )
    assert log_in(client, PASSWORD).status_code == 302


def test_new_addresses_in_one_ipv6_block_do_not_buy_new_guesses(user, settings):
    """Sign-up and reset count an IPv6 client by its /64; so does the log-in lock."""
    for n in range(settings.LOGIN_FAILURE_LIMIT):
        log_in(Client(REMOTE_ADDR=f"2001:db8:1:2::{n + 1:x}"), "wrong")
    rotated = Client(REMOTE_ADDR="2001:db8:1:2:ffff:ffff:ffff:fffe")
    assert log_in(rotated, PASSWORD).status_code == 429
    # The next block over is another subscriber.
    assert log_in(Client(REMOTE_ADDR="2001:db8:1:3::1"), PASSWORD).status_code == 302


def test_spraying_one_password_over_many_names_is_stopped_per_address(make_user, settings):
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 8
    make_user("victim")
    sprayer = Client(REMOTE_ADDR="198.51.100.66")
    # One guess per name stays under the per-name limit every time.
    for n in range(settings.LOGIN_ADDRESS_FAILURE_LIMIT):
        assert log_in(sprayer, "Summer2026!", username=f"name{n}").status_code == 200
    refused = log_in(sprayer, PASSWORD, username="victim")
    assert refused.status_code == 429
    assert "for several accounts" in refused.content.decode()
    assert 0 < int(refused["Retry-After"]) <= settings.LOGIN_COOLOFF_MINUTES * 60
    assert "_auth_user_id" not in sprayer.session
    # The same /64 of IPv6, or another network, is another matter.
    assert log_in(Client(REMOTE_ADDR="203.0.113.5"), PASSWORD, username="victim").status_code == 302


def test_spraying_the_admin_log_in_is_stopped_too(make_user, settings):
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 3
    make_user("ops", is_staff=True, is_superuser=True)
    sprayer = Client(REMOTE_ADDR="198.51.100.67")
    for n in range(3):
        sprayer.post(reverse("admin:login"), {"username": f"admin{n}", "password": "x"})
    answer = sprayer.post(reverse("admin:login"), {"username": "ops", "password": PASSWORD})
    assert answer.status_code == 429


def test_behind_proxies_the_client_is_counted_not_the_proxy(rf, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    request = rf.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.7")
    assert client_address(request) == "198.51.100.7"  # 6.6.6.6 is the client's say
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_address(request) == "10.0.0.2"
    ipv6 = rf.get("/", REMOTE_ADDR="2001:db8:1:2:aaaa::1")
    assert client_address(ipv6) == "2001:db8:1:2::/64"


# --- sign-ups -------------------------------------------------------------------------------------


def sign_up(client, name, **extra):
    return client.post(
        SIGNUP,
        {
            "username": name,
            "email": f"{name}@example.org",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
        **extra,
    )


def test_sign_ups_from_one_address_stop_at_the_limit(db, settings):
    settings.SIGNUP_LIMIT = 3
    for n in range(3):
        assert sign_up(Client(), f"traveller{n}").status_code == 302
    refused = sign_up(Client(), "traveller3")
    assert refused.status_code == 429
    assert "Too many new accounts from your network" in refused.content.decode()
    assert int(refused["Retry-After"]) > 0
    assert get_user_model().objects.count() == 3
    assert sign_up(Client(REMOTE_ADDR="198.51.100.20"), "elsewhere").status_code == 302


def test_a_form_with_mistakes_does_not_count(db, settings):
    settings.SIGNUP_LIMIT = 1
    client = Client()
    client.post(SIGNUP, {"username": "x", "email": "", "password1": "a", "password2": "b"})
    assert sign_up(client, "careful").status_code == 302


def test_asking_whether_a_name_is_taken_counts_toward_the_limit(make_user, settings):
    """Otherwise the form is a free way to list who has an account."""
    settings.SIGNUP_LIMIT = 2
    make_user("taken0")
    make_user("taken1")
    prober = Client(REMOTE_ADDR="198.51.100.30")
    for n in range(2):
        answer = sign_up(prober, f"taken{n}")
        assert "A user with that username already exists." in answer.content.decode()
    refused = sign_up(prober, "taken0")
    assert refused.status_code == 429
    assert "already exists" not in refused.content.decode()  # the answer reveals nothing
    assert sign_up(prober, "newcomer").status_code == 429


@pytest.mark.django_db(transaction=True)
def test_simultaneous_sign_ups_cannot_pass_the_limit(settings):
    settings.SIGNUP_LIMIT = 5
    results = []

    def attempt(n):
        try:
            results.append(sign_up(Client(), f"burst{n}").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [302] * 5 + [429] * 15
    assert get_user_model().objects.count() == 5


# --- password reset by e-mail ---------------------------------------------------------------


@pytest.fixture
def smtp_server(settings):
    with smtp_inbox() as inbox:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", inbox.port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.DEFAULT_FROM_EMAIL = "TravelFit <travel@example.org>"
        yield inbox


def test_a_forgotten_password_is_reset_by_e_mail(client, user, smtp_server):
    page = client.get(LOGIN).content.decode()
    assert reverse("password_reset") in page  # linked from the log-in page
    response = client.post(reverse("password_reset"), {"email": "alice@example.org"})
    assert response["Location"] == reverse("password_reset_done")
    assert "Check your e-mail" in client.get(response["Location"]).content.decode()

    ((recipients, message),) = smtp_server.messages
    assert recipients == ["alice@example.org"]
    assert "From: TravelFit <travel@example.org>" in message
    assert "Subject: Reset your TravelFit password" in message
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", message)[1]

    form_page = client.get(link, follow=True)
    assert "Choose a new password" in form_page.content.decode()
    new_password = "a-brand-new-passphrase-77"
    done = client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": new_password, "new_password2": new_password},
        follow=True,
    )
    assert "Your password is changed" in done.content.decode()
    assert log_in(Client(), PASSWORD).status_code == 200  # the old one no longer works
    assert log_in(Client(), new_password).status_code == 302
    assert "no longer works" in client.get(link, follow=True).content.decode()  # used once


def test_an_unknown_address_gets_the_same_answer_and_no_mail(client, db, smtp_server):
    response = client.post(reverse("password_reset"), {"email": "nobody@example.org"})
    assert response["Location"] == reverse("password_reset_done")
    assert smtp_server.messages == []


def test_reset_e_mails_per_address_are_limited(client, user, smtp_server, settings):
    settings.PASSWORD_RESET_LIMIT = 2
    for _ in range(2):
        client.post(reverse("password_reset"), {"email": "alice@example.org"})
    refused = client.post(reverse("password_reset"), {"email": "alice@example.org"})
    assert refused.status_code == 429
    assert "Too many password reset requests" in refused.content.decode()
    assert len(smtp_server.messages) == 2


def test_one_inbox_gets_few_reset_e_mails_however_many_networks_ask(user, smtp_server, settings):
    settings.PASSWORD_RESET_ACCOUNT_LIMIT = 2
    for n in range(2):
        asker = Client(REMOTE_ADDR=f"198.51.100.{40 + n}")
        assert (
            asker.post(reverse("password_reset"), {"email": "alice@example.org"}).status_code == 302
        )
    flood = Client(REMOTE_ADDR="203.0.113.80")
    refused = flood.post(reverse("password_reset"), {"email": "ALICE@example.org"})
    assert refused.status_code == 429
    assert "went to this address already" in refused.content.decode()
    assert len(smtp_server.messages) == 2
    # An address without an account is counted the same way: the answer tells nothing.
    for n in range(2):
        Client(REMOTE_ADDR=f"198.51.100.{50 + n}").post(
            reverse("password_reset"), {"email": "nobody@example.org"}
        )
    nobody = flood.post(reverse("password_reset"), {"email": "nobody@example.org"})
    assert nobody.status_code == 429


def test_e_mail_settings_come_from_email_url(tmp_path):
    from tests.test_settings import start

    result = start(
        {
            "DATA_DIR": str(tmp_path),
            "EMAIL_URL": "smtp+tls://mailer:s3cret@mail.example.com:587",
            "DEFAULT_FROM_EMAIL": "TravelFit <hello@example.com>",
        },
        command=(
            "shell",
            "-c",
            "from django.conf import settings as s; print(s.EMAIL_BACKEND, s.EMAIL_HOST, "
            "s.EMAIL_PORT, s.EMAIL_USE_TLS, s.EMAIL_HOST_USER, s.DEFAULT_FROM_EMAIL)",
        ),
    )
    assert result.stdout.strip().splitlines()[-1] == (
        "django.core.mail.backends.smtp.EmailBackend mail.example.com 587 True mailer "
        "TravelFit <hello@example.com>"
    )
    console = start(
        {"DATA_DIR": str(tmp_path), "EMAIL_URL": None},
        command=("shell", "-c", "from django.conf import settings as s; print(s.EMAIL_BACKEND)"),
    )
    assert console.stdout.strip().endswith("console.EmailBackend")
