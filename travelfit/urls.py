"""Top-level URLs: the generation app, accounts, admin and the health endpoint."""

from django.contrib import admin
from django.urls import include, path

from . import views

urlpatterns = [
    path("", include("imagegen.urls")),
    path("", include("imagegen.api_urls")),
    path("accounts/", include("accounts.urls")),
    path("health", views.health, name="health"),
    path("admin/", admin.site.urls),
]

handler400 = "travelfit.views.bad_request"
handler403 = "travelfit.views.permission_denied"
handler404 = "travelfit.views.page_not_found"
handler500 = "travelfit.views.server_error"
