"""The image safety check's classifier (imagegen/safety.py): `check()`, `mode()`,
`off_by_default_warning()` and `problems()`.

For hf_inference the classifier is the real huggingface_hub InferenceClient talking to the fake
Hugging Face on 127.0.0.1 (tests/fakes/hf_server.py: the Hub's pipeline-tag look-up, then the
hf-inference router's image classification, whose nsfw score each test scripts). For local it
is a transformers pipeline on a tiny ViT classifier this module builds and saves to a temporary
folder, so nothing is downloaded.
"""

import io
import shutil
import threading
import time

import pytest
from PIL import Image

from imagegen import safety
from tests.fakes.hf_server import (
    huggingface_hub_pointed_at,
    nsfw_score_by_redness,
    start_hf_server,
)

TOKEN = "hf_SafetyTokenAbcdefghijklmn123456"
MODEL = "Falconsai/nsfw_image_detection"


def picture(colour=(90, 140, 200), size=(48, 32), kind="PNG"):
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, kind)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def hf_server():
    with start_hf_server() as server:
        yield server


@pytest.fixture
def hf(hf_server, settings):
    """The fake Hugging Face, its knobs reset, and the check set to ask it (hf_inference)."""
    hf_server.behaviour = hf_server.hub_behaviour = "ok"
    hf_server.classification_behaviour = "ok"
    hf_server.nsfw_score = 0.02
    hf_server.slow_seconds = 10.0
    hf_server.requests.clear()
    settings.HUGGINGFACE_API_TOKEN = TOKEN
    settings.HF_ROUTER_URL = hf_server.url
    settings.HF_TIMEOUT = 3.0
    settings.IMAGEGEN_SAFETY_CHECK = "hf_inference"
    settings.IMAGEGEN_SAFETY_MODEL = MODEL
    settings.IMAGEGEN_SAFETY_THRESHOLD = 0.8
    settings.IMAGEGEN_SAFETY_ON_ERROR = "hold"
    with huggingface_hub_pointed_at(hf_server.url):
        yield hf_server


# --- hf_inference: verdicts ---------------------------------------------------------------


def test_an_image_scoring_above_the_threshold_is_held_with_its_scores_and_a_note(hf):
    hf.nsfw_score = 0.93
    data = picture()

    verdict = safety.check(data)

    assert verdict.hold and verdict.flagged and not verdict.error
    assert verdict.scores == pytest.approx({"nsfw": 0.93, "normal": 0.07})
    assert "nsfw 0.930" in verdict.note
    assert "≥ 0.8" in verdict.note
    assert MODEL in verdict.note
    (request,) = hf.classification_requests
    assert request.path == f"/hf-inference/models/{MODEL}"
    assert request.image == data
    assert request.headers["authorization"] == f"Bearer {TOKEN}"


def test_an_image_scoring_below_the_threshold_is_not_held_and_its_scores_are_kept(hf):
    hf.nsfw_score = 0.79

    verdict = safety.check(picture())

    assert not verdict.hold and not verdict.flagged and not verdict.error
    assert verdict.scores == pytest.approx({"nsfw": 0.79, "normal": 0.21})
    assert verdict.note == ""


def test_a_score_exactly_at_the_threshold_is_held(hf, settings):
    settings.IMAGEGEN_SAFETY_THRESHOLD = 0.8
    hf.nsfw_score = 0.8

    verdict = safety.check(picture())

    assert verdict.flagged
    assert verdict.scores["nsfw"] == 0.8


def test_the_threshold_setting_decides_not_a_fixed_number(hf, settings):
    hf.nsfw_score = 0.5
    settings.IMAGEGEN_SAFETY_THRESHOLD = 0.6
    assert not safety.check(picture()).hold
    settings.IMAGEGEN_SAFETY_THRESHOLD = 0.4
    verdict = safety.check(picture())
    assert verdict.flagged
    assert "≥ 0.4" in verdict.note


def test_the_classifier_receives_the_very_bytes_given_a_jpeg_too(hf):
    data = picture((200, 180, 40), size=(70, 50), kind="JPEG")

    safety.check(data)

    assert hf.classification_requests[-1].image == data
    assert "content-type" not in hf.classification_requests[-1].headers  # raw bytes, as sent


def test_one_server_flags_the_red_picture_and_passes_the_blue_one(hf):
    hf.nsfw_score = nsfw_score_by_redness
    red, blue = picture((250, 10, 10)), picture((10, 10, 250))

    held, passed = safety.check(red), safety.check(blue)

    assert held.flagged and held.scores["nsfw"] > 0.9
    assert not passed.hold and passed.scores["nsfw"] == 0.0
    assert [request.image for request in hf.classification_requests] == [red, blue]


# --- hf_inference: failures ---------------------------------------------------------------

