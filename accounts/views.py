"""Sign-up, the throttled password reset, the page a locked-out log-in gets, and the signed-in
user's own pages: profile and preferences, API keys, download everything, delete the account."""

import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from imagegen import selectors as imagegen_selectors
from imagegen import services as imagegen_services
from imagegen import tiers as imagegen_tiers
from lib.rate import client_address, email_key

from . import export, selectors, services, throttles
from .forms import ApiKeyForm, DeleteAccountForm, PreferencesForm, SignUpForm
from .middleware import remember_preferences

logger = logging.getLogger("accounts")


def _too_many(request, template, context, refused, text):
    """The form again with `text` (an ngettext pair's text, counting minutes) and 429."""
    response = render(
        request,
        template,
        {**context, "throttled": text % {"minutes": refused.minutes}},
        status=429,
    )
    response["Retry-After"] = str(refused.retry_after_seconds)
    return response


def signup(request):
    """A new account, at most SIGNUP_LIMIT per client address every SIGNUP_WINDOW_MINUTES.

    Each account comes with its own free quota, which costs money on a paid provider, so the
    limit is counted when an account would be made; a form with mistakes costs nothing, except
    one that answers "that user name is taken", which tells whoever lists names something and
    counts like a sign-up. The new profile gets the browser's time zone (SignUpForm).
    """
    if request.user.is_authenticated:
        return redirect(settings.LOGIN_REDIRECT_URL)
    context = {
        "daily_quota": settings.IMAGEGEN_DAILY_QUOTA,
        "picture_price": imagegen_tiers.picture_price_text(),
    }
    if request.method == "POST":
        form = SignUpForm(request.POST)
        valid = form.is_valid()
        if valid or form.has_error("username", "unique"):
            address = client_address(request)
            refused = throttles.signup().authorize(address)
            if refused:
                logger.warning("sign-up refused: limit reached for %s", address)
                # The form again without its errors: a refused request learns nothing about
                # the name it asked for.
                fresh = SignUpForm(
                    initial={name: request.POST.get(name, "") for name in ("username", "email")}
                )
                return _too_many(
                    request,
                    "registration/signup.html",
                    {**context, "form": fresh},
                    refused,
                    ngettext(
                        "Too many new accounts from your network. Try again in %(minutes)s minute.",
                        "Too many new accounts from your network. Try again in %(minutes)s "
                        "minutes.",
                        refused.minutes,
                    ),
                )
        if valid:
            user = services.create_account(form)
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect(settings.LOGIN_REDIRECT_URL)
    else:
        form = SignUpForm()
    return render(request, "registration/signup.html", {**context, "form": form})


class PasswordResetView(auth_views.PasswordResetView):
    """Django's reset request, with at most PASSWORD_RESET_LIMIT e-mails per client address
    and PASSWORD_RESET_ACCOUNT_LIMIT to one e-mail address (from however many clients, so
    that nobody can flood someone's inbox).

    The answer is the same whether or not the address has an account (Django's own rule, and
    the per-e-mail count is kept for any address asked for), so the form cannot be used to
    find out who is registered.
    """

    def form_valid(self, form):
        refused = throttles.password_reset().authorize(client_address(self.request))
        if refused:
            return self._too_many(
                form,
                refused,
                ngettext(
                    "Too many password reset requests from your network. Try again in "
                    "%(minutes)s minute.",
                    "Too many password reset requests from your network. Try again in "
                    "%(minutes)s minutes.",
                    refused.minutes,
                ),
            )
        refused = throttles.password_reset_account().authorize(
            email_key(form.cleaned_data["email"])
        )
        if refused:
            return self._too_many(
                form,
                refused,
                ngettext(
                    "Several reset e-mails went to this address already. Look in that inbox "
                    "(and its spam folder), or ask again in %(minutes)s minute.",
                    "Several reset e-mails went to this address already. Look in that inbox "
                    "(and its spam folder), or ask again in %(minutes)s minutes.",
                    refused.minutes,
                ),
            )
        return super().form_valid(form)

    def _too_many(self, form, refused, text):
        return _too_many(
            self.request, self.template_name, self.get_context_data(form=form), refused, text
        )


def locked_out(request, original_response=None, credentials=None):
    """What django-axes answers once a user name has failed LOGIN_FAILURE_LIMIT times from
    this address, or once the address has failed LOGIN_ADDRESS_FAILURE_LIMIT times whatever
    the names (throttles.AddressLockoutBackend): a page that says which and when to try again
    (429 with Retry-After)."""
    address_lockout = getattr(request, "address_lockout", None)
    if address_lockout:
        seconds, minutes = address_lockout.retry_after_seconds, address_lockout.minutes
    else:
        minutes = settings.LOGIN_COOLOFF_MINUTES
        seconds = minutes * 60
    response = render(
        request,
        "accounts/locked_out.html",
        {
            "minutes": minutes,
            "limit": settings.LOGIN_FAILURE_LIMIT,
            "whole_network": address_lockout is not None,
        },
        status=429,
    )
    response["Retry-After"] = str(seconds)
    return response


