"""Webhooks: Standard Webhooks signatures, delivery to a real receiver, retries, the URL policy."""

import ast
import base64
import datetime
import hashlib
import hmac
import ipaddress
import json
import logging
import socket

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from django_q.models import Schedule
from standardwebhooks import Webhook

from imagegen import services, webhooks
from imagegen.models import Generation, WebhookDelivery
from lib.redaction import redact
from tests.conftest import run_queued_tasks
from tests.fakes.webhook_receiver import start_receiver

Outcome = WebhookDelivery.Outcome


@pytest.fixture
def receiver():
    server = start_receiver()
    yield server
    server.stop()


@pytest.fixture
def private_urls(settings):
    """Callback URLs on loopback are allowed, as a receiver on the same network would be."""
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    return settings


@pytest.fixture
def token(user):
    return services.create_api_token(user=user, name="hooks")[0]


def ended(user, token, url, *, status=Generation.Status.FAILED, finished_at=None):
    """A generation that has ended, straight in the table (no task queued for it)."""
    return Generation.objects.create(
        owner=user,
        prompt="Seoul at night",
        width=64,
        height=64,
        status=status,
        error_message="The provider refused.",
        finished_at=finished_at or timezone.now(),
        callback_url=url,
        api_token=token,
    )


def verified(received, secret):
    """The body, after the standardwebhooks reference library checked its signature."""
    return Webhook(secret).verify(received.body, received.headers)


def _is_address(host):
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def scheduled(generation):
    return [
        (ast.literal_eval(row.args), row.next_run)
        for row in Schedule.objects.filter(func=webhooks.DELIVER).order_by("next_run")
        if ast.literal_eval(row.args)[0] == str(generation.pk)
    ]


# --- Signatures ----------------------------------------------------------------------------------


def test_signature_matches_the_reference_librarys_known_vector():
    # The standardwebhooks Python library's own test_sign_function values.
    signature = webhooks.sign(
        secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        event_id="msg_p5jXN8AQM9LWM0D4loKWxJek",
        timestamp=1614265330,
        body='{"test": 2432232314}',
    )
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_signature_is_hmac_sha256_of_id_timestamp_and_body_keyed_with_the_secrets_bytes():
    secret = webhooks.new_webhook_secret()
    body = b'{"type":"generation.succeeded"}'
    signature = webhooks.sign(secret=secret, event_id="msg_abc", timestamp=1700000000, body=body)
    key = base64.b64decode(secret.removeprefix("whsec_"))
    by_hand = hmac.new(key, b"msg_abc.1700000000." + body, hashlib.sha256).digest()
    assert signature == "v1," + base64.b64encode(by_hand).decode()


def test_a_new_secret_is_whsec_and_base64_of_32_random_bytes():
    first, second = webhooks.new_webhook_secret(), webhooks.new_webhook_secret()
    assert first.startswith("whsec_") and first != second
    assert len(base64.b64decode(first.removeprefix("whsec_"))) == 32


def test_every_key_gets_its_own_webhook_secret(user):
    one = services.create_api_token(user=user, name="one")[0]
    two = services.create_api_token(user=user, name="two")[0]
    assert one.webhook_secret.startswith("whsec_")
    assert one.webhook_secret != two.webhook_secret


def test_redaction_blanks_webhook_secrets():
    secret = webhooks.new_webhook_secret()
    assert secret not in redact(f"the secret is {secret}.")


# --- The URL policy ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://127.8.9.10/hook",
        "https://10.1.2.3/hook",
        "https://172.16.0.5/hook",
        "https://192.168.1.1/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://100.64.0.1/hook",
        "https://0.0.0.0/hook",
        "https://[::1]/hook",
        "https://[fe80::1]/hook",
        "https://[fd00::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://224.0.0.1/hook",
        "https://localhost/hook",
        "https://localhost:8443/hook",
    ],
)
def test_private_loopback_and_link_local_addresses_are_refused(settings, url):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    with pytest.raises(ValidationError) as refused:
        webhooks.check_callback_url(url)
    assert refused.value.code == "callback_url_not_public"
    assert "public internet" in refused.value.messages[0]


