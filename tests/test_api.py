"""The JSON API and the API keys page, through the test client with real keys and sessions.

The schema and the docs page: test_api_schema.py."""

import datetime
import hashlib
import io
import json
import re
import uuid
from urllib.parse import urlencode

import pytest
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from imagegen import services
from imagegen.models import ApiToken, Generation, Quota
from imagegen.tasks import run_generation
from tests.conftest import run_queued_tasks

LIST_URL = reverse("api:generations")
QUOTA_URL = reverse("api:quota")
KEYS_URL = reverse("keys")
VALID = {"prompt": "Hallstatt lake in the morning mist", "width": 512, "height": 384, "seed": 7}
HANGUL = re.compile(r"[\uac00-\ud7a3]")


def bearer(key):
    return {"HTTP_AUTHORIZATION": f"Bearer {key}"}


def post_json(client, url, body, **extra):
    return client.post(url, json.dumps(body), content_type="application/json", **extra)


def item_url(generation):
    return reverse("api:generation", args=[generation.pk])


def submit(user, prompt="Lisbon tram", **extra):
    return services.submit_generation(user=user, prompt=prompt, width=256, height=256, **extra)


def make_done(user, prompt="Kyoto in autumn"):
    generation = submit(user, prompt)
    run_generation(str(generation.pk))
    generation.refresh_from_db()
    return generation


def make_running(user, prompt="Cappadocia balloons"):
    generation = submit(user, prompt)
    Generation.objects.filter(pk=generation.pk).update(
        status=Generation.Status.RUNNING, started_at=timezone.now() - datetime.timedelta(seconds=3)
    )
    return generation


def set_limits(user, daily, monthly=300):
    quota = services.quota_for(user)
    quota.daily_limit, quota.monthly_limit = daily, monthly
    quota.save()


@pytest.fixture
def other(make_user):
    return make_user("bob")


# --- Creating ------------------------------------------------------------------------------


def test_a_bearer_key_queues_a_generation_and_answers_201_with_its_location(api, user):
    response = post_json(api, LIST_URL, VALID)
    assert response.status_code == 201
    generation = Generation.objects.get(owner=user)
    assert response["Location"] == f"http://testserver{item_url(generation)}"
    body = response.json()
    assert body["next"] is None
    [body] = body["results"]
    assert body["id"] == str(generation.pk)
    assert (body["status"], body["position"], body["image_url"]) == ("queued", 1, None)
    assert (body["prompt"], body["width"], body["height"], body["seed"]) == (
        "Hallstatt lake in the morning mist",
        512,
        384,
        7,
    )
    assert Quota.objects.get(user=user).day_used == 1


def test_a_bearer_request_needs_no_csrf_token(user, key):
    client = Client(enforce_csrf_checks=True)
    response = post_json(client, LIST_URL, VALID, **bearer(key))
    assert response.status_code == 201


def test_an_aspect_gives_its_size(api, user):
    response = post_json(api, LIST_URL, {"prompt": "Petra by candlelight", "aspect": "wide"})
    assert response.status_code == 201
    [item] = response.json()["results"]
    assert (item["width"], item["height"]) == (1024, 576)


