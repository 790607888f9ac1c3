"""Admin for accounts: users' preferences and the sign-up / reset throttles, read-only."""

from django.contrib import admin

from .models import AddressThrottle, Profile


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin):
    list_display = ("user", "language", "time_zone")
    list_filter = ("language",)
    search_fields = ("user__username", "user__email", "time_zone")
    list_select_related = ("user",)
    readonly_fields = ("user",)

    def has_add_permission(self, request):
        return False  # made on first use, for its user


@admin.register(AddressThrottle)
class AddressThrottleAdmin(admin.ModelAdmin):
    """Counters of sign-ups and reset e-mails per client address; delete one to lift it."""

    list_display = [field.name for field in AddressThrottle._meta.fields if field.name != "id"]
    search_fields = ("address",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
