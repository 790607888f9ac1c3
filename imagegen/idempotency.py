"""`Idempotency-Key` for the API's POSTs: a retried request gets the first answer again.

A client that sends `Idempotency-Key: <up to 255 printable ASCII characters>` with a POST and
repeats it (a timeout, a lost answer) within IDEMPOTENCY_TTL (24 h) gets the first answer
again: its status, body and the headers in REPLAYED_HEADERS (Location, Content-Type,
Retry-After), plus `Idempotent-Replayed: true`; the work (and its quota) is not done twice.
Keys are per user. The same key with another request (method, path with query, or body
differ; a JSON body is compared parsed, a multipart one by its fields and files: see
`body_identity`) is answered 409 `idempotency_key_reused`; a repeat that arrives while the
first is still being answered is answered 409 `idempotency_key_in_use` with `Retry-After: 1`
at once, rather than holding a web thread. Answers with a 5xx status or 429 are not kept (the
key can be used again to retry), nor are streamed ones.

How it stays safe under concurrency: the first request inserts the (user, key) row, and the
unique constraint lets only one insert win. The winner computes the answer and stores it in
one transaction with the work, so if it dies half-way both roll back; its marker is then
taken over, after IN_PROGRESS_TIMEOUT, by a repeat of the same request.

For a django-ninja (or any) view:

    from imagegen.idempotency import with_idempotency

    def create(request):
        return with_idempotency(request, request.user, lambda: _create(request))

`compute_response` takes no arguments and returns a Django HttpResponse (ninja: build it with
`api.create_response(request, data, status=…)`); it runs inside transaction.atomic(). Without
the header it is simply called. Expired rows are deleted by `purge_expired()`, which the
recovery sweep calls.
"""

import datetime
import hashlib
import json
from collections.abc import Callable

from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _

from lib.json_errors import json_error

from .models import IdempotencyRecord

HEADER = "Idempotency-Key"
IDEMPOTENCY_TTL = datetime.timedelta(hours=24)
IN_PROGRESS_TIMEOUT = datetime.timedelta(minutes=5)
MAX_KEY_LENGTH = 255
REPLAYED_HEADERS = ("Content-Type", "Location", "Retry-After")


def _error(status, code, message):
    return json_error(status, code, message)


def fingerprint(request) -> str:
    """SHA-256 of what makes two requests the same request: method, path with query, and the
    body as the server reads it (`body_identity`)."""
    digest = hashlib.sha256()
    parts = (request.method.encode(), request.get_full_path().encode(), body_identity(request))
    for part in parts:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def body_identity(request) -> bytes:
    """The body, as two requests that mean the same are the same.

    JSON (UTF-8, as the API takes it): the parsed value, so the same object with its keys in
    another order or other spacing is the same request. Multipart: each field and the bytes
    of each file, not the envelope, whose boundary a client draws anew for every send (a
    retry of the same file is the same request). Anything else, and JSON the API would refuse
    (not UTF-8, a key named twice): the bytes as sent.
    """
    if request.content_type == "multipart/form-data":
        return b"multipart:" + _multipart_identity(request)
    body = request.body
    if request.content_type == "application/json":
        try:
            value = json.loads(body.decode("utf-8"), object_pairs_hook=_object_once)
        except (ValueError, RecursionError):
            return b"bytes:" + body
        canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return b"json:" + canonical.encode()
    return b"bytes:" + body


def _object_once(pairs):
    data = dict(pairs)
    if len(data) != len(pairs):
        raise ValueError("a key named twice")
    return data


def _multipart_identity(request):
    """Fields and files of a parsed multipart body (read by the caller, errors and all)."""
    digest = hashlib.sha256()
    for name, values in sorted(request.POST.lists()):
        digest.update(json.dumps(["field", name, values]).encode())
    for name, files in sorted(request.FILES.lists()):
        for uploaded in files:
            content = hashlib.sha256()
            for chunk in uploaded.chunks():
                content.update(chunk)
            uploaded.seek(0)
            digest.update(json.dumps(["file", name, content.hexdigest()]).encode())
    # A file too large to be kept (imagegen.uploads' handler) is still part of the request.
    for name in sorted(getattr(request, "oversized_uploads", ())):
        digest.update(json.dumps(["oversized", name]).encode())
    return digest.hexdigest().encode()


