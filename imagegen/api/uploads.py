"""The API's uploads: photos for edit and try_on, checked by their bytes and kept without
metadata; what this site takes (`upload_limits`, also in /capabilities and the schema)."""

import uuid

from django.conf import settings
from django.http import Http404, HttpResponse
from django.http.multipartparser import MultiPartParserError
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext as _
from ninja import Router

from .. import media, services
from ..models import Upload
from ..uploads import FORMATS as UPLOAD_FORMATS
from ..uploads import UploadRefused, too_large
from .errors import ApiError, error_answers, invalid
from .operations import IDEMPOTENCY_KEY, file_responses, idempotent
from .schemas import UploadOut

router = Router()


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


def upload_body():
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
    return invalid({"file": [message]})


@router.post(
    "/uploads",
    response={201: UploadOut, **error_answers(400, 401, 403, 409, 415, 429)},
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
    return idempotent(request, lambda: _store_upload(request))


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


@router.get(
    UPLOAD_ID,
    response={200: UploadOut, **error_answers(401, 404, 429)},
    url_name="upload",
    summary="Get an uploaded photo's details",
    tags=["uploads"],
)
def get_upload(request, upload_id: uuid.UUID):
    return _upload_item(_own_upload(request, upload_id))


@router.get(
    UPLOAD_ID + "/image",
    response=error_answers(401, 404, 429),
    url_name="upload_image",
    summary="Download an uploaded photo",
    tags=["uploads"],
    openapi_extra=file_responses("image/jpeg", "image/png"),
)
def upload_image(request, upload_id: uuid.UUID):
    """The stored copy: upright, without metadata (not the bytes you sent)."""
    upload = _own_upload(request, upload_id)
    return media.send_file(upload.image, content_type=upload.content_type)


@router.delete(
    UPLOAD_ID,
    response={204: None, **error_answers(401, 403, 404, 409, 429)},
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
