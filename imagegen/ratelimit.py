"""The per-key rate limit of the JSON API: API_RATE_LIMIT requests a minute for each key.

Counted in the key's own row with one conditional UPDATE per request, the way
accounts.throttles counts per address, so every web process on every machine agrees and
concurrent requests never pass the limit. Fixed one-minute windows: a script may fit up to
twice the limit across a window's edge, which is fine for keeping one key from crowding out
the rest. Session (browser) requests are not counted.

    wait = check_rate_limit(token)
    if wait is not None:
        ... answer 429 with `Retry-After: wait`
"""

import datetime

from django.conf import settings
from django.db.models import Case, F, PositiveIntegerField, Q, Value, When
from django.utils import timezone

from .models import ApiToken

WINDOW = datetime.timedelta(minutes=1)
EPOCH = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)


def check_rate_limit(api_token, *, now=None) -> int | None:
    """Count one request with the key: None if it may go on, else the seconds to wait."""
    limit = settings.API_RATE_LIMIT
    if not limit:
        return None
    now = now or timezone.now()
    start = EPOCH + ((now - EPOCH) // WINDOW) * WINDOW
    taken = (
        ApiToken.objects.filter(pk=api_token.pk)
        .filter(
            Q(rate_window_start__isnull=True)
            | ~Q(rate_window_start=start)
            | Q(rate_count__lt=limit)
        )
        .update(
            rate_count=Case(
                When(rate_window_start=start, then=F("rate_count") + 1),
                default=Value(1),
                output_field=PositiveIntegerField(),
            ),
            rate_window_start=start,
        )
    )
    if taken:
        return None
    return max(1, int(-(-(start + WINDOW - now).total_seconds() // 1)))