def _valid_key(key):
    return 0 < len(key) <= MAX_KEY_LENGTH and all(32 <= ord(c) < 127 for c in key)


def with_idempotency(request, user, compute_response: Callable[[], HttpResponse]) -> HttpResponse:
    """Answer `request` once per (user, Idempotency-Key); see the module's docstring."""
    key = request.headers.get(HEADER)
    if key is None:
        return compute_response()
    key = key.strip()
    if not _valid_key(key):
        return _error(
            400,
            "idempotency_key_invalid",
            _("An %(header)s is 1 to %(most)s printable ASCII characters.")
            % {"header": HEADER, "most": MAX_KEY_LENGTH},
        )
    now = timezone.now()
    digest = fingerprint(request)
    # An expired record is as good as none.
    IdempotencyRecord.objects.filter(user=user, key=key, expires_at__lte=now).delete()
    record = _insert(user, key, digest, now)
    if record is None:
        existing = IdempotencyRecord.objects.filter(user=user, key=key).first()
        if existing is None:  # it expired or was given up between our insert and this read
            record = _insert(user, key, digest, now)
            if record is None:
                return _in_use()
        elif existing.fingerprint != digest:
            return _error(
                409,
                "idempotency_key_reused",
                _("This %(header)s was used with a different request; use a new key.")
                % {"header": HEADER},
            )
        elif existing.response_status is not None:
            return _replay(existing)
        elif not _take_over(existing, now):
            return _in_use()
        else:
            record = existing
    return _answer(record, compute_response)


def _insert(user, key, digest, now):
    try:
        with transaction.atomic():
            return IdempotencyRecord.objects.create(
                user=user,
                key=key,
                fingerprint=digest,
                created_at=now,
                locked_at=now,
                expires_at=now + IDEMPOTENCY_TTL,
            )
    except IntegrityError:
        return None


def _take_over(record, now):
    """Claim a marker whose request died before answering (nothing of it was committed)."""
    return bool(
        IdempotencyRecord.objects.filter(
            pk=record.pk,
            response_status__isnull=True,
            locked_at__lt=now - IN_PROGRESS_TIMEOUT,
        ).update(locked_at=now)
    )


def _in_use():
    response = _error(
        409,
        "idempotency_key_in_use",
        _("A request with this %(header)s is still being answered; try again in a moment.")
        % {"header": HEADER},
    )
    response["Retry-After"] = "1"
    return response


def _answer(record, compute_response):
    try:
        with transaction.atomic():
            response = compute_response()
            if _keep(response):
                IdempotencyRecord.objects.filter(pk=record.pk).update(
                    response_status=response.status_code,
                    response_headers={
                        name: response[name] for name in REPLAYED_HEADERS if name in response
                    },
                    response_body=response.content,
                )
    except BaseException:
        IdempotencyRecord.objects.filter(pk=record.pk, response_status__isnull=True).delete()
        raise
    if not _keep(response):
        IdempotencyRecord.objects.filter(pk=record.pk, response_status__isnull=True).delete()
    return response


def _keep(response):
    return (
        not getattr(response, "streaming", False)
        and response.status_code < 500
        and response.status_code != 429
    )


def _replay(record):
    response = HttpResponse(bytes(record.response_body), status=record.response_status)
    for name, value in record.response_headers.items():
        response[name] = value
    response["Idempotent-Replayed"] = "true"
    return response


def purge_expired(*, now=None) -> int:
    """Delete records past their 24 hours; returns how many."""
    expired = IdempotencyRecord.objects.filter(expires_at__lte=now or timezone.now())
    return expired.delete()[0]
