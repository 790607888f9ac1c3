"""Django admin: generations and their actions, and the review queue (held images, reported
shares). Users with their quota are in admin_users.py; presets, provider cool-downs, the prompt
policy, uploads, API keys and webhooks in admin_setup.py.

Actions call services. The site itself (titles, the budget warning on its index) is
imagegen/admin_site.py.
"""

import logging

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected as django_delete_selected
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import (
    DurationField,
    ExpressionWrapper,
    F,
)
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.text import Truncator

from . import services
from .admin_site import count_text as _count
from .admin_site import short_time as _when
from .admin_site import warn_about_budget
from .models import (
    Generation,
    ReviewDecision,
    ReviewItem,
)
from .paginators import EstimatedCountPaginator
from .providers import REGISTRY
from .providers.base import FAILURE_CLASSES, failure_class_label
from .tiers import STANDARD, tiers

logger = logging.getLogger(__name__)
User = get_user_model()


def _generation_label(generation):
    return f"{generation.owner} (“{Truncator(generation.prompt).chars(40)}”)"


# --- Generations -----------------------------------------------------------------------------


class ProviderFilter(admin.SimpleListFilter):
    """The providers this site knows (configured first), without scanning the table for them."""

    title = "provider"
    parameter_name = "provider"

    def lookups(self, request, model_admin):
        names = list(dict.fromkeys([*settings.IMAGEGEN_PROVIDERS, *REGISTRY]))
        return [(name, name) for name in names]

    def queryset(self, request, queryset):
        return queryset.filter(provider=self.value()) if self.value() else queryset


class TierFilter(admin.SimpleListFilter):
    """The configured tiers (and `standard`, which generations made before tiers have)."""

    title = "tier"
    parameter_name = "tier"

    def lookups(self, request, model_admin):
        names = dict.fromkeys([*(tier.name for tier in tiers()), STANDARD])
        return [(name, name) for name in names]

    def queryset(self, request, queryset):
        return queryset.filter(tier=self.value()) if self.value() else queryset


class FailureClassFilter(admin.SimpleListFilter):
    """The failure classes providers report (imagegen.providers.base.FAILURE_CLASSES)."""

    title = "failure class"
    parameter_name = "failure_class"

    def lookups(self, request, model_admin):
        return [(name, failure_class_label(name)) for name in FAILURE_CLASSES]

    def queryset(self, request, queryset):
        return queryset.filter(failure_class=self.value()) if self.value() else queryset


