"""URLs of the JSON API (/api/v1/…): ninja's operations, its schema (openapi.json) and docs
page (docs), and a JSON 404 for any other /api/ address. Users manage their keys on
/accounts/keys/."""

from functools import wraps

from django.http import HttpResponseNotAllowed
from django.urls import include, path, re_path
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.generic import RedirectView

from . import api, error_response, openapi_json

app_name = "api"

METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def _api_view(view):
    """Every operation's view, with what ninja does not do itself: HEAD wherever GET is taken
    (the GET's headers, no body), a 405 in the API's error shape with the Allow header in a
    fixed order (ninja's is plain text), and the RateLimit headers on every answer to a
    request counted against its key (imagegen.ratelimit)."""

    @wraps(view)
    def answer(request, *args, **kwargs):
        head = request.method == "HEAD"
        if head:
            request.method = "GET"
        try:
            response = view(request, *args, **kwargs)
        finally:
            if head:
                request.method = "HEAD"
        if isinstance(response, HttpResponseNotAllowed):
            response = _not_allowed(response)
        rate_limit = getattr(request, "rate_limit", None)
        if rate_limit is not None:
            for name, value in rate_limit.headers().items():
                response[name] = value
        return _without_body(response) if head else response

    return answer


def _without_body(response):
    """A GET's answer as HEAD's: the same headers (Content-Length included), no body."""
    if response.streaming:
        # A file: its length is in the headers already; the file itself is closed unread.
        response.streaming_content = iter(())
        return response
    length = len(response.content)
    response.content = b""
    response["Content-Length"] = str(length)
    return response


def _not_allowed(response):
    taken = response["Allow"].split(", ")
    if "GET" in taken:
        taken.append("HEAD")
    allowed = [m for m in METHOD_ORDER if m in taken]
    return error_response(
        405,
        "method_not_allowed",
        _("This address takes only %(methods)s.") % {"methods": ", ".join(allowed)},
        headers={"Allow": ", ".join(allowed)},
    )


def _operations():
    patterns, _app, _namespace = api.urls
    for pattern in patterns:
        if pattern.name == "openapi-json":
            # The schema names this site as its server, which needs the request.
            pattern.callback = csrf_exempt(openapi_json)
        pattern.callback = _api_view(pattern.callback)
    return patterns


@csrf_exempt
def not_found(request, path=""):
    """Any other address under /api/: a JSON 404 instead of the site's HTML page."""
    return error_response(404, "not_found", _("There is no API endpoint at this address."))


urlpatterns = [
    path("api/v1/", include(_operations())),
    # Last of the API's: any other /api/ address answers a JSON 404, not the HTML page (and
    # is never redirected by APPEND_SLASH, which would drop a POST's body).
    re_path(r"^api/(?P<path>.*)$", not_found, name="not_found"),
    # The API keys page moved to /accounts/keys/; old bookmarks still find it.
    path("account/api-keys/", RedirectView.as_view(pattern_name="keys", permanent=True)),
]
