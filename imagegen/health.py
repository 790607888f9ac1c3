"""The operators' endpoints: /health (JSON for monitors) and /metrics (Prometheus)."""

import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError
from django.http import Http404, HttpResponse, JsonResponse
from django.utils.crypto import constant_time_compare
from django.views.decorators.cache import never_cache
from django_q.brokers import get_broker

from lib.error_pages import RETRY_AFTER_SECONDS
from lib.redaction import redact

from . import licences, safety, selectors, services, tiers, translation
from . import metrics as site_metrics
from .models import Generation
from .paginators import table_count
from .providers import get_provider
from .services.budget import BudgetState

logger = logging.getLogger("imagegen.health")


# Queued work older than this, with nothing running, means no worker is taking it.
STALLED_AFTER_SECONDS = 60


@never_cache
def metrics(request):
    """Prometheus' text format: every process's counts and the queue now (imagegen.metrics).

    For a scraper with `Authorization: Bearer <METRICS_TOKEN>`; without the token set, for
    signed-in staff only. Anyone else gets 404, as if there were nothing here."""
    allowed = _bearer_matches(request, settings.METRICS_TOKEN)
    if not allowed and not settings.METRICS_TOKEN:
        allowed = request.user.is_authenticated and request.user.is_staff
    if not allowed:
        raise Http404
    body, content_type = site_metrics.exposition()
    return HttpResponse(body, content_type=content_type)


