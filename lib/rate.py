"""The one fixed-window rate counter, and who a per-client limit counts.

A named limit, `RateLimit(name, limit, window)`, is authorized per key the way healthchecks'
`TokenBucket.authorize_*` are: `RateLimit("signup", 5, timedelta(hours=1)).authorize(address)`
counts one and returns None while allowed, or `Refused` (with when more are allowed) at the limit.
Its counts are rows of RATE_COUNTER_MODEL (like AUTH_USER_MODEL, an "app_label.Model" with
action, address, window_start and count fields), one per (name, key).

Every count is one conditional UPDATE (`count_in_window`), so every web process on every machine
agrees and concurrent requests never pass the limit; the API's per-key limit
(imagegen.ratelimit) counts in the key's own row with the same function. Windows are fixed:
the count starts again with each, so a client may fit up to twice the limit across an edge.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
from dataclasses import dataclass

from django.apps import apps
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Case, F, PositiveIntegerField, Q, QuerySet, Value, When
from django.utils import timezone

EPOCH = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)


def window_start(window: datetime.timedelta, now: datetime.datetime | None = None):
    """The start of the fixed window of length `window` that `now` falls in."""
    now = now or timezone.now()
    return EPOCH + ((now - EPOCH) // window) * window


def count_in_window(
    rows: QuerySet,
    *,
    start: datetime.datetime,
    limit: int,
    count_field: str = "count",
    start_field: str = "window_start",
) -> bool:
    """Count one in the row(s) of `rows` for the window starting at `start`, unless the count
    already reached `limit` there; a row of an older window (or none yet) starts again at 1.
    True when counted. One conditional UPDATE: concurrent callers can never pass the limit."""
    counted = rows.filter(
        Q(**{f"{start_field}__isnull": True})
        | ~Q(**{start_field: start})
        | Q(**{f"{count_field}__lt": limit})
    ).update(
        **{
            count_field: Case(
                When(**{start_field: start}, then=F(count_field) + 1),
                default=Value(1),
                output_field=PositiveIntegerField(),
            ),
            start_field: start,
        }
    )
    return bool(counted)


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


def counters():
    """The model that keeps the named limits' counts (settings.RATE_COUNTER_MODEL)."""
    return apps.get_model(settings.RATE_COUNTER_MODEL, require_ready=False)


@dataclass(frozen=True)
class RateLimit:
    """At most `limit` of the action `name` per key in each fixed `window`."""

    name: str
    limit: int
    window: datetime.timedelta

    def authorize(self, key: str) -> Refused | None:
        """Count one for `key`: None if allowed, or Refused at the limit (nothing counted)."""
        start = window_start(self.window)
        if self.limit <= 0:
            return Refused(retry_at=start + self.window)
        self._ensure_row(key, start)
        rows = counters().objects.filter(action=self.name, address=key)
        counted = count_in_window(rows, start=start, limit=self.limit)
        return None if counted else Refused(retry_at=start + self.window)

    def reached(self, key: str) -> Refused | None:
        """Refused when `key` has used up this window's `limit`; counts nothing."""
        start = window_start(self.window)
        full = (
            counters()
            .objects.filter(
                action=self.name, address=key, window_start=start, count__gte=self.limit
            )
            .exists()
        )
        return Refused(retry_at=start + self.window) if full else None

    def _ensure_row(self, key, start):
        model = counters()
        if model.objects.filter(action=self.name, address=key).exists():
            return
        try:
            with transaction.atomic():
                model.objects.create(action=self.name, address=key, window_start=start, count=0)
        except IntegrityError:
            pass  # a concurrent request made it first


def forget_older_than(days: int = 2) -> int:
    """Delete counters whose window ended long ago; returns how many."""
    cutoff = timezone.now() - datetime.timedelta(days=days)
    deleted, _ = counters().objects.filter(window_start__lt=cutoff).delete()
    return deleted


# --- Who is counted --------------------------------------------------------------------------


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
