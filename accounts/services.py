"""Writes about a user's own account: preferences, and deleting the account with everything
in it. API keys are made and revoked by imagegen.services (the API's side of them)."""

import logging

from django.db import transaction
from django.utils import timezone

from imagegen import services as imagegen_services
from imagegen.models import Generation

from .models import Profile

logger = logging.getLogger("accounts")


def profile_for(user):
    """The user's profile, made with blank (site default) preferences on first use."""
    profile, _ = Profile.objects.get_or_create(user=user)
    return profile


def create_account(form):
    """The user a valid SignUpForm describes, with a profile in the time zone it chose."""
    with transaction.atomic():
        user = form.save()
        Profile.objects.create(user=user, time_zone=form.cleaned_data["time_zone"])
    return user


def save_preferences(*, user, language, time_zone):
    """Set the user's language ("" follows the browser) and time zone ("" is the site's)."""
    Profile.objects.update_or_create(
        user=user, defaults={"language": language, "time_zone": time_zone}
    )


def follow_language_switch(*, user, language):
    """The header's switcher chose `language`: a user who had chosen a language on their
    profile gets this one there too, so that their preference (which beats the cookie the
    switcher sets) does not undo the switch. A user without a preference keeps none."""
    Profile.objects.filter(user=user).exclude(language="").exclude(language=language).update(
        language=language
    )


def delete_account(*, user):
    """Delete the user and everything of theirs: generations with their image files and
    thumbnails, API keys, quota, profile, and django-axes' records of their log-ins.

    Unfinished generations are canceled first, in a transaction of their own: a worker still
    making one then finds it no longer running, and its late result deletes the files it had
    just written (imagegen.services._store) instead of leaving them behind.
    """
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog

    user_id, username = user.pk, user.get_username()
    with transaction.atomic():
        stopped = Generation.objects.filter(owner_id=user_id, status__in=Generation.ACTIVE).update(
            status=Generation.Status.CANCELED, finished_at=timezone.now()
        )
    imagegen_services.delete_users_with_files(user_ids=[user_id])
    for model in (AccessAttempt, AccessFailureLog, AccessLog):
        model.objects.filter(username=username).delete()
    logger.info(
        "user %s deleted their account (%d unfinished generations stopped)", user_id, stopped
    )
