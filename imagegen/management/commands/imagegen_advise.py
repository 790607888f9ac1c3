"""What each way to run the model would cost a month, with the arithmetic, and the cheapest.

From a month's real usage (default: this month) or a given volume; prices come from the
IMAGEGEN_*_USD_* settings. The guide's volume bands are printed next to the arithmetic, since
they also weigh what the arithmetic cannot: setup, cold starts and idle time.
"""

import textwrap

from django.core.management.base import BaseCommand, CommandError

from imagegen import reports

WIDTH = 100  # notes are wrapped to this; the arithmetic lines are never broken


def volume_of(text):
    """A monthly volume from the command line: a whole number, 0 or more (10,000 is fine)."""
    cleaned = text.strip().replace(",", "").replace("_", "")
    if not cleaned.isdigit():
        raise CommandError(
            f"--volume must be a whole number of images a month, 0 or more; got {text!r}."
        )
    return int(cleaned)


class Command(BaseCommand):
    help = (
        "Compare the monthly cost of Inference Providers, a duplicated Space (T4, A10G) and a "
        "dedicated Inference Endpoint for this month's usage, another month's (--month) or a "
        "given number of images (--volume), and name the cheapest; for a month, also what "
        "each quality tier cost, per image and per quota unit."
    )

    def add_arguments(self, parser):
        basis = parser.add_mutually_exclusive_group()
        basis.add_argument("--month", help="Use that month's real usage (YYYY-MM).")
        basis.add_argument(
            "--volume", help="Images a month to cost, at IMAGEGEN_SECONDS_PER_IMAGE each."
        )

    def handle(self, *args, **options):
        if options["volume"] is not None:
            advice = reports.advise(volume=volume_of(options["volume"]))
        else:
            try:
                month = reports.parse_month(options["month"]) if options["month"] else None
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
            advice = reports.advise(month=month)
        for line in advice.basis:
            self.stdout.write(line)
        width = max(len(way.title) for way in advice.ways) + 2
        for way in advice.ways:
            self.stdout.write("")
            self.stdout.write(
                self.style.MIGRATE_HEADING(way.title.ljust(width))
                + f"{reports.usd(way.monthly)}/month"
            )
            for line in way.arithmetic:
                self.stdout.write(f"  {line}")
            for note in way.notes:
                self.stdout.write(
                    textwrap.fill(note, WIDTH, initial_indent="  Note: ", subsequent_indent="  ")
                )
        cheapest = advice.cheapest
        self.stdout.write("")
        self.stdout.write(
            self.style.SUCCESS(
                f"Cheapest by this arithmetic: {cheapest.title}, "
                f"{reports.usd(cheapest.monthly)}/month."
            )
        )
        self.stdout.write(
            f"The guide (section 9) for {advice.volume:,} images a month: "
            f"{advice.band.way}, {advice.band.cost}."
        )
        for band in reports.GUIDE_BANDS:
            marker = "→" if band == advice.band else " "
            self.stdout.write(f"  {marker} {band.volumes:<13} {band.way}: {band.cost}")
        if advice.month is not None:
            self.write_tiers(reports.usage_report(advice.month))
        if advice.band.provider != cheapest.provider:
            self.stdout.write(
                textwrap.fill(
                    "They differ because the arithmetic counts only the seconds spent making "
                    "images, at the configured prices; the guide also weighs setup, cold starts, "
                    "idle time and the model each way can run (SD 3.5 Large needs a Space, an "
                    "endpoint or your own GPU).",
                    WIDTH,
                )
            )

    def write_tiers(self, report):
        """What each tier cost in that month, per image and per quota unit it earned: whether
        each tier's price in units matches what it costs the site."""
        if not report.shows_tiers:
            return
        self.stdout.write("")
        self.stdout.write(self.style.MIGRATE_HEADING(f"By tier, measured in {report.label}"))
        for row in report.tiers:
            per_image = reports.usd(row.cost / row.images, 4) if row.images else "–"
            per_unit = reports.usd(row.cost / row.units, 4) if row.units else "–"
            self.stdout.write(
                f"  {row.name}: {row.images:,} images, {row.units:,} units, "
                f"{reports.usd(row.cost, 4)} estimated; {per_image} an image, "
                f"{per_unit} a unit"
            )
