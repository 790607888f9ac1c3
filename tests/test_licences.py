"""Which models an operator may use (issue 30): each configured model's licence from its Hub
card, read from a fake Hub on 127.0.0.1 that answers model_info / space_info with the cards'
`cardData`; `imagegen_check` shows them; with IMAGEGEN_COMMERCIAL_USE=true, /health details and
`check --deploy` warn for each that forbids commercial use; the manifest records it."""

import contextlib
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from imagegen import licences, services
from imagegen.models import Generation
from imagegen.tasks import run_generation
from tests.fakes.hf_server import huggingface_hub_pointed_at, start_hf_server
from tests.test_marks_wiring import main_action, read_manifest, stored

TOKEN = "hf_LicenceTokenAbcdefghijklmnop1234"
KONTEXT = "black-forest-labs/FLUX.1-Kontext-dev"
IDM_VTON = "yisol/IDM-VTON"


@pytest.fixture(scope="module")
def hf_server():
    with start_hf_server() as server:
        yield server


@pytest.fixture
def hub(hf_server, settings, db):
    """The fake Hub, hf_inference (SD3 for text, FLUX.1 Kontext [dev] for edits) and the
    try-on Space yisol/IDM-VTON by its Hub id; no licence remembered from another test."""
    hf_server.behaviour = hf_server.hub_behaviour = "ok"
    hf_server.requests.clear()
    settings.HUGGINGFACE_API_TOKEN = TOKEN
    settings.HF_ROUTER_URL = hf_server.url
    settings.HF_TIMEOUT = 3.0
    settings.IMAGEGEN_PROVIDERS = ["hf_inference", "demo"]
    settings.IMAGEGEN_COMMERCIAL_USE = False
    licences.clear_cache()
    with huggingface_hub_pointed_at(hf_server.url):
        yield hf_server
    licences.clear_cache()


@pytest.fixture
def with_tryon_space(hub, settings):
    """gradio_space with its try-on Space named by Hub id (building it touches no network)."""
    settings.IMAGEGEN_PROVIDERS = ["hf_inference", "gradio_space"]
    settings.GRADIO_SPACE = "http://127.0.0.1:9/"
    settings.GRADIO_TRYON_SPACE = IDM_VTON
    return hub


def card_lookups(server):
    return [r for r in server.requests if "cardData" in r.query.get("expand", [])]


def imagegen_check():
    out = StringIO()
    call_command("imagegen_check", stdout=out)
    return out.getvalue()


def deploy_warnings():
    out, err = StringIO(), StringIO()
    call_command("check", "--deploy", "--tag", "licences", stdout=out, stderr=err)
    return out.getvalue() + err.getvalue()


def test_imagegen_check_shows_each_configured_models_licence_from_its_card(hub):
    output = imagegen_check()
    assert (
        "Licence of stabilityai/stable-diffusion-3-medium (hf_inference): "
        "stabilityai-ai-community\n" in output
    )
    assert (
        f"Licence of {KONTEXT} (hf_inference): flux-1-dev-non-commercial-license "
        "(non-commercial use only)" in output
    )
    assert "travelfit-demo-postcard" not in output.split("Licence of")[-1]  # not a Hub model
    assert {r.path for r in card_lookups(hub)} == {
        "/api/models/stabilityai/stable-diffusion-3-medium",
        f"/api/models/{KONTEXT}",
    }
    assert TOKEN not in output


def test_imagegen_check_warns_for_a_non_commercial_licence_in_commercial_use(hub, settings):
    settings.IMAGEGEN_COMMERCIAL_USE = True
    output = imagegen_check()
    assert (
        f"Licence of {KONTEXT} (hf_inference): flux-1-dev-non-commercial-license: forbids "
        "commercial use, and IMAGEGEN_COMMERCIAL_USE=true" in output
    )
    assert "stabilityai-ai-community: forbids" not in output


def test_a_card_that_cannot_be_read_is_an_unknown_licence_not_an_allowed_one(hub, settings):
    hub.hub_behaviour = "500"
    output = imagegen_check_output_even_if_failing()
    assert (
        f"Licence of {KONTEXT} (hf_inference): unknown (its Hub card names none, or could not "
        "be read)" in output
    )


