"""Django's own texts on the log-in, sign-up and password pages, re-worded in our catalogue so that
Korean readers get the site's 해요 tone, not Django's formal one ("…입력하십시오", "와/과").

LOCALE_PATHS puts our catalogue before Django's, so an entry there wins. Naming the texts here is
what keeps them there: `make messages` drops every entry the code no longer names. Nothing
imports this module; it exists for the catalogue.
"""

from django.utils.translation import gettext_noop, ngettext_lazy

TEXTS = (
    # AuthenticationForm, PasswordChangeForm, SetPasswordForm, UserCreationForm
    gettext_noop(
        "Please enter a correct %(username)s and password. Note that both fields may be "
        "case-sensitive."
    ),
    gettext_noop("This account is inactive."),
    gettext_noop("The two password fields didn’t match."),
    gettext_noop("Enter the same password as before, for verification."),
    gettext_noop("Your old password was entered incorrectly. Please enter it again."),
    # The user model and its validators
    gettext_noop("Required. 150 characters or fewer. Letters, digits and @/./+/-/_ only."),
    gettext_noop("A user with that username already exists."),
    gettext_noop(
        "Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ "
        "characters."
    ),
    # The password validators of AUTH_PASSWORD_VALIDATORS
    gettext_noop("The password is too similar to the %(verbose_name)s."),
    gettext_noop("Your password can’t be too similar to your other personal information."),
    gettext_noop("This password is too common."),
    gettext_noop("Your password can’t be a commonly used password."),
    gettext_noop("This password is entirely numeric."),
    gettext_noop("Your password can’t be entirely numeric."),
    # Form fields
    gettext_noop("This field is required."),
    gettext_noop("Enter a valid email address."),
)

PLURAL_TEXTS = (
    ngettext_lazy(
        "This password is too short. It must contain at least %d character.",
        "This password is too short. It must contain at least %d characters.",
        "min_length",
    ),
    ngettext_lazy(
        "Your password must contain at least %(min_length)d character.",
        "Your password must contain at least %(min_length)d characters.",
        "min_length",
    ),
    ngettext_lazy(
        "Ensure this value has at most %(limit_value)d character (it has %(show_value)d).",
        "Ensure this value has at most %(limit_value)d characters (it has %(show_value)d).",
        "limit_value",
    ),
)
