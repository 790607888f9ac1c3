"""The API's generations: list yours (a cursor on (created_at, id)), ask for images, and for
one of yours: its status, cancel, retry, favourite, share, its image and thumbnail, delete."""

import base64
import binascii
import datetime
import json
import uuid

import pydantic
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Query, Router

from .. import chains, media, presenters, selectors, services, webhooks
from ..forms import TEXT_ONLY_FIELDS, GenerationForm, reject_control_characters
from ..models import Generation
from ..services.marks import labelled_file
from .errors import CURSOR_REFUSED, ApiError, error_answers, invalid, message, refused
from .json_body import json_object
from .operations import IDEMPOTENCY_KEY, file_responses, idempotent
from .schemas import (
    CREATE_FIELDS,
    ChainOut,
    GenerationCreate,
    GenerationFilters,
    GenerationList,
    GenerationOut,
    ShareOut,
)

router = Router()


# --- Items -------------------------------------------------------------------------------------


def _own_generation(request, generation_id):
    return get_object_or_404(Generation, pk=generation_id, owner=request.user)


def _one(request, generation):
    return presenters.generation_item(generation, request=request)


def _items(request, generations):
    return presenters.generation_items(generations, request=request)


# --- Listing -----------------------------------------------------------------------------------


def page_cursor(generation):
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
        raise invalid({"cursor": [str(CURSOR_REFUSED)]}) from None


@router.get(
    "/generations",
    response={200: GenerationList, **error_answers(400, 401, 429)},
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
        raise invalid({"q": exc.messages}) from None
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
        query["cursor"] = page_cursor(generations[-1])
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
            errors.setdefault(name, []).append(message(error, name))
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
        raise invalid(errors)
    return body, form, callback_url


@router.post(
    "/generations",
    response={201: GenerationList, **error_answers(400, 401, 403, 404, 409, 415, 429, 503)},
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
    return idempotent(request, lambda: _create(request))


def _create(request):
    data = json_object(request)
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
        raise refused(exc) from None
    headers = {}
    if len(generations) == 1:
        headers["Location"] = _location(request, generations[0])
    return 201, {"results": _items(request, generations), "next": None}, headers


# --- One generation ----------------------------------------------------------------------------

ID = "/generations/{uuid:generation_id}"


@router.get(
    ID,
    response={200: GenerationOut, **error_answers(401, 404, 429)},
    url_name="generation",
    summary="Get one generation",
    tags=["generations"],
)
def get_generation(request, generation_id: uuid.UUID):
    """Its live status (poll it, or use a callback) and the parameters it was made with."""
    return _one(request, _own_generation(request, generation_id))


@router.get(
    ID + "/chain",
    response={200: ChainOut, **error_answers(401, 404, 429)},
    url_name="chain",
    summary="Get a generation's chain of edits",
    tags=["generations"],
)
def get_chain(request, generation_id: uuid.UUID):
    """Where it came from (`ancestors`, first picture first) and what was made from it
    (`children`), when it was edited again (`parent` on POST /generations), or edited from one."""
    chain = chains.chain_of(_own_generation(request, generation_id))
    return {
        "root": chain.root.pk,
        "ancestors": _items(request, chain.ancestors),
        "children": _items(request, chain.children),
        "branch": [version.pk for version in chain.branch],
        "size": len(chain.members),
    }


@router.delete(
    ID,
    response={204: None, **error_answers(401, 403, 404, 409, 429)},
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


@router.post(
    ID + "/cancel",
    response={200: GenerationOut, **error_answers(400, 401, 403, 404, 409, 429)},
    url_name="cancel",
    summary="Cancel a queued generation",
    tags=["generations"],
    openapi_extra={"parameters": [IDEMPOTENCY_KEY]},
)
def cancel_generation(request, generation_id: uuid.UUID):
    """Cancel it while queued and give its quota back; 409 once it has started."""
    return idempotent(request, lambda: _cancel(request, generation_id))


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


@router.post(
    ID + "/retry",
    response={201: GenerationOut, **error_answers(400, 401, 403, 404, 409, 429, 503)},
    url_name="retry",
    summary="Ask again with the same parameters",
    tags=["generations"],
    openapi_extra={"parameters": [IDEMPOTENCY_KEY]},
)
def retry_generation(request, generation_id: uuid.UUID):
    """A new generation of the same request (quota again); the original stays as it is."""
    return idempotent(request, lambda: _retry(request, generation_id))


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
        raise refused(exc) from None
    return 201, _one(request, again), {"Location": _location(request, again)}


@router.put(
    ID + "/favourite",
    response={200: GenerationOut, **error_answers(401, 403, 404, 429)},
    url_name="favourite",
    summary="Mark as a favourite",
    tags=["generations"],
)
def favourite(request, generation_id: uuid.UUID):
    return _set_favourite(request, generation_id, True)


@router.delete(
    ID + "/favourite",
    response={200: GenerationOut, **error_answers(401, 403, 404, 429)},
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


@router.put(
    ID + "/share",
    response={200: ShareOut, **error_answers(401, 403, 404, 409, 429)},
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


@router.delete(
    ID + "/share",
    response={200: ShareOut, **error_answers(401, 403, 404, 429)},
    url_name="unshare",
    summary="Unshare: the link stops working",
    tags=["generations"],
)
def unshare(request, generation_id: uuid.UUID):
    generation = _own_generation(request, generation_id)
    services.revoke_share(generation_id=generation.pk, user=request.user)
    return {"share_url": None}


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


@router.get(
    ID + "/image.png",
    response=error_answers(400, 401, 404, 409, 429, 503),
    url_name="image",
    summary="Download the image",
    tags=["images"],
    openapi_extra=file_responses("image/png", "image/jpeg", "image/webp"),
)
def image(request, generation_id: uuid.UUID, download: bool = False, original: bool = False):
    """The image (usually PNG), with its content credentials and watermark. `download=true`
    sends it as an attachment with the "AI-generated" label burnt in, as the site's downloads
    are (IMAGEGEN_VISIBLE_LABEL=files); add `original=true` for the file without the label.
    409 with its `status` until it has succeeded (held for review included)."""
    generation = _own_image(request, generation_id)
    field = generation.image
    if download and not original:
        field = labelled_file(generation)
        if field is None:
            raise ApiError(503, "unavailable", _("The image cannot be sent right now."))
    return media.send_file(
        field,
        content_type=generation.image_content_type,
        download_name=generation.download_name if download else None,
    )


@router.get(
    ID + "/thumb.webp",
    response=error_answers(401, 404, 409, 429),
    url_name="thumbnail",
    summary="Download the thumbnail",
    tags=["images"],
    openapi_extra=file_responses("image/webp"),
)
def thumbnail(request, generation_id: uuid.UUID):
    """A small WebP of the image; 409 with its `status` until it has succeeded."""
    generation = _own_image(request, generation_id)
    return media.send_file(generation.thumbnail, content_type="image/webp")
