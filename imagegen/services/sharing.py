"""Share links: a random token per finished image, made on first share, revocable."""

from __future__ import annotations

import secrets
import uuid
from typing import TYPE_CHECKING

from ..models import (
    Generation,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser


def share_generation(*, generation_id: uuid.UUID | str, user: AbstractBaseUser) -> str | None:
    """The share token of the user's own finished image, made on first share. None if not theirs."""
    generation = Generation.objects.filter(
        pk=generation_id, owner=user, status=Generation.Status.SUCCEEDED
    ).first()
    if generation is None:
        return None
    if not generation.share_token:
        token = secrets.token_urlsafe(24)
        # Conditional, so two clicks at once end with one token, not two.
        Generation.objects.filter(pk=generation.pk, share_token__isnull=True).update(
            share_token=token
        )
        generation.refresh_from_db(fields=["share_token"])
    return generation.share_token


def revoke_share(*, generation_id: uuid.UUID | str, user: AbstractBaseUser) -> bool:
    """Turn the share link off: the old link answers 404 from now on."""
    return bool(
        Generation.objects.filter(pk=generation_id, owner=user)
        .exclude(share_token=None)
        .update(share_token=None)
    )
