"""The deployment files (deploy/): compose's worker serves its counts, the image's user and
health check, and the health check itself against a real server."""

import os
import re
import subprocess
import sys

import pytest
import yaml

from tests.conftest import ROOT, free_port
from travelfit.settings import _whole_number

COMPOSE = ROOT / "deploy" / "compose.yaml"
CONTAINERFILE = ROOT / "deploy" / "Containerfile"
HEALTHCHECK = ROOT / "deploy" / "healthcheck.py"


def stages(text):
    """The Containerfile's stages, each as its lines (continuations joined)."""
    joined = re.sub(r"\\\n\s*", " ", text)
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if line.startswith("FROM "):
            found.append([])
        if found and line and not line.startswith("#"):
            found[-1].append(line)
    return found


def image_environment(stage):
    """The ENV names and values set in a stage."""
    values = {}
    for line in stage:
        if line.startswith("ENV "):
            values.update(re.findall(r"(\w+)=(\S+)", line))
    return values


def test_compose_worker_serves_its_counts_on_metrics_port():
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    worker = services["worker"]
    environment = worker["environment"]
    # What qcluster reads (travelfit/settings.py): a port number, 0 being "not served".
    port = _whole_number(0, 65535)(str(environment["METRICS_PORT"]))
    assert port > 0
    # Bound so that Prometheus outside the worker's container can reach it.
    assert environment["METRICS_ADDR"] in ("0.0.0.0", "::")
    published = [str(entry).rsplit(":", 1)[-1] for entry in worker.get("ports", [])]
    assert str(port) in published
    assert str(port) in [str(entry) for entry in worker.get("expose", [])]
    # The rest of the app's settings are still the worker's (the merge is not shallow).
    assert environment["DATABASE_URL"] == services["web"]["environment"]["DATABASE_URL"]
    # qcluster serves the counts only from the multiprocess directory, which the image sets.
    assert image_environment(stages(CONTAINERFILE.read_text())[-1])["PROMETHEUS_MULTIPROC_DIR"]


def test_the_image_runs_as_a_numeric_user_with_a_health_check_and_no_pip():
    final = stages(CONTAINERFILE.read_text())[-1]
    users = [line.split()[1] for line in final if line.startswith("USER ")]
    assert users and users[-1].isdigit() and int(users[-1]) != 0
    assert any(line.startswith("HEALTHCHECK ") and "healthcheck.py" in line for line in final)
    assert len(stages(CONTAINERFILE.read_text())) >= 2
    # Packages are installed in the build stage; the final one only copies the venv.
    assert not any("pip install" in line for line in final)
    assert any(line.startswith("COPY --from=") and "/opt/venv" in line for line in final)


def check_health(port, role, tmp_path, says="", **environ):
    """deploy/healthcheck.py's exit code, as the container runs it; a failure's stderr must
    contain `says`."""
    role_file = tmp_path / "role"
    role_file.write_text(role + "\n")
    env = {**os.environ, "TRAVELFIT_ROLE_FILE": str(role_file), "PORT": str(port), **environ}
    done = subprocess.run(
        [sys.executable, str(HEALTHCHECK)], env=env, capture_output=True, text=True, timeout=30
    )
    assert says in done.stderr
    return done.returncode


@pytest.mark.django_db(transaction=True)
def test_the_health_check_asks_health_with_a_host_the_site_accepts(live_server, settings, tmp_path):
    settings.ALLOWED_HOSTS = ["travelfit.example"]
    port = live_server.url.rsplit(":", 1)[-1]
    assert check_health(port, "web", tmp_path, ALLOWED_HOSTS="travelfit.example") == 0
    assert check_health(port, "web", tmp_path, ALLOWED_HOSTS=".travelfit.example,x.test") == 0
    # A Host the site refuses is a 400, not health.
    assert check_health(port, "web", tmp_path, "400", ALLOWED_HOSTS="other.example") == 1


@pytest.mark.django_db(transaction=True)
def test_the_health_check_fails_when_the_site_cannot_serve(live_server, settings, tmp_path):
    port = live_server.url.rsplit(":", 1)[-1]
    assert check_health(port, "web", tmp_path, ALLOWED_HOSTS="") == 0
    settings.IMAGEGEN_PROVIDERS = ["hf_inference"]  # no token: no provider able to serve (503)
    settings.HUGGINGFACE_API_TOKEN = ""
    assert check_health(port, "web", tmp_path, "503", ALLOWED_HOSTS="") == 1


def test_the_health_check_asks_the_worker_s_metrics_port(tmp_path):
    from prometheus_client import CollectorRegistry, start_http_server

    port = free_port()
    assert check_health(8, "worker", tmp_path, METRICS_PORT=str(port)) == 1  # nothing there
    server, thread = start_http_server(port, addr="127.0.0.1", registry=CollectorRegistry())
    try:
        assert check_health(8, "worker", tmp_path, METRICS_PORT=str(port)) == 0
    finally:
        server.shutdown()
        thread.join()
    # Without a metrics port there is nothing to ask: a running worker is healthy.
    assert check_health(8, "worker", tmp_path, METRICS_PORT="0") == 0
