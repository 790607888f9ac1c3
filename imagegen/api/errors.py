"""The API's errors, all in one shape: {"error": {"code", "message", …}} with a fitting status.

ERROR_CODES is every code, by status (the README's and the docs page's table); `ApiError` is
raised anywhere below an endpoint; `install` registers the handlers that turn it, and ninja's,
pydantic's and Django's own refusals, into that shape, in the reader's language.
"""

import math
import re

from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from lib.json_errors import json_error

from .. import services
from .schemas import ErrorBody

# Every code the API answers with, by status: the README's and the docs page's table.
ERROR_CODES = {
    "invalid": (
        400,
        "Fields are missing, of the wrong JSON type, unknown or out of range; "
        "`fields` names each with its messages. An upload over the limits of "
        "`GET /capabilities` (bytes, pixels) or not a photo is this too, with `fields.file`.",
    ),
    "invalid_json": (400, "The body is not a JSON object."),
    "bad_request": (
        400,
        "The request could not be read: a JSON body over 2.5 MB, or a malformed one.",
    ),
    "prompt_blocked": (400, "The site's policy refuses the prompt."),
    "chain_too_long": (
        400,
        "Edit again: the `parent`'s chain has `IMAGEGEN_CHAIN_MAX` pictures already; nothing was "
        "charged. Edit an earlier version, or start anew.",
    ),
    "unauthenticated": (401, "No valid API key or session (`WWW-Authenticate` says how)."),
    "csrf_failed": (403, "A session write without the CSRF token."),
    "not_found": (
        404,
        "Nothing of yours at this address (someone else's is not found too); on POST "
        "/generations, `fields.parent` when the picture to edit again is none of yours.",
    ),
    "method_not_allowed": (405, "Another method is needed here (`Allow` lists them)."),
    "conflict": (
        409,
        "Not in this state: cancel once started, delete while running, share or download "
        "the image before it is done; `status` says the state.",
    ),
    "parent_unfinished": (
        409,
        "Edit again: the `parent` is not finished (queued, running, failed or canceled).",
    ),
    "parent_held": (409, "Edit again: the `parent` is held for a safety review."),
    "idempotency_key_invalid": (400, "The Idempotency-Key is not 1–255 printable ASCII."),
    "idempotency_key_reused": (409, "The Idempotency-Key was used with another request."),
    "idempotency_key_in_use": (
        409,
        "The first request with this Idempotency-Key is still being answered (`Retry-After`).",
    ),
    "unsupported_media_type": (415, "Send the body as application/json."),
    "over_quota": (
        429,
        "Fewer units left than asked for (`n` × the tier's units); nothing was charged. "
        "`Retry-After` and `resets_at` say when more come.",
    ),
    "rate_limited": (429, "Too many requests with this key this minute; `Retry-After`."),
    "too_many_uploads": (
        429,
        "The day's uploads (`IMAGEGEN_UPLOADS_PER_DAY`) are used; `Retry-After` says when more.",
    ),
    "server_error": (500, "A bug on our side; it has been logged."),
    "budget_exhausted": (503, "The site's monthly image budget is spent."),
    "tier_unavailable": (
        503,
        "Every provider of the chosen `tier` is paused (quota, budget); nothing was charged. "
        "`suggested_tier` names one that can serve now, or is null.",
    ),
    "unavailable": (
        503,
        "The site cannot reach its database for a moment; try again after `Retry-After`.",
    ),
}


class ApiError(Exception):
    """An answer in the API's error shape; raised anywhere below an endpoint."""

    def __init__(self, http_status, code, message, *, headers=None, **extra):
        super().__init__(message)
        self.http_status, self.code, self.message = http_status, code, message
        self.headers = headers or {}
        self.extra = extra


error_response = json_error


def invalid(fields):
    return ApiError(
        400,
        "invalid",
        _("Some fields are not valid; see `fields`."),
        fields={name: [str(message) for message in errors] for name, errors in fields.items()},
    )


UNAUTHENTICATED = {"WWW-Authenticate": 'Bearer realm="api"'}


def _api_error(request, exc):
    return error_response(exc.http_status, exc.code, exc.message, headers=exc.headers, **exc.extra)


def _unauthenticated(request, exc):
    return error_response(
        401,
        "unauthenticated",
        _("Sign in, or send `Authorization: Bearer <your API key>`."),
        headers=UNAUTHENTICATED,
    )


def _http_error(request, exc):
    """ninja's own refusals, in our words (its texts are English only)."""
    if exc.status_code == 404:
        return _not_found(request, exc)
    if exc.status_code == 400:
        return error_response(400, "bad_request", _("The request could not be read."))
    return error_response(exc.status_code, "error", _("The request was refused."))


def _not_found(request, exc):
    return error_response(404, "not_found", _("Nothing of yours is at this address."))


def _validation_error(request, exc):
    """ninja's own refusals (a path, a query parameter) in the API's shape, naming each."""
    fields = {}
    for error in exc.errors:
        names = [part for part in error["loc"][1:] if isinstance(part, str)]
        name = names[-1] if names else error["loc"][0]
        fields.setdefault(name, []).append(message(error, name))
    return _api_error(request, invalid(fields))


