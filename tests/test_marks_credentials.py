"""Content credentials read back with c2pa.Reader: every format, created and edited, the photo
as an ingredient by hash only, no prompt unless asked, a changed byte, a trust anchor, and a
manifest made to look like ours."""

import datetime
import hashlib
import io
import json

import c2pa
import pytest
from PIL import Image

from imagegen.marks import credentials, signing_key
from imagegen.marks.credentials import COMPOSITE, TRAINED, Ingredient, Provenance
from tests.marks_images import encoded, photo_like

WHEN = datetime.datetime(2026, 12, 7, 9, 30, tzinfo=datetime.UTC)
PROMPT = "a secret prompt about Jeju 제주도"
KINDS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}


@pytest.fixture(autouse=True)
def own_data_dir(settings, tmp_path):
    """A DATA_DIR of the test's own: a local CA made for it, no operator certificate."""
    settings.DATA_DIR = tmp_path
    settings.C2PA_SIGNING_CERT = settings.C2PA_SIGNING_KEY = ""


def result(content_type="image/png", size=320):
    return encoded(photo_like(1, size, size), KINDS[content_type])


def photo_bytes(colour=(200, 40, 40)):
    image = photo_like(5, 300, 200)
    image.paste(Image.new("RGB", (60, 60), colour), (10, 10))
    return encoded(image, "JPEG", quality=90)


def text_provenance(**extra):
    return Provenance(
        provider="hf_inference", model="stabilityai/sd3", when=WHEN, model_licence="x", **extra
    )


def active_manifest(data, content_type):
    """The active manifest and validation state, as c2pa.Reader itself reports them."""
    with c2pa.Reader(content_type, io.BytesIO(data)) as reader:
        store = json.loads(reader.json())
    return store["manifests"][store["active_manifest"]], store


def actions_of(manifest):
    (assertion,) = [a for a in manifest["assertions"] if a["label"].startswith("c2pa.actions")]
    return assertion["data"]["actions"]


@pytest.mark.parametrize("content_type", KINDS)
def test_a_text_result_reads_back_as_created_by_trained_algorithmic_media(content_type):
    data = result(content_type)
    signed = credentials.sign(data, content_type, text_provenance())
    manifest, store = active_manifest(signed, content_type)
    assert store["validation_state"] == "Valid"
    (created,) = actions_of(manifest)
    assert created["action"] == "c2pa.created"
    assert created["digitalSourceType"] == TRAINED
    assert created["when"] == "2026-12-07T09:30:00+00:00"
    assert created["parameters"] == {
        "provider": "hf_inference",
        "model": "stabilityai/sd3",
        "model_licence": "x",
    }
    assert manifest["claim_generator_info"][0]["name"] == "TravelFit"
    assert manifest["claim_generator_info"][0]["version"] == credentials.travelfit_version()
    assert manifest.get("ingredients", []) == []
    # The pixels are the same: only the manifest was added.
    assert Image.open(io.BytesIO(signed)).tobytes() == Image.open(io.BytesIO(data)).tobytes()


@pytest.mark.parametrize("content_type", ["image/png", "image/jpeg"])
def test_an_edit_reads_back_as_edited_with_the_photo_by_hash_and_title_only(content_type):
    photo = photo_bytes()
    provenance = text_provenance(
        photos=(Ingredient.photo(photo, title="my photo", content_type="image/jpeg"),)
    )
    signed = credentials.sign(result(content_type), content_type, provenance)
    manifest, store = active_manifest(signed, content_type)
    assert store["validation_state"] == "Valid"
    opened, edited = actions_of(manifest)
    assert opened["action"] == "c2pa.opened"
    assert edited["action"] == "c2pa.edited"
    assert edited["digitalSourceType"] == COMPOSITE
    (ingredient,) = manifest["ingredients"]
    assert ingredient["title"] == "my photo"
    assert ingredient["relationship"] == "parentOf"
    assert ingredient["metadata"]["sha256"] == hashlib.sha256(photo).hexdigest()
    # Never its pixels: no thumbnail of it, no ingredient thumbnail in the store at all.
    assert "thumbnail" not in ingredient
    assert b"c2pa.thumbnail.ingredient" not in signed
    assert "thumbnail" in manifest  # the result's own (C2PA_THUMBNAIL_SIZE)


def test_a_try_on_names_the_person_as_parent_and_the_garment_as_component():
    person, garment = photo_bytes(), photo_bytes((20, 20, 220))
    provenance = text_provenance(
        photos=(
            Ingredient.photo(person, title="person", content_type="image/jpeg"),
            Ingredient.photo(garment, title="garment", content_type="image/jpeg"),
        )
    )
    signed = credentials.sign(result(), "image/png", provenance)
    report = credentials.read(signed, "image/png")
    assert report.action == "c2pa.edited" and report.digital_source_type == COMPOSITE
    assert [(i["title"], i["relationship"], i["sha256"]) for i in report.ingredients] == [
        ("person", "parentOf", hashlib.sha256(person).hexdigest()),
        ("garment", "componentOf", hashlib.sha256(garment).hexdigest()),
    ]


def test_the_prompt_is_in_the_manifest_only_when_asked():
    without = credentials.sign(result(), "image/png", text_provenance())
    assert PROMPT.encode() not in without
    assert "prompt" not in actions_of(active_manifest(without, "image/png")[0])[0]["parameters"]
    asked = credentials.sign(result(), "image/png", text_provenance(prompt=PROMPT))
    parameters = actions_of(active_manifest(asked, "image/png")[0])[0]["parameters"]
    assert parameters["prompt"] == PROMPT


