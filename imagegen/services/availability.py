"""Whether a tier can serve now: asked before a submission is charged, so a user whose tier is
paused is told so, with another tier to try, instead of paying and waiting for a failure."""

from __future__ import annotations

import datetime

from django.utils import formats, timezone
from django.utils.translation import gettext

from ..models import ProviderCooldown
from ..periods import Periods
from ..providers import get_provider
from ..tiers import Tier, choosable, tiers
from .budget import over_budget
from .errors import TierUnavailable


def paused_until(tier: Tier, task: str) -> tuple[datetime.datetime, str] | None:
    """(until when, why) if no provider of the tier's chain that can do `task` may be asked
    now (each cooling down, or paid while the month's budget is spent and set to fall
    back); None when one may. `why` is "budget" or "cooldown"."""
    names = [name for name in tier.providers if task in get_provider(name).tasks()]
    skip_paid = over_budget()
    cooling = dict(
        ProviderCooldown.objects.filter(provider__in=names, until__gt=timezone.now()).values_list(
            "provider", "until"
        )
    )
    pauses = []
    for name in names:
        if skip_paid and get_provider(name).paid:
            pauses.append((Periods.current().month_resets_at(), "budget"))
        elif name in cooling:
            pauses.append((cooling[name], "cooldown"))
        else:
            return None
    return min(pauses) if pauses else None


def check_tier_can_serve(tier: Tier, task: str) -> None:
    """TierUnavailable, before anything is charged, when the whole tier is paused; it names
    the next tier that can do the task now. A site with one tier has nothing to suggest:
    there a submission waits for its providers as before (the worker fails and refunds it)."""
    if not choosable():
        return
    pause = paused_until(tier, task)
    if pause is None:
        return
    until, why = pause
    when = formats.date_format(timezone.localtime(until), "DATETIME_FORMAT")
    if why == "budget":
        text = gettext(
            "“%(tier)s” is paused until %(when)s: this month's budget for its paid image "
            "services is spent."
        )
    else:
        text = gettext(
            "“%(tier)s” is paused until %(when)s: its image services are over their quota or busy."
        )
    message = text % {"tier": tier.label, "when": when}
    other = next(
        (
            candidate
            for candidate in tiers()
            if candidate != tier
            and task in candidate.tasks()
            and paused_until(candidate, task) is None
        ),
        None,
    )
    if other is None:
        raise TierUnavailable(message + " " + gettext("Please try again then."))
    suggestion = gettext("Choose “%(tier)s” instead (%(units)s each).") % {
        "tier": other.label,
        "units": other.units_text(),
    }
    raise TierUnavailable(message + " " + suggestion, suggested=other.name)
