"""Uploaded photos (POST /api/v1/uploads and the create page): decided by their bytes, stored as
an upright copy with no metadata, refused with a clear message storing nothing, private, limited
per day, deleted after their retention, with the account, and in the download."""

import datetime
import io
import zipfile
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from imagegen import services
from imagegen.models import Generation, Upload
from tests import photos
from tests.conftest import run_queued_generations

UPLOADS = reverse("api:uploads")


@pytest.fixture(autouse=True)
def own_media_folder(settings, tmp_path):
    """A media folder of this test's own, so that what it finds there is what it stored."""
    settings.MEDIA_ROOT = tmp_path / "media"


def upload(client, data, name="photo.jpg", content_type="image/jpeg", **extra):
    return client.post(
        UPLOADS, {"file": _named(data, name, content_type)}, format="multipart", **extra
    )


def _named(data, name, content_type):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type=content_type)


def stored_files():
    """Every file under MEDIA_ROOT/uploads (local storage)."""
    folder = Path(settings.MEDIA_ROOT) / "uploads"
    return sorted(path for path in folder.rglob("*") if path.is_file()) if folder.exists() else []


def fetch_image(client, upload_id):
    answer = client.get(reverse("api:upload_image", args=[upload_id]))
    assert answer.status_code == 200
    return b"".join(answer.streaming_content) if answer.streaming else answer.content


# --- What is accepted, and what is kept of it -----------------------------------------------------


@pytest.mark.parametrize(
    ("maker", "kept_as"),
    [
        (photos.jpeg_with_gps, "image/jpeg"),
        (photos.heic_with_gps, "image/jpeg"),
        (photos.webp, "image/jpeg"),
        (photos.png_with_alpha, "image/png"),
    ],
    ids=["jpeg", "heic", "webp", "png-with-alpha"],
)
def test_a_photo_is_kept_as_a_copy_with_no_metadata_at_all(api, user, maker, kept_as):
    original = maker()
    answer = upload(api, original, name="IMG_0001.HEIC", content_type="application/octet-stream")
    assert answer.status_code == 201, answer.content
    item = answer.json()
    assert set(item) == {"id", "width", "height", "content_type", "created_at", "expires_at"}
    assert item["content_type"] == kept_as
    assert answer["Location"].endswith(reverse("api:upload", args=[item["id"]]))
    kept = fetch_image(api, item["id"])
    assert kept != original
    assert photos.has_traces(kept) == []
    image = Image.open(io.BytesIO(kept))
    assert (image.width, image.height) == (item["width"], item["height"])
    assert dict(image.getexif()) == {} and "icc_profile" not in image.info
    assert "xmp" not in image.info and "exif" not in image.info
    (path,) = stored_files()
    assert path.read_bytes() == kept  # the only copy on disk is the clean one


def test_the_photo_is_turned_upright_by_its_exif_orientation(api, user):
    # Orientation 6: the camera was turned; the picture is to be rotated 90° clockwise.
    answer = upload(api, photos.jpeg_with_gps(width=320, height=240, orientation=6))
    item = answer.json()
    assert (item["width"], item["height"]) == (240, 320)
    image = Image.open(io.BytesIO(fetch_image(api, item["id"]))).convert("RGB")
    # The green corner, top-left in the sensor's frame, is top-right once upright.
    assert image.getpixel((235, 5))[1] > 150 and image.getpixel((5, 5))[1] < 150


# --- What is refused, storing nothing -------------------------------------------------------------


