"""The API's published schema: valid OpenAPI, true to the live API (schemathesis against the
real server), and readable on the docs page under the site's CSP."""

import os
import re
import shutil
from pathlib import Path

import jsonschema_rs
import pytest
import requests
import schemathesis
from django.urls import reverse
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from imagegen import services
from imagegen.api import ERROR_CODES
from imagegen.models import Quota
from tests.conftest import ROOT

SCHEMA_URL = reverse("api:openapi-json")
DOCS_URL = reverse("api:openapi-view")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Each operation gets this many generated requests: enough to cross every parameter's types
# and the error answers, few enough for the whole run to take well under a minute.
EXAMPLES_PER_OPERATION = 12
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def test_the_schema_is_valid_openapi(client, db):
    response = client.get(SCHEMA_URL)
    assert response.status_code == 200
    schema = response.json()
    validate(schema)
    assert schema["openapi"].startswith("3.")
    operations = {
        (method.upper(), path)
        for path, methods in schema["paths"].items()
        for method in methods
        if method != "parameters"
    }
    assert {
        ("GET", "/api/v1/generations"),
        ("POST", "/api/v1/generations"),
        ("GET", "/api/v1/generations/{generation_id}"),
        ("GET", "/api/v1/generations/{generation_id}/chain"),
        ("DELETE", "/api/v1/generations/{generation_id}"),
        ("POST", "/api/v1/generations/{generation_id}/cancel"),
        ("POST", "/api/v1/generations/{generation_id}/retry"),
        ("PUT", "/api/v1/generations/{generation_id}/favourite"),
        ("DELETE", "/api/v1/generations/{generation_id}/favourite"),
        ("PUT", "/api/v1/generations/{generation_id}/share"),
        ("DELETE", "/api/v1/generations/{generation_id}/share"),
        ("GET", "/api/v1/generations/{generation_id}/image.png"),
        ("GET", "/api/v1/generations/{generation_id}/thumb.webp"),
        ("GET", "/api/v1/quota"),
        ("GET", "/api/v1/presets"),
        ("GET", "/api/v1/tiers"),
        ("GET", "/api/v1/capabilities"),
        ("POST", "/api/v1/uploads"),
        ("GET", "/api/v1/uploads/{upload_id}"),
        ("GET", "/api/v1/uploads/{upload_id}/image"),
        ("DELETE", "/api/v1/uploads/{upload_id}"),
        ("POST", "/api/v1/verify"),
        ("GET", "/api/v1/trips"),
        ("POST", "/api/v1/trips"),
        ("GET", "/api/v1/trips/{trip_id}"),
        ("GET", "/api/v1/trips/{trip_id}/sheet.jpg"),
        ("POST", "/api/v1/trips/{trip_id}/days/{date}/redo"),
    } == operations
    assert set(schema["components"]["securitySchemes"]) == {"ApiKey", "Session"}


