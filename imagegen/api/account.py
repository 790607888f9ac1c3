"""The API's account: your quota."""

from ninja import Router

from .. import selectors
from .errors import error_answers
from .schemas import QuotaOut

router = Router()


@router.get(
    "/quota",
    response={200: QuotaOut, **error_answers(401, 429)},
    url_name="quota",
    summary="Your quota",
    tags=["account"],
)
def quota(request):
    """How many generations you have left today and this month, and when more come."""
    status = selectors.quota_status(request.user)
    return {
        "daily_limit": status.daily_limit,
        "day_left": status.day_left,
        "monthly_limit": status.monthly_limit,
        "month_left": status.month_left,
        "resets_at": status.resets_at,
    }
