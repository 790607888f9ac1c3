"""Operators' reports: a month's usage per user and provider, and what each way to run would cost.

Plain functions returning data; the `usage_report` and `imagegen_advise` commands print it.

Counting rules, the same everywhere here:
- A generation belongs to the local month (settings.TIME_ZONE) its `finished_at` falls in; one
  that never finished (queued or running) belongs to the month of its `created_at`, so work
  still in flight shows up in the month it was asked for.
- Durations are `started_at` → `finished_at` of succeeded generations, in seconds: the time a
  worker spent on it, retries included, queue wait excluded.
- The median is `statistics.median` (the mean of the two middle values for an even count);
  p95 is the nearest-rank percentile: the value at rank ceil(0.95 × n) of the sorted list, so
  it is always a duration that really happened.
- Money is Decimal dollars throughout; it is rounded (half up) only when shown.
"""

import datetime
import math
import re
import statistics
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db.models import Count, Q

from .models import Generation, PromptRefusal
from .periods import Periods, local_midnight
from .providers.base import FAILURE_CLASSES
from .tiers import choosable, tier_named, tiers

# The report's failure columns: the providers' classes in their declared order, with the
# catch-all last. A blank or unknown class (a row an admin edited) counts as unexpected.
FAILURE_CLASS_NAMES = tuple(name for name in FAILURE_CLASSES if name != "unexpected") + (
    "unexpected",
)

# A failure records the last provider asked; a canceled generation (or a failure before any
# provider was asked) records none, and is grouped under this label.
NO_PROVIDER = "(none)"

# The demo provider's delay is a setting, not a GPU's speed: its durations say nothing about
# what a real provider would take.
DEMO_PROVIDER = "demo"

# 365 days × 24 h ÷ 12: the hours in an average month, for "kept on all month" figures.
HOURS_PER_MONTH = 730

MONTH_PATTERN = re.compile(r"(\d{4})-(\d{1,2})")


