"""Queue generations from the shell, through the same checks and quota as the web form."""

import shutil
import time
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from imagegen import media, services
from imagegen.forms import GenerationForm
from imagegen.models import Generation, Preset
from imagegen.providers import get_provider

MAX_COUNT = 50


class Command(BaseCommand):
    help = "Queue image generations for a user; with --wait, block until workers finish them."

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
            "--provider",
            default="",
            help="Ask only this provider (e.g. demo, hf_inference), not the tier's chain.",
        )
        parser.add_argument(
            "--tier",
            default="",
            help="The quality tier (IMAGEGEN_TIERS; default: IMAGEGEN_DEFAULT_TIER), charged "
            "its units.",
        )
        parser.add_argument(
            "--count", type=int, default=1, help=f"How many to queue (1–{MAX_COUNT})."
        )
        parser.add_argument(
            "--wait", action="store_true", help="Wait for workers to finish (needs qcluster)."
        )
        parser.add_argument(
            "--out",
            default="",
            metavar="FILE",
            help="With --wait, copy the PNG here (with --count, FILE-1.png, FILE-2.png, …).",
        )
        parser.add_argument(
            "--timeout", type=float, default=900, help="Seconds to wait with --wait (default 900)."
        )

    def handle(self, *args, **options):
        owner = self._owner(options["user"])
        if not 1 <= options["count"] <= MAX_COUNT:
            raise CommandError(f"--count must be between 1 and {MAX_COUNT}.")
        if options["out"] and not options["wait"]:
            raise CommandError("--out needs --wait: the image exists only once a worker made it.")
        provider = options["provider"]
        if provider:
            try:
                get_provider(provider)
            except ImproperlyConfigured as exc:
                raise CommandError(f"--provider: {exc}") from exc
        form = GenerationForm(self._form_data(options))
        if not form.is_valid():
            problems = "; ".join(
                f"{field}: {' '.join(errors)}" for field, errors in form.errors.items()
            )
            raise CommandError(f"Nothing was queued. {problems}")
        generations = []
        for _ in range(options["count"]):
            try:
                generation = services.submit_generation(
                    user=owner, only_provider=provider, **form.generation_kwargs()
                )
            except services.SubmissionRefused as exc:
                if generations:
                    done = f"{len(generations)} queued, then nothing more."
                else:
                    done = "Nothing was queued."
                raise CommandError(f"{done} {exc}") from exc
            generations.append(generation)
            self.stdout.write(f"Queued generation {generation.pk}.")
        if options["wait"]:
            self._wait(generations, timeout=options["timeout"], out=options["out"])

    def _owner(self, username):
        User = get_user_model()
        try:
            return User.objects.get(username=username)
        except User.DoesNotExist as exc:
            raise CommandError(f"No user named {username!r}.") from exc

    def _form_data(self, options):
        defaults = GenerationForm().fields
        preset_id = ""
        if options["preset"]:
            found = Preset.objects.filter(name__iexact=options["preset"], active=True).first()
            if found is None:
                names = ", ".join(Preset.objects.filter(active=True).values_list("name", flat=True))
                raise CommandError(f"No preset named {options['preset']!r}. Presets: {names}.")
            preset_id = found.pk
        width, height = options["width"], options["height"]
        return {
            "tier": options["tier"],
            "prompt": options["prompt"],
            "negative_prompt": options["negative"],
            "preset": preset_id,
            "aspect": options["aspect"] or ("custom" if width or height else ""),
            "width": width or defaults["width"].initial,
            "height": height or defaults["height"].initial,
            "seed": options["seed"] or "",
        }

    def _say_where(self, generation):
        """The image's file on this machine, or its name in the bucket and a signed link."""
        if not media.uses_bucket():
            self.stdout.write(f"Image: {generation.image.path}")
            return
        self.stdout.write(
            f"Image: {generation.image.name} in bucket {settings.AWS_STORAGE_BUCKET_NAME}"
        )
        link = media.signed_url(generation.image, content_type=generation.image_content_type)
        self.stdout.write(f"Link (valid {settings.IMAGEGEN_SIGNED_URL_TTL} s): {link}")

    def _wait(self, generations, *, timeout, out):
        deadline = time.monotonic() + timeout
        pending = {generation.pk for generation in generations}
        while pending:
            pending = set(
                Generation.objects.filter(pk__in=pending, status__in=Generation.ACTIVE).values_list(
                    "pk", flat=True
                )
            )
            if pending and time.monotonic() > deadline:
                raise CommandError(
                    f"{len(pending)} still not done after {timeout:g} s: is a worker running "
                    "(python manage.py qcluster)?"
                )
            if pending:
                time.sleep(0.25)
        failed = []
        for number, generation in enumerate(generations, start=1):
            generation.refresh_from_db()
            self.stdout.write(f"Status: {generation.status}")
            if generation.status != Generation.Status.SUCCEEDED:
                failed.append(generation)
                continue
            self._say_where(generation)
            if out:
                target = Path(out)
                if len(generations) > 1:
                    target = target.with_name(f"{target.stem}-{number}{target.suffix or '.png'}")
                try:
                    # Through the storage API: the file may be on this disk or in the bucket.
                    with generation.image.open("rb") as source, target.open("wb") as copy:
                        shutil.copyfileobj(source, copy)
                except OSError as exc:
                    raise CommandError(f"Could not write {target}: {exc}") from exc
                self.stdout.write(f"Saved: {target}")
        if failed:
            first = failed[0]
            raise CommandError(
                f"Generation {first.status}: {first.error_message}"
                + (f" ({len(failed)} of {len(generations)} failed)" if len(generations) > 1 else "")
            )
