"""URLs of the JSON API (/api/v1/…). Users manage their keys on /accounts/keys/."""

from django.urls import path, re_path
from django.views.generic import RedirectView

from . import api

app_name = "api"

urlpatterns = [
    path("api/v1/generations", api.generations, name="generations"),
    path("api/v1/generations/<uuid:generation_id>", api.generation, name="generation"),
    path("api/v1/generations/<uuid:generation_id>/cancel", api.cancel, name="cancel"),
    path("api/v1/generations/<uuid:generation_id>/image.png", api.image, name="image"),
    path("api/v1/generations/<uuid:generation_id>/thumb.webp", api.thumbnail, name="thumbnail"),
    path("api/v1/quota", api.quota, name="quota"),
    # Last of the API's: any other /api/ address answers a JSON 404, not the HTML page (and
    # is never redirected by APPEND_SLASH, which would drop a POST's body).
    re_path(r"^api/(?P<path>.*)$", api.not_found, name="not_found"),
    # The API keys page moved to /accounts/keys/; old bookmarks still find it.
    path("account/api-keys/", RedirectView.as_view(pattern_name="keys", permanent=True)),
]
