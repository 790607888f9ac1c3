"""POST /api/v1/verify: anyone (no key needed) sends an image and learns whether it carries this
site's content credentials and watermark (services.verification)."""

from django.http import RawPostDataException
from django.http.multipartparser import MultiPartParserError
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema

from lib.json_errors import json_error
from lib.rate import client_address

from ..services.api_keys import token_for_api_key
from ..services.verification import VerifyThrottled, verify_upload
from ..uploads import UploadRefused, too_large
from .schemas import ErrorBody

router = Router(tags=["verify"])


class CredentialsOut(Schema):
    present: bool = Field(description="The file carries a C2PA manifest.")
    valid: bool = Field(description="Its signature and hashes check out (not tampered with).")
    validation_state: str = Field(description="Valid, Trusted or Invalid (the C2PA library's).")
    tampered: bool = Field(description="A manifest is there but the bytes no longer match it.")
    signer: str = Field(description="Who signed it (the certificate's name and issuer).")
    generator: str = Field(description="The software that made it, e.g. TravelFit 1.4.0.")
    time: str = Field(description="When it was made (ISO 8601).")
    action: str = Field(description="c2pa.created (from words) or c2pa.edited (a photo went in).")
    digital_source_type: str = Field(description="The IPTC digital source type (made by AI).")
    ingredients: list[dict] = Field(description="What went in: title and relationship only.")
    failures: list[str] = Field(description="The C2PA validation failure codes, if any.")


class WatermarkOut(Schema):
    found: bool = Field(description="This site's invisible watermark is in the pixels.")


class VerifyOut(Schema):
    made_here: bool = Field(
        description="A valid manifest signed by this site, or this site's watermark."
    )
    c2pa: CredentialsOut
    watermark: WatermarkOut
    generation: str | None = Field(
        None, description="Only for its owner, signed in: the link to their generation."
    )


# What the schema shows as the answer (a TravelFit result, asked by its owner).
VERIFY_EXAMPLE = {
    "made_here": True,
    "c2pa": {
        "present": True,
        "valid": True,
        "validation_state": "Valid",
        "tampered": False,
        "signer": "TravelFit content credentials (TravelFit local CA)",
        "generator": "TravelFit 1.4.0",
        "time": "2026-05-01T09:30:12+00:00",
        "action": "c2pa.edited",
        "digital_source_type": "http://cv.iptc.org/newscodes/digitalsourcetype/"
        "compositeWithTrainedAlgorithmicMedia",
        "ingredients": [{"title": "the user's photo", "relationship": "inputTo"}],
        "failures": [],
    },
    "watermark": {"found": True},
    "generation": "https://travelfit.example/api/v1/generations/6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f",
}


@router.post(
    "",
    auth=None,
    response={200: VerifyOut, 400: ErrorBody, 415: ErrorBody, 429: ErrorBody},
    url_name="verify",
    summary="Check an image for this site's marks",
    openapi_extra={
        "responses": {200: {"content": {"application/json": {"example": VERIFY_EXAMPLE}}}},
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {"file": {"type": "string", "format": "binary"}},
                    }
                }
            },
        },
    },
)
def verify(request):
    """Send any image (PNG, JPEG or WebP) as `multipart/form-data` in a field named `file`.
    The answer says whether it carries valid content credentials signed by this site
    (`c2pa`), this site's invisible watermark (`watermark`), both or neither (`made_here`), and
    whether the manifest was tampered with. No key needed; each address may check
    IMAGEGEN_VERIFY_PER_HOUR images an hour. Nobody learns whose image it is: its owner (with
    their key or signed in) also gets `generation`, the link to it."""
    if request.content_type != "multipart/form-data":
        return json_error(
            415,
            "unsupported_media_type",
            _("Send the image as multipart/form-data, in a field named `file`."),
        )
    try:
        chosen = request.FILES.get("file")
    except (MultiPartParserError, RawPostDataException):
        return _refused(_("The multipart body could not be read (a boundary is missing or wrong)."))
    if "file" in getattr(request, "oversized_uploads", set()):
        return _refused(too_large().localized())
    if chosen is None:
        return _refused(_("Send the image in a multipart field named `file`."))
    try:
        verified = verify_upload(
            chosen.read(),
            user=_caller(request),
            address=client_address(request, ipv6_prefix=48),
        )
    except VerifyThrottled as exc:
        return json_error(
            429,
            "rate_limited",
            _("This address has checked many images this hour; try again later."),
            headers={"Retry-After": str(exc.retry_after_seconds)},
            retry_after=exc.retry_after_seconds,
        )
    except UploadRefused as exc:
        return _refused(exc.localized())
    return verified.as_json(request)


def _caller(request):
    """Who asks: a valid API key's owner, else the signed-in user, else nobody. A bad key is
    just nobody here: the check itself is open to all."""
    scheme, _space, key = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and key.strip():
        token = token_for_api_key(key.strip())
        return token.user if token else None
    return request.user


def _refused(message):
    return json_error(
        400, "invalid", _("Some fields are not valid; see `fields`."), fields={"file": [message]}
    )
