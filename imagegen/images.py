"""Checking a provider's untrusted image bytes, and turning them into what we store.

Nothing a provider returns is stored as it came: it is identified, size-checked before it is
decoded, decoded in full, and re-encoded as a PNG (with its parameters in a text chunk) and a
WebP thumbnail.
"""

import io
import warnings

from django.conf import settings
from PIL import Image, PngImagePlugin, UnidentifiedImageError

ACCEPTED_FORMATS = ("PNG", "JPEG", "WEBP")


class ImageRejected(Exception):
    """The bytes are not an image we will store. `user_message` is safe to show."""

    def __init__(self, detail, user_message):
        super().__init__(detail)
        self.detail = detail
        self.user_message = user_message


def check_image(data, *, expected_size=None):
    """Decode untrusted bytes into an RGB image, or raise ImageRejected saying why."""
    if not data:
        raise ImageRejected(
            "The provider answered with an empty body.",
            "The image service sent back an empty image.",
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
                    "The image service sent back an image that is too large.",
                )
            image.verify()
            # verify() leaves the image unusable; decode a fresh copy in full.
            image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
            image.load()
        except ImageRejected:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageRejected(
                f"The image is too large to decode safely ({exc}).",
                "The image service sent back an image that is too large.",
            ) from exc
        except UnidentifiedImageError as exc:
            raise ImageRejected(
                f"The provider's answer is not an accepted image ({exc}); "
                f"{len(data)} bytes starting {data[:16]!r}.",
                "The image service sent back something that is not an image.",
            ) from exc
        except (OSError, SyntaxError, ValueError) as exc:
            raise ImageRejected(
                f"The provider's image is damaged ({type(exc).__name__}: {exc}).",
                "The image service sent back a damaged image.",
            ) from exc
    if expected_size and image.size != tuple(expected_size):
        raise ImageRejected(
            f"Asked for {expected_size[0]}×{expected_size[1]}, got {image.width}×{image.height}.",
            "The image service sent back an image of the wrong size.",
        )
    return image.convert("RGB")


def png_bytes(image, parameters_text=""):
    """The original as PNG, carrying a `parameters` text chunk like other image apps write."""
    info = PngImagePlugin.PngInfo()
    if parameters_text:
        info.add_itxt("parameters", parameters_text)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info, optimize=False)
    return buffer.getvalue()


def thumbnail_bytes(image):
    """A WebP thumbnail no larger than IMAGEGEN_THUMBNAIL_SIZE on its longer side."""
    size = settings.IMAGEGEN_THUMBNAIL_SIZE
    thumb = image.copy()
    thumb.thumbnail((size, size), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    thumb.save(buffer, format="WEBP", quality=82, method=4)
    return buffer.getvalue()
