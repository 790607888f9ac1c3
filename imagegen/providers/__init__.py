"""Image providers, chosen by name in IMAGEGEN_PROVIDERS (an ordered list, first one first).

Like Django's EMAIL_BACKEND, a short name maps to a dotted path loaded with `import_string`
(a dotted path to an ImageProvider subclass is accepted too, for providers of your own);
callers use `get_providers()` and the `ImageProvider` interface, never a concrete module.
"""

from collections.abc import Iterable
from functools import cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from .base import ImageProvider

REGISTRY = {
    "hf_inference": "imagegen.providers.hf.HFInferenceProvider",
    "hf_endpoint": "imagegen.providers.hf.HFEndpointProvider",
    "gradio_space": "imagegen.providers.gradio_space.GradioSpaceProvider",
    "local_diffusers": "imagegen.providers.local_diffusers.LocalDiffusersProvider",
    "demo": "imagegen.providers.demo.DemoProvider",
}


def _provider_class(name):
    path = REGISTRY.get(name, name)
    try:
        cls = import_string(path)
    except ImportError as exc:
        known = ", ".join(sorted(REGISTRY))
        raise ImproperlyConfigured(
            f"IMAGEGEN_PROVIDERS names an unknown provider {name!r}; known providers: {known}."
        ) from exc
    if not (isinstance(cls, type) and issubclass(cls, ImageProvider)):
        raise ImproperlyConfigured(f"IMAGEGEN_PROVIDERS: {name!r} is not an ImageProvider.")
    reason = cls.unavailable_reason()
    if reason:
        raise ImproperlyConfigured(f"IMAGEGEN_PROVIDERS names {name}, but {reason}")
    return cls


def configuration_errors(names: Iterable[str]) -> list[str]:
    """What is wrong with a list of provider names, as sentences (empty when all is well)."""
    problems = []
    for name in names:
        try:
            _provider_class(name)
        except ImproperlyConfigured as exc:
            problems.append(str(exc))
    return problems


@cache
def _provider(name):
    # One instance per process: clients that are costly to build are built once per worker.
    return _provider_class(name)()


def forget_instances() -> None:
    """Drop the per-process instances, so the next call builds them from the settings now."""
    _provider.cache_clear()


def get_provider(name: str) -> ImageProvider:
    """One provider by name (configured or not), as the task would use it."""
    return _provider(name)


def get_providers() -> list[ImageProvider]:
    """The configured providers, in the order they are tried."""
    return [_provider(name) for name in settings.IMAGEGEN_PROVIDERS]


def available_tasks() -> frozenset[str]:
    """The tasks (text, edit, try_on) some configured provider can do: what is offered."""
    return frozenset().union(*(provider.tasks() for provider in get_providers()))
