"""Shared fixtures: users, logged-in clients, a broker drain and a real worker process."""

import importlib
import os
import pydoc
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.utils import translation
from django_q.brokers import get_broker
from django_q.signing import SignedPackage

from imagegen.models import Generation

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "a-long-enough-passphrase-42"


@pytest.fixture(scope="session", autouse=True)
def collected_static():
    """Hashed static files, as whitenoise's manifest storage serves them in every mode."""
    call_command("collectstatic", interactive=False, verbosity=0)


@pytest.fixture(autouse=True)
def empty_queue():
    """Each test starts with an empty broker queue.

    The ORM broker's queue is a table, emptied with the test database; Redis keeps its list.
    """
    if settings.Q_BROKER == "redis":
        get_broker().purge_queue()


@pytest.fixture(autouse=True)
def default_language_afterwards():
    """Each test leaves the thread in the default language: a request in Korean activates it
    (LocaleMiddleware) and nothing deactivates it, so a service called by the next test would
    speak Korean."""
    yield
    translation.deactivate()


HEALTH_TOKEN = "a-monitors-health-token-0123456789"


@pytest.fixture
def monitor(client, settings):
    """The test client as a monitor that sends HEALTH_TOKEN, so /health shows everything."""
    settings.HEALTH_TOKEN = HEALTH_TOKEN
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {HEALTH_TOKEN}"
    return client


@pytest.fixture
def make_user(db):
    def make(username="alice", **extra):
        return get_user_model().objects.create_user(
            username=username, email=f"{username}@example.org", password=PASSWORD, **extra
        )

    return make


@pytest.fixture
def user(make_user):
    return make_user()


@pytest.fixture
def key(user):
    """A new API key of the user's."""
    from imagegen import services

    return services.create_api_token(user=user, name="alice-laptop")[1]


@pytest.fixture
def api(client, key):
    """A client whose every request carries the user's API key."""
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    return client


@pytest.fixture
def user_client(client, user):
    client.force_login(user)
    return client


def run_queued_tasks():
    """Take every task waiting in the broker and run it in this process, as a worker would.

    Returns how many ran. The broker is the configured one (ORM or Redis), so this also
    proves what submission really put on the queue.
    """
    broker = get_broker()
    ran = 0
    while broker.queue_size():
        for ack_id, payload in broker.dequeue() or []:
            task = SignedPackage.loads(payload)
            pydoc.locate(task["func"])(*task["args"], **task["kwargs"])
            broker.acknowledge(ack_id)
            ran += 1
    return ran


def run_queued_generations():
    """Make every queued generation in this process, as a worker would, whatever the broker:
    with Redis a task is pushed only once its transaction commits, which a test's never does
    (run_queued_tasks proves what reached the broker; this, what the worker makes)."""
    from imagegen.tasks import run_generation

    ran = 0
    while queued := list(
        Generation.objects.filter(status=Generation.Status.QUEUED).values_list("pk", flat=True)
    ):
        for generation_id in queued:
            run_generation(str(generation_id))
            ran += 1
    return ran


@pytest.fixture
def worker_env():
    """Environment for a subprocess that must use this test run's database and queue."""
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    env["TRAVELFIT_TEST_DATABASE_NAME"] = str(connection.settings_dict["NAME"])
    env["TRAVELFIT_TEST_QUEUE"] = settings.Q_CLUSTER["name"]
    env["DATA_DIR"] = str(settings.DATA_DIR)
    return env


@pytest.fixture
def start_worker(transactional_db, worker_env):
    """Start real `manage.py qcluster` processes on the test database and queue.

    `start_worker(providers="demo")` returns the process; the worker's IMAGEGEN_PROVIDERS
    can differ from the test process's; `log_file` keeps its output. All are stopped when the
    test ends.
    """
    processes = []

    def start(providers="demo", log_file=None, **extra_env):
        env = {**worker_env, "TEST_IMAGEGEN_PROVIDERS": providers, **extra_env}
        output = open(log_file, "ab") if log_file else subprocess.DEVNULL  # noqa: SIM115
        process = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT if log_file else subprocess.DEVNULL,
            start_new_session=True,
        )
        if log_file:
            output.close()  # the process has its own copy
        processes.append(process)
        return process

    yield start
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_health(url, process, what, *, any_answer=False, timeout=30):
    """Wait until `url`/health answers 200 (with `any_answer`, any HTTP status), or raise
    RuntimeError when `process` exits or the time is up."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url + "/health", timeout=2)
            return
        except urllib.error.HTTPError:
            if any_answer:
                return
        except OSError:  # not listening yet
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            raise RuntimeError(f"{what} did not start")
        time.sleep(0.1)


@pytest.fixture
def serve_site(transactional_db, worker_env):
    """Start `manage.py serve --no-worker` in a subprocess on the test database: the real server
    (waitress, whitenoise with hashed static files) that `make run` starts. Returns its URL."""
    processes = []

    def start(**extra_env):
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "manage.py", "serve", "--no-worker", "--port", str(port)],
            cwd=ROOT,
            env={**worker_env, **extra_env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        processes.append(process)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_for_health(url, process, "manage.py serve")
        except RuntimeError:
            process.kill()
            raise
        return url

    yield start
    for process in processes:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def start_web(transactional_db, worker_env):
    """`gunicorn -c travelfit/gunicorn.conf.py` on the test database; returns its URL."""
    processes = []

    def start(**extra_env):
        port = free_port()
        env = {**worker_env, "HOST": "127.0.0.1", "PORT": str(port), "WEB_WORKERS": "2"}
        env.update(extra_env)
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "travelfit/gunicorn.conf.py"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        processes.append(process)
        url = f"http://127.0.0.1:{port}"
        # Any answer will do: /health is 503 while no worker is running.
        wait_for_health(url, process, "gunicorn", any_answer=True)
        return url, process

    yield start
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.communicate(timeout=60)


@pytest.fixture
def served_site(serve_site):
    """The site as `make run` serves it; yields its URL."""
    return serve_site()


def wait_until_settled(generation, timeout=60):
    """Poll the database until the generation leaves queued/running (for real workers)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        generation.refresh_from_db()
        if generation.status not in Generation.ACTIVE:
            return generation
        time.sleep(0.1)
    raise AssertionError(f"generation still {generation.status} after {timeout} s")


