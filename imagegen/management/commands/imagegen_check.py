"""Check each configured image provider and say, for each problem, what to do about it."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from imagegen import licences, media, safety, services, tiers, translation
from imagegen.providers import get_providers
from imagegen.providers.base import TASKS
from lib.redaction import redact


class Command(BaseCommand):
    help = (
        "Check every provider in IMAGEGEN_PROVIDERS, in order: token present and valid, model "
        "reachable, Space running; each Hub model's licence (from its card); then that images "
        "can be written, read and deleted where MEDIA_STORAGE keeps them; and, when "
        "PROMPT_TRANSLATION is on, that the translation model can be used. Exits non-zero "
        "when the first provider cannot serve, images cannot be stored or prompts cannot be "
        "translated."
    )

    def handle(self, *args, **options):
        providers = get_providers()
        token = "set" if settings.HUGGINGFACE_API_TOKEN else "not set"
        self.stdout.write(f"HUGGINGFACE_API_TOKEN: {token}")
        first_problems = None
        for position, provider in enumerate(providers, start=1):
            label = f"{position}. {provider.name}"
            if provider.model:
                label += f" ({provider.model})"
            try:
                problems = provider.check()
            except Exception as exc:  # a check that crashes is itself a finding, not a stop
                problems = [(f"The check itself failed: {type(exc).__name__}: {exc}", "")]
            cooldown = services.active_cooldown(provider.name)
            if not problems:
                self.stdout.write(self.style.SUCCESS(f"{label}: OK"))
            else:
                self.stdout.write(self.style.ERROR(f"{label}: {len(problems)} problem(s)"))
                for problem, fix in problems:
                    self.stdout.write(f"   ✗ {problem}")
                    if fix:
                        self.stdout.write(f"     → {fix}")
            if cooldown:
                self.stdout.write(
                    f"   ⏸ cooling down until {cooldown.until:%Y-%m-%d %H:%M %Z}: "
                    f"{cooldown.reason.splitlines()[0] if cooldown.reason else ''}"
                )
            if first_problems is None:
                first_problems = problems
        self.report_tasks(providers)
        self.report_licences()
        storage_problems = media.check_storage()
        where = (
            f"bucket {settings.AWS_STORAGE_BUCKET_NAME}" if media.uses_bucket() else "local folder"
        )
        if storage_problems:
            self.stdout.write(self.style.ERROR(f"Image storage ({where}): cannot store images"))
            for problem, fix in storage_problems:
                self.stdout.write(f"   ✗ {problem}")
                self.stdout.write(f"     → {fix}")
        else:
            self.stdout.write(
                self.style.SUCCESS(f"Image storage ({where}): OK (write, read, delete)")
            )
        translation_problems = self.check_translation()
        safety_problems = self.check_safety()
        if first_problems:
            raise CommandError(
                f"The first provider, {providers[0].name}, cannot serve: fix the problems above."
            )
        if storage_problems:
            raise CommandError("Images cannot be stored: fix the storage problem above.")
        if translation_problems:
            raise CommandError(
                "Korean prompts cannot be translated: fix the problem above, or set "
                "PROMPT_TRANSLATION=off."
            )
        if safety_problems:
            raise CommandError(
                "The image safety check cannot look at images: fix the problem above (or "
                "results will be held for review, with IMAGEGEN_SAFETY_ON_ERROR=hold)."
            )

    def report_tasks(self, providers):
        """Which provider does each task (the form and the API offer only those done), and the
        limits uploaded photos are held to."""
        for task in TASKS:
            doers = [provider.name for provider in providers if task in provider.tasks()]
            said = ", ".join(doers) if doers else "no provider: not offered"
            self.stdout.write(f"Task {task}: {said}")
        default = tiers.default_tier()
        for tier in tiers.tiers():
            chain = " → ".join(tier.providers)
            mark = " (default)" if tier == default else ""
            self.stdout.write(
                f"Tier {tier.name}{mark}: {chain}, {tier.units} unit"
                f"{'' if tier.units == 1 else 's'} a picture"
            )
        self.stdout.write(
            f"Uploads: at most {settings.IMAGEGEN_UPLOAD_MAX_BYTES / 1024 / 1024:.1f} MB and "
            f"{settings.IMAGEGEN_UPLOAD_MAX_PIXELS / 1_000_000:g} megapixels "
            f"(IMAGEGEN_UPLOAD_MAX_BYTES, IMAGEGEN_UPLOAD_MAX_PIXELS), "
            f"{settings.IMAGEGEN_UPLOADS_PER_DAY} a day per user (IMAGEGEN_UPLOADS_PER_DAY), "
            f"kept {settings.IMAGEGEN_UPLOAD_RETENTION_DAYS} days after their last use "
            "(IMAGEGEN_UPLOAD_RETENTION_DAYS)"
        )

    def report_licences(self):
        """Each configured Hub model's licence, from its card; with IMAGEGEN_COMMERCIAL_USE=true,
        a warning for each that forbids commercial use (a warning: the command still passes)."""
        commercial = settings.IMAGEGEN_COMMERCIAL_USE
        for model in licences.configured_models():
            licence = model.licence or "unknown (its Hub card names none, or could not be read)"
            line = f"Licence of {model.repo} ({model.provider}): {licence}"
            if not model.forbids_commercial_use:
                self.stdout.write(line)
            elif commercial:
                self.stdout.write(
                    self.style.WARNING(
                        f"{line}: forbids commercial use, and IMAGEGEN_COMMERCIAL_USE=true"
                    )
                )
            else:
                self.stdout.write(f"{line} (non-commercial use only)")

    def check_safety(self):
        """Try the safety classifier on a small picture; its problems."""
        current = safety.mode()
        if current == safety.OFF:
            warning = safety.off_by_default_warning()
            self.stdout.write("Image safety check: off" + (f" ({warning})" if warning else ""))
            return []
        label = f"Image safety check ({current}, {settings.IMAGEGEN_SAFETY_MODEL})"
        return self.report(label, safety.problems)

    def check_translation(self):
        """Say whether prompts can be translated as PROMPT_TRANSLATION asks; the problems."""
        if not translation.is_on():
            warning = translation.off_by_default_warning()
            self.stdout.write("Prompt translation: off" + (f" ({warning})" if warning else ""))
            return []
        label = f"Prompt translation ({translation.mode()}, {settings.HF_TRANSLATION_MODEL})"
        return self.report(label, translation.check)

    def report(self, label, check):
        """Run one optional part's check and print its problems; returns them."""
        try:
            problems = check()
        except Exception as exc:  # a check that crashes is itself a finding
            problems = [(redact(f"The check itself failed: {type(exc).__name__}: {exc}"), "")]
        if not problems:
            self.stdout.write(self.style.SUCCESS(f"{label}: OK"))
            return []
        self.stdout.write(self.style.ERROR(f"{label}: {len(problems)} problem(s)"))
        for problem, fix in problems:
            self.stdout.write(f"   ✗ {problem}")
            if fix:
                self.stdout.write(f"     → {fix}")
        return problems
