"""Why a request for an image is refused: one base, SubmissionRefused, that every caller (the
pages, the API, the admin, the `generate` command) catches once, with the HTTP status and code
the API answers with."""

import datetime

from django.utils import formats, timezone
from django.utils.translation import gettext, gettext_lazy

from .. import tiers


class SubmissionRefused(Exception):
    """A submission the site will not queue. `str(exc)` is the message for the user (in the
    request's language); `http_status` and `code` are what the API answers with; `field` names
    the form field at fault, if one is."""

    http_status = 400
    code = "refused"
    field = None


class QuotaExceeded(SubmissionRefused):
    """The user has fewer generations left in the current day or month than they asked for."""

    http_status = 429
    code = "over_quota"

    def __init__(
        self,
        *,
        period: str,
        limit: int,
        resets_at: datetime.datetime,
        asked: int = 1,
        left: int = 0,
    ) -> None:
        self.period = period
        self.limit = limit
        self.resets_at = resets_at
        self.asked = asked
        self.left = left
        # In the reader's time zone and language: raised while their request is served.
        local = timezone.localtime(resets_at)
        when = f"{formats.date_format(local, 'DATETIME_FORMAT')} {formats.date_format(local, 'T')}"
        if tiers.priced():
            text = _UNITS_TEXT[(period, bool(left))]
        elif left and period == "day":
            text = gettext(
                "You asked for %(asked)s, but only %(left)s of today's generations are left. "
                "More from %(when)s."
            )
        elif left:
            text = gettext(
                "You asked for %(asked)s, but only %(left)s of this month's generations are "
                "left. More from %(when)s."
            )
        elif period == "day":
            text = gettext(
                "You have used all %(limit)s of today's generations. More from %(when)s."
            )
        else:
            text = gettext(
                "You have used all %(limit)s of this month's generations. More from %(when)s."
            )
        super().__init__(text % {"limit": limit, "when": when, "asked": asked, "left": left})


# On a site whose tiers cost more than a unit, quotas count units, not pictures.
_UNITS_TEXT = {
    ("day", True): gettext_lazy(
        "This needs %(asked)s units, but only %(left)s of today's units are left. "
        "More from %(when)s."
    ),
    ("month", True): gettext_lazy(
        "This needs %(asked)s units, but only %(left)s of this month's units are left. "
        "More from %(when)s."
    ),
    ("day", False): gettext_lazy(
        "You have used all %(limit)s of today's units. More from %(when)s."
    ),
    ("month", False): gettext_lazy(
        "You have used all %(limit)s of this month's units. More from %(when)s."
    ),
}


class TierUnavailable(SubmissionRefused):
    """Every provider of the chosen tier is cooling down or over the budget: refused before
    anything is charged, naming another tier that can serve now, if one can."""

    http_status = 503
    code = "tier_unavailable"
    field = "tier"

    def __init__(self, message: str, *, suggested: str = "") -> None:
        self.suggested = suggested
        super().__init__(message)


class PromptBlocked(SubmissionRefused):
    """The prompt matches one of the admins' blocked words or patterns."""

    http_status = 400
    code = "prompt_blocked"
    field = "prompt"


class BudgetExhausted(SubmissionRefused):
    """The site's monthly budget is spent and IMAGEGEN_BUDGET_ACTION is refuse."""

    http_status = 503
    code = "budget_exhausted"


class InvalidRequest(SubmissionRefused):
    """A part of the request the site cannot serve as asked: a task no provider here can do, a
    photo that is not the user's or is gone, a field that does not go with the task."""

    code = "invalid"

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)