FAILURES = {
    "503-loading": "HTTP 503",
    "401": "HTTP 401",
    "500": "HTTP 500",
    "404": "IMAGEGEN_SAFETY_MODEL",
    "repo-not-found": "no model Falconsai/nsfw_image_detection",
    "garbage": "not the JSON expected",
    "empty": "no labels",
    "wrong-json": "not a list of labels",
    "hangup": "could not reach the service",
}


@pytest.mark.parametrize("on_error", ["hold", "allow"])
@pytest.mark.parametrize("behaviour", list(FAILURES))
def test_a_failed_classification_is_a_note_held_or_allowed_as_on_error_says(
    hf, settings, behaviour, on_error
):
    settings.IMAGEGEN_SAFETY_ON_ERROR = on_error
    hf.classification_behaviour = behaviour

    verdict = safety.check(picture())

    assert verdict.error
    assert verdict.hold is (on_error == "hold")
    assert not verdict.flagged  # held for want of a verdict, not flagged by the classifier
    assert verdict.scores == {}
    assert verdict.note.startswith("The safety check failed (hf_inference): ")
    assert FAILURES[behaviour] in verdict.note
    assert len(hf.classification_requests) == 1  # asked once: no retries inside the check


def test_a_score_that_is_no_number_is_a_failure_not_a_pass(hf):
    # NaN >= any threshold is False: taken as a score, it would pass every image. (Given NaN,
    # huggingface_hub 2.4.0's parser itself fails, with a RecursionError.)
    hf.nsfw_score = float("nan")

    verdict = safety.check(picture())

    assert verdict.error and verdict.hold
    assert verdict.scores == {}


def test_bytes_that_are_no_image_are_refused_by_the_service_and_held(hf):
    verdict = safety.check(b"<html>not a picture</html>")

    assert verdict.error and verdict.hold
    assert "HTTP 400" in verdict.note or "(400)" in verdict.note
    assert hf.classification_requests[-1].image == b"<html>not a picture</html>"


def test_a_missing_model_is_not_blamed_on_the_image_settings(hf):
    hf.classification_behaviour = "404"

    note = safety.check(picture()).note

    assert "HF_MODEL" not in note.replace("IMAGEGEN_SAFETY_MODEL", "")
    assert "text-to-image" not in note
    assert "pipeline_tag=image-classification" in note


@pytest.mark.parametrize("on_error", ["hold", "allow"])
def test_a_classifier_slower_than_hf_timeout_is_given_up_on(hf, settings, on_error):
    settings.HF_TIMEOUT = 0.5
    settings.IMAGEGEN_SAFETY_ON_ERROR = on_error
    hf.classification_behaviour = "slow"
    hf.slow_seconds = 5.0

    verdict = safety.check(picture())

    # Waited for, the slow classifier would have answered (no error) after 5 s.
    assert verdict.error and verdict.hold is (on_error == "hold")
    assert "timeout" in verdict.note


def test_an_unreachable_router_is_a_note(hf, settings):
    settings.HF_ROUTER_URL = "http://127.0.0.1:9"  # the discard port: nothing listens

    verdict = safety.check(picture())

    assert verdict.error and verdict.hold
    assert "could not reach the service" in verdict.note
    assert not hf.classification_requests


def test_a_failure_note_never_carries_the_token(hf):
    hf.classification_behaviour = "echo-500"  # the server's error quotes the Authorization

    verdict = safety.check(picture())

    assert verdict.error
    assert "HTTP 500" in verdict.note
    assert TOKEN not in verdict.note


@pytest.mark.parametrize("on_error", ["hold", "allow"])
def test_without_a_token_the_check_fails_as_a_note_without_asking(hf, settings, on_error):
    settings.HUGGINGFACE_API_TOKEN = ""
    settings.IMAGEGEN_SAFETY_ON_ERROR = on_error

    verdict = safety.check(picture())

    assert verdict.error and verdict.hold is (on_error == "hold")
    assert "HUGGINGFACE_API_TOKEN is not set" in verdict.note
    assert not hf.requests


def test_a_model_that_is_no_image_classifier_is_a_note(hf, settings):
    settings.IMAGEGEN_SAFETY_MODEL = "stabilityai/stable-diffusion-3-medium"

    verdict = safety.check(picture())

    assert verdict.error and verdict.hold
    assert "doesn't support task 'image-classification'" in verdict.note
    assert not hf.classification_requests


# --- mode and the warning -----------------------------------------------------------------


def test_auto_is_hf_inference_with_a_token_and_off_without(settings):
    settings.IMAGEGEN_SAFETY_CHECK = "auto"
    settings.HUGGINGFACE_API_TOKEN = TOKEN
    assert safety.mode() == "hf_inference" and safety.is_on()
    settings.HUGGINGFACE_API_TOKEN = ""
    assert safety.mode() == "off" and not safety.is_on()


