"""Site-wide views: sign-up and the operators' health endpoint."""

import logging

from django import forms
from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth.forms import UserCreationForm
from django.contrib.sessions.models import Session
from django.db import DatabaseError
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache

from imagegen.models import Generation

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
    """JSON for monitors: the original backend's fields; 503 when the database is unreachable.

    Reports whether a token is configured, never the token itself.
    """
    try:
        active_sessions = Session.objects.filter(expire_date__gt=timezone.now()).count()
        total_generations = Generation.objects.count()
    except DatabaseError as exc:
        logger.error("health: database unreachable: %s", type(exc).__name__)
        return JsonResponse({"status": "unhealthy", "database": "unreachable"}, status=503)
    return JsonResponse(
        {
            "status": "healthy",
            "api_token_configured": bool(settings.HUGGINGFACE_API_TOKEN),
            "active_sessions": active_sessions,
            "total_generations": total_generations,
            "providers": list(settings.IMAGEGEN_PROVIDERS),
            "database": "ok",
        }
    )
