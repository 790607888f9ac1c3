"""Messages stored for users (a failed generation's `error_message`), shown in the reader's
language.

A worker writes the message when a generation fails, without knowing in which language it
will be read (the owner may switch, or share the page), so the message is stored in English
and translated when it is shown. The fixed ones are marked with gettext_noop where they are
written; the few that quote the provider carry the English prefix below, whose template is in
the catalogue, and keep the quoted part as the provider said it.
"""

from django.utils.translation import gettext, gettext_noop

REFUSED_REQUEST = gettext_noop("The image service refused this request: %(reason)s")
REFUSED_SETTING = gettext_noop("The image service refused a setting: %(reason)s")
# Each quoting message by the English it starts with, as it is stored.
QUOTING = {
    template.split("%(reason)s")[0]: template for template in (REFUSED_REQUEST, REFUSED_SETTING)
}


def refused_request(reason: str) -> str:
    return REFUSED_REQUEST % {"reason": reason}


def refused_setting(reason: str) -> str:
    return REFUSED_SETTING % {"reason": reason}


def localize(message: str) -> str:
    """The stored message in the current language; as stored when no translation is known."""
    if not message:
        return message
    translated = gettext(message)
    if translated != message:
        return translated
    for prefix, template in QUOTING.items():
        if message.startswith(prefix):
            return gettext(template) % {"reason": message[len(prefix) :]}
    return message
