"""A person's review of what the safety check held and what viewers reported.

- A generation the check flagged is `held`: stored, charged, seen by staff only. Approved, it
  becomes `succeeded` (the owner sees it, their webhook says so); rejected, `rejected` (the
  owner is told, and the units it used are given back, once: its owner never had the image).
- A shared image can be reported from its share page, once per voice: a signed-in reporter
  is one voice per account (three people behind one carrier NAT are three), a viewer who is
  not signed in one per IPv4 address or IPv6 /48 (the block a subscriber is given, so its
  many /64s are one). The share link is suspended until a review once the open reports
  number IMAGEGEN_REPORTS_TO_SUSPEND voices, at least one of them a signed-in account:
  anonymous voices alone never suspend a link, however many, because addresses are cheap to
  come by and an account is not (sign-up is limited per address, and an account can be told
  apart and blocked). Their reports still wait in the review queue. Approved, the link works
  again and its reports are closed; rejected, the link is turned off and the image is
  `rejected` too.

Every decision is a ReviewDecision row: who, when, what, on which generation.
"""

import hashlib
import hmac
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone

from .. import webhooks
from ..models import Generation, ReviewDecision, ShareReport
from .quota import refund

logger = logging.getLogger(__name__)

HELD, REPORTED = "held", "reported"


def _open_reports():
    return ShareReport.objects.filter(generation=OuterRef("pk"), reviewed_at__isnull=True)


def _reported():
    """Shared images with reports no review has dealt with yet (suspended or not)."""
    return Q(Exists(_open_reports())) | Q(share_suspended_at__isnull=False)


def waiting_for_review():
    """What waits for a person: held images, and shared images with open reports."""
    return Generation.objects.filter(Q(status=Generation.Status.HELD) | _reported())


@dataclass(frozen=True)
class Waiting:
    held: int
    reported: int

    @property
    def total(self) -> int:
        return self.held + self.reported


def count_waiting() -> Waiting:
    """How many held images and reported shares wait (the admin index, /health)."""
    held = Generation.objects.filter(status=Generation.Status.HELD).count()
    reported = (
        ShareReport.objects.filter(reviewed_at__isnull=True).values("generation").distinct().count()
    )
    return Waiting(held=held, reported=reported)


def approve(*, generation_ids: Iterable, by: AbstractBaseUser) -> int:
    """Approve held images (they become succeeded) and reported shares (their links work
    again); returns how many were approved."""
    done = 0
    for generation_id in generation_ids:
        with transaction.atomic():
            if _settle_held(generation_id, Generation.Status.SUCCEEDED, by) or _close_reports(
                generation_id, by, ReviewDecision.Action.APPROVE
            ):
                done += 1
    return done


def reject(*, generation_ids: Iterable, by: AbstractBaseUser) -> int:
    """Reject held images and reported shares: the image is `rejected`, seen by nobody but
    staff, its share link off. A held image's units are given back (its owner never saw it);
    a reported share's are not (its owner had the image). How many were rejected."""
    done = 0
    for generation_id in generation_ids:
        with transaction.atomic():
            if _settle_held(generation_id, Generation.Status.REJECTED, by):
                done += 1
            elif _close_reports(generation_id, by, ReviewDecision.Action.REJECT):
                Generation.objects.filter(pk=generation_id).update(
                    status=Generation.Status.REJECTED, share_token=None
                )
                webhooks.generation_ended(generation_id)
                done += 1
    return done


def _settle_held(generation_id, status, by):
    """Held → `status`, once: a conditional UPDATE, so two reviewers cannot both decide."""
    now = timezone.now()
    settled = Generation.objects.filter(pk=generation_id, status=Generation.Status.HELD).update(
        status=status, reviewed_at=now, reviewed_by=by
    )
    if not settled:
        return False
    if status == Generation.Status.REJECTED:
        # Only the reviewer whose UPDATE above settled it gets here, and refund() clears the
        # generation's `charged` flag with a conditional UPDATE of its own: given back once.
        refund(generation_id)
    action = (
        ReviewDecision.Action.APPROVE
        if status == Generation.Status.SUCCEEDED
        else ReviewDecision.Action.REJECT
    )
    _record(generation_id, HELD, action, by, now)
    # A held image's reports, if it was shared before (it cannot be shared while held).
    ShareReport.objects.filter(generation_id=generation_id, reviewed_at__isnull=True).update(
        reviewed_at=now
    )
    webhooks.generation_ended(generation_id)
    logger.info("generation %s %s after review by %s", generation_id, status, by.pk)
    return True