REFUSED = {
    "empty": (b"", "The file is empty."),
    "svg-as-jpg": (
        b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        "This is not a photo we can use",
    ),
    "html-as-jpg": (b"<!doctype html><html><body>hi</body></html>", "not a photo we can use"),
    "pdf-as-jpg": (b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n", "not a photo we can use"),
    "gif": (photos.encoded(photos.picture(), "GIF"), "not a photo we can use"),
    "truncated": (photos.jpeg_with_gps(1200, 900)[:6000], "The photo is incomplete"),
    "corrupt": (
        photos.encoded(photos.picture(), "PNG")[:60] + b"\x00" * 400,
        "damaged or incomplete",
    ),
    "animated-webp": (photos.animated_webp(), "Animated images"),
    "animated-png": (photos.animated_png(), "Animated images"),
    "too-many-pixels": (photos.huge_png(8000, 6000), "at most 40 megapixels"),
    "decompression-bomb": (photos.huge_png(12000, 12000), "too large to open safely"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_what_is_not_a_usable_photo_is_refused_naming_the_file(api, user, case):
    data, message = REFUSED[case]
    answer = upload(api, data)
    assert answer.status_code == 400, answer.content
    error = answer.json()["error"]
    assert error["code"] == "invalid"
    assert message in error["fields"]["file"][0]
    assert not Upload.objects.exists() and stored_files() == []


def test_a_file_over_the_byte_limit_stops_being_read(api, user, settings):
    settings.IMAGEGEN_UPLOAD_MAX_BYTES = 50_000
    answer = upload(api, photos.jpeg_with_gps(1600, 1200) + b"\x00" * 60_000)
    assert answer.status_code == 400
    assert "larger than" in answer.json()["error"]["fields"]["file"][0]
    assert not Upload.objects.exists() and stored_files() == []


def test_what_a_too_large_upload_really_gets_from_the_real_server(serve_site, make_user):
    """What README's error table says: a file over IMAGEGEN_UPLOAD_MAX_BYTES is `400 invalid`
    naming `file`, even when the body is over DATA_UPLOAD_MAX_MEMORY_SIZE too (that limit is
    for form fields and JSON bodies: a JSON body over it is `400 bad_request`)."""
    import httpx

    site = serve_site(IMAGEGEN_UPLOAD_MAX_BYTES=str(1024 * 1024))
    owner = make_user("big-files")
    key = services.create_api_token(user=owner, name="big")[1]
    over = photos.jpeg_with_gps() + b"\x00" * (3 * 1024 * 1024)  # past 2.5 MB as well
    with httpx.Client(base_url=site, headers={"Authorization": f"Bearer {key}"}) as live:
        caps = live.get(reverse("api:capabilities")).json()["uploads"]
        assert caps["max_bytes"] == 1024 * 1024
        answer = live.post(UPLOADS, files={"file": ("big.jpg", over, "image/jpeg")})
        assert answer.status_code == 400, answer.text
        error = answer.json()["error"]
        assert error["code"] == "invalid"
        assert error["fields"]["file"] == ["The file is larger than 1.0 MB."]
        big_json = live.post(
            reverse("api:generations"),
            content=b'{"prompt": "' + b"x" * (3 * 1024 * 1024) + b'"}',
            headers={"Content-Type": "application/json"},
        )
        assert big_json.status_code == 400
        assert big_json.json()["error"]["code"] == "bad_request"
    assert not Upload.objects.exists()


def test_capabilities_say_what_an_upload_may_be(api, user, settings):
    settings.IMAGEGEN_UPLOAD_MAX_BYTES = 2_000_000
    settings.IMAGEGEN_UPLOAD_MAX_PIXELS = 12_000_000
    uploads = api.get(reverse("api:capabilities")).json()["uploads"]
    assert uploads == {
        "max_bytes": 2_000_000,
        "max_pixels": 12_000_000,
        "content_types": ["image/jpeg", "image/png", "image/webp", "image/heic", "image/heif"],
        "per_day": settings.IMAGEGEN_UPLOADS_PER_DAY,
    }
    # Each limit it names is the one held to: a photo one pixel over is refused.
    settings.IMAGEGEN_UPLOAD_MAX_PIXELS = 320 * 240 - 1
    assert upload(api, photos.jpeg_with_gps(320, 240)).status_code == 400
    settings.IMAGEGEN_UPLOAD_MAX_PIXELS = 320 * 240
    assert upload(api, photos.jpeg_with_gps(320, 240)).status_code == 201


@pytest.mark.parametrize(
    ("content_type", "body", "status"),
    [
        ("multipart/form-data", b"--x\r\nno boundary given\r\n", 400),
        (
            "multipart/form-data; boundary=abc",
            b'--abc\r\nContent-Disposition: form-data; name="other"\r\n\r\nx\r\n--abc--\r\n',
            400,
        ),
        ("application/json", b'{"file": "x"}', 415),
    ],
    ids=["no-boundary", "no-file-field", "json"],
)
def test_a_body_that_is_not_a_photo_upload_is_refused(api, user, content_type, body, status):
    answer = api.generic("POST", UPLOADS, body, content_type=content_type)
    assert answer.status_code == status
    if status == 400:
        assert "file" in answer.json()["error"]["fields"]
    assert not Upload.objects.exists()


def test_a_user_may_upload_so_many_photos_a_day(api, user, settings):
    settings.IMAGEGEN_UPLOADS_PER_DAY = 2
    for _ in range(2):
        assert upload(api, photos.jpeg_with_gps()).status_code == 201
    refused = upload(api, photos.jpeg_with_gps())
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "too_many_uploads"
    assert int(refused["Retry-After"]) > 0
    assert Upload.objects.count() == 2
    # A file that is refused anyway does not use up the day.
    settings.IMAGEGEN_UPLOADS_PER_DAY = 3
    assert upload(api, b"").status_code == 400
    assert upload(api, photos.jpeg_with_gps()).status_code == 201


def multipart(data, boundary, name="me.jpg"):
    """A multipart body with one `file`, drawn with `boundary`, as a client draws it anew for
    every send."""
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode()


def send(client, data, boundary, key):
    return client.generic(
        "POST",
        UPLOADS,
        multipart(data, boundary),
        content_type=f"multipart/form-data; boundary={boundary}",
        HTTP_IDEMPOTENCY_KEY=key,
    )


def test_an_upload_retried_with_its_idempotency_key_is_stored_and_counted_once(api, user, settings):
    """The same key and the same file, in another envelope (a new boundary): the first answer
    again, one upload, one of the day's. Another file with the key: 409."""
    settings.IMAGEGEN_UPLOADS_PER_DAY = 1
    photo = photos.jpeg_with_gps()
    first = send(api, photo, "first-boundary", "upload-1")
    again = send(api, photo, "another-boundary-drawn-by-the-retry", "upload-1")
    assert first.status_code == again.status_code == 201, first.content
    assert again.json() == first.json()
    assert again["Location"] == first["Location"]
    assert again["Idempotent-Replayed"] == "true"
    assert Upload.objects.count() == 1 and len(stored_files()) == 1
    other = send(api, photos.jpeg_with_gps(width=321), "b3", "upload-1")
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    # The day's one upload was counted once: a new key is refused for the day, not stored.
    assert send(api, photo, "b4", "upload-2").status_code == 429
    assert Upload.objects.count() == 1


# --- Private --------------------------------------------------------------------------------------


def test_a_photo_is_its_owners_alone(api, user, make_user):
    item = upload(api, photos.jpeg_with_gps()).json()
    stranger = Client()
    stranger.force_login(make_user("mallory"))
    key = services.create_api_token(user=make_user("eve"), name="x")[1]
    other_api = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    for client in (stranger, other_api):
        for url in (
            reverse("api:upload", args=[item["id"]]),
            reverse("api:upload_image", args=[item["id"]]),
            reverse("imagegen:upload_image", args=[item["id"]]),
        ):
            assert client.get(url).status_code in (302, 404), url
        assert client.delete(reverse("api:upload", args=[item["id"]])).status_code == 404
    assert Client().get(reverse("api:upload", args=[item["id"]])).status_code == 401
    owner_page = api.get(reverse("imagegen:upload_image", args=[item["id"]]))
    assert owner_page.status_code == 302  # a bearer key is no session: pages need a log-in
    assert api.get(reverse("api:upload_image", args=[item["id"]]))["Cache-Control"] == (
        "private, no-store"
    )


def test_a_photo_can_be_deleted_unless_a_generation_still_needs_it(
    api, user, django_capture_on_commit_callbacks
):
    item = upload(api, photos.jpeg_with_gps()).json()
    photo = Upload.objects.get(pk=item["id"])
    queued = services.submit_generation(
        user=user,
        prompt="at the beach",
        width=photo.width,
        height=photo.height,
        task="edit",
        source_image=photo,
    )
    url = reverse("api:upload", args=[item["id"]])
    assert api.delete(url).status_code == 409
    services.cancel_generation(generation_id=queued.pk, user=user)
    with django_capture_on_commit_callbacks(execute=True):
        assert api.delete(url).status_code == 204
    assert not Upload.objects.exists() and stored_files() == []
    queued.refresh_from_db()
    assert queued.source_image is None  # the generation stays, without the photo


# --- Retention ------------------------------------------------------------------------------------


def test_unused_photos_go_after_a_day_used_ones_after_the_retention(
    api, user, settings, django_capture_on_commit_callbacks
):
    settings.IMAGEGEN_UPLOAD_RETENTION_DAYS = 30
    unused = Upload.objects.get(pk=upload(api, photos.jpeg_with_gps()).json()["id"])
    used = Upload.objects.get(pk=upload(api, photos.webp()).json()["id"])
    assert unused.expires_at - unused.created_at == datetime.timedelta(days=1)
    edit = services.submit_generation(
        user=user,
        prompt="at the beach",
        width=used.width,
        height=used.height,
        task="edit",
        source_image=used,
    )
    run_queued_generations()
    edit.refresh_from_db()
    assert edit.status == Generation.Status.SUCCEEDED
    used.refresh_from_db()
    assert used.expires_at > timezone.now() + datetime.timedelta(days=29)

    tomorrow = timezone.now() + datetime.timedelta(days=1, minutes=1)
    assert services.delete_expired_uploads(now=tomorrow, dry_run=True) == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert services.delete_expired_uploads(now=tomorrow) == 1
    assert list(Upload.objects.all()) == [used]
    assert len(stored_files()) == 1

    later = timezone.now() + datetime.timedelta(days=30, minutes=1)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.delete_expired_uploads(now=later) == 1
    assert not Upload.objects.exists() and stored_files() == []
    edit.refresh_from_db()
    assert edit.source_image is None and edit.status == Generation.Status.SUCCEEDED
    assert default_storage.exists(edit.image.name)  # the result stays
    page = api.get(reverse("imagegen:detail", args=[edit.pk]))  # (a key: no page)
    assert page.status_code == 302


def test_the_cleanup_command_and_its_schedule(user, capsys):
    from django.core.management import call_command
    from django_q.models import Schedule

    photo = services.store_upload(user=user, data=photos.jpeg_with_gps())
    Upload.objects.filter(pk=photo.pk).update(expires_at=timezone.now())
    call_command("cleanup_uploads", "--dry-run")
    assert "Would delete 1 photo(s)" in capsys.readouterr().out
    assert Upload.objects.exists()
    call_command("cleanup_uploads")
    assert "Deleted 1 photo(s)" in capsys.readouterr().out
    assert not Upload.objects.exists()
    schedule = Schedule.objects.get(func="imagegen.tasks.cleanup_uploads")
    assert schedule.schedule_type == Schedule.HOURLY and schedule.repeats == -1


def test_a_photo_a_queued_generation_needs_waits_for_it(user):
    photo = services.store_upload(user=user, data=photos.jpeg_with_gps())
    services.submit_generation(
        user=user,
        prompt="x",
        width=photo.width,
        height=photo.height,
        task="edit",
        source_image=photo,
    )
    Upload.objects.filter(pk=photo.pk).update(expires_at=timezone.now())
    assert services.delete_expired_uploads() == 0
    assert Upload.objects.filter(pk=photo.pk).exists()


# --- The account: download and deletion -----------------------------------------------------------


def test_the_download_holds_the_clean_photos_and_links_them(user_client, user):
    photo = services.store_upload(user=user, data=photos.jpeg_with_gps())
    edit = services.submit_generation(
        user=user,
        prompt="in Jeju",
        width=photo.width,
        height=photo.height,
        task="edit",
        source_image=photo,
    )
    run_queued_generations()
    response = user_client.get(reverse("download_images"))
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    (name,) = [n for n in archive.namelist() if n.startswith("photos/")]
    assert name.endswith(".jpg") and photo.pk.hex[:8] in name
    assert photos.has_traces(archive.read(name)) == []
    index = archive.read("index.csv").decode("utf-8-sig")
    assert "edit,in Jeju" in index and name in index
    edit.refresh_from_db()
    assert edit.download_name in archive.namelist()


def test_deleting_the_account_deletes_its_photos(
    user_client, user, django_capture_on_commit_callbacks
):
    services.store_upload(user=user, data=photos.jpeg_with_gps())
    assert len(stored_files()) == 1
    with django_capture_on_commit_callbacks(execute=True):
        response = user_client.post(
            reverse("delete_account"), {"password": "a-long-enough-passphrase-42"}
        )
    assert response.status_code == 302
    assert not Upload.objects.exists() and stored_files() == []


def test_deleting_the_account_deletes_its_photos_from_the_bucket(
    s3_media, user, user_client, django_capture_on_commit_callbacks
):
    server, bucket = s3_media
    photo = services.store_upload(user=user, data=photos.jpeg_with_gps())
    assert photo.image.name in server.keys(bucket)
    assert stored_files() == []  # nothing on this machine's disk
    with django_capture_on_commit_callbacks(execute=True):
        user_client.post(reverse("delete_account"), {"password": "a-long-enough-passphrase-42"})
    assert [key for key in server.keys(bucket) if key.startswith("uploads/")] == []
