"""The JSON API (/api/v1/…).

A caller is a signed-in browser (its session, with Django's CSRF check on every write) or a
script sending `Authorization: Bearer tf_…` with a key made on the API keys page
(/accounts/keys/). Every answer is JSON, errors included: {"error": {"code": "…", "message":
"…"}} with a fitting status.
"""

import json
import math
from functools import wraps

from django.core.paginator import EmptyPage, PageNotAnInteger, Paginator
from django.db.models import Count, Q
from django.http import Http404, HttpResponse, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from . import selectors, services, views
from .forms import GenerationForm
from .models import Generation

PAGE_SIZE = 20
SAFE_METHODS = ("GET", "HEAD", "OPTIONS", "TRACE")

# API views are csrf_exempt so that bearer requests pass the middleware; this instance runs the
# middleware's own checks afterwards, for session requests only. get_response is never called.
_csrf = CsrfViewMiddleware(lambda request: None)


def _error(http_status, code, message, **extra):
    return JsonResponse({"error": {"code": code, "message": message, **extra}}, status=http_status)


def _not_found():
    return _error(404, "not_found", "Nothing of yours is at this address.")


def _invalid(fields):
    return _error(
        400,
        "invalid",
        "Some fields are not valid; see `fields`.",
        fields={name: [str(message) for message in errors] for name, errors in fields.items()},
    )