def test_the_create_body_is_a_union_by_task_saying_when_a_prompt_is_needed(client, db):
    """ "prompt is required unless task is try_on", and which photos each task takes."""
    schema = client.get(SCHEMA_URL).json()
    body = schema["paths"]["/api/v1/generations"]["post"]["requestBody"]
    union = body["content"]["application/json"]["schema"]
    branches = {
        task: schema["components"]["schemas"][ref.rpartition("/")[2]]
        for task, ref in union["discriminator"]["mapping"].items()
    }
    assert union["discriminator"]["propertyName"] == "task"
    assert [b["$ref"] for b in union["oneOf"]] == list(union["discriminator"]["mapping"].values())
    assert set(branches) == {"text", "edit", "try_on"}  # the demo provider does all three
    text, edit, try_on = branches["text"], branches["edit"], branches["try_on"]
    assert all(branch["additionalProperties"] is False for branch in branches.values())
    assert text["required"] == ["prompt"]  # task may be left out: it is text
    assert set(edit["required"]) == {"task", "prompt"}  # and source_image or parent
    assert {"parent", "from_original"} <= set(edit["properties"])
    assert set(try_on["required"]) == {"task", "source_image", "garment_image"}
    assert "prompt" in try_on["properties"] and "prompt" not in try_on["required"]
    assert "source_image" not in text["properties"] and "garment_image" not in edit["properties"]
    assert "aspect" in text["properties"] and "aspect" not in try_on["properties"]
    assert (edit["properties"]["task"]["const"], try_on["properties"]["task"]["const"]) == (
        "edit",
        "try_on",
    )
    n = text["properties"]["n"]
    assert (n["minimum"], n["maximum"]) == (1, 4)
    # Validated as JSON Schema, the union takes what the API takes, and refuses the rest.
    validator = body_validator(schema, union)
    assert validator.is_valid({"prompt": "Jeju"})
    assert validator.is_valid({"task": "try_on", "source_image": PHOTO, "garment_image": PHOTO})
    assert not validator.is_valid({"task": "edit", "source_image": PHOTO})  # no prompt
    assert validator.is_valid({"task": "edit", "parent": PHOTO, "prompt": "make it red"})
    assert not validator.is_valid({"task": "edit", "prompt": "make it red"})  # from nothing
    assert not validator.is_valid({"task": "text", "parent": PHOTO, "prompt": "x"})
    assert not validator.is_valid({"aspect": "wide"})
    assert not validator.is_valid({"task": "try_on", "source_image": PHOTO, "aspect": "wide"})


PHOTO = "0b6e9a52-7d41-4c8e-9f3a-5e2d1c0b9a87"


def body_validator(schema, part):
    """A JSON Schema validator of `part` of the published schema, its $refs resolved in it and
    its formats (uri, date-time) checked."""
    return jsonschema_rs.Draft202012Validator(
        {**part, "components": schema["components"]}, validate_formats=True
    )


def operations(schema):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def test_every_answer_documents_the_headers_it_carries(client, db):
    schema = client.get(SCHEMA_URL).json()
    for path, method, operation in operations(schema):
        where = (method, path)
        requested = {p["name"]: p for p in operation["parameters"] if p["in"] == "header"}
        assert requested["X-Request-ID"]["required"] is False, where
        idempotent = "Idempotency-Key" in requested
        for status, response in operation["responses"].items():
            headers = response["headers"]
            assert headers["X-Request-ID"]["required"] is True, (where, status)
            assert {"RateLimit", "RateLimit-Policy", "Content-Language"} <= set(headers)
            if status == "401":
                assert headers["WWW-Authenticate"]["required"] is True, where
            if status == "429":
                assert headers["Retry-After"]["required"] is True, where
            if status == "302":
                assert headers["Location"]["required"] is True, where
            if idempotent and status != "429" and status < "500":  # what is kept is replayed
                assert "Idempotent-Replayed" in headers, (where, status)
    post = schema["paths"]["/api/v1/generations"]["post"]["responses"]["201"]["headers"]
    assert post["Location"]["required"] is False  # n > 1 has no one address
    for path in ("/api/v1/uploads", "/api/v1/generations/{generation_id}/retry"):
        assert schema["paths"][path]["post"]["responses"]["201"]["headers"]["Location"]["required"]


def test_the_schema_names_this_site_as_its_server(client, db, settings):
    settings.SITE_URL = ""
    assert client.get(SCHEMA_URL).json()["servers"] == [
        {"url": "http://testserver", "description": "This site."}
    ]
    settings.SITE_URL = "https://travelfit.example"
    assert client.get(SCHEMA_URL).json()["servers"][0]["url"] == "https://travelfit.example"


