"""Settle generations left running by a dead worker or queued without a task."""

from django.core.management.base import BaseCommand

from imagegen import services


class Command(BaseCommand):
    help = (
        "Put generations whose worker died back in the queue (once; then fail and refund "
        "them), and queue again those whose task was lost. Also runs every 5 minutes in "
        "the worker cluster's scheduler."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Say what would be done.")

    def handle(self, *args, dry_run, **options):
        recovery = services.recover_stuck(dry_run=dry_run)
        would = "would be " if dry_run else ""
        for label, ids in (
            (f"{would}put back in the queue", recovery.requeued),
            (f"{would}failed and refunded", recovery.failed),
            (f"{would}queued again (task lost)", recovery.reenqueued),
        ):
            self.stdout.write(f"{len(ids)} {label}")
            for generation_id in ids:
                self.stdout.write(f"  {generation_id}")