RECENT_ON_PROFILE = 5


@login_required
def profile(request):
    """The user's account: quota left and when it comes back, recent use, preferences, keys.

    Saving the preferences also sets the language cookie, so that the chosen language stays
    after logging out.
    """
    profile = services.profile_for(request.user)
    if request.method == "POST":
        form = PreferencesForm(request.POST, instance=profile)
        if form.is_valid():
            services.save_preferences(
                user=request.user,
                language=form.cleaned_data["language"],
                time_zone=form.cleaned_data["time_zone"],
            )
            remember_preferences(request, request.user.pk)
            messages.success(request, _("Your preferences are saved."))
            response = redirect("profile")
            language = form.cleaned_data["language"]
            if not language:
                # "Follow my browser": an old choice in the cookie would still beat it.
                response.delete_cookie(
                    settings.LANGUAGE_COOKIE_NAME,
                    path=settings.LANGUAGE_COOKIE_PATH,
                    domain=settings.LANGUAGE_COOKIE_DOMAIN,
                    samesite=settings.LANGUAGE_COOKIE_SAMESITE,
                )
            else:
                response.set_cookie(
                    settings.LANGUAGE_COOKIE_NAME,
                    language,
                    max_age=settings.LANGUAGE_COOKIE_AGE,
                    path=settings.LANGUAGE_COOKIE_PATH,
                    domain=settings.LANGUAGE_COOKIE_DOMAIN,
                    secure=settings.LANGUAGE_COOKIE_SECURE,
                    httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
                    samesite=settings.LANGUAGE_COOKIE_SAMESITE,
                )
            return response
    else:
        form = PreferencesForm(instance=profile)
    periods = imagegen_services.Periods.current()
    return render(
        request,
        "accounts/profile.html",
        {
            "form": form,
            "quota": imagegen_selectors.quota_status(request.user),
            "day_resets_at": periods.day_resets_at(),
            "month_resets_at": periods.month_resets_at(),
            "time_zone": timezone.get_current_timezone_name(),
            "usage": selectors.usage_of(request.user),
            "recent": imagegen_selectors.generations_of(request.user)[:RECENT_ON_PROFILE],
            "key_count": request.user.api_tokens.count(),
        },
    )


NEW_KEY_SESSION = "travelfit-new-api-key"


@never_cache
@login_required
def keys(request):
    """The user's API keys: make one (its key and webhook secret shown once) or revoke one.

    Making one redirects (so a reload cannot make a second key) to this page, which shows the
    new key once: it waits in the server-side session only until that next request pops it.
    """
    if request.method == "POST":
        form = ApiKeyForm(request.POST, for_staff=request.user.is_staff)
        if form.is_valid():
            token, key = imagegen_services.create_api_token(
                user=request.user,
                name=form.cleaned_data["name"],
                default_callback_url=form.cleaned_data["default_callback_url"],
            )
            request.session[NEW_KEY_SESSION] = {"id": token.pk, "key": key}
            return redirect("keys")
    else:
        form = ApiKeyForm()
    new = request.session.pop(NEW_KEY_SESSION, None)
    new_token = request.user.api_tokens.filter(pk=new["id"]).first() if new else None
    return render(
        request,
        "accounts/keys.html",
        {
            "form": form,
            "tokens": request.user.api_tokens.order_by("-created_at"),
            "new_token": new_token,
            "new_key": new["key"] if new_token else None,
            # Shown with the new key only: the page never shows a key's secret again.
            "new_webhook_secret": new_token.webhook_secret if new_token else None,
            "api_url": request.build_absolute_uri(reverse("api:generations")),
        },
    )


@login_required
@require_POST
def revoke_key(request, token_id):
    """Revoke one of the user's keys: from now on it answers 401."""
    name = imagegen_services.revoke_api_token(token_id=token_id, user=request.user)
    if name is None:
        raise Http404(_("No such key."))
    messages.success(
        request, _("Revoked “%(name)s”: requests with it now get 401.") % {"name": name}
    )
    return redirect("keys")


@login_required
def download_images(request):
    """Every finished image of the user's, and index.csv, in one zip sent as it is made."""
    archive = export.images_zip(request.user)
    stamp = timezone.localdate().isoformat()
    response = StreamingHttpResponse(archive, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="travelfit-images-{stamp}.zip"'
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
def delete_account(request):
    """GET asks for the password; POST with it deletes the account and everything in it."""
    if request.method == "POST":
        form = DeleteAccountForm(request.user, request.POST)
        if form.is_valid():
            services.delete_account(user=request.user)
            logout(request)
            messages.success(
                request, _("Your account, its images and its API keys are deleted. Goodbye!")
            )
            return redirect(settings.LOGOUT_REDIRECT_URL)
    else:
        form = DeleteAccountForm(request.user)
    return render(
        request,
        "accounts/delete.html",
        {"form": form, "image_count": selectors.images_of(request.user).count()},
    )
