"""The JSON API's error answer, in one shape for every layer that can refuse a request (the API,
Idempotency-Key, Django's own error handlers under /api/): {"error": {"code", "message", …}}.

JSON goes out as UTF-8 text, not \\u-escaped: a Korean message reads as Korean in curl.
"""

from django.http import JsonResponse

JSON_DUMPS_PARAMS = {"ensure_ascii": False}


def json_error(http_status, code, message, *, headers=None, **extra) -> JsonResponse:
    """An error answer with `http_status`; `extra` adds fields beside code and message (a
    generation's `status` among them)."""
    response = JsonResponse(
        {"error": {"code": code, "message": message, **extra}},
        status=http_status,
        json_dumps_params=JSON_DUMPS_PARAMS,
    )
    for name, value in (headers or {}).items():
        response[name] = value
    return response