def parse_month(text):
    """The first day of the month written YYYY-MM; ValueError with a readable message."""
    match = MONTH_PATTERN.fullmatch(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a month: write it as YYYY-MM, for example 2026-11.")
    year, month = int(match[1]), int(match[2])
    if not 1 <= month <= 12:
        raise ValueError(f"{text!r} is not a month: the month must be 01 to 12.")
    if year < 1:
        raise ValueError(f"{text!r} is not a month: the year must be 0001 or later.")
    return datetime.date(year, month, 1)


def current_month():
    """The first day of this month in settings.TIME_ZONE."""
    return Periods.current().month


def month_label(month):
    """2026-11 for any day of November 2026."""
    return f"{month.year:04d}-{month.month:02d}"


def month_bounds(month):
    """The aware datetimes [start, end) of the local month that `month` falls in."""
    first = month.replace(day=1)
    following = (first + datetime.timedelta(days=32)).replace(day=1)
    return local_midnight(first), local_midnight(following)


def _in_month(month):
    start, end = month_bounds(month)
    return Q(finished_at__gte=start, finished_at__lt=end) | Q(
        finished_at__isnull=True, created_at__gte=start, created_at__lt=end
    )


def median(durations):
    """The median of a list of seconds, or None for an empty list."""
    return statistics.median(durations) if durations else None


def p95(durations):
    """The nearest-rank 95th percentile of a list of seconds, or None for an empty list."""
    if not durations:
        return None
    ordered = sorted(durations)
    return ordered[math.ceil(0.95 * len(ordered)) - 1]


@dataclass
class UsageRow:
    """One line of the usage report: a user's, a provider's or everyone's month."""

    name: str
    images: int = 0
    failures: dict = field(default_factory=lambda: dict.fromkeys(FAILURE_CLASS_NAMES, 0))
    canceled: int = 0
    active: int = 0
    # None on provider rows: a refused prompt never reaches a provider.
    refused: int | None = 0
    cost: Decimal = Decimal(0)
    # Quota units still held (not refunded): what users paid for this row's generations.
    units: int = 0
    durations: list = field(default_factory=list, repr=False)

    @property
    def failed(self):
        return sum(self.failures.values())

    @property
    def median_s(self):
        return median(self.durations)

    @property
    def p95_s(self):
        return p95(self.durations)

    def add(self, status, failure_class, seconds, cost):
        if status == Generation.Status.SUCCEEDED:
            self.images += 1
            self.cost += cost
            if seconds is not None:
                self.durations.append(seconds)
        elif status == Generation.Status.FAILED:
            kind = failure_class if failure_class in self.failures else "unexpected"
            self.failures[kind] += 1
        elif status == Generation.Status.CANCELED:
            self.canceled += 1
        else:
            self.active += 1


@dataclass
class UsageReport:
    """A month's usage: rows per user, per provider and per tier (sorted by name; tiers in
    the site's order) and the totals."""

    month: datetime.date
    users: list
    providers: list
    totals: UsageRow
    tiers: list = field(default_factory=list)

    @property
    def shows_tiers(self):
        """Tiers are worth a section once there is a choice of them (or was, this month)."""
        return choosable() or len(self.tiers) > 1

    @property
    def label(self):
        return month_label(self.month)


def usage_report(month):
    """The usage of the local month `month` falls in, read with two queries whatever the size."""
    generations = (
        Generation.objects.filter(_in_month(month))
        .order_by()
        .values(
            "owner_id",
            "owner__username",
            "provider",
            "status",
            "failure_class",
            "started_at",
            "finished_at",
            "estimated_cost",
            "tier",
            "units",
            "charged",
        )
    )
    start, end = month_bounds(month)
    refusals = (
        PromptRefusal.objects.filter(created_at__gte=start, created_at__lt=end)
        .order_by()
        .values_list("user_id", "user__username")
        .annotate(refused=Count("id"))
    )
    users, providers = {}, {}
    # The site's tiers first, in its order, then any a generation names that is gone since.
    tier_rows = {tier.name: UsageRow(name=tier.name, refused=None) for tier in tiers()}
    totals = UsageRow(name="all")
    for generation in generations.iterator(chunk_size=2000):
        status, started, finished = (
            generation["status"],
            generation["started_at"],
            generation["finished_at"],
        )
        seconds = None
        if status == Generation.Status.SUCCEEDED and started and finished:
            seconds = (finished - started).total_seconds()
        user_row = users.setdefault(
            generation["owner_id"], UsageRow(name=generation["owner__username"])
        )
        provider_name = generation["provider"] or NO_PROVIDER
        provider_row = providers.setdefault(
            provider_name, UsageRow(name=provider_name, refused=None)
        )
        tier_row = tier_rows.setdefault(
            generation["tier"], UsageRow(name=generation["tier"], refused=None)
        )
        for row in (user_row, provider_row, tier_row, totals):
            row.add(status, generation["failure_class"], seconds, generation["estimated_cost"])
            if generation["charged"]:
                row.units += generation["units"]
    for user_id, username, refused in refusals:
        users.setdefault(user_id, UsageRow(name=username)).refused = refused
        totals.refused += refused
    return UsageReport(
        month=month.replace(day=1),
        users=sorted(users.values(), key=lambda row: row.name),
        providers=sorted(providers.values(), key=lambda row: row.name),
        totals=totals,
        tiers=[row for name, row in tier_rows.items() if _used_or_offered(row, name)],
    )


def _used_or_offered(row, name):
    return tier_named(name) is not None or row.images or row.failed or row.canceled or row.active


# --- What each way to run would cost ----------------------------------------------------------


@dataclass(frozen=True)
class Way:
    """One way to run the model, its monthly cost and the arithmetic behind it."""

    key: str
    title: str
    provider: str
    monthly: Decimal
    arithmetic: tuple
    notes: tuple = ()


@dataclass(frozen=True)
class Band:
    """One of the guide's volume bands (section 9 of the original backend's guide)."""

    volumes: str
    way: str
    cost: str
    provider: str


GUIDE_BANDS = (
    Band("under 1,000", "Inference API (hf_inference)", "free, or PRO $9/month", "hf_inference"),
    Band(
        "1,000–10,000",
        "Space fork on a persistent GPU (gradio_space)",
        "$15–30/month",
        "gradio_space",
    ),
    Band(
        "over 10,000",
        "dedicated Inference Endpoint (hf_endpoint) or your own server",
        "to be negotiated",
        "hf_endpoint",
    ),
)


def guide_band(volume):
    """The guide's band for a monthly volume; 10,000 itself is in the Space band, as in 9.3."""
    if volume < 1000:
        return GUIDE_BANDS[0]
    if volume <= 10000:
        return GUIDE_BANDS[1]
    return GUIDE_BANDS[2]


@dataclass(frozen=True)
class Advice:
    """The monthly cost of each way to run for one volume, the cheapest, and the guide's band."""

    volume: int
    seconds_per_image: Decimal
    basis: tuple
    ways: tuple
    band: Band
    month: datetime.date | None = None

    @property
    def cheapest(self):
        # min() keeps the first of equal costs, so ties go to the way listed first.
        return min(self.ways, key=lambda way: way.monthly)


def advise(volume=None, month=None):
    """Cost each way to run for `volume` images a month, or for the real usage of `month`.

    With neither, the current month's usage. Seconds per image are the month's median over
    real providers (demo excluded), rounded to a tenth so the shown arithmetic adds up, or
    IMAGEGEN_SECONDS_PER_IMAGE when there is nothing to measure or a volume is given.
    """
    if volume is not None and month is not None:
        raise ValueError("Give a volume or a month, not both.")
    if volume is not None:
        if volume < 0:
            raise ValueError("The volume cannot be negative.")
        seconds = _configured_seconds()
        basis = (
            f"{volume:,} images a month (given), "
            f"{_quantity(seconds)} s an image (IMAGEGEN_SECONDS_PER_IMAGE).",
        )
    else:
        month = (month or current_month()).replace(day=1)
        volume, seconds, basis = _measured_usage(month)
    return Advice(
        volume=volume,
        seconds_per_image=seconds,
        basis=basis,
        ways=_ways(volume, seconds),
        band=guide_band(volume),
        month=month,
    )


def _configured_seconds():
    return Decimal(str(settings.IMAGEGEN_SECONDS_PER_IMAGE))


def _measured_usage(month):
    """(images, seconds per image, basis lines) of a month's succeeded generations."""
    succeeded = (
        Generation.objects.filter(_in_month(month), status=Generation.Status.SUCCEEDED)
        .order_by()
        .values_list("provider", "started_at", "finished_at")
    )
    images = demo_images = 0
    durations = []
    for provider, started, finished in succeeded.iterator(chunk_size=2000):
        images += 1
        if provider == DEMO_PROVIDER:
            demo_images += 1
        elif started and finished:
            durations.append((finished - started).total_seconds())
    label = month_label(month)
    made = f"{images:,} image{'' if images == 1 else 's'} made in {label}"
    if demo_images:
        made += f" ({demo_images:,} of them by the demo provider, counted as demand)"
    if durations:
        # At least a tenth of a second, the smallest IMAGEGEN_SECONDS_PER_IMAGE allowed.
        seconds = max(Decimal(str(round(median(durations), 1))), Decimal("0.1"))
        timing = (
            f"{_quantity(seconds)} s an image: the median of {len(durations):,} timed images "
            f"from real providers (the A10G row assumes the same)."
        )
    else:
        seconds = _configured_seconds()
        timing = (
            f"{_quantity(seconds)} s an image (IMAGEGEN_SECONDS_PER_IMAGE): no timed images "
            f"from a real provider in {label}."
        )
    return images, seconds, (made + ".", timing)


def _ways(volume, seconds):
    pro = settings.IMAGEGEN_PRO_USD_PER_MONTH
    gpu_seconds = volume * seconds
    hours = gpu_seconds / 3600
    running = f"{volume:,} images × {_quantity(seconds)} s = {_quantity(gpu_seconds)} s"
    return (
        _inference_way(volume, seconds, pro),
        _space_way(
            "space_t4",
            "Space on a T4 (gradio_space)",
            "a T4",
            settings.IMAGEGEN_SPACE_USD_PER_HOUR,
            running,
            hours,
            pro,
        ),
        _space_way(
            "space_a10g",
            "Space on an A10G (gradio_space)",
            "an A10G",
            settings.IMAGEGEN_SPACE_A10G_USD_PER_HOUR,
            running,
            hours,
            pro,
            extra_note=(
                "Same seconds per image as the T4: the guide calls the A10G faster (5.1.1) "
                "but gives no figure, so this is an upper bound."
            ),
        ),
        _endpoint_way(settings.IMAGEGEN_ENDPOINT_USD_PER_HOUR, running, hours),
    )


def _inference_way(volume, seconds, pro):
    price = settings.IMAGEGEN_INFERENCE_USD_PER_IMAGE
    included = settings.IMAGEGEN_PRO_INCLUDED_MINUTES * 60
    covered = int((included / seconds).to_integral_value(ROUND_FLOOR))
    billed = max(0, volume - covered)
    usage = billed * price
    monthly = pro + usage
    arithmetic = (
        f"PRO {usd(pro)} includes {settings.IMAGEGEN_PRO_INCLUDED_MINUTES:,} min = "
        f"{included:,} s ÷ {_quantity(seconds)} s = {covered:,} images",
        f"{volume:,} − {covered:,} = {billed:,} images × {_price(price)} = {usd(usage)} "
        f"+ PRO {usd(pro)} = {usd(monthly)}/month",
    )
    notes = ()
    if volume <= covered:
        notes = (
            "At this volume the free tier's limited Inference Providers credits may do for "
            "testing without PRO ($0; the guide's section 8.1).",
        )
    return Way(
        key="inference",
        title="Inference Providers (hf_inference)",
        provider="hf_inference",
        monthly=monthly,
        arithmetic=arithmetic,
        notes=notes,
    )


def _space_way(key, title, gpu, per_hour, running, hours, pro, extra_note=None):
    gpu_cost = hours * per_hour
    monthly = pro + gpu_cost
    arithmetic = (
        f"{running} = {_hours(hours)} GPU hours × {_price(per_hour)} = {usd(gpu_cost)} "
        f"+ PRO {usd(pro)} = {usd(monthly)}/month",
    )
    notes = (
        f"Assumes the Space sleeps when idle: {gpu} kept on 24/7 costs {_price(per_hour)} × "
        f"{HOURS_PER_MONTH} h = {usd(per_hour * HOURS_PER_MONTH)}/month, plus PRO.",
    )
    if extra_note:
        notes += (extra_note,)
    return Way(key, title, "gradio_space", monthly, arithmetic, notes)


def _endpoint_way(per_hour, running, hours):
    monthly = hours * per_hour
    arithmetic = (
        f"{running} = {_hours(hours)} hours × {_price(per_hour)} = {usd(monthly)}/month "
        f"(no PRO needed)",
    )
    notes = (
        f"Assumes it scales to zero when idle and bills only while generating (it also bills "
        f"while starting and until its idle timeout); kept on 24/7 it costs {_price(per_hour)} "
        f"× {HOURS_PER_MONTH} h = {usd(per_hour * HOURS_PER_MONTH)}/month.",
    )
    return Way(
        "endpoint",
        "Dedicated Inference Endpoint (hf_endpoint)",
        "hf_endpoint",
        monthly,
        arithmetic,
        notes,
    )


# --- Display: rounding happens here and nowhere else ------------------------------------------

CENT = Decimal("0.01")


def usd(amount, places=2):
    """Dollars with `places` decimals, rounded half up, with thousands separators: $1,234.56."""
    return f"${amount.quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP):,}"


def _price(amount):
    """A unit price as configured, with 2 to 4 decimals: $0.20, $0.035, $9.00."""
    exact = amount.quantize(Decimal("0.0001"), ROUND_HALF_UP).normalize()
    if exact.as_tuple().exponent > -2:
        exact = exact.quantize(CENT)
    return f"${exact:,f}"


def _quantity(value):
    """A Decimal without trailing zeros, with thousands separators: 100,000 or 8.4."""
    return f"{value.normalize():,f}"


def _hours(hours):
    """Hours to a tenth (27.8), or to a hundredth under ten hours so small volumes show."""
    step = Decimal("0.1") if hours >= 10 else CENT
    return f"{hours.quantize(step, ROUND_HALF_UP):,}"
