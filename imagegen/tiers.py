"""Quality tiers: what a user chooses per picture, each a provider chain and a price in units.

IMAGEGEN_TIERS (travelfit/settings.py parses it) lists them in order, e.g.
`fast=hf_inference:1;best=gradio_space,hf_inference:3`; without it there is one tier,
`standard`, which is IMAGEGEN_PROVIDERS at 1 unit, so a site that sets nothing behaves as it
did before tiers. A generation records its tier's name and the units it reserved; fallback
stays inside its tier's chain.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.utils.translation import gettext, gettext_lazy, ngettext

from .models import ASPECT_RATIOS
from .providers import get_provider

# The names the README suggests, in the reader's language; any other name is shown as written.
LABELS = {
    "standard": gettext_lazy("Standard"),
    "fast": gettext_lazy("Fast"),
    "best": gettext_lazy("Best"),
}


@dataclass(frozen=True)
class Tier:
    name: str
    providers: tuple[str, ...]
    units: int

    @property
    def label(self) -> str:
        label = LABELS.get(self.name)
        return str(label) if label is not None else self.name.replace("_", " ").capitalize()

    def tasks(self) -> frozenset[str]:
        """The tasks some provider of its chain can do (text, edit, try_on)."""
        return frozenset().union(*(get_provider(name).tasks() for name in self.providers))

    def photo_result_size(self, task: str, width: int, height: int) -> tuple[int, int] | None:
        """The size an edit or a try-on of a `width`×`height` photo comes out at, as the first
        provider of the chain that does the task makes it; None when its service chooses."""
        for name in self.providers:
            provider = get_provider(name)
            if task in provider.tasks():
                return provider.photo_result_size(task, width, height)
        return None

    def units_text(self, count: int = 1) -> str:
        """ "1 unit", "3 units" (for `count` pictures), in the reader's language."""
        total = self.units * count
        return ngettext("%(units)s unit", "%(units)s units", total) % {"units": total}


STANDARD = "standard"


def tiers() -> list[Tier]:
    """The configured tiers, in the order the site offers them; without IMAGEGEN_TIERS, one:
    `standard`, IMAGEGEN_PROVIDERS at 1 unit."""
    if not settings.IMAGEGEN_TIERS:
        return [Tier(STANDARD, tuple(settings.IMAGEGEN_PROVIDERS), 1)]
    return [Tier(name, tuple(chain), units) for name, chain, units in settings.IMAGEGEN_TIERS]


def photo_result_size(
    task: str, width: int, height: int, *, tier: Tier, only_provider: str = ""
) -> tuple[int, int] | None:
    """The size an edit or a try-on of a `width`×`height` photo comes out at from the provider
    that serves it (`only_provider`, else the tier's); None when that provider's service
    chooses the size."""
    if only_provider:
        return get_provider(only_provider).photo_result_size(task, width, height)
    return tier.photo_result_size(task, width, height)


def tier_named(name: str) -> Tier | None:
    return next((tier for tier in tiers() if tier.name == name), None)


def default_tier() -> Tier:
    """IMAGEGEN_DEFAULT_TIER (settings checks it names a tier), else the first."""
    return tier_named(settings.IMAGEGEN_DEFAULT_TIER) or tiers()[0]


def primary_provider():
    """The first provider of the default tier: the form offers what it accepts."""
    return get_provider(default_tier().providers[0])


def tier_of(name: str) -> Tier:
    """The tier a generation names; one recorded before the operator removed its tier is
    served by the default tier's chain (its units were reserved already)."""
    return tier_named(name) or default_tier()


def priced() -> bool:
    """True when some tier costs more than a unit: then a picture's price depends on its tier
    (the quota always counts units, on every page and in the API)."""
    return any(tier.units != 1 for tier in tiers())


def picture_price_text() -> str:
    """What one picture costs in units, in the reader's language: "A picture costs 1 unit.", or
    "A picture costs 1 to 3 units, by its quality." when the tiers' prices differ."""
    prices = sorted({tier.units for tier in tiers()})
    if len(prices) == 1:
        return ngettext(
            "A picture costs %(units)s unit.", "A picture costs %(units)s units.", prices[0]
        ) % {"units": prices[0]}
    return gettext("A picture costs %(low)s to %(high)s units, by its quality.") % {
        "low": prices[0],
        "high": prices[-1],
    }


def choosable() -> bool:
    """True when there is a choice to offer (more than one tier)."""
    return len(tiers()) > 1


def typical_wait_text(seconds: float | None) -> str:
    """ "about 8 s", or "about 2 min" for a long wait, in the reader's language."""
    if seconds is None:
        return ""
    if seconds < 90:
        return gettext("about %(seconds)s s") % {"seconds": max(1, round(seconds))}
    return gettext("about %(minutes)s min") % {"minutes": round(seconds / 60)}


def aspect_size(aspect, capabilities):
    """(width, height) of an aspect, as large as the provider allows up to 1024 px."""
    ratio_w, ratio_h = ASPECT_RATIOS[aspect]
    long_side = capabilities.nearest_size(min(capabilities.max_size, 1024))
    if ratio_w >= ratio_h:
        return long_side, capabilities.nearest_size(long_side * ratio_h / ratio_w)
    return capabilities.nearest_size(long_side * ratio_w / ratio_h), long_side
