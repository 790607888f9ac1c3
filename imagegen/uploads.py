"""Photos users upload for the `edit` and `try_on` tasks: usually people's faces, treated so.

- Read into memory only (BoundedMemoryUploadHandler is the site's FILE_UPLOAD_HANDLERS): the
  original bytes are never written to disk, and a file over IMAGEGEN_UPLOAD_MAX_BYTES stops
  being read.
- Decided by the bytes, never the name or the declared type: JPEG, PNG, WebP or HEIC/HEIF
  (pillow-heif), one frame, at most IMAGEGEN_UPLOAD_MAX_PIXELS, decoded whole. A truncated or
  corrupt file fails here, and a JPEG whose data ends before its image does is refused before
  anything is decoded (`imagegen.decoding`); at most IMAGEGEN_DECODES_AT_ONCE photos are
  decoded at once in one process.
- Turned upright by its EXIF orientation, converted to sRGB, and re-encoded (JPEG, or PNG when
  it has transparency) with no metadata at all: no EXIF, GPS, XMP, maker notes, thumbnails or
  ICC profile. Only that copy is stored (services.uploads), privately, like generated images.
"""

import io
import warnings
from dataclasses import dataclass

from django.conf import settings
from django.core.files.uploadhandler import MemoryFileUploadHandler, SkipFile
from django.utils.translation import gettext, gettext_noop
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError
from pillow_heif import register_heif_opener

from . import decoding

register_heif_opener()

FORMATS = ("JPEG", "PNG", "WEBP", "HEIF")
JPEG_QUALITY = 90


class UploadRefused(Exception):
    """The file is not a photo we keep. `message` (with `params`) is safe to show, in the
    catalogue; `code` is stable for programs."""

    def __init__(self, message, code, **params):
        super().__init__(message % params if params else message)
        self.message, self.code, self.params = message, code, params

    def localized(self) -> str:
        """The message in the reader's language."""
        text = gettext(self.message)
        return text % self.params if self.params else text


# The longer side of the small copy the safety check looks at (classifiers see 224 px).
PREVIEW_SIZE = 512


@dataclass(frozen=True)
class CleanPhoto:
    """A checked photo, re-encoded without metadata: what is stored and sent to providers,
    and a small JPEG copy of it for the safety check (not stored)."""

    data: bytes
    content_type: str
    extension: str
    width: int
    height: int
    preview: bytes = b""


def clean_photo(data: bytes) -> CleanPhoto:
    """The upright, metadata-free copy of an uploaded photo, or UploadRefused saying why."""
    return _checked(data, reencode)


def checked_format(data: bytes) -> str:
    """The format (JPEG, PNG, WEBP, HEIF) of an uploaded image that passes every check a photo
    does (size, pixels, one frame, a complete decode), its bytes left as they are: /verify
    reads the marks of the very file it was given. UploadRefused saying why not."""
    return _checked(data, lambda image: image.format)


def _checked(data, then):
    if not data:
        raise UploadRefused(gettext_noop("The file is empty."), "empty")
    if len(data) > settings.IMAGEGEN_UPLOAD_MAX_BYTES:
        raise too_large()
    try:
        decoding.check_jpeg_complete(data)
        with decoding.decode_slot():
            return _decoded(data, then)
    except decoding.Incomplete:
        raise UploadRefused(
            gettext_noop(
                "The photo is incomplete: its data ends before the picture does. Try sending "
                "it again."
            ),
            "incomplete",
        ) from None
    except decoding.Unsupported:
        raise UploadRefused(
            gettext_noop(
                "This JPEG is saved in a way we cannot read (arithmetic coding); save it again "
                "as an ordinary JPEG."
            ),
            "unsupported_jpeg",
        ) from None
    except decoding.Busy:
        raise UploadRefused(
            gettext_noop("Many photos are being checked just now; try again in a minute."),
            "busy",
        ) from None


