"""Account URLs under /accounts/: sign-up, the throttled reset request, the user's own pages
(profile, API keys, download, delete), then Django's own views (log-in, log-out, password
change and the rest of the reset)."""

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.urls import include, path

from . import views

urlpatterns = [
    path("signup/", views.signup, name="signup"),
    path("password_reset/", views.PasswordResetView.as_view(), name="password_reset"),
    path(
        "password_reset/done/",
        auth_views.PasswordResetDoneView.as_view(
            extra_context={"timeout_hours": settings.PASSWORD_RESET_TIMEOUT // 3600}
        ),
        name="password_reset_done",
    ),
    path("profile/", views.profile, name="profile"),
    path("keys/", views.keys, name="keys"),
    path("keys/<int:token_id>/revoke", views.revoke_key, name="revoke_key"),
    path("download/", views.download_images, name="download_images"),
    path("delete/", views.delete_account, name="delete_account"),
    path("", include("django.contrib.auth.urls")),
]
