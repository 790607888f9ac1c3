"""Why a request for an image is refused: one base, SubmissionRefused, that every caller (the
pages, the API, the admin, the `generate` command) catches once, with the HTTP status and code
the API answers with."""

import datetime

from django.utils import formats, timezone
from django.utils.translation import gettext_lazy, ngettext


class SubmissionRefused(Exception):
    """A submission the site will not queue. `str(exc)` is the message for the user (in the
    request's language); `http_status` and `code` are what the API answers with; `field` names
    the form field at fault, if one is."""

    http_status = 400
    code = "refused"
    field = None


class QuotaExceeded(SubmissionRefused):
    """The user has fewer units left in the current day or month than they asked for.

    `asked` and `left` count units (the API's words); `fits` is how many pictures of the
    request's tier what is left still pays for now, which the message offers ("You can make 3
    pictures now") and the create page turns into a one-tap "Make 3 instead".
    """

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
        fits: int = 0,
    ) -> None:
        self.period = period
        self.limit = limit
        self.resets_at = resets_at
        self.asked = asked
        self.left = left
        self.fits = fits
        # In the reader's time zone and language: raised while their request is served.
        local = timezone.localtime(resets_at)
        when = f"{formats.date_format(local, 'DATETIME_FORMAT')} {formats.date_format(local, 'T')}"
        # Every number is followed by its unit word ("3 units", "3크레딧", "3장"), so a Korean
        # particle after it always follows that word, never a bare digit ("5이에요").
        if not left:
            text = _USED_UP[period]
        elif not fits:
            text = _TOO_FEW[period]
        elif period == "day":
            text = ngettext(
                "This needs %(asked)s units, but only %(left)s of today's units are left. "
                "You can make %(fits)s picture now. More from %(when)s.",
                "This needs %(asked)s units, but only %(left)s of today's units are left. "
                "You can make %(fits)s pictures now. More from %(when)s.",
                fits,
            )
        else:
            text = ngettext(
                "This needs %(asked)s units, but only %(left)s of this month's units are left. "
                "You can make %(fits)s picture now. More from %(when)s.",
                "This needs %(asked)s units, but only %(left)s of this month's units are left. "
                "You can make %(fits)s pictures now. More from %(when)s.",
                fits,
            )
        super().__init__(
            text % {"limit": limit, "when": when, "asked": asked, "left": left, "fits": fits}
        )


_USED_UP = {
    "day": gettext_lazy("You have used all %(limit)s of today's units. More from %(when)s."),
    "month": gettext_lazy("You have used all %(limit)s of this month's units. More from %(when)s."),
}
_TOO_FEW = {
    "day": gettext_lazy(
        "This needs %(asked)s units, but only %(left)s of today's units are left, too few for "
        "a picture. More from %(when)s."
    ),
    "month": gettext_lazy(
        "This needs %(asked)s units, but only %(left)s of this month's units are left, too few "
        "for a picture. More from %(when)s."
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


class ParentRefused(SubmissionRefused):
    """An edit again (issue 32) whose `parent` cannot be edited: none of the user's (404),
    not finished (409), held for review (409), or its chain at IMAGEGEN_CHAIN_MAX (400)."""

    field = "parent"

    def __init__(self, message: str, *, http_status: int, code: str) -> None:
        self.http_status, self.code = http_status, code
        super().__init__(message)