def _unauthenticated(message):
    response = _error(401, "unauthenticated", message)
    response["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


def _authenticate(request):
    """Set request.user from a bearer key or the session; a response when the caller may not go on.

    Only the Bearer scheme counts as a key: another scheme (say, Basic from a proxy in front)
    is ignored and the session decides.
    """
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        key = key.strip()
        user = services.user_for_api_key(key) if key else None
        if user is None:
            # Never fall back to the session: a script with a revoked key must not act as
            # whoever happens to be signed in in the same browser.
            return _unauthenticated("This API key is not valid; it may have been revoked.")
        request.user = user
        return None
    if not request.user.is_authenticated:
        return _unauthenticated("Sign in, or send `Authorization: Bearer <your API key>`.")
    if request.method not in SAFE_METHODS and _csrf.process_view(request, None, (), {}):
        return _error(
            403,
            "csrf_failed",
            "The CSRF check failed: send the csrftoken cookie's value in an X-CSRFToken header, "
            "or use an API key instead of the session.",
        )
    return None


def api_endpoint(*methods):
    """Make a function view an API endpoint: JSON errors, the allowed methods, session or key."""

    def decorate(view):
        @csrf_exempt
        @wraps(view)
        def endpoint(request, *args, **kwargs):
            if request.method not in methods:
                response = _error(
                    405, "method_not_allowed", f"Use {' or '.join(methods)} at this address."
                )
                response["Allow"] = ", ".join(methods)
                return response
            refused = _authenticate(request)
            if refused is not None:
                return refused
            try:
                return view(request, *args, **kwargs)
            except Http404:
                # Someone else's generation is "not found", exactly like a missing one.
                return _not_found()

        return endpoint

    return decorate


def _own_generation(request, generation_id):
    return get_object_or_404(Generation, pk=generation_id, owner=request.user)


def _item(request, generation, status):
    """A generation as the API shows it: its live status and the parameters it was made with.

    URLs are absolute, so that a front end on another origin can follow them, and the image
    URLs are the API's own, which accept an API key as well as the session.
    """
    done = status["image_url"] is not None
    absolute = request.build_absolute_uri
    return {
        **status,
        "detail_url": absolute(status["detail_url"]),
        "image_url": absolute(reverse("api:image", args=[generation.pk])) if done else None,
        "thumbnail_url": absolute(reverse("api:thumbnail", args=[generation.pk])) if done else None,
        "prompt": generation.prompt,
        "negative_prompt": generation.negative_prompt,
        # English sent to the model when the words were translated; empty when sent as they are.
        "prompt_en": generation.prompt_en,
        "negative_prompt_en": generation.negative_prompt_en,
        "translation_note": generation.translation_note,
        "translate_prompt": generation.translate_prompt,
        "preset": generation.preset_id,
        "width": generation.width,
        "height": generation.height,
        "seed": generation.seed,
        "actual_seed": generation.actual_seed,
        "steps": generation.steps,
        "guidance": generation.guidance,
        "provider": generation.provider,
        "model": generation.model_name,
        "created_at": generation.created_at,
        "favourite": generation.favourite,
    }


def _queue_positions(queued):
    """{id: position} of these queued generations in one query, by queue_position()'s rule."""
    if not queued:
        return {}
    dispatched = Q(enqueued_at__isnull=False)
    counts = Generation.objects.filter(status=Generation.Status.QUEUED).aggregate(
        dispatched=Count("pk", filter=dispatched),
        **{
            f"ahead_{i}": Count(
                "pk",
                filter=dispatched & Q(enqueued_at__lt=generation.enqueued_at)
                if generation.enqueued_at is not None
                else Q(
                    owner_id=generation.owner_id,
                    enqueued_at__isnull=True,
                    created_at__lt=generation.created_at,
                ),
            )
            for i, generation in enumerate(queued)
        },
    )
    return {
        generation.pk: counts[f"ahead_{i}"]
        + (counts["dispatched"] if generation.enqueued_at is None else 0)
        + 1
        for i, generation in enumerate(queued)
    }


def _page_statuses(generations):
    """views.status_payload() for each generation of a page, the queue read once per page."""
    queued = [g for g in generations if g.status == Generation.Status.QUEUED]
    positions = _queue_positions(queued)
    any_active = any(g.is_active for g in generations)
    typical = selectors.typical_duration_now() if any_active else None
    return [
        views.status_payload(g, position=positions.get(g.pk), typical=typical) for g in generations
    ]


def _page_url(request, number):
    query = request.GET.copy()
    query["page"] = number
    return request.build_absolute_uri(f"{request.path}?{query.urlencode()}")


def _list(request):
    generations = selectors.generations_of(request.user)
    status = request.GET.get("status", "")
    if status:
        if status not in Generation.Status.values:
            return _invalid({"status": [f"Choose one of: {', '.join(Generation.Status.values)}."]})
        generations = generations.filter(status=status)
    paginator = Paginator(generations, PAGE_SIZE)
    number = request.GET.get("page") or 1
    try:
        page = paginator.page(number)
    except PageNotAnInteger:
        return _invalid({"page": ["Give a whole page number: 1, 2, …"]})
    except EmptyPage:
        return _error(
            404, "not_found", f"There is no page {number}; there are {paginator.num_pages}."
        )
    statuses = _page_statuses(page.object_list)
    return JsonResponse(
        {
            "results": [
                _item(request, generation, status)
                for generation, status in zip(page.object_list, statuses, strict=True)
            ],
            "page": page.number,
            "pages": paginator.num_pages,
            "count": paginator.count,
            "next": _page_url(request, page.next_page_number()) if page.has_next() else None,
            "previous": _page_url(request, page.previous_page_number())
            if page.has_previous()
            else None,
        }
    )


# What each field of a JSON body may be. Booleans are refused everywhere (JSON's true is not
# the prompt "True", nor the number 1); numbers may come as JSON numbers or as text, as from a
# form; null means "not given".
TEXT = (str,)
NUMBER = (int, float, str)
JSON_FIELD_TYPES = {
    "prompt": TEXT,
    "negative_prompt": TEXT,
    "aspect": TEXT,
    "preset": (int, str),
    "width": (int, str),
    "height": (int, str),
    "seed": (int, str),
    "steps": (int, str),
    "guidance": NUMBER,
}
TYPE_NAMES = {TEXT: "text", NUMBER: "a number", (int, str): "a whole number"}


def _posted_fields(request):
    """(fields, None) from a JSON object or a form body, or (None, the error response)."""
    if request.content_type != "application/json":
        return request.POST, None
    try:
        data = json.loads(request.body)
    except (ValueError, RecursionError):
        # RecursionError: a body nested thousands deep is not a request we can take.
        return None, _error(400, "invalid_json", "The body is not valid JSON.")
    if not isinstance(data, dict):
        return None, _error(
            400, "invalid_json", 'Send a JSON object, like {"prompt": "Jeju at sunrise"}.'
        )
    wrong = {}
    for name, value in data.items():
        allowed = JSON_FIELD_TYPES.get(name)
        if allowed is None or value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, allowed):
            wrong[name] = [
                f"Send a single value here ({TYPE_NAMES[allowed]}), not {_json_type(value)}."
            ]
    if wrong:
        return None, _invalid(wrong)
    return {name: value for name, value in data.items() if value is not None}, None