def test_links_are_uris_and_every_example_is_valid_for_its_schema(client, db):
    schema = client.get(SCHEMA_URL).json()
    item = schema["components"]["schemas"]["GenerationOut"]["properties"]
    for name in ("url", "detail_url"):
        assert item[name]["format"] == "uri"
    for name in ("image_url", "thumbnail_url", "share_url"):
        assert non_null_branch(item[name])["format"] == "uri"
    checked = 0
    for path, method, operation in operations(schema):
        body = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if body:
            for example in body.get("examples", {}).values():
                body_validator(schema, body["schema"]).validate(example["value"])
                checked += 1
        for status, response in operation["responses"].items():
            media = response.get("content", {}).get("application/json")
            assert media is None or "example" in media, (method, path, status)
            if media:
                body_validator(schema, media["schema"]).validate(media["example"])
                checked += 1
            for header in response["headers"].values():
                if "example" in header:
                    body_validator(schema, header["schema"]).validate(header["example"])
    for item in schema["webhooks"].values():
        media = item["post"]["requestBody"]["content"]["application/json"]
        body_validator(schema, media["schema"]).validate(media["example"])
        checked += 1
    assert checked > 60
    create = schema["paths"]["/api/v1/generations"]["post"]["requestBody"]
    assert set(create["content"]["application/json"]["examples"]) == {
        "text",
        "edit",
        "edit_again",
        "try_on",
    }


def test_the_webhooks_are_described_with_their_signature_headers(client, db):
    schema = client.get(SCHEMA_URL).json()
    assert schema["openapi"].startswith("3.1")
    assert set(schema["webhooks"]) == {
        "generation.succeeded",
        "generation.failed",
        "generation.canceled",
        "generation.held",
        "generation.rejected",
    }
    for event, item in schema["webhooks"].items():
        operation = item["post"]
        headers = {p["name"]: p for p in operation["parameters"]}
        for name in ("webhook-id", "webhook-timestamp", "webhook-signature"):
            assert headers[name]["required"] is True and headers[name]["in"] == "header"
        body = operation["requestBody"]["content"]["application/json"]["schema"]
        assert body["properties"]["type"]["const"] == event
        assert body["properties"]["data"] == {"$ref": "#/components/schemas/GenerationOut"}


def test_the_create_body_lists_this_sites_tiers_and_presets(client, db, settings, presets):
    from imagegen.models import Preset

    settings.IMAGEGEN_TIERS = [("fast", ["demo"], 1), ("best", ["demo"], 3)]
    text = create_body(client)["properties"]
    tier = non_null_branch(text["tier"])
    assert tier["enum"] == ["fast", "best"]
    preset = non_null_branch(text["preset"])
    assert preset["enum"] == list(Preset.objects.filter(active=True).values_list("pk", flat=True))
    Preset.objects.update(active=False)
    assert create_body(client)["properties"]["preset"]["type"] == "null"


def test_every_post_that_makes_something_lists_the_idempotency_key_header(client, db):
    schema = client.get(SCHEMA_URL).json()
    paths = schema["paths"]
    posts = {path: methods["post"] for path, methods in paths.items() if "post" in methods}
    assert "/api/v1/uploads" in posts
    # POST /verify makes and changes nothing (a check): a repeat is harmless, nothing to replay.
    verify = posts.pop("/api/v1/verify")
    assert not [p for p in verify.get("parameters", []) if p["name"] == "Idempotency-Key"]
    for path, operation in posts.items():
        names = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
        assert "Idempotency-Key" in names, path
        assert "409" in operation["responses"], path


def test_the_schema_describes_the_upload_file_with_this_sites_limits(client, db, settings):
    settings.IMAGEGEN_UPLOAD_MAX_BYTES = 2_000_000
    schema = client.get(SCHEMA_URL).json()
    body = schema["paths"]["/api/v1/uploads"]["post"]["requestBody"]["content"]
    form = body["multipart/form-data"]
    file = form["schema"]["properties"]["file"]
    assert (file["type"], file["format"]) == ("string", "binary")
    assert "2000000 bytes" in file["description"] and "image/heic" in file["description"]
    assert form["schema"]["required"] == ["file"]
    assert "image/webp" in form["encoding"]["file"]["contentType"]
    limits = schema["components"]["schemas"]["UploadLimits"]["properties"]
    assert set(limits) == {"max_bytes", "max_pixels", "content_types", "per_day"}