def imagegen_check_output_even_if_failing():
    out = StringIO()
    # The provider's own check fails on the same 500: expected here.
    with contextlib.suppress(CommandError):
        call_command("imagegen_check", stdout=out)
    return out.getvalue()


def test_a_space_without_a_licence_line_takes_its_models_card(with_tryon_space):
    models = {model.repo: model for model in licences.configured_models()}
    assert models[IDM_VTON].kind == "space"
    assert models[IDM_VTON].licence == "cc-by-nc-sa-4.0"
    assert models[IDM_VTON].forbids_commercial_use
    paths = [r.path for r in card_lookups(with_tryon_space)]
    assert paths.index(f"/api/spaces/{IDM_VTON}") < paths.index(f"/api/models/{IDM_VTON}")
    # What a try-on result names as its model (the Space and its endpoint) has that licence.
    assert licences.licence_of(f"{IDM_VTON}/tryon") == "cc-by-nc-sa-4.0"


def test_a_spaces_own_licence_line_comes_first(with_tryon_space):
    with_tryon_space.set_licence(IDM_VTON, "mit", kind="space")
    try:
        assert licences.licence_of(f"{IDM_VTON}/tryon") == "mit"
    finally:
        with_tryon_space.set_licence(IDM_VTON, None, kind="space")


def test_health_details_warn_for_each_non_commercial_model_in_commercial_use(
    with_tryon_space, monitor, settings
):
    settings.IMAGEGEN_COMMERCIAL_USE = True
    warnings = monitor.get("/health").json()["warnings"]
    licence_warnings = [w for w in warnings if "forbids commercial use" in w]
    assert len(licence_warnings) == 2
    assert any(KONTEXT in w and "flux-1-dev-non-commercial-license" in w for w in licence_warnings)
    assert any(
        IDM_VTON in w and "gradio_space" in w and "cc-by-nc-sa-4.0" in w for w in licence_warnings
    )


def test_health_says_nothing_of_licences_and_asks_no_card_without_commercial_use(
    with_tryon_space, monitor
):
    warnings = monitor.get("/health").json()["warnings"]
    assert not [w for w in warnings if "forbids commercial use" in w]
    assert card_lookups(with_tryon_space) == []


def test_check_deploy_warns_for_each_non_commercial_model_in_commercial_use(
    with_tryon_space, settings
):
    settings.IMAGEGEN_COMMERCIAL_USE = True
    output = deploy_warnings()
    assert output.count("imagegen.W031") == 2
    assert "flux-1-dev-non-commercial-license" in output
    assert "cc-by-nc-sa-4.0" in output


def test_check_deploy_is_quiet_about_allowed_licences_or_without_commercial_use(
    with_tryon_space, settings
):
    assert "imagegen.W031" not in deploy_warnings()
    settings.IMAGEGEN_COMMERCIAL_USE = True
    settings.IMAGEGEN_PROVIDERS = ["hf_inference"]
    settings.HF_EDIT_MODEL = "black-forest-labs/FLUX.1-schnell"  # apache-2.0
    assert "imagegen.W031" not in deploy_warnings()


@pytest.fixture
def signing(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    settings.C2PA_SIGNING_CERT = settings.C2PA_SIGNING_KEY = ""


def test_the_manifest_records_the_models_licence(hub, signing, settings, user):
    settings.IMAGEGEN_PROVIDERS = ["tests.fakes.providers.HubModelDemoProvider"]
    generation = services.submit_generation(user=user, prompt="Jeju", width=256, height=256)
    run_generation(str(generation.pk))
    generation.refresh_from_db()
    assert generation.status == Generation.Status.SUCCEEDED, generation.error_detail
    assert generation.model_name == KONTEXT
    _state, manifest, _results = read_manifest(
        stored(generation.image), generation.image_content_type
    )
    parameters = main_action(manifest)["parameters"]
    assert parameters["model"] == KONTEXT
    assert parameters["model_licence"] == "flux-1-dev-non-commercial-license"
