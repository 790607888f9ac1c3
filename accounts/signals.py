"""What happens in accounts when Django's auth says something happened."""

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from .middleware import remember_preferences


@receiver(user_logged_in, dispatch_uid="accounts.remember_preferences")
def preferences_into_session(sender, request, user, **kwargs):
    """A new session starts with the user's language and time zone in it."""
    if request is not None and hasattr(request, "session"):
        remember_preferences(request, user.pk)