def _close_reports(generation_id, by, action):
    """A reported share's decision: its reports closed, its suspension lifted (the link works
    again if it was approved; reject turned it off before)."""
    now = timezone.now()
    closed = (
        Generation.objects.filter(pk=generation_id, status=Generation.Status.SUCCEEDED)
        .filter(_reported())
        .update(share_suspended_at=None, reviewed_at=now, reviewed_by=by)
    )
    if not closed:
        return False
    ShareReport.objects.filter(generation_id=generation_id, reviewed_at__isnull=True).update(
        reviewed_at=now
    )
    _record(generation_id, REPORTED, action, by, now)
    return True


def _record(generation_id, subject, action, by, when):
    ReviewDecision.objects.create(
        generation_id=generation_id,
        generation_ref=str(generation_id),
        subject=subject,
        action=action,
        decided_by=by,
        decided_by_name=by.get_username(),
        decided_at=when,
    )


# --- Reports from viewers ----------------------------------------------------------------------


def voice_digest(voice: str) -> str:
    """A report's voice as kept: keyed with SECRET_KEY, so the table holds no addresses or
    account ids, yet two reports in one voice are the same."""
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, f"report:{voice}".encode(), hashlib.sha256).hexdigest()


def report_voice(*, user: AbstractBaseUser | None, address: str) -> str:
    """Who a report speaks for: the signed-in account, else the address it came from (an
    IPv4 address or an IPv6 /48, as lib.rate.client_address gives it)."""
    if user is not None and user.is_authenticated:
        return f"account:{user.pk}"
    return address


@dataclass(frozen=True)
class ReportOutcome:
    counted: bool  # False: this voice had reported this image already
    suspended: bool  # the share link is suspended now


def report_share(
    *, token: str, reason: str, user: AbstractBaseUser | None, address: str
) -> ReportOutcome | None:
    """A viewer's report of a shared image; None when no image is shared under `token`.

    `user` is the signed-in reporter (None for an anonymous viewer) and `address` where the
    report came from (an IPv4 address or an IPv6 /48). Once the open reports number
    IMAGEGEN_REPORTS_TO_SUSPEND voices with at least one signed-in account among them, the link
    is suspended until a person looks (the module's docstring says why).
    """
    generation = Generation.objects.filter(
        share_token=token, status=Generation.Status.SUCCEEDED
    ).first()
    if generation is None:
        return None
    signed_in = user is not None and user.is_authenticated
    try:
        with transaction.atomic():
            ShareReport.objects.create(
                generation=generation,
                reason=reason,
                voice=voice_digest(report_voice(user=user, address=address)),
                signed_in=signed_in,
            )
        counted = True
    except IntegrityError:
        counted = False  # this voice reported it already: one voice, not two
    voices = ShareReport.objects.filter(generation=generation, reviewed_at__isnull=True).aggregate(
        all=Count("pk"), accounts=Count("pk", filter=Q(signed_in=True))
    )
    suspended = generation.share_suspended_at is not None
    if (
        not suspended
        and voices["all"] >= settings.IMAGEGEN_REPORTS_TO_SUSPEND
        and voices["accounts"] >= 1
    ):
        # Conditional: of two last reports at once, one suspends (and logs) it.
        if Generation.objects.filter(pk=generation.pk, share_suspended_at__isnull=True).update(
            share_suspended_at=timezone.now()
        ):
            logger.warning("share link of generation %s suspended after reports", generation.pk)
        suspended = True
    return ReportOutcome(counted=counted, suspended=suspended)
