"""The JSON API (/api/v1/…), built with django-ninja.

The OpenAPI schema (/api/v1/openapi.json) and the docs page (/api/v1/docs) are generated from
these functions and the schemas in imagegen/api_schemas.py, so they cannot drift from what is
served. A caller is a script sending `Authorization: Bearer tf_…` with a key made on
/accounts/keys/ (or `manage.py create_api_key`), or a signed-in browser (its session, with
Django's CSRF check on every write). Every answer is JSON, errors included:
{"error": {"code": "…", "message": "…", …}} with a fitting status (see ERROR_CODES).
"""

import base64
import binascii
import codecs
import copy
import datetime
import json
import math
import re
import uuid
from pathlib import Path

import pydantic
from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpResponse
from django.http.multipartparser import MultiPartParserError
from django.middleware.csrf import CsrfViewMiddleware
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from ninja import NinjaAPI, Query
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.openapi.docs import Swagger
from ninja.renderers import JSONRenderer
from ninja.responses import Response as NinjaResponse
from ninja.security.base import AuthBase

from travelfit.json_errors import JSON_DUMPS_PARAMS, json_error

from . import (
    api_openapi,
    idempotency,
    presenters,
    ratelimit,
    selectors,
    services,
    tiers,
    translation,
    views,
    webhooks,
)
from .api_schemas import (
    CREATE_FIELDS,
    CapabilitiesOut,
    ErrorBody,
    GenerationCreate,
    GenerationFilters,
    GenerationList,
    GenerationOut,
    PresetList,
    QuotaOut,
    ShareOut,
    TierList,
    UploadOut,
)
from .forms import (
    MAX_BATCH,
    TEXT_ONLY_FIELDS,
    GenerationForm,
    aspect_size,
    reject_control_characters,
    size_choices,
)
from .models import MAX_SEED, Aspect, Generation, Preset, Upload
from .providers import available_tasks, primary_provider
from .uploads import FORMATS as UPLOAD_FORMATS
from .uploads import UploadRefused, too_large

SAFE_METHODS = ("GET", "HEAD", "OPTIONS", "TRACE")
UTF8_ONLY = gettext_lazy(
    "Send the body as UTF-8 JSON, without a byte order mark (not UTF-16 or UTF-32)."
)
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[ -~]+$"},
    "description": "Any unique text (a UUID): the same key and body within 24 h gets the first "
    "answer again, and nothing is done or charged twice.",
}

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
    "unauthenticated": (401, "No valid API key or session (`WWW-Authenticate` says how)."),
    "csrf_failed": (403, "A session write without the CSRF token."),
    "not_found": (404, "Nothing of yours at this address (someone else's is not found too)."),
    "method_not_allowed": (405, "Another method is needed here (`Allow` lists them)."),
    "conflict": (
        409,
        "Not in this state: cancel once started, delete while running, share or download "
        "the image before it is done; `status` says the state.",
    ),
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


def _invalid(fields):
    return ApiError(
        400,
        "invalid",
        _("Some fields are not valid; see `fields`."),
        fields={name: [str(message) for message in errors] for name, errors in fields.items()},
    )


UNAUTHENTICATED = {"WWW-Authenticate": 'Bearer realm="api"'}


# --- Who is asking -----------------------------------------------------------------------------

# ninja's views are csrf_exempt, so bearer requests pass the middleware; this instance runs the
# middleware's own checks for session requests only. get_response is never called.
_csrf = CsrfViewMiddleware(lambda request: None)


class ApiKey(AuthBase):
    """`Authorization: Bearer tf_…`: a key from /accounts/keys/, stored only as its hash.

    A Bearer header with a bad key is refused outright, never tried against the session: a
    script with a revoked key must not act as whoever is signed in in the same browser. Any
    other scheme (Basic from a proxy in front) is left to the session.
    """

    openapi_type = "http"
    openapi_scheme = "bearer"
    openapi_description = "An API key made on /accounts/keys/ (`tf_…`)."

    def __call__(self, request):
        scheme, _space, key = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        key = key.strip()
        token = services.token_for_api_key(key) if key else None
        if token is None:
            raise ApiError(
                401,
                "unauthenticated",
                _("This API key is not valid; it may have been revoked."),
                headers=UNAUTHENTICATED,
            )
        # Every answer to a counted request says what is left (imagegen.api_urls adds it).
        request.rate_limit = state = ratelimit.count_request(token)
        if state is not None and state.wait is not None:
            wait = state.wait
            raise ApiError(
                429,
                "rate_limited",
                _(
                    "Too many requests with this key: at most %(limit)s a minute. "
                    "Try again in %(wait)s s."
                )
                % {"limit": state.limit, "wait": wait},
                headers={"Retry-After": str(wait)},
                retry_after=wait,
            )
        request.user = token.user
        request.api_token = token
        return token


