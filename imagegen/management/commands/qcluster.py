"""django-q2's `qcluster`, with TravelFit's watchdog in the cluster's main process.

The main process of a cluster only waits for its sentinel; here it also runs
services.recover_stuck() at start and every IMAGEGEN_RECOVERY_INTERVAL seconds, directly rather
than as a queued task, so that the generations of a dead worker come back even while every
worker is busy and the queue is long. Every running cluster does it; the sweep is idempotent.
"""

import logging
import os
import time

from django.conf import settings
from django.db import DatabaseError, close_old_connections
from django_q.cluster import Cluster
from django_q.management.commands.qcluster import Command as DjangoQCommand

from imagegen import services

logger = logging.getLogger("imagegen.watchdog")


class Command(DjangoQCommand):
    help = (
        "Start a django-q2 worker cluster that also puts back the generations of dead workers "
        "and lost tasks every IMAGEGEN_RECOVERY_INTERVAL seconds."
    )

    def handle(self, *args, **options):
        settings.SECRET_KEY  # noqa: B018  (as django-q2's own command: signing needs it)
        if options.get("cluster_name"):
            os.environ["Q_CLUSTER_NAME"] = options["cluster_name"]
        cluster = Cluster()
        cluster.start()
        if options.get("run_once"):
            cluster.stop()
            return
        self.watch(cluster)

    def watch(self, cluster):
        """Sweep until the cluster stops (its signal handler clears stop_event)."""
        interval = settings.IMAGEGEN_RECOVERY_INTERVAL
        next_sweep = time.monotonic()
        while cluster.stop_event is not None and cluster.sentinel.is_alive():
            if time.monotonic() >= next_sweep:
                self.sweep()
                next_sweep = time.monotonic() + interval
            time.sleep(0.2)

    def sweep(self):
        close_old_connections()
        try:
            services.recover_stuck()
        except DatabaseError as exc:  # the database is away: the next sweep tries again
            logger.error("recovery sweep failed: %s", exc)
        except Exception:  # never let the watchdog take the cluster down
            logger.exception("recovery sweep failed")
