"""URLs of the JSON API (/api/v1/…): ninja's operations, its schema (openapi.json) and docs
page (docs), and a JSON 404 for any other /api/ address. Users manage their keys on
/accounts/keys/."""

from functools import wraps

from django.http import HttpResponseNotAllowed
from django.urls import include, path, re_path
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.generic import RedirectView

from .api import api, error_response

app_name = "api"

METHOD_ORDER = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _json_405(view):
    """ninja answers a method an address does not take with a plain-text 405; this gives it
    the API's error shape, and the Allow header in a fixed order."""

    @wraps(view)
    def answer(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        if not isinstance(response, HttpResponseNotAllowed):
            return response
        allowed = [m for m in METHOD_ORDER if m in response["Allow"].split(", ")]
        return error_response(
            405,
            "method_not_allowed",
            _("This address takes only %(methods)s.") % {"methods": ", ".join(allowed)},
            headers={"Allow": ", ".join(allowed)},
        )

    return answer


def _operations():
    patterns, _app, _namespace = api.urls
    for pattern in patterns:
        pattern.callback = _json_405(pattern.callback)
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