def _crash(request, exc):
    # Django's handler500 (lib.error_pages.server_error) answers it, in JSON under /api/.
    raise exc


def install(api) -> None:
    """Answer every refusal under the API in its error shape."""
    api.add_exception_handler(ApiError, _api_error)
    api.add_exception_handler(AuthenticationError, _unauthenticated)
    api.add_exception_handler(HttpError, _http_error)
    api.add_exception_handler(Http404, _not_found)
    api.add_exception_handler(NinjaValidationError, _validation_error)
    api.add_exception_handler(Exception, _crash)


# How a pydantic error reads, in the reader's language (pydantic's own texts are English only);
# the JSON type that was expected, by pydantic's error type.
EXPECTED = {
    "string_type": gettext_lazy("text"),
    "int_type": gettext_lazy("a whole number"),
    "float_type": gettext_lazy("a number"),
    "bool_type": gettext_lazy("true or false"),
    "int_from_float": gettext_lazy("a whole number"),
}
# Values that could not be read as the type a query parameter takes.
UNREADABLE = {
    "int_parsing": gettext_lazy("Send a whole number here."),
    "int_parsing_size": gettext_lazy("Send a whole number here."),
    "float_parsing": gettext_lazy("Send a number here."),
    "bool_parsing": gettext_lazy("Send true or false here."),
    "uuid_parsing": gettext_lazy("Send an id (a UUID) here."),
    "uuid_type": gettext_lazy("Send an id (a UUID) here."),
}
# Limits, with the value pydantic names in the error's context.
LIMITS = {
    "greater_than_equal": ("ge", gettext_lazy("Send a value greater than or equal to %(limit)s.")),
    "greater_than": ("gt", gettext_lazy("Send a value greater than %(limit)s.")),
    "less_than_equal": ("le", gettext_lazy("Send a value less than or equal to %(limit)s.")),
    "less_than": ("lt", gettext_lazy("Send a value less than %(limit)s.")),
    "string_too_short": ("min_length", gettext_lazy("Send at least %(limit)s characters.")),
    "string_too_long": ("max_length", gettext_lazy("Send at most %(limit)s characters.")),
}
# A field whose text must have a form (pydantic's `pattern`): what it is, said plainly.
PATTERNS = {
    "source_image": gettext_lazy("Send an upload's id (POST /uploads), a UUID."),
    "garment_image": gettext_lazy("Send an upload's id (POST /uploads), a UUID."),
}
CURSOR_REFUSED = gettext_lazy("Use the `next` URL of the previous page; this cursor is not one.")


def message(error, field=""):
    """A pydantic (or ninja) error about `field`, in the reader's language."""
    kind = error["type"]
    context = error.get("ctx") or {}
    if kind in EXPECTED:
        return _("Send a single value here (%(expected)s), not %(given)s.") % {
            "expected": EXPECTED[kind],
            "given": _json_type(error.get("input")),
        }
    if kind == "extra_forbidden":
        return _("Unknown field: leave it out (field names are listed in the API docs).")
    if kind == "missing":
        return _("This field is required.")
    if kind in ("literal_error", "enum"):
        choices = re.findall(r"'([^']*)'", str(context.get("expected", "")))
        if choices:
            quoted = ", ".join(f"'{choice}'" for choice in choices)
            return _("Choose one of: %(choices)s.") % {"choices": quoted}
    if field == "cursor":
        return str(CURSOR_REFUSED)
    if kind == "string_pattern_mismatch" and field in PATTERNS:
        return str(PATTERNS[field])
    if kind in UNREADABLE:
        return str(UNREADABLE[kind])
    if kind in LIMITS:
        name, text = LIMITS[kind]
        if name in context:
            return text % {"limit": context[name]}
    return _("This value is not accepted here.")


def _json_type(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return _("true or false")
    if isinstance(value, dict):
        return _("an object")
    if isinstance(value, list):
        return _("a list")
    if isinstance(value, int | float):
        return _("a number")
    return _("text")


def refused(exc):
    """The API's answer to a SubmissionRefused: its status and code, the field at fault."""
    if isinstance(exc, services.QuotaExceeded):
        return _over_quota(exc)
    extra = {"fields": {exc.field: [str(exc)]}} if exc.field else {}
    if isinstance(exc, services.TierUnavailable):
        extra["suggested_tier"] = exc.suggested or None
    return ApiError(exc.http_status, exc.code, str(exc), **extra)


def _over_quota(exc):
    seconds = max(0, math.ceil((exc.resets_at - timezone.now()).total_seconds()))
    return ApiError(
        429,
        "over_quota",
        str(exc),
        headers={"Retry-After": str(seconds)},
        period=exc.period,
        limit=exc.limit,
        left=exc.left,
        asked=exc.asked,
        resets_at=exc.resets_at,
    )


def error_answers(*statuses):
    """The error answers an operation documents: each in the one error shape."""
    return {status: ErrorBody for status in statuses}
