"""POST /api/v1/verify: anyone sends an image and learns what marks it carries; the owner alone
gets the link; uploads pass the photo checks; each address is throttled."""

import io

import pytest
from django.test import Client
from PIL import Image

from imagegen import services
from imagegen.images import with_png_text
from imagegen.models import Generation
from imagegen.tasks import run_generation
from tests.photos import picture


@pytest.fixture(autouse=True)
def own_signing_key(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    settings.C2PA_SIGNING_CERT = settings.C2PA_SIGNING_KEY = ""


@pytest.fixture
def ours(user):
    generation = services.submit_generation(user=user, prompt="Jeju", width=512, height=512)
    run_generation(str(generation.pk))
    generation.refresh_from_db()
    assert generation.status == Generation.Status.SUCCEEDED
    with generation.image.open("rb") as handle:
        return generation, handle.read()


def send(client, data, name="x.png", **extra):
    return client.post("/api/v1/verify", {"file": io.BytesIO(data)}, **extra)


def png(image):
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def test_a_stranger_learns_it_was_made_here_but_not_whose(ours):
    generation, data = ours
    answer = send(Client(), data).json()
    assert answer["made_here"] and answer["watermark"]["found"]
    c2pa = answer["c2pa"]
    assert c2pa["present"] and c2pa["valid"] and c2pa["action"] == "c2pa.created"
    assert c2pa["digital_source_type"].endswith("trainedAlgorithmicMedia") and c2pa["signer"]
    assert answer["generation"] is None and str(generation.pk) not in str(answer)


def test_the_owner_gets_the_link_even_for_a_stripped_copy(ours, api):
    generation, data = ours
    stripped = png(Image.open(io.BytesIO(data)).convert("RGB"))
    answer = send(api, stripped).json()
    assert answer["made_here"] and not answer["c2pa"]["present"]
    assert answer["generation"].endswith(f"/g/{generation.pk}/")


def test_a_changed_byte_is_tampered_and_a_foreign_image_is_not_ours(ours):
    _generation, data = ours
    # Its text changed, every chunk still well formed: it decodes, but no longer matches.
    changed = with_png_text(data, "parameters", "Jeju, retouched")
    answer = send(Client(), changed).json()
    assert answer["c2pa"]["present"] and not answer["c2pa"]["valid"] and answer["c2pa"]["tampered"]
    foreign = send(Client(), png(picture(400, 300))).json()
    assert not foreign["made_here"] and not foreign["c2pa"]["present"]
    assert not foreign["watermark"]["found"]


def test_not_an_image_or_too_big_is_refused_like_a_photo(settings, db):
    answer = send(Client(), b"<html>nope</html>")
    assert answer.status_code == 400 and answer.json()["error"]["fields"]["file"]
    assert Client().post("/api/v1/verify", {}, content_type="application/json").status_code == 415


def test_each_address_is_throttled(settings, db):
    settings.IMAGEGEN_VERIFY_PER_HOUR = 2
    image = png(picture(300, 300))
    assert [send(Client(), image).status_code for _ in range(3)] == [200, 200, 429]
