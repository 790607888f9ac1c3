"""TravelFit's data: generations and the per-user quota that limits them."""

import re
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _

# The largest seed every supported pipeline accepts (the SD 3.5 Space uses int32's maximum).
MAX_SEED = 2**31 - 1
# At most this many characters of the prompt's words in a download's file name.
DOWNLOAD_NAME_WORDS = 40


def default_daily_limit():
    return settings.IMAGEGEN_DAILY_QUOTA


def default_monthly_limit():
    return settings.IMAGEGEN_MONTHLY_QUOTA


class Quota(models.Model):
    """How many generations a user may start per day and per month, and how many they have.

    The counters belong to a period (`day`, and `month` as its first day); a reservation in a
    new period starts its counter again. Reservation and refund are single conditional UPDATEs
    in `imagegen.services`, so concurrent submissions can never overshoot a limit.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="quota"
    )
    daily_limit = models.PositiveIntegerField(default=default_daily_limit)
    monthly_limit = models.PositiveIntegerField(default=default_monthly_limit)
    day = models.DateField(null=True, blank=True, help_text="The day day_used counts.")
    day_used = models.PositiveIntegerField(default=0)
    month = models.DateField(
        null=True, blank=True, help_text="First day of the month month_used counts."
    )
    month_used = models.PositiveIntegerField(default=0)
    bonus_credits = models.PositiveIntegerField(
        default=0, help_text="Extra generations, used when a daily or monthly limit is reached."
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(day_used__gte=0) & Q(month_used__gte=0), name="quota_used_not_negative"
            ),
        ]

    def __str__(self):
        return f"Quota of {self.user}"

    def used_today(self, today):
        return self.day_used if self.day == today else 0

    def used_this_month(self, month):
        return self.month_used if self.month == month else 0


class Aspect(models.TextChoices):
    """Picture shapes offered on the form; pixel sizes come from the provider's capabilities."""

    SQUARE = "square", _("Square")
    PORTRAIT = "portrait", _("Portrait")
    LANDSCAPE = "landscape", _("Landscape")
    WIDE = "wide", _("Wide")


# width : height of each aspect
ASPECT_RATIOS = {
    Aspect.SQUARE: (1, 1),
    Aspect.PORTRAIT: (3, 4),
    Aspect.LANDSCAPE: (4, 3),
    Aspect.WIDE: (16, 9),
}


class Preset(models.Model):
    """A travel style admins manage: it wraps the user's words in a template.

    The template holds `{prompt}` where the user's text goes; the negative prompt is added to
    the user's own; the aspect chooses the picture's shape.
    """

    name = models.CharField(max_length=80, unique=True)
    description = models.CharField(max_length=200, blank=True)
    template = models.TextField(
        help_text="The prompt sent; {prompt} is replaced by the user's text."
    )
    negative_prompt = models.TextField(blank=True)
    aspect = models.CharField(max_length=16, choices=Aspect, default=Aspect.SQUARE)
    position = models.PositiveSmallIntegerField(default=0, help_text="Order on the form.")
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["position", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(template__contains="{prompt}"), name="preset_template_has_prompt"
            ),
        ]

    def __str__(self):
        return self.name

    @property
    def display_name(self):
        """The name in the reader's language: the shipped presets are in the catalogue."""
        return gettext(self.name)

    @property
    def display_description(self):
        return gettext(self.description) if self.description else ""

    def apply(self, text):
        """The prompt sent for the user's text."""
        return self.template.replace("{prompt}", text.strip())


# The presets migration 0004 ships, for the catalogue (Preset.display_name translates them).
SHIPPED_PRESET_TEXTS = (
    gettext_noop("Travel postcard"),
    gettext_noop("A sunny vintage postcard of a place."),
    gettext_noop("Outfit lookbook"),
    gettext_noop("What to wear: name the destination and the season."),
    gettext_noop("Street photo"),
    gettext_noop("A candid documentary shot."),
    gettext_noop("Watercolour map"),
    gettext_noop("An illustrated map of a trip."),
)


def image_path(generation, filename):
    """The image as the provider sent it: .png, .jpg or .webp, from the name it is saved under."""
    extension = filename.rsplit(".", 1)[-1] if "." in filename else "png"
    return f"generations/{generation.owner_id}/{generation.pk}.{extension}"


