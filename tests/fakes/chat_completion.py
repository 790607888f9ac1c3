"""A stand-in for the Hugging Face router's chat completions on 127.0.0.1.

What huggingface_hub 2.4.0 sends for ``InferenceClient(provider="auto", api_key="hf_…")
.chat_completion(messages, model="owner/model", response_format=…)``: no Hub look-up (the
conversational auto-router skips it), then ``POST {router}/v1/chat/completions`` where
``router`` is ``huggingface_hub.inference._providers.CONVERSATIONAL_AUTO_ROUTER.base_url``
(``https://router.huggingface.co``; imagegen.trips.planner points it at HF_ROUTER_URL), with
``authorization: Bearer hf_…`` and the OpenAI body ``{"model": "owner/model", "messages": […],
"response_format": …, "max_tokens": …, "temperature": …}`` (None values dropped), the
response_format as given. (With ``InferenceClient(base_url="…/v1")`` instead, the hf-inference
helper would post to the same path but rewrite a json_schema response_format into TGI's
``{"type": "json_object", "value": schema}``.)

The answer is OpenAI's chat.completion object: ``{"id", "object": "chat.completion",
"created", "model", "choices": [{"index": 0, "message": {"role": "assistant", "content": …},
"finish_reason": "stop"}], "usage": {…}}``. ``server.content`` is the assistant's text, or a
callable given the request's JSON body that returns it.

``server.behaviour``: ``ok``; ``slow`` (waits ``server.slow_seconds``, 30, first); ``401``,
``429``, ``500``, ``503`` (HF's ``{"error": "…"}`` bodies); ``echo-400`` (a 400 whose error
echoes the Authorization header, as some proxies do); ``html`` (200 with HTML);
``no-choices`` (200, ``"choices": []``); ``hangup``. ``server.requests`` records each POST
(path, headers with lower-case names, JSON body).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BEHAVIOURS = frozenset(
    {"ok", "slow", "401", "429", "500", "503", "echo-400", "html", "no-choices", "hangup"}
)
ERRORS = {
    "401": "Invalid credentials in Authorization header",
    "429": "You have exceeded your monthly included credits for Inference Providers.",
    "500": "Internal Server Error",
    "503": "Service Unavailable",
}


@dataclass
class Recorded:
    path: str
    headers: dict
    json: dict


class FakeChatRouter(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.behaviour = "ok"
        self.slow_seconds = 30.0
        self.content: str | Callable[[dict], str] = "{}"
        self.requests: list[Recorded] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: FakeChatRouter

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        headers = {name.lower(): value for name, value in self.headers.items()}
        request = json.loads(body or b"{}")
        self.server.requests.append(Recorded(self.path, headers, request))
        behaviour = self.server.behaviour
        if behaviour not in BEHAVIOURS:
            raise ValueError(f"unknown behaviour {behaviour!r}")
        if self.path != "/v1/chat/completions":
            return self._send(404, {"error": "Not Found"})
        if behaviour == "slow":
            time.sleep(self.server.slow_seconds)
        if behaviour == "hangup":
            self.close_connection = True
            return None
        if behaviour in ERRORS:
            return self._send(int(behaviour), {"error": ERRORS[behaviour]})
        if behaviour == "echo-400":
            return self._send(400, {"error": f"bad request from {headers.get('authorization')}"})
        if behaviour == "html":
            return self._send(200, b"<html>Bad Gateway</html>")
        content = self.server.content
        text = content(request) if callable(content) else content
        choices = [] if behaviour == "no-choices" else [_choice(text)]
        return self._send(
            200,
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": request.get("model"),
                "system_fingerprint": "fake",
                "choices": choices,
                "usage": {"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150},
            },
        )

    def _send(self, status, answer):
        body = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args):
        pass


def _choice(text):
    return {
        "index": 0,
        "message": {"role": "assistant", "content": text},
        "finish_reason": "stop",
        "logprobs": None,
    }


def start_chat_router() -> FakeChatRouter:
    server = FakeChatRouter()
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server