class Session(AuthBase):
    """The browser's session cookie; writes need the CSRF token in an X-CSRFToken header."""

    openapi_type = "apiKey"
    openapi_in = "cookie"
    openapi_name = settings.SESSION_COOKIE_NAME
    openapi_description = "A signed-in browser; writes send the csrftoken cookie as X-CSRFToken."
    # Tells the docs page to send the CSRF token with its "Try it out" requests.
    csrf = True

    def __call__(self, request):
        if not request.user.is_authenticated:
            return None
        if request.method not in SAFE_METHODS and _csrf.process_view(request, None, (), {}):
            raise ApiError(
                403,
                "csrf_failed",
                _(
                    "The CSRF check failed: send the csrftoken cookie's value in an X-CSRFToken "
                    "header, or use an API key instead of the session."
                ),
            )
        request.api_token = None
        return request.user


_table = "\n".join(
    f"| {status} | `{code}` | {when} |" for code, (status, when) in ERROR_CODES.items()
)


class Utf8Renderer(JSONRenderer):
    """Korean (and every other text) as UTF-8, not \\u-escaped."""

    json_dumps_params = JSON_DUMPS_PARAMS


class TravelFitApi(NinjaAPI):
    def get_content_type(self):
        # JSON is UTF-8 by definition (RFC 8259); the errors say plain application/json too.
        return "application/json"

    def get_openapi_operation_id(self, operation):
        return operation.view_func.__name__

    def get_openapi_schema(self, **kwargs):
        """ninja's schema, with what depends on this site (the create body held to what its
        provider, tiers and presets take; the upload's limits) and what the operations cannot
        say themselves: headers, examples, webhooks (imagegen.api_openapi)."""
        # A copy: the operations' openapi_extra is reused for every schema built.
        schema = copy.deepcopy(super().get_openapi_schema(**kwargs))
        create = schema["paths"]["/api/v1/generations"]["post"]
        flat = create["requestBody"]["content"]["application/json"]["schema"]
        _fit_create_body(flat)
        api_openapi.fit_choices(flat["properties"])
        tasks = [task for task in Generation.Task.values if task in available_tasks()]
        union, branches = api_openapi.create_body(flat, tasks)
        schema["components"]["schemas"].update(branches)
        create["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": union}},
        }
        schema["paths"]["/api/v1/uploads"]["post"]["requestBody"] = _upload_body()
        api_openapi.document_headers(schema)
        api_openapi.add_examples(schema)
        api_openapi.webhooks(schema)
        return schema


def _fit_create_body(body):
    """Ranges the pydantic model cannot know (they are the provider's, GenerationForm's), and
    no property for a field the provider does not take (the API refuses it)."""
    capabilities = primary_provider().capabilities
    properties = body["properties"]
    max_length = settings.IMAGEGEN_MAX_PROMPT_LENGTH
    _constrain(properties["prompt"], {"minLength": 1, "maxLength": max_length})
    size = {"minimum": capabilities.min_size, "maximum": capabilities.max_size}
    if capabilities.min_size % capabilities.size_step == 0:
        size["multipleOf"] = capabilities.size_step
    else:
        size["enum"] = [value for value, _label in size_choices(capabilities)]
    ranges = {"width": size, "height": size, "seed": {"minimum": 0, "maximum": MAX_SEED}}
    if capabilities.steps:
        ranges["steps"] = dict(zip(("minimum", "maximum"), capabilities.steps, strict=True))
    if capabilities.guidance:
        ranges["guidance"] = dict(zip(("minimum", "maximum"), capabilities.guidance, strict=True))
    taken = {
        "negative_prompt": capabilities.negative_prompt,
        "seed": capabilities.seed,
        "steps": bool(capabilities.steps),
        "guidance": bool(capabilities.guidance),
    }
    for name, is_taken in taken.items():
        if not is_taken:
            del properties[name]
    for name, limits in ranges.items():
        if name in properties:
            _constrain(properties[name], limits)
    if "negative_prompt" in properties:
        _constrain(properties["negative_prompt"], {"maxLength": max_length})
    _constrain(properties["callback_url"], {"format": "uri"})


def _constrain(prop, limits):
    """Add `limits` to a property, or to the non-null branch of a nullable one."""
    branches = [b for b in prop.get("anyOf", [prop]) if b.get("type") != "null"]
    for branch in branches:
        branch.update(limits)


