"""Webhooks: a generation submitted with a callback URL calls it when it ends.

The call follows the Standard Webhooks specification (https://www.standardwebhooks.com): a
POST of JSON `{"type": "generation.succeeded" | "generation.failed" | "generation.canceled" |
"generation.rejected", "timestamp": <when it ended>, "data": <the generation as the API shows
it>}` (UTF-8, its texts in the language of the request that made the generation, said in
`content-language`), and `generation.held` before the end when the safety check holds it for
review, with the headers `webhook-id` (the event's id, the same on every attempt: use it to
drop repeats), `webhook-timestamp` (this attempt's Unix time) and `webhook-signature:
v1,<base64 of HMAC-SHA256(secret bytes, "{id}.{timestamp}.{body}")>`. The secret belongs to
the API key the generation was submitted with, is shown once when the key is made as
`whsec_<base64 of the bytes>`, and the bytes are the HMAC key.

What is called: `check_callback_url` at submission (also through `resolve_callback_url`) and
again before every attempt, because DNS can change. Only https (http too while DEBUG or
WEBHOOK_ALLOW_PRIVATE_URLS is on); no user name or password in the URL; every address the host
name resolves to must be on the public internet (`imagegen.public_addresses`: global unicast
only, IPv4 inside IPv6 checked too) unless WEBHOOK_ALLOW_PRIVATE_URLS is on. The connection then
goes to the address that was checked (the URL's host is replaced by it; the Host header and,
for https, the TLS server name and certificate check keep the host name), so a resolver that
answers differently a moment later cannot steer the call inside. No proxy from the
environment, no redirects followed, 5 s to connect, 10 s for the answer, at most
RESPONSE_READ_LIMIT bytes of it read.

When it is called: `generation_ended` (from services, where a generation reaches an end state)
queues `imagegen.tasks.deliver_webhook` once the transaction commits. An attempt that does not
get a 2xx is tried again after BACKOFF (30 s, 2 min, 10 min, 1 h, 3 h, 6 h, 12 h: eight
attempts within a day of the end) through a django-q2 Schedule of type ONCE; a 429 or 503's
Retry-After, when longer, is waited instead. Every failure is retried (as the specification
recommends: a receiver's 401 or 404 is often a deployment being fixed), except `410 Gone`
(the receiver says it wants no more) and a URL the policy refuses at delivery time. Each
attempt is a WebhookDelivery row, shown read-only in the admin.

Nothing is sent for a generation deleted before its call went out, nor when its key was
revoked (the secret that would sign it is gone: the attempt is recorded as given up).
"""

import base64
import datetime
import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import time
from functools import partial
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django_q.models import Schedule
from django_q.tasks import async_task

from lib import request_id
from lib.middleware import API_DEFAULT_LANGUAGE
from lib.redaction import redact

from . import metrics, public_addresses, signals
from .models import Generation, WebhookDelivery

logger = logging.getLogger(__name__)

DELIVER = "imagegen.tasks.deliver_webhook"
SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32  # the specification asks for 24 to 64
MAX_URL_LENGTH = 2000
# Seconds to wait after failed attempt 1, 2, …; the last attempt is number len(BACKOFF) + 1.
BACKOFF = (30, 120, 600, 3600, 3 * 3600, 6 * 3600, 12 * 3600)
# No attempt is scheduled later than this after the generation ended.
GIVE_UP_AFTER = datetime.timedelta(hours=24)
CONNECT_TIMEOUT = 5.0
TOTAL_TIMEOUT = 10.0
RESPONSE_READ_LIMIT = 64 * 1024
EXCERPT_LENGTH = 500
USER_AGENT = "TravelFit-Webhooks/1"


# --- Secrets and signatures --------------------------------------------------------------------


def new_webhook_secret() -> str:
    """A new signing secret as the specification serialises it: whsec_ + base64 of the bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_bytes(secret: str) -> bytes:
    """The HMAC key of a `whsec_…` secret (the prefix is optional, padding may be missing)."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    return base64.b64decode(encoded + "=" * (-len(encoded) % 4))


