"""What happens in accounts when Django's auth says something happened."""

from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver

from . import throttles
from .middleware import remember_preferences


@receiver(user_logged_in, dispatch_uid="accounts.remember_preferences")
def preferences_into_session(sender, request, user, **kwargs):
    """A new session starts with the user's language and time zone in it."""
    if request is not None and hasattr(request, "session"):
        remember_preferences(request, user.pk)


@receiver(user_login_failed, dispatch_uid="accounts.count_address_login_failure")
def count_login_failure(sender, credentials, request=None, **kwargs):
    """Every failed log-in (site or admin) counts toward its address's limit on failures
    across user names (LOGIN_ADDRESS_FAILURE_LIMIT)."""
    if request is not None:
        throttles.login_failures(request, count=True)
