"""Image data that ends before its image does is refused before a pixel is decoded, and one
web process decodes at most IMAGEGEN_DECODES_AT_ONCE photos at once (imagegen/decoding.py).

The attack of issue 28: a 690-byte JPEG declaring 6000×6000 cost 7.8 s of a web worker's CPU,
because libjpeg fills missing data with grey and says nothing. Whether anything was decoded is
read from Pillow's own count of the images it made (`Image.core.get_stats()`), not from time.
"""

import io
import threading

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.urls import reverse
from django.utils import translation
from PIL import Image, ImageFile

from imagegen import decoding
from imagegen.images import ImageRejected, check_image
from imagegen.models import Upload
from imagegen.uploads import UploadRefused, clean_photo
from tests import photos

UPLOADS = reverse("api:uploads")
KOREAN_INCOMPLETE = "사진 파일이 중간에 끊겼어요: 데이터가 그림보다 먼저 끝나요. 다시 보내 주세요."


@pytest.fixture(autouse=True)
def own_media_folder(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def upload(client, data):
    photo = SimpleUploadedFile("photo.jpg", data, content_type="image/jpeg")
    return client.post(UPLOADS, {"file": photo}, format="multipart")


def images_made():
    """How many images Pillow has made in memory in this process (each decode makes one)."""
    return Image.core.get_stats()["new_count"]


def test_a_tiny_jpeg_declaring_6000_by_6000_is_refused_without_being_decoded(api, user):
    crafted = photos.jpeg_declaring(6000, 6000)
    assert len(crafted) < 1000
    assert Image.open(io.BytesIO(crafted)).size == (6000, 6000)
    before = images_made()
    answer = upload(api, crafted)
    assert answer.status_code == 400, answer.content
    (message,) = answer.json()["error"]["fields"]["file"]
    assert message == (
        "The photo is incomplete: its data ends before the picture does. Try sending it again."
    )
    assert images_made() == before  # not a pixel of it was decoded
    assert not Upload.objects.exists()


def test_the_refusal_reads_in_korean():
    with pytest.raises(UploadRefused) as refused:
        clean_photo(photos.jpeg_declaring(6000, 6000))
    assert refused.value.code == "incomplete"
    with translation.override("ko"):
        assert refused.value.localized() == KOREAN_INCOMPLETE


def test_a_jpeg_without_its_end_is_refused_before_decoding():
    whole = photos.jpeg_with_gps(1200, 900)
    before = images_made()
    with pytest.raises(UploadRefused) as refused:
        clean_photo(whole[: len(whole) * 2 // 3])
    assert refused.value.code == "incomplete"
    assert images_made() == before


def test_a_providers_crafted_jpeg_is_rejected_too():
    crafted = photos.jpeg_declaring(1024, 1024)
    before = images_made()
    with pytest.raises(ImageRejected) as rejected:
        check_image(crafted, expected_size=(1024, 1024))
    assert "incomplete" in str(rejected.value)
    assert images_made() == before


def test_an_arithmetic_coded_jpeg_is_refused_saying_so():
    data = bytearray(photos.encoded(photos.picture(), "JPEG"))
    frame = data.index(b"\xff\xc0")
    data[frame + 1] = 0xC9  # the same frame, marked arithmetic-coded
    with pytest.raises(UploadRefused) as refused:
        clean_photo(bytes(data))
    assert refused.value.code == "unsupported_jpeg"


JPEGS = {
    "baseline 4:2:0": dict(quality=90),
    "4:4:4": dict(quality=90, subsampling=0),
    "4:2:2": dict(quality=90, subsampling=1),
    "progressive": dict(quality=90, progressive=True),
    "quality 1, progressive": dict(quality=1, progressive=True),
    "restart markers": dict(quality=90, restart_marker_blocks=1),
}


@pytest.mark.parametrize("options", JPEGS.values(), ids=JPEGS.keys())
@pytest.mark.parametrize("mode", ["RGB", "L", "CMYK"])
def test_every_honest_jpeg_even_the_smallest_kind_is_accepted(mode, options):
    """One plain colour at the lowest quality is the fewest bytes a JPEG of its size can be:
    the bound (a bit for each 8×8 block) must still let it through, at odd sizes too."""
    colour = {"RGB": (30, 120, 220), "L": 128, "CMYK": (10, 20, 30, 40)}[mode]
    data = photos.encoded(Image.new(mode, (1001, 777), colour), "JPEG", **options)
    layout = decoding.check_jpeg_complete(data)
    assert (layout.width, layout.height) == (1001, 777)
    photo = clean_photo(data)
    assert (photo.width, photo.height) == (1001, 777)


def test_a_phone_photo_with_exif_and_a_thumbnail_is_accepted():
    data = photos.jpeg_with_gps(1600, 1200)
    assert decoding.check_jpeg_complete(data).width == 1600
    assert clean_photo(data).width == 1600


def test_other_formats_are_not_read_as_jpeg():
    assert decoding.check_jpeg_complete(photos.encoded(photos.picture(), "PNG")) is None


# --- One process decodes IMAGEGEN_DECODES_AT_ONCE photos at once -------------------------------


def test_a_photo_waits_for_a_free_decode_slot(settings):
    settings.IMAGEGEN_DECODES_AT_ONCE = 1
    outcome = {}
    with decoding.decode_slot():  # the one slot, as another request would hold it
        worker = threading.Thread(
            target=lambda: outcome.update(photo=clean_photo(photos.jpeg_with_gps()))
        )
        worker.start()
        worker.join(0.5)
        assert worker.is_alive() and not outcome  # waiting: no decode yet
    worker.join(30)
    assert outcome["photo"].width == 320


def test_a_photo_that_finds_no_slot_in_time_is_refused_as_busy(api, user, settings, monkeypatch):
    settings.IMAGEGEN_DECODES_AT_ONCE = 1
    monkeypatch.setattr(decoding, "SLOT_WAIT_SECONDS", 0.2)
    with decoding.decode_slot():
        answer = upload(api, photos.jpeg_with_gps())
    assert answer.status_code == 400
    assert "try again in a minute" in answer.json()["error"]["fields"]["file"][0]
    assert upload(api, photos.jpeg_with_gps()).status_code == 201  # the slot is free again


def test_the_site_refuses_to_start_while_pillow_accepts_truncated_images(monkeypatch):
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(SystemCheckError, match="LOAD_TRUNCATED_IMAGES"):
        call_command("check")
