"""Provider cool-downs: after a quota or rate-limit failure, every worker skips that provider
for a while; admins can clear them."""

import datetime
import logging
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from ..models import (
    ProviderCooldown,
)
from ..providers.base import (
    redact,
)

logger = logging.getLogger(__name__)


def start_cooldown(provider_name: str, seconds: float, reason: str) -> None:
    """Keep every worker away from a provider for `seconds` (extending, never shortening)."""
    until = timezone.now() + datetime.timedelta(seconds=seconds)
    with transaction.atomic():
        cooldown, created = ProviderCooldown.objects.get_or_create(
            provider=provider_name, defaults={"until": until, "reason": redact(reason)}
        )
        if not created and cooldown.until < until:
            cooldown.until, cooldown.reason = until, redact(reason)
            cooldown.save(update_fields=["until", "reason", "updated_at"])
    logger.warning("provider %s cools down until %s: %s", provider_name, until, redact(reason))


def active_cooldown(provider_name: str) -> ProviderCooldown | None:
    """The provider's cool-down if it is still running, else None."""
    return ProviderCooldown.objects.filter(provider=provider_name, until__gt=timezone.now()).first()


def clear_cooldowns(*, providers: Iterable[str]) -> int:
    """End the providers' cool-downs: every worker asks them again. Returns how many ended."""
    cleared, _ = ProviderCooldown.objects.filter(provider__in=providers).delete()
    logger.info("cool-downs of %s cleared by an admin", providers)
    return cleared
