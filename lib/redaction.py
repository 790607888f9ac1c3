"""Keeping secrets out of every text that leaves the site: messages, logs and error reports.

One function, `redact`, blanks out the Hugging Face token, SECRET_KEY, anything shaped like an
HF token or a webhook secret (whsec_…) and whatever follows `Bearer` / `Key` in an echoed
Authorization header. It runs where text crosses a boundary: every provider error
(imagegen.providers.base.ProviderError) on the way in, every stored failure
(services.fail_generation), every log line (RedactingFormatter, set on the handlers in
settings.LOGGING) and every Sentry event (`scrub_event`).
"""

import json
import logging
import re
import time

# Hugging Face tokens are hf_ followed by some 34 letters and digits.
TOKEN_PATTERN = re.compile(r"hf_[A-Za-z0-9]{30,}")
# Webhook signing secrets (imagegen/webhooks.py): whsec_ and base64.
WEBHOOK_SECRET_PATTERN = re.compile(r"whsec_[A-Za-z0-9+/=]{8,}")
# What a server echoes of an Authorization (or x-hf-authorization) header: the scheme, then the
# credential, however short or cut off it is.
CREDENTIAL_PATTERN = re.compile(
    r"\b(Bearer|Key|Basic)(\s+)(?!\[redacted\])[^\s'\",;)\]}]+", re.IGNORECASE
)
REDACTED = "[redacted]"


def _secrets():
    from django.conf import settings

    if not settings.configured:
        return ()
    values = (
        getattr(settings, "HUGGINGFACE_API_TOKEN", ""),
        getattr(settings, "SECRET_KEY", ""),
        getattr(settings, "HEALTH_TOKEN", ""),
        getattr(settings, "AWS_SECRET_ACCESS_KEY", ""),
        getattr(settings, "OPEN_METEO_API_KEY", ""),
    )
    # Short values would blank out ordinary words; real secrets are long.
    return tuple(value for value in values if value and len(value) >= 8)


def redact(text):
    """Text with the site's secrets, HF tokens and echoed credentials blanked out."""
    text = str(text)
    for secret in _secrets():
        text = text.replace(secret, REDACTED)
    text = TOKEN_PATTERN.sub("hf_" + REDACTED, text)
    text = WEBHOOK_SECRET_PATTERN.sub("whsec_" + REDACTED, text)
    return CREDENTIAL_PATTERN.sub(lambda match: match[1] + match[2] + REDACTED, text)


class RedactingFormatter(logging.Formatter):
    """A log formatter whose whole output (message, traceback, extra) has passed `redact`."""

    def format(self, record):
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """LOG_FORMAT=json: one JSON object a line (time, level, logger, message, request_id, and
    the traceback when there is one), for Loki, journald or any collector; gunicorn's access
    lines add `http` (remote, method, path, status, bytes, duration_ms, user_agent). Every
    value has passed `redact`, as in the text format."""

    def format(self, record):
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S")
            + f".{int(record.msecs):03d}"
            + time.strftime("%z", self.converter(record.created)),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            "request_id": getattr(record, "request_id", "-"),
        }
        if record.name == "gunicorn.access" and isinstance(record.args, dict):
            entry["http"] = _access_fields(record.args)
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


# gunicorn's access atoms a collector can query without parsing the message.
ACCESS_FIELDS = {
    "remote": "h",
    "method": "m",
    "path": "U",
    "status": "s",
    "bytes": "B",
    "duration_ms": "M",
    "user_agent": "a",
}


def _access_fields(atoms):
    fields = {}
    for name, atom in ACCESS_FIELDS.items():
        value = atoms.get(atom)
        if value is None or value == "-":
            continue
        if name in ("status", "bytes", "duration_ms"):
            try:
                fields[name] = int(value)
            except (TypeError, ValueError):
                continue
        else:
            fields[name] = redact(value)
    return fields


def scrub_event(event, hint=None):
    """Sentry's before_send: redact every string in the event; prompts are dropped outright.

    Prompts are the user's own words and may be personal; an error report does not need them.
    """
    return _scrub(event)


PROMPT_KEYS = {"prompt", "negative_prompt", "preset_input"}


def _scrub(value, key=None):
    if isinstance(key, str) and key.lower() in PROMPT_KEYS:
        return "[prompt removed]"
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _scrub(v, k) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_scrub(item) for item in value)
    return value