def test_a_form_encoded_body_is_refused_as_unsupported(api, user):
    """Form fields are all text, so a form body could only be coerced: JSON only."""
    response = api.post(
        LIST_URL,
        urlencode({"prompt": "Petra by candlelight", "aspect": "wide"}),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"
    assert not Generation.objects.exists()


def test_four_images_in_one_request_take_four_units(api, user):
    response = post_json(api, LIST_URL, {**VALID, "n": 4})
    assert response.status_code == 201
    items = response.json()["results"]
    assert len(items) == 4
    assert {item["prompt"] for item in items} == {VALID["prompt"]}
    assert "Location" not in response  # four things were made, not one
    assert Generation.objects.filter(owner=user).count() == 4
    assert Quota.objects.get(user=user).day_used == 4


def test_a_batch_larger_than_what_is_left_is_refused_whole(api, user):
    set_limits(user, daily=5)
    submit(user)
    submit(user)
    response = post_json(api, LIST_URL, {**VALID, "n": 4})
    assert response.status_code == 429
    error = response.json()["error"]
    assert (error["code"], error["period"], error["left"], error["asked"]) == (
        "over_quota",
        "day",
        3,
        4,
    )
    assert "only 3" in error["message"]
    assert int(response["Retry-After"]) > 0
    assert Generation.objects.filter(owner=user).count() == 2
    assert Quota.objects.get(user=user).day_used == 2
    assert post_json(api, LIST_URL, {**VALID, "n": 3}).status_code == 201
    assert Quota.objects.get(user=user).day_used == 5


def test_a_batch_is_paid_with_bonus_credits_only_when_there_are_enough(api, user):
    set_limits(user, daily=1)
    submit(user)
    services.grant_credits(user=user, credits=3)
    assert post_json(api, LIST_URL, {**VALID, "n": 4}).status_code == 429
    assert Quota.objects.get(user=user).bonus_credits == 3
    assert post_json(api, LIST_URL, {**VALID, "n": 3}).status_code == 201
    assert Quota.objects.get(user=user).bonus_credits == 0
    assert Generation.objects.filter(owner=user, charged_bonus=True).count() == 3


def test_the_session_can_create_with_its_csrf_token(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get(KEYS_URL)  # a page with a form hands out the CSRF cookie
    token = client.cookies["csrftoken"].value
    response = post_json(client, LIST_URL, VALID, HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 201
    assert Generation.objects.filter(owner=user).count() == 1


def test_the_session_without_a_csrf_token_is_refused(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = post_json(client, LIST_URL, VALID)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "csrf_failed"
    assert not Generation.objects.exists()


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"prompt": ""}, "prompt", "cannot be empty"),
        ({"prompt": "Seoul", "aspect": "custom", "width": 4096, "height": 512}, "width", "1024"),
        ({"prompt": "Seoul", "aspect": "custom", "height": 512}, "width", "custom size"),
        ({"prompt": "Seoul", "seed": -1}, "seed", "greater than or equal to 0"),
        ({"prompt": ["Seoul", "Busan"]}, "prompt", "single value"),
        ({"prompt": 123}, "prompt", "single value here (text), not a number"),
        ({"prompt": True}, "prompt", "single value here (text), not true or false"),
        ({"prompt": "Seoul", "seed": "7"}, "seed", "(a whole number), not text"),
        ({"prompt": "Seoul", "width": 512.0, "aspect": "custom"}, "width", "a whole number"),
        ({"prompt": "Seoul", "colour": "blue"}, "colour", "Unknown field"),
        ({"prompt": "Seoul", "n": 5}, "n", "less than or equal to 4"),
        ({"prompt": "Seoul", "n": 0}, "n", "greater than or equal to 1"),
        ({"prompt": "Seoul", "aspect": "round"}, "aspect", "'square'"),
        ({"prompt": "Seoul", "task": "paint"}, "task", "Choose one of: 'text', 'edit'"),
        ({"prompt": "Seoul", "steps": 20}, "steps", "does not take `steps`"),
        ({"prompt": "Seoul", "guidance": 4.5}, "guidance", "does not take `guidance`"),
    ],
)
def test_invalid_fields_answer_400_naming_the_field(api, user, body, field, message):
    # The demo provider (the tests' default) takes no steps and no guidance.
    response = post_json(api, LIST_URL, body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert message in " ".join(error["fields"][field])
    assert not Generation.objects.exists()


def test_every_refused_field_is_named_in_one_answer(api, user):
    body = {"prompt": 42, "seed": -1, "aspect": "custom", "width": 4096, "extra": 1, "n": "2"}
    response = post_json(api, LIST_URL, body)
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert set(fields) == {"prompt", "seed", "width", "height", "extra", "n"}
    assert not Generation.objects.exists()


@pytest.fixture
def steps_provider(settings):
    """A provider that takes steps (1–50) and guidance: Hugging Face's router."""
    settings.IMAGEGEN_PROVIDERS = ["hf_inference"]
    settings.HUGGINGFACE_API_TOKEN = "hf_" + "x" * 30


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"steps": 9999}, "steps", "less than or equal to 50"),
        ({"steps": 0}, "steps", "greater than or equal to 1"),
        ({"guidance": 99.5}, "guidance", "less than or equal to 20"),
    ],
)
def test_out_of_range_values_are_refused_not_nulled(
    api, user, steps_provider, body, field, message
):
    response = post_json(api, LIST_URL, {"prompt": "Seoul", **body})
    assert response.status_code == 400
    assert message in " ".join(response.json()["error"]["fields"][field])
    assert not Generation.objects.exists()


def test_values_in_the_providers_range_are_kept(api, user, steps_provider):
    response = post_json(api, LIST_URL, {"prompt": "Seoul", "steps": 30, "guidance": 4.5})
    assert response.status_code == 201, response.content
    generation = Generation.objects.get(owner=user)
    assert (generation.steps, generation.guidance) == (30, 4.5)