@never_cache
def health(request):
    """JSON for monitors: the original backend's four fields for anyone; for staff or a monitor
    with HEALTH_TOKEN, also the queue, workers, providers, budget, database and broker.

    "healthy" (200); "degraded" (200) when queued work is not being taken (no worker seen, or
    the oldest has waited more than a minute with nothing running); "unhealthy" (503) when the
    site cannot serve: the database or the broker unreachable, or no provider able to take a
    generation. Says whether a token is configured, never the token.
    """
    try:
        state = _site_state()
    except DatabaseError as exc:
        logger.error("health: database unreachable: %s", type(exc).__name__)
        response = JsonResponse({"status": "unhealthy", "database": "unreachable"}, status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    http_status = 503 if state.status == "unhealthy" else 200
    public = {
        "status": state.status,
        "api_token_configured": bool(settings.HUGGINGFACE_API_TOKEN),
        "active_sessions": state.active_sessions,
        "total_generations": state.total_generations,
    }
    if not _may_see_details(request):
        return JsonResponse(public, status=http_status)
    return JsonResponse({**public, **state.details()}, status=http_status)


@dataclass
class SiteState:
    """What /health reports, gathered from the database, the broker and the settings."""

    active_sessions: int
    total_generations: int
    queue: selectors.QueueNow
    budget: BudgetState
    review: object  # services.count_waiting()'s held and reported counts
    broker_ok: bool
    providers: list[dict]
    tiers: list[dict]
    clusters: int
    workers: int
    status: str = "healthy"
    warnings: list[str] = field(default_factory=list)

    def details(self) -> dict:
        """The fields only staff and a monitor with HEALTH_TOKEN see."""
        budget = self.budget
        return {
            "queue": {"queued": self.queue.queued, "running": self.queue.running},
            "workers": {"clusters": self.clusters, "workers": self.workers},
            "providers": self.providers,
            "tiers": self.tiers,
            "budget": {
                "spent_usd": f"{budget.spent:.2f}",
                "budget_usd": None if budget.budget is None else f"{budget.budget:.2f}",
                "state": budget.state,
            },
            "safety_check": safety.mode(),
            "review": {"held": self.review.held, "reported": self.review.reported},
            "database": "ok",
            "broker": "ok" if self.broker_ok else "unreachable",
            # Asked of the Hub (cached): only for those who see the details.
            "warnings": self.warnings + licences.commercial_use_warnings(),
        }


def _site_state() -> SiteState:
    """Everything /health says, its status and warnings decided (DatabaseError when the
    database cannot be read)."""
    cooling = selectors.cooldowns_now()
    budget = services.budget_state()
    providers = [_provider_state(name, cooling.get(name)) for name in settings.IMAGEGEN_PROVIDERS]
    clusters, workers = selectors.workers_seen()
    state = SiteState(
        active_sessions=selectors.active_sessions(),
        total_generations=table_count(Generation),
        queue=selectors.queue_now(),
        budget=budget,
        review=services.count_waiting(),
        broker_ok=_broker_reachable(),
        providers=providers,
        tiers=_tier_states(providers),
        clusters=clusters,
        workers=workers,
    )
    _judge(state)
    return state


def _tier_states(providers):
    serving = {p["name"] for p in providers if p["state"] == "ok"}
    return [
        {
            "name": tier.name,
            "units": tier.units,
            "providers": list(tier.providers),
            "state": "ok" if serving.intersection(tier.providers) else "paused",
        }
        for tier in tiers.tiers()
    ]


def _judge(state: SiteState) -> None:
    """Set the state's status ("healthy", "degraded", "unhealthy") and its warnings.

    "degraded" when queued work is not being taken (no worker seen, or the oldest has waited
    more than STALLED_AFTER_SECONDS with nothing running); "unhealthy" when the broker is
    unreachable or no provider can take a generation (the budget reached, set to refuse)."""
    budget, warnings = state.budget, state.warnings
    can_serve = any(p["state"] == "ok" for p in state.providers) and not (
        budget.state == "reached" and settings.IMAGEGEN_BUDGET_ACTION == "refuse"
    )
    if budget.state in ("warning", "reached"):
        warnings.append(
            f"Monthly budget {budget.state}: ${budget.spent:.2f} of ${budget.budget:.2f} spent."
        )
    if not state.workers:
        warnings.append("No worker seen in the last seconds: is `manage.py qcluster` running?")
    for tier in state.tiers:
        if tier["state"] == "paused" and len(state.tiers) > 1:
            warnings.append(
                f"Tier {tier['name']} has no provider able to serve now: submissions to it are "
                "refused until one is."
            )
    for unguarded in (safety.off_by_default_warning(), translation.off_by_default_warning()):
        if unguarded:
            warnings.append(unguarded)
    stalled = False
    queued, running = state.queue.queued, state.queue.running
    if queued:
        waited = state.queue.oldest_wait
        if not state.workers:
            stalled = True
        elif not running and waited > STALLED_AFTER_SECONDS:
            stalled = True
            warnings.append(
                f"{queued} queued, none running, the oldest waiting {waited:.0f} s: the workers "
                "are not taking work."
            )
    if not (state.broker_ok and can_serve):
        state.status = "unhealthy"
    elif stalled:
        state.status = "degraded"


def _may_see_details(request):
    """Staff signed in, or `Authorization: Bearer <HEALTH_TOKEN>` (compared in constant time)."""
    if request.user.is_authenticated and request.user.is_staff:
        return True
    return _bearer_matches(request, settings.HEALTH_TOKEN)


def _bearer_matches(request, expected):
    """Whether the request carries `Authorization: Bearer <expected>` (constant time); never
    when no token is configured."""
    scheme, _space, given = request.headers.get("Authorization", "").partition(" ")
    return bool(
        expected and scheme.lower() == "bearer" and constant_time_compare(given.strip(), expected)
    )


def _broker_reachable():
    try:
        return bool(get_broker().ping())
    except Exception as exc:  # any failure to reach it is the answer
        logger.error("health: broker unreachable: %s", type(exc).__name__)
        return False


def _provider_state(name, cooldown):
    try:
        problems = get_provider(name).configuration_problems()
    except ImproperlyConfigured as exc:
        problems = [(str(exc), "")]
    if problems:
        return {"name": name, "state": "misconfigured", "problem": redact(problems[0][0])}
    if cooldown:
        return {
            "name": name,
            "state": "cooling_down",
            "until": cooldown.until.isoformat(),
        }
    return {"name": name, "state": "ok"}
