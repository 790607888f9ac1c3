"""Per-address limits on actions that cost the site something: new accounts, reset e-mails.

Failed log-ins are django-axes' business (settings: LOGIN_FAILURE_LIMIT); both use
`client_address` so that they agree on who the client is behind TRUSTED_PROXY_COUNT proxies.
"""

import datetime
import ipaddress
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Case, F, PositiveIntegerField, Q, Value, When
from django.utils import timezone

from .models import AddressThrottle


def client_ip(request) -> str | None:
    """The client's IP address: the connection's, or the one TRUSTED_PROXY_COUNT proxies saw.

    Each proxy appends the address it was connected from to X-Forwarded-For, so with N trusted
    proxies the client is the Nth entry from the right; anything left of it is the client's
    own say and is ignored. None when there is no valid address (django-axes' lockouts use it).
    """
    address = request.META.get("REMOTE_ADDR", "") or ""
    count = settings.TRUSTED_PROXY_COUNT
    if count:
        hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        hops = [hop for hop in hops if hop]
        if len(hops) >= count:
            address = hops[-count]
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return None
    if parsed.version == 6 and parsed.ipv4_mapped:
        return str(parsed.ipv4_mapped)
    return str(parsed)


def client_address(request) -> str:
    """Who a per-address limit counts: the client's IPv4 address, or its IPv6 /64 (the block
    one subscriber usually has, so that a new address from it is not a new client)."""
    ip = client_ip(request)
    if ip is None:
        return "unknown"
    if ":" in ip:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return ip


@dataclass(frozen=True)
class Refused:
    """The limit is reached; more are allowed from `retry_at`."""

    retry_at: datetime.datetime

    @property
    def retry_after_seconds(self) -> int:
        return max(1, int((self.retry_at - timezone.now()).total_seconds()) + 1)

    @property
    def minutes(self) -> int:
        return max(1, -(-self.retry_after_seconds // 60))


def take(*, action: str, address: str, limit: int, window_minutes: int) -> Refused | None:
    """Count one `action` from `address`: None if allowed, or Refused at the limit.

    Fixed windows of `window_minutes`; the count starts again with each window.
    """
    now = timezone.now()
    window = datetime.timedelta(minutes=window_minutes)
    epoch = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
    start = epoch + ((now - epoch) // window) * window
    if limit <= 0:
        return Refused(retry_at=start + window)
    _ensure_row(action, address, start)
    taken = (
        AddressThrottle.objects.filter(action=action, address=address)
        .filter(~Q(window_start=start) | Q(count__lt=limit))
        .update(
            count=Case(
                When(window_start=start, then=F("count") + 1),
                default=Value(1),
                output_field=PositiveIntegerField(),
            ),
            window_start=start,
        )
    )
    return None if taken else Refused(retry_at=start + window)


def _ensure_row(action, address, start):
    if AddressThrottle.objects.filter(action=action, address=address).exists():
        return
    try:
        with transaction.atomic():
            AddressThrottle.objects.create(
                action=action, address=address, window_start=start, count=0
            )
    except IntegrityError:
        pass  # a concurrent request made it first


def forget_older_than(days: int = 2) -> int:
    """Delete counters whose window ended long ago; returns how many."""
    cutoff = timezone.now() - datetime.timedelta(days=days)
    deleted, _ = AddressThrottle.objects.filter(window_start__lt=cutoff).delete()
    return deleted