def _json_type(value):
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, int | float):
        return "a number"
    return "text"


def _over_quota(exc):
    seconds = max(0, math.ceil((exc.resets_at - timezone.now()).total_seconds()))
    response = _error(
        429,
        "over_quota",
        str(exc),
        period=exc.period,
        limit=exc.limit,
        resets_at=exc.resets_at,
    )
    response["Retry-After"] = str(seconds)
    return response


TRUE_TEXT = ("true", "1", "on", "yes")
FALSE_TEXT = ("false", "0", "off", "no")


def _translate_prompt(fields):
    """The optional `translate_prompt` choice (true by default), or None when it is not one.

    JSON sends true or false; a form body sends text (true/false, 1/0, on/off, yes/no).
    """
    value = fields.get("translate_prompt", True)
    if isinstance(value, str):
        text = value.strip().lower()
        value = True if text in TRUE_TEXT else False if text in FALSE_TEXT else None
    return value if isinstance(value, bool) else None


def _create(request):
    fields, refused = _posted_fields(request)
    if refused is not None:
        return refused
    form = GenerationForm(fields)
    translate_prompt = _translate_prompt(fields)
    if not form.is_valid() or translate_prompt is None:
        errors = dict(form.errors)
        if translate_prompt is None:
            errors["translate_prompt"] = ["Send true or false."]
        return _invalid(errors)
    try:
        generation = services.submit_generation(
            user=request.user,
            **{**form.generation_kwargs(), "translate_prompt": translate_prompt},
        )
    except services.QuotaExceeded as exc:
        return _over_quota(exc)
    except services.PromptBlocked as exc:
        return _error(400, "prompt_blocked", str(exc), fields={"prompt": [str(exc)]})
    except services.BudgetExhausted as exc:
        return _error(503, "budget_exhausted", str(exc))
    response = JsonResponse(
        _item(request, generation, views.status_payload(generation)), status=201
    )
    response["Location"] = request.build_absolute_uri(
        reverse("api:generation", args=[generation.pk])
    )
    return response


@api_endpoint("GET", "POST")
def generations(request):
    """GET: the caller's generations, newest first, 20 a page; POST: queue a new one (201)."""
    if request.method == "POST":
        return _create(request)
    return _list(request)


@api_endpoint("GET", "DELETE")
def generation(request, generation_id):
    """GET: one of the caller's generations; DELETE: remove it and its files (204)."""
    if request.method == "DELETE":
        try:
            deleted = services.delete_generation(generation_id=generation_id, user=request.user)
        except services.GenerationBusy as exc:
            return _error(409, "conflict", str(exc))
        return HttpResponse(status=204) if deleted else _not_found()
    generation = _own_generation(request, generation_id)
    return JsonResponse(_item(request, generation, views.status_payload(generation)))


@api_endpoint("POST")
def cancel(request, generation_id):
    """Cancel a queued generation and give its quota back; 409 once it has started."""
    generation = _own_generation(request, generation_id)
    canceled = services.cancel_generation(generation_id=generation.pk, user=request.user)
    generation.refresh_from_db()
    if not canceled:
        return _error(
            409,
            "conflict",
            f"It is {generation.get_status_display().lower()} already, "
            "so it can no longer be canceled.",
            status=generation.status,
        )
    return JsonResponse(_item(request, generation, views.status_payload(generation)))


@api_endpoint("GET")
def image(request, generation_id):
    """The finished PNG; with ?download=1 as an attachment."""
    # The page's view checks the owner and sends the file; here request.user may come from a key.
    return views.image(request, generation_id)


@api_endpoint("GET")
def thumbnail(request, generation_id):
    """The finished image's WebP thumbnail."""
    return views.thumbnail(request, generation_id)


@api_endpoint("GET")
def quota(request):
    """How many generations the caller has left today and this month, and when more come."""
    status = selectors.quota_status(request.user)
    return JsonResponse(
        {
            "daily_limit": status.daily_limit,
            "day_left": status.day_left,
            "monthly_limit": status.monthly_limit,
            "month_left": status.month_left,
            "resets_at": status.resets_at,
        }
    )


@csrf_exempt
def not_found(request, path=""):
    """Any other address under /api/: a JSON 404 instead of the site's HTML page."""
    return _error(404, "not_found", "There is no API endpoint at this address.")
