""" "Delete my account": the password, then the user and everything of theirs, files included."""

import threading
import time

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse

from accounts.models import Profile
from imagegen import services
from imagegen.models import ApiToken, Generation, PromptRefusal, Quota
from imagegen.tasks import run_generation
from tests.conftest import PASSWORD, run_queued_tasks

DELETE_URL = reverse("delete_account")


def make_done(user, prompt="Jeonju hanok village"):
    generation = services.submit_generation(user=user, prompt=prompt, width=256, height=256)
    run_generation(str(generation.pk))  # as a worker would (with Redis, the task is pushed
    generation.refresh_from_db()  # on commit, which a test's transaction never reaches)
    assert generation.status == Generation.Status.SUCCEEDED
    return generation


def files_of(generation):
    """The generation's files in the storage, whatever their names' extensions."""
    try:
        names = default_storage.listdir(f"generations/{generation.owner_id}")[1]
    except FileNotFoundError:
        return []
    return [name for name in names if name.startswith(str(generation.pk))]


def test_the_page_asks_for_the_password_and_says_what_goes(user_client, user):
    make_done(user)
    page = user_client.get(DELETE_URL).content.decode()
    assert 'type="password" name="password"' in page
    assert "your 1 image and every generation" in page
    assert f'href="{reverse("download_images")}"' in page


@pytest.mark.parametrize("password", ["", "not-my-password"])
def test_a_wrong_password_deletes_nothing(user_client, user, key, password):
    generation = make_done(user)
    response = user_client.post(DELETE_URL, {"password": password})
    assert response.status_code == 200
    assert response.context["form"].errors["password"]
    assert get_user_model().objects.filter(pk=user.pk).exists()
    assert Generation.objects.filter(pk=generation.pk).exists()
    assert default_storage.exists(generation.image.name)
    assert Client().get(reverse("api:quota"), HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 200


def test_deleting_removes_rows_and_files_and_logs_out(
    client, user, make_user, key, django_capture_on_commit_callbacks
):
    client.post(reverse("login"), {"username": user.username, "password": PASSWORD})
    client.post(reverse("profile"), {"language": "en", "time_zone": "Asia/Seoul"})
    done = [make_done(user, "Jeju"), make_done(user, "Seoul")]
    names = [g.image.name for g in done] + [g.thumbnail.name for g in done]
    assert all(default_storage.exists(name) for name in names)
    PromptRefusal.objects.create(user=user, pattern="x")
    AccessAttempt.objects.create(
        username=user.username, ip_address="127.0.0.1", failures_since_start=1
    )
    other = make_user("bora")
    kept = make_done(other, "Not theirs")

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(DELETE_URL, {"password": PASSWORD})

    assert response.status_code == 302
    assert response["Location"] == reverse("login")
    assert not get_user_model().objects.filter(pk=user.pk).exists()
    assert not Generation.objects.filter(owner_id=user.pk).exists()
    assert not ApiToken.objects.filter(user_id=user.pk).exists()
    assert not Quota.objects.filter(user_id=user.pk).exists()
    assert not Profile.objects.filter(user_id=user.pk).exists()
    assert not PromptRefusal.objects.filter(user_id=user.pk).exists()
    assert not AccessAttempt.objects.filter(username=user.username).exists()
    assert not any(default_storage.exists(name) for name in names)
    assert all(files_of(generation) == [] for generation in done)
    # The other user keeps everything.
    assert default_storage.exists(kept.image.name)
    assert Generation.objects.filter(owner=other).count() == 1
    # Signed out, told so, and the key answers 401.
    login_page = client.get(response["Location"]).content.decode()
    assert "Your account, its images and its API keys are deleted." in login_page
    assert client.get(reverse("profile")).status_code == 302
    assert Client().get(reverse("api:quota"), HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 401


def test_deleting_removes_the_files_from_the_bucket(
    s3_media, user, user_client, django_capture_on_commit_callbacks
):
    server, bucket = s3_media
    generation = make_done(user)
    assert {generation.image.name, generation.thumbnail.name} <= set(server.keys(bucket))
    with django_capture_on_commit_callbacks(execute=True):
        user_client.post(DELETE_URL, {"password": PASSWORD})
    assert server.keys(bucket) == []


def test_a_queued_generation_is_never_made_after_the_account_is_gone(
    user_client, user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):  # Redis: pushed on commit
        waiting = services.submit_generation(user=user, prompt="Waiting", width=256, height=256)
    with django_capture_on_commit_callbacks(execute=True):
        user_client.post(DELETE_URL, {"password": PASSWORD})
    assert run_queued_tasks() == 1  # its task is still in the broker, and finds nothing to do
    assert not Generation.objects.exists()
    assert files_of(waiting) == []


@pytest.mark.django_db(transaction=True)
def test_a_running_generations_late_result_leaves_no_files(client, user, settings):
    """The worker is still asking the provider when the account goes: the image it then
    stores has no row to belong to, and is deleted again (imagegen.services._store)."""
    settings.IMAGEGEN_DEMO_DELAY = 1.5
    client.force_login(user)
    generation = services.submit_generation(user=user, prompt="Slow one", width=256, height=256)
    worker = threading.Thread(target=services.run_generation, args=[str(generation.pk)])
    worker.start()
    try:
        deadline = time.monotonic() + 10
        while not Generation.objects.filter(
            pk=generation.pk, status=Generation.Status.RUNNING
        ).exists():
            assert time.monotonic() < deadline, "the worker never started"
            time.sleep(0.05)
        response = client.post(DELETE_URL, {"password": PASSWORD})
        assert response.status_code == 302
        assert not Generation.objects.filter(pk=generation.pk).exists()
    finally:
        worker.join(timeout=30)
    assert not worker.is_alive()
    assert not Generation.objects.exists()
    assert files_of(generation) == []
