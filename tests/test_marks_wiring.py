"""Every result the worker stores carries the marks (issue 30), read back with the C2PA
library's own c2pa.Reader: text, edit and try-on; PNG and JPEG; on this machine's disk and in
an S3 bucket (moto's server on 127.0.0.1). Downloads and shares serve the labelled copy, the
owner keeps the original; the prompt is in the manifest only when the owner asked."""

import io
import json

import c2pa
import pytest
from PIL import Image

from imagegen import services
from imagegen.marks import watermark
from imagegen.models import Generation
from imagegen.services import marks as marks_service
from imagegen.services.marks import reserve_mark_id
from imagegen.tasks import run_generation
from tests.photos import picture

DEMO = "demo"
JPEG = "tests.fakes.providers.JpegDemoProvider"
TRAINED = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
COMPOSITE = "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"
OFFLINE = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}


@pytest.fixture
def user(make_user):
    """A name no manifest may carry."""
    return make_user("wanderer-kim")


@pytest.fixture(autouse=True)
def own_signing_key(settings, tmp_path):
    """A local certificate of this test's own (made on first use under DATA_DIR/c2pa)."""
    settings.DATA_DIR = tmp_path
    settings.C2PA_SIGNING_CERT = settings.C2PA_SIGNING_KEY = ""
    settings.IMAGEGEN_VISIBLE_LABEL = "files"


def read_manifest(data, content_type):
    """(validation state, active manifest, validation codes) as c2pa.Reader says."""
    with (
        c2pa.Context.from_dict(OFFLINE) as context,
        c2pa.Reader(content_type, io.BytesIO(data), context=context) as reader,
    ):
        store = json.loads(reader.json())
    manifest = store["manifests"][store["active_manifest"]]
    return store.get("validation_state"), manifest, store.get("validation_results", {})


def main_action(manifest):
    actions = [
        action
        for assertion in manifest["assertions"]
        if assertion["label"].startswith("c2pa.actions")
        for action in assertion["data"]["actions"]
    ]
    return next(a for a in actions if a["action"] in ("c2pa.created", "c2pa.edited"))


def made(user, task, **extra):
    photos = {}
    if task != "text":
        photos["source_image"] = services.store_upload(
            user=user, data=_jpeg(picture(640, 480, (40, 120, 200)))
        )
    if task == "try_on":
        photos["garment_image"] = services.store_upload(
            user=user, data=_jpeg(picture(400, 400, (200, 40, 90)))
        )
    generation = services.submit_generation(
        user=user,
        prompt="Jeju at sunrise" if task != "try_on" else "",
        width=512,
        height=512,
        task=task,
        **photos,
        **extra,
    )
    run_generation(str(generation.pk))
    generation.refresh_from_db()
    assert generation.status == Generation.Status.SUCCEEDED, generation.error_detail
    return generation


def _jpeg(image):
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def stored(field):
    with field.open("rb") as handle:
        return handle.read()


def check_result(generation, task, content_type):
    data = stored(generation.image)
    assert generation.image_content_type == content_type
    assert (
        Image.open(io.BytesIO(data)).format
        == {"image/png": "PNG", "image/jpeg": "JPEG"}[content_type]
    )
    state, manifest, _results = read_manifest(data, content_type)
    assert state in ("Valid", "Trusted")
    action = main_action(manifest)
    assert action["action"] == ("c2pa.created" if task == "text" else "c2pa.edited")
    assert action["digitalSourceType"] == (TRAINED if task == "text" else COMPOSITE)
    assert action["parameters"]["provider"] == generation.provider
    assert action["parameters"]["model"] == generation.model_name
    assert manifest["claim_generator_info"][0]["name"] == "TravelFit"
    titles = sorted(item["title"] for item in manifest.get("ingredients", []))
    expected = {
        "text": [],
        "edit": ["the user's photo"],
        "try_on": ["the garment's photo", "the user's photo"],
    }[task]
    assert titles == expected
    for item in manifest.get("ingredients", []):
        # The photo by its hash only: no thumbnail of it, no manifest data of its pixels.
        assert len(item["metadata"]["sha256"]) == 64
        assert "thumbnail" not in item
    text = json.dumps(manifest)
    assert generation.owner.username not in text and generation.owner.email not in text
    assert "Jeju at sunrise" not in text  # not asked to include the prompt
    # The watermark carries the generation's own id.
    assert watermark.read(Image.open(io.BytesIO(data))) == generation.mark_id
    # One changed byte past the manifest: the hash no longer matches.
    changed = bytearray(data)
    changed[-100] ^= 0xFF
    state, _manifest, results = read_manifest(bytes(changed), content_type)
    assert state == "Invalid"
    codes = [item["code"] for item in results.get("activeManifest", {}).get("failure", [])]
    assert "assertion.dataHash.mismatch" in codes