def non_null_branch(prop):
    """The non-null branch of a nullable property (`anyOf: [{type: …}, {type: null}]`)."""
    return next(branch for branch in prop.get("anyOf", [prop]) if branch.get("type") != "null")


def test_the_create_body_holds_the_providers_ranges(client, db, settings):
    from imagegen.tiers import primary_provider

    settings.IMAGEGEN_PROVIDERS = ["hf_inference"]
    settings.HUGGINGFACE_API_TOKEN = "hf_" + "x" * 30
    caps = primary_provider().capabilities
    properties = create_body(client)["properties"]
    for name in ("width", "height"):
        size = non_null_branch(properties[name])
        assert (size["minimum"], size["maximum"]) == (caps.min_size, caps.max_size)
        assert size["multipleOf"] == 64
    prompt = non_null_branch(properties["prompt"])  # the non-null branch
    assert (prompt["minLength"], prompt["maxLength"]) == (1, 1000)
    assert non_null_branch(properties["steps"])["maximum"] == caps.steps[1]
    assert non_null_branch(properties["guidance"])["maximum"] == caps.guidance[1]
    assert non_null_branch(properties["seed"])["maximum"] == 2**31 - 1
    # A provider without steps or guidance: the schema, like the API, has no such field.
    settings.IMAGEGEN_PROVIDERS = ["demo"]
    demo = create_body(client)["properties"]
    assert "steps" not in demo and "guidance" not in demo and "width" in demo


def create_body(client, task="text"):
    """The create body's branch for `task`."""
    schema = client.get(SCHEMA_URL).json()
    body = schema["paths"]["/api/v1/generations"]["post"]["requestBody"]
    reference = body["content"]["application/json"]["schema"]["discriminator"]["mapping"][task]
    return schema["components"]["schemas"][reference.rpartition("/")[2]]


def test_the_schema_links_a_new_generation_to_what_can_be_done_with_it(client, db):
    schema = client.get(SCHEMA_URL).json()
    links = schema["paths"]["/api/v1/generations"]["post"]["responses"]["201"]["links"]
    operation_ids = {
        operation["operationId"]
        for methods in schema["paths"].values()
        for operation in methods.values()
    }
    assert {"get_generation", "cancel_generation", "retry_generation", "image"} <= {
        link["operationId"] for link in links.values()
    }
    for link in links.values():
        assert link["operationId"] in operation_ids
        assert link["parameters"] == {"generation_id": "$response.body#/results/0/id"}


def submit_one(user, prompt):
    return services.submit_generation(user=user, prompt=prompt, width=512, height=512)


def test_cursor_and_the_image_download_are_described_as_strictly_as_checked(client, user):
    schema = client.get(SCHEMA_URL).json()
    listing = schema["paths"]["/api/v1/generations"]["get"]["parameters"]
    cursor = next(p for p in listing if p["name"] == "cursor")
    pattern = re.compile(non_null_branch(cursor["schema"])["pattern"])
    assert not pattern.search("0") and not pattern.search("WyIxM")  # no base64 is 4n+1 long
    from imagegen.api.generations import page_cursor

    made = [submit_one(user, f"Jeju {n}") for n in range(3)]
    assert all(pattern.search(page_cursor(generation)) for generation in made)
    image = schema["paths"]["/api/v1/generations/{generation_id}/image.png"]["get"]
    assert "400" in image["responses"]  # ?download=maybe


