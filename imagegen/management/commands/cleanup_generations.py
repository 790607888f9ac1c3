"""Delete old finished generations, their rows and files."""

from django.core.management.base import BaseCommand, CommandError

from imagegen import services


class Command(BaseCommand):
    help = "Delete finished generations older than --older-than days (files too). Favourites stay."

    def add_arguments(self, parser):
        parser.add_argument("--older-than", type=int, required=True, metavar="DAYS")
        parser.add_argument("--dry-run", action="store_true", help="Count, delete nothing.")
        parser.add_argument(
            "--include-favourites", action="store_true", help="Delete favourites as well."
        )

    def handle(self, *args, older_than, dry_run, include_favourites, **options):
        try:
            cleanup = services.cleanup_generations(
                older_than_days=older_than,
                dry_run=dry_run,
                include_favourites=include_favourites,
            )
        except ValueError as exc:
            raise CommandError(f"--older-than: {exc}") from exc
        verb = "Would delete" if dry_run else "Deleted"
        self.stdout.write(
            f"{verb} {cleanup.generations} generation(s) older than {older_than} days: "
            f"{cleanup.files} file(s), {cleanup.bytes / 1_000_000:.1f} MB."
        )
