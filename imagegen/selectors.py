"""Reads that pages, the API and commands share."""

from __future__ import annotations

import datetime
import logging
import statistics
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from django.conf import settings
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.db.models import Case, Count, Exists, OuterRef, Q, QuerySet, Subquery, When
from django.db.models.functions import Coalesce
from django.utils import timezone
from django_q.conf import Conf
from django_q.status import Stat

from .models import Generation, ProviderCooldown, Quota, ReviewDecision, Upload
from .periods import Periods
from .tiers import Tier, tier_of, tiers

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser


logger = logging.getLogger("imagegen.health")

# How many of the latest reviews of held images say how long a review usually takes.
REVIEWS_FOR_TYPICAL_WAIT = 20


def typical_review_seconds() -> float | None:
    """The median time from a held image's hold to a person's decision, over the latest
    reviews of held images; None before the first."""
    waits = [
        (decided_at - finished_at).total_seconds()
        for decided_at, finished_at in ReviewDecision.objects.filter(
            subject="held", generation__finished_at__isnull=False
        )
        .order_by("-decided_at")
        .values_list("decided_at", "generation__finished_at")[:REVIEWS_FOR_TYPICAL_WAIT]
    ]
    return statistics.median(waits) if waits else None


def detail_of(user: AbstractBaseUser) -> QuerySet[Generation]:
    """A user's generations with what their detail page shows beside them (photos, preset)."""
    return Generation.objects.filter(owner=user).select_related(
        "source_image", "garment_image", "preset"
    )


def own_generation_or_none(user: AbstractBaseUser, generation_id) -> Generation | None:
    """One of the user's generations (with its preset), or None: not theirs, none, or an id
    that is not one."""
    try:
        return Generation.objects.select_related("preset").get(pk=generation_id, owner=user)
    except (Generation.DoesNotExist, ValidationError):
        return None


def upload_of(user: AbstractBaseUser, upload_id) -> Upload | None:
    """One of the user's uploaded photos, or None."""
    return Upload.objects.filter(pk=upload_id, owner=user).first()


def generations_of(user: AbstractBaseUser) -> QuerySet[Generation]:
    """A user's generations, newest first (served by the gallery index)."""
    return Generation.objects.filter(owner=user).order_by("-created_at")


# The quota box turns to a warning at this many left (or a fifth of a limit), before it runs out.
QUOTA_LOW_LEFT = 2


@dataclass(frozen=True)
class QuotaStatus:
    daily_limit: int
    day_left: int
    monthly_limit: int
    month_left: int
    resets_at: datetime.datetime | None  # when the binding limit next gives more, or None
    cheapest: int = 1  # the units of the cheapest tier: fewer left, nothing can be made

    @property
    def exhausted(self) -> bool:
        return self.day_left < self.cheapest or self.month_left < self.cheapest

    @property
    def level(self) -> Literal["empty", "low", "ok"]:
        """ "empty" at 0 left, "low" at 2 or fewer or a fifth or less of a limit, else "ok"."""
        if self.exhausted:
            return "empty"
        for left, limit in (
            (self.day_left, self.daily_limit),
            (self.month_left, self.monthly_limit),
        ):
            if left <= QUOTA_LOW_LEFT or left * 5 <= limit:
                return "low"
        return "ok"


def quota_status(user: AbstractBaseUser) -> QuotaStatus:
    """How many units the user has left today and this month, and when more come."""
    # A read only: a user who never submitted has no row yet, and gets the defaults it would.
    quota = Quota.objects.filter(user=user).first() or Quota(user=user)
    periods = Periods.current()
    day_left = max(0, quota.daily_limit - quota.used_today(periods.day))
    month_left = max(0, quota.monthly_limit - quota.used_this_month(periods.month))
    cheapest = min(tier.units for tier in tiers())
    if month_left < cheapest:
        resets_at = periods.month_resets_at()
    elif day_left < cheapest:
        resets_at = periods.day_resets_at()
    else:
        resets_at = None
    return QuotaStatus(
        quota.daily_limit, day_left, quota.monthly_limit, month_left, resets_at, cheapest
    )