def thumbnail_path(generation, filename):
    return f"generations/{generation.owner_id}/{generation.pk}.thumb.webp"


def labelled_path(generation, filename):
    """The copy with the visible label burnt in, beside the original."""
    extension = filename.rsplit(".", 1)[-1] if "." in filename else "png"
    return f"generations/{generation.owner_id}/{generation.pk}.labelled.{extension}"


def upload_path(upload, filename):
    """Where a photo's clean copy is kept: .jpg or .png, from the name it is saved under."""
    extension = filename.rsplit(".", 1)[-1] if "." in filename else "jpg"
    return f"uploads/{upload.owner_id}/{upload.pk}.{extension}"


class Upload(models.Model):
    """A photo a user uploaded to edit, or to try an outfit on: the re-encoded copy with no
    metadata (imagegen.uploads), kept privately like generated images (no URL maps onto it).

    Kept until `expires_at`: a day after the upload while no generation uses it,
    IMAGEGEN_UPLOAD_RETENTION_DAYS after the last one that did (services.uploads). The
    generations made from it keep their results and lose the link.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="uploads"
    )
    image = models.FileField(upload_to=upload_path, max_length=255)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    content_type = models.CharField(max_length=32)
    created_at = models.DateTimeField(default=timezone.now)
    used_at = models.DateTimeField(
        null=True, blank=True, help_text="When a generation last used it."
    )
    expires_at = models.DateTimeField(db_index=True, help_text="It is deleted then.")

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["owner", "-created_at"], name="upload_owner_recent")]
        constraints = [
            models.CheckConstraint(
                condition=Q(width__gt=0) & Q(height__gt=0), name="upload_size_positive"
            ),
        ]

    def __str__(self):
        return f"Photo {self.width}×{self.height} of {self.owner}"


class GenerationTask(models.TextChoices):
    TEXT = "text", _("From words")
    EDIT = "edit", _("Edit my photo")
    TRY_ON = "try_on", _("Try an outfit on")


# The photos each task takes: the one to edit, or the person and the garment for a try-on.
PHOTOS_OF_TASK = {
    GenerationTask.TEXT: (),
    GenerationTask.EDIT: ("source_image",),
    GenerationTask.TRY_ON: ("source_image", "garment_image"),
}


class GenerationStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Done")
    FAILED = "failed", _("Failed")
    CANCELED = "canceled", _("Canceled")
    # Made, but the safety check flagged it (or could not look): nobody but staff sees it
    # until a person approves it (then succeeded) or rejects it (then rejected).
    HELD = "held", _("In review")
    REJECTED = "rejected", _("Removed")


class Generation(models.Model):
    """One request for an image: its parameters, its progress, and its result or failure."""

    Status = GenerationStatus
    Task = GenerationTask
    ACTIVE = (Status.QUEUED, Status.RUNNING)
    # Every file a generation keeps: deleting it, its owner or old work removes all of them.
    FILE_FIELDS = ("image", "thumbnail", "labelled_image")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="generations"
    )
    prompt = models.TextField(help_text="The prompt sent, the preset's template applied.")
    negative_prompt = models.TextField(blank=True)
    # English for the image model when the prompt had Korean in it (imagegen/translation.py).
    # db_default as well: bench/run.py inserts rows with raw SQL that does not name these.
    prompt_en = models.TextField(
        blank=True, default="", db_default="", help_text="The prompt in English, as sent."
    )
    negative_prompt_en = models.TextField(blank=True, default="", db_default="")
    translation_note = models.TextField(
        blank=True,
        default="",
        db_default="",
        help_text="Shown to the user: how the words were translated, or why they were not.",
    )
    translate_prompt = models.BooleanField(
        default=True,
        db_default=True,
        help_text="False when the user ticked 'Send my words as they are'.",
    )
    preset = models.ForeignKey(Preset, null=True, blank=True, on_delete=models.SET_NULL)
    preset_input = models.TextField(
        blank=True, help_text="With a preset, the user's own words that went into its template."
    )
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    steps = models.PositiveSmallIntegerField(null=True, blank=True)
    guidance = models.FloatField(null=True, blank=True)
    seed = models.PositiveIntegerField(
        null=True, blank=True, help_text="The seed the user asked for; empty means random."
    )
    actual_seed = models.PositiveIntegerField(
        null=True, blank=True, help_text="The seed the image was made with."
    )
    status = models.CharField(max_length=16, choices=Status, default=Status.QUEUED)
    provider = models.CharField(max_length=64, blank=True, help_text="Provider that served it.")
    model_name = models.CharField(max_length=200, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    recoveries = models.PositiveSmallIntegerField(
        default=0, help_text="Times it was put back in the queue after its worker died."
    )
    enqueued_at = models.DateTimeField(
        null=True, blank=True, help_text="When its task was last handed to the broker."
    )
    claim = models.UUIDField(
        null=True, blank=True, editable=False, help_text="The running worker's claim on it."
    )
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="Last sign of life from the worker making it."
    )
    error_message = models.TextField(blank=True, help_text="Shown to the user.")
    error_detail = models.TextField(blank=True, help_text="For admins only.")
    failure_class = models.CharField(
        max_length=32, blank=True, help_text="The kind of failure (misconfigured, out_of_quota…)."
    )
    adaptations = models.TextField(
        blank=True, help_text="How the request was fitted to the provider that served it."
    )
    image = models.FileField(upload_to=image_path, blank=True, max_length=255)
    thumbnail = models.FileField(upload_to=thumbnail_path, blank=True, max_length=255)
    # The marks (imagegen/marks/): the id the invisible watermark carries (24 bits, unique, so
    # /verify can link a stripped copy back to its owner's generation), the copy with the
    # visible label burnt in (IMAGEGEN_VISIBLE_LABEL=files), and whether the owner asked for
    # the prompt to be written into the content credentials.
    mark_id = models.PositiveIntegerField(
        null=True, blank=True, unique=True, help_text="The id its invisible watermark carries."
    )
    labelled_image = models.FileField(
        upload_to=labelled_path, blank=True, default="", db_default="", max_length=255
    )
    include_prompt = models.BooleanField(
        default=False,
        db_default=False,
        help_text="The owner asked for the prompt in the image's content credentials.",
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    favourite = models.BooleanField(default=False)
    share_token = models.CharField(max_length=64, null=True, blank=True, unique=True)
    # The quality tier chosen (imagegen.tiers) and the quota units it reserved: its price.
    tier = models.CharField(
        max_length=32, default="standard", db_index=True, help_text="The quality tier chosen."
    )
    units = models.PositiveIntegerField(
        default=1, help_text="Quota units this generation reserved (its tier's price)."
    )
    # The id of the request that queued it (lib.request_id): its worker's and its
    # webhooks' log lines carry it too, so one grep finds its whole story.
    request_id = models.CharField(max_length=100, blank=True, default="")
    # Its units of quota are held while charged is true; services.refund() clears it once.
    charged = models.BooleanField(default=False)
    charged_day = models.DateField(null=True, blank=True)
    charged_month = models.DateField(null=True, blank=True)
    charged_bonus = models.BooleanField(
        default=False, help_text="Paid with bonus credits rather than the day's and month's."
    )
    only_provider = models.CharField(
        max_length=200, blank=True, help_text="Ask only this provider (set by an operator)."
    )
    estimated_cost = models.DecimalField(
        max_digits=10,
        decimal_places=4,
        default=0,
        help_text="US dollars, from the settings' prices.",
    )
    # Webhooks (imagegen/webhooks.py): called when it ends, signed with the key's secret.
    callback_url = models.URLField(
        max_length=2000,
        blank=True,
        default="",
        db_default="",
        help_text="Called with its final state when it ends (the request's, or its key's default).",
    )
    api_token = models.ForeignKey(
        "ApiToken",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="generations",
        help_text="The API key it was submitted with; its secret signs the webhook.",
    )
    # What it asks for: a picture from words, the user's photo edited, or an outfit tried on;
    # the photos are the user's uploads (gone after their retention: the result stays).
    task = models.CharField(
        max_length=16, choices=GenerationTask, default=GenerationTask.TEXT, db_default="text"
    )
    source_image = models.ForeignKey(
        Upload,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The photo edited, or the person for a try-on.",
    )
    garment_image = models.ForeignKey(
        Upload,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The garment, for a try-on.",
    )
    # Edit again (issue 32): the result an edit was made from, and the first picture of its
    # chain (null for a picture that continues none). Deleting a version keeps its children:
    # they stay in the chain through chain_root (delete_generation re-parents them).
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="children",
        help_text="The result this edit was made from.",
    )
    chain_root = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="chain_members",
        help_text="The first picture of the chain of edits it belongs to.",
    )
    from_original = models.BooleanField(
        default=False,
        db_default=False,
        help_text="Made from the chain's first photo with all its instructions, not the parent.",
    )
    # The image safety check (imagegen/safety.py): the classifier's scores, and for admins what
    # it decided or why it could not; a person's review of a held image or a reported share.
    safety_scores = models.JSONField(
        null=True, blank=True, help_text="The safety classifier's label scores."
    )
    safety_note = models.TextField(
        blank=True, default="", db_default="", help_text="What the safety check found (admins)."
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    share_suspended_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Reports suspended its share link until a review.",
    )
    # The API's and the webhook's absolute links start here when SITE_URL is empty
    # (presenters.link_base); empty for one made by a command.
    origin = models.CharField(
        max_length=255,
        blank=True,
        default="",
        db_default="",
        help_text="scheme://host of the request that made it.",
    )
    # The language of the request that made it: its webhooks speak it (the API's texts are in
    # the language the integrator asked for, whatever the owner's profile says).
    language = models.CharField(
        max_length=8,
        blank=True,
        default="",
        db_default="",
        help_text="The language of the request that made it; its webhooks are in it.",
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["owner", "-created_at"], name="generation_gallery"),
            models.Index(fields=["status", "created_at"], name="generation_queue"),
            # A month's costs from the index alone (usage reports; the budget reads MonthlySpend).
            models.Index(fields=["finished_at", "estimated_cost"], name="generation_spending"),
            # The admin's list, newest first (with Django's tie-break on the key), at any size.
            models.Index(fields=["-created_at", "-id"], name="generation_recent"),
            # A chain's versions by its first picture's id (its own for the first), by status
            # and age: the gallery's one card per chain (selectors.gallery_cards).
            models.Index(
                Coalesce("chain_root", "id"), "status", "created_at", name="generation_chain"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=GenerationStatus.values),
                name="generation_status_known",
            ),
            models.CheckConstraint(
                condition=Q(width__gt=0) & Q(height__gt=0), name="generation_size_positive"
            ),
            models.CheckConstraint(
                condition=Q(seed__isnull=True) | Q(seed__lte=MAX_SEED),
                name="generation_seed_in_range",
            ),
            models.CheckConstraint(
                condition=~Q(status="succeeded") | ~Q(image=""),
                name="generation_succeeded_has_image",
            ),
            models.CheckConstraint(
                condition=Q(task__in=GenerationTask.values), name="generation_task_known"
            ),
        ]

    def __str__(self):
        return f"{self.prompt[:50]} ({self.get_status_display()})"

    @property
    def is_active(self):
        return self.status in self.ACTIVE

    @property
    def is_demo(self):
        return self.provider == "demo"

    @property
    def uses_photos(self):
        return self.task != GenerationTask.TEXT

    @property
    def image_extension(self):
        return self.image.name.rsplit(".", 1)[-1] if self.image else "png"

    @property
    def image_content_type(self):
        from .images import CONTENT_TYPES

        return CONTENT_TYPES.get(self.image_extension, "application/octet-stream")

    @property
    def download_name(self):
        """ "travelfit-2026-12-04-jeju-island-at-sunrise.png": the day it was made (in the
        reader's time zone) and the first words of the user's own prompt, Hangul kept."""
        words = slugify(self.preset_input or self.prompt, allow_unicode=True)
        if len(words) > DOWNLOAD_NAME_WORDS:
            words = words[:DOWNLOAD_NAME_WORDS].rsplit("-", 1)[0]
        day = timezone.localdate(self.created_at).isoformat()
        stem = "-".join(part for part in ("travelfit", day, words) if part)
        return f"{stem}.{self.image_extension}"

    @property
    def duration(self):
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None


class MonthlySpend(models.Model):
    """The estimated dollars generations cost in one local month (settings.TIME_ZONE).

    Kept as a running total, added to in the same transaction that records a finished
    generation's cost (services.record_spending), so the budget is one row to read at any table
    size. Money spent stays spent: deleting a generation does not take its cost back out.
    """

    month = models.DateField(unique=True, help_text="First day of the month.")
    total = models.DecimalField(max_digits=14, decimal_places=4, default=0, help_text="US dollars.")

    class Meta:
        verbose_name = "monthly spend"

    def __str__(self):
        return f"{self.month:%Y-%m}: ${self.total:.2f}"


class ProviderCooldown(models.Model):
    """A provider that every worker skips until `until`: its quota, credits or rate ran out.

    Kept in the database so that all workers, on every machine, see the same state.
    """

    provider = models.CharField(max_length=200, unique=True)
    until = models.DateTimeField()
    reason = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "provider cool-down"

    def __str__(self):
        return f"{self.provider} until {self.until:%Y-%m-%d %H:%M}"

    @property
    def active(self):
        return self.until > timezone.now()


class ApiToken(models.Model):
    """A user's key for the JSON API. Only its SHA-256 is stored; the key is shown once."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=80)
    prefix = models.CharField(
        max_length=12, help_text="The key's first characters, to tell keys apart."
    )
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    default_callback_url = models.URLField(
        max_length=2000,
        blank=True,
        default="",
        db_default="",
        help_text="Webhook URL for generations submitted with this key that name none.",
    )
    # Kept in clear, unlike the key: signing needs it. Shown to its owner once, never logged,
    # never in the admin. Empty for keys made before webhooks existed (they cannot use them).
    webhook_secret = models.CharField(
        max_length=100, blank=True, default="", db_default="", editable=False
    )
    # The per-key rate limit's fixed window (imagegen/ratelimit.py), one conditional UPDATE.
    rate_window_start = models.DateTimeField(null=True, blank=True, editable=False)
    rate_count = models.PositiveIntegerField(default=0, db_default=0, editable=False)

    class Meta:
        verbose_name = "API token"

    def __str__(self):
        return f"{self.name} ({self.prefix}…) of {self.user}"


class BlockedPattern(models.Model):
    """A word or pattern admins refuse in prompts: matching prompts never reach a provider."""

    pattern = models.CharField(max_length=200, unique=True)
    is_regex = models.BooleanField(
        default=False, help_text="A Python regular expression; otherwise a word or phrase."
    )
    reason = models.CharField(
        max_length=200, blank=True, help_text="Shown to the user, e.g. 'No real people'."
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["pattern"]

    def __str__(self):
        return self.pattern

    def clean(self):
        if self.is_regex:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValidationError(
                    {"pattern": f"Not a valid regular expression: {exc}."}
                ) from exc

    def matches(self, text):
        if self.is_regex:
            return re.search(self.pattern, text, re.IGNORECASE) is not None
        if self.pattern.isascii():
            # A word or phrase on its own, so "ass" does not refuse "passport".
            expression = r"(?<!\w)" + re.escape(self.pattern) + r"(?!\w)"
            return re.search(expression, text, re.IGNORECASE) is not None
        # Korean and other scripts join particles to words: match anywhere.
        return self.pattern.casefold() in text.casefold()


class PromptRefusal(models.Model):
    """A prompt refused by the prompt policy, counted in usage reports."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="prompt_refusals"
    )
    pattern = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self):
        return f"{self.user} refused for {self.pattern!r}"


class WebhookOutcome(models.TextChoices):
    PENDING = "pending", "Sending"
    DELIVERED = "delivered", "Delivered (2xx)"
    RETRYING = "retrying", "Failed, will retry"
    GAVE_UP = "gave_up", "Failed, gave up"


class WebhookDelivery(models.Model):
    """One attempt to call a generation's callback URL (imagegen/webhooks.py).

    Attempts of one event share its `event_id` (the `webhook-id` header); (event, attempt) is
    unique, so a task the queue hands out twice sends the attempt once.
    """

    Outcome = WebhookOutcome

    generation = models.ForeignKey(
        Generation, on_delete=models.CASCADE, related_name="webhook_deliveries"
    )
    url = models.URLField(max_length=2000)
    event_id = models.CharField(max_length=64)
    event_type = models.CharField(max_length=40)
    attempt = models.PositiveSmallIntegerField()
    outcome = models.CharField(
        max_length=16, choices=WebhookOutcome, default=WebhookOutcome.PENDING
    )
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True, help_text="Why no 2xx came back (redacted).")
    response_excerpt = models.TextField(blank=True, help_text="The start of the answer (redacted).")
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "webhook delivery"
        verbose_name_plural = "webhook deliveries"
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["event_id", "attempt"], name="webhook_delivery_attempt_once"
            ),
            models.CheckConstraint(
                condition=Q(outcome__in=WebhookOutcome.values), name="webhook_outcome_known"
            ),
        ]
        indexes = [models.Index(fields=["-started_at"], name="webhook_delivery_recent")]

    def __str__(self):
        return f"{self.event_type} #{self.attempt} to {self.url} ({self.get_outcome_display()})"


class IdempotencyRecord(models.Model):
    """The first answer to a POST sent with an `Idempotency-Key` (imagegen/idempotency.py).

    One per (user, key): the unique constraint makes the first of two concurrent requests the
    only one that runs; the other is told the key is in use. Kept until `expires_at`.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="idempotency_records"
    )
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of method, path and body.")
    # Null while the first request is still being answered.
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_headers = models.JSONField(default=dict, blank=True)
    response_body = models.BinaryField(default=b"", blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    locked_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_once_per_user"),
        ]

    def __str__(self):
        return f"{self.key} of {self.user_id} ({self.response_status or 'in progress'})"


class ReportReason(models.TextChoices):
    SEXUAL = "sexual", _("Sexual content")
    VIOLENCE = "violence", _("Violence or gore")
    HATE = "hate", _("Hate or harassment")
    PRIVACY = "privacy", _("A person shown without their consent")
    OTHER = "other", _("Something else")


class ShareReport(models.Model):
    """A viewer's report of a shared image: one per image and voice. A voice is a signed-in
    account, or for a viewer who is not signed in an IPv4 address or an IPv6 /48, kept as a
    keyed digest only (services.review says when reports suspend the share link)."""

    Reason = ReportReason

    generation = models.ForeignKey(Generation, on_delete=models.CASCADE, related_name="reports")
    reason = models.CharField(max_length=16, choices=ReportReason)
    voice = models.CharField(
        max_length=64,
        help_text="A keyed digest of who reported: the account, else the address (IPv6: its /48).",
    )
    signed_in = models.BooleanField(
        default=False, help_text="Sent by a signed-in account, not an anonymous viewer."
    )
    created_at = models.DateTimeField(default=timezone.now)
    reviewed_at = models.DateTimeField(null=True, blank=True, help_text="Dealt with by a review.")

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["generation", "voice"], name="share_report_once_per_voice"
            ),
            models.CheckConstraint(
                condition=Q(reason__in=ReportReason.values), name="share_report_reason_known"
            ),
        ]

    def __str__(self):
        return f"{self.get_reason_display()} on {self.generation_id}"


