"""System checks: a wrong IMAGEGEN_PROVIDERS stops `manage.py check`, the server and workers."""

from django.conf import settings
from django.core import checks

from .providers import REGISTRY, configuration_errors


@checks.register()
def check_providers(app_configs, **kwargs):
    names = settings.IMAGEGEN_PROVIDERS
    if not names:
        return [
            checks.Error(
                "IMAGEGEN_PROVIDERS is empty.",
                hint="Name at least one provider, e.g. IMAGEGEN_PROVIDERS=demo.",
                id="imagegen.E001",
            )
        ]
    return [
        checks.Error(
            problem,
            hint=f"Use one of {', '.join(sorted(REGISTRY))}, or a provider class's dotted path.",
            id="imagegen.E002",
        )
        for problem in configuration_errors(names)
    ]