@pytest.mark.parametrize(
    "url",
    [
        "https://[64:ff9b::7f00:1]/hook",  # NAT64 of 127.0.0.1
        "https://[64:ff9b::a00:1]/hook",  # NAT64 of 10.0.0.1
        "https://[64:ff9b:1::a9fe:a9fe]/hook",  # local-use NAT64 (169.254.169.254)
        "https://[2002:7f00:1::1]/hook",  # 6to4 of 127.0.0.1
        "https://[2002:a9fe:a9fe::1]/hook",  # 6to4 of the cloud metadata address
        "https://[::127.0.0.1]/hook",  # IPv4-compatible
        "https://[::a9fe:a9fe]/hook",
        "https://192.0.0.8/hook",  # IETF protocol assignments
        "https://192.0.0.171/hook",
    ],
)
def test_ipv4_addresses_inside_ipv6_ones_are_checked_too(settings, url):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    with pytest.raises(ValidationError) as refused:
        webhooks.check_callback_url(url)
    assert refused.value.code == "callback_url_not_public"


@pytest.mark.parametrize(
    "url", ["https://[64:ff9b::5db8:d70e]/hook", "https://[2002:5db8:d70e::1]/hook"]
)
def test_a_public_ipv4_address_inside_nat64_or_6to4_is_public(settings, url):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    assert webhooks.check_callback_url(url) == url  # 93.184.215.14 inside


def test_staff_are_told_which_setting_allows_local_receivers(settings, make_user):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    settings.DEBUG = False
    for url in ("https://127.0.0.1/hook", "http://example.com/hook"):
        with pytest.raises(ValidationError) as for_staff:
            webhooks.check_callback_url(url, for_staff=True)
        assert "WEBHOOK_ALLOW_PRIVATE_URLS=true" in for_staff.value.messages[0]
        with pytest.raises(ValidationError) as for_users:
            webhooks.check_callback_url(url)
        assert "WEBHOOK_" not in for_users.value.messages[0]
    staff = services.create_api_token(user=make_user("ops", is_staff=True), name="ops")[1]
    from django.test import Client

    api = Client(HTTP_AUTHORIZATION=f"Bearer {staff}")
    body = {"prompt": "x", "callback_url": "https://127.0.0.1:8443/hook"}
    answer = api.post(reverse("api:generations"), json.dumps(body), content_type="application/json")
    assert "WEBHOOK_ALLOW_PRIVATE_URLS" in answer.json()["error"]["fields"]["callback_url"][0]


def test_the_korean_refusal_reads_right_after_an_address(settings):
    from django.utils import translation

    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    with translation.override("ko"), pytest.raises(ValidationError) as refused:
        webhooks.check_callback_url("https://127.0.0.1/hook")
    message = refused.value.messages[0]
    assert "(127.0.0.1)는" in message and "127.0.0.1예요" not in message


def test_a_public_address_is_accepted(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    url = "https://93.184.215.14/travelfit?x=1"
    assert webhooks.check_callback_url(f"  {url} ") == url


def test_only_https_while_debug_is_off(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    settings.DEBUG = False
    with pytest.raises(ValidationError) as refused:
        webhooks.check_callback_url("http://93.184.215.14/hook")
    assert refused.value.code == "callback_url_not_https"
    settings.DEBUG = True
    assert webhooks.check_callback_url("http://93.184.215.14/hook")


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("https://user:pass@93.184.215.14/hook", "callback_url_has_credentials"),
        ("ftp://93.184.215.14/hook", "callback_url_invalid"),
        ("not a url", "callback_url_invalid"),
        ("https:///hook", "callback_url_invalid"),
        ("https://93.184.215.14:99999/hook", "callback_url_invalid"),
        ("https://93.184.215.14/" + "a" * 2000, "callback_url_too_long"),
        ("https://no-such-host.invalid/hook", "callback_url_unresolvable"),
    ],
)
def test_malformed_urls_are_refused_with_a_reason(settings, url, code):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    with pytest.raises(ValidationError) as refused:
        webhooks.check_callback_url(url)
    assert refused.value.code == code


