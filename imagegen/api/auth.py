"""Who is asking the API: an API key (`Authorization: Bearer tf_…`, counted against its
per-minute limit) or a signed-in browser's session (with Django's CSRF check on every write)."""

from django.conf import settings
from django.middleware.csrf import CsrfViewMiddleware
from django.utils.translation import gettext as _
from ninja.security.base import AuthBase

from .. import ratelimit, services
from .errors import UNAUTHENTICATED, ApiError

SAFE_METHODS = ("GET", "HEAD", "OPTIONS", "TRACE")


# ninja's views are csrf_exempt, so bearer requests pass the middleware; this instance runs the
# middleware's own checks for session requests only. get_response is never called.
_csrf = CsrfViewMiddleware(lambda request: None)


class ApiKey(AuthBase):
    """`Authorization: Bearer tf_…`: a key from /accounts/keys/, stored only as its hash.

    A Bearer header with a bad key is refused outright, never tried against the session: a
    script with a revoked key must not act as whoever is signed in in the same browser. Any
    other scheme (Basic from a proxy in front) is left to the session.
    """

    openapi_type = "http"
    openapi_scheme = "bearer"
    openapi_description = "An API key made on /accounts/keys/ (`tf_…`)."

    def __call__(self, request):
        scheme, _space, key = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        key = key.strip()
        token = services.token_for_api_key(key) if key else None
        if token is None:
            raise ApiError(
                401,
                "unauthenticated",
                _("This API key is not valid; it may have been revoked."),
                headers=UNAUTHENTICATED,
            )
        # Every answer to a counted request says what is left (imagegen.api.urls adds it).
        request.rate_limit = state = ratelimit.count_request(token)
        if state is not None and state.wait is not None:
            wait = state.wait
            raise ApiError(
                429,
                "rate_limited",
                _(
                    "Too many requests with this key: at most %(limit)s a minute. "
                    "Try again in %(wait)s s."
                )
                % {"limit": state.limit, "wait": wait},
                headers={"Retry-After": str(wait)},
                retry_after=wait,
            )
        request.user = token.user
        request.api_token = token
        return token


class Session(AuthBase):
    """The browser's session cookie; writes need the CSRF token in an X-CSRFToken header."""

    openapi_type = "apiKey"
    openapi_in = "cookie"
    openapi_name = settings.SESSION_COOKIE_NAME
    openapi_description = "A signed-in browser; writes send the csrftoken cookie as X-CSRFToken."
    # Tells the docs page to send the CSRF token with its "Try it out" requests.
    csrf = True

    def __call__(self, request):
        if not request.user.is_authenticated:
            return None
        if request.method not in SAFE_METHODS and _csrf.process_view(request, None, (), {}):
            raise ApiError(
                403,
                "csrf_failed",
                _(
                    "The CSRF check failed: send the csrftoken cookie's value in an X-CSRFToken "
                    "header, or use an API key instead of the session."
                ),
            )
        request.api_token = None
        return request.user