@pytest.mark.parametrize("body", ['{"prompt": "Rome"', '["Rome"]', "null", b"\xff\xfe{"])
def test_a_body_that_is_not_a_json_object_answers_invalid_json(api, body):
    response = api.post(LIST_URL, body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('{"prompt": "Rome", "prompt": "Seoul"}', "The key prompt appears twice"),
        ('{"prompt": "Rome", "n": 1, "n": 4}', "The key n appears twice"),
        ('{"prompt": "Rome", "extra": {"a": 1, "a": 2}}', "The key a appears twice"),
        ('{"prompt": "Rome"}'.encode("utf-16"), "UTF-8"),
        ('{"prompt": "Rome"}'.encode("utf-16-le"), "not valid JSON"),
        ('{"prompt": "서울"}'.encode("utf-32"), "UTF-8"),
        ('{"prompt": "Rome"}'.encode("utf-8-sig"), "byte order mark"),
    ],
    ids=["prompt-twice", "n-twice", "nested-twice", "utf-16", "utf-16-no-bom", "utf-32", "bom"],
)
def test_ambiguous_or_non_utf8_json_is_refused(api, user, body, message):
    response = api.post(LIST_URL, body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"
    assert message in response.json()["error"]["message"]
    assert not Generation.objects.exists()


def test_a_charset_other_than_utf8_is_refused(api, user):
    # The test client encodes the text in the charset the content type names.
    body = '{"prompt": "Rome"}'
    response = api.post(LIST_URL, body, content_type="application/json; charset=utf-16")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_json"
    plain = api.post(
        LIST_URL, b'{"prompt": "Rome"}', content_type="application/json; charset=UTF-8"
    )
    assert plain.status_code == 201


def test_the_api_speaks_english_unless_asked_for_korean(api, user, settings):
    """Whatever the site's default, a cookie or the owner's profile say: curl sends nothing."""
    from accounts.models import Profile

    settings.LANGUAGE_CODE = "ko"
    Profile.objects.create(user=user, language="ko")
    api.cookies[settings.LANGUAGE_COOKIE_NAME] = "ko"
    body = {"prompt": "Seoul", "aspect": "custom", "width": 4000, "height": 512}
    plain = post_json(api, LIST_URL, body)
    assert plain["Content-Language"] == "en"
    assert plain.json()["error"]["fields"]["width"][0].startswith("Choose a width between")
    korean = post_json(api, LIST_URL, body, HTTP_ACCEPT_LANGUAGE="ko-KR,ko;q=0.9,en;q=0.8")
    assert korean["Content-Language"] == "ko"
    assert HANGUL.search(korean.json()["error"]["fields"]["width"][0])
    other = post_json(api, LIST_URL, body, HTTP_ACCEPT_LANGUAGE="fr-FR, de;q=0.5")
    assert other["Content-Language"] == "en"
    # The pages themselves still default to the site's language.
    assert api.get(reverse("login"))["Content-Language"] == "ko"


ENGLISH_WORDS = re.compile(r"\b[A-Za-z]{2,} [A-Za-z]{2,} [A-Za-z]{2,}\b")


def error_texts(response):
    """Every text of an error answer meant for people: its message and each field's."""
    error = response.json()["error"]
    texts = [error["message"]]
    for messages in (error.get("fields") or {}).values():
        texts.extend(messages)
    return texts


def test_under_accept_language_ko_every_api_text_is_korean(api, user, key, settings, client):
    """409s, pydantic's field texts, "Unknown field", the top-level message, 401/404/405/415/
    429, Idempotency-Key's: all Korean, and Content-Language says so. Codes stay."""
    settings.API_RATE_LIMIT = 0
    ko = {"HTTP_ACCEPT_LANGUAGE": "ko-KR,ko;q=0.9,en;q=0.8"}
    done, running = make_done(user), make_running(user)
    answers = {
        "invalid": post_json(
            api,
            LIST_URL,
            {"prompt": 123, "n": 9, "task": "paint", "colour": "blue", "source_image": "x"},
            **ko,
        ),
        "invalid query": api.get(
            LIST_URL + "?limit=0&cursor=0&status=bogus&favourites=maybe&q=" + "x" * 300, **ko
        ),
        "invalid size": post_json(api, LIST_URL, {"prompt": "Seoul", "n": 0, "seed": "7"}, **ko),
        "invalid_json": api.post(LIST_URL, "[1]", content_type="application/json", **ko),
        "twice": api.post(
            LIST_URL, '{"prompt": "a", "prompt": "b"}', content_type="application/json", **ko
        ),
        "415": api.post(LIST_URL, "prompt=Seoul", content_type="text/plain", **ko),
        "415 upload": post_json(api, reverse("api:uploads"), {"file": "x"}, **ko),
        "400 upload": api.post(reverse("api:uploads"), {"photo": "x"}, **ko),
        "401": client.get(LIST_URL, HTTP_AUTHORIZATION="", **ko),
        "401 key": Client().get(LIST_URL, **bearer("tf_revoked"), **ko),
        "404": api.get(reverse("api:generation", args=[uuid.uuid4()]), **ko),
        "404 address": api.get("/api/v1/nothing", **ko),
        "405": api.put(LIST_URL, **ko),
        "409 cancel": api.post(reverse("api:cancel", args=[done.pk]), **ko),
        "409 share": api.put(reverse("api:share", args=[running.pk]), **ko),
        "409 delete": api.delete(item_url(running), **ko),
        "409 image": api.get(reverse("api:image", args=[running.pk]), **ko),
        "idempotency invalid": post_json(api, LIST_URL, VALID, HTTP_IDEMPOTENCY_KEY="é", **ko),
    }
    post_json(api, LIST_URL, VALID, HTTP_IDEMPOTENCY_KEY="k-1", **ko)
    answers["idempotency reused"] = post_json(
        api, LIST_URL, {**VALID, "seed": 8}, HTTP_IDEMPOTENCY_KEY="k-1", **ko
    )
    settings.API_RATE_LIMIT = 1
    api.get(QUOTA_URL, **ko)
    answers["429"] = api.get(QUOTA_URL, **ko)
    for name, response in answers.items():
        assert response.status_code >= 400, name
        assert response["Content-Language"] == "ko", name
        for text in error_texts(response):
            assert HANGUL.search(text), (name, text)
            assert not ENGLISH_WORDS.search(text), (name, text)
    # The codes never change with the language.
    assert answers["invalid"].json()["error"]["code"] == "invalid"
    assert answers["409 cancel"].json()["error"]["status"] == "succeeded"
    assert set(answers["invalid"].json()["error"]["fields"]) == {
        "prompt",
        "n",
        "task",
        "colour",
        "source_image",
    }
    # And without the header, the same refusals are English, said so.
    english = post_json(api, LIST_URL, {"prompt": 123, "colour": "blue"})
    assert english["Content-Language"] == "en"
    assert not any(HANGUL.search(text) for text in error_texts(english))


def test_json_is_sent_as_utf8_text_not_escaped(api, user):
    submit(user, prompt="제주 성산일출봉")
    answer = api.get(LIST_URL)
    assert "제주 성산일출봉".encode() in answer.content
    assert b"\\u" not in answer.content
    assert answer.json()["results"][0]["prompt"] == "제주 성산일출봉"
    error = post_json(api, LIST_URL, {"prompt": "x"}, HTTP_ACCEPT_LANGUAGE="ko")
    refused = post_json(
        api, LIST_URL, {"prompt": "Seoul", "aspect": "custom"}, HTTP_ACCEPT_LANGUAGE="ko"
    )
    assert error.status_code == 201 and refused.status_code == 400
    assert b"\\u" not in refused.content and HANGUL.search(refused.content.decode())


def test_presets_list_what_the_preset_field_takes(api, presets):
    from imagegen.models import Preset

    results = api.get(reverse("api:presets")).json()["results"]
    active = list(Preset.objects.filter(active=True))
    assert [item["id"] for item in results] == [preset.pk for preset in active]
    outfit = next(item for item in results if item["name"] == "Outfit lookbook")
    assert (outfit["aspect"], outfit["width"], outfit["height"]) == ("portrait", 768, 1024)
    korean = api.get(reverse("api:presets"), HTTP_ACCEPT_LANGUAGE="ko").json()["results"]
    assert all(HANGUL.search(item["name"]) for item in korean)
    made = post_json(api, LIST_URL, {"prompt": "Seoul", "preset": outfit["id"]}).json()
    assert (made["results"][0]["width"], made["results"][0]["height"]) == (768, 1024)


def test_capabilities_say_what_a_request_may_ask_for(api, user, settings, steps_provider):
    from imagegen.tiers import primary_provider

    caps = api.get(reverse("api:capabilities")).json()
    assert caps["provider"] == "hf_inference"
    hf = primary_provider().capabilities
    assert caps["width"] == {"minimum": hf.min_size, "maximum": hf.max_size, "multiple_of": 64}
    assert caps["height"] == caps["width"]
    assert caps["aspects"]["wide"] == {"width": 1024, "height": 576}
    assert caps["steps"] == {"minimum": 1, "maximum": 50}
    assert caps["guidance"] == {"minimum": 0.0, "maximum": 20.0}
    assert caps["max_batch"] == 4 and caps["max_prompt_length"] == 1000
    # Every bound it names is the one the API holds to.
    over = {"prompt": "x", "aspect": "custom", "width": caps["width"]["maximum"] + 64}
    assert post_json(api, LIST_URL, {**over, "height": 512}).status_code == 400
    at = {"prompt": "x", "aspect": "custom", "width": caps["width"]["maximum"], "height": 512}
    assert post_json(api, LIST_URL, {**at, "steps": caps["steps"]["maximum"]}).status_code == 201
    settings.IMAGEGEN_PROVIDERS = ["demo"]
    demo = api.get(reverse("api:capabilities")).json()
    assert demo["steps"] is None and demo["guidance"] is None


@pytest.mark.parametrize(
    ("daily", "monthly", "period"), [(1, 300, "day"), (5, 1, "month")], ids=["day", "month"]
)
def test_over_quota_answers_429_with_the_reset_and_queues_nothing(
    api, user, daily, monthly, period
):
    set_limits(user, daily=daily, monthly=monthly)
    submit(user)
    response = post_json(api, LIST_URL, VALID)
    assert response.status_code == 429
    error = response.json()["error"]
    assert (error["code"], error["period"]) == ("over_quota", period)
    periods = services.Periods.current()
    expected = periods.day_resets_at() if period == "day" else periods.month_resets_at()
    assert datetime.datetime.fromisoformat(error["resets_at"]) == expected
    seconds = int(response["Retry-After"])
    assert abs(timezone.now() + datetime.timedelta(seconds=seconds) - expected).total_seconds() < 5
    assert Generation.objects.filter(owner=user).count() == 1


# --- Reading -------------------------------------------------------------------------------


def test_the_list_is_paged_newest_first_20_a_page_with_a_cursor(api, user):
    set_limits(user, daily=50)
    for i in range(25):
        submit(user, f"trip {i}")
    first = api.get(LIST_URL).json()
    assert [item["prompt"] for item in first["results"][:2]] == ["trip 24", "trip 23"]
    assert len(first["results"]) == 20
    assert first["next"].startswith(f"http://testserver{LIST_URL}?cursor=")
    second = api.get(first["next"]).json()
    assert [item["prompt"] for item in second["results"]] == [f"trip {i}" for i in range(4, -1, -1)]
    assert second["next"] is None


def test_pages_do_not_shift_when_generations_are_added_meanwhile(api, user):
    set_limits(user, daily=50)
    for i in range(5):
        submit(user, f"old {i}")
    first = api.get(LIST_URL, {"limit": 2}).json()
    assert [item["prompt"] for item in first["results"]] == ["old 4", "old 3"]
    for i in range(3):
        submit(user, f"new {i}")
    second = api.get(first["next"]).json()
    assert [item["prompt"] for item in second["results"]] == ["old 2", "old 1"]
    third = api.get(second["next"]).json()
    assert [item["prompt"] for item in third["results"]] == ["old 0"]
    assert third["next"] is None


def test_generations_made_in_the_same_instant_are_each_listed_once(api, user):
    set_limits(user, daily=50)
    made = [submit(user, f"batch {i}") for i in range(5)]
    Generation.objects.filter(pk__in=[g.pk for g in made]).update(created_at=made[0].created_at)
    seen, url = [], LIST_URL + "?limit=2"
    while url:
        page = api.get(url).json()
        seen += [item["id"] for item in page["results"]]
        url = page["next"]
    assert sorted(seen) == sorted(str(g.pk) for g in made)


def test_the_list_filters_by_status_and_keeps_the_filter_across_pages(api, user):
    set_limits(user, daily=50)
    done = make_done(user, "done one")
    for i in range(21):
        submit(user, f"waiting {i}")
    succeeded = api.get(LIST_URL, {"status": "succeeded"}).json()
    assert [item["id"] for item in succeeded["results"]] == [str(done.pk)]
    queued = api.get(LIST_URL, {"status": "queued"}).json()
    assert len(queued["results"]) == 20
    assert {item["status"] for item in queued["results"]} == {"queued"}
    assert "status=queued" in queued["next"]
    assert [item["prompt"] for item in api.get(queued["next"]).json()["results"]] == ["waiting 0"]


def test_the_list_has_the_gallerys_filters(api, user):
    set_limits(user, daily=50)
    done = make_done(user, "Jeju green tea fields")
    failed = submit(user, "Jeju failed one")
    services.fail_generation(failed.pk, user_message="It broke.", detail="boom")
    waiting = submit(user, "Busan harbour")
    services.set_favourite(generation_id=waiting.pk, user=user, favourite=True)

    def ids(**query):
        return [item["id"] for item in api.get(LIST_URL, query).json()["results"]]

    assert ids(show="done") == [str(done.pk)]
    assert ids(show="failed") == [str(failed.pk)]
    assert ids(show="active") == [str(waiting.pk)]
    assert ids(favourites="true") == [str(waiting.pk)]
    assert ids(q="jeju tea") == [str(done.pk)]
    assert ids(q="jeju", show="failed") == [str(failed.pk)]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"status": "lost"}, "status"),
        ({"show": "everything"}, "show"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"q": "Jeju\x00"}, "q"),
    ],
)
def test_a_bad_filter_or_cursor_is_refused_naming_it(api, user, query, field):
    submit(user)
    response = api.get(LIST_URL, query)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert field in error["fields"]


