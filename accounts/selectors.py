"""Reads about a user's own account: preferences, usage, and what the download holds."""

import datetime
from dataclasses import dataclass

from django.db.models import Count, Q
from django.utils import timezone

from imagegen.models import Generation, Upload
from imagegen.selectors import generations_of

from .models import Profile

USAGE_DAYS = 30


def preferences_of(user_id):
    """{"language": …, "time_zone": …} of the user, blank where the site's default applies."""
    saved = Profile.objects.filter(user_id=user_id).values("language", "time_zone").first()
    return saved or {"language": "", "time_zone": ""}


@dataclass(frozen=True)
class Usage:
    days: int
    asked: int
    made: int
    failed: int


def usage_of(user, *, days=USAGE_DAYS):
    """How many generations the user asked for in the last `days`, and how they ended."""
    since = timezone.now() - datetime.timedelta(days=days)
    counts = (
        generations_of(user)
        .filter(created_at__gte=since)
        .aggregate(
            asked=Count("pk"),
            made=Count("pk", filter=Q(status=Generation.Status.SUCCEEDED)),
            failed=Count("pk", filter=Q(status=Generation.Status.FAILED)),
        )
    )
    return Usage(days=days, **counts)


def images_of(user):
    """The user's finished images, oldest first: what "Download all my images" holds."""
    return (
        Generation.objects.filter(owner=user, status=Generation.Status.SUCCEEDED)
        .exclude(image="")
        .order_by("created_at")
    )


def uploads_of(user):
    """The photos the user uploaded and still has, oldest first (in the download too)."""
    return Upload.objects.filter(owner=user).order_by("created_at")