api = TravelFitApi(
    title="TravelFit API",
    version="1",
    description=Path(__file__).with_name("api.md").read_text().replace("{error_table}", _table),
    urls_namespace="api",
    renderer=Utf8Renderer(),
    auth=[ApiKey(), Session()],
    # Swagger UI from ninja's static files and its separate init script: the site's strict CSP
    # holds on the docs page too (its inline styling is set through the DOM, which CSP allows).
    docs=Swagger(settings={"persistAuthorization": True, "validatorUrl": None}),
    docs_url="/docs",
)


def openapi_json(request, **kwargs):
    """The schema (/api/v1/openapi.json), its `servers` the site's public address: SITE_URL
    when set, else the origin this request came to."""
    schema = api.get_openapi_schema(path_params=kwargs)
    schema["servers"] = [{"url": presenters.site_origin(request), "description": "This site."}]
    return NinjaResponse(schema)


# --- Errors, all in one shape ------------------------------------------------------------------


@api.exception_handler(ApiError)
def _api_error(request, exc):
    return error_response(exc.http_status, exc.code, exc.message, headers=exc.headers, **exc.extra)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request, exc):
    return error_response(
        401,
        "unauthenticated",
        _("Sign in, or send `Authorization: Bearer <your API key>`."),
        headers=UNAUTHENTICATED,
    )


@api.exception_handler(HttpError)
def _http_error(request, exc):
    """ninja's own refusals, in our words (its texts are English only)."""
    if exc.status_code == 404:
        return _not_found(request, exc)
    if exc.status_code == 400:
        return error_response(400, "bad_request", _("The request could not be read."))
    return error_response(exc.status_code, "error", _("The request was refused."))


@api.exception_handler(Http404)
def _not_found(request, exc):
    return error_response(404, "not_found", _("Nothing of yours is at this address."))


@api.exception_handler(NinjaValidationError)
def _validation_error(request, exc):
    """ninja's own refusals (a path, a query parameter) in the API's shape, naming each."""
    fields = {}
    for error in exc.errors:
        names = [part for part in error["loc"][1:] if isinstance(part, str)]
        name = names[-1] if names else error["loc"][0]
        fields.setdefault(name, []).append(_message(error, name))
    return _api_error(request, _invalid(fields))


@api.exception_handler(Exception)
def _crash(request, exc):
    # Django's handler500 (travelfit.views.server_error) answers it, in JSON under /api/.
    raise exc


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


def _message(error, field=""):
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


def _refused(exc):
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


def _errors(*statuses):
    """The error answers an operation documents: each in the one error shape."""
    return {status: ErrorBody for status in statuses}


# --- Items -------------------------------------------------------------------------------------


def _own_generation(request, generation_id):
    return get_object_or_404(Generation, pk=generation_id, owner=request.user)


def _one(request, generation):
    return presenters.generation_item(generation, request=request)


def _items(request, generations):
    return presenters.generation_items(generations, request=request)


# --- Listing -----------------------------------------------------------------------------------


def _cursor(generation):
    """An opaque cursor: where the next page starts, as (created_at, id) of the last item."""
    raw = json.dumps([generation.created_at.isoformat(), str(generation.pk)])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _after_cursor(cursor):
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created_at, pk = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        created_at = datetime.datetime.fromisoformat(created_at)
        if timezone.is_naive(created_at):
            raise ValueError("naive")
        return created_at, uuid.UUID(pk)
    except (ValueError, TypeError, UnicodeError, binascii.Error, RecursionError):
        raise _invalid({"cursor": [str(CURSOR_REFUSED)]}) from None


@api.get(
    "/generations",
    response={200: GenerationList, **_errors(400, 401, 429)},
    url_name="generations",
    summary="List your generations",
    tags=["generations"],
)
def list_generations(request, filters: Query[GenerationFilters]):
    """Newest first, `limit` a page; follow `next` (null on the last page) for more.

    Pages are cut with an opaque cursor on (created_at, id), so generations made while you
    page through never shift or repeat the items of later pages.
    """
    try:
        reject_control_characters(filters.q)
    except DjangoValidationError as exc:
        raise _invalid({"q": exc.messages}) from None
    limit = filters.limit
    generations = selectors.gallery_page(
        request.user,
        show=filters.show or "",
        favourites=filters.favourites,
        query=filters.q,
        status=filters.status or "",
        before=_after_cursor(filters.cursor) if filters.cursor else None,
        limit=limit + 1,
    )
    more = len(generations) > limit
    generations = generations[:limit]
    next_url = None
    if more:
        query = request.GET.copy()
        query["cursor"] = _cursor(generations[-1])
        next_url = request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
    return {"results": _items(request, generations), "next": next_url}


