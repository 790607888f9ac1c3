"""All three marks on a result, in order: the PNG text kept, the watermark, the label when
asked, the signature last (its hash binds the final bytes); and a labelled copy of an original
that names it as its parent."""

import dataclasses
import datetime
import hashlib
import io

import pytest
from PIL import Image, ImageChops

from imagegen.images import with_png_text
from imagegen.marks import credentials, label, marking, watermark
from imagegen.marks.credentials import Ingredient, Provenance
from tests.marks_images import encoded, photo_like

MARK_ID = 0x0B1E55
PROVENANCE = Provenance(
    provider="demo",
    model="travelfit-demo-postcard",
    when=datetime.datetime(2026, 12, 7, tzinfo=datetime.UTC),
)
KINDS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}


@pytest.fixture(autouse=True)
def own_data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    settings.C2PA_SIGNING_CERT = settings.C2PA_SIGNING_KEY = ""


def provider_image(content_type, size=512):
    data = encoded(
        photo_like(2, size, size),
        KINDS[content_type],
        **({"quality": 90} if content_type != "image/png" else {}),
    )
    if content_type == "image/png":
        data = with_png_text(data, "parameters", "Jeju at sunrise\nSteps: 28, Seed: 7")
    return data


@pytest.mark.parametrize("content_type", KINDS)
def test_a_result_carries_watermark_and_valid_credentials(content_type):
    data = provider_image(content_type)
    marked = marking.mark_result(data, content_type, mark_id=MARK_ID, provenance=PROVENANCE)
    assert marked.watermarked and marked.content_type == content_type
    image = Image.open(io.BytesIO(marked.data))
    assert image.format == KINDS[content_type] and image.size == (512, 512)
    assert watermark.read(image) == MARK_ID
    report = credentials.read(marked.data, content_type)
    assert report.valid and report.signed_here and report.action == "c2pa.created"


def test_the_png_parameters_text_is_kept():
    marked = marking.mark_result(
        provider_image("image/png"), "image/png", mark_id=MARK_ID, provenance=PROVENANCE
    )
    image = Image.open(io.BytesIO(marked.data))
    image.load()
    assert image.text["parameters"] == "Jeju at sunrise\nSteps: 28, Seed: 7"


def test_a_jpeg_keeps_its_own_quality():
    data = provider_image("image/jpeg")
    marked = marking.mark_result(data, "image/jpeg", mark_id=MARK_ID, provenance=PROVENANCE)
    assert (
        Image.open(io.BytesIO(marked.data)).quantization
        == Image.open(io.BytesIO(data)).quantization
    )


def test_the_label_is_burnt_before_the_signature_binds_the_bytes():
    data = provider_image("image/png")
    plain = marking.mark_result(data, "image/png", mark_id=MARK_ID, provenance=PROVENANCE)
    labelled = marking.mark_result(
        data, "image/png", mark_id=MARK_ID, provenance=PROVENANCE, label_language="ko"
    )
    difference = ImageChops.difference(
        Image.open(io.BytesIO(plain.data)).convert("RGB"),
        Image.open(io.BytesIO(labelled.data)).convert("RGB"),
    ).getbbox()
    left, top, right, bottom = label.label_box(512, 512, "ko")
    assert difference and difference[0] >= left and difference[1] >= top
    report = credentials.read(labelled.data, "image/png")
    assert report.valid and "assertion.dataHash.mismatch" not in report.failures
    assert watermark.read(Image.open(io.BytesIO(labelled.data))) == MARK_ID