def sign(*, secret: str, event_id: str, timestamp: int, body: bytes | str) -> str:
    """The `webhook-signature` value: "v1," + base64(HMAC-SHA256(key, id.timestamp.body))."""
    if isinstance(body, str):
        body = body.encode()
    signed = f"{event_id}.{int(timestamp)}.".encode() + body
    digest = hmac.new(secret_bytes(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


# States a generation passes through on its way to its end: each is an event of its own.
INTERIM_EVENTS = ("held",)


def event_id_for(generation_id, status: str = "") -> str:
    """The `webhook-id` of a generation's event: one for its end (succeeded, failed, canceled,
    rejected), and one for being held for review on the way, which comes before it.

    Letters, digits and _ only: the specification forbids "." in it."""
    hex_id = getattr(generation_id, "hex", str(generation_id).replace("-", ""))
    return f"msg_{hex_id}_{status}" if status in INTERIM_EVENTS else f"msg_{hex_id}"


# --- Which URLs may be called ------------------------------------------------------------------


def _schemes():
    if settings.DEBUG or settings.WEBHOOK_ALLOW_PRIVATE_URLS:
        return ("https", "http")
    return ("https",)


def _refused(message, code):
    return ValidationError(message, code=code)


def _private_hint(for_staff):
    """For staff, how an operator lets callbacks reach the local network; nothing for users."""
    if not for_staff:
        return ""
    return " " + _(
        "To call receivers on your own network (plain http, private or loopback addresses), "
        "set WEBHOOK_ALLOW_PRIVATE_URLS=true in the site's settings."
    )


def _parse(url, for_staff=False):
    """(scheme, host name, port) of a URL the policy's syntax rules accept."""
    if len(url) > MAX_URL_LENGTH:
        raise _refused(
            _("The callback URL is too long (at most %(limit)d characters).")
            % {"limit": MAX_URL_LENGTH},
            "callback_url_too_long",
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        parts, port = None, None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise _refused(
            _("Give the callback URL as a full web address, like https://example.com/hook."),
            "callback_url_invalid",
        )
    scheme = parts.scheme.lower()
    if scheme not in _schemes():
        raise _refused(
            _("The callback URL must start with https://.") + _private_hint(for_staff),
            "callback_url_not_https",
        )
    if parts.username is not None or parts.password is not None:
        raise _refused(
            _("Leave the user name and password out of the callback URL."),
            "callback_url_has_credentials",
        )
    if any(character.isspace() or ord(character) < 32 for character in url):
        raise _refused(
            _("Give the callback URL as a full web address, like https://example.com/hook."),
            "callback_url_invalid",
        )
    return scheme, parts.hostname, port or (443 if scheme == "https" else 80)


def _checked_addresses(host, port, for_staff=False):
    """Every address `host` resolves to, all allowed by the policy; ValidationError if not."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise _refused(
            _("The callback URL's host name %(host)s could not be found.") % {"host": host},
            "callback_url_unresolvable",
        ) from None
    addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))
    if not addresses:
        raise _refused(
            _("The callback URL's host name %(host)s could not be found.") % {"host": host},
            "callback_url_unresolvable",
        )
    if not settings.WEBHOOK_ALLOW_PRIVATE_URLS:
        for address in addresses:
            if not public_addresses.is_public(address):
                raise _refused(
                    _(
                        "The callback URL must reach the public internet: %(host)s is "
                        "%(address)s, a private, local or reserved address."
                    )
                    % {"host": host, "address": address}
                    + _private_hint(for_staff),
                    "callback_url_not_public",
                )
    return addresses


def check_callback_url(url: str, *, for_staff: bool = False) -> str:
    """The callback URL, stripped, if the policy allows calling it; raises ValidationError.

    An empty URL is returned as it is (no webhook). Resolves the host name: at submission this
    says at once when a URL can never be called; delivery checks again. `for_staff` adds to a
    refusal the setting an operator could change (WEBHOOK_ALLOW_PRIVATE_URLS).
    """
    url = (url or "").strip()
    if not url:
        return ""
    _scheme, host, port = _parse(url, for_staff)
    _checked_addresses(host, port, for_staff)
    return url


def resolve_callback_url(*, api_token, callback_url: str = "", for_staff: bool = False) -> str:
    """The callback URL a new generation gets: the request's, else the key's default; checked.

    Returns "" when there is none. Raises ValidationError for a URL the policy refuses, and for
    a callback URL without an API key (or with one made before webhooks): nothing could sign
    the call.
    """
    url = (callback_url or "").strip()
    if not url and api_token is not None:
        url = api_token.default_callback_url
    if not url:
        return ""
    if api_token is None:
        raise _refused(
            _("A callback URL needs an API key: the key's webhook secret signs the calls."),
            "callback_url_needs_key",
        )
    if not api_token.webhook_secret:
        raise _refused(
            _("This API key was made before webhooks existed; make a new key to use callbacks."),
            "callback_url_needs_key",
        )
    return check_callback_url(url, for_staff=for_staff)


# --- Sending -----------------------------------------------------------------------------------


def generation_ended(generation_id):
    """Queue the webhook of a generation that just reached an end state, if it has a callback.

    Call it inside the transaction that ended it: the task is queued once that commits, so it
    reads the final row (and nothing is sent for a change rolled back).
    """
    generation = (
        Generation.objects.filter(pk=generation_id)
        .only(
            "status",
            "task",
            "tier",
            "provider",
            "failure_class",
            "created_at",
            "finished_at",
            "callback_url",
        )
        .first()
    )
    if generation is None:
        return
    # Every end state passes here: its metrics (a rolled-back end would count; none does).
    metrics.count_finished(generation)
    # Others that wait on it (a trip lookbook whose last picture this was) hear it here.
    signals.generation_ended.send(sender=Generation, generation_id=generation_id)
    if generation.callback_url:
        transaction.on_commit(partial(enqueue_delivery, generation_id, 1))


def enqueue_delivery(generation_id, attempt):
    """Hand one attempt to the task queue now. Only the id and number travel, never a secret."""
    async_task(DELIVER, str(generation_id), attempt, task_name=f"webhook-{generation_id}-{attempt}")


def generation_data(generation):
    """The generation as the API shows one (presenters.generation_item), with the same absolute
    links (presenters.link_base). The queue position is left out: it is over."""
    from .presenters import generation_item, status_payload

    status = status_payload(generation, position=None, typical=None)
    return generation_item(generation, status)


def event_language(generation) -> str:
    """The language a generation's events speak: that of the request that made it (the API's
    default, English, for one made before languages were kept)."""
    return generation.language or API_DEFAULT_LANGUAGE


def event_body(generation) -> bytes:
    """The JSON body of a generation's event, as UTF-8 (minified, and Korean as it is, not
    \\u-escaped: what is signed is exactly what is sent).

    Its texts (the status label, a failure message) are in the language of the request that
    made the generation: an integrator who asked in English hears back in English.
    """
    with translation.override(event_language(generation)):
        data = generation_data(generation)
    event = {
        "type": f"generation.{generation.status}",
        "timestamp": generation.finished_at or timezone.now(),
        "data": data,
    }
    return json.dumps(
        event, cls=DjangoJSONEncoder, separators=(",", ":"), ensure_ascii=False
    ).encode()


def deliver(generation_id, attempt=1):
    """Make one attempt at a generation's webhook and schedule the next if it failed.

    The body of the `deliver_webhook` task. Returns the WebhookDelivery recorded, or None when
    there was nothing to do (the generation is gone, or this attempt was made already).
    """
    generation = Generation.objects.select_related("api_token").filter(pk=generation_id).first()
    if generation is None or not generation.callback_url or generation.is_active:
        return None
    # Its log lines, and the receiver's, carry the id of the request that queued it.
    with request_id.bound(generation.request_id or request_id.current()):
        return _deliver(generation, attempt)


def _deliver(generation, attempt):
    event_id = event_id_for(generation.pk, generation.status)
    try:
        with transaction.atomic():
            delivery = WebhookDelivery.objects.create(
                generation=generation,
                url=generation.callback_url,
                event_id=event_id,
                event_type=f"generation.{generation.status}",
                attempt=attempt,
            )
    except IntegrityError:
        logger.info("webhook %s attempt %d was made already", event_id, attempt)
        return None
    token = generation.api_token
    if token is None or not token.webhook_secret:
        return finish_delivery(
            delivery,
            outcome=WebhookDelivery.Outcome.GAVE_UP,
            error="The API key it was submitted with was revoked: nothing can sign the call.",
        )
    body = event_body(generation)
    timestamp = int(time.time())
    headers = {
        "webhook-id": event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(
            secret=token.webhook_secret, event_id=event_id, timestamp=timestamp, body=body
        ),
        "content-type": "application/json",
        "content-language": event_language(generation),
        "user-agent": USER_AGENT,
        request_id.HEADER.lower(): request_id.current() or request_id.new(),
    }
    try:
        status, excerpt, retry_after = post_event(generation.callback_url, body, headers)
    except ValidationError as exc:
        return finish_delivery(
            delivery, outcome=WebhookDelivery.Outcome.GAVE_UP, error="Refused: " + exc.messages[0]
        )
    except httpx.HTTPError as exc:
        return _failed(delivery, generation, error=_describe(exc), retry_after=None)
    delivery.status_code = status
    delivery.response_excerpt = excerpt
    if 200 <= status < 300:
        return finish_delivery(delivery, outcome=WebhookDelivery.Outcome.DELIVERED)
    if status == 410:
        return finish_delivery(
            delivery,
            outcome=WebhookDelivery.Outcome.GAVE_UP,
            error="410 Gone: the receiver wants no more calls.",
        )
    return _failed(delivery, generation, error=f"HTTP {status}", retry_after=retry_after)


def _describe(exc):
    kind = type(exc).__name__
    text = str(exc)
    return redact(f"{kind}: {text}" if text else kind)[:EXCERPT_LENGTH]


def post_event(url, body, headers):
    """POST to the URL's checked address: (status, redacted excerpt, Retry-After seconds)."""
    # A refusal here is read by admins (the delivery's error), so it names the setting.
    scheme, host, port = _parse(url, for_staff=True)
    address = _checked_addresses(host, port, for_staff=True)[0]
    target = httpx.URL(url).copy_with(host=str(address))
    extensions = {"sni_hostname": host} if scheme == "https" else {}
    headers = {**headers, "host": urlsplit(url).netloc}
    deadline = time.monotonic() + TOTAL_TIMEOUT
    timeout = httpx.Timeout(TOTAL_TIMEOUT, connect=CONNECT_TIMEOUT)
    received = bytearray()
    with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
        request = client.build_request(
            "POST", target, content=body, headers=headers, extensions=extensions
        )
        response = client.send(request, stream=True)
        try:
            for chunk in response.iter_raw():
                received += chunk
                if len(received) >= RESPONSE_READ_LIMIT or time.monotonic() > deadline:
                    break
            status = response.status_code
            retry_after = _retry_after(response.headers.get("retry-after"))
        finally:
            response.close()
    text = bytes(received[:RESPONSE_READ_LIMIT]).decode("utf-8", errors="replace")
    return status, redact(text)[:EXCERPT_LENGTH], retry_after


def _retry_after(value):
    try:
        return max(0, int(value)) if value else None
    except ValueError:
        return None  # an HTTP date: the backoff decides


def _failed(delivery, generation, *, error, retry_after):
    """Record a failed attempt; schedule the next while the day allows one."""
    delivery.error = error
    attempt = delivery.attempt
    ended = generation.finished_at or delivery.started_at
    next_at = None
    if attempt <= len(BACKOFF):
        wait = max(BACKOFF[attempt - 1], min(retry_after or 0, int(GIVE_UP_AFTER.total_seconds())))
        candidate = timezone.now() + datetime.timedelta(seconds=wait)
        if candidate <= ended + GIVE_UP_AFTER:
            next_at = candidate
    if next_at is None:
        return finish_delivery(delivery, outcome=WebhookDelivery.Outcome.GAVE_UP)
    return schedule_next_attempt(delivery, func=DELIVER, subject_id=generation.pk, at=next_at)


def schedule_next_attempt(delivery, *, func, subject_id, at):
    """Queue the delivery's next attempt as a one-off django-q2 schedule of `func(subject_id,
    attempt + 1)` at `at`, and record this one as retrying (one transaction)."""
    with transaction.atomic():
        Schedule.objects.create(
            name=f"webhook {delivery.event_id} #{delivery.attempt + 1}"[:100],
            func=func,
            args=repr((str(subject_id), delivery.attempt + 1)),
            schedule_type=Schedule.ONCE,
            repeats=-1,
            next_run=at,
        )
        delivery.next_attempt_at = at
        return finish_delivery(delivery, outcome=WebhookDelivery.Outcome.RETRYING)


def finish_delivery(delivery, *, outcome, error=None):
    """Record a delivery attempt's outcome (and count it)."""
    metrics.WEBHOOKS.labels(outcome).inc()
    delivery.outcome = outcome
    if error is not None:
        delivery.error = error
    delivery.finished_at = timezone.now()
    delivery.save(
        update_fields=[
            "outcome",
            "status_code",
            "error",
            "response_excerpt",
            "finished_at",
            "next_attempt_at",
        ]
    )
    logger.info(
        "webhook %s (%s) attempt %d: %s%s",
        delivery.event_id,
        delivery.event_type,
        delivery.attempt,
        outcome,
        f" ({delivery.status_code or delivery.error})" if outcome != "delivered" else "",
    )
    return delivery
