"""A request's JSON body, read strictly: UTF-8 (RFC 8259) without a byte order mark, an
object, no key named twice."""

import codecs
import json

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .errors import ApiError

UTF8_ONLY = gettext_lazy(
    "Send the body as UTF-8 JSON, without a byte order mark (not UTF-16 or UTF-32)."
)


class _DuplicateKey(ValueError):
    pass


def _refuse_duplicates(pairs):
    """json.loads' object hook: an object naming a key twice is ambiguous (which one wins
    differs between parsers), so it is refused rather than read as the last one."""
    data = {}
    for name, value in pairs:
        if name in data:
            raise _DuplicateKey(name)
        data[name] = value
    return data


def json_object(request):
    """The body as a JSON object: UTF-8 (RFC 8259), no byte order mark, no key named twice."""
    if request.content_type != "application/json":
        raise ApiError(
            415,
            "unsupported_media_type",
            _("Send the body as JSON, with `Content-Type: application/json`."),
        )
    charset = request.content_params.get("charset", "utf-8").lower()
    body = request.body
    if charset not in ("utf-8", "utf8") or body.startswith(codecs.BOM_UTF8):
        raise ApiError(400, "invalid_json", str(UTF8_ONLY))
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "invalid_json", str(UTF8_ONLY)) from None
    try:
        data = json.loads(text, object_pairs_hook=_refuse_duplicates)
    except _DuplicateKey as exc:
        raise ApiError(
            400,
            "invalid_json",
            _("The key %(key)s appears twice in one object: send it once.") % {"key": exc},
        ) from None
    except (ValueError, RecursionError):
        # RecursionError: a body nested thousands deep is not a request we can take.
        raise ApiError(400, "invalid_json", _("The body is not valid JSON.")) from None
    if not isinstance(data, dict):
        raise ApiError(
            400, "invalid_json", _('Send a JSON object, like {"prompt": "Jeju at sunrise"}.')
        )
    return data
