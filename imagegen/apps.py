"""App configuration: registers the settings checks and resets providers on setting changes."""

from django.apps import AppConfig
from django.core.signals import setting_changed


def _reset_providers(*, setting, **kwargs):
    if setting.startswith(("IMAGEGEN_", "HF_", "HUGGINGFACE_", "GRADIO_", "LOCAL_")):
        from .providers import forget_instances

        forget_instances()


class ImagegenConfig(AppConfig):
    name = "imagegen"
    verbose_name = "Image generation"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import checks  # noqa: F401  (registers the system checks)

        setting_changed.connect(_reset_providers)
        from . import webhooks
        from .services import trips

        webhooks.on_generation_ended(trips.generation_ended)