@pytest.mark.parametrize("content_type", ["image/png", "image/jpeg", "image/webp"])
def test_one_changed_byte_makes_the_manifest_invalid(content_type):
    data = result(content_type)
    signed = bytearray(credentials.sign(data, content_type, text_provenance()))
    # A byte of the picture's own coded data (not the manifest's padding, which no hash covers).
    start = signed.find(data[len(data) // 2 : len(data) // 2 + 32])
    assert start > 0
    signed[start + 7] ^= 0x01
    manifest, store = active_manifest(bytes(signed), content_type)
    assert store["validation_state"] == "Invalid"
    report = credentials.read(bytes(signed), content_type)
    assert report.present and not report.valid and report.validation_state == "Invalid"
    assert "assertion.dataHash.mismatch" in report.failures
    assert not report.signed_here


def test_the_local_signer_is_valid_but_untrusted_and_trusted_given_its_ca():
    signed = credentials.sign(result(), "image/png", text_provenance())
    report = credentials.read(signed, "image/png")
    assert report.valid and report.validation_state == "Valid"
    assert "signingCredential.untrusted" in report.failures
    assert report.signed_here
    assert "TravelFit (local, untrusted)" in report.signer
    assert report.generator == f"TravelFit {credentials.travelfit_version()}"
    assert report.time == "2026-12-07T09:30:00+00:00"
    assert report.action == "c2pa.created" and report.digital_source_type == TRAINED
    ca = signing_key.signing_identity().anchors
    trusted = credentials.read(signed, "image/png", trust_anchors=ca)
    assert trusted.validation_state == "Trusted" and trusted.failures == ()


def test_a_look_alike_certificate_from_another_ca_is_not_signed_here(settings, tmp_path):
    ours = signing_key.signing_identity()
    other = tmp_path / "other"
    signing_key.ensure_local_certificate(other)
    settings.C2PA_SIGNING_CERT = str(other / signing_key.CHAIN_FILE)
    settings.C2PA_SIGNING_KEY = str(other / signing_key.KEY_FILE)
    theirs = credentials.sign(result(), "image/png", text_provenance())
    settings.C2PA_SIGNING_CERT = settings.C2PA_SIGNING_KEY = ""
    assert signing_key.signing_identity() == ours
    report = credentials.read(theirs, "image/png")
    assert (
        report.valid
        and report.signer
        == credentials.read(
            credentials.sign(result(), "image/png", text_provenance()), "image/png"
        ).signer
    )
    assert not report.signed_here


def test_a_parent_comes_with_its_own_manifest():
    original = credentials.sign(result(), "image/png", text_provenance())
    parent = Ingredient.parent(original, title="original.png", content_type="image/png")
    copy = credentials.sign(result(), "image/png", text_provenance(parent=parent))
    report = credentials.read(copy, "image/png")
    assert report.valid and report.action == "c2pa.edited"
    (ingredient,) = report.ingredients
    assert ingredient["relationship"] == "parentOf" and ingredient["has_manifest"]
    assert ingredient["sha256"] == hashlib.sha256(original).hexdigest()


def test_images_without_credentials_and_non_images_read_as_absent():
    assert credentials.read(result(), "image/png") == credentials.CredentialsReport(present=False)
    garbage = credentials.read(b"\x89PNG\r\n\x1a\n" + b"x" * 64, "image/png")
    assert not garbage.present and garbage.error


def test_only_png_jpeg_and_webp_are_signed():
    with pytest.raises(credentials.SigningError):
        credentials.sign(encoded(photo_like(1, 64, 64), "GIF"), "image/gif", text_provenance())


def test_the_manifest_thumbnail_follows_the_setting(settings):
    settings.C2PA_THUMBNAIL_SIZE = 0
    without = credentials.sign(result(size=600), "image/png", text_provenance())
    assert "thumbnail" not in active_manifest(without, "image/png")[0]
    settings.C2PA_THUMBNAIL_SIZE = 128
    small = credentials.sign(result(size=600), "image/png", text_provenance())
    manifest, _ = active_manifest(small, "image/png")
    with c2pa.Reader("image/png", io.BytesIO(small)) as reader:
        thumbnail = io.BytesIO()
        reader.resource_to_stream(manifest["thumbnail"]["identifier"], thumbnail)
    assert max(Image.open(io.BytesIO(thumbnail.getvalue())).size) == 128


def test_a_thumbnail_made_from_the_pixels_is_the_one_in_the_manifest(settings):
    settings.C2PA_THUMBNAIL_SIZE = 200
    picture = photo_like(5, 640, 480)
    thumbnail = credentials.thumbnail_of(picture)
    assert Image.open(io.BytesIO(thumbnail)).size == (200, 150)
    signed = credentials.sign(
        encoded(picture, "PNG"), "image/png", text_provenance(), thumbnail=thumbnail
    )
    manifest, _ = active_manifest(signed, "image/png")
    with c2pa.Reader("image/png", io.BytesIO(signed)) as reader:
        embedded = io.BytesIO()
        reader.resource_to_stream(manifest["thumbnail"]["identifier"], embedded)
    assert embedded.getvalue() == thumbnail
    assert credentials.read(signed, "image/png").valid


def test_the_pixels_thumbnail_follows_the_setting_and_never_enlarges(settings):
    settings.C2PA_THUMBNAIL_SIZE = 0
    assert credentials.thumbnail_of(photo_like(5, 64, 64)) is None
    settings.C2PA_THUMBNAIL_SIZE = 256
    small = Image.open(io.BytesIO(credentials.thumbnail_of(photo_like(5, 100, 40).convert("RGBA"))))
    assert small.size == (100, 40) and small.mode == "RGB"
