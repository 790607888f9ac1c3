""" "Download all my images": a streamed zip of the user's own finished images and an index."""

import csv
import io
import zipfile
import zoneinfo

from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone

from imagegen import services
from imagegen.models import Generation
from imagegen.tasks import run_generation

DOWNLOAD_URL = reverse("download_images")


def make_done(user, prompt, seed=None):
    generation = services.submit_generation(
        user=user, prompt=prompt, width=320, height=256, seed=seed
    )
    run_generation(str(generation.pk))  # as a worker would (with Redis, the task is pushed
    generation.refresh_from_db()  # on commit, which a test's transaction never reaches)
    assert generation.status == Generation.Status.SUCCEEDED
    return generation


def download(client):
    response = client.get(DOWNLOAD_URL)
    assert response.status_code == 200
    assert response.streaming  # sent while it is made, not built in memory first
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"].startswith('attachment; filename="travelfit-images-')
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


def index_rows(archive):
    text = archive.read("index.csv").decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def test_the_zip_holds_exactly_the_users_finished_images_and_an_index(user_client, user, make_user):
    mine = [make_done(user, "제주도 성산일출봉의 일출", seed=11), make_done(user, "Busan beach")]
    theirs = make_done(make_user("bora"), "Not yours")
    services.submit_generation(user=user, prompt="still queued", width=256, height=256)
    failed = services.submit_generation(user=user, prompt="went wrong", width=256, height=256)
    services.fail_generation(failed.pk, user_message="No.", detail="test")

    archive = download(user_client)
    assert archive.testzip() is None
    assert sorted(archive.namelist()) == sorted([g.download_name for g in mine] + ["index.csv"])
    for generation in mine:
        with default_storage.open(generation.image.name, "rb") as stored:
            assert archive.read(generation.download_name) == stored.read()
    assert theirs.download_name not in archive.namelist()

    rows = index_rows(archive)
    assert [row["file"] for row in rows] == [g.download_name for g in mine]  # oldest first
    assert rows[0]["prompt"] == "제주도 성산일출봉의 일출"
    assert rows[0]["seed"] == "11"
    assert rows[1]["seed"] == str(mine[1].actual_seed)
    assert rows[0]["created_at"] == mine[0].created_at.isoformat()
    assert "Not yours" not in archive.read("index.csv").decode("utf-8-sig")


def test_files_are_named_by_day_and_prompt_words_not_by_id(user_client, user):
    jeju = make_done(user, "제주도 성산일출봉의 일출", seed=11)
    again = make_done(user, "제주도 성산일출봉의 일출", seed=12)
    long = make_done(user, "Busan beach at dusk, with the Gwangan bridge lit up behind the sand")
    archive = download(user_client)
    day = timezone.localdate(jeju.created_at).isoformat()
    assert archive.namelist() == [
        f"travelfit-{day}-제주도-성산일출봉의-일출.png",
        f"travelfit-{day}-제주도-성산일출봉의-일출-2.png",  # same day, same words
        f"travelfit-{day}-busan-beach-at-dusk-with-the-gwangan.png",  # whole words, ≤ 40
        "index.csv",
    ]
    assert str(jeju.pk) not in "".join(archive.namelist())
    with default_storage.open(again.image.name, "rb") as stored:
        assert archive.read(archive.namelist()[1]) == stored.read()
    assert [row["file"] for row in index_rows(archive)] == archive.namelist()[:3]
    # One image downloaded on its own gets the same kind of name.
    single = user_client.get(reverse("imagegen:image", args=[long.pk]), {"download": 1})
    assert single["Content-Disposition"] == (
        f'attachment; filename="travelfit-{day}-busan-beach-at-dusk-with-the-gwangan.png"'
    )
    korean = user_client.get(reverse("api:image", args=[jeju.pk]), {"download": "true"})
    assert "filename*=utf-8''travelfit-" in korean["Content-Disposition"]
    assert "%EC%A0%9C%EC%A3%BC" in korean["Content-Disposition"]  # 제주, encoded


def test_the_index_dates_are_in_the_users_time_zone(user_client, user):
    user_client.post(reverse("profile"), {"language": "", "time_zone": "Asia/Seoul"})
    generation = make_done(user, "Andong mask dance")
    rows = index_rows(download(user_client))
    assert rows[0]["created_at"].endswith("+09:00")
    seoul = zoneinfo.ZoneInfo("Asia/Seoul")
    assert rows[0]["created_at"] == generation.created_at.astimezone(seoul).isoformat()


def test_with_no_images_the_zip_has_just_the_index(user_client, user):
    archive = download(user_client)
    assert archive.namelist() == ["index.csv"]
    assert index_rows(archive) == []


def test_the_zip_reads_images_from_the_bucket(s3_media, user, user_client):
    server, bucket = s3_media
    generation = make_done(user, "Gamcheon culture village")
    assert generation.image.name in server.keys(bucket)
    archive = download(user_client)
    assert archive.read(generation.download_name)[:8] == b"\x89PNG\r\n\x1a\n"
    assert [row["file"] for row in index_rows(archive)] == [generation.download_name]
