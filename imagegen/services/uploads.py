"""Uploaded photos: storing the clean copy, the daily limit, who may use which, retention.

A photo is kept a day while no generation uses it, and IMAGEGEN_UPLOAD_RETENTION_DAYS after the
last generation that did (`use_uploads`, at submission); `delete_expired_uploads` (the
`cleanup_uploads` command, which every qcluster runs daily) deletes what is past its time,
files first. Generations made from a photo keep their results and lose the link.
"""

import datetime
import logging
import uuid
from collections.abc import Iterable
from functools import partial

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext

from lib.rate import RateLimit

from .. import safety
from ..models import Generation, Upload
from ..uploads import UploadRefused, clean_photo
from .errors import InvalidRequest, SubmissionRefused

logger = logging.getLogger(__name__)

UNUSED_FOR = datetime.timedelta(days=1)


class UploadsExhausted(SubmissionRefused):
    """The user has uploaded IMAGEGEN_UPLOADS_PER_DAY photos today."""

    http_status = 429
    code = "too_many_uploads"
    field = "file"

    def __init__(self, retry_after_seconds: int) -> None:
        self.retry_after_seconds = retry_after_seconds
        super().__init__(
            gettext("You have uploaded %(limit)s photos today, the most a day allows.")
            % {"limit": settings.IMAGEGEN_UPLOADS_PER_DAY}
        )


def store_upload(*, user: AbstractBaseUser, data: bytes) -> Upload:
    """Check a photo's bytes, and keep its upright, metadata-free copy for the user.

    Raises uploads.UploadRefused for a file that is not a photo we keep, and UploadsExhausted
    past the daily limit; nothing is stored then. The bytes given are never written anywhere.
    """
    photo = clean_photo(data)
    refused = RateLimit(
        "upload", settings.IMAGEGEN_UPLOADS_PER_DAY, datetime.timedelta(days=1)
    ).authorize(f"user:{user.pk}")
    if refused:
        raise UploadsExhausted(refused.retry_after_seconds)
    # After the day's count: each look costs a call to the classifier.
    _check_safety(photo)
    now = timezone.now()
    upload = Upload(
        owner=user,
        width=photo.width,
        height=photo.height,
        content_type=photo.content_type,
        created_at=now,
        expires_at=now + UNUSED_FOR,
    )
    upload.image.save(f"photo.{photo.extension}", ContentFile(photo.data), save=False)
    try:
        upload.save()
    except Exception:
        upload.image.delete(save=False)
        raise
    logger.info("upload %s stored for user %s (%d bytes)", upload.pk, user.pk, len(photo.data))
    return upload


def _check_safety(photo):
    """A photo the safety check flags is refused, storing nothing; one it could not look at
    too, unless IMAGEGEN_SAFETY_ON_ERROR=allow."""
    verdict = safety.check(photo.preview, subject="upload")
    if verdict.flagged:
        logger.warning("upload refused by the safety check: %s", verdict.note)
        raise UploadRefused(safety.UPLOAD_FLAGGED, "flagged")
    if verdict.hold:
        raise UploadRefused(safety.UPLOAD_UNCHECKED, "unchecked")


def upload_of(*, user: AbstractBaseUser, upload_id, field: str) -> Upload:
    """The user's own upload `upload_id`, or InvalidRequest naming `field` (someone else's
    is "no such photo" too)."""
    try:
        return Upload.objects.get(pk=uuid.UUID(str(upload_id)), owner=user)
    except (ValueError, Upload.DoesNotExist):
        raise InvalidRequest(
            field,
            gettext(
                "There is no photo of yours with this id: upload it first "
                "(it may have been deleted after its time)."
            ),
        ) from None


def use_uploads(uploads: Iterable[Upload]) -> None:
    """The uploads a new generation uses are kept IMAGEGEN_UPLOAD_RETENTION_DAYS from now."""
    now = timezone.now()
    keep_until = now + datetime.timedelta(days=settings.IMAGEGEN_UPLOAD_RETENTION_DAYS)
    ids = [upload.pk for upload in uploads if upload is not None]
    if ids:
        Upload.objects.filter(pk__in=ids).update(used_at=now, expires_at=keep_until)


class UploadInUse(Exception):
    """An upload a queued or running generation still needs."""


def delete_upload(*, upload_id, user: AbstractBaseUser) -> bool:
    """Delete one of the user's photos and its file; False if there is none. Raises
    UploadInUse while an unfinished generation needs it."""
    with transaction.atomic():
        upload = Upload.objects.select_for_update().filter(pk=upload_id, owner=user).first()
        if upload is None:
            return False
        busy = Generation.objects.filter(status__in=Generation.ACTIVE).filter(
            Q(source_image=upload) | Q(garment_image=upload)
        )
        if busy.exists():
            raise UploadInUse(str(upload.pk))
        name = upload.image.name
        upload.delete()
        transaction.on_commit(partial(_delete_files, [name]))
    return True


def delete_expired_uploads(*, now: datetime.datetime | None = None, dry_run: bool = False) -> int:
    """Delete every photo past its `expires_at` (files after the rows are gone); how many.

    A photo an unfinished generation still needs waits for it.
    """
    now = now or timezone.now()
    busy = set(
        Generation.objects.filter(status__in=Generation.ACTIVE)
        .exclude(source_image=None)
        .values_list("source_image", flat=True)
    ) | set(
        Generation.objects.filter(status__in=Generation.ACTIVE)
        .exclude(garment_image=None)
        .values_list("garment_image", flat=True)
    )
    expired = Upload.objects.filter(expires_at__lte=now).exclude(pk__in=busy)
    if dry_run:
        return expired.count()
    with transaction.atomic():
        names = list(expired.values_list("image", flat=True))
        count, _ = expired.delete()
        transaction.on_commit(partial(_delete_files, names))
    if count:
        logger.info("deleted %d photos past their retention", count)
    return count


def upload_file_names(*, user_ids: Iterable[int]) -> list[str]:
    """The stored files of these users' photos (deleted with the account)."""
    return list(Upload.objects.filter(owner_id__in=user_ids).values_list("image", flat=True))


def _delete_files(names):
    storage = Upload._meta.get_field("image").storage
    for name in names:
        if name:
            storage.delete(name)
