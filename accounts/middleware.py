"""Pages in the signed-in user's language and time zone.

Django's LocaleMiddleware has already chosen a language from the language cookie or
Accept-Language; a language the user chose on their profile comes first. The preferences are
kept in the session (copied at log-in, see accounts.signals), so a page costs no extra query.
"""

import contextlib
import zoneinfo

from django.conf import settings
from django.utils import timezone, translation

from . import selectors, services

PREFERENCES_SESSION = "travelfit-preferences"


def remember_preferences(request, user_id):
    """Copy the user's preferences into their session (at log-in, and when they change)."""
    request.session[PREFERENCES_SESSION] = selectors.preferences_of(user_id)


def _preferences(request):
    if not request.user.is_authenticated:
        return {}
    if PREFERENCES_SESSION not in request.session:
        # A session from before preferences existed: read them once.
        remember_preferences(request, request.user.pk)
    return request.session[PREFERENCES_SESSION]


class UserPreferencesMiddleware:
    """Activate the user's time zone and, when they chose one, their language.

    Goes after AuthenticationMiddleware and LocaleMiddleware.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        preferences = _preferences(request)
        self._activate_time_zone(preferences.get("time_zone"))
        language = preferences.get("language")
        if language and translation.check_for_language(language):
            translation.activate(language)
            request.LANGUAGE_CODE = translation.get_language()
        try:
            response = self.get_response(request)
        finally:
            timezone.deactivate()
        self._follow_language_switch(request, response, language)
        return response

    @staticmethod
    def _activate_time_zone(name):
        # The zone is active for the rest of this thread's request only: every request sets
        # (or clears) it, as threads serve one user after another.
        timezone.deactivate()
        # A zone this machine no longer knows leaves the site's.
        with contextlib.suppress(zoneinfo.ZoneInfoNotFoundError, ValueError):
            if name:
                timezone.activate(zoneinfo.ZoneInfo(name))

    @staticmethod
    def _follow_language_switch(request, response, preferred):
        """The language switcher set the cookie: the user's preference follows it."""
        cookie = response.cookies.get(settings.LANGUAGE_COOKIE_NAME)
        if not preferred or cookie is None or cookie.value in ("", preferred):
            return
        services.follow_language_switch(user=request.user, language=cookie.value)
        remember_preferences(request, request.user.pk)