@pytest.mark.parametrize("task", ["text", "edit", "try_on"])
@pytest.mark.parametrize(
    "provider,content_type", [(DEMO, "image/png"), (JPEG, "image/jpeg")], ids=["png", "jpeg"]
)
def test_every_kind_of_result_carries_valid_credentials_and_the_watermark(
    settings, user, task, provider, content_type
):
    settings.IMAGEGEN_PROVIDERS = [provider]
    check_result(made(user, task), task, content_type)


@pytest.mark.parametrize(
    "task,provider,content_type",
    [("text", DEMO, "image/png"), ("try_on", JPEG, "image/jpeg"), ("edit", DEMO, "image/png")],
)
def test_results_in_the_bucket_carry_them_too(
    s3_media, settings, user, task, provider, content_type
):
    settings.IMAGEGEN_PROVIDERS = [provider]
    generation = made(user, task)
    assert generation.image.storage.__class__.__name__ == "S3Storage"
    check_result(generation, task, content_type)
    labelled = stored(generation.labelled_image)
    state, manifest, _ = read_manifest(labelled, content_type)
    assert state in ("Valid", "Trusted")
    assert [i["relationship"] for i in manifest["ingredients"]] == ["parentOf"]


def test_the_pngs_parameters_text_is_kept_under_the_marks(settings, user):
    generation = made(user, "text")
    image = Image.open(io.BytesIO(stored(generation.image)))
    assert image.text["parameters"].startswith("Jeju at sunrise")


def test_downloads_and_shares_get_the_labelled_copy_the_owner_the_original(
    settings, user, user_client, client
):
    generation = made(user, "text")
    original = stored(generation.image)
    download = b"".join(
        user_client.get(f"/g/{generation.pk}/image.png?download=1").streaming_content
    )
    assert download != original
    state, manifest, _ = read_manifest(download, "image/png")
    assert state in ("Valid", "Trusted")
    parent = manifest["ingredients"][0]
    assert parent["relationship"] == "parentOf" and parent["active_manifest"]
    # The label is burnt into the corner; the watermark is still read.
    labelled_pixels = Image.open(io.BytesIO(download)).convert("RGB")
    plain_pixels = Image.open(io.BytesIO(original)).convert("RGB")
    corner = (labelled_pixels.width - 40, labelled_pixels.height - 25)
    assert labelled_pixels.getpixel(corner) != plain_pixels.getpixel(corner)
    assert watermark.read(labelled_pixels) == generation.mark_id
    # The owner's original: no label, still marked.
    response = user_client.get(f"/g/{generation.pk}/image.png?download=1&original=1")
    assert b"".join(response.streaming_content) == original
    # A share serves the labelled copy, inline and as a download.
    services.share_generation(generation_id=generation.pk, user=user)
    generation.refresh_from_db()
    client.logout()
    for suffix in ("", "?download=1"):
        shared = client.get(f"/s/{generation.share_token}/image.png{suffix}")
        assert b"".join(shared.streaming_content) == download


