"""Site-wide views: the operators' health endpoint and the JSON error pages of the API."""

import logging
import sys

from django.conf import settings
from django.contrib.sessions.models import Session
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404, HttpResponse, JsonResponse
from django.middleware.csrf import REASON_NO_CSRF_COOKIE
from django.shortcuts import render
from django.template import loader
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import requires_csrf_token
from django_q.brokers import get_broker
from django_q.conf import Conf
from django_q.status import Stat

from imagegen import licences, safety, selectors, services, tiers
from imagegen.models import Generation, ProviderCooldown
from imagegen.paginators import table_count
from imagegen.providers import get_provider
from imagegen.providers.base import redact
from travelfit.json_errors import json_error

logger = logging.getLogger("imagegen.health")


# Queued work older than this, with nothing running, means no worker is taking it.
STALLED_AFTER_SECONDS = 60


@never_cache
def metrics(request):
    """Prometheus' text format: every process's counts and the queue now (imagegen.metrics).

    For a scraper with `Authorization: Bearer <METRICS_TOKEN>`; without the token set, for
    signed-in staff only. Anyone else gets 404, as if there were nothing here."""
    from imagegen import metrics as site_metrics

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
    now = timezone.now()
    try:
        active_sessions = Session.objects.filter(expire_date__gt=now).count()
        total_generations = table_count(Generation)
        queue = selectors.queue_now()
        cooling = {
            cooldown.provider: cooldown
            for cooldown in ProviderCooldown.objects.filter(until__gt=now)
        }
        spent, budget, budget_state = services.budget_state()
        review = services.count_waiting()
    except DatabaseError as exc:
        logger.error("health: database unreachable: %s", type(exc).__name__)
        response = JsonResponse({"status": "unhealthy", "database": "unreachable"}, status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    broker_ok = _broker_reachable()
    providers = [_provider_state(name, cooling.get(name)) for name in settings.IMAGEGEN_PROVIDERS]
    can_serve = any(p["state"] == "ok" for p in providers) and not (
        budget_state == "reached" and settings.IMAGEGEN_BUDGET_ACTION == "refuse"
    )
    serving = {p["name"] for p in providers if p["state"] == "ok"}
    tier_states = [
        {
            "name": tier.name,
            "units": tier.units,
            "providers": list(tier.providers),
            "state": "ok" if serving.intersection(tier.providers) else "paused",
        }
        for tier in tiers.tiers()
    ]
    clusters, workers = workers_seen()
    queued, running = queue.queued, queue.running
    warnings = []
    if budget_state in ("warning", "reached"):
        warnings.append(f"Monthly budget {budget_state}: ${spent:.2f} of ${budget:.2f} spent.")
    if not workers:
        warnings.append("No worker seen in the last seconds: is `manage.py qcluster` running?")
    for tier in tier_states:
        if tier["state"] == "paused" and len(tier_states) > 1:
            warnings.append(
                f"Tier {tier['name']} has no provider able to serve now: submissions to it are "
                "refused until one is."
            )
    unchecked = safety.off_by_default_warning()
    if unchecked:
        warnings.append(unchecked)
    stalled = False
    if queued:
        waited = queue.oldest_wait
        if not workers:
            stalled = True
        elif not running and waited > STALLED_AFTER_SECONDS:
            stalled = True
            warnings.append(
                f"{queued} queued, none running, the oldest waiting {waited:.0f} s: the workers "
                "are not taking work."
            )
    if not (broker_ok and can_serve):
        status = "unhealthy"
    elif stalled:
        status = "degraded"
    else:
        status = "healthy"
    public = {
        "status": status,
        "api_token_configured": bool(settings.HUGGINGFACE_API_TOKEN),
        "active_sessions": active_sessions,
        "total_generations": total_generations,
    }
    http_status = 503 if status == "unhealthy" else 200
    if not _may_see_details(request):
        return JsonResponse(public, status=http_status)
    return JsonResponse(
        {
            **public,
            "queue": {"queued": queued, "running": running},
            "workers": {"clusters": clusters, "workers": workers},
            "providers": providers,
            "tiers": tier_states,
            "budget": {
                "spent_usd": f"{spent:.2f}",
                "budget_usd": None if budget is None else f"{budget:.2f}",
                "state": budget_state,
            },
            "safety_check": safety.mode(),
            "review": {"held": review.held, "reported": review.reported},
            "database": "ok",
            "broker": "ok" if broker_ok else "unreachable",
            "warnings": warnings + licences.commercial_use_warnings(),
        },
        status=http_status,
    )


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


def workers_seen():
    """(clusters, workers) whose heartbeat django-q2 kept in the shared cache (a few seconds)."""
    try:
        stats = Stat.get_all()
    except Exception as exc:  # the cache is down: report none seen
        logger.error("health: cannot read worker heartbeats: %s", type(exc).__name__)
        return 0, 0
    # A cluster that just stopped leaves its last heartbeat for a few seconds: not serving.
    alive = [stat for stat in stats if stat.status not in (Conf.STOPPING, Conf.STOPPED)]
    return len(alive), sum(len(stat.workers) for stat in alive)


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


# Error pages: the site's own HTML, except under /api/, where a client expects the API's JSON
# error shape even for what Django refuses before a view runs (a body over
# DATA_UPLOAD_MAX_MEMORY_SIZE, a multipart body without a boundary) or a bug.
def _api_error(request, status, code, message):
    if request.path.startswith("/api/"):
        return json_error(status, code, message)
    return None


@requires_csrf_token
def bad_request(request, exception):
    return _api_error(
        request,
        400,
        "bad_request",
        _("The request could not be read: too large, too many fields, or a malformed body."),
    ) or defaults.bad_request(request, exception)


@requires_csrf_token
def permission_denied(request, exception):
    return _api_error(
        request, 403, "forbidden", _("You may not do this.")
    ) or defaults.permission_denied(request, exception)


@requires_csrf_token
def page_not_found(request, exception):
    return _api_error(
        request, 404, "not_found", _("There is nothing at this address.")
    ) or defaults.page_not_found(request, exception)


# A request that failed because the database cannot be reached is not a bug: the answer is 503
# with Retry-After (as /health gives), so clients and load balancers try again.
DATABASE_UNREACHABLE = (OperationalError, InterfaceError)
RETRY_AFTER_SECONDS = 30


@requires_csrf_token
def server_error(request):
    """handler500: the error page (JSON under /api/); 503 when the database is unreachable.

    Django calls it while handling the exception, so sys.exc_info() says what went wrong.
    """
    if isinstance(sys.exc_info()[1], DATABASE_UNREACHABLE):
        return _service_unavailable(request)
    return _api_error(
        request, 500, "server_error", _("Something went wrong on our side; it has been logged.")
    ) or defaults.server_error(request)


def _service_unavailable(request):
    response = _api_error(
        request,
        503,
        "unavailable",
        _("The site cannot reach its database right now; try again after Retry-After seconds."),
    )
    if response is None:
        # No request context: a context processor would ask the database for the user.
        response = HttpResponse(loader.get_template("503.html").render(), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def csrf_failure(request, reason=""):
    """CSRF_FAILURE_VIEW: a form sent from a page too old (or from another browser) is refused
    with a page that says to go back and reload, not Django's technical one; JSON under /api/."""
    api = _api_error(
        request,
        403,
        "csrf_failed",
        _("The CSRF check failed: send an API key, or the session's CSRF token with the form."),
    )
    if api:
        return api
    referer = request.headers.get("Referer", "")
    back = referer if url_has_allowed_host_and_scheme(referer, {request.get_host()}) else ""
    return render(
        request,
        "403_csrf.html",
        {"back": back, "no_cookies": reason == REASON_NO_CSRF_COOKIE},
        status=403,
    )
