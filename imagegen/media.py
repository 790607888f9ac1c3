"""Where generated images are kept and how a browser gets them: this machine's disk or a bucket.

With MEDIA_STORAGE=local a view sends the file (or hands it to nginx/Apache). With s3 the bucket
is private and a view, once it has checked who may see the image, redirects to a URL signed for
IMAGEGEN_SIGNED_URL_TTL seconds. Signing is arithmetic with the credentials, not a request, so a
gallery of 24 cards costs the bucket nothing until the browser fetches the thumbnails.
"""

import uuid
from functools import cache
from urllib.parse import urlsplit

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponse, HttpResponseRedirect
from django.utils.http import content_disposition_header
from django.utils.translation import gettext


def uses_bucket() -> bool:
    return settings.MEDIA_STORAGE == "s3"


# A private image is kept by no cache, not even the browser's: once deleted, unshared or seen on
# a shared computer before logging out, it must not linger (its URL is not content-hashed).
PRIVATE_IMAGE_CACHE = "private, no-store"


def signed_url(field, *, content_type: str, download_name: str | None = None) -> str:
    """A short-lived URL of a stored image in the bucket, answered with our content type,
    cache rule and (for a download) file name."""
    parameters = {
        "ResponseContentType": content_type,
        "ResponseCacheControl": PRIVATE_IMAGE_CACHE,
    }
    if download_name:
        parameters["ResponseContentDisposition"] = content_disposition_header(
            as_attachment=True, filename=download_name
        )
    return field.storage.url(
        field.name, parameters=parameters, expire=settings.IMAGEGEN_SIGNED_URL_TTL
    )


def direct_url(field, *, content_type: str, fallback: str) -> str:
    """Where a page's <img> should point: the signed bucket URL (no hop through our server),
    or `fallback`, our own view, for images on this machine's disk."""
    if uses_bucket() and field:
        return signed_url(field, content_type=content_type)
    return fallback


@cache
def _bucket_origin(storage_settings_key):
    url = default_storage.url("origin-probe")
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def bucket_origin() -> str | None:
    """scheme://host of the signed URLs (for the Content-Security-Policy), or None when local."""
    if not uses_bucket():
        return None
    return _bucket_origin(repr(settings.STORAGES["default"]))


class MediaOriginCSPMiddleware:
    """Let pages show images from the bucket: adds its origin to img-src when MEDIA_STORAGE=s3."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        origin = bucket_origin()
        if origin and "text/html" in response.get("Content-Type", ""):
            update = getattr(response, "_csp_update", None) or {}
            update["img-src"] = [*update.get("img-src", []), origin]
            response._csp_update = update
        return response


def check_storage() -> list[tuple[str, str]]:
    """Write, read and delete a small object where images go; (problem, fix) for each failure."""
    where = (
        f"bucket {settings.AWS_STORAGE_BUCKET_NAME}"
        + (f" at {settings.AWS_S3_ENDPOINT_URL}" if settings.AWS_S3_ENDPOINT_URL else "")
        if uses_bucket()
        else f"folder {settings.MEDIA_ROOT}"
    )
    name = f"travelfit-check/{uuid.uuid4().hex}.txt"
    payload = b"TravelFit storage check"
    step = "write to"
    try:
        saved = default_storage.save(name, ContentFile(payload))
        step = "read from"
        with default_storage.open(saved, "rb") as handle:
            if handle.read() != payload:
                return [(f"What was read back from the {where} differs.", _fix(where))]
        step = "delete from"
        default_storage.delete(saved)
        if default_storage.exists(saved):
            return [(f"A deleted object is still in the {where}.", _fix(where))]
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = error.get("Code", "")
        return [
            (
                f"Could not {step} the {where}: {code} {error.get('Message', '')}".strip(),
                _fix(where, code),
            )
        ]
    except (BotoCoreError, OSError) as exc:
        return [(f"Could not {step} the {where}: {type(exc).__name__}: {exc}", _fix(where))]
    return []


def _fix(where, code=""):
    if code in ("NoSuchBucket", "404"):
        return "Create the bucket (private), or correct AWS_STORAGE_BUCKET_NAME."
    if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403"):
        return (
            "Check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, and that the key may put, get, "
            "and delete objects in the bucket."
        )
    if uses_bucket():
        return (
            "Check AWS_S3_ENDPOINT_URL (reachable from this machine?), AWS_S3_REGION_NAME and "
            "AWS_S3_ADDRESSING_STYLE (path for MinIO and Ceph)."
        )
    return f"Check that DATA_DIR is writable by this user ({where})."


def send_file(field, *, content_type, download_name=None):
    """Send a stored image: a redirect to a signed bucket URL, or the file itself (by the web
    server in front when IMAGEGEN_SENDFILE says how).

    Callers have already checked who may see it; neither the folder nor the bucket is public.
    """
    if not field:
        raise Http404(gettext("No image yet."))
    if uses_bucket():
        response = HttpResponseRedirect(
            signed_url(field, content_type=content_type, download_name=download_name)
        )
        response["Cache-Control"] = PRIVATE_IMAGE_CACHE
        return response
    mode = settings.IMAGEGEN_SENDFILE
    if mode:
        response = HttpResponse(content_type=content_type)
        if mode == "x-accel-redirect":
            # nginx: an `internal` location maps IMAGEGEN_SENDFILE_PREFIX onto MEDIA_ROOT.
            response["X-Accel-Redirect"] = settings.IMAGEGEN_SENDFILE_PREFIX + field.name
        else:
            response["X-Sendfile"] = field.path
        if download_name:
            response["Content-Disposition"] = content_disposition_header(
                as_attachment=True, filename=download_name
            )
    else:
        try:
            handle = field.open("rb")
        except FileNotFoundError as exc:
            raise Http404("The image file is missing.") from exc
        response = FileResponse(
            handle,
            content_type=content_type,
            as_attachment=download_name is not None,
            filename=download_name or "",
        )
    response["Cache-Control"] = PRIVATE_IMAGE_CACHE
    return response


def labelled_copy_missing():
    """503 when the labelled copy is due but could not be made: never the unlabelled original
    in its place (services.marks.labelled_file logged why)."""
    return HttpResponse(
        gettext("The image cannot be sent right now. Please try again later."),
        status=503,
        content_type="text/plain; charset=utf-8",
    )
