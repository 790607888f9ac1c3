"""A request id for every request: taken from `X-Request-ID` (a proxy's or a client's) or made,
sent back in the response, put on every log line written while the request is served, stored on
the generations it queues, and carried into the worker's task and the webhook delivery. One
`grep` for it finds a generation's whole story, across the web machines and the workers.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import re
import uuid
from collections.abc import Iterator

HEADER = "X-Request-ID"
# What is taken from a client as it is: short, and nothing a log line or a header could be
# bent by (no spaces, quotes or line breaks). Anything else is replaced by a new id.
ACCEPTED = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,99}")
NONE = "-"

_current: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")


def current() -> str:
    """The id of the request (or task) being served in this thread, or ""."""
    return _current.get()


def new() -> str:
    return uuid.uuid4().hex


def accepted(value: str | None) -> str:
    """`value` if it is an id we keep as it is, else a new one."""
    return value if value and ACCEPTED.fullmatch(value) else new()


@contextlib.contextmanager
def bound(value: str) -> Iterator[None]:
    """Log lines written inside carry `value` (a task serving a request's generation)."""
    token = _current.set(value)
    try:
        yield
    finally:
        _current.reset(token)


class RequestIdMiddleware:
    """First in the chain, so every later log line of the request has the id."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.request_id = accepted(request.headers.get(HEADER))
        with bound(request.request_id):
            response = self.get_response(request)
        response[HEADER] = request.request_id
        return response


class RequestIdFilter(logging.Filter):
    """Puts `request_id` on every record ("-" outside a request or a task)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _current.get() or NONE
        return True