@pytest.fixture(scope="session")
def gradio_space_server():
    """A real Gradio app with the SD 3.5 Large Space's /infer, started once (it takes ~3 s)."""
    from tests.fakes.gradio_space import start_gradio_space

    space = start_gradio_space()
    yield space
    space.stop()


@pytest.fixture(scope="session")
def gradio_tryon_server():
    """A real Gradio app with IDM-VTON's /tryon (tests/fakes/gradio_tryon.py), started once."""
    from tests.fakes.gradio_tryon import start_gradio_tryon

    space = start_gradio_tryon()
    yield space
    space.stop()


@pytest.fixture
def gradio_space(gradio_space_server, gradio_tryon_server, settings):
    """The fake Spaces, reset, with GRADIO_SPACE and GRADIO_TRYON_SPACE pointing at them."""
    gradio_space_server.reset()
    gradio_tryon_server.reset()
    settings.GRADIO_SPACE = gradio_space_server.url
    settings.GRADIO_TRYON_SPACE = gradio_tryon_server.url
    settings.GRADIO_TIMEOUT = 5.0
    settings.IMAGEGEN_PROVIDERS = ["gradio_space"]
    return gradio_space_server


@pytest.fixture(scope="session")
def s3_server():
    """moto's standalone S3 server on 127.0.0.1 for the whole run (tests/fakes/s3.py)."""
    from tests.fakes.s3 import start_s3_server

    server = start_s3_server()
    yield server
    server.stop()


@pytest.fixture
def s3_media(s3_server, settings):
    """MEDIA_STORAGE=s3 on a fresh private bucket of the moto server; yields (server, bucket)."""
    from tests.fakes import s3
    from travelfit.settings import s3_storage

    bucket = s3_server.create_bucket()
    settings.MEDIA_STORAGE = "s3"
    settings.AWS_STORAGE_BUCKET_NAME = bucket
    settings.AWS_S3_ENDPOINT_URL = s3_server.url
    settings.STORAGES = {
        **settings.STORAGES,
        "default": s3_storage(
            bucket=bucket,
            endpoint_url=s3_server.url,
            region=s3.REGION,
            access_key=s3.ACCESS_KEY,
            secret_key=s3.SECRET_KEY,
            addressing_style="path",
            location="",
        ),
    }
    s3_server.reset_count()
    return s3_server, bucket


def s3_environment(server, bucket):
    """The variables an operator sets for the bucket, for processes a test starts."""
    from tests.fakes import s3

    return {
        "MEDIA_STORAGE": "s3",
        "AWS_STORAGE_BUCKET_NAME": bucket,
        "AWS_S3_ENDPOINT_URL": server.url,
        "AWS_S3_REGION_NAME": s3.REGION,
        "AWS_ACCESS_KEY_ID": s3.ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": s3.SECRET_KEY,
    }


@pytest.fixture
def presets(db):
    """The presets the data migration ships. A transactional test's flush removes migrated
    rows, so tests that need them ask for this, which ships them again when missing."""
    from django.apps import apps

    importlib.import_module("imagegen.migrations.0004_ship_presets").ship(apps, None)


@pytest.fixture
def fal_edits(settings):
    """Edits by FLUX.1 Kontext through hf_inference on fal-ai's queue, all answered by the
    stand-in Hugging Face router (tests/fakes/hf_server.py); yields the server."""
    from tests.fakes.hf_server import huggingface_hub_pointed_at, start_hf_server

    with start_hf_server() as server:
        server.polls_in_progress = 1
        settings.HUGGINGFACE_API_TOKEN = "hf_EditsTokenAbcdefghijklmnop12345"
        settings.HF_ROUTER_URL = server.url
        settings.HF_TIMEOUT = 10.0
        settings.HF_EDIT_MODEL = "black-forest-labs/FLUX.1-Kontext-dev"
        settings.HF_EDIT_PROVIDER = "fal-ai"
        settings.IMAGEGEN_PROVIDERS = ["hf_inference"]
        with huggingface_hub_pointed_at(server.url):
            yield server
