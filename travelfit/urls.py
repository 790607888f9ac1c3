"""Top-level URLs: the generation app, accounts, admin, the health and metrics endpoints."""

from django.contrib import admin
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog

from imagegen import health

urlpatterns = [
    path("", include("imagegen.urls")),
    path("", include("imagegen.api.urls")),
    path("accounts/", include("accounts.urls")),
    path("health", health.health, name="health"),
    path("metrics", health.metrics, name="metrics"),
    # The language switcher posts to /i18n/setlang/ (Django's set_language: cookie + redirect).
    path("i18n/", include("django.conf.urls.i18n")),
    # The JavaScript texts of the page's language (gettext() in static/js).
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("admin/", admin.site.urls),
]

handler400 = "lib.error_pages.bad_request"
handler403 = "lib.error_pages.permission_denied"
handler404 = "lib.error_pages.page_not_found"
handler500 = "lib.error_pages.server_error"
