"""/health: the original backend's four fields for anyone, the rest for staff or a monitor's
token; degraded when queued work is not taken; never the token; 503 without a database."""

import contextlib
import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import path, reverse
from django.utils import timezone

from imagegen import services
from imagegen.models import Generation
from tests.conftest import HEALTH_TOKEN

TOKEN = "hf_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
PUBLIC = {"status", "api_token_configured", "active_sessions", "total_generations"}


def test_reports_the_original_fields(client, user):
    services.submit_generation(user=user, prompt="x", width=256, height=256)
    client.force_login(user)
    data = client.get("/health").json()
    assert data["api_token_configured"] is False
    assert data["active_sessions"] == 1
    assert data["total_generations"] == 1


def test_anyone_else_sees_only_the_original_four_fields(client, user, settings):
    settings.HEALTH_TOKEN = HEALTH_TOKEN
    assert set(client.get("/health").json()) == PUBLIC
    client.force_login(user)  # signed in, but not staff
    assert set(client.get("/health").json()) == PUBLIC
    wrong = client.get("/health", HTTP_AUTHORIZATION="Bearer not-the-token")
    assert set(wrong.json()) == PUBLIC


def test_staff_and_the_monitors_token_see_the_details(client, make_user, settings):
    settings.HEALTH_TOKEN = HEALTH_TOKEN
    with_token = client.get("/health", HTTP_AUTHORIZATION=f"Bearer {HEALTH_TOKEN}").json()
    assert {"queue", "workers", "providers", "budget", "broker"} <= set(with_token)
    client.force_login(make_user("ops", is_staff=True))
    assert "providers" in client.get("/health").json()


def test_without_a_health_token_no_header_opens_the_details(client, db, settings):
    settings.HEALTH_TOKEN = ""
    assert set(client.get("/health", HTTP_AUTHORIZATION="Bearer ").json()) == PUBLIC


def test_says_a_token_is_configured_without_showing_it(monitor, db, settings):
    settings.HUGGINGFACE_API_TOKEN = TOKEN
    response = monitor.get("/health")
    assert response.json()["api_token_configured"] is True
    assert TOKEN not in response.content.decode()
    assert "no-cache" in response["Cache-Control"]


def test_queued_work_that_no_worker_takes_is_degraded(monitor, user):
    assert monitor.get("/health").json()["status"] == "healthy"  # nothing queued, no worker
    for _ in range(15):
        services.submit_generation(user=user, prompt="x", width=256, height=256)
    Generation.objects.update(enqueued_at=timezone.now() - datetime.timedelta(minutes=10))
    response = monitor.get("/health")
    data = response.json()
    assert (response.status_code, data["status"]) == (200, "degraded")
    assert data["queue"] == {"queued": 15, "running": 0}
    assert any("No worker seen" in warning for warning in data["warnings"])


def test_details_read_no_finished_generations_whatever_their_number(monitor, user, settings):
    """Besides the total (PostgreSQL's estimate once the table is large), /health reads only
    queued and running generations, and the budget from the month's running total: nothing
    it does grows with the finished generations, which are nearly all of them."""
    settings.IMAGEGEN_MONTHLY_BUDGET_USD = Decimal("10")
    services.submit_generation(user=user, prompt="x", width=256, height=256)
    with CaptureQueriesContext(connection) as captured:
        data = monitor.get("/health").json()
    assert data["queue"] == {"queued": 1, "running": 0}
    assert data["budget"]["spent_usd"] == "0.00"
    reads = [q["sql"] for q in captured if '"imagegen_generation"' in q["sql"]]
    total = 'SELECT COUNT(*) AS "__count" FROM "imagegen_generation"'
    assert reads, captured.captured_queries
    for sql in reads:
        assert sql == total or '"imagegen_generation"."status" ' in sql.split("WHERE")[1], sql


@contextlib.contextmanager
def unreachable_database():
    """Requests inside find the database gone: a missing file, or a port nothing listens on."""
    saved = dict(connection.settings_dict)
    connection.close()
    if connection.vendor == "sqlite":
        connection.settings_dict["NAME"] = "/nonexistent-folder/db.sqlite3"
    else:
        connection.settings_dict["PORT"] = "1"  # nothing listens there
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)


@pytest.mark.django_db(transaction=True)
def test_is_unhealthy_with_503_when_the_database_is_unreachable(client):
    with unreachable_database():
        response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["status"] == "unhealthy"
    assert int(response["Retry-After"]) > 0


@pytest.mark.django_db(transaction=True)
def test_pages_and_the_api_answer_503_with_retry_after_without_a_database(user, key):
    """Not 500: nothing is broken in the code, and clients should simply come back."""
    browser = Client(raise_request_exception=False)
    browser.force_login(user)
    script = Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Bearer {key}")
    with unreachable_database():
        page = browser.get(reverse("imagegen:gallery"), HTTP_ACCEPT_LANGUAGE="en")
        api = script.get(reverse("api:generations"))
        write = script.post(
            reverse("api:generations"), {"prompt": "Seoul"}, content_type="application/json"
        )
    for response in (page, api, write):
        assert response.status_code == 503
        assert int(response["Retry-After"]) > 0
    assert "cannot reach our database" in page.content.decode()
    assert api.json()["error"]["code"] == write.json()["error"]["code"] == "unavailable"
    # A bug is still a 500, through the same handler.
    with override_settings(ROOT_URLCONF="tests.test_health"):
        bug = Client(raise_request_exception=False).get("/boom")
    assert bug.status_code == 500 and not bug.has_header("Retry-After")


def _boom(request):
    raise ValueError("a bug")


urlpatterns = [path("boom", _boom)]
handler500 = "lib.error_pages.server_error"