# --- Creating ----------------------------------------------------------------------------------


# What a client can do next with what POST /generations made (OpenAPI links): the first item;
# every item of `results` has the same operations.
_FIRST_ID = {"generation_id": "$response.body#/results/0/id"}
CREATED_LINKS = {
    name: {"operationId": operation, "parameters": _FIRST_ID, "description": text}
    for name, operation, text in (
        ("GetGeneration", "get_generation", "Its live status (poll until `active` is false)."),
        ("CancelGeneration", "cancel_generation", "Cancel it while it is queued."),
        ("RetryGeneration", "retry_generation", "Ask again with the same parameters."),
        ("DownloadImage", "image", "The image, once it has succeeded."),
        ("ShareGeneration", "share", "A public link, once it has succeeded."),
        ("DeleteGeneration", "delete_generation", "Delete it and its files."),
    )
}


def _location(request, generation):
    return request.build_absolute_uri(reverse("api:generation", args=[generation.pk]))


def _idempotent(request, answer):
    """The response of `answer()` (status, data, headers), given once per Idempotency-Key: a
    repeat gets it replayed, with nothing done or charged again (imagegen.idempotency)."""

    def respond():
        status, data, headers = answer()
        response = api.create_response(request, data, status=status)
        for name, value in headers.items():
            response[name] = value
        return response

    return idempotency.with_idempotency(request, request.user, respond)


class _DuplicateKey(ValueError):
    pass


def _refuse_duplicates(pairs):
    """json.loads' object hook: an object naming a key twice is ambiguous (which one wins
    differs between parsers), so it is refused rather than read as the last one."""
    data = {}
    for name, value in pairs:
        if name in data:
            raise _DuplicateKey(name)
        data[name] = value
    return data


def _json_object(request):
    """The body as a JSON object: UTF-8 (RFC 8259), no byte order mark, no key named twice."""
    if request.content_type != "application/json":
        raise ApiError(
            415,
            "unsupported_media_type",
            _("Send the body as JSON, with `Content-Type: application/json`."),
        )
    charset = request.content_params.get("charset", "utf-8").lower()
    body = request.body
    if charset not in ("utf-8", "utf8") or body.startswith(codecs.BOM_UTF8):
        raise ApiError(400, "invalid_json", str(UTF8_ONLY))
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "invalid_json", str(UTF8_ONLY)) from None
    try:
        data = json.loads(text, object_pairs_hook=_refuse_duplicates)
    except _DuplicateKey as exc:
        raise ApiError(
            400,
            "invalid_json",
            _("The key %(key)s appears twice in one object: send it once.") % {"key": exc},
        ) from None
    except (ValueError, RecursionError):
        # RecursionError: a body nested thousands deep is not a request we can take.
        raise ApiError(400, "invalid_json", _("The body is not valid JSON.")) from None
    if not isinstance(data, dict):
        raise ApiError(
            400, "invalid_json", _('Send a JSON object, like {"prompt": "Jeju at sunrise"}.')
        )
    return data


def _validated_request(request, data):
    """(body, form, callback URL) of a valid create request, or the ApiError naming every
    field refused.

    Types are pydantic's (strict: nothing coerced, no unknown fields); values are
    GenerationForm's, the create page's own rules from the provider's capabilities. A field the
    provider does not take is refused rather than dropped.
    """
    errors = {}
    body = None
    try:
        body = GenerationCreate.model_validate(data)
    except pydantic.ValidationError as exc:
        for error in exc.errors(include_url=False):
            if error["type"] == "missing":
                continue  # the form says what is missing, in its own words
            name = str(error["loc"][0]) if error["loc"] else "body"
            errors.setdefault(name, []).append(_message(error, name))
    form_data = {
        name: value
        for name, value in data.items()
        if name in CREATE_FIELDS and name not in errors and value is not None
    }
    form = GenerationForm(form_data, user=request.user)
    for name in sorted(set(form_data) - set(form.fields)):
        errors[name] = [
            _("The site's image provider does not take `%(field)s`; leave it out.")
            % {"field": name}
        ]
        del form.data[name]
    task = data.get("task") or Generation.Task.TEXT
    if task != Generation.Task.TEXT:
        for name in TEXT_ONLY_FIELDS:
            if data.get(name) is not None:
                errors.setdefault(name, []).append(
                    _("`%(field)s` is for pictures from words: a photo task is its photo's size.")
                    % {"field": name}
                )
                form.data.pop(name, None)
    if not form.is_valid():
        for name, messages in form.errors.items():
            errors.setdefault(name, list(messages))
    callback_url = ""
    if "callback_url" not in errors:
        try:
            callback_url = webhooks.resolve_callback_url(
                api_token=request.api_token,
                callback_url=data.get("callback_url") or "",
                for_staff=request.user.is_staff,
            )
        except DjangoValidationError as exc:
            errors["callback_url"] = exc.messages
    if errors:
        raise _invalid(errors)
    return body, form, callback_url


