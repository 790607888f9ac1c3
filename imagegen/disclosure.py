"""What the pages tell people before they use the site (issue 30): where a photo goes for the
photo tasks (which service, which country), said before the consent tick."""

from django.utils.translation import gettext as _

from .providers import get_providers
from .providers.base import TEXT


def _where(provider):
    """(service, country) a photo goes to for `provider`."""
    name = provider.name
    if name in ("demo", "local_diffusers"):
        return _("this site's own server"), _("where this site runs")
    if name == "hf_endpoint":
        return _("the operator's Hugging Face Inference Endpoint"), _("its chosen region")
    if name == "gradio_space":
        return _("Hugging Face Spaces (%(model)s)") % {"model": provider.model}, _("United States")
    return _("Hugging Face Inference Providers (%(model)s)") % {"model": provider.model}, _(
        "United States"
    )


def photo_destinations() -> list[str]:
    """One sentence per configured provider that takes photos, in the order they are tried."""
    lines = []
    for provider in get_providers():
        if not set(provider.tasks()) - {TEXT}:
            continue
        service, country = _where(provider)
        line = _("%(service)s, %(country)s") % {"service": service, "country": country}
        if line not in lines:
            lines.append(line)
    return lines