class ReviewAction(models.TextChoices):
    APPROVE = "approve", "Approved"
    REJECT = "reject", "Rejected"


class ReviewDecision(models.Model):
    """A person's decision on a held image or a reported share: who, when, what. Kept when the
    generation is deleted (its id stays as text)."""

    Action = ReviewAction

    generation = models.ForeignKey(
        Generation, null=True, on_delete=models.SET_NULL, related_name="review_decisions"
    )
    generation_ref = models.CharField(max_length=36, help_text="The generation's id.")
    subject = models.CharField(
        max_length=16, help_text="held (an image the check flagged) or reported (a share link)."
    )
    action = models.CharField(max_length=16, choices=ReviewAction)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_by_name = models.CharField(max_length=150)
    decided_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-decided_at"]

    def __str__(self):
        who = self.decided_by_name
        return f"{self.get_action_display()} {self.subject} {self.generation_ref} by {who}"


class ReviewItem(Generation):
    """The admin's review queue: held images and reported shares (services.review). A proxy:
    the same rows as Generation, listed for a person's decision."""

    class Meta:
        proxy = True
        verbose_name = "image to review"
        verbose_name_plural = "review queue"


class TripStatus(models.TextChoices):
    MAKING = "making", _("Being made")
    COMPLETED = "completed", _("Done")


