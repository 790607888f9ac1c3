"""Operators' maintenance: the recovery sweep (lost and silent work back in the queue), the
cleanup of old generations."""

import datetime
import logging
import pickle
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_noop
from django_q.brokers import get_broker
from django_q.signing import BadSignature, SignedPackage

from .. import idempotency
from ..models import (
    Generation,
)
from .generations import (
    RUN_GENERATION,
    dispatch_waiting,
    enqueue_generation,
    enqueue_in_transaction,
    fail_generation,
)

logger = logging.getLogger(__name__)


# A running generation's worker writes a heartbeat every IMAGEGEN_HEARTBEAT_SECONDS; after
# this many missed in a row, the worker is taken for dead.
MISSED_HEARTBEATS = 6


# A queued generation whose task is in no broker queue this long after it was (re)queued has
# lost its task (Redis drops what a dead worker had taken; a crash can fall between commit and
# push). Prefetched tasks of a live worker are not in the queue either: queuing one of them
# again only makes a duplicate task that finds the generation claimed and does nothing.
QUEUED_GRACE_SECONDS = 60


# Times a generation goes back in the queue after its worker died, before it fails (refunded):
# one that kills every worker that takes it (out of memory, say) must not go round for ever.
MAX_RECOVERIES = 2


@dataclass
class Recovery:
    requeued: list[uuid.UUID]
    failed: list[uuid.UUID]
    reenqueued: list[uuid.UUID]


def recover_stuck(*, now: datetime.datetime | None = None, dry_run: bool = False) -> Recovery:
    """Find generations a dead worker or a lost task left behind, and settle them.

    Running, but no heartbeat for MISSED_HEARTBEATS × IMAGEGEN_HEARTBEAT_SECONDS: its worker
    is dead, so it goes back in the queue (up to MAX_RECOVERIES times, then it fails and is
    refunded). Queued, but its task is in no broker queue QUEUED_GRACE_SECONDS after it was
    queued: queued again. Every qcluster runs this every IMAGEGEN_RECOVERY_INTERVAL seconds;
    running it twice at once is harmless, as every change is a conditional UPDATE, a task
    claims its generation before working and a late result of a replaced worker is dropped.
    """
    now = now or timezone.now()
    recovery = Recovery(requeued=[], failed=[], reenqueued=[])
    if not dry_run:
        # Housekeeping that rides along: answers kept for Idempotency-Key past their 24 hours.
        idempotency.purge_expired(now=now)
    silent_since = now - datetime.timedelta(
        seconds=settings.IMAGEGEN_HEARTBEAT_SECONDS * MISSED_HEARTBEATS
    )
    silent = Q(heartbeat_at__lt=silent_since) | Q(
        heartbeat_at__isnull=True, started_at__lt=silent_since
    )
    stuck = Generation.objects.filter(silent, status=Generation.Status.RUNNING)
    for generation in stuck:
        if generation.recoveries < MAX_RECOVERIES:
            if dry_run or _requeue_running(generation, silent):
                recovery.requeued.append(generation.pk)
        elif dry_run or fail_generation(
            generation.pk,
            user_message=gettext_noop(
                "The worker making this image stopped. Your quota was given back; please try again."
            ),
            detail=f"Its worker stopped sending heartbeats (last "
            f"{generation.heartbeat_at or generation.started_at:%Y-%m-%d %H:%M:%S} UTC) after "
            f"it had been put back in the queue {generation.recoveries} time(s).",
            failure_class="unavailable",
            claim=generation.claim,
        ):
            recovery.failed.append(generation.pk)
    if not dry_run:
        # Held generations whose owner has a free slot (a finish that could not dispatch them).
        owners = (
            Generation.objects.filter(status=Generation.Status.QUEUED, enqueued_at__isnull=True)
            .values_list("owner_id", flat=True)
            .distinct()
        )
        for user_id in list(owners):
            dispatch_waiting(user_id=user_id)
    lost = _lost_from_the_queue(now)
    for generation_id in lost:
        if dry_run or Generation.objects.filter(
            pk=generation_id, status=Generation.Status.QUEUED
        ).update(enqueued_at=timezone.now()):
            if not dry_run:
                enqueue_generation(generation_id)
            recovery.reenqueued.append(generation_id)
    if recovery.requeued or recovery.failed or recovery.reenqueued:
        logger.warning(
            "recovery: %d requeued, %d failed, %d queued again%s",
            len(recovery.requeued),
            len(recovery.failed),
            len(recovery.reenqueued),
            " (dry run)" if dry_run else "",
        )
    return recovery