@api.post(
    "/generations",
    response={201: GenerationList, **_errors(400, 401, 403, 409, 415, 429, 503)},
    url_name="create_generation",
    summary="Ask for images",
    tags=["generations"],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": GenerationCreate.model_json_schema()}},
        },
        "parameters": [IDEMPOTENCY_KEY],
        "responses": {201: {"links": CREATED_LINKS}},
    },
)
def create_generation(request):
    """Queue `n` (1–4) generations of one request, with quota for all of them or none (429).

    Ranges (sizes, steps, guidance) are those of the site's image provider, as on the create
    page; a field it does not take is refused. Each generation calls `callback_url` (else the
    key's default) when it ends. With an `Idempotency-Key`, a retry of the same request gets
    the first answer again and is not charged twice.
    """
    return _idempotent(request, lambda: _create(request))


def _create(request):
    data = _json_object(request)
    body, form, callback_url = _validated_request(request, data)
    try:
        generations = services.submit_generations(
            user=request.user,
            count=body.n,
            **{**form.generation_kwargs(), "translate_prompt": body.translate_prompt is not False},
            callback_url=callback_url,
            api_token=request.api_token,
            origin=presenters.request_origin(request),
            language=request.LANGUAGE_CODE,
        )
    except services.SubmissionRefused as exc:
        raise _refused(exc) from None
    headers = {}
    if len(generations) == 1:
        headers["Location"] = _location(request, generations[0])
    return 201, {"results": _items(request, generations), "next": None}, headers


# --- One generation ----------------------------------------------------------------------------

ID = "/generations/{uuid:generation_id}"


@api.get(
    ID,
    response={200: GenerationOut, **_errors(401, 404, 429)},
    url_name="generation",
    summary="Get one generation",
    tags=["generations"],
)
def get_generation(request, generation_id: uuid.UUID):
    """Its live status (poll it, or use a callback) and the parameters it was made with."""
    return _one(request, _own_generation(request, generation_id))


@api.delete(
    ID,
    response={204: None, **_errors(401, 403, 404, 409, 429)},
    url_name="delete_generation",
    summary="Delete a generation",
    tags=["generations"],
)
def delete_generation(request, generation_id: uuid.UUID):
    """Delete it and its files; a queued one is canceled first (quota back). 409 while it runs."""
    try:
        deleted = services.delete_generation(generation_id=generation_id, user=request.user)
    except services.GenerationBusy as exc:
        raise ApiError(409, "conflict", str(exc), status=Generation.Status.RUNNING) from None
    if not deleted:
        raise Http404
    return HttpResponse(status=204)


@api.post(
    ID + "/cancel",
    response={200: GenerationOut, **_errors(400, 401, 403, 404, 409, 429)},
    url_name="cancel",
    summary="Cancel a queued generation",
    tags=["generations"],
    openapi_extra={"parameters": [IDEMPOTENCY_KEY]},
)
def cancel_generation(request, generation_id: uuid.UUID):
    """Cancel it while queued and give its quota back; 409 once it has started."""
    return _idempotent(request, lambda: _cancel(request, generation_id))


def _cancel(request, generation_id):
    generation = _own_generation(request, generation_id)
    canceled = services.cancel_generation(generation_id=generation.pk, user=request.user)
    generation.refresh_from_db()
    if not canceled:
        raise ApiError(
            409,
            "conflict",
            _("It is “%(status)s” already, so it can no longer be canceled.")
            % {"status": generation.get_status_display()},
            status=generation.status,
        )
    return 200, _one(request, generation), {}


@api.post(
    ID + "/retry",
    response={201: GenerationOut, **_errors(400, 401, 403, 404, 409, 429, 503)},
    url_name="retry",
    summary="Ask again with the same parameters",
    tags=["generations"],
    openapi_extra={"parameters": [IDEMPOTENCY_KEY]},
)
def retry_generation(request, generation_id: uuid.UUID):
    """A new generation of the same request (quota again); the original stays as it is."""
    return _idempotent(request, lambda: _retry(request, generation_id))


def _retry(request, generation_id):
    generation = _own_generation(request, generation_id)
    try:
        again = services.retry_generation(
            generation_id=generation.pk,
            user=request.user,
            origin=presenters.request_origin(request),
            language=request.LANGUAGE_CODE,
        )
    except services.SubmissionRefused as exc:
        raise _refused(exc) from None
    return 201, _one(request, again), {"Location": _location(request, again)}


