"""TravelFit's admin site: Django's, with its own titles, no nav sidebar, and on the index the
monthly budget warning and what waits for a review. Installed as the default site by
imagegen.apps.TravelFitAdminConfig (in INSTALLED_APPS instead of django.contrib.admin), so
`admin.site` is this class everywhere.
"""

from django.conf import settings
from django.contrib import admin, messages
from django.utils import timezone
from django.utils.formats import date_format


def warn_about_budget(request) -> None:
    """Add a warning (near the budget) or an error (budget reached) to the page's messages."""
    from . import services

    now = services.budget_state()
    spent, budget, state = now.spent, now.budget, now.state
    if state not in ("warning", "reached"):
        return
    share = f" ({spent / budget:.0%})" if budget else ""
    if state == "warning":
        messages.warning(
            request,
            f"Image spending this month is ${spent:.2f}, {spent / budget:.0%} of the "
            f"${budget:.2f} monthly budget (IMAGEGEN_MONTHLY_BUDGET_USD).",
        )
        return
    if settings.IMAGEGEN_BUDGET_ACTION == "refuse":
        effect = "New generations are refused until the month ends."
    else:
        effect = "Paid providers are skipped until the month ends; free ones still run."
    messages.error(
        request,
        f"This month's image budget is spent: ${spent:.2f} of ${budget:.2f}{share}. {effect}",
    )


def tell_what_waits_for_review(request) -> None:
    """The review queue's count on the index: held images and reported shares."""
    from django.urls import reverse
    from django.utils.html import format_html

    from . import services

    waiting = services.count_waiting()
    if not waiting.total:
        return
    messages.warning(
        request,
        format_html(
            '<a href="{}">{} held image(s) and {} reported share(s) wait for a review.</a>',
            reverse("admin:imagegen_reviewitem_changelist"),
            waiting.held,
            waiting.reported,
        ),
    )


class TravelFitAdminSite(admin.AdminSite):
    site_header = "TravelFit administration"
    site_title = "TravelFit admin"
    # Django's index with a link to the operations page (/ops/) above the apps.
    index_template = "admin/travelfit_index.html"
    # The sidebar would take 300 of a laptop's 1280 pixels, leaving the generation and user
    # lists too narrow for their columns; the breadcrumbs and the index page lead everywhere.
    enable_nav_sidebar = False

    def index(self, request, extra_context=None):
        warn_about_budget(request)
        tell_what_waits_for_review(request)
        return super().index(request, extra_context)


def count_text(number, singular, plural=None):
    """ "1 credit", "3 credits": a count and its noun, for the admin's messages (English)."""
    return f"{number} {singular if number == 1 else plural or singular + 's'}"


def short_time(moment):
    """A compact local date and time for list columns, which are narrow at laptop widths."""
    return date_format(timezone.localtime(moment), "Y-m-d H:i") if moment else "—"
