"""What /verify will answer: a TravelFit image, the same image stripped of its manifest
(watermark only), a tampered one and a foreign one, told apart."""

import datetime
import io

import pytest
from PIL import Image

from imagegen.images import with_png_text
from imagegen.marks import marking, verification
from imagegen.marks.credentials import Provenance
from tests.marks_images import encoded, photo_like

PROVENANCE = Provenance(
    provider="demo", model="travelfit-demo-postcard", when=datetime.datetime.now(datetime.UTC)
)


@pytest.fixture(autouse=True)
def own_data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    settings.C2PA_SIGNING_CERT = settings.C2PA_SIGNING_KEY = ""


@pytest.fixture
def ours():
    data = encoded(photo_like(4, 512, 512))
    return marking.mark_result(data, "image/png", mark_id=4242, provenance=PROVENANCE).data


def test_a_travelfit_image_has_both_marks(ours):
    report = verification.verify(ours, "image/png")
    assert report.made_here and report.watermark_found and report.mark_id == 4242
    answer = report.as_json()
    assert answer["c2pa"]["present"] and answer["c2pa"]["valid"] and not answer["c2pa"]["tampered"]
    assert answer["c2pa"]["action"] == "c2pa.created"
    assert answer["watermark"] == {"found": True}
    assert "4242" not in str(answer)  # strangers never learn which generation


def test_a_stripped_copy_is_found_by_its_watermark_alone(ours):
    stripped = encoded(Image.open(io.BytesIO(ours)), "JPEG", quality=85)
    report = verification.verify(stripped, "image/jpeg")
    assert not report.c2pa.present
    assert report.made_here and report.watermark_found and report.mark_id == 4242


def test_a_file_changed_after_signing_says_so(ours):
    changed = with_png_text(ours, "Comment", "touched up later")
    report = verification.verify(changed, "image/png")
    assert report.tampered and not report.c2pa.valid
    assert "assertion.dataHash.mismatch" in report.as_json()["c2pa"]["failures"]
    assert report.watermark_found  # the pixels are still ours


def test_pixels_that_no_longer_decode_read_no_watermark(ours):
    broken = bytearray(ours)
    broken[broken.find(b"IDAT") + 300] ^= 0xFF
    report = verification.verify(bytes(broken), "image/png")
    assert report.tampered and not report.watermark_found and not report.made_here


def test_a_foreign_image_has_neither(ours):
    report = verification.verify(encoded(photo_like(8, 512, 512), "WEBP"), "image/webp")
    assert not report.made_here and not report.c2pa.present and not report.watermark_found