def test_the_docs_explain_keys_webhooks_and_every_error_code(client, db):
    description = client.get(SCHEMA_URL).json()["info"]["description"]
    for needed in ("/accounts/keys/", "create_api_key", "webhook-signature", "whsec_", '"n": 4'):
        assert needed in description
    # What an integrator tripped over: local receivers, where links start, what to ask for.
    for needed in ("WEBHOOK_ALLOW_PRIVATE_URLS=true", "SITE_URL", "/api/v1/capabilities"):
        assert needed in description
    readme = (ROOT / "README.md").read_text()
    for needed in ("WEBHOOK_ALLOW_PRIVATE_URLS=true", "GET /api/v1/capabilities", "`unavailable`"):
        assert needed in readme
    for code in ERROR_CODES:
        assert f"`{code}`" in description


# --- Against the live server ---------------------------------------------------------------------


@pytest.fixture
def live_api(serve_site, make_user):
    """The real server (manage.py serve) on loopback, and a real key with room to spend."""
    site = serve_site(API_RATE_LIMIT="0", WEBHOOK_ALLOW_PRIVATE_URLS="true")
    user = make_user("integrator")
    services.quota_for(user)
    Quota.objects.filter(user=user).update(daily_limit=100000, monthly_limit=100000)
    for prompt in ("Jeju at sunrise", "Seoul at night"):
        services.submit_generation(user=user, prompt=prompt, width=512, height=512)
    _, key = services.create_api_token(user=user, name="schemathesis")
    return site, key


def test_every_operation_answers_as_its_schema_says(live_api):
    """Generated requests (valid and not) to every operation: no 5xx, and every answer's
    status, content type, headers and body are the ones the schema documents."""
    site, key = live_api
    schema = schemathesis.openapi.from_url(site + SCHEMA_URL)
    headers = {"Authorization": f"Bearer {key}"}
    session = requests.Session()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 27
    for operation in operations:

        @given(case=operation.as_strategy())
        @hypothesis_settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def answers_as_documented(case):
            case.call_and_validate(base_url=site, session=session, headers=headers, checks=CHECKS)

        answers_as_documented()


# --- The docs page ---------------------------------------------------------------------------


def test_the_docs_page_is_served_under_the_sites_strict_csp(client, db):
    response = client.get(DOCS_URL)
    assert response.status_code == 200
    page = response.content.decode()
    assert "swagger-ui-bundle" in page and "swagger-ui-init" in page
    assert "cdn" not in page.lower()
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "style-src 'self'" in policy
    assert "unsafe" not in policy


@pytest.mark.browser
def test_the_docs_page_renders_in_chromium_without_csp_violations(served_site):
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: apt-get install -y chromium (see README, tests).")
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page()
            violations = []
            page.on(
                "console",
                lambda message: (
                    "Content Security Policy" in message.text and violations.append(message.text)
                ),
            )
            page.goto(served_site + DOCS_URL)
            page.wait_for_selector(".opblock-summary-path", timeout=20000)
            paths = page.locator(".opblock-summary-path").all_inner_texts()
            assert "/api/v1/generations" in paths
            assert page.get_by_text("Verify it with the key").count() == 1
            # Open operations, their schemas and examples: what Swagger UI styles as it draws.
            for path in ("/api/v1/quota", "/api/v1/generations"):
                page.locator(".opblock-summary-path", has_text=path).first.click()
            page.wait_for_selector(".responses-table")
            page.get_by_role("button", name="Try it out").first.click()
            page.locator(".models-control").first.click()
            page.wait_for_timeout(500)
            assert violations == []
            shots = ROOT / "test-output" / "screenshots"
            shots.mkdir(parents=True, exist_ok=True)
            page.evaluate("window.scrollTo(0, 0)")
            page.screenshot(path=str(shots / "api-docs-desktop.png"), full_page=False)
            page.set_viewport_size({"width": 390, "height": 844})
            page.screenshot(path=str(shots / "api-docs-phone.png"), full_page=False)
        finally:
            browser.close()
