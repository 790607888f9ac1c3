"""TravelFit's admin site: Django's, with its own titles, no nav sidebar, and the monthly budget
warning on the index. Installed as the default site by imagegen.apps.TravelFitAdminConfig
(in INSTALLED_APPS instead of django.contrib.admin), so `admin.site` is this class everywhere.
"""

from django.conf import settings
from django.contrib import admin, messages


def warn_about_budget(request) -> None:
    """Add a warning (near the budget) or an error (budget reached) to the page's messages."""
    from . import services

    spent, budget, state = services.budget_state()
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


class TravelFitAdminSite(admin.AdminSite):
    site_header = "TravelFit administration"
    site_title = "TravelFit admin"
    # The sidebar would take 300 of a laptop's 1280 pixels, leaving the generation and user
    # lists too narrow for their columns; the breadcrumbs and the index page lead everywhere.
    enable_nav_sidebar = False

    def index(self, request, extra_context=None):
        warn_about_budget(request)
        return super().index(request, extra_context)
