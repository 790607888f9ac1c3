"""A request id for every request: taken from `X-Request-ID` (a proxy's or a client's) or made,
sent back in the response, put on every log line written while the request is served, stored on
the generations it queues, and carried into the worker's task and the webhook delivery. One
`grep` for it finds a generation's whole story, across the web machines and the workers.

"While the request is served" is the whole of it as the web server sees it, not only the
middleware's turn: `RequestIdApplication` (travelfit/wsgi.py) binds the id around the
application's call, the response body's iteration and its close(), where Django's
`django.request` lines ("Not Found", "Too Many Requests"), a streamed download's lines and
`request_finished` are written; gunicorn's access line comes in between and carries it too.
`RequestIdFilter` also reads it from a record's `request` (Django's own request lines, when no
WSGI server of ours is in front, as under the test client) and from gunicorn's access atoms.
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


class RequestIdApplication:
    """WSGI: the request's id bound from the application's call until the response is closed.

    The id is decided here (the client's `X-Request-ID` if acceptable, else a new one) and put
    back into the environ, where RequestIdMiddleware takes it as it is. A file response the
    server sends itself (`wsgi.file_wrapper`, sendfile) is handed on unwrapped, only its
    close() extended, so that the server still recognises it.
    """

    def __init__(self, application):
        self.application = application

    def __call__(self, environ, start_response):
        value = accepted(environ.get("HTTP_X_REQUEST_ID"))
        environ["HTTP_X_REQUEST_ID"] = value
        token = _current.set(value)
        try:
            body = self.application(environ, start_response)
        except BaseException:
            _current.reset(token)
            raise
        return _closing(body, token, environ.get("wsgi.file_wrapper"))


def _closing(body, token, file_wrapper):
    """The response body, with the id's binding released when the server closes it."""
    closed = getattr(body, "close", None)

    def close():
        try:
            if closed is not None:
                closed()
        finally:
            _current.reset(token)

    if file_wrapper is not None and isinstance(body, file_wrapper):
        body.close = close  # as Django itself hands the file's close() over
        return body
    return _Body(body, close)


class _Body:
    """A response body that iterates as the application's does, and closes through `close`."""

    def __init__(self, body, close):
        self._body, self.close = body, close

    def __iter__(self):
        return iter(self._body)


# gunicorn's access line carries its fields as one mapping, the response's headers among them.
ACCESS_ATOM = "{" + HEADER.lower() + "}o"


class RequestIdFilter(logging.Filter):
    """Puts `request_id` on every record ("-" outside a request or a task): the id bound now,
    else the one on the record's request (Django's `django.request` and `django.security`
    lines), else the one gunicorn's access line saw in the response's headers."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _current.get() or _carried_by(record) or NONE
        return True


def _carried_by(record):
    request = getattr(record, "request", None)
    value = getattr(request, "request_id", None)
    if value:
        return value
    if record.name == "gunicorn.access" and isinstance(record.args, dict):
        atom = record.args.get(ACCESS_ATOM)
        if isinstance(atom, str) and ACCEPTED.fullmatch(atom):
            return atom
    return None
