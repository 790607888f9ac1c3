"""MEDIA_STORAGE=s3 against a real S3 server on 127.0.0.1 (moto's): images go to a private
bucket, views check access and redirect to short-lived signed URLs, pages sign without asking
the bucket anything, and deleting removes the objects."""

import io
import urllib.error
import urllib.request
from io import StringIO
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from imagegen import services
from imagegen.models import Generation, Quota
from imagegen.tasks import run_generation


def make_done(user, prompt="Jeonju hanok village"):
    generation = services.submit_generation(user=user, prompt=prompt, width=512, height=384)
    run_generation(str(generation.pk))
    generation.refresh_from_db()
    assert generation.status == Generation.Status.SUCCEEDED
    return generation


def fetch(url):
    """GET a URL as a browser would after our redirect: (status, headers, body)."""
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def test_images_are_stored_in_the_bucket_not_on_this_machine(s3_media, user):
    server, bucket = s3_media
    generation = make_done(user)
    # The image, its thumbnail and the copy with the "AI-generated" label burnt in.
    files = [generation.image.name, generation.thumbnail.name, generation.labelled_image.name]
    assert all(files) and server.keys(bucket) == sorted(files)
    assert not (Path(settings.MEDIA_ROOT) / generation.image.name).exists()


def test_the_owner_is_redirected_to_a_short_lived_signed_url(s3_media, user, user_client):
    server, _ = s3_media
    generation = make_done(user)
    response = user_client.get(reverse("imagegen:image", args=[generation.pk]))
    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith(server.url + "/")
    query = parse_qs(urlsplit(location).query)
    assert query["X-Amz-Expires"] == ["300"]
    assert response["Cache-Control"] == "private, no-store"
    status, headers, body = fetch(location)
    assert status == 200 and headers["Content-Type"] == "image/png"
    assert headers["Cache-Control"] == "private, no-store"
    assert Image.open(io.BytesIO(body)).size == (512, 384)

    download = user_client.get(reverse("imagegen:image", args=[generation.pk]), {"download": 1})
    _, headers, _ = fetch(download["Location"])
    day = timezone.localdate(generation.created_at).isoformat()
    assert headers["Content-Disposition"] == (
        f'attachment; filename="travelfit-{day}-jeonju-hanok-village.png"'
    )


def test_the_bucket_itself_is_private(s3_media, user):
    server, bucket = s3_media
    generation = make_done(user)
    status, _, _ = fetch(f"{server.url}/{bucket}/{generation.image.name}")
    assert status == 403


def test_strangers_get_no_signed_url(s3_media, user, make_user):
    generation = make_done(user)
    stranger = Client()
    stranger.force_login(make_user("mallory"))
    for name in ("imagegen:image", "imagegen:thumbnail", "api:image", "api:thumbnail"):
        response = stranger.get(reverse(name, args=[generation.pk]))
        assert response.status_code == 404, name
        assert "Location" not in response
    assert Client().get(reverse("imagegen:image", args=[generation.pk])).status_code == 302
    assert (
        "/accounts/login/"
        in Client().get(reverse("imagegen:image", args=[generation.pk]))["Location"]
    )


def test_a_share_link_redirects_until_revoked(s3_media, user):
    generation = make_done(user)
    token = services.share_generation(generation_id=generation.pk, user=user)
    response = Client().get(reverse("imagegen:shared_image", args=[token]))
    assert response.status_code == 302
    assert fetch(response["Location"])[0] == 200
    services.revoke_share(generation_id=generation.pk, user=user)
    assert Client().get(reverse("imagegen:shared_image", args=[token])).status_code == 404


def test_an_api_key_gets_the_image_through_the_bucket(s3_media, user, api):
    generation = make_done(user)
    response = api.get(reverse("api:image", args=[generation.pk]))
    assert response.status_code == 302
    assert fetch(response["Location"])[2][:8] == b"\x89PNG\r\n\x1a\n"


def test_the_gallery_signs_urls_without_asking_the_bucket(
    s3_media, user, user_client, django_assert_max_num_queries
):
    server, _ = s3_media
    services.quota_for(user)
    Quota.objects.filter(user=user).update(daily_limit=100)
    for n in range(24):
        make_done(user, f"card {n}")
    server.reset_count()
    with django_assert_max_num_queries(8):
        response = user_client.get(reverse("imagegen:gallery"))
    assert server.requests == 0, server.paths
    page = response.content.decode()
    thumbnails = [
        part.split('"')[0] for part in page.split('<img src="')[1:] if part.startswith(server.url)
    ]
    assert len(thumbnails) == 24
    # The browser may fetch them from the bucket: the page's policy allows its origin.
    assert server.url in response["Content-Security-Policy"].split("img-src")[1].split(";")[0]
    status, headers, _ = fetch(thumbnails[0].replace("&amp;", "&"))
    assert (status, headers["Content-Type"]) == (200, "image/webp")


def test_deleting_removes_the_objects(
    s3_media, user, user_client, admin_client, make_user, django_capture_on_commit_callbacks
):
    server, bucket = s3_media
    mine = make_done(user)
    with django_capture_on_commit_callbacks(execute=True):  # files go once the row is gone
        user_client.post(reverse("imagegen:delete", args=[mine.pk]))
    assert server.keys(bucket) == []

    old = make_done(user)
    Generation.objects.filter(pk=old.pk).update(
        created_at=old.created_at.replace(year=old.created_at.year - 1)
    )
    call_command("cleanup_generations", "--older-than", "30", stdout=StringIO())
    assert server.keys(bucket) == []

    leaving = make_user("leaving")
    make_done(leaving)
    assert len(server.keys(bucket)) == 3  # the image, its thumbnail, its labelled copy
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            reverse("admin:auth_user_changelist"),
            {"action": "delete_selected", ACTION_CHECKBOX_NAME: [leaving.pk], "post": "yes"},
        )
    assert server.keys(bucket) == []


def test_imagegen_check_writes_reads_and_deletes_in_the_bucket(s3_media, db):
    server, bucket = s3_media
    out = StringIO()
    call_command("imagegen_check", stdout=out)
    assert f"Image storage (bucket {bucket}): OK (write, read, delete)" in out.getvalue()
    assert server.keys(bucket) == []  # it cleans up after itself


@pytest.mark.parametrize(
    ("change", "fix"),
    [
        ({"bucket_name": "no-such-bucket"}, "Create the bucket"),
        ({"endpoint_url": "http://127.0.0.1:9"}, "Check AWS_S3_ENDPOINT_URL"),
    ],
    ids=["bucket", "endpoint"],  # moto does not check signatures, so no wrong-key case
)
def test_imagegen_check_says_what_to_fix_in_the_bucket(s3_media, db, settings, change, fix):
    default = settings.STORAGES["default"]
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {**default, "OPTIONS": {**default["OPTIONS"], **change}},
    }
    out = StringIO()
    with pytest.raises(CommandError, match="Images cannot be stored"):
        call_command("imagegen_check", stdout=out)
    assert fix in out.getvalue()
