"""The production layout: gunicorn with the checked-in config, and web and workers as separate
machines (separate DATA_DIRs) sharing only PostgreSQL, Redis and the bucket."""

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from imagegen import services
from imagegen.models import Generation
from tests.conftest import ROOT, s3_environment, wait_until_settled


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def request(url, *, key=None, body=None, follow=True):
    """(status, headers, body) of a request as an API client or a browser makes it."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    opener = urllib.request.build_opener() if follow else urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(urllib.request.Request(url, data, headers), timeout=20) as answer:
            return answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def test_gunicorn_serves_health_pages_and_long_cached_static_files(start_web):
    url, process = start_web()
    status, _, body = request(url + "/health")
    assert status == 200 and json.loads(body)["status"] == "healthy"
    status, _, page = request(url + "/accounts/login/")
    assert status == 200 and b"Log in" in page
    stylesheet = page.decode().split('rel="stylesheet" href="')[1].split('"')[0]
    assert ".css" in stylesheet and stylesheet != "/static/css/site.css"  # a hashed name
    status, headers, _ = request(url + stylesheet)
    assert status == 200 and "max-age=315360000" in headers["Cache-Control"]
    os.killpg(process.pid, signal.SIGTERM)
    output = process.communicate(timeout=60)[0].decode()
    assert '"GET /health HTTP/1.1" 200' in output  # the access log, on stdout
    assert "Shutting down: Master" in output


def test_two_gunicorns_under_one_user_leave_each_other_alone(start_web, tmp_path):
    """gunicorn 27 would open $HOME/.gunicorn/gunicorn.ctl for each, the second unlinking the
    first one's; TravelFit's config turns it off unless WEB_CONTROL_SOCKET names a path."""
    home = tmp_path / "home"
    home.mkdir()
    first, _ = start_web(HOME=str(home), XDG_RUNTIME_DIR="")
    own = tmp_path / "second.ctl"
    second, _ = start_web(HOME=str(home), XDG_RUNTIME_DIR="", WEB_CONTROL_SOCKET=str(own))
    assert request(first + "/health")[0] == request(second + "/health")[0] == 200
    assert not (home / ".gunicorn").exists()
    assert own.is_socket()


TWO_MACHINES = pytest.mark.skipif(
    not (connection.vendor == "postgresql" and settings.Q_BROKER == "redis"),
    reason="machines share PostgreSQL and Redis (CI's second run)",
)


@TWO_MACHINES
@pytest.mark.worker
def test_web_and_workers_on_different_machines_share_only_database_queue_and_bucket(
    start_web, start_worker, s3_server, make_user, tmp_path
):
    bucket = s3_server.create_bucket()
    shared = s3_environment(s3_server, bucket)
    machines = {name: tmp_path / name for name in ("web", "worker1", "worker2")}
    fast_recovery = {"IMAGEGEN_HEARTBEAT_SECONDS": "0.5", "IMAGEGEN_RECOVERY_INTERVAL": "1"}
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT,
        env={**os.environ, **shared, "DATA_DIR": str(machines["web"])},
        check=True,
    )
    web, _ = start_web(DATA_DIR=str(machines["web"]), **shared)
    first_worker = start_worker(
        DATA_DIR=str(machines["worker1"]), IMAGEGEN_DEMO_DELAY="4", **shared, **fast_recovery
    )
    owner, stranger = make_user("owner"), make_user("stranger")
    key = services.create_api_token(user=owner, name="laptop")[1]
    other_key = services.create_api_token(user=stranger, name="x")[1]

    # Submitted on the web, made by the worker, served by the web from the bucket.
    status, _, body = request(
        web + "/api/v1/generations",
        key=key,
        body={"prompt": "Seoul at night", "width": 512, "height": 512},
    )
    assert status == 201, body
    made = Generation.objects.get(pk=json.loads(body)["results"][0]["id"])
    assert wait_until_settled(made, timeout=60).status == Generation.Status.SUCCEEDED
    for path, kind in (("image.png", b"\x89PNG"), ("thumb.webp", b"RIFF")):
        url = f"{web}/api/v1/generations/{made.pk}/{path}"
        status, headers, _ = request(url, key=key, follow=False)
        assert status == 302 and headers["Location"].startswith(s3_server.url)
        assert request(url, key=key)[2][:4] == kind
        assert request(url, key=other_key, follow=False)[0] == 404
    token = services.share_generation(generation_id=made.pk, user=owner)
    assert request(f"{web}/s/{token}/image.png")[2][:4] == b"\x89PNG"
    assert request(f"{web}/s/{token}/", follow=True)[0] == 200

    # The first worker dies mid-generation; one on a third machine takes over.
    status, _, body = request(
        web + "/api/v1/generations",
        key=key,
        body={"prompt": "Busan harbour", "width": 512, "height": 512},
    )
    second = Generation.objects.get(pk=json.loads(body)["results"][0]["id"])
    deadline = time.monotonic() + 30
    while second.status != Generation.Status.RUNNING and time.monotonic() < deadline:
        time.sleep(0.1)
        second.refresh_from_db()
    assert second.status == Generation.Status.RUNNING
    os.killpg(first_worker.pid, signal.SIGKILL)
    first_worker.wait()
    start_worker(
        DATA_DIR=str(machines["worker2"]), IMAGEGEN_DEMO_DELAY="0", **shared, **fast_recovery
    )
    assert wait_until_settled(second, timeout=60).status == Generation.Status.SUCCEEDED
    assert second.recoveries == 1
    url = f"{web}/api/v1/generations/{second.pk}/image.png"
    assert request(url, key=key)[2][:4] == b"\x89PNG"

    # No machine kept an image of its own: they are all in the bucket.
    assert not any(
        Path(folder, "media").exists() and any(Path(folder, "media").rglob("*.png"))
        for folder in machines.values()
    )
    images = [k for k in s3_server.keys(bucket) if k.endswith(".png")]
    assert len([k for k in images if not k.endswith(".labelled.png")]) == 2


def production_environment(tmp_path):
    """.env.production.example as an operator fills it in: the secret, the folder, and their
    content credentials' signing certificate and key (here one made as `make run` makes its
    local one; an operator's comes from a CA on the C2PA trust list)."""
    from imagegen.marks import signing_key

    signing_key.ensure_local_certificate(tmp_path / "operator-c2pa")
    env = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG"}}
    env.update(
        {
            "TRAVELFIT_ENV_FILE": str(ROOT / ".env.production.example"),
            "SECRET_KEY": "3vQ9-xL2_pK7wE4rT1yU8iO5aS6dF0gH-jZ3cX7vB9nM2qW4eR",
            "DATA_DIR": str(tmp_path),
            "C2PA_SIGNING_CERT": str(tmp_path / "operator-c2pa" / signing_key.CHAIN_FILE),
            "C2PA_SIGNING_KEY": str(tmp_path / "operator-c2pa" / signing_key.KEY_FILE),
        }
    )
    return env


def test_the_production_example_passes_the_deploy_check(tmp_path):
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=production_environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_production_variable_is_a_documented_setting():
    documented = set(re.findall(r"^#? ?([A-Z_0-9]+)=", (ROOT / ".env.example").read_text(), re.M))
    production = set(
        re.findall(r"^#? ?([A-Z_0-9]+)=", (ROOT / ".env.production.example").read_text(), re.M)
    )
    assert production - documented == set()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL backup")
def test_the_backup_command_in_the_readme_makes_a_restorable_dump(db, tmp_path):
    """README, Production, Backups: pg_dump --format=custom, checked with pg_restore --list."""
    database = connection.settings_dict
    url = f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
    dump = tmp_path / "travelfit.dump"
    subprocess.run(["pg_dump", "--format=custom", f"--file={dump}", url], check=True, timeout=120)
    listing = subprocess.run(
        ["pg_restore", "--list", str(dump)], check=True, capture_output=True, text=True
    ).stdout
    assert "imagegen_generation" in listing
    readme = (ROOT / "README.md").read_text()
    assert 'pg_dump --format=custom --file=travelfit-$(date +%F).dump "$DATABASE_URL"' in readme