def test_an_explicit_mode_is_kept_whatever_the_token(settings):
    settings.HUGGINGFACE_API_TOKEN = ""
    settings.IMAGEGEN_SAFETY_CHECK = "local"
    assert safety.mode() == "local"
    settings.HUGGINGFACE_API_TOKEN = TOKEN
    settings.IMAGEGEN_SAFETY_CHECK = "off"
    assert safety.mode() == "off"


def test_the_check_when_auto_found_no_token_looks_at_nothing(hf, settings):
    settings.IMAGEGEN_SAFETY_CHECK = "auto"
    settings.HUGGINGFACE_API_TOKEN = ""
    hf.nsfw_score = 0.99

    verdict = safety.check(picture())

    assert verdict == safety.Verdict(hold=False)
    assert not hf.requests


def test_auto_without_a_token_while_sign_up_is_open_warns(settings):
    settings.IMAGEGEN_SAFETY_CHECK = "auto"
    settings.HUGGINGFACE_API_TOKEN = ""
    settings.SIGNUP_LIMIT = 100

    warning = safety.off_by_default_warning()

    assert warning is not None
    assert "IMAGEGEN_SAFETY_CHECK" in warning and "HUGGINGFACE_API_TOKEN" in warning


@pytest.mark.parametrize(
    ("chosen", "token", "signup_limit"),
    [
        ("auto", "", 0),  # nobody can sign up: only the operator's own accounts
        ("off", "", 100),  # off on purpose
        ("auto", TOKEN, 100),  # auto found a token: the check is on
    ],
)
def test_no_warning_when_the_check_is_on_off_on_purpose_or_sign_up_closed(
    settings, chosen, token, signup_limit
):
    settings.IMAGEGEN_SAFETY_CHECK = chosen
    settings.HUGGINGFACE_API_TOKEN = token
    settings.SIGNUP_LIMIT = signup_limit

    assert safety.off_by_default_warning() is None


# --- problems() ---------------------------------------------------------------------------


def test_problems_finds_none_for_a_working_nsfw_classifier(hf):
    assert safety.problems() == []
    (request,) = hf.classification_requests  # it really asked, with a picture
    Image.open(io.BytesIO(request.image)).verify()


def test_problems_names_an_unknown_model_and_the_fix(hf, settings):
    settings.IMAGEGEN_SAFETY_MODEL = "nobody/no-such-classifier"

    ((problem, fix),) = safety.problems()

    assert "cannot be asked" in problem
    assert "no model nobody/no-such-classifier" in problem
    assert "IMAGEGEN_SAFETY_MODEL" in fix


def test_problems_names_a_classifier_with_no_unsafe_label(hf, settings):
    settings.IMAGEGEN_SAFETY_MODEL = "travelfit-test/cat-or-dog"
    hf.nsfw_score = 0.99  # "cat" scores that: no unsafe label, so it must not count

    ((problem, fix),) = safety.problems()

    assert "travelfit-test/cat-or-dog has no unsafe label" in problem
    assert "cat, dog" in problem
    assert "Falconsai/nsfw_image_detection" in fix
    assert not safety.check(picture()).hold


def test_problems_with_the_check_off_asks_nothing(hf, settings):
    settings.IMAGEGEN_SAFETY_CHECK = "off"
    hf.classification_behaviour = "500"

    assert safety.problems() == []
    assert not hf.requests


def test_problems_reports_a_broken_classifier_without_raising(hf):
    hf.classification_behaviour = "503-loading"

    ((problem, fix),) = safety.problems()

    assert "HTTP 503" in problem
    assert "HUGGINGFACE_API_TOKEN" in fix


# --- local: a tiny ViT classifier built here ----------------------------------------------


