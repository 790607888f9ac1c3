"""The deployment files (deploy/): compose's worker serves its counts."""

import re

import yaml

from tests.conftest import ROOT
from travelfit.settings import _whole_number

COMPOSE = ROOT / "deploy" / "compose.yaml"
CONTAINERFILE = ROOT / "deploy" / "Containerfile"


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