def test_the_apis_download_is_labelled_and_its_original_is_not(user, api):
    generation = made(user, "text")
    original = stored(generation.image)
    url = f"/api/v1/generations/{generation.pk}/image.png"
    assert b"".join(api.get(url).streaming_content) == original
    download = b"".join(api.get(url + "?download=true").streaming_content)
    assert download != original
    assert watermark.read(Image.open(io.BytesIO(download)).convert("RGB")) == generation.mark_id
    state, manifest, _ = read_manifest(download, "image/png")
    assert state in ("Valid", "Trusted")
    assert manifest["ingredients"][0]["relationship"] == "parentOf"
    answer = api.get(url + "?download=true&original=true")
    assert b"".join(answer.streaming_content) == original


def test_with_labels_on_pages_only_downloads_are_the_marked_original(settings, user, user_client):
    settings.IMAGEGEN_VISIBLE_LABEL = "pages"
    generation = made(user, "text")
    assert not generation.labelled_image
    response = user_client.get(f"/g/{generation.pk}/image.png?download=1")
    assert b"".join(response.streaming_content) == stored(generation.image)
    services.share_generation(generation_id=generation.pk, user=user)
    generation.refresh_from_db()
    page = user_client.get(f"/s/{generation.share_token}/").content.decode()
    assert "og:image" not in page  # no preview without the burnt label


def test_a_download_before_the_worker_labelled_it_makes_the_copy(settings, user, user_client):
    generation = made(user, "text")
    generation.labelled_image.delete(save=False)
    Generation.objects.filter(pk=generation.pk).update(labelled_image="")
    response = user_client.get(f"/g/{generation.pk}/image.png?download=1")
    state, manifest, _ = read_manifest(b"".join(response.streaming_content), "image/png")
    assert (
        state in ("Valid", "Trusted") and manifest["ingredients"][0]["relationship"] == "parentOf"
    )
    generation.refresh_from_db()
    assert generation.labelled_image


def test_the_prompt_is_in_the_manifest_only_when_the_owner_asked(settings, user):
    generation = made(user, "text", include_prompt=True)
    _state, manifest, _ = read_manifest(stored(generation.image), "image/png")
    assert main_action(manifest)["parameters"]["prompt"] == "Jeju at sunrise"
    assert user.username not in json.dumps(manifest)


def test_the_create_form_and_the_api_take_include_prompt(settings, user, api):
    response = api.post(
        "/api/v1/generations",
        {"prompt": "Busan by night", "include_prompt": True},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    assert Generation.objects.get(prompt="Busan by night").include_prompt
    api.post("/api/v1/generations", {"prompt": "Busan by day"}, content_type="application/json")
    assert not Generation.objects.get(prompt="Busan by day").include_prompt


def test_watermark_ids_are_unique_and_kept_on_a_retry(user):
    first, second = made(user, "text"), made(user, "text")
    assert first.mark_id and second.mark_id and first.mark_id != second.mark_id
    assert reserve_mark_id(first.pk) == first.mark_id


def test_an_id_another_generation_holds_is_drawn_again(monkeypatch, user):
    first = made(user, "text")
    draws = iter([first.mark_id - 1, first.mark_id - 1, 4242 - 1])
    real = marks_service.secrets.randbelow

    def randbelow(bound):  # the watermark's draws only; seeds stay random
        return next(draws) if bound == watermark.MAX_MARK_ID else real(bound)

    monkeypatch.setattr(marks_service.secrets, "randbelow", randbelow)
    second = made(user, "text")
    assert second.mark_id == 4242
    assert watermark.read(Image.open(io.BytesIO(stored(second.image)))) == 4242


def test_the_claim_draws_the_id_before_the_provider_is_asked(settings, user):
    # A provider that refuses: the generation fails, but its id was drawn when it was claimed.
    settings.IMAGEGEN_PROVIDERS = ["tests.fakes.providers.RefusingProvider"]
    generation = services.submit_generation(user=user, prompt="Jeju", width=512, height=512)
    run_generation(str(generation.pk))
    generation.refresh_from_db()
    assert generation.status == Generation.Status.FAILED
    assert generation.mark_id
