"""A real S3 server on 127.0.0.1: moto's standalone server (the one `moto_server` runs), in a
thread of the test process, counting the requests it answers.

boto3 and django-storages talk to it over HTTP exactly as to AWS, MinIO or R2: signed requests,
presigned URLs, real status codes. Only the counting is ours, a WSGI wrapper around moto's app,
so that a test can prove a page made no S3 request (signed URLs are computed, not fetched).

Example::

    with start_s3_server() as s3:
        s3.create_bucket("travelfit-test")
        ... AWS_S3_ENDPOINT_URL = s3.url ...
        assert s3.requests == 0
"""

from __future__ import annotations

import logging
import threading
import uuid

from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

ACCESS_KEY = "testing-access-key"
SECRET_KEY = "testing-secret-key-0123456789"
REGION = "us-east-1"


class S3Server(ThreadedMotoServer):
    """ThreadedMotoServer on a free port of 127.0.0.1, with a request counter."""

    def __init__(self):
        super().__init__(ip_address="127.0.0.1", port=0, verbose=False)
        self.requests = 0
        self.paths: list[str] = []
        self._count_lock = threading.Lock()

    def _server_entry(self) -> None:
        moto_app = DomainDispatcherApplication(create_backend_app)

        def counting_app(environ, start_response):
            if not environ.get("PATH_INFO", "").startswith("/moto-api"):
                with self._count_lock:
                    self.requests += 1
                    self.paths.append(f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}")
            return moto_app(environ, start_response)

        self._server = make_server(
            self._ip_address, self._port, counting_app, True, request_handler=MotoRequestHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()

    @property
    def url(self) -> str:
        host, port = self.get_host_and_port()
        return f"http://{host}:{port}"

    def client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )

    def create_bucket(self, name: str | None = None) -> str:
        """A new private bucket (a fresh name unless given); returns its name."""
        name = name or f"travelfit-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str) -> list[str]:
        listed = self.client().list_objects_v2(Bucket=bucket)
        return sorted(item["Key"] for item in listed.get("Contents", []))

    def reset_count(self) -> None:
        with self._count_lock:
            self.requests = 0
            self.paths.clear()

    def __enter__(self) -> S3Server:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


def start_s3_server() -> S3Server:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    server = S3Server()
    server.start()
    return server