def test_the_list_query_count_does_not_grow_with_the_page(api, user, django_assert_max_num_queries):
    set_limits(user, daily=50)
    make_done(user)
    make_running(user)
    submit(user)
    with django_assert_max_num_queries(20) as few:
        assert len(api.get(LIST_URL).json()["results"]) == 3
    for i in range(5):
        make_done(user, f"done {i}")
        make_running(user, f"running {i}")
    for i in range(12):
        submit(user, f"queued {i}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(api.get(LIST_URL).json()["results"]) == 20


def test_list_items_say_what_getting_each_one_says(api, user, make_user):
    # The list fills the live-status fields from one read per page; it must agree with
    # views.status_payload(), which answers for a single generation.
    someone = make_user("carol")
    submit(someone, "ahead in the queue")  # positions count every user's queue
    make_done(user, "finished before")  # a typical duration, so estimates are not empty
    failed = submit(user, "failed one")
    services.fail_generation(failed.pk, user_message="It broke.", detail="boom")
    running = make_running(user)
    submit(user, "queued one")
    submit(user, "queued two")
    listed = api.get(LIST_URL).json()["results"]
    assert {item["status"] for item in listed} == {"succeeded", "failed", "running", "queued"}
    assert [item["position"] for item in listed if item["status"] == "queued"] == [3, 2]
    assert all(item["estimated_seconds"] is not None for item in listed if item["active"])
    for item in listed:
        single = api.get(reverse("api:generation", args=[item["id"]])).json()
        if item["id"] == str(running.pk):
            # Elapsed time moves on between the two requests.
            for moving in ("elapsed_seconds", "estimated_seconds"):
                assert item.pop(moving) == pytest.approx(single.pop(moving), abs=0.5)
        assert item == single


def test_one_generation_shows_its_parameters(api, user):
    generation = make_done(user, "Hoi An lanterns")
    body = api.get(item_url(generation)).json()
    assert body["status"] == "succeeded"
    assert (body["provider"], body["actual_seed"] is not None, body["favourite"]) == (
        "demo",
        True,
        False,
    )
    assert (
        body["detail_url"] == f"http://testserver{reverse('imagegen:detail', args=[generation.pk])}"
    )
    assert datetime.datetime.fromisoformat(body["created_at"]) == generation.created_at.replace(
        microsecond=generation.created_at.microsecond // 1000 * 1000
    )


def test_the_quota_endpoint_counts_what_is_left(api, user):
    set_limits(user, daily=2, monthly=10)
    submit(user)
    assert api.get(QUOTA_URL).json() == {
        "daily_limit": 2,
        "day_left": 1,
        "monthly_limit": 10,
        "month_left": 9,
        "resets_at": None,
    }
    submit(user)
    resets_at = api.get(QUOTA_URL).json()["resets_at"]
    assert datetime.datetime.fromisoformat(resets_at) == services.Periods.current().day_resets_at()


# --- Privacy and authentication ------------------------------------------------------------


def test_another_users_generation_is_not_found_like_a_missing_one(api, other):
    theirs = submit(other)
    missing = reverse("api:generation", args=[uuid.uuid4()])
    for method, url in [
        ("get", item_url(theirs)),
        ("post", reverse("api:cancel", args=[theirs.pk])),
        ("post", reverse("api:retry", args=[theirs.pk])),
        ("put", reverse("api:favourite", args=[theirs.pk])),
        ("put", reverse("api:share", args=[theirs.pk])),
        ("delete", reverse("api:share", args=[theirs.pk])),
        ("get", reverse("api:image", args=[theirs.pk])),
        ("delete", item_url(theirs)),
        ("get", missing),
    ]:
        response = getattr(api, method)(url)
        assert response.status_code == 404, (method, url)
        assert response.json()["error"]["code"] == "not_found"
    theirs.refresh_from_db()
    assert theirs.status == Generation.Status.QUEUED
    assert api.get(LIST_URL).json()["results"] == []


def test_an_unknown_bearer_key_is_401_even_with_a_signed_in_session(user_client, user):
    submit(user)
    response = user_client.get(LIST_URL, **bearer("tf_not-a-key"))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert len(user_client.get(LIST_URL).json()["results"]) == 1  # the session alone works


def test_anonymous_callers_get_401_json(client):
    response = client.get(LIST_URL)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"


def test_the_key_acts_as_its_owner_not_the_signed_in_user(client, user, other, key):
    submit(user, "alice's")
    client.force_login(other)
    results = client.get(LIST_URL, **bearer(key)).json()["results"]
    assert [item["prompt"] for item in results] == ["alice's"]


def test_a_wrong_method_is_405_json_with_allow(api):
    response = api.put(LIST_URL)
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert response["Allow"] == "GET, HEAD, POST"


def test_unknown_api_addresses_answer_json_404(api):
    for url in ("/api/v1/nothing", "/api/v1/generations/not-a-uuid", LIST_URL + "/", "/api/v1/"):
        response = api.post(url)
        assert response.status_code == 404, url
        assert response.json()["error"]["code"] == "not_found"


# --- Cancel and delete ---------------------------------------------------------------------


def test_cancel_refunds_the_quota(api, user):
    response = post_json(api, LIST_URL, VALID)
    assert Quota.objects.get(user=user).day_used == 1
    canceled = api.post(reverse("api:cancel", args=[response.json()["results"][0]["id"]]))
    assert canceled.status_code == 200
    assert (canceled.json()["status"], canceled.json()["active"]) == ("canceled", False)
    assert Quota.objects.get(user=user).day_used == 0


def test_cancel_after_it_finished_is_a_conflict(api, user):
    generation = make_done(user)
    response = api.post(reverse("api:cancel", args=[generation.pk]))
    assert response.status_code == 409
    error = response.json()["error"]
    assert (error["code"], error["status"]) == ("conflict", "succeeded")
    assert Quota.objects.get(user=user).day_used == 1


def test_delete_removes_the_generation_and_its_files(api, user, django_capture_on_commit_callbacks):
    generation = make_done(user)
    files = [generation.image.name, generation.thumbnail.name, generation.labelled_image.name]
    assert all(files) and all(default_storage.exists(name) for name in files)
    with django_capture_on_commit_callbacks(execute=True):  # files go once the delete commits
        response = api.delete(item_url(generation))
    assert response.status_code == 204
    assert not Generation.objects.filter(pk=generation.pk).exists()
    assert not any(default_storage.exists(name) for name in files)


def test_delete_while_running_is_a_conflict(api, user):
    generation = make_running(user)
    response = api.delete(item_url(generation))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conflict"
    assert Generation.objects.filter(pk=generation.pk).exists()


# --- The whole slice -----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_post_run_the_queue_and_fetch_the_image_with_a_key(client, user, key):
    created = post_json(client, LIST_URL, VALID, **bearer(key))
    assert created.status_code == 201

    assert run_queued_tasks() == 1

    body = client.get(created["Location"], **bearer(key)).json()
    assert body["status"] == "succeeded"
    image = client.get(body["image_url"], **bearer(key))
    assert image.status_code == 200
    picture = Image.open(io.BytesIO(b"".join(image.streaming_content)))
    assert (picture.format, picture.size) == ("PNG", (512, 384))
    thumbnail = client.get(body["thumbnail_url"], **bearer(key))
    assert thumbnail["Content-Type"] == "image/webp"


# --- CORS ----------------------------------------------------------------------------------


@pytest.fixture
def front_end(settings):
    origin = "http://localhost:3000"
    settings.ALLOWED_ORIGINS = [origin]
    settings.CORS_ALLOWED_ORIGINS = [origin]
    return origin


def test_an_allowed_origin_gets_cors_headers(api, front_end):
    response = api.get(QUOTA_URL, HTTP_ORIGIN=front_end)
    assert response["Access-Control-Allow-Origin"] == front_end
    # The documented answer headers are readable by the page's script too.
    exposed = {name.strip() for name in response["Access-Control-Expose-Headers"].split(",")}
    assert {"Location", "Retry-After", "RateLimit", "X-Request-ID"} <= exposed
    preflight = api.options(
        LIST_URL,
        HTTP_ORIGIN=front_end,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, content-type",
    )
    assert preflight.status_code == 200
    assert "authorization" in preflight["Access-Control-Allow-Headers"]


def test_another_origin_gets_no_cors_headers(api, front_end):
    response = api.get(QUOTA_URL, HTTP_ORIGIN="https://elsewhere.example")
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response


# --- The API keys page ---------------------------------------------------------------------


def test_the_keys_page_needs_a_login(client):
    response = client.get(KEYS_URL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_a_new_key_is_shown_once_and_works(user_client, user):
    made = user_client.post(KEYS_URL, {"name": "holiday script"})
    assert made.status_code == 302  # so that a reload cannot make a second key
    response = user_client.get(made["Location"])
    assert "no-store" in response["Cache-Control"]
    key = response.context["new_key"]
    page = response.content.decode()
    assert key.startswith("tf_")
    assert key in page
    assert f'curl -H "Authorization: Bearer {key}" http://testserver{LIST_URL}' in page
    again = user_client.get(KEYS_URL).content.decode()
    assert key not in again
    assert "holiday script" in again
    assert key[:10] in again  # the prefix tells keys apart
    assert Client().get(QUOTA_URL, **bearer(key)).status_code == 200


def test_a_key_is_stored_only_as_its_hash(user_client, user):
    key = user_client.post(KEYS_URL, {"name": "ci"}, follow=True).context["new_key"]
    token = ApiToken.objects.get(user=user)
    assert token.key_hash != key
    assert token.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert not ApiToken.objects.filter(prefix=key).exists()


@pytest.mark.parametrize("name", ["", "   ", "x" * 81])
def test_a_key_needs_a_short_name(user_client, user, name):
    response = user_client.post(KEYS_URL, {"name": name})
    assert response.context["new_key"] is None
    assert response.context["form"].errors["name"]
    assert not ApiToken.objects.exists()


def test_revoking_a_key_makes_it_401(user_client, user, key):
    script = Client()
    token = ApiToken.objects.get(user=user)
    assert script.get(QUOTA_URL, **bearer(key)).status_code == 200
    response = user_client.post(reverse("revoke_key", args=[token.pk]))
    assert response.status_code == 302
    assert script.get(QUOTA_URL, **bearer(key)).status_code == 401
    assert not ApiToken.objects.filter(pk=token.pk).exists()


def test_someone_elses_key_cannot_be_revoked(client, other, key, user):
    token = ApiToken.objects.get(user=user)
    client.force_login(other)
    assert client.post(reverse("revoke_key", args=[token.pk])).status_code == 404
    assert ApiToken.objects.filter(pk=token.pk).exists()
    assert "alice-laptop" not in client.get(KEYS_URL).content.decode()


def test_a_keys_last_use_is_written_at_most_once_a_minute(user):
    token, key = services.create_api_token(user=user, name="busy script")
    assert Client().get(QUOTA_URL, **bearer(key)).status_code == 200
    token.refresh_from_db()
    first = token.last_used_at
    assert first is not None
    Client().get(QUOTA_URL, **bearer(key))
    token.refresh_from_db()
    assert token.last_used_at == first
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=first - datetime.timedelta(minutes=2))
    Client().get(QUOTA_URL, **bearer(key))
    token.refresh_from_db()
    assert token.last_used_at > first - datetime.timedelta(minutes=1)


# --- Retry, favourites, sharing -------------------------------------------------------------


def test_retry_queues_a_new_generation_with_the_same_parameters(api, user):
    generation = make_done(user, "Sintra palace")
    response = api.post(reverse("api:retry", args=[generation.pk]))
    assert response.status_code == 201
    again = response.json()
    assert again["id"] != str(generation.pk)
    assert (again["prompt"], again["status"]) == ("Sintra palace", "queued")
    assert (
        response["Location"] == f"http://testserver{reverse('api:generation', args=[again['id']])}"
    )
    assert Quota.objects.get(user=user).day_used == 2


def test_retry_over_quota_is_429_and_makes_nothing(api, user):
    set_limits(user, daily=1)
    generation = make_done(user)
    response = api.post(reverse("api:retry", args=[generation.pk]))
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "over_quota"
    assert Generation.objects.filter(owner=user).count() == 1


def test_favourite_and_unfavourite(api, user):
    generation = make_done(user)
    url = reverse("api:favourite", args=[generation.pk])
    assert api.put(url).json()["favourite"] is True
    generation.refresh_from_db()
    assert generation.favourite
    assert api.delete(url).json()["favourite"] is False
    generation.refresh_from_db()
    assert not generation.favourite


def test_share_gives_a_working_link_and_unshare_turns_it_off(api, user, client):
    generation = make_done(user)
    url = reverse("api:share", args=[generation.pk])
    share_url = api.put(url).json()["share_url"]
    generation.refresh_from_db()
    assert share_url == (
        f"http://testserver{reverse('imagegen:shared', args=[generation.share_token])}"
    )
    assert api.put(url).json()["share_url"] == share_url  # the same link while shared
    assert api.get(item_url(generation)).json()["share_url"] == share_url
    assert Client().get(share_url).status_code == 200
    assert api.delete(url).json() == {"share_url": None}
    assert Client().get(share_url).status_code == 404


def test_an_unfinished_image_cannot_be_shared(api, user):
    generation = submit(user)
    response = api.put(reverse("api:share", args=[generation.pk]))
    assert response.status_code == 409
    assert response.json()["error"]["status"] == "queued"


def test_the_download_names_the_file_only_when_asked(api, user):
    generation = make_done(user)
    url = reverse("api:image", args=[generation.pk])
    assert "attachment" not in api.get(url).get("Content-Disposition", "")
    downloaded = api.get(url, {"download": "true"})
    assert f'filename="{generation.download_name}"' in downloaded["Content-Disposition"]


def test_the_image_of_ones_own_unfinished_generation_is_409_with_its_status(api, user, other):
    queued, running = submit(user), make_running(user)
    failed = submit(user)
    services.fail_generation(failed.pk, user_message="It broke.", detail="test")
    for generation, status in ((queued, "queued"), (running, "running"), (failed, "failed")):
        for name in ("api:image", "api:thumbnail"):
            answer = api.get(reverse(name, args=[generation.pk]))
            assert answer.status_code == 409, (name, status)
            error = answer.json()["error"]
            assert (error["code"], error["status"]) == ("conflict", status)
    # Someone else's, unfinished or not, is not found: nothing says it exists.
    for theirs in (submit(other), make_done(other)):
        for name in ("api:image", "api:thumbnail"):
            assert api.get(reverse(name, args=[theirs.pk])).status_code == 404


def get_operations(client):
    """Every path the schema lists a GET for (path parameters still in braces)."""
    schema = client.get(reverse("api:openapi-json")).json()
    return [path for path, methods in schema["paths"].items() if "get" in methods]


def test_head_is_allowed_on_every_get_operation_with_the_gets_headers(api, user, settings):
    from imagegen.services import trips
    from tests import photos
    from tests.test_trips_service import manual_draft

    generation = make_done(user)
    trip = trips.create_trip(user=user, draft=manual_draft(settings, days=1))
    for day in trip.days.all():  # made, as a worker would: the trip's sheet has a picture
        run_generation(str(day.generation_id))
    photo = api.post(
        reverse("api:uploads"),
        {"file": io.BytesIO(photos.jpeg_with_gps())},
        format="multipart",
    ).json()["id"]
    paths = get_operations(api)
    assert len(paths) >= 10
    for path in paths:
        url = path.format(generation_id=generation.pk, upload_id=photo, trip_id=trip.pk)
        got, head = api.get(url), api.head(url)
        assert head.status_code == got.status_code == 200, (url, head.status_code)
        body = b"".join(got.streaming_content) if got.streaming else got.content
        for name in ("Content-Type", "Content-Length", "Content-Language", "Cache-Control"):
            assert head.get(name) == got.get(name), (url, name)
        assert int(head["Content-Length"]) == len(body), url
        assert not (b"".join(head.streaming_content) if head.streaming else head.content)
    # HEAD where only POST is taken is refused like any other method, and Allow says so.
    refused = api.head(reverse("api:cancel", args=[generation.pk]))
    assert (refused.status_code, refused["Allow"]) == (405, "POST")


def test_head_sends_no_body_through_the_real_server(serve_site, make_user):
    """The server in front sends what the view gives: headers, and not a byte of the image."""
    import httpx

    site = serve_site()
    owner = make_user("header")
    generation = make_done(owner)
    key = services.create_api_token(user=owner, name="head")[1]
    with httpx.Client(base_url=site, headers={"Authorization": f"Bearer {key}"}) as live:
        url = reverse("api:image", args=[generation.pk])
        got, head = live.get(url), live.head(url)
        assert (got.status_code, head.status_code) == (200, 200)
        assert head.headers["content-length"] == str(len(got.content))
        assert head.headers["content-type"] == "image/png" and head.content == b""
        listing = live.head(LIST_URL)
        assert listing.status_code == 200 and listing.content == b""
        assert int(listing.headers["content-length"]) == len(live.get(LIST_URL).content)


# --- Callbacks and idempotency --------------------------------------------------------------


@pytest.fixture
def public_urls(settings):
    """Callback URLs may point anywhere (no DNS look-up of the public internet in tests)."""
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True


def test_a_callback_url_is_kept_on_each_generation_with_the_key(api, user, public_urls):
    hook = "http://127.0.0.1:9/hook"
    response = post_json(api, LIST_URL, {**VALID, "n": 2, "callback_url": hook})
    assert response.status_code == 201, response.content
    assert {item["callback_url"] for item in response.json()["results"]} == {hook}
    token = ApiToken.objects.get(user=user)
    generations = Generation.objects.filter(owner=user)
    assert {(g.callback_url, g.api_token_id) for g in generations} == {(hook, token.pk)}


def test_without_a_callback_url_the_keys_default_applies(api, user, public_urls):
    ApiToken.objects.filter(user=user).update(default_callback_url="http://127.0.0.1:9/default")
    assert post_json(api, LIST_URL, VALID).status_code == 201
    assert Generation.objects.get(owner=user).callback_url == "http://127.0.0.1:9/default"


def test_a_callback_url_the_policy_refuses_is_named(api, user):
    response = post_json(api, LIST_URL, {**VALID, "callback_url": "ftp://example.com/x"})
    assert response.status_code == 400
    assert "callback_url" in response.json()["error"]["fields"]
    assert not Generation.objects.exists()


def test_the_same_idempotency_key_replays_the_first_answer_and_charges_once(api, user):
    headers = {"HTTP_IDEMPOTENCY_KEY": "order-42"}
    first = post_json(api, LIST_URL, {**VALID, "n": 2}, **headers)
    again = post_json(api, LIST_URL, {**VALID, "n": 2}, **headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert Generation.objects.filter(owner=user).count() == 2
    assert Quota.objects.get(user=user).day_used == 2
    other = post_json(api, LIST_URL, {**VALID, "n": 1}, **headers)
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_key_reused"


def test_a_key_over_its_rate_limit_gets_429_with_retry_after(api, user, settings):
    settings.API_RATE_LIMIT = 2
    assert api.get(QUOTA_URL).status_code == 200
    assert api.get(QUOTA_URL).status_code == 200
    response = api.get(QUOTA_URL)
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(response["Retry-After"]) <= 60