def queue_positions(queued: Sequence[Generation]) -> dict[uuid.UUID, int]:
    """{id: position} of these queued generations in one query, by queue_position()'s rule."""
    if not queued:
        return {}
    dispatched = Q(enqueued_at__isnull=False)
    counts = Generation.objects.filter(status=Generation.Status.QUEUED).aggregate(
        dispatched=Count("pk", filter=dispatched),
        **{
            f"ahead_{i}": Count(
                "pk",
                filter=dispatched & Q(enqueued_at__lt=generation.enqueued_at)
                if generation.enqueued_at is not None
                else Q(
                    owner_id=generation.owner_id,
                    enqueued_at__isnull=True,
                    created_at__lt=generation.created_at,
                ),
            )
            for i, generation in enumerate(queued)
        },
    )
    return {
        generation.pk: counts[f"ahead_{i}"]
        + (counts["dispatched"] if generation.enqueued_at is None else 0)
        + 1
        for i, generation in enumerate(queued)
    }


def queue_position(generation: Generation) -> int | None:
    """1 for the next queued generation to start, 2 for the one after it, …

    Dispatched generations go in the order they were handed to the broker. One still waiting
    (its owner has IMAGEGEN_IN_FLIGHT_PER_USER in flight) comes after everything dispatched
    and after its owner's earlier waiting ones: a lower bound, as other users' may come between.
    """
    if generation.status != Generation.Status.QUEUED:
        return None
    dispatched = Generation.objects.filter(
        status=Generation.Status.QUEUED, enqueued_at__isnull=False
    )
    if generation.enqueued_at is not None:
        return dispatched.filter(enqueued_at__lt=generation.enqueued_at).count() + 1
    own_held_ahead = Generation.objects.filter(
        owner_id=generation.owner_id,
        status=Generation.Status.QUEUED,
        enqueued_at__isnull=True,
        created_at__lt=generation.created_at,
    ).count()
    return dispatched.count() + own_held_ahead + 1


GALLERY_FILTERS = {
    "done": [Generation.Status.SUCCEEDED],
    # Held for review: not done yet, from the owner's side.
    "active": [*Generation.ACTIVE, Generation.Status.HELD],
    "failed": [Generation.Status.FAILED, Generation.Status.CANCELED, Generation.Status.REJECTED],
}


def gallery_filter(
    *, show: str = "", favourites: bool = False, query: str = "", prefix: str = ""
) -> Q:
    """What the gallery's filters keep: a status group, favourites, the words of a prompt;
    with `prefix` (as "chain_root__"), of the generation that relation leads to."""
    keep = Q()
    if show in GALLERY_FILTERS:
        keep &= Q(**{f"{prefix}status__in": GALLERY_FILTERS[show]})
    if favourites:
        keep &= Q(**{f"{prefix}favourite": True})
    for word in query.split()[:8]:
        keep &= Q(**{f"{prefix}prompt__icontains": word})
    return keep


def gallery_of(
    user: AbstractBaseUser, *, show: str = "", favourites: bool = False, query: str = ""
) -> QuerySet[Generation]:
    """The user's generations for the gallery: filtered by status group, favourites, words."""
    return generations_of(user).filter(
        gallery_filter(show=show, favourites=favourites, query=query)
    )


# Which chain a generation is in: its first picture's id (its own when it is the first or in
# none), as the generation_chain index has it.
CHAIN_KEY = Coalesce("chain_root", "id")
# 1 for a finished generation, 0 for any other: the card prefers the finished.
FINISHED = Case(When(status=Generation.Status.SUCCEEDED, then=1), default=0)


