"""What /verify and POST /api/v1/verify answer about any image: its content credentials and
this site's watermark, read from bytes that already passed the upload checks.

`made_here` is true when a valid manifest was signed by this site, or when this site's
watermark is in the pixels (the fallback once a messenger or a screenshot stripped the
manifest). The mark id is for finding the owner's own generation; it is never shown to others.
"""

import io
from dataclasses import dataclass

from PIL import Image

from . import credentials, watermark
from .credentials import CredentialsReport

FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}


@dataclass(frozen=True)
class MarksReport:
    """Both marks as read from one image."""

    c2pa: CredentialsReport
    watermark_found: bool
    mark_id: int | None

    @property
    def made_here(self) -> bool:
        """Our valid manifest, or our watermark in the pixels."""
        return (self.c2pa.valid and self.c2pa.signed_here) or self.watermark_found

    @property
    def tampered(self) -> bool:
        """A manifest is there but the bytes no longer match what was signed."""
        return self.c2pa.present and self.c2pa.validation_state == "Invalid"

    def as_json(self) -> dict:
        """The public answer (no mark id: that would tell strangers which generation)."""
        report = self.c2pa
        return {
            "made_here": self.made_here,
            "c2pa": {
                "present": report.present,
                "valid": report.valid,
                "validation_state": report.validation_state,
                "tampered": self.tampered,
                "signer": report.signer,
                "generator": report.generator,
                "time": report.time,
                "action": report.action,
                "digital_source_type": report.digital_source_type,
                "ingredients": [
                    {key: item[key] for key in ("title", "relationship", "has_manifest")}
                    for item in report.ingredients
                ],
                "failures": list(report.failures),
            },
            "watermark": {"found": self.watermark_found},
        }


def verify(data: bytes, content_type: str) -> MarksReport:
    """Read both marks from a checked upload (PNG, JPEG or WebP)."""
    if content_type not in FORMATS:
        raise ValueError(f"cannot verify {content_type!r}: only {', '.join(FORMATS)}")
    report = credentials.read(data, content_type)
    try:
        image = Image.open(io.BytesIO(data), formats=[FORMATS[content_type]])
        mark_id = watermark.read(image)
    except (OSError, SyntaxError, ValueError):
        mark_id = None  # pixels that no longer decode carry no readable watermark
    return MarksReport(c2pa=report, watermark_found=mark_id is not None, mark_id=mark_id)