def test_the_private_url_setting_allows_loopback_and_plain_http(private_urls):
    private_urls.DEBUG = False
    assert webhooks.check_callback_url("http://localhost:9/hook") == "http://localhost:9/hook"


def test_a_request_without_callback_url_gets_the_keys_default(private_urls, user):
    token = services.create_api_token(
        user=user, name="default", default_callback_url="http://127.0.0.1:9/default"
    )[0]
    assert webhooks.resolve_callback_url(api_token=token) == "http://127.0.0.1:9/default"
    assert (
        webhooks.resolve_callback_url(api_token=token, callback_url="http://127.0.0.1:9/own")
        == "http://127.0.0.1:9/own"
    )


def test_a_callback_needs_a_key_with_a_secret(private_urls, token):
    with pytest.raises(ValidationError) as refused:
        webhooks.resolve_callback_url(api_token=None, callback_url="http://127.0.0.1:9/h")
    assert refused.value.code == "callback_url_needs_key"
    token.webhook_secret = ""  # a key made before webhooks existed
    with pytest.raises(ValidationError):
        webhooks.resolve_callback_url(api_token=token, callback_url="http://127.0.0.1:9/h")
    assert webhooks.resolve_callback_url(api_token=None) == ""


def test_a_keys_default_url_is_checked_when_the_key_is_made(settings, user):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    with pytest.raises(ValidationError):
        services.create_api_token(
            user=user, name="x", default_callback_url="https://127.0.0.1/hook"
        )


# --- Delivery ------------------------------------------------------------------------------------


def test_a_generation_that_ends_calls_its_callback_once_signed(
    private_urls, transactional_db, receiver, user, token
):
    generation = services.submit_generation(
        user=user,
        prompt="Busan harbour",
        width=256,
        height=256,
        callback_url=receiver.url(),
        api_token=token,
    )
    assert run_queued_tasks() == 2  # the generation, then its webhook
    assert run_queued_tasks() == 0
    assert len(receiver.received) == 1
    call = receiver.received[0]
    assert call.path == "/hook"
    assert call.headers["webhook-id"] == "msg_" + generation.pk.hex
    assert call.headers["content-type"] == "application/json"
    assert abs(int(call.headers["webhook-timestamp"]) - timezone.now().timestamp()) < 60
    event = verified(call, token.webhook_secret)
    assert event == json.loads(call.body)
    assert event["type"] == "generation.succeeded"
    assert event["data"]["id"] == str(generation.pk)
    assert event["data"]["status"] == "succeeded"
    assert event["data"]["prompt"] == "Busan harbour"
    assert event["data"]["image_url"].endswith(f"{generation.pk}/image.png")
    delivery = WebhookDelivery.objects.get()
    assert (delivery.outcome, delivery.status_code, delivery.attempt) == (
        Outcome.DELIVERED,
        200,
        1,
    )
    assert delivery.response_excerpt == "ok"
    assert delivery.url == receiver.url()


def test_links_in_the_body_are_absolute_with_site_url(private_urls, receiver, user, token):
    private_urls.SITE_URL = "https://travelfit.example.com"
    generation = ended(user, token, receiver.url())
    webhooks.deliver(generation.pk)
    event = json.loads(receiver.received[0].body)
    assert event["data"]["detail_url"] == "https://travelfit.example.com" + reverse(
        "imagegen:detail", args=[generation.pk]
    )


