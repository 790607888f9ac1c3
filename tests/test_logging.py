"""The web process's log, as gunicorn with the checked-in config writes it: every line of a
request carries its id (Django's own "Not Found" and "Too Many Requests" lines, and gunicorn's
access line), and with LOG_FORMAT=json every line, gunicorn's start-up and shutdown included, is
one JSON object (lib/request_id.py, travelfit/gunicorn.conf.py)."""

import io
import json
import logging
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request

from imagegen import services
from lib.request_id import RequestIdApplication, RequestIdFilter
from tests.conftest import ROOT


def get(url, request_id, **headers):
    """(status, headers) of a GET sending `X-Request-ID: request_id`."""
    asked = urllib.request.Request(url, headers={"X-Request-ID": request_id, **headers})
    try:
        with urllib.request.urlopen(asked, timeout=20) as answer:
            return answer.status, answer.headers
    except urllib.error.HTTPError as error:
        return error.code, error.headers


def stopped(process):
    """Everything the web process wrote (stdout and stderr), once it has stopped."""
    os.killpg(process.pid, signal.SIGTERM)
    return process.communicate(timeout=60)[0].decode()


def test_with_log_format_json_every_line_of_the_web_process_is_one_json_object(start_web, user):
    url, process = start_web(LOG_FORMAT="json", API_RATE_LIMIT="1")
    key = services.create_api_token(user=user, name="logs")[1]
    assert get(url + "/health", "health-check-1")[0] in (200, 503)
    status, headers = get(url + "/no/such/page", "trace-missing-1")
    assert status == 404 and headers["X-Request-ID"] == "trace-missing-1"
    for attempt in (1, 2):
        status, _ = get(
            url + "/api/v1/quota", f"trace-limit-{attempt}", Authorization=f"Bearer {key}"
        )
    assert status == 429
    output = stopped(process)

    lines = [line for line in output.splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # each line, or this fails naming it
    assert len(entries) == len(lines) > 5
    loggers = {entry["logger"] for entry in entries}
    assert {"gunicorn.error", "gunicorn.access", "django.request"} <= loggers
    assert any("Starting gunicorn" in entry["message"] for entry in entries)
    assert any("Shutting down: Master" in entry["message"] for entry in entries)

    def lines_of(request_id):
        return [entry for entry in entries if entry["request_id"] == request_id]

    missing = lines_of("trace-missing-1")
    assert {entry["logger"] for entry in missing} == {"django.request", "gunicorn.access"}
    (access,) = [entry for entry in missing if entry["logger"] == "gunicorn.access"]
    assert access["http"]["status"] == 404 and access["http"]["path"] == "/no/such/page"
    assert access["http"]["method"] == "GET" and access["http"]["duration_ms"] >= 0
    (not_found,) = [entry for entry in missing if entry["logger"] == "django.request"]
    assert not_found["message"] == "Not Found: /no/such/page"
    limited = lines_of("trace-limit-2")
    assert any(entry["message"].startswith("Too Many Requests") for entry in limited)
    assert any(entry["logger"] == "gunicorn.access" for entry in limited)
    # Outside any request, a line says so rather than borrowing an id.
    assert all(entry["request_id"] == "-" for entry in entries if "Booting" in entry["message"])


def test_in_the_text_format_a_requests_lines_carry_its_id_too(start_web):
    url, process = start_web()
    status, headers = get(url + "/no/such/page", "trace-text-1")
    made = headers["X-Request-ID"]
    status, headers = get(url + "/no/other/page", "not a valid id")  # replaced by a new one
    made_for_us = headers["X-Request-ID"]
    assert status == 404 and made_for_us != "not a valid id"
    output = stopped(process)
    assert made == "trace-text-1"
    lines = output.splitlines()
    assert any("django.request [trace-text-1]: Not Found: /no/such/page" in line for line in lines)
    assert any(
        "gunicorn.access [trace-text-1]: " in line and '"GET /no/such/page HTTP/1.1" 404' in line
        for line in lines
    )
    assert any(
        f"django.request [{made_for_us}]: Not Found: /no/other/page" in line for line in lines
    )


def test_lines_written_while_the_body_streams_and_at_its_close_carry_the_id():
    """A streamed response is read, and closed, after Django's middleware has returned."""
    written = io.StringIO()
    handler = logging.StreamHandler(written)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(logging.Formatter("%(request_id)s %(message)s"))
    log = logging.getLogger("tests.streaming")
    log.addHandler(handler)
    log.setLevel(logging.INFO)

    class Body:
        def __iter__(self):
            log.info("chunk")
            yield b"zip bytes"

        def close(self):
            log.info("closed")

    def application(environ, start_response):
        start_response("200 OK", [("Content-Type", "application/zip")])
        return Body()

    try:
        body = RequestIdApplication(application)(
            {"HTTP_X_REQUEST_ID": "trace-stream-1"}, lambda *args: None
        )
        assert b"".join(body) == b"zip bytes"
        log.info("between")  # as gunicorn's access line is written, before close()
        body.close()
        log.info("after")
    finally:
        log.removeHandler(handler)
    assert written.getvalue().splitlines() == [
        "trace-stream-1 chunk",
        "trace-stream-1 between",
        "trace-stream-1 closed",
        "- after",
    ]


def test_a_python_warning_is_a_json_line_too(tmp_path):
    """whitenoise warns at start-up when STATIC_ROOT is missing, libraries warn of deprecations:
    with LOG_FORMAT=json such lines are JSON like every other."""
    code = "import warnings; warnings.warn('No directory at: /srv/static/', UserWarning)"
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "SECRET_KEY": "k" * 50,
            "DATA_DIR": str(tmp_path),
            "LOG_FORMAT": "json",
            "TRAVELFIT_ENV_FILE": "/dev/null",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    (line,) = [json.loads(text) for text in result.stderr.splitlines()]
    assert line["logger"] == "py.warnings" and line["level"] == "WARNING"
    assert "No directory at: /srv/static/" in line["message"]
