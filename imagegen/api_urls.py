"""URLs of the JSON API (/api/v1/…) and of the page where users manage their API keys."""

from django.urls import path, re_path

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
    path("account/api-keys/", api.keys, name="keys"),
    path("account/api-keys/<int:token_id>/revoke", api.revoke_key, name="revoke_key"),
]
