"""Delete uploaded photos past their retention (every qcluster also does it hourly)."""

from django.conf import settings
from django.core.management.base import BaseCommand

from imagegen import services


class Command(BaseCommand):
    help = (
        "Delete uploaded photos past their time: a day after the upload while no generation "
        "used them, IMAGEGEN_UPLOAD_RETENTION_DAYS after the last one that did. The images "
        "made from them stay."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Count, delete nothing.")

    def handle(self, *args, dry_run, **options):
        count = services.delete_expired_uploads(dry_run=dry_run)
        verb = "Would delete" if dry_run else "Deleted"
        self.stdout.write(
            f"{verb} {count} photo(s) past their retention "
            f"({settings.IMAGEGEN_UPLOAD_RETENTION_DAYS} days after last use; a day if unused)."
        )
