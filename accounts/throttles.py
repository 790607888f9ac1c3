"""The accounts' named limits on actions that cost the site something or guess at passwords:
new accounts, reset e-mails, failed log-ins across user names (password spraying).

Counted by lib.rate's one fixed-window counter, per client address (lib.rate.client_address).
Failed log-ins per user name and address are django-axes' business (LOGIN_FAILURE_LIMIT); it
and these limits agree on who the client is behind TRUSTED_PROXY_COUNT proxies, and count an
IPv6 client by its /64 (`client_address`, `lockout_ip`).
"""

import datetime

from django.conf import settings
from django.core.exceptions import PermissionDenied

from lib.rate import RateLimit, Refused, client_address


def _minutes(count):
    return datetime.timedelta(minutes=count)


def signup() -> RateLimit:
    """New accounts per address (SIGNUP_LIMIT per SIGNUP_WINDOW_MINUTES)."""
    return RateLimit("signup", settings.SIGNUP_LIMIT, _minutes(settings.SIGNUP_WINDOW_MINUTES))


def password_reset() -> RateLimit:
    """Reset e-mails asked for per address."""
    return RateLimit(
        "password_reset", settings.PASSWORD_RESET_LIMIT, _minutes(settings.SIGNUP_WINDOW_MINUTES)
    )


def password_reset_account() -> RateLimit:
    """Reset e-mails asked for per e-mail address (counted by lib.rate.email_key)."""
    return RateLimit(
        "password_reset_account",
        settings.PASSWORD_RESET_ACCOUNT_LIMIT,
        _minutes(settings.SIGNUP_WINDOW_MINUTES),
    )


# --- Password spraying: failed log-ins from one address, whatever the user names ---------------

LOGIN_FAILURE = "login_failure"


def login_failures(request, *, count: bool) -> Refused | None:
    """Count a failed log-in (or, with count false, only look) for the request's address."""
    limit = RateLimit(
        LOGIN_FAILURE,
        settings.LOGIN_ADDRESS_FAILURE_LIMIT,
        _minutes(settings.LOGIN_COOLOFF_MINUTES),
    )
    address = client_address(request)
    return limit.authorize(address) if count else limit.reached(address)


class AddressLockoutBackend:
    """First of AUTHENTICATION_BACKENDS: an address that failed LOGIN_ADDRESS_FAILURE_LIMIT
    log-ins this window, whatever the user names, may not log in until the window ends.

    It stops authentication the way django-axes' backend does (PermissionDenied, with
    request.axes_locked_out set), so axes' middleware answers with the lockout page
    (accounts.views.locked_out), which reads `request.address_lockout` to say why. It has no
    get_user(): it never logs anyone in, so sessions never name it.
    """

    def authenticate(self, request, **credentials):
        if request is None:
            return None
        refused = login_failures(request, count=False)
        if refused:
            request.axes_locked_out = True
            request.address_lockout = refused
            raise PermissionDenied("Too many failed log-ins from this address.")
        return None