@api.put(
    ID + "/favourite",
    response={200: GenerationOut, **_errors(401, 403, 404, 429)},
    url_name="favourite",
    summary="Mark as a favourite",
    tags=["generations"],
)
def favourite(request, generation_id: uuid.UUID):
    return _set_favourite(request, generation_id, True)


@api.delete(
    ID + "/favourite",
    response={200: GenerationOut, **_errors(401, 403, 404, 429)},
    url_name="unfavourite",
    summary="Unmark as a favourite",
    tags=["generations"],
)
def unfavourite(request, generation_id: uuid.UUID):
    return _set_favourite(request, generation_id, False)


def _set_favourite(request, generation_id, on):
    generation = _own_generation(request, generation_id)
    services.set_favourite(generation_id=generation.pk, user=request.user, favourite=on)
    generation.refresh_from_db()
    return _one(request, generation)


@api.put(
    ID + "/share",
    response={200: ShareOut, **_errors(401, 403, 404, 409, 429)},
    url_name="share",
    summary="Share: a public link",
    tags=["generations"],
)
def share(request, generation_id: uuid.UUID):
    """Anyone with the link sees the image and its prompt; the same link while shared."""
    generation = _own_generation(request, generation_id)
    token = services.share_generation(generation_id=generation.pk, user=request.user)
    if token is None:
        raise ApiError(
            409,
            "conflict",
            _("Only a finished image can be shared."),
            status=generation.status,
        )
    url = reverse("imagegen:shared", args=[token])
    return {"share_url": presenters.link_base(generation, request) + url}


@api.delete(
    ID + "/share",
    response={200: ShareOut, **_errors(401, 403, 404, 429)},
    url_name="unshare",
    summary="Unshare: the link stops working",
    tags=["generations"],
)
def unshare(request, generation_id: uuid.UUID):
    generation = _own_generation(request, generation_id)
    services.revoke_share(generation_id=generation.pk, user=request.user)
    return {"share_url": None}


def _file_responses(*content_types):
    binary = {"schema": {"type": "string", "format": "binary"}}
    return {
        "responses": {
            200: {
                "description": "The file.",
                "content": {content_type: binary for content_type in content_types},
            },
            302: {"description": "A signed link to the file in the site's bucket, for minutes."},
        }
    }


def _own_image(request, generation_id):
    """The user's own generation whose image may be seen (succeeded); 409 naming its status
    while it has none (queued, running, held for review, failed…). Someone else's: 404."""
    generation = _own_generation(request, generation_id)
    if generation.status == Generation.Status.SUCCEEDED:
        return generation
    if generation.is_active:
        message = _(
            "It is “%(status)s”: its image comes once it has succeeded; poll it, or wait for "
            "its webhook."
        )
    else:
        message = _("It is “%(status)s”: it has no image to send.")
    raise ApiError(
        409,
        "conflict",
        message % {"status": generation.get_status_display()},
        status=generation.status,
    )


@api.get(
    ID + "/image.png",
    response=_errors(400, 401, 404, 409, 429),
    url_name="image",
    summary="Download the image",
    tags=["images"],
    openapi_extra=_file_responses("image/png", "image/jpeg", "image/webp"),
)
def image(request, generation_id: uuid.UUID, download: bool = False):
    """The image as the provider made it (usually PNG); `download=true` as an attachment.
    409 with its `status` until it has succeeded (held for review included)."""
    generation = _own_image(request, generation_id)
    return views.send_file(
        generation.image,
        content_type=generation.image_content_type,
        download_name=generation.download_name if download else None,
    )


@api.get(
    ID + "/thumb.webp",
    response=_errors(401, 404, 409, 429),
    url_name="thumbnail",
    summary="Download the thumbnail",
    tags=["images"],
    openapi_extra=_file_responses("image/webp"),
)
def thumbnail(request, generation_id: uuid.UUID):
    """A small WebP of the image; 409 with its `status` until it has succeeded."""
    generation = _own_image(request, generation_id)
    return views.send_file(generation.thumbnail, content_type="image/webp")


# --- The account -------------------------------------------------------------------------------


@api.get(
    "/quota",
    response={200: QuotaOut, **_errors(401, 429)},
    url_name="quota",
    summary="Your quota",
    tags=["account"],
)
def quota(request):
    """How many generations you have left today and this month, and when more come."""
    status = selectors.quota_status(request.user)
    return {
        "daily_limit": status.daily_limit,
        "day_left": status.day_left,
        "monthly_limit": status.monthly_limit,
        "month_left": status.month_left,
        "resets_at": status.resets_at,
    }


