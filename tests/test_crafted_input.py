"""Crafted input gets a clear 400 (JSON on the API, a form error on pages), never a 500, and a
refused request changes no row. Fuzzed with hypothesis over the form and the API payload."""

import json

import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from imagegen import services
from imagegen.models import Generation, Quota

API = reverse("api:generations")
CREATE = reverse("imagegen:create")


def post_json(client, body):
    text = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(API, text, content_type="application/json")


def assert_json_error(response, status=400):
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    return response.json()["error"]


@pytest.mark.parametrize("field", ["prompt", "negative_prompt"])
def test_a_lone_surrogate_is_refused_naming_the_field(api, field):
    body = {"prompt": "Jeju", field: "sunrise \ud800 over the sea"}
    error = assert_json_error(post_json(api, body))
    assert "surrogates" in " ".join(error["fields"][field])
    assert not Generation.objects.exists()


def test_a_body_nested_thousands_deep_is_invalid_json_not_a_crash(api):
    error = assert_json_error(post_json(api, '{"prompt": ' + "[" * 5000 + "]" * 5000 + "}"))
    assert error["code"] == "invalid_json"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"prompt": True}, "prompt"),
        ({"prompt": 123}, "prompt"),
        ({"prompt": "Seoul", "seed": True}, "seed"),
        ({"prompt": "Seoul", "steps": 2.5}, "steps"),
        ({"prompt": "Seoul", "guidance": {"value": 3}}, "guidance"),
    ],
)
def test_wrong_json_types_are_refused_not_coerced(api, body, field):
    error = assert_json_error(post_json(api, body))
    assert error["code"] == "invalid"
    assert "Send a single value" in " ".join(error["fields"][field])
    assert not Generation.objects.exists()


def test_a_body_over_the_upload_limit_gets_a_json_400(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    error = assert_json_error(post_json(api, {"prompt": "x" * 2000}))
    assert error["code"] == "bad_request"


def test_multipart_without_a_boundary_gets_a_json_error(api):
    # The API takes JSON only, so a multipart body is refused before anything parses it.
    response = api.post(API, b"--x\r\n", content_type="multipart/form-data")
    assert assert_json_error(response, status=415)["code"] == "unsupported_media_type"


def test_a_crash_under_the_api_answers_json_500(user, key, settings):
    """Whatever goes wrong, an API client gets the API's error shape (handler500)."""
    settings.IMAGEGEN_PROVIDERS = ["no_such_provider"]  # the form cannot even be built
    client = Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Bearer {key}")
    error = assert_json_error(post_json(client, {"prompt": "Jeju"}), status=500)
    assert error["code"] == "server_error"


def test_a_nul_in_the_gallery_search_is_a_form_error(user_client):
    response = user_client.get(reverse("imagegen:gallery"), {"q": "Jeju\x00"})
    assert response.status_code == 200
    assert "Remove the control characters (U+0000)" in response.content.decode()


def test_a_nul_in_a_share_link_is_not_found(client, db):
    assert client.get("/s/abc%00def/").status_code == 404


def test_the_page_form_refuses_a_nul_in_the_prompt(user_client):
    response = user_client.post(CREATE, {"prompt": "Busan\x00"})
    assert response.status_code == 200
    assert "Null characters are not allowed." in response.content.decode()
    assert not Generation.objects.exists()


# --- fuzzing -----------------------------------------------------------------------------------

# Any code point, surrogates and NUL included; numbers of any size; every JSON type.
ANY_TEXT = st.text(st.characters(codec=None, categories=None), max_size=40)
ANY_NUMBER = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
)
ANY_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    ANY_NUMBER,
    ANY_TEXT,
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
FIELDS = ["prompt", "negative_prompt", "aspect", "preset", "width", "height", "seed", "steps"]
PAYLOADS = st.dictionaries(
    st.sampled_from([*FIELDS, "guidance", "unknown"]) | ANY_TEXT, ANY_VALUE, max_size=6
)
FUZZ = hypothesis_settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def rows():
    return (
        Generation.objects.count(),
        list(Quota.objects.values_list("day_used", "month_used", "bonus_credits")),
    )


@pytest.fixture
def roomy_quota(user, settings):
    settings.API_RATE_LIMIT = 0  # hundreds of requests a minute, from one key
    services.quota_for(user)
    Quota.objects.filter(user=user).update(daily_limit=100000, monthly_limit=100000)


@FUZZ
@given(payload=PAYLOADS)
def test_fuzzed_api_payloads_never_crash_and_a_refusal_changes_nothing(api, roomy_quota, payload):
    before = rows()
    response = post_json(api, payload)
    assert response.status_code in (201, 400), response.content[:300]
    assert response["Content-Type"] == "application/json"
    if response.status_code == 400:
        assert rows() == before
    else:
        assert rows()[0] == before[0] + 1


@FUZZ
@given(fields=st.dictionaries(st.sampled_from(FIELDS), ANY_TEXT | st.integers().map(str)))
def test_fuzzed_form_posts_never_crash_and_a_refusal_changes_nothing(user, roomy_quota, fields):
    client = Client()
    client.force_login(user)
    # A browser sends form fields as UTF-8; what cannot be encoded is what a browser cannot send.
    fields = {k: v.encode("utf-8", "replace").decode() for k, v in fields.items()}
    before = rows()
    response = client.post(CREATE, fields)
    assert response.status_code in (200, 302)
    if response.status_code == 200:
        assert rows() == before  # the form came back with its errors
    else:
        assert rows()[0] == before[0] + 1


@FUZZ
@given(query=ANY_TEXT, show=ANY_TEXT, page=ANY_TEXT)
def test_fuzzed_gallery_queries_never_crash(user_client, query, show, page):
    params = {
        k: v.encode("utf-8", "replace").decode()
        for k, v in {"q": query, "show": show, "page": page}.items()
    }
    assert user_client.get(reverse("imagegen:gallery"), params).status_code == 200
    listed = user_client.get(API, {"status": params["show"], "page": params["page"]})
    assert listed.status_code in (200, 400, 404)
    assert listed["Content-Type"] == "application/json"
