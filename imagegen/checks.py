"""System checks: a wrong IMAGEGEN_PROVIDERS (or IMAGEGEN_TIERS) stops `manage.py check`, the
server and workers."""

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
    # With tiers, the providers are the ones IMAGEGEN_TIERS names: say where to fix them.
    where = "IMAGEGEN_TIERS" if settings.IMAGEGEN_TIERS else "IMAGEGEN_PROVIDERS"
    return [
        checks.Error(
            problem.replace("IMAGEGEN_PROVIDERS", where),
            hint=f"Use one of {', '.join(sorted(REGISTRY))}, or a provider class's dotted path.",
            id="imagegen.E002",
        )
        for problem in configuration_errors(names)
    ]


@checks.register(checks.Tags.security, "safety", deploy=True)
def check_safety(app_configs, **kwargs):
    """`check --deploy`: anyone can sign up, and no image safety check looks at the results."""
    from . import safety

    warning = safety.off_by_default_warning()
    if not warning:
        return []
    return [
        checks.Warning(
            warning,
            hint="README, Safety: what the check does and what it costs.",
            id="imagegen.W001",
        )
    ]


@checks.register("translation", deploy=True)
def check_translation(app_configs, **kwargs):
    """`check --deploy`: PROMPT_TRANSLATION is auto and no token lets it translate."""
    from . import translation

    warning = translation.off_by_default_warning()
    if not warning:
        return []
    return [
        checks.Warning(
            warning,
            hint="README, Prompt translation: what it does and what it costs.",
            id="imagegen.W002",
        )
    ]


@checks.register()
def check_truncated_images_refused(app_configs, **kwargs):
    """Pillow must refuse truncated image data: uploads and providers' images rely on it."""
    from . import decoding

    if decoding.truncated_images_refused():
        return []
    return [
        checks.Error(
            "PIL.ImageFile.LOAD_TRUNCATED_IMAGES is on: truncated photos and images would be "
            "filled in and accepted.",
            hint="Something imported by the site turned it on; find it and leave it off.",
            id="imagegen.E003",
        )
    ]


@checks.register(checks.Tags.security, "licences", deploy=True)
def check_model_licences(app_configs, **kwargs):
    """`check --deploy` (or `--tag licences`): with IMAGEGEN_COMMERCIAL_USE=true, a configured
    model whose Hub card's licence forbids commercial use."""
    from . import licences

    return [
        checks.Warning(
            warning,
            hint="README, Marks: which models an operator may use.",
            id="imagegen.W031",
        )
        for warning in licences.commercial_use_warnings()
    ]