# --- Uploads: photos for edit and try_on ------------------------------------------------------

# The content types of the formats an upload may be (imagegen.uploads.FORMATS, by its bytes).
FORMAT_CONTENT_TYPES = {
    "JPEG": ("image/jpeg",),
    "PNG": ("image/png",),
    "WEBP": ("image/webp",),
    "HEIF": ("image/heic", "image/heif"),
}


def upload_content_types():
    """The photos `POST /uploads` takes, as content types, in imagegen.uploads' order."""
    return [kind for name in UPLOAD_FORMATS for kind in FORMAT_CONTENT_TYPES[name]]


def upload_limits():
    """What `POST /uploads` takes on this site: /capabilities' `uploads`, and the schema's."""
    return {
        "max_bytes": settings.IMAGEGEN_UPLOAD_MAX_BYTES,
        "max_pixels": settings.IMAGEGEN_UPLOAD_MAX_PIXELS,
        "content_types": upload_content_types(),
        "per_day": settings.IMAGEGEN_UPLOADS_PER_DAY,
    }


def _upload_body():
    """The upload's request body, with this site's limits (read when the schema is built)."""
    limits = upload_limits()
    return {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": (
                                f"A photo: {', '.join(limits['content_types'])}, decided by "
                                f"its bytes (the file's name and declared type are not read); "
                                f"at most {limits['max_bytes']} bytes and "
                                f"{limits['max_pixels']} pixels, one frame. Larger or other "
                                "files are `400 invalid` with `fields.file` saying why."
                            ),
                        }
                    },
                    "required": ["file"],
                    "additionalProperties": False,
                },
                "encoding": {"file": {"contentType": ", ".join(limits["content_types"])}},
            }
        },
    }


def _upload_item(upload):
    return {
        "id": upload.pk,
        "width": upload.width,
        "height": upload.height,
        "content_type": upload.content_type,
        "created_at": upload.created_at,
        "expires_at": upload.expires_at,
    }


def _refused_file(message):
    return _invalid({"file": [message]})


@api.post(
    "/uploads",
    response={201: UploadOut, **_errors(400, 401, 403, 409, 415, 429)},
    url_name="uploads",
    summary="Upload a photo",
    tags=["uploads"],
    # The body itself is filled in when the schema is built: its limits are settings.
    openapi_extra={"requestBody": {"content": {}}, "parameters": [IDEMPOTENCY_KEY]},
)
def create_upload(request):
    """A photo to edit or to try an outfit on, as `multipart/form-data` with one field, `file`.

    It is checked by its bytes (JPEG, PNG, WebP, HEIC/HEIF; one frame; within the size
    limits), turned upright and kept as a copy with no metadata at all (no EXIF, no GPS). Use
    its `id` as `source_image` or `garment_image` before `expires_at`: a photo no generation
    uses is deleted after a day. With an `Idempotency-Key`, sending the same file again gets
    the first answer, and the upload is stored (and counted) once.
    """
    if request.content_type != "multipart/form-data":
        raise ApiError(
            415,
            "unsupported_media_type",
            _("Send the photo as multipart/form-data, in a field named `file`."),
        )
    try:
        request.FILES  # noqa: B018  read here: Idempotency-Key compares the files it holds
    except MultiPartParserError:
        raise _refused_file(
            _("The multipart body could not be read (a boundary is missing or wrong).")
        ) from None
    return _idempotent(request, lambda: _store_upload(request))


def _store_upload(request):
    chosen = request.FILES.get("file")
    if "file" in getattr(request, "oversized_uploads", set()):
        raise _refused_file(too_large().localized())
    if chosen is None:
        raise _refused_file(_("Send the photo in a multipart field named `file`."))
    try:
        upload = services.store_upload(user=request.user, data=chosen.read())
    except UploadRefused as exc:
        raise _refused_file(exc.localized()) from None
    except services.UploadsExhausted as exc:
        raise ApiError(
            429,
            exc.code,
            str(exc),
            headers={"Retry-After": str(exc.retry_after_seconds)},
            retry_after=exc.retry_after_seconds,
        ) from None
    location = request.build_absolute_uri(reverse("api:upload", args=[upload.pk]))
    return 201, _upload_item(upload), {"Location": location}


UPLOAD_ID = "/uploads/{uuid:upload_id}"


def _own_upload(request, upload_id):
    return get_object_or_404(Upload, pk=upload_id, owner=request.user)


@api.get(
    UPLOAD_ID,
    response={200: UploadOut, **_errors(401, 404, 429)},
    url_name="upload",
    summary="Get an uploaded photo's details",
    tags=["uploads"],
)
def get_upload(request, upload_id: uuid.UUID):
    return _upload_item(_own_upload(request, upload_id))