def test_without_site_url_links_start_where_the_generation_was_asked_for(
    private_urls, transactional_db, receiver, user, token, client
):
    """One rule for the API's answers and the webhook: absolute, from the creating request."""
    from django.test import Client

    private_urls.SITE_URL = ""
    private_urls.ALLOWED_HOSTS = ["api.travelfit.example", "internal.example"]
    key = services.create_api_token(user=user, name="links")[1]
    api = Client(HTTP_AUTHORIZATION=f"Bearer {key}", HTTP_HOST="api.travelfit.example")
    made = api.post(
        reverse("api:generations"),
        json.dumps({"prompt": "Busan harbour", "callback_url": receiver.url()}),
        content_type="application/json",
        secure=True,
    )
    assert made.status_code == 201
    run_queued_tasks()
    run_queued_tasks()
    event = json.loads(receiver.received[0].body)
    item = api.get(reverse("api:generation", args=[event["data"]["id"]]), secure=True).json()
    image_url = f"https://api.travelfit.example/api/v1/generations/{item['id']}/image.png"
    assert event["data"]["image_url"] == item["image_url"] == image_url
    assert event["data"]["detail_url"] == item["detail_url"]
    assert item["detail_url"].startswith("https://api.travelfit.example/g/")
    # Asked about through another host name, the links stay the creating request's.
    elsewhere = Client(HTTP_AUTHORIZATION=f"Bearer {key}", HTTP_HOST="internal.example")
    assert elsewhere.get(reverse("api:generation", args=[item["id"]])).json()["image_url"] == (
        image_url
    )


def _made_through_the_api(user, receiver, **headers):
    """A generation asked for over the API (with `headers`), made, and its webhook sent."""
    from django.test import Client

    key = services.create_api_token(user=user, name=f"lang-{len(receiver.received)}")[1]
    api = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    made = api.post(
        reverse("api:generations"),
        json.dumps({"prompt": "제주 성산일출봉, 해 뜰 녘", "callback_url": receiver.url()}),
        content_type="application/json",
        **headers,
    )
    assert made.status_code == 201, made.content
    run_queued_tasks()
    run_queued_tasks()
    return made.json()["results"][0]


def test_a_webhook_speaks_the_language_of_the_request_that_made_the_work(
    private_urls, transactional_db, receiver, user
):
    """Not the owner's profile: an integrator asking in English hears back in English."""
    from accounts.models import Profile

    Profile.objects.create(user=user, language="ko")
    english = _made_through_the_api(user, receiver)
    korean = _made_through_the_api(user, receiver, HTTP_ACCEPT_LANGUAGE="ko-KR,ko;q=0.9")
    calls = {json.loads(call.body)["data"]["id"]: call for call in receiver.received}
    in_english, in_korean = calls[english["id"]], calls[korean["id"]]
    assert json.loads(in_english.body)["data"]["status_label"] == "Done"
    assert in_english.headers["content-language"] == "en"
    assert json.loads(in_korean.body)["data"]["status_label"] == "완료"
    assert in_korean.headers["content-language"] == "ko"


def test_a_webhook_body_is_utf8_text_signed_over_exactly_those_bytes(
    private_urls, transactional_db, receiver, user
):
    item = _made_through_the_api(user, receiver, HTTP_ACCEPT_LANGUAGE="ko")
    (call,) = receiver.received
    assert "제주 성산일출봉".encode() in call.body and "완료".encode() in call.body
    assert b"\\u" not in call.body
    token = Generation.objects.get(pk=item["id"]).api_token
    event = verified(call, token.webhook_secret)  # the reference library, over the raw bytes
    assert event["data"]["prompt"] == "제주 성산일출봉, 해 뜰 녘"
    # Its own API resource, as every API item has.
    assert (
        event["data"]["url"]
        == item["url"]
        == ("http://testserver" + reverse("api:generation", args=[item["id"]]))
    )


