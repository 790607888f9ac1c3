"""The per-key rate limit of the JSON API: API_RATE_LIMIT requests a minute for each key.

Counted in the key's own row by lib.rate's fixed-window counter (one conditional UPDATE per
request, as every named limit is), so every web process on every machine agrees and
concurrent requests never pass the limit. Fixed one-minute windows: a script may fit up to
twice the limit across a window's edge, which is fine for keeping one key from crowding out
the rest. Session (browser) requests are not counted.

    state = count_request(token)      # None when there is no limit (API_RATE_LIMIT=0)
    if state and state.wait is not None:
        ... answer 429 with `Retry-After: state.wait`
    response.headers.update(state.headers())   # RateLimit and RateLimit-Policy

The headers follow the IETF draft "RateLimit header fields for HTTP"
(draft-ietf-httpapi-ratelimit-headers-11): `RateLimit-Policy: "key";q=120;w=60` (the quota
and its window) and `RateLimit: "key";r=117;t=42` (what is left, and the seconds until the
window ends). `r` is read from the key's row as this request found it: another request with
the same key at the same moment may have taken one more.
"""

import datetime
import math
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from lib.rate import count_in_window, window_start

from .models import ApiToken

WINDOW = datetime.timedelta(minutes=1)
# The policy's name in the RateLimit headers: one quota per API key.
POLICY = "key"


@dataclass(frozen=True)
class RateLimitState:
    """A request counted against its key's minute: whether it may go on, and what is left."""

    limit: int
    remaining: int
    reset_seconds: int
    wait: int | None  # seconds to wait when over the limit; None when it may go on

    def headers(self) -> dict[str, str]:
        """The RateLimit-Policy and RateLimit header fields (IETF draft) of this state."""
        window = int(WINDOW.total_seconds())
        return {
            "RateLimit-Policy": f'"{POLICY}";q={self.limit};w={window}',
            "RateLimit": f'"{POLICY}";r={self.remaining};t={self.reset_seconds}',
        }


def count_request(api_token, *, now=None) -> RateLimitState | None:
    """Count one request with the key; None when there is no limit (API_RATE_LIMIT is 0)."""
    limit = settings.API_RATE_LIMIT
    if not limit:
        return None
    now = now or timezone.now()
    start = window_start(WINDOW, now)
    reset = max(1, math.ceil((start + WINDOW - now).total_seconds()))
    taken = count_in_window(
        ApiToken.objects.filter(pk=api_token.pk),
        start=start,
        limit=limit,
        count_field="rate_count",
        start_field="rate_window_start",
    )
    if not taken:
        return RateLimitState(limit=limit, remaining=0, reset_seconds=reset, wait=reset)
    # What the row held when this request was counted (read with the key): one more now.
    used = api_token.rate_count + 1 if api_token.rate_window_start == start else 1
    api_token.rate_count, api_token.rate_window_start = used, start
    return RateLimitState(
        limit=limit, remaining=max(0, limit - used), reset_seconds=reset, wait=None
    )


def check_rate_limit(api_token, *, now=None) -> int | None:
    """Count one request with the key: None if it may go on, else the seconds to wait."""
    state = count_request(api_token, now=now)
    return state.wait if state is not None else None