def gallery_cards(
    user: AbstractBaseUser, *, show: str = "", favourites: bool = False, query: str = ""
) -> QuerySet[Generation]:
    """The gallery's cards, newest first: one per generation in no chain, and one per chain
    of edits (issue 32), its newest finished version among those the filters keep (else the
    newest they keep), with `versions`, how many the chain has (1 for a picture in none).

    A row per card, so a page counts cards, in the same two queries as before chains. Each
    row is checked against its chain (a hash anti-join on PostgreSQL, the generation_chain
    index on SQLite): a page costs time in proportion to the gallery, as its count did.
    A deleted version's children stay in their chain (services.chains.keep_children), so
    the card simply falls back to the newest version left."""
    keep = gallery_filter(show=show, favourites=favourites, query=query)
    # A version is better for the card than another when it is finished and the other is not,
    # else when it was made later (the id breaks a tie). Written as one NOT EXISTS whose chain
    # is an equality on the generation_chain index, so each database looks a chain up by it
    # (PostgreSQL as an anti-join) rather than scanning every newer row.
    newer = Q(created_at__gte=OuterRef("created_at")) & ~Q(
        created_at=OuterRef("created_at"), pk__lte=OuterRef("pk")
    )
    better = Q(finished__gt=OuterRef("finished")) | (Q(finished=OuterRef("finished")) & newer)
    # Every version of a chain is its owner's (a parent must be): a chain is found by its key.
    chain = Generation.objects.annotate(chain_key=CHAIN_KEY).filter(chain_key=OuterRef("chain_key"))
    versions = chain.order_by().values("chain_key").annotate(n=Count("pk")).values("n")
    return (
        Generation.objects.filter(owner=user)
        .annotate(chain_key=CHAIN_KEY, finished=FINISHED, versions=Subquery(versions))
        .filter(keep)
        .exclude(Exists(chain.annotate(finished=FINISHED).filter(keep, better)))
        .order_by("-created_at", "-id")
    )


def gallery_card_count(
    user: AbstractBaseUser, *, show: str = "", favourites: bool = False, query: str = ""
) -> int:
    """How many cards gallery_cards makes, without checking each row against its chain. A
    chain has one card when the filters keep any of its versions, so the cards are the kept
    pictures that start no chain or start one (chain_root null), and, under a filter, the
    chains whose first picture it drops, counted by their first picture (a join, no subquery:
    on 40,000 rows PostgreSQL's plan for a NOT EXISTS per row cost more to JIT-compile than to
    run). Without a filter every first picture is kept, and it is a plain count."""
    filters = {"show": show, "favourites": favourites, "query": query}
    keep = gallery_filter(**filters)
    kept = Generation.objects.filter(owner=user).filter(keep)
    if not keep:
        return kept.filter(chain_root__isnull=True).count()
    first_kept = gallery_filter(**filters, prefix="chain_root__")
    counts = kept.aggregate(
        first=Count("pk", filter=Q(chain_root__isnull=True)),
        rest=Count("chain_root", distinct=True, filter=Q(chain_root__isnull=False) & ~first_kept),
    )
    return counts["first"] + counts["rest"]


def gallery_page(
    user: AbstractBaseUser,
    *,
    show: str = "",
    favourites: bool = False,
    query: str = "",
    status: str = "",
    before: tuple[datetime.datetime, uuid.UUID] | None = None,
    limit: int,
) -> list[Generation]:
    """Up to `limit` of the user's generations for the API's list: gallery_of's filters, an
    exact `status`, and only those after `before` (the (created_at, id) of a page's last item).

    Ordered by (created_at, id), newest first, so a page boundary is one exact place in the
    list: generations made meanwhile come before it and never shift the later pages.
    """
    generations = gallery_of(user, show=show, favourites=favourites, query=query)
    if status:
        generations = generations.filter(status=status)
    if before is not None:
        created_at, pk = before
        generations = generations.filter(
            Q(created_at__lt=created_at) | Q(created_at=created_at, pk__lt=pk)
        )
    return list(generations.order_by("-created_at", "-id")[:limit])


RECENT_FOR_ESTIMATES = 20


def typical_seconds(which: Q) -> float | None:
    """Median seconds from start to end of the RECENT_FOR_ESTIMATES latest successful
    generations that `which` selects (a provider's, a tier's), or None without any."""
    recent = (
        Generation.objects.filter(
            which,
            status=Generation.Status.SUCCEEDED,
            started_at__isnull=False,
            finished_at__isnull=False,
        )
        .order_by("-finished_at")
        .values_list("started_at", "finished_at")[:RECENT_FOR_ESTIMATES]
    )
    durations = [(end - start).total_seconds() for start, end in recent]
    return statistics.median(durations) if durations else None