class Trip(models.Model):
    """A trip lookbook (issue 31): a destination and dates, each day's weather, outfit and
    picture (TripDay), and a packing list whose ticks are kept here.

    The destination is kept as it was chosen (imagegen.trips.places.Place), its English name
    for the pictures' prompts. The traveller's photo is an Upload, kept and deleted like the
    photo studio's (its retention runs from the last generation that used it); once it is
    gone a day can no longer be redone from it.
    """

    Status = TripStatus

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="trips"
    )
    destination_name = models.CharField(max_length=200, help_text="As the traveller reads it.")
    destination_label = models.CharField(
        max_length=300, blank=True, help_text="The name and where it is: 제주시, 제주특별자치도."
    )
    destination_en = models.CharField(
        max_length=200, blank=True, help_text="In English, for the pictures' prompts."
    )
    place_id = models.BigIntegerField(null=True, blank=True, help_text="GeoNames id.")
    latitude = models.FloatField(null=True, blank=True)
    longitude = models.FloatField(null=True, blank=True)
    country = models.CharField(max_length=100, blank=True)
    country_code = models.CharField(max_length=2, blank=True)
    time_zone = models.CharField(max_length=64, blank=True)
    start_date = models.DateField()
    end_date = models.DateField()
    style_note = models.CharField(max_length=200, blank=True)
    tier = models.CharField(max_length=32, blank=True)
    planner = models.CharField(
        max_length=16, blank=True, help_text="rules or hf_inference: who chose the outfits."
    )
    source_image = models.ForeignKey(
        Upload,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="trips",
        help_text="The traveller's photo every day's picture is an edit of.",
    )
    share_token = models.CharField(max_length=64, null=True, blank=True, unique=True)
    status = models.CharField(max_length=16, choices=TripStatus, default=TripStatus.MAKING)
    packed = models.JSONField(
        default=list, blank=True, help_text="The packing list's ticked garments (their ids)."
    )
    callback_url = models.URLField(max_length=2000, blank=True)
    api_token = models.ForeignKey(
        "ApiToken", null=True, blank=True, on_delete=models.SET_NULL, related_name="trips"
    )
    language = models.CharField(max_length=16, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["owner", "-created_at"], name="trip_owner_recent")]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_date__gte=models.F("start_date")), name="trip_dates_in_order"
            ),
            models.CheckConstraint(
                condition=Q(status__in=TripStatus.values), name="trip_status_known"
            ),
        ]

    def __str__(self):
        return f"{self.destination_name} {self.start_date}–{self.end_date}"

    @property
    def day_count(self):
        return (self.end_date - self.start_date).days + 1


