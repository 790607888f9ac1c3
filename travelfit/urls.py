"""Top-level URLs: the generation app, accounts, admin, the health and metrics endpoints."""

from django.contrib import admin
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog

from . import views

urlpatterns = [
    path("", include("imagegen.urls")),
    path("", include("imagegen.api_urls")),
    path("accounts/", include("accounts.urls")),
    path("health", views.health, name="health"),
    path("metrics", views.metrics, name="metrics"),
    # The language switcher posts to /i18n/setlang/ (Django's set_language: cookie + redirect).
    path("i18n/", include("django.conf.urls.i18n")),
    # The JavaScript texts of the page's language (gettext() in static/js).
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("admin/", admin.site.urls),
]

handler400 = "travelfit.views.bad_request"
handler403 = "travelfit.views.permission_denied"
handler404 = "travelfit.views.page_not_found"
handler500 = "travelfit.views.server_error"
