"""API keys: made once (only a hash is kept), revoked, looked up from a request's Bearer key."""

from __future__ import annotations

import datetime
import hashlib
import secrets
from typing import TYPE_CHECKING

from django.db.models import Q
from django.utils import timezone

from .. import webhooks
from ..models import (
    ApiToken,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser


def create_api_token(
    *, user: AbstractBaseUser, name: str, default_callback_url: str = ""
) -> tuple[ApiToken, str]:
    """A new API key for the user: (ApiToken, key). The key is returned once, never stored.

    The token's `webhook_secret` (whsec_…) signs its webhooks: show it to the user with the
    key. A default callback URL is checked against the webhook policy (ValidationError).
    """
    default_callback_url = webhooks.check_callback_url(
        default_callback_url, for_staff=user.is_staff
    )
    key = "tf_" + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=key[:10],
        key_hash=hash_api_key(key),
        default_callback_url=default_callback_url,
        webhook_secret=webhooks.new_webhook_secret(),
    )
    return token, key


def revoke_api_token(*, token_id: int, user: AbstractBaseUser) -> str | None:
    """Delete one of the user's API keys; its name, or None if the user has no such key."""
    token = ApiToken.objects.filter(pk=token_id, user=user).first()
    if token is None:
        return None
    token.delete()
    return token.name


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def user_for_api_key(key: str) -> AbstractBaseUser | None:
    """The active user an API key belongs to, or None; notes when the key was last used."""
    token = token_for_api_key(key)
    return token.user if token else None


def token_for_api_key(key: str) -> ApiToken | None:
    """The ApiToken of an active user's key (its `user` loaded), or None; notes its last use."""
    token = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=hash_api_key(key), user__is_active=True)
        .first()
    )
    if token is None:
        return None
    # At most one write a minute per key: a busy script must not write on every request.
    now = timezone.now()
    ApiToken.objects.filter(pk=token.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - datetime.timedelta(minutes=1))
    ).update(last_used_at=now)
    return token
