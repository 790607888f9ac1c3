"""The time zones a user chooses from: the places TravelFit's travellers live and go first, with
names a person reads ("Seoul · UTC+9"), then every other place by its country and city in the
page's language ("대한민국 · 서울 · UTC+9", from CLDR through Babel).

"Every other place" is tzdata's zone.tab: one current name per place people live, so the old
aliases ("Africa/Asmera", "US/Pacific", "Etc/GMT+3") are not offered. A new account's zone comes
from the browser (`Intl` on the sign-up page), else Asia/Seoul for a Korean page, else the site's.
"""

import datetime
import importlib.resources
import zoneinfo
from functools import cache

from babel import Locale
from babel.core import get_global
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


@cache
def _known():
    return frozenset(zoneinfo.available_timezones())


def is_known(name: str) -> bool:
    """Whether `name` is an IANA zone this machine knows ("Asia/Seoul")."""
    return name in _known()


@cache
def _zone(name):
    # Held for good: ZoneInfo's own cache keeps only a few, and the list shows every offset.
    return zoneinfo.ZoneInfo(name)


def offset_label(name: str, now: datetime.datetime | None = None) -> str:
    """ "UTC+9", "UTC-4", "UTC+5:30": the zone's offset at `now` (summer time included)."""
    moment = (now or timezone.now()).astimezone(_zone(name))
    minutes = int(moment.utcoffset().total_seconds() // 60)
    if not minutes:
        return "UTC"
    sign = "+" if minutes > 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")


def _place(name):
    """ "America/Argentina/Buenos_Aires" → "America / Argentina / Buenos Aires"."""
    return name.replace("_", " ").replace("/", " / ")


@cache
def places() -> tuple[tuple[str, str], ...]:
    """(zone, ISO country code) of every place in tzdata's zone.tab that this machine knows:
    each by its current name ("Asia/Kolkata", not "Asia/Calcutta"), no alias or relic."""
    table = importlib.resources.files("tzdata.zoneinfo").joinpath("zone.tab").read_text("utf-8")
    rows = (line.split("\t") for line in table.splitlines() if line and line[0] != "#")
    return tuple((row[2], row[0]) for row in rows if is_known(row[2]))


@cache
def _place_names(language: str) -> dict[str, str]:
    """{zone: "대한민국 · 서울"} in `language` (CLDR's country and city names)."""
    locale = Locale.parse(language)
    # CLDR keeps some cities under their old names ("Asia/Calcutta" for Asia/Kolkata).
    older = {}
    for old, new in get_global("zone_aliases").items():
        older.setdefault(new, []).append(old)
    names = {}
    for zone, country in places():
        city = next(
            (
                locale.time_zones[key]["city"]
                for key in (zone, *older.get(zone, ()))
                if "city" in locale.time_zones.get(key, {})
            ),
            zone.rsplit("/", 1)[-1].replace("_", " "),
        )
        country_name = locale.territories.get(country, country)
        names[zone] = country_name if city == country_name else f"{country_name} · {city}"
    return names


def place_name(zone: str) -> str:
    """The zone as a person reads it in the current language: "대한민국 · 서울", "United States ·
    Los Angeles"; an alias or a zone outside zone.tab by its IANA name ("US / Pacific")."""
    return _names_now().get(zone) or _place(zone)


def _names_now():
    return _place_names("ko" if (get_language() or "").startswith("ko") else "en")


def choices(current: str = "") -> list:
    """Choices for a select: the common zones, then every other place, in the page's language,
    in alphabetical order, each with its offset now ("미국 · 로스앤젤레스 · UTC-8").

    `current`, a zone saved before this list (an alias such as "US/Pacific"), is kept so that
    saving the form does not change it.
    """
    now = timezone.now()
    common_names = {name for name, _label in COMMON}
    common = [(name, f"{label} · {offset_label(name, now)}") for name, label in COMMON]
    others = [zone for zone, _country in places() if zone not in common_names]
    if current and current not in common_names and current not in others and is_known(current):
        others.append(current)
    names = _names_now()
    labelled = [
        (zone, f"{names.get(zone) or _place(zone)} · {offset_label(zone, now)}") for zone in others
    ]
    labelled.sort(key=lambda choice: choice[1].casefold())
    return [(_("Common"), common), (_("All time zones"), labelled)]


def for_new_account(from_browser: str) -> str:
    """The zone a new profile gets: the browser's when it is a real zone; Asia/Seoul when the
    page was Korean; else blank (the site's)."""
    name = (from_browser or "").strip()
    if is_known(name):
        return name
    if (get_language() or "").startswith("ko"):
        return KOREAN_DEFAULT
    return ""
