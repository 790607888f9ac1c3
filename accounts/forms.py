"""The forms of the account pages: sign-up, preferences, a new API key, deleting the account."""

from django import forms
from django.conf import settings
from django.contrib.auth.forms import UserCreationForm
from django.utils.translation import gettext_lazy as _

from . import time_zones
from .models import Profile


class SignUpForm(UserCreationForm):
    """Django's sign-up form (its username and password checks), plus a required email and the
    browser's time zone (filled in by static/js/time-zone.js; empty without JavaScript)."""

    # Required, and the page says so and why; its own error, not only the browser's bubble
    # (the sign-up form is `novalidate`, so every field's error is ours and in the page's words).
    email = forms.EmailField(
        required=True,
        label=_("E-mail (required)"),
        help_text=_(
            "If you forget your password, a link to set a new one is sent here. "
            "We send nothing else."
        ),
        error_messages={
            "required": _(
                "Enter your e-mail address: without it, a forgotten password cannot be reset."
            )
        },
    )
    time_zone = forms.CharField(
        required=False, widget=forms.HiddenInput(attrs={"data-browser-time-zone": ""})
    )

    class Meta(UserCreationForm.Meta):
        fields = ("username", "email")

    def clean_time_zone(self):
        """The zone the new profile gets (time_zones.for_new_account): never an error, as the
        person cannot see or change this field."""
        return time_zones.for_new_account(self.cleaned_data.get("time_zone", ""))


def _time_zone_choices(current=""):
    site = settings.TIME_ZONE
    return [("", _("The site's time zone (%(zone)s)") % {"zone": site})] + time_zones.choices(
        current
    )


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
        current = self.instance.time_zone if self.instance else ""
        self.fields["time_zone"] = forms.ChoiceField(
            label=_("Time zone"),
            choices=_time_zone_choices(current),
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

    def __init__(self, *args, for_staff=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.for_staff = for_staff

    def clean_default_callback_url(self):
        from imagegen import webhooks

        return webhooks.check_callback_url(
            self.cleaned_data["default_callback_url"], for_staff=self.for_staff
        )


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
