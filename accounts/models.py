"""What the accounts app keeps: each user's preferences, and counters of recent actions per
client address."""

import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class AddressThrottle(models.Model):
    """How many times one client address did one thing (sign up, ask for a reset) in a window.

    Taken with a single conditional UPDATE (lib.rate.RateLimit.authorize), as the generation quota
    is, so concurrent requests from one address can never pass the limit.
    """

    action = models.CharField(max_length=32)
    address = models.CharField(max_length=64, help_text="IPv4 address, or an IPv6 /64 prefix.")
    window_start = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["action", "address"], name="throttle_action_address"),
            models.CheckConstraint(condition=Q(count__gte=0), name="throttle_count_not_negative"),
        ]

    def __str__(self):
        return f"{self.action} from {self.address}: {self.count} since {self.window_start:%H:%M}"


def language_choices():
    """The site's languages (settings.LANGUAGES), read when a form or check asks for them, so
    that adding a language does not need a migration."""
    return settings.LANGUAGES


def validate_time_zone(value):
    """Accept only IANA names this machine knows ("Asia/Seoul"); blank means the site's."""
    if value and value not in zoneinfo.available_timezones():
        raise ValidationError(
            _("“%(value)s” is not a time zone name like Asia/Seoul."),
            code="invalid_time_zone",
            params={"value": value},
        )


class Profile(models.Model):
    """A user's preferences: the language of the pages and the time zone times are shown in.

    Made on first use (accounts.services.profile_for); until then, and while a field is blank,
    the site's defaults apply: the browser's language, settings.TIME_ZONE.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile"
    )
    language = models.CharField(
        _("language"),
        max_length=16,
        blank=True,
        choices=language_choices,
        help_text=_("Blank: the language your browser asks for."),
    )
    time_zone = models.CharField(
        _("time zone"),
        max_length=64,
        blank=True,
        validators=[validate_time_zone],
        help_text=_("Blank: the site's time zone."),
    )

    def __str__(self):
        return f"Preferences of {self.user}"
