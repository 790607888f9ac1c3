"""Checking a provider's untrusted image bytes, and what we store of them.

A provider's bytes are identified (PNG, JPEG or WebP only), size-checked before anything is
decoded (and a JPEG's data checked to reach the end of its image, `imagegen.decoding`),
verified and decoded once: the decoded image is kept (`decoded`) for the marks, which re-encode
it with the watermark (imagegen/marks/), and the WebP thumbnail is made from it when first asked
for (the worker asks in the safety check's thread, beside the marks). `stored_bytes` is what a
result without marks would store: the provider's bytes, a PNG with its parameters as an
A1111-style `parameters` text chunk spliced in; JPEG and WebP keep theirs beside them, in the
generation's row.
"""

import functools
import io
import struct
import warnings
import zlib
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.utils.translation import gettext_noop
from PIL import Image, UnidentifiedImageError

from lib import png

from . import decoding

ACCEPTED_FORMATS = ("PNG", "JPEG", "WEBP")
EXTENSIONS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}
CONTENT_TYPES = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp"}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TEXT_CHUNKS = (b"tEXt", b"iTXt", b"zTXt")


class ImageRejected(Exception):
    """The bytes are not an image we will store. `user_message` is safe to show."""

    def __init__(self, detail, user_message):
        super().__init__(detail)
        self.detail = detail
        self.user_message = user_message


@dataclass(frozen=True)
class CheckedImage:
    """A provider's image that passed every check: its bytes as sent, and its pixels decoded
    (as Pillow opened them: text chunks, profile and JPEG tables included). Nothing may change
    `decoded` in place: the thumbnail and the marks read it from two threads at once."""

    data: bytes
    format: str
    size: tuple[int, int]
    decoded: Image.Image = field(compare=False, repr=False)

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.format]

    @functools.cached_property
    def thumbnail(self) -> bytes:
        """WebP, no larger than IMAGEGEN_THUMBNAIL_SIZE on its longer side."""
        return _thumbnail(self.decoded)


def check_image(data, *, expected_size=None) -> CheckedImage:
    """Check untrusted bytes and make their thumbnail, or raise ImageRejected saying why."""
    if not data:
        raise ImageRejected(
            "The provider answered with an empty body.",
            gettext_noop("The image service sent back an empty image."),
        )
    max_pixels = settings.IMAGEGEN_MAX_PIXELS
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
            pixels = image.width * image.height
            if pixels > max_pixels:
                raise ImageRejected(
                    f"The image is {image.width}×{image.height}, over the limit of "
                    f"{max_pixels} pixels (IMAGEGEN_MAX_PIXELS).",
                    gettext_noop("The image service sent back an image that is too large."),
                )
            if expected_size and image.size != tuple(expected_size):
                raise ImageRejected(
                    f"Asked for {expected_size[0]}×{expected_size[1]}, got "
                    f"{image.width}×{image.height}.",
                    gettext_noop("The image service sent back an image of the wrong size."),
                )
            decoding.check_jpeg_complete(data)
            image_format, size = image.format, image.size
            image.verify()  # chunk checksums and structure, without decoding the pixels
            # verify() leaves the image unusable: open it again and decode it once, whole (the
            # marks need every pixel). A truncated or corrupt stream fails here, before anything
            # is stored.
            image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
            image.load()
        except ImageRejected:
            raise
        except (decoding.Incomplete, decoding.Unsupported) as exc:
            raise ImageRejected(
                f"The provider's image is incomplete or unreadable ({exc}).",
                gettext_noop("The image service sent back a damaged image."),
            ) from exc
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageRejected(
                f"The image is too large to decode safely ({exc}).",
                gettext_noop("The image service sent back an image that is too large."),
            ) from exc
        except UnidentifiedImageError as exc:
            raise ImageRejected(
                f"The provider's answer is not an accepted image ({exc}); "
                f"{len(data)} bytes starting {data[:16]!r}.",
                gettext_noop("The image service sent back something that is not an image."),
            ) from exc
        except (OSError, SyntaxError, ValueError, struct.error) as exc:
            raise ImageRejected(
                f"The provider's image is damaged ({type(exc).__name__}: {exc}).",
                gettext_noop("The image service sent back a damaged image."),
            ) from exc
    return CheckedImage(data=data, format=image_format, size=size, decoded=image)


def _thumbnail(decoded):
    """WebP, no larger than IMAGEGEN_THUMBNAIL_SIZE on its longer side, of a copy of `decoded`."""
    size = settings.IMAGEGEN_THUMBNAIL_SIZE
    image = decoded.copy()
    # Pillow's thumbnail() first reduce()s by a whole factor (a cheap box average) down to
    # about the target, then resamples only that: a quarter of the CPU of resampling from
    # twice the target (reducing_gap=2), and a thumbnail nobody can tell apart at its size.
    image.thumbnail((size, size), Image.Resampling.BICUBIC, reducing_gap=1.0)
    if image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="WEBP", quality=82, method=2)
    return buffer.getvalue()


def stored_bytes(checked: CheckedImage, parameters_text: str = "") -> bytes:
    """What is stored: the provider's bytes, a PNG with our `parameters` chunk spliced in."""
    if checked.format != "PNG" or not parameters_text:
        return checked.data
    return with_png_text(checked.data, "parameters", parameters_text)


def with_png_text(data: bytes, keyword: str, text: str) -> bytes:
    """A PNG byte stream with an iTXt chunk `keyword` = text right after IHDR (where readers
    look first), replacing any text chunk of that keyword; the pixel data is copied as it is."""
    if not data.startswith(PNG_SIGNATURE):
        raise ValueError("not a PNG stream")
    key = keyword.encode("latin-1")
    # iTXt: keyword, NUL, compression flag and method (0: none), language tag, NUL,
    # translated keyword, NUL, then the UTF-8 text.
    ours = _chunk(b"iTXt", key + b"\x00\x00\x00\x00\x00" + text.encode("utf-8"))
    out = [PNG_SIGNATURE]
    position = len(PNG_SIGNATURE)
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        end = position + 12 + length
        body = data[position + 8 : position + 8 + length]
        if not (kind in TEXT_CHUNKS and body.split(b"\x00", 1)[0] == key):
            out.append(data[position:end])
        if kind == b"IHDR":
            out.append(ours)
        position = end
    return b"".join(out)


def _chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def encode_png(image) -> bytes:
    """A PIL image (some client libraries give no bytes) as PNG, once, fast: RGB and RGBA with
    lib/png (a third of Pillow's CPU, no larger), other modes with Pillow at level 1."""
    if image.mode in ("RGB", "RGBA"):
        return png.encode(np.asarray(image))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()
