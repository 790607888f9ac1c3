"""The operations page's numbers and charts: the last 14 days, drawn on the server as SVG.

The numbers are counted as the usage report (imagegen.reports) counts them: a generation belongs
to the local day it finished (the day it was made while unfinished), seconds to make one run
from start to finish, costs are the recorded estimates. The database groups and counts (per
day, status, class, provider, and duration bucket), so the page reads a few hundred numbers
however many generations the days hold; percentiles are read from the buckets. A day that is
over is counted once and kept in the cache.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.db.models import (
    Case,
    Count,
    DateField,
    DurationField,
    ExpressionWrapper,
    F,
    IntegerField,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, TruncDate
from django.utils import formats, timezone
from django.utils.html import escape
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

from . import reports
from .models import Generation
from .periods import local_midnight
from .providers.base import FAILURE_CLASSES, failure_class_label
from .services.budget import budget_state

DAYS = 14
# Colours that tell statuses apart in both light schemes and for common colour blindness.
STATUS_COLOURS = {
    "succeeded": "#2e7d5b",
    "failed": "#c0392b",
    "canceled": "#8a8f98",
    "held": "#d68910",
    "rejected": "#6c3483",
    "queued": "#5d8aa8",
    "running": "#1f618d",
}
PALETTE = ("#1f618d", "#c0392b", "#2e7d5b", "#d68910", "#6c3483", "#117a65", "#8a8f98", "#a04000")


# Upper edges (seconds) of the buckets durations are counted in by the database; a percentile is
# read from the counts as Prometheus' histogram_quantile does (linear within a bucket), so the
# page reads a few hundred counts, never the rows themselves.
EDGES = (0.5, 1, 2, 3, 5, 8, 13, 20, 30, 45, 60, 90, 120, 180, 300, 600, 1200, 3600)


@dataclass
class Day:
    date: datetime.date
    statuses: dict = field(default_factory=lambda: defaultdict(int))
    failures: dict = field(default_factory=lambda: defaultdict(int))
    seconds: dict = field(default_factory=lambda: defaultdict(lambda: [0] * (len(EDGES) + 1)))
    waits: list = field(default_factory=lambda: [0] * (len(EDGES) + 1))
    cost: Decimal = Decimal(0)

    @property
    def finished(self):
        return sum(n for status, n in self.statuses.items() if status not in Generation.ACTIVE)


def quantile(q, counts):
    """The q-quantile of bucket `counts` (EDGES, then one past the last), or None when empty."""
    total = sum(counts)
    if not total:
        return None
    rank = q * total
    seen = 0
    for index, count in enumerate(counts):
        if count and seen + count >= rank:
            low = EDGES[index - 1] if index else 0.0
            high = EDGES[index] if index < len(EDGES) else EDGES[-1]
            return round(low + (high - low) * (rank - seen) / count, 1)
        seen += count
    return float(EDGES[-1])


def _bucket(duration):
    """The index of the bucket a DurationField expression falls in, computed by the database."""
    return Case(
        *(
            When(**{f"{duration}__lte": datetime.timedelta(seconds=edge)}, then=Value(index))
            for index, edge in enumerate(EDGES)
        ),
        default=Value(len(EDGES)),
        output_field=IntegerField(),
    )


def _count(first: datetime.date, last: datetime.date, zone) -> dict[datetime.date, Day]:
    """What happened on the local days from `first` to `last`: GROUP BY queries whose answers
    do not grow with the rows. Finished rows are found through the index on finished_at, the
    unfinished through the one on (status, created_at): one query with an OR of the two would
    make SQLite read the whole table."""
    days = {
        first + datetime.timedelta(days=i): Day(first + datetime.timedelta(days=i))
        for i in range((last - first).days + 1)
    }
    start, end = local_midnight(first), local_midnight(last + datetime.timedelta(days=1))

    def on_days(rows, moment):
        # One day (today, on most views) needs no per-row date: every row is that day's.
        day = (
            Value(first, output_field=DateField())
            if first == last
            else TruncDate(moment, tzinfo=zone)
        )
        return rows.order_by().annotate(day=day)

    finished = on_days(
        Generation.objects.filter(finished_at__gte=start, finished_at__lt=end), "finished_at"
    )
    unfinished = on_days(
        Generation.objects.filter(
            status__in=Generation.ACTIVE,
            finished_at__isnull=True,
            created_at__gte=start,
            created_at__lt=end,
        ),
        "created_at",
    )
    # No status in the WHERE clauses: SQLite would then pick the (status, created_at) index
    # and read every succeeded generation ever made; statuses are told apart in the answers.
    for rows in (finished, unfinished):
        for day, status, failure, n, cost in (
            rows.values_list("day", "status", "failure_class")
            .annotate(n=Count("pk"), cost=Sum("estimated_cost"))
            .order_by()
        ):
            if day not in days:
                continue
            days[day].statuses[status] += n
            if status == Generation.Status.FAILED:
                # A class no provider reports (an admin's edit) counts as unexpected, as in
                # usage_report.
                kind = failure if failure in FAILURE_CLASSES else "unexpected"
                days[day].failures[kind] += n
            if status == Generation.Status.SUCCEEDED:
                days[day].cost += cost or Decimal(0)
        started = rows.filter(started_at__isnull=False)
        waited = started.annotate(
            wait=ExpressionWrapper(
                F("started_at") - Coalesce("enqueued_at", "created_at"),
                output_field=DurationField(),
            )
        )
        for day, bucket, n in (
            waited.annotate(bucket=_bucket("wait"))
            .values_list("day", "bucket")
            .annotate(n=Count("pk"))
        ):
            if day in days:
                days[day].waits[bucket] += n
    made = (
        finished.filter(started_at__isnull=False)
        .annotate(
            took=ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())
        )
        .annotate(bucket=_bucket("took"))
    )
    for day, status, provider, bucket, n in made.values_list(
        "day", "status", "provider", "bucket"
    ).annotate(n=Count("pk")):
        if day in days and status == Generation.Status.SUCCEEDED:
            days[day].seconds[provider or reports.NO_PROVIDER][bucket] += n
    return days


CACHE_SECONDS = 40 * 24 * 3600


def _key(date, zone):
    return f"travelfit-ops-day:v1:{zone}:{date.isoformat()}"


def last_days(today: datetime.date | None = None) -> list[Day]:
    """The last DAYS local days, oldest first, with what happened on each.

    A day that is over, with nothing of it still queued or running, cannot change any more: it
    is counted once and kept in the cache (shared by every web process), so a view counts only
    today's rows however many generations the table holds.
    """
    zone = timezone.get_default_timezone()
    today = today or timezone.localdate(timezone=zone)
    dates = [today - datetime.timedelta(days=DAYS - 1 - i) for i in range(DAYS)]
    kept = cache.get_many([_key(date, zone) for date in dates[:-1]])
    days = {date: _from_plain(kept[_key(date, zone)]) for date in dates if _key(date, zone) in kept}
    missing = [date for date in dates if date not in days]
    counted = _count(missing[0], missing[-1], zone)
    for date in missing:
        days[date] = counted[date]
        unfinished = any(days[date].statuses.get(status) for status in Generation.ACTIVE)
        if date != today and not unfinished:
            cache.set(_key(date, zone), _plain(days[date]), CACHE_SECONDS)
    return [days[date] for date in dates]


def forget(today: datetime.date | None = None) -> None:
    """Drop the kept counts of the last DAYS days (they are counted again on the next view)."""
    zone = timezone.get_default_timezone()
    today = today or timezone.localdate(timezone=zone)
    cache.delete_many([_key(today - datetime.timedelta(days=i), zone) for i in range(DAYS)])


def _plain(day: Day) -> dict:
    return {
        "date": day.date,
        "statuses": dict(day.statuses),
        "failures": dict(day.failures),
        "seconds": {provider: list(counts) for provider, counts in day.seconds.items()},
        "waits": list(day.waits),
        "cost": day.cost,
    }


def _from_plain(data: dict) -> Day:
    day = Day(data["date"])
    day.statuses.update(data["statuses"])
    day.failures.update(data["failures"])
    day.seconds.update(data["seconds"])
    day.waits = list(data["waits"])
    day.cost = data["cost"]
    return day


# --- Drawing ----------------------------------------------------------------------------------

WIDTH, HEIGHT = 480, 240
LEFT, RIGHT, TOP, BOTTOM = 62, 8, 12, 30


def _nice_max(value):
    """A round top for the y axis at or above `value`."""
    if value <= 0:
        return 1
    step = 10 ** (len(str(int(value))) - 1) if value >= 1 else 0.1
    for factor in (1, 2, 2.5, 5, 10):
        if value <= step * factor:
            return step * factor
    return value


def _number(value, unit):
    if unit == "%":
        return f"{value:.0f}%"
    if unit == "$":
        return f"${value:,.2f}"
    if unit == "s":
        return f"{value:g} s" if value < 100 else f"{value:.0f} s"
    return f"{value:g}"


def _frame(title, days, top, unit):
    """The SVG's opening, its grid, y labels and day labels."""
    plot_h = HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for i in range(5):
        y = TOP + plot_h * i / 4
        value = top * (4 - i) / 4
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(_number(value, unit))}</text>"
        )
    slot = (WIDTH - LEFT - RIGHT) / len(days)
    for i, day in enumerate(days):
        if i % 2 == len(days) % 2:  # every other day, ending on today
            continue
        x = LEFT + slot * (i + 0.5)
        label = formats.date_format(day.date, "n/j")
        parts.append(
            f'<text x="{x:.1f}" y="{HEIGHT - 6}" text-anchor="middle">{escape(label)}</text>'
        )
    return parts, slot, plot_h


