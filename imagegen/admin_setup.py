"""Django admin: the site's set-up and its traces: provider cool-downs, presets, the prompt
policy and its refusals, uploads, API keys and webhook deliveries."""

import logging

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.utils.text import Truncator

from . import services
from .admin_site import count_text as _count
from .models import (
    ApiToken,
    BlockedPattern,
    Preset,
    PromptRefusal,
    ProviderCooldown,
    Upload,
    WebhookDelivery,
)

logger = logging.getLogger(__name__)
User = get_user_model()


@admin.register(ProviderCooldown)
class ProviderCooldownAdmin(admin.ModelAdmin):
    """Providers every worker skips for now; clear one to let workers use it again."""

    list_display = ("provider", "until", "is_active", "short_reason", "updated_at")
    readonly_fields = ("updated_at",)
    ordering = ("-until",)
    actions = ("clear_selected",)

    def has_add_permission(self, request):
        return False  # workers start cool-downs when a provider runs out

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # "Clear" is the one way to end a cool-down
        return actions

    @admin.display(boolean=True, description="Active")
    def is_active(self, obj):
        return obj.active

    @admin.display(description="Reason")
    def short_reason(self, obj):
        first = obj.reason.splitlines()[0] if obj.reason else ""
        return Truncator(first).chars(100)

    @admin.action(description="Clear (let workers use it again)", permissions=["delete"])
    def clear_selected(self, request, queryset):
        providers = list(queryset.values_list("provider", flat=True))
        cleared = services.clear_cooldowns(providers=providers)
        self.message_user(
            request,
            f"Cleared {_count(cleared, 'cool-down')}: workers use {', '.join(providers)} again.",
            messages.SUCCESS,
        )


@admin.register(Preset)
class PresetAdmin(admin.ModelAdmin):
    list_display = ("name", "aspect", "active", "position", "description")
    list_editable = ("active", "position")
    search_fields = ("name", "template")


@admin.register(BlockedPattern)
class BlockedPatternAdmin(admin.ModelAdmin):
    """Words and patterns refused in prompts; the model's clean() checks regular expressions."""

    list_display = ("pattern", "is_regex", "reason", "active", "created_at")
    list_editable = ("active",)
    list_filter = ("active", "is_regex")
    search_fields = ("pattern", "reason")
    fields = ("pattern", "is_regex", "reason", "active")


@admin.register(PromptRefusal)
class PromptRefusalAdmin(admin.ModelAdmin):
    """Prompts the policy refused: a record to read, not to edit."""

    list_display = ("created_at", "user", "pattern")
    list_filter = ("pattern", "created_at")
    search_fields = ("user__username", "pattern")
    list_select_related = ("user",)
    date_hierarchy = "created_at"
    actions = None

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Upload)
class UploadAdmin(admin.ModelAdmin):
    """Uploaded photos, read-only: who, how large, when they go. The photos themselves are
    not shown here: they are people's faces, seen by their owners only."""

    list_display = ("created_at", "owner", "width", "height", "used_at", "expires_at")
    list_select_related = ("owner",)
    search_fields = ("owner__username",)
    readonly_fields = (
        "id",
        "owner",
        "width",
        "height",
        "content_type",
        "created_at",
        "used_at",
        "expires_at",
    )
    fields = readonly_fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Keys are stored hashed: admins can see and revoke them, never read them. The webhook
    secret is kept in clear (it signs) and is never shown here."""

    list_display = ("name", "user", "prefix", "created_at", "last_used_at")
    search_fields = ("name", "user__username", "prefix")
    list_select_related = ("user",)
    fields = (
        "name",
        "user",
        "prefix",
        "key_hash",
        "default_callback_url",
        "created_at",
        "last_used_at",
    )
    readonly_fields = fields[1:]  # only the name can be changed

    def has_add_permission(self, request):
        return False  # a key is made by its owner, who is shown it once


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    """Each attempt at calling a generation's callback URL: a record to read, not to edit."""

    list_display = (
        "started_at",
        "event_type",
        "attempt",
        "outcome",
        "status_code",
        "short_url",
        "next_attempt_at",
    )
    list_filter = ("outcome", "event_type")
    search_fields = ("event_id", "url", "generation__id")
    list_select_related = ("generation",)
    readonly_fields = (
        "generation",
        "url",
        "event_id",
        "event_type",
        "attempt",
        "outcome",
        "status_code",
        "error",
        "response_excerpt",
        "started_at",
        "finished_at",
        "next_attempt_at",
    )
    fields = readonly_fields
    actions = None

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="URL")
    def short_url(self, obj):
        return Truncator(obj.url).chars(60)