def test_a_webhook_is_what_the_published_schema_says_it_is(
    private_urls, transactional_db, receiver, user
):
    """Its body and headers against the schema's `webhooks` entry, formats included."""
    import jsonschema_rs
    from django.test import Client

    _made_through_the_api(user, receiver)
    (call,) = receiver.received
    schema = Client().get(reverse("api:openapi-json")).json()
    operation = schema["webhooks"]["generation.succeeded"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    validator = jsonschema_rs.Draft202012Validator(
        {**body, "components": schema["components"]}, validate_formats=True
    )
    validator.validate(json.loads(call.body))
    for header in operation["parameters"]:
        value = call.headers[header["name"]]
        jsonschema_rs.Draft202012Validator(header["schema"]).validate(value)


def test_failed_and_canceled_generations_call_back_too(
    private_urls, transactional_db, receiver, user, token
):
    url = receiver.url()
    failing = services.submit_generation(
        user=user, prompt="a", width=64, height=64, callback_url=url, api_token=token
    )
    canceled = services.submit_generation(
        user=user, prompt="b", width=64, height=64, callback_url=url, api_token=token
    )
    services.fail_generation(failing.pk, user_message="It broke.", detail="test")
    assert services.cancel_generation(generation_id=canceled.pk, user=user)
    run_queued_tasks()
    types = {
        json.loads(call.body)["data"]["id"]: json.loads(call.body)["type"]
        for call in receiver.received
    }
    assert types == {str(failing.pk): "generation.failed", str(canceled.pk): "generation.canceled"}
    failed_event = next(json.loads(c.body) for c in receiver.received if b"failed" in c.body)
    assert failed_event["data"]["error"] == "It broke."


def test_a_generation_without_callback_sends_nothing(transactional_db, receiver, user):
    services.submit_generation(user=user, prompt="Jeju", width=64, height=64)
    assert run_queued_tasks() == 1
    assert receiver.received == []
    assert not WebhookDelivery.objects.exists()


def test_a_failed_attempt_is_retried_with_backoff_through_schedules(
    private_urls, receiver, user, token
):
    receiver.answers = [(500, b"boom", {}), (503, b"busy", {})]
    generation = ended(user, token, receiver.url())
    before = timezone.now()
    first = webhooks.deliver(generation.pk, 1)
    assert (first.outcome, first.status_code, first.error) == (Outcome.RETRYING, 500, "HTTP 500")
    assert first.response_excerpt == "boom"
    [(args, next_run)] = scheduled(generation)
    assert args == (str(generation.pk), 2)
    assert before + datetime.timedelta(seconds=30) <= next_run
    assert next_run <= timezone.now() + datetime.timedelta(seconds=30)
    assert first.next_attempt_at == next_run
    assert Schedule.objects.get(func=webhooks.DELIVER).schedule_type == Schedule.ONCE

    Schedule.objects.all().delete()  # the scheduler deletes a ONCE schedule when it runs it
    second = webhooks.deliver(generation.pk, 2)
    assert second.outcome == Outcome.RETRYING
    [(args, next_run)] = scheduled(generation)
    assert args == (str(generation.pk), 3)
    assert next_run >= timezone.now() + datetime.timedelta(seconds=115)

    Schedule.objects.all().delete()
    third = webhooks.deliver(generation.pk, 3)
    assert third.outcome == Outcome.DELIVERED
    assert scheduled(generation) == []
    # The same event each time, each attempt freshly signed.
    ids = {call.headers["webhook-id"] for call in receiver.received}
    assert ids == {"msg_" + generation.pk.hex}
    for call in receiver.received:
        verified(call, token.webhook_secret)
    assert list(WebhookDelivery.objects.order_by("attempt").values_list("attempt", "outcome")) == [
        (1, "retrying"),
        (2, "retrying"),
        (3, "delivered"),
    ]


def test_a_slow_receiver_times_out_and_is_retried(private_urls, receiver, user, token, monkeypatch):
    monkeypatch.setattr(webhooks, "TOTAL_TIMEOUT", 0.3)
    receiver.delay = 2
    generation = ended(user, token, receiver.url())
    delivery = webhooks.deliver(generation.pk)
    assert delivery.outcome == Outcome.RETRYING
    assert delivery.status_code is None
    assert "Timeout" in delivery.error
    assert len(scheduled(generation)) == 1


def test_a_refused_connection_is_retried(private_urls, user, token):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    generation = ended(user, token, f"http://127.0.0.1:{port}/hook")
    delivery = webhooks.deliver(generation.pk)
    assert delivery.outcome == Outcome.RETRYING
    assert "ConnectError" in delivery.error


def test_retry_after_is_waited_when_longer_than_the_backoff(private_urls, receiver, user, token):
    receiver.answers = [(429, b"slow down", {"Retry-After": "900"})]
    generation = ended(user, token, receiver.url())
    webhooks.deliver(generation.pk)
    [(_args, next_run)] = scheduled(generation)
    assert next_run >= timezone.now() + datetime.timedelta(seconds=895)


def test_no_attempt_is_scheduled_past_a_day_after_the_end(private_urls, receiver, user, token):
    receiver.default = (500, b"", {})
    # Attempt 5 would wait 3 hours: past the day for a generation that ended 22 hours ago.
    generation = ended(
        user, token, receiver.url(), finished_at=timezone.now() - datetime.timedelta(hours=22)
    )
    delivery = webhooks.deliver(generation.pk, 5)
    assert delivery.outcome == Outcome.GAVE_UP
    assert scheduled(generation) == []


def test_the_last_attempt_gives_up(private_urls, receiver, user, token):
    receiver.default = (500, b"", {})
    generation = ended(user, token, receiver.url())
    delivery = webhooks.deliver(generation.pk, len(webhooks.BACKOFF) + 1)
    assert delivery.outcome == Outcome.GAVE_UP
    assert scheduled(generation) == []


def test_the_backoff_fits_in_a_day():
    assert sum(webhooks.BACKOFF) <= webhooks.GIVE_UP_AFTER.total_seconds()


def test_410_gone_stops_at_once(private_urls, receiver, user, token):
    receiver.answers = [(410, b"", {})]
    generation = ended(user, token, receiver.url())
    delivery = webhooks.deliver(generation.pk)
    assert (delivery.outcome, delivery.status_code) == (Outcome.GAVE_UP, 410)
    assert scheduled(generation) == []


def test_redirects_are_not_followed(private_urls, receiver, user, token):
    receiver.answers = [(302, b"", {"Location": "http://169.254.169.254/"})]
    generation = ended(user, token, receiver.url())
    delivery = webhooks.deliver(generation.pk)
    assert (delivery.outcome, delivery.status_code) == (Outcome.RETRYING, 302)
    assert len(receiver.received) == 1


def test_a_long_answer_is_cut_and_redacted(private_urls, receiver, user, token):
    echoed = "Bearer tf_secretsecretsecret " + "x" * 200_000
    receiver.answers = [(500, echoed.encode(), {})]
    generation = ended(user, token, receiver.url())
    delivery = webhooks.deliver(generation.pk)
    assert len(delivery.response_excerpt) <= webhooks.EXCERPT_LENGTH
    assert "tf_secretsecretsecret" not in delivery.response_excerpt


def test_a_task_handed_out_twice_sends_the_attempt_once(private_urls, receiver, user, token):
    generation = ended(user, token, receiver.url())
    assert webhooks.deliver(generation.pk, 1) is not None
    assert webhooks.deliver(generation.pk, 1) is None
    assert len(receiver.received) == 1


def test_a_revoked_key_sends_nothing_and_says_why(private_urls, receiver, user, token):
    generation = ended(user, token, receiver.url())
    token.delete()
    delivery = webhooks.deliver(generation.pk)
    assert delivery.outcome == Outcome.GAVE_UP
    assert "revoked" in delivery.error
    assert receiver.received == []


def test_the_url_is_checked_again_at_delivery(settings, receiver, user, token):
    generation = ended(user, token, receiver.url())  # stored while private URLs were allowed
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    settings.DEBUG = True  # plain http is fine: the address is what is refused
    delivery = webhooks.deliver(generation.pk)
    assert delivery.outcome == Outcome.GAVE_UP
    assert delivery.error.startswith("Refused: ")
    assert receiver.received == []


def test_the_call_goes_to_the_address_that_was_checked(
    private_urls, receiver, user, token, monkeypatch
):
    """The host name is resolved once, by the check; the connection uses that address, and the
    receiver still sees its own name in Host."""
    looked_up = []
    real = socket.getaddrinfo

    def resolve(host, *args, **kwargs):
        looked_up.append(host)
        if host == "hooks.example.test":
            return real("127.0.0.1", *args, **kwargs)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(webhooks.socket, "getaddrinfo", resolve)
    generation = ended(user, token, receiver.url(host="hooks.example.test"))
    delivery = webhooks.deliver(generation.pk)
    assert delivery.outcome == Outcome.DELIVERED
    # The name is looked up once; the HTTP client is handed the address (a literal, no DNS).
    assert looked_up[0] == "hooks.example.test"
    assert [host for host in looked_up[1:] if not _is_address(host)] == []
    assert receiver.received[0].headers["host"] == f"hooks.example.test:{receiver.port}"


def test_secrets_never_reach_the_logs_or_the_queue(
    private_urls, transactional_db, receiver, user, caplog
):
    caplog.set_level(logging.DEBUG)
    receiver.answers = [(500, b"", {})]
    token, key = services.create_api_token(user=user, name="logged")
    generation = services.submit_generation(
        user=user, prompt="x", width=64, height=64, callback_url=receiver.url(), api_token=token
    )
    run_queued_tasks()
    assert WebhookDelivery.objects.get(generation=generation).outcome == Outcome.RETRYING
    secret = token.webhook_secret
    signature = receiver.received[0].headers["webhook-signature"]
    assert caplog.records  # the delivery was logged
    for text in (secret, secret.removeprefix("whsec_"), key, signature):
        assert text not in caplog.text
    for schedule in Schedule.objects.all():
        assert secret not in (schedule.args or "") + (schedule.kwargs or "")


# --- Admin ---------------------------------------------------------------------------------------


def test_admin_lists_deliveries_read_only_with_an_outcome_filter(
    admin_client, private_urls, receiver, user, token
):
    receiver.answers = [(500, b"", {})]
    failed = webhooks.deliver(ended(user, token, receiver.url()).pk)
    delivered = webhooks.deliver(ended(user, token, receiver.url()).pk)
    listing = reverse("admin:imagegen_webhookdelivery_changelist")
    page = admin_client.get(listing + "?outcome__exact=retrying").content.decode()
    assert failed.event_id in page or str(failed.pk) in page
    assert f"/{delivered.pk}/change/" not in page
    assert f"/{failed.pk}/change/" in page
    change = admin_client.get(reverse("admin:imagegen_webhookdelivery_change", args=[failed.pk]))
    assert change.status_code == 200
    assert b'name="_save"' not in change.content
    add = admin_client.get(reverse("admin:imagegen_webhookdelivery_add"))
    assert add.status_code == 403


def test_admin_never_shows_a_keys_webhook_secret(admin_client, token):
    page = admin_client.get(reverse("admin:imagegen_apitoken_change", args=[token.pk]))
    assert page.status_code == 200
    assert token.webhook_secret.encode() not in page.content


# --- The keys page -------------------------------------------------------------------------------


def test_the_keys_page_shows_the_webhook_secret_once(user_client, user, private_urls):
    made = user_client.post(
        reverse("keys"),
        {"name": "robot", "default_callback_url": "http://127.0.0.1:9/robot"},
        follow=True,
    )
    token = user.api_tokens.get()
    assert token.default_callback_url == "http://127.0.0.1:9/robot"
    assert token.webhook_secret in made.content.decode()
    again = user_client.get(reverse("keys"))
    assert token.webhook_secret not in again.content.decode()


def test_the_keys_page_refuses_a_private_default_url(user_client, user, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    page = user_client.post(
        reverse("keys"), {"name": "robot", "default_callback_url": "https://10.0.0.1/hook"}
    )
    assert page.status_code == 200
    assert "public internet" in page.content.decode()
    assert not user.api_tokens.exists()


def test_a_retry_calls_back_where_the_first_would_have(
    private_urls, transactional_db, receiver, user, token
):
    first = services.submit_generation(
        user=user,
        prompt="Gamcheon village",
        width=256,
        height=256,
        callback_url=receiver.url("/first"),
        api_token=token,
    )
    services.cancel_generation(generation_id=first.pk, user=user)
    again = services.retry_generation(generation_id=first.pk, user=user)
    assert (again.callback_url, again.api_token) == (receiver.url("/first"), token)
    while run_queued_tasks():
        pass
    calls = {json.loads(call.body)["data"]["id"]: call for call in receiver.received}
    assert set(calls) == {str(first.pk), str(again.pk)}  # canceled, then made
    assert json.loads(calls[str(again.pk)].body)["type"] == "generation.succeeded"
    verified(calls[str(again.pk)], token.webhook_secret)