def _decoded(data, then):
    """Open, check and decode the photo, and hand it to `then`; UploadRefused if it cannot
    be."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=FORMATS)
            if image.width * image.height > settings.IMAGEGEN_UPLOAD_MAX_PIXELS:
                raise UploadRefused(
                    gettext_noop(
                        "The photo is %(width)s×%(height)s pixels; at most %(megapixels)s "
                        "megapixels are accepted."
                    ),
                    "too_many_pixels",
                    width=image.width,
                    height=image.height,
                    megapixels=settings.IMAGEGEN_UPLOAD_MAX_PIXELS // 1_000_000,
                )
            if getattr(image, "n_frames", 1) > 1:
                raise UploadRefused(
                    gettext_noop("Animated images and image sequences are not accepted."),
                    "animated",
                )
            image.load()  # the whole picture: a truncated or corrupt file fails here
            return then(image)
        except UploadRefused:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise UploadRefused(
                gettext_noop("The image is too large to open safely."), "decompression_bomb"
            ) from None
        except UnidentifiedImageError:
            raise UploadRefused(
                gettext_noop("This is not a photo we can use: send a JPEG, PNG, WebP or HEIC."),
                "not_an_image",
            ) from None
        except (OSError, SyntaxError, ValueError, EOFError):
            raise UploadRefused(
                gettext_noop("The photo is damaged or incomplete; try sending it again."),
                "damaged",
            ) from None


def too_large() -> UploadRefused:
    return UploadRefused(
        gettext_noop("The file is larger than %(megabytes)s MB."),
        "too_large",
        megabytes=round(settings.IMAGEGEN_UPLOAD_MAX_BYTES / 1024 / 1024, 1),
    )


def reencode(image) -> CleanPhoto:
    """The decoded photo upright, in sRGB, re-encoded with no metadata, and its small copy."""
    profile = image.info.get("icc_profile")
    upright = ImageOps.exif_transpose(image)
    has_alpha = "A" in upright.getbands() or "transparency" in upright.info
    pixels = upright.convert("RGBA" if has_alpha else "RGB")
    if profile:
        pixels = _to_srgb(pixels, profile)
    # A new image carries nothing of the file's: no info, no EXIF, no XMP, no profile.
    clean = Image.new(pixels.mode, pixels.size)
    clean.paste(pixels)
    buffer = io.BytesIO()
    if has_alpha:
        clean.save(buffer, format="PNG", compress_level=6)
        content_type, extension = "image/png", "png"
    else:
        clean.save(buffer, format="JPEG", quality=JPEG_QUALITY, optimize=True)
        content_type, extension = "image/jpeg", "jpg"
    small = clean.convert("RGB")
    small.thumbnail((PREVIEW_SIZE, PREVIEW_SIZE))
    preview = io.BytesIO()
    small.save(preview, format="JPEG", quality=85)
    return CleanPhoto(
        data=buffer.getvalue(),
        content_type=content_type,
        extension=extension,
        width=clean.width,
        height=clean.height,
        preview=preview.getvalue(),
    )


def _to_srgb(image, profile):
    """The pixels in sRGB (phones shoot Display P3): the profile itself is not kept."""
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
        return ImageCms.profileToProfile(image, source, ImageCms.createProfile("sRGB"))
    except (ImageCms.PyCMSError, OSError, ValueError):
        return image  # a broken profile: the pixels as they are


class BoundedMemoryUploadHandler(MemoryFileUploadHandler):
    """FILE_UPLOAD_HANDLERS: every uploaded file is read into memory, never a temporary file,
    and one over IMAGEGEN_UPLOAD_MAX_BYTES is skipped (the rest of the form is still read);
    its field name is left in `request.oversized_uploads` for the view to say so."""

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        self.activated = True

    def new_file(self, *args, **kwargs):
        self.received = 0
        super().new_file(*args, **kwargs)

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > settings.IMAGEGEN_UPLOAD_MAX_BYTES:
            oversized = getattr(self.request, "oversized_uploads", set())
            oversized.add(self.field_name)
            self.request.oversized_uploads = oversized
            raise SkipFile
        return super().receive_data_chunk(raw_data, start)
