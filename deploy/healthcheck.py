"""The container's HEALTHCHECK: exit 0 when this container's process answers, 1 when not.

The entrypoint writes its role to ROLE_FILE. web: GET /health on PORT must answer 200 (healthy
or degraded; 503 is unhealthy), sent with a Host that ALLOWED_HOSTS accepts. worker: its
METRICS_PORT must answer (with no METRICS_PORT there is nothing to ask, and a running worker
counts as healthy). Anything else (migrate, a one-off command) is healthy while it runs.
Standard library only: the slim image has no curl.
"""

import os
import sys
import urllib.error
import urllib.request

ROLE_FILE = os.environ.get("TRAVELFIT_ROLE_FILE", "/tmp/travelfit-role")
TIMEOUT_SECONDS = 4


def host_header(allowed_hosts: str) -> str:
    """A Host the site accepts: the first name in ALLOWED_HOSTS (a `.example.com` pattern gives
    example.com), or 127.0.0.1 when it is empty or `*`."""
    for name in (part.strip() for part in allowed_hosts.split(",")):
        if name and name != "*":
            return name.lstrip(".")
    return "127.0.0.1"


def answers(url: str, host: str | None = None) -> bool:
    request = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            return response.status == 200
    except (OSError, urllib.error.URLError) as exc:
        print(f"{url}: {exc}", file=sys.stderr)
        return False


def healthy(role: str, environ) -> bool:
    if role == "web":
        port = environ.get("PORT", "8000")
        host = host_header(environ.get("ALLOWED_HOSTS", ""))
        return answers(f"http://127.0.0.1:{port}/health", host)
    if role == "worker":
        port = environ.get("METRICS_PORT", "0")
        addr = environ.get("METRICS_ADDR", "127.0.0.1")
        addr = "127.0.0.1" if addr in ("", "0.0.0.0", "::") else addr
        addr = f"[{addr}]" if ":" in addr else addr
        return port in ("", "0") or answers(f"http://{addr}:{port}/")
    return True


def main() -> int:
    try:
        with open(ROLE_FILE) as file:
            role = file.read().strip()
    except OSError:
        role = ""
    return 0 if healthy(role, os.environ) else 1


if __name__ == "__main__":
    sys.exit(main())
