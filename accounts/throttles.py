"""Per-address limits on actions that cost the site something or guess at passwords: new
accounts, reset e-mails, failed log-ins across user names (password spraying).

Failed log-ins per user name and address are django-axes' business (LOGIN_FAILURE_LIMIT); it
and these limits agree on who the client is behind TRUSTED_PROXY_COUNT proxies, and count an
IPv6 client by its /64 (`client_address`, `lockout_ip`).
"""

import datetime
import hashlib
import ipaddress
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import PermissionDenied
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


def client_address(request, *, ipv6_prefix: int = 64) -> str:
    """Who a per-address limit counts: the client's IPv4 address, or its IPv6 /64 (the block
    one subscriber usually has, so that a new address from it is not a new client).

    `ipv6_prefix` widens the block where one subscriber must not count as many: providers
    give a home or an office a /48 or a /56, whose /64s cost it nothing (viewers' reports
    count one voice per /48).
    """
    ip = client_ip(request)
    if ip is None:
        return "unknown"
    if ":" in ip:
        return str(_block(ip, ipv6_prefix))
    return ip


def lockout_ip(request) -> str | None:
    """The address django-axes counts (AXES_CLIENT_IP_CALLABLE): the IPv4 address, or the
    first address of the IPv6 /64, so that rotating addresses inside one block does not buy
    fresh guesses. (axes stores an address, not a network.)"""
    ip = client_ip(request)
    if ip is None or ":" not in ip:
        return ip
    return str(_block(ip).network_address)


def _block(ipv6, prefix=64):
    return ipaddress.ip_network(f"{ipv6}/{prefix}", strict=False)


def email_key(email: str) -> str:
    """What a per-e-mail limit counts: a digest of the address, so the counters table holds no
    e-mail addresses (64 characters, like the longest address key)."""
    return hashlib.sha256(email.strip().casefold().encode()).hexdigest()


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


def _window(window_minutes):
    """(start, length) of the fixed window we are in."""
    window = datetime.timedelta(minutes=window_minutes)
    epoch = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
    return epoch + ((timezone.now() - epoch) // window) * window, window


def take(*, action: str, address: str, limit: int, window_minutes: int) -> Refused | None:
    """Count one `action` from `address`: None if allowed, or Refused at the limit.

    Fixed windows of `window_minutes`; the count starts again with each window.
    """
    start, window = _window(window_minutes)
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


def reached(*, action: str, address: str, limit: int, window_minutes: int) -> Refused | None:
    """Refused when `address` has done `action` `limit` times in this window; counts nothing."""
    start, window = _window(window_minutes)
    full = AddressThrottle.objects.filter(
        action=action, address=address, window_start=start, count__gte=limit
    ).exists()
    return Refused(retry_at=start + window) if full else None


# --- Password spraying: failed log-ins from one address, whatever the user names ---------------

LOGIN_FAILURE = "login_failure"


def login_failures(request, *, count: bool) -> Refused | None:
    """Count a failed log-in (or, with count false, only look) for the request's address."""
    limits = {
        "action": LOGIN_FAILURE,
        "address": client_address(request),
        "limit": settings.LOGIN_ADDRESS_FAILURE_LIMIT,
        "window_minutes": settings.LOGIN_COOLOFF_MINUTES,
    }
    return take(**limits) if count else reached(**limits)


class AddressLockoutBackend:
    """First of AUTHENTICATION_BACKENDS: an address that failed LOGIN_ADDRESS_FAILURE_LIMIT
    log-ins this window, whatever the user names, may not log in until the window ends.

    It stops authentication the way django-axes' backend does (PermissionDenied, with
    request.axes_locked_out set), so axes' middleware answers with the lockout page
    (accounts.views.locked_out), which reads `request.address_lockout` to say why. It has no
    get_user(): it never logs anyone in, so sessions never name it.
    """

    def authenticate(self, request, **credentials):
        if request is None:
            return None
        refused = login_failures(request, count=False)
        if refused:
            request.axes_locked_out = True
            request.address_lockout = refused
            raise PermissionDenied("Too many failed log-ins from this address.")
        return None


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
