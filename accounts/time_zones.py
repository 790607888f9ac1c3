"""The time zones a user chooses from: the places TravelFit's travellers live and go first, with
names a person reads ("Seoul · UTC+9"), then every other zone by its region and city.

A new account's zone comes from the browser (`Intl` on the sign-up page), else Asia/Seoul for a
Korean page, else the site's.
"""

import datetime
import zoneinfo
from functools import cache

from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

KOREAN_DEFAULT = "Asia/Seoul"

# Home, then where Korean travellers go most, east to west; UTC last.
COMMON = (
    ("Asia/Seoul", _("Seoul")),
    ("Asia/Tokyo", _("Tokyo, Osaka")),
    ("Asia/Shanghai", _("Beijing, Shanghai")),
    ("Asia/Taipei", _("Taipei")),
    ("Asia/Hong_Kong", _("Hong Kong, Macau")),
    ("Asia/Manila", _("Manila, Cebu")),
    ("Asia/Singapore", _("Singapore, Kuala Lumpur")),
    ("Asia/Makassar", _("Bali")),
    ("Asia/Ho_Chi_Minh", _("Ho Chi Minh City, Da Nang")),
    ("Asia/Bangkok", _("Bangkok")),
    ("Pacific/Guam", _("Guam, Saipan")),
    ("Australia/Sydney", _("Sydney")),
    ("Pacific/Honolulu", _("Hawaii")),
    ("America/Los_Angeles", _("Los Angeles, Vancouver")),
    ("America/New_York", _("New York, Toronto")),
    ("Europe/London", _("London")),
    ("Europe/Paris", _("Paris, Berlin, Rome")),
    ("UTC", _("UTC")),
)

# The regions of the IANA names people live in; the rest ("Factory", "W-SU", "US/Pacific",
# "Etc/GMT+3") are aliases and relics that only confuse a list.
REGIONS = (
    "Africa",
    "America",
    "Antarctica",
    "Arctic",
    "Asia",
    "Atlantic",
    "Australia",
    "Europe",
    "Indian",
    "Pacific",
)


@cache
def _known():
    return frozenset(zoneinfo.available_timezones())


def is_known(name: str) -> bool:
    """Whether `name` is an IANA zone this machine knows ("Asia/Seoul")."""
    return name in _known()


def offset_label(name: str, now: datetime.datetime | None = None) -> str:
    """ "UTC+9", "UTC-4", "UTC+5:30": the zone's offset at `now` (summer time included)."""
    moment = (now or timezone.now()).astimezone(zoneinfo.ZoneInfo(name))
    minutes = int(moment.utcoffset().total_seconds() // 60)
    if not minutes:
        return "UTC"
    sign = "+" if minutes > 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")


def _place(name):
    """ "America/Argentina/Buenos_Aires" → "America / Argentina / Buenos Aires"."""
    return name.replace("_", " ").replace("/", " / ")


def choices(current: str = "") -> list:
    """Choices for a select: the common zones, then every other one under a heading.

    `current`, a zone saved before this list (an alias such as "US/Pacific"), is kept so that
    saving the form does not change it.
    """
    now = timezone.now()
    common_names = {name for name, _label in COMMON}
    common = [(name, f"{label} · {offset_label(name, now)}") for name, label in COMMON]
    others = sorted(
        name for name in _known() if name.split("/", 1)[0] in REGIONS and name not in common_names
    )
    if current and current not in common_names and current not in others and is_known(current):
        others = sorted([*others, current])
    return [
        (_("Common"), common),
        (_("All time zones"), [(name, _place(name)) for name in others]),
    ]


def for_new_account(from_browser: str) -> str:
    """The zone a new profile gets: the browser's when it is a real zone; Asia/Seoul when the
    page was Korean; else blank (the site's)."""
    name = (from_browser or "").strip()
    if is_known(name):
        return name
    if (get_language() or "").startswith("ko"):
        return KOREAN_DEFAULT
    return ""
