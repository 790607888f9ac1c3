"""What the API's operations share: how an answer is rendered, answers given once per
Idempotency-Key, and the documentation of file answers."""

from django.http import HttpResponse
from ninja.renderers import JSONRenderer

from lib.json_errors import JSON_DUMPS_PARAMS

from .. import idempotency


class Utf8Renderer(JSONRenderer):
    """Korean (and every other text) as UTF-8, not \\u-escaped."""

    json_dumps_params = JSON_DUMPS_PARAMS


RENDERER = Utf8Renderer()
# JSON is UTF-8 by definition (RFC 8259); the errors say plain application/json too.
CONTENT_TYPE = "application/json"


def json_answer(request, data, *, status):
    """`data` rendered as the API renders every answer (what ninja's create_response does)."""
    content = RENDERER.render(request, data, response_status=status)
    return HttpResponse(content, status=status, content_type=CONTENT_TYPE)


IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[ -~]+$"},
    "description": "Any unique text (a UUID): the same key and body within 24 h gets the first "
    "answer again, and nothing is done or charged twice.",
}


def idempotent(request, answer):
    """The response of `answer()` (status, data, headers), given once per Idempotency-Key: a
    repeat gets it replayed, with nothing done or charged again (imagegen.idempotency)."""

    def respond():
        status, data, headers = answer()
        response = json_answer(request, data, status=status)
        for name, value in headers.items():
            response[name] = value
        return response

    return idempotency.with_idempotency(request, request.user, respond)


def file_responses(*content_types):
    binary = {"schema": {"type": "string", "format": "binary"}}
    return {
        "responses": {
            200: {
                "description": "The file.",
                "content": {content_type: binary for content_type in content_types},
            },
            302: {"description": "A signed link to the file in the site's bucket, for minutes."},
        }
    }
