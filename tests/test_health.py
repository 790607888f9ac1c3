"""/health: the original backend's fields, never the token, 503 without a database."""

import pytest
from django.db import connection

from imagegen import services

TOKEN = "hf_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"


def test_reports_the_original_fields(client, user):
    services.submit_generation(user=user, prompt="x", width=256, height=256)
    client.force_login(user)
    data = client.get("/health").json()
    assert data["status"] == "healthy"
    assert data["api_token_configured"] is False
    assert data["active_sessions"] == 1
    assert data["total_generations"] == 1


def test_says_a_token_is_configured_without_showing_it(client, db, settings):
    settings.HUGGINGFACE_API_TOKEN = TOKEN
    response = client.get("/health")
    assert response.json()["api_token_configured"] is True
    assert TOKEN not in response.content.decode()
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db(transaction=True)
def test_is_unhealthy_with_503_when_the_database_is_unreachable(client):
    saved = dict(connection.settings_dict)
    connection.close()
    if connection.vendor == "sqlite":
        connection.settings_dict["NAME"] = "/nonexistent-folder/db.sqlite3"
    else:
        connection.settings_dict["PORT"] = "1"  # nothing listens there
    try:
        response = client.get("/health")
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)
    assert response.status_code == 503
    assert response.json()["status"] == "unhealthy"
