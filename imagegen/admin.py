"""Django admin for generations, quotas and users (with their quota inline)."""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html

from .models import ApiToken, Generation, Preset, ProviderCooldown, Quota


@admin.register(Generation)
class GenerationAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "owner",
        "short_prompt",
        "status",
        "failure_class",
        "provider",
        "model_name",
        "attempts",
        "size",
    )
    list_filter = ("status", "failure_class", "provider", "created_at")
    search_fields = ("prompt", "owner__username")
    list_select_related = ("owner",)
    date_hierarchy = "created_at"
    readonly_fields = (
        "id",
        "owner",
        "preview",
        "status",
        "provider",
        "model_name",
        "attempts",
        "actual_seed",
        "error_message",
        "error_detail",
        "failure_class",
        "adaptations",
        "image",
        "thumbnail",
        "created_at",
        "started_at",
        "finished_at",
        "charged",
        "charged_day",
        "charged_month",
    )
    fieldsets = (
        (None, {"fields": ("id", "owner", "preview", "status", "provider", "model_name")}),
        (
            "Request",
            {
                "fields": (
                    "prompt",
                    "negative_prompt",
                    "width",
                    "height",
                    "steps",
                    "guidance",
                    "seed",
                )
            },
        ),
        (
            "Result",
            {
                "fields": (
                    "actual_seed",
                    "attempts",
                    "adaptations",
                    "failure_class",
                    "error_message",
                    "error_detail",
                )
            },
        ),
        ("Files", {"fields": ("image", "thumbnail")}),
        ("Times", {"fields": ("created_at", "started_at", "finished_at")}),
        ("Quota", {"fields": ("charged", "charged_day", "charged_month")}),
    )

    @admin.display(description="Prompt")
    def short_prompt(self, obj):
        return obj.prompt if len(obj.prompt) <= 60 else obj.prompt[:59] + "…"

    @admin.display(description="Size")
    def size(self, obj):
        return f"{obj.width}×{obj.height}"

    @admin.display(description="Preview")
    def preview(self, obj):
        if not obj.thumbnail:
            return "—"
        url = reverse("admin:imagegen_generation_thumbnail", args=[obj.pk])
        return format_html('<img src="{}" alt="Thumbnail" style="max-width:256px">', url)

    def get_urls(self):
        # Images are private files: staff see them through this admin-only view.
        return [
            path(
                "<uuid:generation_id>/thumbnail/",
                self.admin_site.admin_view(self.thumbnail_view),
                name="imagegen_generation_thumbnail",
            ),
        ] + super().get_urls()

    def thumbnail_view(self, request, generation_id):
        generation = get_object_or_404(Generation, pk=generation_id)
        if not self.has_view_permission(request, generation):
            raise PermissionDenied
        if not generation.thumbnail:
            raise Http404("No thumbnail.")
        return FileResponse(generation.thumbnail.open("rb"), content_type="image/webp")


@admin.register(Quota)
class QuotaAdmin(admin.ModelAdmin):
    list_display = (
        "user",
        "daily_limit",
        "day",
        "day_used",
        "monthly_limit",
        "month",
        "month_used",
    )
    search_fields = ("user__username",)
    list_select_related = ("user",)


class QuotaInline(admin.StackedInline):
    model = Quota
    can_delete = False
    fields = ("daily_limit", "monthly_limit", "day", "day_used", "month", "month_used")
    readonly_fields = ("day", "day_used", "month", "month_used")


User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class TravelFitUserAdmin(UserAdmin):
    inlines = (QuotaInline,)
    list_display = (
        "username",
        "email",
        "date_joined",
        "last_login",
        "is_staff",
        "generation_count",
    )

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_generations=Count("generations"))

    @admin.display(description="Generations", ordering="_generations")
    def generation_count(self, obj):
        return obj._generations


@admin.register(ProviderCooldown)
class ProviderCooldownAdmin(admin.ModelAdmin):
    """Providers every worker skips for now; delete a row to let workers use it again."""

    list_display = ("provider", "until", "is_active", "short_reason", "updated_at")
    readonly_fields = ("updated_at",)

    @admin.display(boolean=True, description="Active")
    def is_active(self, obj):
        return obj.active

    @admin.display(description="Reason")
    def short_reason(self, obj):
        first = obj.reason.splitlines()[0] if obj.reason else ""
        return first if len(first) <= 100 else first[:99] + "…"


@admin.register(Preset)
class PresetAdmin(admin.ModelAdmin):
    list_display = ("name", "aspect", "active", "position", "description")
    list_editable = ("active", "position")
    search_fields = ("name", "template")


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Keys are stored hashed: admins can see and revoke them, never read them."""

    list_display = ("name", "user", "prefix", "created_at", "last_used_at")
    search_fields = ("name", "user__username", "prefix")
    list_select_related = ("user",)
    readonly_fields = ("user", "prefix", "key_hash", "created_at", "last_used_at")

    def has_add_permission(self, request):
        return False  # a key is made by its owner, who is shown it once