@admin.register(Generation)
class GenerationAdmin(admin.ModelAdmin):
    list_display = (
        "thumb",
        "created",
        "owner",
        "short_prompt",
        "status_and_failure",
        "tier_and_units",
        "provider_and_model",
        "duration_seconds",
        "cost",
    )
    list_display_links = ("thumb", "created")
    # Filters with fixed choices: Django's own for a field would SELECT DISTINCT over every row
    # (and date_hierarchy truncates every row's date), which grows with the table.
    list_filter = ("status", "task", TierFilter, ProviderFilter, FailureClassFilter, "created_at")
    search_fields = ("prompt", "owner__username")
    list_select_related = ("owner",)
    list_per_page = 50
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    actions = ("retry_selected", "cancel_selected", "refund_selected", "delete_selected")
    # A generation is a record of what was asked and what happened: only the provider an
    # operator pins it to stays editable (it matters while it is queued).
    readonly_fields = (
        "id",
        "owner",
        "preview",
        "status",
        "provider",
        "model_name",
        "prompt",
        "negative_prompt",
        "preset",
        "preset_input",
        "width",
        "height",
        "steps",
        "guidance",
        "seed",
        "actual_seed",
        "attempts",
        "recoveries",
        "adaptations",
        "failure_class",
        "error_message",
        "error_detail_text",
        "image_name",
        "thumbnail_name",
        "created_at",
        "started_at",
        "finished_at",
        "duration_seconds",
        "cost",
        "tier",
        "units",
        "charged",
        "charged_bonus",
        "charged_day",
        "charged_month",
        "favourite",
        "share_token",
        "callback_url",
        "api_token",
        "task",
        "source_image",
        "garment_image",
    )
    fieldsets = (
        (
            None,
            {"fields": ("id", "owner", "preview", "status", "provider", "model_name", "cost")},
        ),
        (
            "Request",
            {
                "fields": (
                    ("tier", "units"),
                    ("task", "source_image", "garment_image"),
                    "prompt",
                    "negative_prompt",
                    "preset",
                    "preset_input",
                    ("width", "height"),
                    ("steps", "guidance", "seed"),
                    "only_provider",
                    ("callback_url", "api_token"),
                )
            },
        ),
        (
            "Result",
            {
                "fields": (
                    "actual_seed",
                    ("attempts", "recoveries"),
                    "adaptations",
                    "failure_class",
                    "error_message",
                    "error_detail_text",
                )
            },
        ),
        ("Files", {"fields": ("image_name", "thumbnail_name", "favourite", "share_token")}),
        ("Times", {"fields": ("created_at", "started_at", "finished_at", "duration_seconds")}),
        ("Quota", {"fields": ("charged", "charged_bonus", "charged_day", "charged_month")}),
    )

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                _duration=ExpressionWrapper(
                    F("finished_at") - F("started_at"), output_field=DurationField()
                )
            )
        )

    def has_add_permission(self, request):
        return False  # generations are made by submitting, which reserves quota and queues

    def has_delete_permission(self, request, obj=None):
        # A running one would have its worker write files for a missing row.
        if obj is not None and obj.status == Generation.Status.RUNNING:
            return False
        return super().has_delete_permission(request, obj)

    def changelist_view(self, request, extra_context=None):
        if request.method == "GET":  # a POST (an action) redirects to a GET that warns
            warn_about_budget(request)
        return super().changelist_view(request, extra_context)

    @admin.display(description="Image")
    def thumb(self, obj):
        if not obj.thumbnail:
            return "—"
        url = reverse("admin:imagegen_generation_thumbnail", args=[obj.pk])
        return format_html(
            '<img src="{}" alt="Thumbnail" width="64" height="64" loading="lazy" '
            'style="object-fit:cover;border-radius:4px;display:block">',
            url,
        )

    @admin.display(description="Created", ordering="created_at")
    def created(self, obj):
        return _when(obj.created_at)

    @admin.display(description="Status", ordering="status")
    def status_and_failure(self, obj):
        if not obj.failure_class:
            return obj.get_status_display()
        return format_html(
            '{}<br><span class="quiet">{}</span>', obj.get_status_display(), obj.failure_class
        )

    @admin.display(description="Tier", ordering="tier")
    def tier_and_units(self, obj):
        return f"{obj.tier} · {obj.units} unit{'' if obj.units == 1 else 's'}"

    @admin.display(description="Provider / model", ordering="provider")
    def provider_and_model(self, obj):
        if not obj.model_name:
            return obj.provider or "—"
        return format_html(
            '{}<br><span class="quiet">{}</span>',
            obj.provider or "—",
            Truncator(obj.model_name).chars(40),
        )

    @admin.display(description="Prompt")
    def short_prompt(self, obj):
        return Truncator(obj.prompt).chars(60)

    @admin.display(description="Duration (s)", ordering="_duration")
    def duration_seconds(self, obj):
        duration = getattr(obj, "_duration", None) or obj.duration
        if duration is None:
            return "—"
        return f"{duration.total_seconds():.1f}"

    @admin.display(description="Est. cost", ordering="estimated_cost")
    def cost(self, obj):
        return f"${obj.estimated_cost:.4f}"

    @admin.display(description="Error detail")
    def error_detail_text(self, obj):
        if not obj.error_detail:
            return "—"
        return format_html(
            '<pre style="white-space:pre-wrap;margin:0;max-height:32em;overflow:auto">{}</pre>',
            obj.error_detail,
        )

    # Plain names: MEDIA_URL serves nothing (images are private), so Django's links would 404.
    @admin.display(description="Image")
    def image_name(self, obj):
        return obj.image.name or "—"

    @admin.display(description="Thumbnail")
    def thumbnail_name(self, obj):
        return obj.thumbnail.name or "—"

    @admin.display(description="Preview")
    def preview(self, obj):
        if not obj.thumbnail:
            return "—"
        url = reverse("admin:imagegen_generation_thumbnail", args=[obj.pk])
        return format_html('<img src="{}" alt="Thumbnail" style="max-width:256px">', url)

    @admin.action(description="Retry selected (queue again)", permissions=["change"])
    def retry_selected(self, request, queryset):
        """Submit each failed or canceled one again for its owner, as a new generation."""
        retried, refused, skipped = 0, [], 0
        for generation in queryset.select_related("owner"):
            if generation.status not in (Generation.Status.FAILED, Generation.Status.CANCELED):
                skipped += 1
                continue
            try:
                services.retry_generation(generation_id=generation.pk, user=generation.owner)
            except services.SubmissionRefused as exc:
                refused.append(f"{_generation_label(generation)}: {exc}")
                continue
            retried += 1
        if retried:
            self.message_user(
                request,
                f"Queued {_count(retried, 'generation')} again, as new generations for their "
                f"owners.",
                messages.SUCCESS,
            )
        for reason in refused:
            self.message_user(request, f"Not queued: {reason}", messages.WARNING)
        if skipped:
            self.message_user(
                request,
                f"Skipped {skipped}: only failed or canceled generations can be retried.",
                messages.WARNING,
            )

    @admin.action(description="Cancel selected (queued only, refunded)", permissions=["change"])
    def cancel_selected(self, request, queryset):
        canceled = skipped = 0
        for generation in queryset.select_related("owner"):
            if services.cancel_generation(generation_id=generation.pk, user=generation.owner):
                canceled += 1
            else:
                skipped += 1
        if canceled:
            self.message_user(
                request,
                f"Canceled {_count(canceled, 'generation')}; their quota went back.",
                messages.SUCCESS,
            )
        if skipped:
            self.message_user(
                request,
                f"Skipped {skipped}: only queued generations can be canceled.",
                messages.WARNING,
            )

    @admin.action(description="Refund quota", permissions=["change"])
    def refund_selected(self, request, queryset):
        refunded = sum(services.refund(pk) for pk in queryset.values_list("pk", flat=True))
        held_nothing = queryset.count() - refunded
        if refunded:
            self.message_user(
                request, f"Refunded {_count(refunded, 'generation')}.", messages.SUCCESS
            )
        if held_nothing:
            self.message_user(
                request,
                f"{_count(held_nothing, 'generation')} held no quota (already refunded).",
                messages.WARNING,
            )

    @admin.action(description="Delete selected with their files", permissions=["delete"])
    def delete_selected(self, request, queryset):
        """Django's confirm-then-delete, minus running ones, removing the image files too.

        It keeps Django's name so that the confirmation page posts back to this action.
        """
        running = queryset.filter(status=Generation.Status.RUNNING).count()
        if running:
            self.message_user(
                request,
                f"Not deleted: {_count(running, 'generation')} running right now; delete "
                f"when done.",
                messages.WARNING,
            )
            queryset = queryset.exclude(status=Generation.Status.RUNNING)
            if not queryset.exists():
                return None
        return django_delete_selected(self, request, queryset)

    def delete_queryset(self, request, queryset):
        for generation in queryset:
            self.delete_model(request, generation)

    def delete_model(self, request, obj):
        try:
            services.delete_generation_with_files(generation_id=obj.pk)
        except services.GenerationBusy:
            self.message_user(
                request,
                f"Not deleted: {_generation_label(obj)} started running.",
                messages.WARNING,
            )

    def get_urls(self):
        # Images are private files: staff see them (held ones too) through admin-only views.
        return [
            path(
                "<uuid:generation_id>/thumbnail/",
                self.admin_site.admin_view(self.thumbnail_view),
                name="imagegen_generation_thumbnail",
            ),
            path(
                "<uuid:generation_id>/image/",
                self.admin_site.admin_view(self.image_view),
                name="imagegen_generation_image",
            ),
        ] + super().get_urls()

    def thumbnail_view(self, request, generation_id):
        return self._file(request, generation_id, "thumbnail", "image/webp")

    def image_view(self, request, generation_id):
        generation = get_object_or_404(Generation, pk=generation_id)
        return self._file(request, generation_id, "image", generation.image_content_type)

    def _file(self, request, generation_id, field, content_type):
        generation = get_object_or_404(Generation, pk=generation_id)
        if not self.has_view_permission(request, generation):
            raise PermissionDenied
        stored = getattr(generation, field)
        if not stored:
            raise Http404("No file.")
        response = FileResponse(stored.open("rb"), content_type=content_type)
        response["Cache-Control"] = "private, no-store"
        return response


