"""The trip lookbooks in admin: read-only, newest first, without their share tokens."""

from django.contrib import admin

from .models import Trip, TripDay


class TripDayInline(admin.TabularInline):
    model = TripDay
    extra = 0
    can_delete = False
    fields = (
        "date",
        "temperature_max",
        "temperature_min",
        "precipitation_probability",
        "weather_source",
        "top",
        "bottom",
        "outer",
        "shoes",
        "extras",
        "activities",
        "generation",
    )
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Trip)
class TripAdmin(admin.ModelAdmin):
    """The trip lookbooks (issue 31): read-only, newest first."""

    list_display = (
        "destination_name",
        "owner",
        "start_date",
        "end_date",
        "status",
        "planner",
        "has_photo",
        "shared",
        "created_at",
    )
    list_filter = ("status", "planner")
    search_fields = ("destination_name", "destination_label", "owner__username")
    list_select_related = ("owner",)
    date_hierarchy = "created_at"
    inlines = [TripDayInline]
    # Not the share token: the link is its owner's key.
    readonly_fields = [field.name for field in Trip._meta.fields if field.name != "share_token"]
    exclude = ("share_token",)

    @admin.display(boolean=True, description="photo")
    def has_photo(self, trip):
        return trip.source_image_id is not None

    @admin.display(boolean=True, description="shared")
    def shared(self, trip):
        return bool(trip.share_token)

    def has_add_permission(self, request):
        return False
