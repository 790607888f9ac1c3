"""All the marks on a result, in the order the law's purpose needs: what binds comes last.

1. the PNG `parameters` text is already in the bytes (imagegen.images writes it): kept as is;
2. the invisible watermark (this site's tag and the generation's mark id);
3. the burnt label, when asked (downloads and shares; the owner's original has none);
4. the C2PA signature, last, so the manifest's hash binds the final bytes.
A labelled copy of an already marked original is burnt and signed again, naming the original
as its parent ingredient: every file the site serves carries a valid manifest.

The pixels change, so the image is encoded again in its own format: PNG (RGB or RGBA) with
lib.png (one Average filter, run-length deflate on parallel threads: a third of Pillow's CPU for
the same size) with its text chunks and colour profile, other PNG modes with Pillow at level 1;
JPEG with the original's quantisation tables and chroma subsampling (its own quality); WebP at
quality 90. The manifest's thumbnail is made from the final pixels here, so the signing library
need not decode the file again.

A caller that has decoded the result already (the worker: the image check decodes it) hands the
image to `mark_decoded` and nothing is decoded twice; the MarkedImage it gets back keeps the
final pixels, from which the labelled copy is made without decoding the stored file.
"""

import dataclasses
import io
import zlib

import numpy as np
from PIL import Image, JpegImagePlugin, PngImagePlugin

from lib import png

from . import credentials, label, watermark
from .credentials import Ingredient, Provenance

FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}
LABEL_DESCRIPTION = "A visible label saying the image was made by AI was added."


@dataclasses.dataclass(frozen=True)
class MarkedImage:
    """The final bytes, and whether the watermark is in them (an image under 256×256 is too
    small to carry one; its manifest and label still are there). `image` is the final pixels
    and `source` the decoded original they were made from (its format's options), for a
    labelled copy made without decoding `data` again."""

    data: bytes
    content_type: str
    watermarked: bool
    image: Image.Image | None = dataclasses.field(default=None, compare=False, repr=False)
    source: Image.Image | None = dataclasses.field(default=None, compare=False, repr=False)
    # The PNG text chunks written before the source's own (the `parameters` chunk).
    text: dict[str, str] | None = dataclasses.field(default=None, compare=False, repr=False)


def mark_result(
    data: bytes,
    content_type: str,
    *,
    mark_id: int,
    provenance: Provenance,
    label_language: str | None = None,
) -> MarkedImage:
    """A checked result's bytes with the watermark, the label if `label_language` is given,
    and signed content credentials saying `provenance`."""
    return mark_decoded(
        open_image(data, content_type),
        content_type,
        mark_id=mark_id,
        provenance=provenance,
        label_language=label_language,
    )


def mark_decoded(
    source: Image.Image,
    content_type: str,
    *,
    mark_id: int,
    provenance: Provenance,
    label_language: str | None = None,
    text: dict[str, str] | None = None,
) -> MarkedImage:
    """`mark_result` of a result already decoded (`source`, as Pillow opened it: its text
    chunks, profile and JPEG tables are kept); `text` are PNG text chunks written before the
    source's own, replacing any of the same keyword (the `parameters` chunk)."""
    image, pixels = source, None
    watermarked = image.width * image.height >= watermark.MIN_PIXELS
    if watermarked:
        mode = "RGBA" if "A" in source.getbands() else "RGB"
        pixels = np.array(source if source.mode == mode else source.convert(mode))
        watermark.embed_pixels(pixels, mark_id)
        image = Image.fromarray(pixels, mode)
    if label_language:
        image, pixels = label.burn_label(image, label_language), None
    encoded = encode_like(image, source, content_type, text=text, pixels=pixels)
    signed = credentials.sign(
        encoded, content_type, provenance, thumbnail=credentials.thumbnail_of(image)
    )
    return MarkedImage(signed, content_type, watermarked, image=image, source=source, text=text)


def labelled_copy(
    original: bytes,
    content_type: str,
    *,
    language: str,
    provenance: Provenance,
    title: str = "",
    marked: MarkedImage | None = None,
) -> bytes:
    """The marked `original` with the label burnt in, signed again with the original as its
    parent (its manifest comes along). `provenance` is the original's; its photos stay in the
    original's manifest, not repeated. `marked`: what mark_decoded made `original` from, when
    the caller still has it (its pixels are used, not decoded again)."""
    if marked is not None and marked.image is not None and marked.source is not None:
        pixels, source, text = marked.image, marked.source, marked.text
    else:
        pixels = source = open_image(original, content_type)
        text = None  # the file's own chunks, `parameters` included, come with `source`
    labelled = label.burn_label(pixels, language)
    encoded = encode_like(labelled, source, content_type, text=text)
    parent = Ingredient.parent(
        original, title=title or provenance.title or "original", content_type=content_type
    )
    copy = dataclasses.replace(provenance, photos=(), parent=parent, description=LABEL_DESCRIPTION)
    return credentials.sign(
        encoded, content_type, copy, thumbnail=credentials.thumbnail_of(labelled)
    )


def encode_like(
    image: Image.Image,
    source: Image.Image,
    content_type: str,
    *,
    text: dict[str, str] | None = None,
    pixels: np.ndarray | None = None,
) -> bytes:
    """`image` encoded as `source` was: its format, text chunks (after `text`), profile and
    JPEG tables. `pixels`: `image`'s as an array, when the caller has them (spares a copy)."""
    kind = FORMATS[content_type]
    options = {}
    if source.info.get("icc_profile"):
        options["icc_profile"] = source.info["icc_profile"]
    if kind == "PNG":
        chunks = dict(text or {})
        for key, value in getattr(source, "text", {}).items():
            chunks.setdefault(key, value)
        if image.mode in ("RGB", "RGBA"):
            return png.encode(
                np.asarray(image) if pixels is None else pixels,
                text=chunks,
                icc_profile=options.get("icc_profile"),
            )
        # Run-length zlib at level 1: as fast as plain level 1, a fifth smaller for photos.
        options.update(compress_level=1, compress_type=zlib.Z_RLE, pnginfo=_png_text(chunks))
    elif kind == "JPEG":
        image = image.convert("RGB")
        if isinstance(source, JpegImagePlugin.JpegImageFile):
            options.update(
                qtables=source.quantization, subsampling=JpegImagePlugin.get_sampling(source)
            )
        else:
            options["quality"] = 92
    else:
        options.update(quality=90, method=4)
    buffer = io.BytesIO()
    image.save(buffer, format=kind, **options)
    return buffer.getvalue()


def open_image(data: bytes, content_type: str) -> Image.Image:
    """The image in `data`, decoded, refusing any format but `content_type`'s."""
    if content_type not in FORMATS:
        raise ValueError(f"cannot mark {content_type!r}: only {', '.join(FORMATS)}")
    image = Image.open(io.BytesIO(data), formats=[FORMATS[content_type]])
    image.load()
    return image


def _png_text(chunks):
    info = PngImagePlugin.PngInfo()
    for key, value in chunks.items():
        info.add_itxt(key, value)
    return info
