"""The site's error pages (Django's handler400/403/404/500 and CSRF_FAILURE_VIEW): its own
HTML, except under /api/, where a client expects the API's JSON error shape even for what Django
refuses before a view runs (a body over DATA_UPLOAD_MAX_MEMORY_SIZE, a multipart body without a
boundary) or a bug. A database that cannot be reached is a 503 with Retry-After."""

import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse
from django.middleware.csrf import REASON_NO_CSRF_COOKIE
from django.shortcuts import render
from django.template import loader
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views import defaults
from django.views.decorators.csrf import requires_csrf_token

from .json_errors import json_error


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