# --- The review queue: held images, reported shares -------------------------------------------


@admin.register(ReviewItem)
class ReviewQueueAdmin(admin.ModelAdmin):
    """What waits for a person: images the safety check held, and shared images viewers
    reported. Approve or reject them in bulk; each decision is recorded (Review decisions)."""

    list_display = ("thumb", "created", "owner", "why", "scores", "reports_list")
    list_display_links = None
    list_select_related = ("owner",)
    list_per_page = 24
    actions = ("approve_selected", "reject_selected")

    def get_queryset(self, request):
        return (
            services.waiting_for_review()
            .select_related("owner")
            .prefetch_related("reports")
            .order_by("created_at")
        )

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Image")
    def thumb(self, obj):
        if not obj.image:
            return "—"
        full = reverse("admin:imagegen_generation_image", args=[obj.pk])
        small = reverse("admin:imagegen_generation_thumbnail", args=[obj.pk])
        return format_html(
            '<a href="{}" target="_blank" rel="noopener"><img src="{}" alt="Image to review" '
            'width="160" style="border-radius:4px;display:block"></a>',
            full,
            small,
        )

    @admin.display(description="Made", ordering="created_at")
    def created(self, obj):
        return _when(obj.created_at)

    @admin.display(description="Why it waits")
    def why(self, obj):
        if obj.status == Generation.Status.HELD:
            return obj.safety_note or "Held by the safety check."
        state = "link suspended" if obj.share_suspended_at else "link still open"
        return f"Reported by viewers ({state})."

    @admin.display(description="Classifier scores")
    def scores(self, obj):
        if not obj.safety_scores:
            return "—"
        return ", ".join(
            f"{label} {score:.2f}"
            for label, score in sorted(obj.safety_scores.items(), key=lambda item: -item[1])
        )

    @admin.display(description="Reports")
    def reports_list(self, obj):
        reports = [report for report in obj.reports.all() if report.reviewed_at is None]
        if not reports:
            return "—"
        counts = {}
        for report in reports:
            counts[report.get_reason_display()] = counts.get(report.get_reason_display(), 0) + 1
        listed = ", ".join(f"{reason} × {count}" for reason, count in counts.items())
        # Anonymous voices alone never suspend a link: say how many are accounts.
        accounts = sum(report.signed_in for report in reports)
        return f"{listed} ({accounts} of {len(reports)} from signed-in accounts)"

    @admin.action(description="Approve selected (show the images, reopen the links)")
    def approve_selected(self, request, queryset):
        done = services.approve(
            generation_ids=list(queryset.values_list("pk", flat=True)), by=request.user
        )
        self.message_user(request, f"Approved {_count(done, 'image')}.", messages.SUCCESS)

    @admin.action(
        description="Reject selected (remove the images, turn the links off; held ones refunded)"
    )
    def reject_selected(self, request, queryset):
        done = services.reject(
            generation_ids=list(queryset.values_list("pk", flat=True)), by=request.user
        )
        self.message_user(request, f"Rejected {_count(done, 'image')}.", messages.SUCCESS)


@admin.register(ReviewDecision)
class ReviewDecisionAdmin(admin.ModelAdmin):
    """Every review decision, read-only: who decided what, when, on which generation."""

    list_display = ("decided_at", "action", "subject", "generation_ref", "decided_by_name")
    list_filter = ("action", "subject")
    search_fields = ("generation_ref", "decided_by_name")
    readonly_fields = (
        "decided_at",
        "action",
        "subject",
        "generation_ref",
        "generation",
        "decided_by",
        "decided_by_name",
    )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# Users and their quota, and the site's set-up (providers, presets, the prompt policy, uploads,
# API keys, webhooks), register themselves in their own modules.
from . import admin_setup, admin_trips, admin_users  # noqa: E402, F401
