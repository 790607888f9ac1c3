"""The per-key rate limit: API_RATE_LIMIT requests a minute, then the seconds to wait."""

import datetime
import threading

import pytest
from django.db import connection, connections

from imagegen import services
from imagegen.ratelimit import check_rate_limit

MINUTE = datetime.datetime(2026, 3, 1, 9, 30, tzinfo=datetime.UTC)


@pytest.fixture
def token(user):
    return services.create_api_token(user=user, name="script")[0]


def test_requests_over_the_limit_are_told_how_long_to_wait(settings, token):
    settings.API_RATE_LIMIT = 3
    at = MINUTE + datetime.timedelta(seconds=15)
    assert [check_rate_limit(token, now=at) for _ in range(3)] == [None, None, None]
    assert check_rate_limit(token, now=at) == 45
    assert check_rate_limit(token, now=at + datetime.timedelta(seconds=44.5)) == 1


def test_the_count_starts_again_each_minute(settings, token):
    settings.API_RATE_LIMIT = 1
    assert check_rate_limit(token, now=MINUTE) is None
    assert check_rate_limit(token, now=MINUTE) is not None
    assert check_rate_limit(token, now=MINUTE + datetime.timedelta(minutes=1)) is None


def test_each_key_has_its_own_limit(settings, token, user):
    settings.API_RATE_LIMIT = 1
    other = services.create_api_token(user=user, name="other")[0]
    assert check_rate_limit(token, now=MINUTE) is None
    assert check_rate_limit(other, now=MINUTE) is None
    assert check_rate_limit(token, now=MINUTE) is not None


def test_zero_turns_the_limit_off(settings, token):
    settings.API_RATE_LIMIT = 0
    assert all(check_rate_limit(token, now=MINUTE) is None for _ in range(500))


def test_every_answer_to_a_key_says_what_is_left_of_its_minute(api, user, settings, monkeypatch):
    """RateLimit and RateLimit-Policy (IETF draft httpapi-ratelimit-headers), on answers
    to a key's requests, refusals included; not on a browser's, nor without a limit."""
    from django.test import Client
    from django.urls import reverse
    from django.utils import timezone

    monkeypatch.setattr(timezone, "now", lambda: MINUTE + datetime.timedelta(seconds=15))
    settings.API_RATE_LIMIT = 3
    quota = reverse("api:quota")
    answers = [api.get(quota), api.get(reverse("api:generations")), api.head(quota)]
    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert [answer["RateLimit"] for answer in answers] == [
        '"key";r=2;t=45',
        '"key";r=1;t=45',
        '"key";r=0;t=45',
    ]
    assert {answer["RateLimit-Policy"] for answer in answers} == {'"key";q=3;w=60'}
    refused = api.get(quota)
    assert refused.status_code == 429
    assert (refused["RateLimit"], refused["Retry-After"]) == ('"key";r=0;t=45', "45")
    browser = Client()
    browser.force_login(user)
    assert "RateLimit" not in browser.get(quota)
    settings.API_RATE_LIMIT = 0
    assert "RateLimit" not in api.get(quota)


def test_the_default_is_120_a_minute():
    from django.conf import settings

    assert settings.API_RATE_LIMIT == 120


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite serialises writers; PostgreSQL runs them"
)
def test_concurrent_requests_never_pass_the_limit(settings, transactional_db, token):
    settings.API_RATE_LIMIT = 5
    allowed = []
    start = threading.Barrier(10)

    def request():
        try:
            start.wait()
            for _ in range(3):
                if check_rate_limit(token, now=MINUTE) is None:
                    allowed.append(1)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=request) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(allowed) == 5
