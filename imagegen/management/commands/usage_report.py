"""A month's usage per user, per provider and (on a site with a choice of them) per tier:
images, failures by class, durations and cost.

The counting rules (which month a generation belongs to, how p95 is taken) are in
`imagegen.reports`. In JSON, dollars are strings ("0.1050") so no cent is lost to a float;
seconds are numbers rounded to a millisecond, or null when nothing was timed.
"""

import csv
import io
import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from imagegen import reports

COST_PLACES = 4  # estimated costs are kept to a hundredth of a cent (0.0001)
CSV_COLUMNS = (
    ("section", "name", "images", "failed")
    + reports.FAILURE_CLASS_NAMES
    + ("canceled", "active", "refused", "median_s", "p95_s", "cost_usd")
)


class Command(BaseCommand):
    help = (
        "Report a month's usage (default: this month in TIME_ZONE) per user, per provider and per "
        "tier (with more than one): "
        "images, failures by class, canceled, still active, refused prompts, median and p95 "
        "seconds, estimated cost, and totals."
    )

    def add_arguments(self, parser):
        parser.add_argument("--month", help="The month as YYYY-MM; default: the current month.")
        parser.add_argument(
            "--format",
            choices=["table", "csv", "json"],
            default="table",
            help="table (default) for a terminal, csv for a spreadsheet, json for programs.",
        )

    def handle(self, *args, **options):
        if options["month"] is None:
            month = reports.current_month()
        else:
            try:
                month = reports.parse_month(options["month"])
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
        report = reports.usage_report(month)
        if options["format"] == "json":
            self.stdout.write(json.dumps(as_json(report), indent=2))
        elif options["format"] == "csv":
            self.stdout.write(as_csv(report), ending="")
        else:
            self.write_table(report)

    def write_table(self, report):
        self.stdout.write(
            f"Usage in {report.label} ({settings.TIME_ZONE}), counted by finished_at "
            f"(created_at for generations not finished)."
        )
        headers = (
            "name",
            "images",
            "failed",
            "canceled",
            "active",
            "refused",
            "median s",
            "p95 s",
            "cost",
            "failures by class",
        )
        sections = [("Users", report.users), ("Providers", report.providers)]
        if report.shows_tiers:
            sections.append(("Tiers", report.tiers))
        for title, rows in sections:
            self.stdout.write("")
            self.stdout.write(self.style.MIGRATE_HEADING(title))
            if rows:
                lines = table(headers, [table_cells(row) for row in rows])
            else:
                lines = ["(none this month)"]
            for line in lines:
                self.stdout.write(line)
        self.stdout.write("")
        self.stdout.write(self.style.MIGRATE_HEADING("Totals"))
        for line in table(headers, [table_cells(report.totals)]):
            self.stdout.write(line)


def seconds(value):
    """Seconds for JSON: rounded to a millisecond, or None."""
    return None if value is None else round(value, 3)


def cost(amount):
    """Dollars as a string with four decimals, e.g. "0.1050"."""
    return reports.usd(amount, COST_PLACES).removeprefix("$").replace(",", "")


def as_json(report):
    """The report as a JSON-ready dict: {"month", "users", "providers", "totals"}."""

    def row(usage):
        return {
            "name": usage.name,
            "images": usage.images,
            "failed": usage.failed,
            "failures": dict(usage.failures),
            "canceled": usage.canceled,
            "active": usage.active,
            "refused": usage.refused,
            "median_s": seconds(usage.median_s),
            "p95_s": seconds(usage.p95_s),
            "cost_usd": cost(usage.cost),
        }

    return {
        "month": report.label,
        "time_zone": settings.TIME_ZONE,
        "users": [row(usage) for usage in report.users],
        "providers": [row(usage) for usage in report.providers],
        # Each tier's generations, and the quota units they hold (refunds given back).
        "tiers": [{**row(usage), "units": usage.units} for usage in report.tiers],
        "totals": row(report.totals),
    }


def as_csv(report):
    """The report as CSV: a header row, then one row per user, per provider, and the totals."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    sections = [("user", usage) for usage in report.users]
    sections += [("provider", usage) for usage in report.providers]
    if report.shows_tiers:
        sections += [("tier", usage) for usage in report.tiers]
    sections.append(("total", report.totals))
    for section, usage in sections:
        writer.writerow(
            [section, usage.name, usage.images, usage.failed]
            + [usage.failures[name] for name in reports.FAILURE_CLASS_NAMES]
            + [
                usage.canceled,
                usage.active,
                "" if usage.refused is None else usage.refused,
                "" if usage.median_s is None else seconds(usage.median_s),
                "" if usage.p95_s is None else seconds(usage.p95_s),
                cost(usage.cost),
            ]
        )
    return out.getvalue()


def table_cells(usage):
    """One table row: counts, seconds to a tenth, dollars to a hundredth of a cent."""
    failures = ", ".join(f"{name} {n}" for name, n in usage.failures.items() if n)
    return (
        usage.name,
        f"{usage.images:,}",
        f"{usage.failed:,}",
        f"{usage.canceled:,}",
        f"{usage.active:,}",
        "–" if usage.refused is None else f"{usage.refused:,}",
        "–" if usage.median_s is None else f"{usage.median_s:.1f}",
        "–" if usage.p95_s is None else f"{usage.p95_s:.1f}",
        reports.usd(usage.cost, COST_PLACES),
        failures or "–",
    )


def table(headers, rows):
    """Lines of an aligned table: the first and last columns to the left, numbers right."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    last = len(headers) - 1

    def line(cells):
        parts = [
            cell.ljust(width) if index in (0, last) else cell.rjust(width)
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    return [line(headers)] + [line(cells) for cells in rows]
