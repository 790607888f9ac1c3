"""The prompt policy: admins' blocked patterns, checked before anything is queued."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from django.utils.translation import gettext

from ..models import (
    BlockedPattern,
    PromptRefusal,
)
from .errors import PromptBlocked

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

logger = logging.getLogger(__name__)


def blocking_pattern(text: str) -> BlockedPattern | None:
    """The first active blocked pattern the text matches, or None."""
    return next((p for p in BlockedPattern.objects.filter(active=True) if p.matches(text)), None)


def check_prompt(*, user: AbstractBaseUser, prompt: str) -> None:
    """Refuse a prompt the policy blocks, counting the refusal; it never reaches a provider."""
    pattern = blocking_pattern(prompt)
    if pattern is None:
        return
    PromptRefusal.objects.create(user=user, pattern=pattern.pattern)
    logger.info("prompt of user %s refused by pattern %r", user.pk, pattern.pattern)
    if pattern.reason:
        raise PromptBlocked(
            gettext("This prompt is not allowed on this site (%(reason)s). Please change it.")
            % {"reason": pattern.reason}
        )
    raise PromptBlocked(gettext("This prompt is not allowed on this site. Please change it."))
