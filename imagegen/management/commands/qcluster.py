"""django-q2's `qcluster`, with TravelFit's watchdog in the cluster's main process and a stop
that a process manager can use.

The main process of a cluster only waits for its sentinel; here it also runs
services.recover_stuck() at start and every IMAGEGEN_RECOVERY_INTERVAL seconds, directly rather
than as a queued task, so that the generations of a dead worker come back even while every
worker is busy and the queue is long. Every running cluster does it; the sweep is idempotent.

Stopping. django-q2 1.11.1's Sentinel sets SIGTERM back to SIG_DFL, and the workers, pusher and
monitor it forks inherit that. A SIGTERM to the whole group (systemd's default
KillMode=control-group, supervisord's stopasgroup, `kill -TERM -- -PGID`) killed all of them at
once, running tasks included, and the main process never exited: its handler calls
stop_event.set(), whose Condition.notify_all() waits for the dead sentinel (killed inside
stop_event.wait()) to wake. Here the sentinel and everything it forks ignore SIGTERM as they
already ignore SIGINT, so either signal reaches only the main process, which asks the sentinel
to stop: it stops fetching, gives the tasks fetched but not started back to the broker, lets each
worker finish its task (at most Q_CLUSTER["timeout"]), has the results saved, and exits.
The main process's handler only records the signal: django-q2's runs Cluster.stop() inside the
handler, which deadlocks on the event's lock when a second signal (`serve` forwards one, a
second Ctrl-C) or the first during start-up lands while the lock is held.
"""

import gc
import logging
import os
import queue
import signal
import time

import django_q.cluster
from django.conf import settings
from django.db import DatabaseError, close_old_connections
from django_q.conf import logger as django_q_logger
from django_q.management.commands.qcluster import Command as DjangoQCommand
from django_q.signing import SignedPackage

from imagegen import services
from imagegen.metrics import BuildInfoCollector

logger = logging.getLogger("imagegen.watchdog")

STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


class Sentinel(django_q.cluster.Sentinel):
    """django-q2's sentinel, deaf to SIGTERM, that hands unstarted tasks back when it stops."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, start=False, **kwargs)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # before forking the pool
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)  # blocked by Command.handle
        # Everything loaded so far (Django, the apps, c2pa, NumPy: some 110,000 objects) lives
        # as long as the process: out of the collector's sight, a worker's full collection no
        # longer walks it (75–115 ms, once every twenty-odd generations, measured), and the
        # forked workers keep sharing those pages instead of copying them as the walk writes.
        gc.freeze()
        self.start()

    def reincarnate(self, process):
        # django-q2 stops a worker stuck past its time limit with SIGTERM, which it now ignores.
        stuck = process in self.pool and process.timer.value == 0
        super().reincarnate(process)
        if stuck:
            process.kill()

    def stop(self):
        self.event_out.set()  # the pusher stops after the fetch under way
        unstarted = []
        while True:
            pusher_alive = self.pusher.is_alive()
            unstarted += self._take_queued()
            if not pusher_alive:
                break
        for task in unstarted:
            self._give_back(task)
        if unstarted:
            django_q_logger.info("gave %d unstarted task(s) back to the broker", len(unstarted))
        super().stop()  # STOP to each worker after its current task, then the monitor

    def _take_queued(self):
        tasks = []
        while True:
            try:
                tasks.append(self.task_queue.get(timeout=0.1))
            except queue.Empty:
                return tasks

    def _give_back(self, task):
        ack_id = task.pop("ack_id", None)
        task.pop("cluster", None)
        try:
            self.broker.enqueue(SignedPackage.dumps(task))
            if ack_id is not None:
                self.broker.acknowledge(ack_id)  # the old copy (ORM: locked until `retry`)
        except Exception:  # the watchdog queues the generation again
            django_q_logger.exception("could not give task %s back", task.get("id"))


class Command(DjangoQCommand):
    help = (
        "Start a django-q2 worker cluster that also puts back the generations of dead workers "
        "and lost tasks every IMAGEGEN_RECOVERY_INTERVAL seconds. SIGTERM or SIGINT (to it or "
        "its process group) stops it within the task timeout."
    )

    def handle(self, *args, **options):
        settings.SECRET_KEY  # noqa: B018  (as django-q2's own command: signing needs it)
        if options.get("cluster_name"):
            os.environ["Q_CLUSTER_NAME"] = options["cluster_name"]
        self.serve_metrics()
        django_q.cluster.Sentinel = Sentinel  # Cluster.start() forks django_q.cluster.Sentinel
        cluster = django_q.cluster.Cluster()
        received = []
        for signum in STOP_SIGNALS:  # replaces Cluster.sig_handler
            signal.signal(signum, lambda signum, frame: received.append(signum))
        # Held until the sentinel ignores them; a stop asked for during start-up waits for it.
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            cluster.start()
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        if not options.get("run_once"):
            self.watch(cluster, received)
        cluster.stop()

    def serve_metrics(self):
        """On a worker-only machine (no web process to scrape), METRICS_PORT serves the counts
        of this machine's processes (PROMETHEUS_MULTIPROC_DIR) for Prometheus, from a thread of
        the main process. Counts and the build's version only: the queue's state is the web's
        /metrics."""
        if not settings.METRICS_PORT:
            return
        directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if not directory:
            logger.warning("METRICS_PORT is set but PROMETHEUS_MULTIPROC_DIR is not: not served")
            return
        from prometheus_client import CollectorRegistry, multiprocess, start_http_server

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=directory)
        registry.register(BuildInfoCollector())
        start_http_server(settings.METRICS_PORT, addr=settings.METRICS_ADDR, registry=registry)
        logger.info("metrics on http://%s:%s/", settings.METRICS_ADDR, settings.METRICS_PORT)

    def watch(self, cluster, received):
        """Sweep until a stop signal arrives or the sentinel is gone."""
        interval = settings.IMAGEGEN_RECOVERY_INTERVAL
        next_sweep = time.monotonic()
        while not received and cluster.sentinel.is_alive():
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
