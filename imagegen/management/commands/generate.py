"""Queue one generation from the shell, through the same checks and quota as the web form."""

import time

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from imagegen import services
from imagegen.forms import GenerationForm
from imagegen.models import Generation, Preset


class Command(BaseCommand):
    help = "Queue an image generation for a user; with --wait, block until a worker finishes it."

    def add_arguments(self, parser):
        parser.add_argument("prompt", help="What to draw.")
        parser.add_argument("--user", required=True, help="Username of the owner.")
        parser.add_argument("--negative", default="", help="Negative prompt.")
        parser.add_argument(
            "--aspect",
            default="",
            help="square (default), portrait, landscape or wide; or give --width/--height.",
        )
        parser.add_argument("--width", default=None, help="Width in pixels (a custom size).")
        parser.add_argument("--height", default=None, help="Height in pixels (a custom size).")
        parser.add_argument("--preset", default="", help="Name of a travel preset.")
        parser.add_argument("--seed", default=None, help="Seed (empty: random).")
        parser.add_argument(
            "--wait", action="store_true", help="Wait for a worker to finish it (needs qcluster)."
        )
        parser.add_argument(
            "--timeout", type=float, default=900, help="Seconds to wait with --wait (default 900)."
        )

    def handle(
        self,
        *args,
        prompt,
        user,
        negative,
        aspect,
        width,
        height,
        preset,
        seed,
        wait,
        timeout,
        **options,
    ):
        try:
            owner = get_user_model().objects.get(username=user)
        except get_user_model().DoesNotExist as exc:
            raise CommandError(f"No user named {user!r}.") from exc
        defaults = GenerationForm().fields
        preset_id = ""
        if preset:
            found = Preset.objects.filter(name__iexact=preset, active=True).first()
            if found is None:
                names = ", ".join(Preset.objects.filter(active=True).values_list("name", flat=True))
                raise CommandError(f"No preset named {preset!r}. Presets: {names}.")
            preset_id = found.pk
        form = GenerationForm(
            {
                "prompt": prompt,
                "negative_prompt": negative,
                "preset": preset_id,
                "aspect": aspect or ("custom" if width or height else ""),
                "width": width or defaults["width"].initial,
                "height": height or defaults["height"].initial,
                "seed": seed or "",
            }
        )
        if not form.is_valid():
            problems = "; ".join(
                f"{field}: {' '.join(errors)}" for field, errors in form.errors.items()
            )
            raise CommandError(f"Nothing was queued. {problems}")
        try:
            generation = services.submit_generation(user=owner, **form.generation_kwargs())
        except (
            services.QuotaExceeded,
            services.PromptBlocked,
            services.BudgetExhausted,
        ) as exc:
            raise CommandError(f"Nothing was queued. {exc}") from exc
        self.stdout.write(f"Queued generation {generation.pk}.")
        if not wait:
            return
        deadline = time.monotonic() + timeout
        while True:
            generation.refresh_from_db()
            if not generation.is_active:
                break
            if time.monotonic() > deadline:
                raise CommandError(
                    f"Still {generation.status} after {timeout:g} s: is a worker running "
                    "(python manage.py qcluster)?"
                )
            time.sleep(0.25)
        self.stdout.write(f"Status: {generation.status}")
        if generation.status != Generation.Status.SUCCEEDED:
            raise CommandError(f"Generation {generation.status}: {generation.error_message}")
        self.stdout.write(f"Image: {generation.image.path}")
