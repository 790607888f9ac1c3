""" "Download all my images": a zip of the user's finished images and an index of them, made
while it is sent.

Each image is read through the storage API (the local disk or a bucket) only when the zip
reaches it, a chunk at a time, so the archive is never held in memory or on disk.
"""

import csv
import io
import logging

from django.utils import timezone
from zipstream import ZIP_STORED, ZipStream

from . import selectors

INDEX_NAME = "index.csv"
INDEX_FIELDS = [
    "file",
    "task",
    "prompt",
    "negative_prompt",
    "created_at",
    "seed",
    "width",
    "height",
    "source_photo",
    "garment_photo",
]
PHOTOS_FOLDER = "photos"
CHUNK_BYTES = 256 * 1024

logger = logging.getLogger("accounts")


def _file_chunks(field):
    try:
        handle = field.open("rb")
    except FileNotFoundError:
        # Its entry is already in the archive by now: better empty than a broken download.
        logger.warning("image file %s is missing; it is empty in the download", field.name)
        return
    with handle:
        while chunk := handle.read(CHUNK_BYTES):
            yield chunk


def file_names(generations):
    """Each image's name in the zip: its download name ("travelfit-2026-12-04-jeju….png"),
    numbered from -2 when an earlier one of the same day and words has it already."""
    taken = set()
    names = []
    for generation in generations:
        name = generation.download_name
        stem, dot, extension = name.rpartition(".")
        number = 1
        while name in taken:
            number += 1
            name = f"{stem}-{number}{dot}{extension}"
        taken.add(name)
        names.append(name)
    return names


def photo_names(uploads):
    """{upload id: its name in the zip}: photos/photo-<day>-<id's first 8>.jpg (or .png)."""
    return {
        upload.pk: f"{PHOTOS_FOLDER}/photo-{timezone.localdate(upload.created_at).isoformat()}"
        f"-{upload.pk.hex[:8]}.{upload.image.name.rsplit('.', 1)[-1]}"
        for upload in uploads
    }


def index_csv(generations, names, photos=None):
    """The index: one row per image, times in the current time zone, and for an edit or a
    try-on the photos it was made from (in photos/, while they are kept). UTF-8 with a byte
    order mark, so that spreadsheet programs read Korean prompts right."""
    photos = photos or {}
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=INDEX_FIELDS, lineterminator="\r\n")
    writer.writeheader()
    for generation, name in zip(generations, names, strict=True):
        writer.writerow(
            {
                "file": name,
                "task": generation.task,
                "source_photo": photos.get(generation.source_image_id, ""),
                "garment_photo": photos.get(generation.garment_image_id, ""),
                "prompt": generation.prompt,
                "negative_prompt": generation.negative_prompt,
                "created_at": timezone.localtime(generation.created_at).isoformat(),
                "seed": generation.actual_seed if generation.actual_seed is not None else "",
                "width": generation.width,
                "height": generation.height,
            }
        )
    return out.getvalue().encode("utf-8-sig")


def images_zip(user):
    """A ZipStream (iterate it for the bytes) of the user's finished images, index.csv, and the
    photos they uploaded (photos/, the clean copies: no metadata).

    The rows are read now, so the index is written in the time zone of the request; the files
    are read as the stream is consumed. Images are stored, not compressed: PNG, JPEG and WebP
    are compressed already.
    """
    generations = list(
        selectors.images_of(user).only(
            "id",
            "image",
            "task",
            "source_image",
            "garment_image",
            "prompt",
            "preset_input",
            "negative_prompt",
            "created_at",
            "actual_seed",
            "width",
            "height",
        )
    )
    names = file_names(generations)
    uploads = list(selectors.uploads_of(user))
    photos = photo_names(uploads)
    archive = ZipStream(compress_type=ZIP_STORED)
    for generation, name in zip(generations, names, strict=True):
        archive.add(_file_chunks(generation.image), name)
    for upload in uploads:
        archive.add(_file_chunks(upload.image), photos[upload.pk])
    archive.add(index_csv(generations, names, photos), INDEX_NAME)
    return archive
