"""The forms of the account pages: preferences, a new API key, deleting the account."""

import zoneinfo

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from .models import Profile


def _time_zone_choices():
    site = settings.TIME_ZONE
    return [("", _("The site's time zone (%(zone)s)") % {"zone": site})] + [
        (name, name.replace("_", " ")) for name in sorted(zoneinfo.available_timezones())
    ]


class PreferencesForm(forms.ModelForm):
    """The language and time zone the user's pages are shown in."""

    class Meta:
        model = Profile
        fields = ("language", "time_zone")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["language"].choices = [("", _("Same as my browser"))] + [
            (code, name) for code, name in settings.LANGUAGES
        ]
        self.fields["language"].help_text = ""
        self.fields["time_zone"] = forms.ChoiceField(
            label=_("Time zone"),
            choices=_time_zone_choices,
            required=False,
            help_text=_("Times on the site (quota resets, when images were made) are shown in it."),
        )


class ApiKeyForm(forms.Form):
    """The name of a new API key; the key itself is made by services.create_api_token."""

    name = forms.CharField(
        label=_("Name"),
        max_length=80,
        strip=True,
        help_text=_("What it is for, so you can tell your keys apart: “laptop script”."),
        error_messages={"required": _("Give the key a name, so you can tell it apart later.")},
    )
    default_callback_url = forms.CharField(
        label=_("Webhook URL (optional)"),
        max_length=2000,
        required=False,
        strip=True,
        widget=forms.URLInput(attrs={"placeholder": "https://example.com/travelfit-hook"}),
        help_text=_(
            "Called when a generation made with this key ends, unless the request names "
            "another. Calls are signed with the key's webhook secret."
        ),
    )

    def clean_default_callback_url(self):
        from imagegen import webhooks

        return webhooks.check_callback_url(self.cleaned_data["default_callback_url"])


class DeleteAccountForm(forms.Form):
    """Deleting the account asks for the password again: a session left open on a shared
    computer must not be enough."""

    password = forms.CharField(
        label=_("Your password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def __init__(self, user, *args, **kwargs):
        self.user = user
        super().__init__(*args, **kwargs)

    def clean_password(self):
        password = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise forms.ValidationError(_("That is not your password."), code="password_incorrect")
        return password
