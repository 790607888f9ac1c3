"""The monthly budget for paid providers: what was spent (a running total per month), and
whether new generations may start."""

import datetime
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from django.conf import settings
from django.db.models import F
from django.utils import formats, timezone
from django.utils.translation import gettext

from ..models import (
    MonthlySpend,
)
from ..periods import Periods
from .errors import BudgetExhausted


def spent_this_month() -> Decimal:
    """Estimated dollars spent on generations finished this month (local time): one row, read
    in one query however many generations there are (a SUM over them grew with the table)."""
    spend = MonthlySpend.objects.filter(month=Periods.current().month).first()
    return spend.total if spend else Decimal(0)


def record_spending(cost: Decimal | None, *, finished_at: datetime.datetime) -> None:
    """Add a finished generation's cost to the total of the month it finished in.

    Call it in the transaction that records the cost on the generation, so the total and
    the rows never disagree. The UPDATE adds in the database (F()), so concurrent workers
    never lose each other's costs.
    """
    if not cost:
        return
    zone = timezone.get_default_timezone()
    month = timezone.localdate(finished_at, timezone=zone).replace(day=1)
    MonthlySpend.objects.get_or_create(month=month)
    MonthlySpend.objects.filter(month=month).update(total=F("total") + cost)


@dataclass(frozen=True)
class BudgetState:
    """This month's spending against IMAGEGEN_MONTHLY_BUDGET_USD."""

    spent: Decimal
    budget: Decimal | None  # None: no budget set
    state: Literal["none", "ok", "warning", "reached"]


def budget_state() -> BudgetState:
    """What was spent, the budget, and the state: "none" (no budget), "ok", "warning" (past
    IMAGEGEN_BUDGET_WARN_AT of it) or "reached"."""
    budget = settings.IMAGEGEN_MONTHLY_BUDGET_USD
    spent = spent_this_month()
    if budget is None:
        return BudgetState(spent, None, "none")
    if spent >= budget:
        return BudgetState(spent, budget, "reached")
    if spent >= budget * Decimal(str(settings.IMAGEGEN_BUDGET_WARN_AT)):
        return BudgetState(spent, budget, "warning")
    return BudgetState(spent, budget, "ok")


def over_budget() -> bool:
    """Whether paid providers are skipped now: the month's budget is reached and
    IMAGEGEN_BUDGET_ACTION says to fall back to free ones (the worker and the tiers' pauses)."""
    return settings.IMAGEGEN_BUDGET_ACTION == "fallback" and budget_state().state == "reached"


def check_budget_allows_new_generations() -> None:
    if settings.IMAGEGEN_BUDGET_ACTION != "refuse":
        return
    if budget_state().state == "reached":
        resumes = formats.date_format(timezone.localtime(Periods.current().month_resets_at()))
        raise BudgetExhausted(
            gettext(
                "The site has used this month's image budget. New images can be made again "
                "from %(date)s."
            )
            % {"date": resumes}
        )
