"""How long ago something happened, in words: "just now" under a minute, else "5 minutes ago"
(Django's timesince would say "0 minutes ago")."""

from django import template
from django.utils import timezone
from django.utils.timesince import timesince
from django.utils.translation import gettext

register = template.Library()

JUST_NOW_SECONDS = 60


@register.filter
def ago(value):
    if not value:
        return ""
    now = timezone.now()
    if (now - value).total_seconds() < JUST_NOW_SECONDS:
        return gettext("just now")
    return gettext("%(time)s ago") % {"time": timesince(value, now)}