@pytest.mark.parametrize("content_type", ["image/png", "image/jpeg"])
def test_a_labelled_copy_names_the_marked_original_as_its_parent(content_type):
    photo = encoded(photo_like(9, 200, 200), "JPEG")
    provenance = dataclasses.replace(
        PROVENANCE, photos=(Ingredient.photo(photo, title="photo", content_type="image/jpeg"),)
    )
    original = marking.mark_result(
        provider_image(content_type), content_type, mark_id=MARK_ID, provenance=provenance
    ).data
    copy = marking.labelled_copy(
        original, content_type, language="en", provenance=provenance, title="jeju.png"
    )
    report = credentials.read(copy, content_type)
    assert report.valid and report.signed_here
    assert report.action == "c2pa.edited"
    (parent,) = report.ingredients  # the photo stays in the original's manifest only
    assert parent["relationship"] == "parentOf" and parent["has_manifest"]
    assert parent["sha256"] == hashlib.sha256(original).hexdigest()
    assert parent["title"] == "jeju.png"
    assert watermark.read(Image.open(io.BytesIO(copy))) == MARK_ID
    box = label.label_box(512, 512, "en")
    corner = ImageChops.difference(
        Image.open(io.BytesIO(original)).convert("RGB").crop(box),
        Image.open(io.BytesIO(copy)).convert("RGB").crop(box),
    )
    assert max(high for _, high in corner.getextrema()) > 100


def test_an_image_too_small_for_a_watermark_is_still_signed():
    small = encoded(photo_like(3, 200, 150))
    marked = marking.mark_result(small, "image/png", mark_id=MARK_ID, provenance=PROVENANCE)
    assert not marked.watermarked
    assert credentials.read(marked.data, "image/png").valid


def test_other_formats_are_refused():
    with pytest.raises(ValueError):
        marking.mark_result(b"GIF89a", "image/gif", mark_id=MARK_ID, provenance=PROVENANCE)


def test_marking_pixels_already_decoded_writes_the_parameters_first_and_keeps_the_others():
    data = with_png_text(encoded(photo_like(3, 300, 300), "PNG"), "Software", "a provider")
    data = with_png_text(data, "parameters", "the provider's own")
    source = marking.open_image(data, "image/png")
    marked = marking.mark_decoded(
        source,
        "image/png",
        mark_id=MARK_ID,
        provenance=PROVENANCE,
        text={"parameters": "Jeju at sunrise\nSeed: 7"},
    )
    image = Image.open(io.BytesIO(marked.data))
    assert list(image.text.items())[:2] == [
        ("parameters", "Jeju at sunrise\nSeed: 7"),
        ("Software", "a provider"),
    ]
    assert watermark.read(image) == MARK_ID and credentials.read(marked.data, "image/png").valid
    assert marked.image.tobytes() == image.tobytes()  # the pixels kept are the file's


@pytest.mark.parametrize("content_type", ["image/png", "image/webp"])
def test_a_labelled_copy_from_the_pixels_in_memory_is_the_one_from_the_stored_file(content_type):
    # As the worker marks a result: its pixels decoded, the `parameters` chunk given apart.
    marked = marking.mark_decoded(
        marking.open_image(provider_image(content_type), content_type),
        content_type,
        mark_id=MARK_ID,
        provenance=PROVENANCE,
        text={"parameters": "Jeju at sunrise\nSeed: 7"},
    )
    options = dict(language="ko", provenance=PROVENANCE, title="image")
    from_file = marking.labelled_copy(marked.data, content_type, **options)
    from_memory = marking.labelled_copy(marked.data, content_type, marked=marked, **options)
    opened = [Image.open(io.BytesIO(data)) for data in (from_file, from_memory)]
    if content_type == "image/png":  # the parameters come along both ways
        assert (
            opened[0].text["parameters"]
            == opened[1].text["parameters"]
            == ("Jeju at sunrise\nSeed: 7")
        )
    decoded = [image.convert("RGB") for image in opened]
    difference = ImageChops.difference(*decoded).getbbox()
    if content_type == "image/png":  # lossless: the very same pixels
        assert difference is None
    else:  # WebP at 90 from the same pixels, or from their WebP decode: nearly the same
        assert max(high for _, high in ImageChops.difference(*decoded).getextrema()) < 40
    report = credentials.read(from_memory, content_type)
    (parent,) = report.ingredients
    assert report.valid and parent["relationship"] == "parentOf"
    assert parent["sha256"] == hashlib.sha256(marked.data).hexdigest()
    assert watermark.read(Image.open(io.BytesIO(from_memory))) == MARK_ID