def bars(title, days, series, *, unit="", colours=None):
    """Stacked bars, one per day; `series` is {name: [value per day]}."""
    totals = [sum(values[i] for values in series.values()) for i in range(len(days))]
    top = _nice_max(max(totals, default=0))
    parts, slot, plot_h = _frame(title, days, top, unit)
    colours = colours or dict(zip(series, PALETTE * 3, strict=False))
    for i in range(len(days)):
        base = TOP + plot_h
        for name, values in series.items():
            if not values[i]:
                continue
            height = plot_h * values[i] / top
            base -= height
            parts.append(
                f'<rect x="{LEFT + slot * i + slot * 0.15:.1f}" y="{base:.1f}" '
                f'width="{slot * 0.7:.1f}" height="{height:.1f}" fill="{colours[name]}">'
                f"<title>{escape(name)}: {escape(_number(values[i], unit))}</title></rect>"
            )
    parts.append("</svg>")
    return Chart(title, mark_safe("".join(parts)), [(n, colours[n]) for n in series])


def lines(title, days, series, *, unit="", reference=None):
    """Lines, one per series ({name: [value or None per day]}); `reference` a dashed level."""
    values = [v for vs in series.values() for v in vs if v is not None]
    top = _nice_max(max([*values, reference or 0], default=0))
    parts, slot, plot_h = _frame(title, days, top, unit)
    colours = dict(zip(series, PALETTE * 3, strict=False))

    def y_of(value):
        return TOP + plot_h * (1 - value / top)

    if reference is not None:
        y = y_of(reference)
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="reference"/>'
        )
    for name, vs in series.items():
        points = [
            f"{LEFT + slot * (i + 0.5):.1f},{y_of(v):.1f}"
            for i, v in enumerate(vs)
            if v is not None
        ]
        if not points:
            continue
        parts.append(
            f'<polyline points="{" ".join(points)}" fill="none" stroke="{colours[name]}" '
            f'stroke-width="2.5" stroke-linejoin="round"/>'
        )
        for point, v in zip(points, [v for v in vs if v is not None], strict=True):
            x, y = point.split(",")
            parts.append(
                f'<circle cx="{x}" cy="{y}" r="3" fill="{colours[name]}">'
                f"<title>{escape(name)}: {escape(_number(v, unit))}</title></circle>"
            )
    parts.append("</svg>")
    legend = [(n, colours[n]) for n in series]
    return Chart(title, mark_safe("".join(parts)), legend)


