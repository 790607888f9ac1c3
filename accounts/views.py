"""Sign-up, the throttled password reset and the page a locked-out log-in gets."""

import logging

from django import forms
from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import UserCreationForm
from django.shortcuts import redirect, render

from . import throttles

logger = logging.getLogger("accounts")


class SignUpForm(UserCreationForm):
    """Django's sign-up form (its username and password checks), plus a required email."""

    email = forms.EmailField(
        required=True, help_text="Used only if you need to reset your password."
    )

    class Meta(UserCreationForm.Meta):
        fields = ("username", "email")


def _too_many(request, template, context, refused, what):
    response = render(
        request,
        template,
        {
            **context,
            "throttled": f"Too many {what} from your network. Try again in "
            f"{refused.minutes} minute{'s' if refused.minutes != 1 else ''}.",
        },
        status=429,
    )
    response["Retry-After"] = str(refused.retry_after_seconds)
    return response


def signup(request):
    """A new account, at most SIGNUP_LIMIT per client address every SIGNUP_WINDOW_MINUTES.

    Each account comes with its own free quota, which costs money on a paid provider, so the
    limit is counted when an account would be made (a form with mistakes costs nothing).
    """
    if request.user.is_authenticated:
        return redirect(settings.LOGIN_REDIRECT_URL)
    context = {"daily_quota": settings.IMAGEGEN_DAILY_QUOTA}
    if request.method == "POST":
        form = SignUpForm(request.POST)
        if form.is_valid():
            address = throttles.client_address(request)
            refused = throttles.take(
                action="signup",
                address=address,
                limit=settings.SIGNUP_LIMIT,
                window_minutes=settings.SIGNUP_WINDOW_MINUTES,
            )
            if refused:
                logger.warning("sign-up refused: limit reached for %s", address)
                return _too_many(
                    request,
                    "registration/signup.html",
                    {**context, "form": form},
                    refused,
                    "new accounts",
                )
            user = form.save()
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect(settings.LOGIN_REDIRECT_URL)
    else:
        form = SignUpForm()
    return render(request, "registration/signup.html", {**context, "form": form})


class PasswordResetView(auth_views.PasswordResetView):
    """Django's reset request, with at most PASSWORD_RESET_LIMIT e-mails per client address.

    The answer is the same whether or not the address has an account (Django's own rule), so
    the form cannot be used to find out who is registered.
    """

    def form_valid(self, form):
        refused = throttles.take(
            action="password_reset",
            address=throttles.client_address(self.request),
            limit=settings.PASSWORD_RESET_LIMIT,
            window_minutes=settings.SIGNUP_WINDOW_MINUTES,
        )
        if refused:
            return _too_many(
                self.request,
                self.template_name,
                self.get_context_data(form=form),
                refused,
                "password reset requests",
            )
        return super().form_valid(form)


def locked_out(request, original_response=None, credentials=None):
    """What django-axes answers once a user name has failed LOGIN_FAILURE_LIMIT times from
    this address: a page that says so and when to try again (429 with Retry-After)."""
    minutes = settings.LOGIN_COOLOFF_MINUTES
    response = render(
        request,
        "accounts/locked_out.html",
        {"minutes": minutes, "limit": settings.LOGIN_FAILURE_LIMIT},
        status=429,
    )
    response["Retry-After"] = str(minutes * 60)
    return response
