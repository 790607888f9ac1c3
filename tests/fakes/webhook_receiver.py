"""A webhook receiver on 127.0.0.1: records every request and answers as a test scripts it.

``receiver.answers`` is a list of (status, body, headers) taken in turn, then ``default``;
``receiver.delay`` makes each answer wait that many seconds (for timeouts). ``received`` holds
one Received per request, in order.
"""

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    method: str
    path: str
    headers: dict
    body: bytes


@dataclass
class Receiver:
    server: ThreadingHTTPServer
    received: list = field(default_factory=list)
    answers: list = field(default_factory=list)
    default: tuple = (200, b"ok", {})
    delay: float = 0.0

    @property
    def port(self):
        return self.server.server_address[1]

    def url(self, path="/hook", host="127.0.0.1"):
        return f"http://{host}:{self.port}{path}"

    def next_answer(self):
        return self.answers.pop(0) if self.answers else self.default

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def start_receiver():
    receiver = None

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length", 0))
            body = self.rfile.read(length)
            receiver.received.append(
                Received(
                    method="POST",
                    path=self.path,
                    headers={name.lower(): value for name, value in self.headers.items()},
                    body=body,
                )
            )
            status, answer, headers = receiver.next_answer()
            if receiver.delay:
                time.sleep(receiver.delay)
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the sender gave up waiting

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver = Receiver(server=server)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return receiver