@dataclass
class Chart:
    title: str
    svg: str
    legend: list
    note: str = ""


def charts(days: list[Day]) -> list[Chart]:
    """The page's five charts, from the days' numbers."""
    statuses = [s for s in STATUS_COLOURS if any(day.statuses.get(s) for day in days)]
    label = {s: str(Generation.Status(s).label) for s in STATUS_COLOURS}
    made = bars(
        _("Generations per day, by status"),
        days,
        {label[s]: [day.statuses.get(s, 0) for day in days] for s in statuses}
        or {label["succeeded"]: [0] * DAYS},
        colours={label[s]: colour for s, colour in STATUS_COLOURS.items()},
    )
    classes = [c for c in FAILURE_CLASSES if any(day.failures.get(c) for day in days)]
    failures = bars(
        _("Failure share per day, by failure class"),
        days,
        {
            failure_class_label(c): [
                100 * day.failures.get(c, 0) / day.finished if day.finished else 0 for day in days
            ]
            for c in classes
        }
        or {"—": [0] * DAYS},
        unit="%",
    )
    providers = sorted({p for day in days for p in day.seconds})
    seconds = {}
    for provider in providers:
        seconds[f"{provider} p50"] = [quantile(0.5, day.seconds[provider]) for day in days]
        seconds[f"{provider} p95"] = [quantile(0.95, day.seconds[provider]) for day in days]
    speed = lines(
        _("Seconds to make an image, by provider (p50, p95)"),
        days,
        seconds or {"—": [None]},
        unit="s",
    )
    budget = budget_state().budget
    running, month = Decimal(0), None
    cumulative = []
    for day in days:
        if day.date.replace(day=1) != month:
            month, running = day.date.replace(day=1), Decimal(0)
        running += day.cost
        cumulative.append(float(running))
    spend = lines(
        _("Spending this month, against the monthly budget"),
        days,
        {str(_("estimated spend")): cumulative},
        unit="$",
        reference=float(budget) if budget is not None else None,
    )
    spend.note = (
        str(_("Dashed: the budget, %(budget)s (IMAGEGEN_MONTHLY_BUDGET_USD)."))
        % {"budget": f"${budget:,.2f}"}
        if budget is not None
        else str(_("No monthly budget is set (IMAGEGEN_MONTHLY_BUDGET_USD)."))
    )
    waits = lines(
        _("Queue wait before a worker starts (p50, p95)"),
        days,
        {
            "p50": [quantile(0.5, day.waits) for day in days],
            "p95": [quantile(0.95, day.waits) for day in days],
        },
        unit="s",
    )
    return [made, failures, speed, spend, waits]


def totals(days):
    """The 14 days in four figures: made, failed share, spend, median wait."""
    finished = sum(day.finished for day in days)
    failed = sum(day.statuses.get("failed", 0) for day in days)
    return {
        "made": sum(day.statuses.get("succeeded", 0) for day in days),
        "failed_share": failed / finished if finished else 0.0,
        "spent": sum((day.cost for day in days), Decimal(0)),
        "wait": quantile(0.5, [sum(c) for c in zip(*(day.waits for day in days), strict=True)]),
        "budget": settings.IMAGEGEN_MONTHLY_BUDGET_USD,
    }


def lookbooks_made(days) -> int:
    """Trip lookbooks asked for over these days (issue 31), by the day they were made."""
    from .models import Trip

    if not days:
        return 0
    return Trip.objects.filter(created_at__gte=local_midnight(days[0].date)).count()