def typical_duration(provider_name: str) -> float | None:
    """Median seconds of the provider's recent successful generations, or None without any."""
    return typical_seconds(Q(provider=provider_name))


def serving_provider_name(tier_name: str = "") -> str:
    """The provider the next generation of the tier (default: the site's default tier) will go
    to: the first of its chain not cooling down."""
    names = list(tier_of(tier_name).providers)
    cooling = set(
        ProviderCooldown.objects.filter(provider__in=names, until__gt=timezone.now()).values_list(
            "provider", flat=True
        )
    )
    return next((name for name in names if name not in cooling), names[0])


def typical_duration_now(tier_name: str = "") -> float | None:
    """Median duration of the provider the tier's next generation will go to
    (see typical_duration)."""
    return typical_duration(serving_provider_name(tier_name))


def tier_typical_seconds(tier: Tier) -> float:
    """About how long a picture of the tier takes: the median of its recent successful
    generations, else of its serving provider's, else the demo's delay or
    IMAGEGEN_SECONDS_PER_IMAGE (what the cost advice assumes too)."""
    measured = typical_seconds(Q(tier=tier.name))
    if measured is not None:
        return measured
    serving = serving_provider_name(tier.name)
    measured = typical_duration(serving)
    if measured is not None:
        return measured
    if serving == "demo":
        return settings.IMAGEGEN_DEMO_DELAY
    return settings.IMAGEGEN_SECONDS_PER_IMAGE


def wait_estimate(position: int | None, typical: float | None) -> float | None:
    """Seconds until a queued generation at `position` is done, given the typical duration.

    With `Q_WORKERS` workers, the ones ahead go through in batches of that many, then this one.
    None when either is unknown.
    """
    if typical is None or position is None:
        return None
    batches_ahead = (position - 1) // settings.Q_WORKERS
    return round((batches_ahead + 1) * typical, 1)


@dataclass(frozen=True)
class QueueNow:
    """Generations queued and running now, and how long the oldest queued one has waited since
    it was (last) put in the queue: what /health and /metrics report."""

    queued: int
    running: int
    oldest_wait: float | None  # seconds; None when nothing waits


def queue_now() -> QueueNow:
    """Generations queued and running now, and the oldest queued one's wait."""
    counts = dict(
        Generation.objects.filter(status__in=Generation.ACTIVE)
        .values_list("status")
        .annotate(n=Count("pk"))
        .order_by()
    )
    oldest = (
        Generation.objects.filter(status=Generation.Status.QUEUED)
        .order_by("created_at")
        .values_list("enqueued_at", "created_at")
        .first()
    )
    # A generation recovery requeued waits from then, not from its submission.
    waited = (timezone.now() - (oldest[0] or oldest[1])).total_seconds() if oldest else None
    return QueueNow(
        queued=counts.get(Generation.Status.QUEUED, 0),
        running=counts.get(Generation.Status.RUNNING, 0),
        oldest_wait=None if waited is None else max(0.0, waited),
    )


def workers_seen() -> tuple[int, int]:
    """(clusters, workers) whose heartbeat django-q2 kept in the shared cache (a few seconds)."""
    try:
        stats = Stat.get_all()
    except Exception as exc:  # the cache is down: report none seen
        logger.error("health: cannot read worker heartbeats: %s", type(exc).__name__)
        return 0, 0
    # A cluster that just stopped leaves its last heartbeat for a few seconds: not serving.
    alive = [stat for stat in stats if stat.status not in (Conf.STOPPING, Conf.STOPPED)]
    return len(alive), sum(len(stat.workers) for stat in alive)


def cooldowns_now() -> dict[str, ProviderCooldown]:
    """The providers cooling down now, by name."""
    return {
        cooldown.provider: cooldown
        for cooldown in ProviderCooldown.objects.filter(until__gt=timezone.now())
    }


def active_sessions() -> int:
    """Sessions that have not expired (signed-in visitors, about)."""
    return Session.objects.filter(expire_date__gt=timezone.now()).count()