@api.get(
    UPLOAD_ID + "/image",
    response=_errors(401, 404, 429),
    url_name="upload_image",
    summary="Download an uploaded photo",
    tags=["uploads"],
    openapi_extra=_file_responses("image/jpeg", "image/png"),
)
def upload_image(request, upload_id: uuid.UUID):
    """The stored copy: upright, without metadata (not the bytes you sent)."""
    upload = _own_upload(request, upload_id)
    return views.send_file(upload.image, content_type=upload.content_type)


@api.delete(
    UPLOAD_ID,
    response={204: None, **_errors(401, 403, 404, 409, 429)},
    url_name="delete_upload",
    summary="Delete an uploaded photo",
    tags=["uploads"],
)
def delete_upload(request, upload_id: uuid.UUID):
    """Delete it now; 409 while a queued or running generation still needs it. Generations
    made from it keep their images."""
    try:
        deleted = services.delete_upload(upload_id=upload_id, user=request.user)
    except services.UploadInUse:
        raise ApiError(
            409, "conflict", _("A generation that is not finished yet uses this photo.")
        ) from None
    if not deleted:
        raise Http404
    return HttpResponse(status=204)


# --- What the site offers ----------------------------------------------------------------------


@api.get(
    "/presets",
    response={200: PresetList, **_errors(401, 429)},
    url_name="presets",
    summary="List the travel presets",
    tags=["site"],
)
def list_presets(request):
    """The travel presets `preset` takes, in the create page's order, named in the reader's
    language (`Accept-Language`), with the size each makes unless `aspect` says otherwise."""
    capabilities = primary_provider().capabilities
    return {
        "results": [
            {
                "id": preset.pk,
                "name": preset.display_name,
                "description": preset.display_description,
                "aspect": preset.aspect,
                **dict(
                    zip(("width", "height"), aspect_size(preset.aspect, capabilities), strict=True)
                ),
            }
            for preset in Preset.objects.filter(active=True)
        ]
    }


@api.get(
    "/tiers",
    response={200: TierList, **_errors(401, 429)},
    url_name="tiers",
    summary="List the quality tiers",
    tags=["site"],
)
def list_tiers(request):
    """The quality tiers `tier` takes, in the create page's order: what each costs in quota
    units, what it can make, about how long it takes, and whether it can serve now."""
    default = tiers.default_tier()
    results = []
    for tier in tiers.tiers():
        tasks = tier.tasks()
        results.append(
            {
                "name": tier.name,
                "label": tier.label,
                "units": tier.units,
                "tasks": [task for task in Generation.Task.values if task in tasks],
                "typical_seconds": round(selectors.tier_typical_seconds(tier), 1),
                "default": tier == default,
                "available": any(services.paused_until(tier, task) is None for task in tasks),
            }
        )
    return {"results": results}


@api.get(
    "/capabilities",
    response={200: CapabilitiesOut, **_errors(401, 429)},
    url_name="capabilities",
    summary="What a request may ask for",
    tags=["site"],
)
def capabilities(request):
    """The tasks `POST /generations` can do on this site, and the ranges it accepts (its first
    image provider's): sizes and the size of each aspect, whether it takes a negative prompt
    and a seed, steps and guidance, the longest prompt and the most images per request; and
    what `POST /uploads` takes (`uploads`: bytes, pixels, kinds of photo, uploads a day)."""
    provider = primary_provider()
    caps = provider.capabilities
    size = {"minimum": caps.min_size, "maximum": caps.max_size, "multiple_of": caps.size_step}

    def bounds(pair):
        return dict(zip(("minimum", "maximum"), pair, strict=True)) if pair else None

    return {
        "provider": provider.name,
        "tasks": [task for task in Generation.Task.values if task in available_tasks()],
        "width": size,
        "height": size,
        "aspects": {
            aspect.value: dict(zip(("width", "height"), aspect_size(aspect, caps), strict=True))
            for aspect in Aspect
        },
        "negative_prompt": caps.negative_prompt,
        "seed": bounds((0, MAX_SEED)) if caps.seed else None,
        "steps": bounds(caps.steps),
        "guidance": bounds(caps.guidance),
        "max_prompt_length": settings.IMAGEGEN_MAX_PROMPT_LENGTH,
        "max_batch": MAX_BATCH,
        "translation": translation.is_on(),
        "uploads": upload_limits(),
    }


# Trip lookbooks (issue 31): their own module and router.
from .trips_api import router as trips_router  # noqa: E402

api.add_router("/trips", trips_router)