def _requeue_running(generation, silent):
    """Put a generation whose worker went silent back in the queue; False if it moved on."""
    with transaction.atomic():
        if Generation.objects.filter(
            silent, pk=generation.pk, status=Generation.Status.RUNNING, claim=generation.claim
        ).update(
            status=Generation.Status.QUEUED,
            started_at=None,
            heartbeat_at=None,
            claim=None,
            enqueued_at=timezone.now(),
            recoveries=F("recoveries") + 1,
        ):
            enqueue_in_transaction(generation.pk)
            return True
    return False


def _lost_from_the_queue(now):
    """Ids of generations queued for a while whose task no broker queue holds."""
    cutoff = now - datetime.timedelta(seconds=QUEUED_GRACE_SECONDS)
    waiting_long = list(
        Generation.objects.filter(status=Generation.Status.QUEUED)
        .filter(enqueued_at__lt=cutoff)
        .values_list("pk", flat=True)
    )
    if not waiting_long:
        return []
    in_queue = generations_waiting_in_broker()
    return [pk for pk in waiting_long if str(pk) not in in_queue]


def generations_waiting_in_broker() -> set[str]:
    """Ids (as text) of the generations whose task waits in the broker for a worker to take it.

    ORM: rows not locked by a worker; Redis: the list. Tasks a worker has taken (running or
    prefetched) are not counted.
    """
    broker = get_broker()
    if settings.Q_BROKER == "orm":
        payloads = (
            broker.get_connection()
            .filter(key=broker.list_key, lock__lte=timezone.now())
            .values_list("payload", flat=True)
        )
    else:
        payloads = broker.connection.lrange(broker.list_key, 0, -1)
    waiting = set()
    for payload in payloads:
        try:
            task = SignedPackage.loads(payload)
        except (BadSignature, pickle.UnpicklingError, ValueError, TypeError, EOFError):
            continue  # not one of ours, or signed with another SECRET_KEY
        if task.get("func") == RUN_GENERATION and task.get("args"):
            waiting.add(str(task["args"][0]))
    return waiting


@dataclass
class Cleanup:
    generations: int
    files: int
    bytes: int


def cleanup_generations(
    *, older_than_days: int, dry_run: bool = False, include_favourites: bool = False
) -> Cleanup:
    """Delete finished generations older than the given days, rows and files.

    Favourites are kept unless asked; queued and running ones are never touched.
    """
    if older_than_days < 1:
        raise ValueError("Give at least one day.")
    cutoff = timezone.now() - datetime.timedelta(days=older_than_days)
    old = Generation.objects.filter(created_at__lt=cutoff).exclude(status__in=Generation.ACTIVE)
    if not include_favourites:
        old = old.exclude(favourite=True)
    cleanup = Cleanup(generations=0, files=0, bytes=0)
    for generation in old.iterator():
        files = [getattr(generation, name) for name in Generation.FILE_FIELDS]
        files = [field for field in files if field]
        for field in files:
            try:
                cleanup.bytes += field.size
                cleanup.files += 1
            except (FileNotFoundError, OSError):
                pass  # already gone: nothing to free
        cleanup.generations += 1
        if dry_run:
            continue
        generation.delete()
        for field in files:
            field.delete(save=False)
    logger.info(
        "cleanup: %d generations, %d files, %d bytes older than %d days%s",
        cleanup.generations,
        cleanup.files,
        cleanup.bytes,
        older_than_days,
        " (dry run)" if dry_run else "",
    )
    return cleanup