@pytest.fixture(scope="module")
def tiny_vit(tmp_path_factory):
    """A ViT image classifier of a few tens of kilobytes, labels normal and nsfw, saved with
    save_pretrained() beside its image processor. Its weights are random (seeded): what it
    says of an image is read from the pipeline itself, and differs from image to image."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    folder = tmp_path_factory.mktemp("tiny-vit")
    torch.manual_seed(0)
    config = transformers.ViTConfig(
        image_size=32,
        patch_size=16,
        num_channels=3,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        id2label={0: "normal", 1: "nsfw"},
        label2id={"normal": 0, "nsfw": 1},
    )
    transformers.ViTForImageClassification(config).save_pretrained(folder)
    transformers.ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder


@pytest.fixture
def local(hf, settings, tiny_vit):
    """The check set to run tiny_vit here. hf is pointed at too, so that anything that tried
    the Hub would land on 127.0.0.1 and show in its requests."""
    settings.IMAGEGEN_SAFETY_CHECK = "local"
    settings.IMAGEGEN_SAFETY_MODEL = str(tiny_vit)
    yield hf
    assert not hf.requests  # nothing asked over the network, nothing downloaded


def nsfw_of(folder, data):
    """What the model in folder says of the image, asked directly, not through the check."""
    from transformers import pipeline

    answer = pipeline("image-classification", model=str(folder), device="cpu")(
        Image.open(io.BytesIO(data)).convert("RGB"), top_k=None
    )
    return {item["label"]: item["score"] for item in answer}["nsfw"]


def test_local_mode_gives_both_labels_scores_from_the_model(local, tiny_vit):
    red, blue = picture((250, 10, 10)), picture((10, 10, 250))

    on_red, on_blue = safety.check(red), safety.check(blue)

    assert set(on_red.scores) == {"normal", "nsfw"}
    assert sum(on_red.scores.values()) == pytest.approx(1.0)
    assert on_red.scores["nsfw"] == pytest.approx(nsfw_of(tiny_vit, red))
    assert on_blue.scores["nsfw"] == pytest.approx(nsfw_of(tiny_vit, blue))
    assert on_red.scores["nsfw"] != on_blue.scores["nsfw"]  # the image is what is classified


def test_local_mode_holds_at_a_threshold_below_the_models_score_and_not_above(
    local, settings, tiny_vit
):
    data = picture((250, 10, 10))
    score = nsfw_of(tiny_vit, data)

    settings.IMAGEGEN_SAFETY_THRESHOLD = score - 0.01
    held = safety.check(data)
    settings.IMAGEGEN_SAFETY_THRESHOLD = score + 0.01
    passed = safety.check(data)

    assert held.flagged and "nsfw" in held.note and str(tiny_vit) in held.note
    assert not passed.hold and not passed.error


def test_local_mode_loads_the_pipeline_once_per_process(
    local, settings, tiny_vit, tmp_path, monkeypatch
):
    import transformers

    # A copy of the model under a path of its own, so no earlier test has loaded it already.
    folder = tmp_path / "classifier"
    shutil.copytree(tiny_vit, folder)
    settings.IMAGEGEN_SAFETY_MODEL = str(folder)
    loads = []
    real_pipeline = transformers.pipeline

    def counting_pipeline(*args, **kwargs):
        loads.append(kwargs.get("model"))
        time.sleep(0.2)  # long enough for the other threads to arrive while it loads
        return real_pipeline(*args, **kwargs)

    monkeypatch.setattr(transformers, "pipeline", counting_pipeline)
    verdicts = []
    threads = [
        threading.Thread(target=lambda: verdicts.append(safety.check(picture()))) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    verdicts.append(safety.check(picture((250, 10, 10))))

    assert loads == [str(folder)]
    assert len(verdicts) == 5 and not any(verdict.error for verdict in verdicts)


@pytest.mark.parametrize("on_error", ["hold", "allow"])
def test_local_mode_with_no_model_folder_is_a_note(local, settings, tmp_path, on_error):
    missing = tmp_path / "no-such-classifier"
    settings.IMAGEGEN_SAFETY_MODEL = str(missing)
    settings.IMAGEGEN_SAFETY_ON_ERROR = on_error

    verdict = safety.check(picture())

    assert verdict.error and verdict.hold is (on_error == "hold")
    assert verdict.note.startswith("The safety check failed (local): ")
    assert f"could not load IMAGEGEN_SAFETY_MODEL='{missing}'" in verdict.note
    ((problem, fix),) = safety.problems()
    assert "could not load" in problem and "save_pretrained()" in fix


def test_local_mode_with_bytes_that_are_no_image_is_a_note(local):
    verdict = safety.check(b"<html>not a picture</html>")

    assert verdict.error and verdict.hold
    assert "UnidentifiedImageError" in verdict.note


def test_local_mode_with_a_model_that_answers_nan_is_a_failure_not_a_pass(
    local, settings, tiny_vit, tmp_path
):
    import torch
    from transformers import ViTForImageClassification

    broken = ViTForImageClassification.from_pretrained(tiny_vit)
    with torch.no_grad():
        broken.classifier.bias.fill_(float("nan"))
    folder = tmp_path / "nan-classifier"
    broken.save_pretrained(folder)
    shutil.copy(tiny_vit / "preprocessor_config.json", folder)
    settings.IMAGEGEN_SAFETY_MODEL = str(folder)

    verdict = safety.check(picture())

    assert verdict.error and verdict.hold
    assert "no numbers" in verdict.note


def test_a_picture_too_large_to_decode_is_a_note_not_an_exception(local, monkeypatch):
    # Pillow refuses images over twice MAX_IMAGE_PIXELS with DecompressionBombError, which is
    # not an OSError; check() must still answer.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)

    verdict = safety.check(picture(size=(48, 32)))

    assert verdict.error and verdict.hold
    assert "DecompressionBombError" in verdict.note
