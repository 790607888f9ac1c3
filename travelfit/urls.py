"""Top-level URLs: the generation app, accounts, admin and the health endpoint."""

from django.contrib import admin
from django.urls import include, path

from . import views

urlpatterns = [
    path("", include("imagegen.urls")),
    path("", include("imagegen.api_urls")),
    path("accounts/signup/", views.signup, name="signup"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("health", views.health, name="health"),
    path("admin/", admin.site.urls),
]
