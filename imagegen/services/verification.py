"""The check anyone can run (/verify, POST /api/v1/verify): an uploaded image's content
credentials and this site's watermark, read from the very bytes given.

The upload passes the same bounded checks as a photo (imagegen.uploads.checked_format: size,
pixels, one frame, a complete decode, a few at once), and each address may check
IMAGEGEN_VERIFY_PER_HOUR images an hour. The answer never says whose image it is; only its
owner, signed in, also gets the link to their generation.
"""

import datetime
from dataclasses import dataclass

from django.conf import settings
from django.urls import reverse
from django.utils.translation import gettext_noop

from lib.rate import RateLimit

from ..marks.verification import MarksReport, verify
from ..models import Generation
from ..uploads import UploadRefused, checked_format

CONTENT_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
THROTTLE_ACTION = "verify"


class VerifyThrottled(Exception):
    """This address has checked its images for the hour; `retry_after_seconds` says when."""

    def __init__(self, retry_after_seconds):
        super().__init__("verify throttled")
        self.retry_after_seconds = retry_after_seconds


@dataclass(frozen=True)
class Verified:
    """What was read, and the owner's own generation (None for anyone else)."""

    report: MarksReport
    own_generation: Generation | None

    @property
    def verdict(self) -> str:
        """One word for the page: both (our valid manifest and our watermark), credentials,
        watermark (the manifest stripped or tampered with, the watermark still there),
        tampered (a manifest whose bytes changed, no watermark of ours), other (a valid
        manifest of someone else's) or none."""
        report = self.report
        ours = report.c2pa.valid and report.c2pa.signed_here
        if ours:
            return "both" if report.watermark_found else "credentials"
        if report.watermark_found:
            return "watermark"
        if report.tampered:
            return "tampered"
        return "other" if report.c2pa.present else "none"

    def as_json(self, request=None) -> dict:
        """The API's answer: the marks, and `generation` (its URL) for the owner only."""
        answer = self.report.as_json()
        if self.own_generation is not None:
            path = reverse("imagegen:detail", args=[self.own_generation.pk])
            answer["generation"] = request.build_absolute_uri(path) if request else path
        return answer


def verify_upload(data: bytes, *, user, address: str) -> Verified:
    """Read the marks of an uploaded image; UploadRefused when it is not an image we read,
    VerifyThrottled over the address's hourly limit."""
    refused = RateLimit(
        THROTTLE_ACTION, settings.IMAGEGEN_VERIFY_PER_HOUR, datetime.timedelta(hours=1)
    ).authorize(address)
    if refused:
        raise VerifyThrottled(refused.retry_after_seconds)
    image_format = checked_format(data)
    if image_format not in CONTENT_TYPES:
        raise UploadRefused(
            gettext_noop("Send a PNG, JPEG or WebP: the images this site makes are one of those."),
            "unsupported_format",
        )
    report = verify(data, CONTENT_TYPES[image_format])
    return Verified(report=report, own_generation=_own(report, user))


def _own(report, user):
    """The signed-in user's generation whose watermark the image carries, else None."""
    if report.mark_id is None or user is None or not user.is_authenticated:
        return None
    return Generation.objects.filter(mark_id=report.mark_id, owner=user).first()
