"""Django admin: users with their quota (and granting credits), and the quota rows."""

import logging

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db.models import (
    Case,
    Count,
    F,
    IntegerField,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.formats import date_format

from . import services
from .admin_site import count_text as _count
from .admin_site import short_time as _when
from .models import (
    Quota,
)

logger = logging.getLogger(__name__)
User = get_user_model()


class QuotaForm(forms.ModelForm):
    """Saves only the fields an admin changed: reservations update the counters meanwhile."""

    class Meta:
        model = Quota
        fields = ("daily_limit", "monthly_limit", "bonus_credits")

    def save(self, commit=True):
        if not commit or self.instance._state.adding:
            return super().save(commit=commit)
        self.instance.save(update_fields=self.changed_data)
        return self.instance


class QuotaInline(admin.StackedInline):
    model = Quota
    form = QuotaForm
    can_delete = False
    fields = (
        ("daily_limit", "monthly_limit", "bonus_credits"),
        ("day", "day_used"),
        ("month", "month_used"),
    )
    readonly_fields = ("day", "day_used", "month", "month_used")


@admin.register(Quota)
class QuotaAdmin(admin.ModelAdmin):
    form = QuotaForm
    list_display = (
        "user",
        "daily_limit",
        "day",
        "day_used",
        "monthly_limit",
        "month",
        "month_used",
        "bonus_credits",
    )
    search_fields = ("user__username",)
    list_select_related = ("user",)
    fields = ("user", "daily_limit", "monthly_limit", "bonus_credits") + QuotaInline.readonly_fields
    readonly_fields = QuotaInline.readonly_fields
    autocomplete_fields = ("user",)

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields + (("user",) if obj else ())


class GrantCreditsForm(forms.Form):
    credits = forms.IntegerField(
        label="Credits for each user",
        min_value=1,
        max_value=100_000,
        help_text="Extra generations, used once a daily or monthly limit is reached. They add "
        "to what each user has now.",
    )


class TravelFitUserAdmin(UserAdmin):
    inlines = (QuotaInline,)
    list_display = (
        "username",
        "email",
        "joined",
        "last_seen",
        "staff",
        "generation_count",
        "used_today",
        "used_this_month",
        "bonus_credits",
    )
    actions = ("grant_credits",)

    def get_queryset(self, request):
        periods = services.Periods.current()
        return (
            super()
            .get_queryset(request)
            .annotate(
                generations_total=Count("generations", distinct=True),
                quota_used_today=Case(
                    When(quota__day=periods.day, then=F("quota__day_used")),
                    default=Value(0),
                    output_field=IntegerField(),
                ),
                quota_used_this_month=Case(
                    When(quota__month=periods.month, then=F("quota__month_used")),
                    default=Value(0),
                    output_field=IntegerField(),
                ),
                quota_bonus_credits=Coalesce(F("quota__bonus_credits"), Value(0)),
            )
        )

    @admin.display(description="Joined", ordering="date_joined")
    def joined(self, obj):
        return date_format(timezone.localtime(obj.date_joined), "Y-m-d")

    @admin.display(description="Last login", ordering="last_login")
    def last_seen(self, obj):
        return _when(obj.last_login)

    @admin.display(description="Staff", boolean=True, ordering="is_staff")
    def staff(self, obj):
        return obj.is_staff

    @admin.display(description="Generations", ordering="generations_total")
    def generation_count(self, obj):
        return obj.generations_total

    @admin.display(description="Used today", ordering="quota_used_today")
    def used_today(self, obj):
        return obj.quota_used_today

    @admin.display(description="This month", ordering="quota_used_this_month")
    def used_this_month(self, obj):
        return obj.quota_used_this_month

    @admin.display(description="Bonus", ordering="quota_bonus_credits")
    def bonus_credits(self, obj):
        return obj.quota_bonus_credits

    @admin.action(description="Grant credits…", permissions=["change"])
    def grant_credits(self, request, queryset):
        """Ask how many credits on an intermediate page, then grant them to each user."""
        form = GrantCreditsForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            credits = form.cleaned_data["credits"]
            users = list(queryset)
            for user in users:
                services.grant_credits(user=user, credits=credits)
            names = ", ".join(user.get_username() for user in users[:10])
            more = f" and {len(users) - 10} more" if len(users) > 10 else ""
            self.message_user(
                request,
                f"Granted {_count(credits, 'credit')} to {_count(len(users), 'user')}: "
                f"{names}{more}.",
                messages.SUCCESS,
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Grant credits",
            "subtitle": None,
            "form": form,
            "users": queryset.order_by("username"),
            "opts": self.opts,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media + form.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/imagegen/grant_credits.html", context)

    def delete_model(self, request, obj):
        services.delete_users_with_files(user_ids=[obj.pk])

    def delete_queryset(self, request, queryset):
        services.delete_users_with_files(user_ids=list(queryset.values_list("pk", flat=True)))


admin.site.unregister(User)
admin.site.register(User, TravelFitUserAdmin)
