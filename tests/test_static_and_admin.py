"""Static files through whitenoise with hashed names; the admin pages an operator uses."""

import pytest
from django.templatetags.static import static
from django.urls import reverse

from imagegen import services
from imagegen.tasks import run_generation


def test_static_files_are_served_with_hashed_names_when_debug_is_off(client, settings):
    settings.DEBUG = False
    url = static("css/site.css")
    assert url != "/static/css/site.css"  # the manifest gives it a content hash
    response = client.get(url)
    assert response.status_code == 200
    assert b"TravelFit" in b"".join(response.streaming_content)
    assert "max-age=315360000" in response["Cache-Control"]


@pytest.fixture
def admin_client_with_data(admin_client, user):
    generation = services.submit_generation(user=user, prompt="Admin view", width=256, height=256)
    run_generation(str(generation.pk))
    return admin_client, generation


def test_admin_lists_and_shows_generations(admin_client_with_data):
    client, generation = admin_client_with_data
    listing = client.get(reverse("admin:imagegen_generation_changelist") + "?status=succeeded")
    assert "Admin view" in listing.content.decode()
    page = client.get(reverse("admin:imagegen_generation_change", args=[generation.pk]))
    assert page.status_code == 200
    thumb = client.get(reverse("admin:imagegen_generation_thumbnail", args=[generation.pk]))
    assert thumb["Content-Type"] == "image/webp"


def test_admin_thumbnails_are_staff_only(client, user, admin_client_with_data):
    _, generation = admin_client_with_data
    client.force_login(user)
    response = client.get(reverse("admin:imagegen_generation_thumbnail", args=[generation.pk]))
    assert response.status_code == 302  # to the admin login


def test_admin_edits_a_users_quota_inline(admin_client_with_data, user):
    client, _ = admin_client_with_data
    page = client.get(reverse("admin:auth_user_change", args=[user.pk]))
    assert "Daily limit" in page.content.decode()
    listing = client.get(reverse("admin:imagegen_quota_changelist"))
    assert "alice" in listing.content.decode()
    users = client.get(reverse("admin:auth_user_changelist"))
    assert users.status_code == 200