class TripDay(models.Model):
    """One day of a trip: its weather (forecast, history (평년) or typed by hand), the outfit
    (garment ids of imagegen.trips.vocabulary), the activities, and its picture."""

    trip = models.ForeignKey(Trip, on_delete=models.CASCADE, related_name="days")
    date = models.DateField()
    temperature_max = models.FloatField()
    temperature_min = models.FloatField()
    precipitation_probability = models.PositiveSmallIntegerField(null=True, blank=True)
    wind_speed_max = models.FloatField(null=True, blank=True)
    weather_code = models.PositiveSmallIntegerField(null=True, blank=True)
    weather_source = models.CharField(
        max_length=16,
        choices=[("forecast", "forecast"), ("history", "history"), ("manual", "manual")],
    )
    years = models.PositiveSmallIntegerField(default=0, help_text="History: years averaged.")
    top = models.CharField(max_length=40)
    bottom = models.CharField(max_length=40)
    outer = models.CharField(max_length=40, blank=True)
    shoes = models.CharField(max_length=40)
    extras = models.JSONField(default=list, blank=True)
    activities = models.JSONField(default=list, blank=True, help_text="Activity ids.")
    generation = models.ForeignKey(
        Generation, null=True, blank=True, on_delete=models.SET_NULL, related_name="trip_days"
    )

    class Meta:
        ordering = ["trip", "date"]
        constraints = [
            models.UniqueConstraint(fields=["trip", "date"], name="trip_day_once"),
            models.CheckConstraint(
                condition=Q(weather_source__in=("forecast", "history", "manual")),
                name="trip_day_source_known",
            ),
        ]

    def __str__(self):
        return f"{self.trip} · {self.date}"
