"""Site-wide views: sign-up and the operators' health endpoint."""

import logging

from django import forms
from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth.forms import UserCreationForm
from django.contrib.sessions.models import Session
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError
from django.db.models import Count
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django_q.brokers import get_broker
from django_q.conf import Conf
from django_q.status import Stat

from imagegen import services
from imagegen.models import Generation, ProviderCooldown
from imagegen.providers import get_provider
from imagegen.providers.base import redact

logger = logging.getLogger("imagegen.health")


class SignUpForm(UserCreationForm):
    """Django's sign-up form (its username and password checks), plus a required email."""

    email = forms.EmailField(
        required=True, help_text="Used only if you need to reset your password."
    )

    class Meta(UserCreationForm.Meta):
        fields = ("username", "email")


def signup(request):
    if request.user.is_authenticated:
        return redirect(settings.LOGIN_REDIRECT_URL)
    if request.method == "POST":
        form = SignUpForm(request.POST)
        if form.is_valid():
            user = form.save()
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect(settings.LOGIN_REDIRECT_URL)
    else:
        form = SignUpForm()
    return render(
        request,
        "registration/signup.html",
        {"form": form, "daily_quota": settings.IMAGEGEN_DAILY_QUOTA},
    )


@never_cache
def health(request):
    """JSON for monitors: the original backend's fields, the queue, workers, providers, budget.

    503 when the site cannot serve: the database or the broker unreachable, or no provider
    able to take a generation. Says whether a token is configured, never the token.
    """
    now = timezone.now()
    try:
        active_sessions = Session.objects.filter(expire_date__gt=now).count()
        total_generations = Generation.objects.count()
        queue = dict(
            Generation.objects.filter(status__in=Generation.ACTIVE)
            .values_list("status")
            .annotate(count=Count("pk"))
        )
        cooling = {
            cooldown.provider: cooldown
            for cooldown in ProviderCooldown.objects.filter(until__gt=now)
        }
        spent, budget, budget_state = services.budget_state()
    except DatabaseError as exc:
        logger.error("health: database unreachable: %s", type(exc).__name__)
        return JsonResponse({"status": "unhealthy", "database": "unreachable"}, status=503)

    broker_ok = _broker_reachable()
    providers = [_provider_state(name, cooling.get(name)) for name in settings.IMAGEGEN_PROVIDERS]
    can_serve = any(p["state"] == "ok" for p in providers) and not (
        budget_state == "reached" and settings.IMAGEGEN_BUDGET_ACTION == "refuse"
    )
    clusters, workers = _workers_seen()
    warnings = []
    if budget_state in ("warning", "reached"):
        warnings.append(f"Monthly budget {budget_state}: ${spent:.2f} of ${budget:.2f} spent.")
    if not workers:
        warnings.append("No worker seen in the last seconds: is `manage.py qcluster` running?")
    healthy = broker_ok and can_serve
    return JsonResponse(
        {
            "status": "healthy" if healthy else "unhealthy",
            "api_token_configured": bool(settings.HUGGINGFACE_API_TOKEN),
            "active_sessions": active_sessions,
            "total_generations": total_generations,
            "queue": {
                "queued": queue.get(Generation.Status.QUEUED, 0),
                "running": queue.get(Generation.Status.RUNNING, 0),
            },
            "workers": {"clusters": clusters, "workers": workers},
            "providers": providers,
            "budget": {
                "spent_usd": f"{spent:.2f}",
                "budget_usd": None if budget is None else f"{budget:.2f}",
                "state": budget_state,
            },
            "database": "ok",
            "broker": "ok" if broker_ok else "unreachable",
            "warnings": warnings,
        },
        status=200 if healthy else 503,
    )


def _broker_reachable():
    try:
        return bool(get_broker().ping())
    except Exception as exc:  # any failure to reach it is the answer
        logger.error("health: broker unreachable: %s", type(exc).__name__)
        return False


def _workers_seen():
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
