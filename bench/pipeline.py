"""The image pipeline under real workers: where a generation's time goes, from submit to done.

    python bench/pipeline.py [--quick] [--latency] [--json]

A stand-in provider (a ThreadingHTTPServer on 127.0.0.1, `hf_endpoint`'s protocol) answers every
POST with the same photo-like 1024×1024 PNG (noise over gradients, ~1.5 MB) exactly 1.0 s after
the request arrived, and notes when each request arrived and when its answer had been written.
Real `manage.py qcluster` processes (each in its own process group, stopped at the end) serve
generations from a database of the script's own, on the configured database and broker: SQLite
and the ORM broker by default; PostgreSQL and Redis with DATABASE_URL=postgres://… Q_BROKER=redis
in the environment (a database named travelfit_pipeline_<pid>, dropped at the end; Redis database
BENCH_REDIS_DB, 15 unless set, on REDIS_URL's server, with a queue of the script's own). Q_POLL and
the other settings pass through the environment to the workers.

The figures (all times are wall-clock; CPU comes from /proc/<pid>/stat of every process in the
cluster's process group, reaped children included):

1. End-to-end ÷ direct call, p50 and p95: one generation at a time, from calling
   submit_generation until the row reads `succeeded` (polled every 5 ms), against a direct POST
   of the same JSON to the stand-in (alternating; each submission after a random pause of up
   to 0.25 s, so that it lands anywhere in the broker's poll cycle). 1.0× would be a pipeline
   that adds nothing to the provider's own time.
2. Dispatch: created_at → started_at (the queue and the worker picking the task up), and the
   submit call's start → the stand-in's request arrival (all that happens before the provider
   is asked), p50 and p95 in ms.
3. After the provider answered: the stand-in's answer fully written → finished_at (reading,
   checking, re-encoding, thumbnail, storing, the final UPDATE), p50 and p95 in ms.
4. Worker CPU per generation: CPU seconds of all the cluster's processes over the steady part of
   a batch (W=2), divided by the generations finished in it.
5. Throughput ÷ ideal for W = 2, 8, 16 workers: a batch of 4×W generations (at least 12), each
   from its own user with a big quota (so no per-user limit holds one back); images/s between
   the end of the first wave (the W-th finished) and the start of the last (the (n−W)-th),
   divided by W / 1.0 s (each worker busy only with the provider). With the CPU per image of
   the cluster and of this script, how busy the whole machine was (another load on it shows
   there), and RSS per worker process and of the cluster's other processes (MB).
6. Fairness: 2 workers; user A submits 50, then user B submits 1. How many provider latencies
   (1.0 s) B's generation waits from its submission to its start, and to done. A fair queue
   would start it within about one.
7. Idle cost: CPU of an idle cluster's processes over ~10 s, as % of one core (W=2, and W=16 in
   a full run); with PostgreSQL the transactions/s on the database, with Redis the commands/s on
   the script's Redis database (counted with MONITOR). SQLite queries cannot be counted from
   outside: the ORM broker's pusher runs one SELECT per poll when the queue is empty.

`--latency` measures figures 1–4 only (W=2: the one-at-a-time samples, then one batch for the
CPU per image), in a few minutes. `run(quick=False)` returns the figures as a dict (it runs in a
child process when Django is already set up in the caller, as in bench/run.py); the script
prints them as Markdown.
"""

import argparse
import contextlib
import hashlib
import http.client
import io
import json
import logging
import math
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
PROVIDER_SECONDS = 1.0
SIZE = 1024
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
JSON_MARK = "PIPELINE-JSON: "
ENDPOINT_PATH = "/endpoint"
# The image safety check runs as configured by default (IMAGEGEN_SAFETY_CHECK=hf_inference) and
# asks this stand-in too: its answer is immediate, so what is measured is our side of it (the
# image's upload to the classifier, the answer's reading); the real service's own time comes on
# top. BENCH_SAFETY=off measures without the check; BENCH_CLASSIFIER_SECONDS=0.15 makes the
# stand-in answer the classification after that long, as the real service takes (the marks are
# made meanwhile: what they cost then is what the wait does not hide).
CLASSIFIER_SECONDS = float(os.environ.get("BENCH_CLASSIFIER_SECONDS") or 0)
SAFETY_MODEL = "Falconsai/nsfw_image_detection"
SAFETY_ANSWER = b'[{"label": "normal", "score": 0.98}, {"label": "nsfw", "score": 0.02}]'

FULL = {
    "samples": 45,
    "waves": 4,
    "min_batch": 12,
    "fair_ahead": 50,
    "idle_seconds": 10.0,
    "workers": (2, 8, 16),
    "idle_workers": (2, 16),
}
QUICK = {
    "samples": 12,
    "waves": 3,
    "min_batch": 8,
    "fair_ahead": 16,
    "idle_seconds": 5.0,
    "workers": (2, 8, 16),
    "idle_workers": (2,),
}


def log(message):
    print(f"[pipeline {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def percentile(values, q):
    """Nearest-rank percentile (p50 of 45 values is the 23rd, p95 the 43rd)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def photo_like_png(size=SIZE):
    """A PNG that compresses like a photo (noise over gradients), not like a flat picture."""
    from PIL import Image

    noise = Image.effect_noise((size, size), 14)
    gradient = Image.linear_gradient("L").resize((size, size))
    image = Image.merge("RGB", (noise, gradient, Image.blend(noise, gradient.rotate(90), 0.5)))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


# --- The provider stand-in ---------------------------------------------------------------------


class StandIn:
    """The provider: answers every POST with the same PNG PROVIDER_SECONDS after it arrived.

    `calls[prompt]` is (arrival, answer written) in time.time() seconds; `worker_body` is the
    last JSON a worker sent, which the direct calls send again.
    """

    def __init__(self, image):
        self.image = image
        self.calls = {}
        self.classifications = 0
        self.worker_body = None
        self.lock = threading.Lock()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                arrived = time.time()
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path.startswith("/hf-inference/models/"):
                    # The safety check's image classification (hf-inference's protocol).
                    with stand_in.lock:
                        stand_in.classifications += 1
                    time.sleep(max(0.0, arrived + CLASSIFIER_SECONDS - time.time()))
                    return self._answer(SAFETY_ANSWER)
                try:
                    prompt = json.loads(body).get("inputs")
                except (ValueError, AttributeError):
                    prompt = None
                time.sleep(max(0.0, arrived + PROVIDER_SECONDS - time.time()))
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(stand_in.image)))
                self.end_headers()
                self.wfile.write(stand_in.image)
                self.wfile.flush()
                sent = time.time()
                with stand_in.lock:
                    stand_in.calls[prompt] = (arrived, sent)
                    if isinstance(prompt, str) and not prompt.startswith("direct "):
                        stand_in.worker_body = body

            def do_GET(self):
                if self.path.startswith("/api/models/"):
                    # The Hub's look-up of the safety model's task (once per worker process).
                    return self._answer(
                        json.dumps(
                            {"id": SAFETY_MODEL, "pipeline_tag": "image-classification"}
                        ).encode()
                    )
                return self._answer(b"{}")  # imagegen_check's probe; not used by generations

            def _answer(self, body):
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, name="stand-in", daemon=True
        )
        self.thread.start()

    def call(self, prompt):
        """When the stand-in saw `prompt`: (arrival, answer written), or None."""
        with self.lock:
            return self.calls.get(prompt)

    def direct(self, prompt, timeout=30):
        """Seconds for a direct POST of the workers' JSON (with `prompt`), answer read in full."""
        payload = json.loads(self.worker_body)
        payload["inputs"] = prompt
        body = json.dumps(payload).encode()
        start = time.perf_counter()
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request(
                "POST",
                ENDPOINT_PATH,
                body=body,
                headers={"Content-Type": "application/json", "Accept": "image/png"},
            )
            response = connection.getresponse()
            data = response.read()
        finally:
            connection.close()
        seconds = time.perf_counter() - start
        if response.status != 200 or len(data) != len(self.image):
            raise RuntimeError(f"direct call answered {response.status}, {len(data)} bytes")
        return seconds

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


# --- Worker processes ------------------------------------------------------------------------


def group_members(pgid):
    """Every live process of a process group: dicts with pid, ppid, state, start, cpu, rss.

    cpu is user + system seconds of the process and of its children it has reaped, so the sum
    over the group never loses a process that ended.
    """
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as file:
                text = file.read()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        if int(fields[2]) != pgid:
            continue
        members.append(
            {
                "pid": int(entry),
                "state": fields[0],
                "ppid": int(fields[1]),
                "cpu": sum(int(value) for value in fields[11:15]) / CLOCK_TICKS,
                "start": int(fields[19]),
                "rss_mb": int(fields[21]) * PAGE_SIZE / 1e6,
            }
        )
    return members


class Cluster:
    """`manage.py qcluster` with `workers` worker processes, in a process group of its own."""

    def __init__(self, workers, env, log_dir):
        self.workers = workers
        self.log_path = Path(log_dir) / f"qcluster-w{workers}-{int(time.time() * 1000)}.log"
        self.log = open(self.log_path, "wb")  # noqa: SIM115 (closed in stop())
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env={**env, "Q_WORKERS": str(workers)},
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.pgid = self.process.pid
        self.final_cpu = 0.0

    def log_tail(self, lines=30):
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def cpu(self):
        """CPU seconds used so far by every process of the cluster."""
        return sum(member["cpu"] for member in group_members(self.pgid))

    def roles(self):
        """{"main", "sentinel", "workers", "monitor", "pusher"}: the cluster's processes.

        django-q2 forks the workers first, then the monitor, then the pusher, all from the
        sentinel (the main process's child); without setproctitle their order tells them apart.
        """
        members = [m for m in group_members(self.pgid) if m["state"] != "Z"]
        main = next((m for m in members if m["pid"] == self.pgid), None)
        sentinels = [m for m in members if m["ppid"] == self.pgid]
        roles = {"main": main, "sentinel": None, "workers": [], "monitor": None, "pusher": None}
        if len(sentinels) != 1:
            return roles
        roles["sentinel"] = sentinels[0]
        children = sorted(
            (m for m in members if m["ppid"] == sentinels[0]["pid"]),
            key=lambda m: (m["start"], m["pid"]),
        )
        if len(children) >= self.workers + 2:
            roles["workers"] = children[:-2]
            roles["monitor"], roles["pusher"] = children[-2:]
        return roles

    def wait_ready(self, timeout=90):
        """Until the sentinel has forked every worker, the monitor and the pusher."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"qcluster exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            if len(self.roles()["workers"]) == self.workers:
                return
            time.sleep(0.1)
        raise TimeoutError(f"qcluster not ready after {timeout} s:\n{self.log_tail()}")

    def stop(self, timeout=30):
        """SIGTERM to the main process (running tasks finish), then SIGKILL to the group."""
        self.final_cpu = self.cpu()
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=timeout)
        if self.process.poll() is None:
            log(f"qcluster W={self.workers} did not stop in {timeout} s: SIGKILL")
        for _ in range(100):
            if not [m for m in group_members(self.pgid) if m["state"] != "Z"]:
                break
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pgid, signal.SIGKILL)
            time.sleep(0.1)
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        self.log.close()
        left = [m["pid"] for m in group_members(self.pgid) if m["state"] != "Z"]
        if left:
            raise RuntimeError(f"qcluster processes still running: {left}")


def machine_busy():
    """Seconds of CPU the whole machine has spent busy (all cores), from /proc/stat."""
    with open("/proc/stat") as file:
        values = [int(v) for v in file.readline().split()[1:9]]
    return (sum(values) - values[3] - values[4]) / CLOCK_TICKS


def own_cpu():
    """CPU seconds of this process: the stand-in's threads, submitting and polling."""
    times = os.times()
    return times.user + times.system


# --- Environment, database and code state ------------------------------------------------------


def code_state():
    """HEAD, whether the working tree (this file aside) differs from it, and a fingerprint of
    the difference, so that a change made during a run shows."""

    def git(*args):
        result = subprocess.run(
            ["git", "-C", str(ROOT), *args], capture_output=True, timeout=30, check=False
        )
        return result.stdout

    others = ":(exclude)bench/pipeline.py"
    head = git("log", "-1", "--oneline").decode(errors="replace").strip()
    status = git("status", "--porcelain", "--", ".", others).decode(errors="replace")
    digest = hashlib.sha1(status.encode())
    digest.update(git("diff", "HEAD", "--", ".", others))
    for name in git("ls-files", "--others", "--exclude-standard", "-z", "--", ".", others).split(
        b"\0"
    ):
        if name:
            with contextlib.suppress(OSError):
                digest.update((ROOT / name.decode()).read_bytes())
    files = [line[3:] for line in status.splitlines() if line.strip()]
    return {
        "commit": head,
        "dirty": bool(files),
        "dirty_files": files,
        "code": digest.hexdigest()[:10],
    }


def redis_url_for_bench():
    """REDIS_URL's server with the script's own database number (BENCH_REDIS_DB, 15)."""
    parts = urlsplit(os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0")
    return urlunsplit(parts._replace(path=f"/{int(os.environ.get('BENCH_REDIS_DB', '15'))}"))


def prepare_environment(workdir, stand_in):
    """The environment of this process (read by tests.settings) and of the workers."""
    os.environ.pop("TRAVELFIT_TEST_DATABASE_NAME", None)
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "TRAVELFIT_ENV_FILE": os.devnull,
            "DATA_DIR": str(workdir),
            "TRAVELFIT_TEST_QUEUE": f"bench-pipeline-{os.getpid()}-{uuid.uuid4().hex[:6]}",
            "TEST_IMAGEGEN_PROVIDERS": "hf_endpoint",
            "HF_ENDPOINT_URL": stand_in.url + ENDPOINT_PATH,
            "HF_ENDPOINT_SCALE_UP_TIMEOUT": "0",
            "HF_ENDPOINT": stand_in.url,  # any Hub look-up stays on this machine
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_ROUTER_URL": stand_in.url,
            "IMAGEGEN_SAFETY_CHECK": os.environ.get("BENCH_SAFETY", "hf_inference"),
            "IMAGEGEN_SAFETY_MODEL": SAFETY_MODEL,
            # The safety check's token (the stand-in takes any).
            "HUGGINGFACE_API_TOKEN": "hf_BenchStandInTokenAbcdefghijklmn",
            "HF_TOKEN": "",
            "SENTRY_DSN": "",
            "MEDIA_STORAGE": "local",
        }
    )
    if os.environ.get("Q_BROKER", "orm") == "redis":
        os.environ["REDIS_URL"] = redis_url_for_bench()


def setup_django():
    import django

    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    django.setup()


def create_database():
    """A database of the script's own; returns what destroy_database needs."""
    from django.db import connection

    if connection.vendor == "postgresql":
        connection.settings_dict["TEST"]["NAME"] = f"travelfit_pipeline_{os.getpid()}"
    return connection.creation.create_test_db(verbosity=0, autoclobber=True)


def destroy_database(old_name):
    from django.db import connection

    name = connection.settings_dict["NAME"]
    try:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    except Exception as exc:
        if connection.vendor != "postgresql":
            raise
        log(f"drop of {name} failed ({exc}); forcing it")
        connection.settings_dict["NAME"] = old_name
        with connection.creation._nodb_cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def clean_broker(queue_name):
    """Empty the script's queue; on Redis also drop the cluster statistics it left."""
    from django.conf import settings
    from django_q.brokers import get_broker

    with contextlib.suppress(Exception):
        get_broker().purge_queue()
    if settings.Q_BROKER == "redis":
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL)
        try:
            for key in list(client.scan_iter(match=f"*{queue_name}*", count=1000)):
                client.delete(key)
        finally:
            client.close()


# --- Measures ----------------------------------------------------------------------------------


def make_user(name):
    """A user whose quota never stops a benchmark."""
    from django.contrib.auth import get_user_model

    from imagegen import services
    from imagegen.models import Quota

    user = get_user_model().objects.create_user(name, f"{name}@example.org", "x" * 24)
    services.quota_for(user)
    Quota.objects.filter(user=user).update(daily_limit=10**6, monthly_limit=10**6)
    return user


def submit(user, prompt):
    from imagegen import services

    return services.submit_generation(user=user, prompt=prompt, width=SIZE, height=SIZE)


def failure(pk):
    from imagegen.models import Generation

    row = Generation.objects.values("status", "failure_class", "error_message", "error_detail").get(
        pk=pk
    )
    return RuntimeError(f"generation {pk} {row['status']}: {row}")


def statuses(ids):
    from imagegen.models import Generation

    counts = {}
    for status in Generation.objects.filter(pk__in=ids).values_list("status", flat=True):
        counts[status] = counts.get(status, 0) + 1
    return counts


def wait_all(ids, timeout, on_poll=None, interval=0.1):
    """Until every generation of `ids` succeeded; raises on a failure or after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        if on_poll:
            on_poll()
        counts = statuses(ids)
        bad = {k: v for k, v in counts.items() if k not in ("queued", "running", "succeeded")}
        if bad:
            from imagegen.models import Generation

            first = Generation.objects.filter(pk__in=ids).exclude(
                status__in=("queued", "running", "succeeded")
            )
            raise failure(first.values_list("pk", flat=True)[0])
        if counts.get("succeeded", 0) == len(ids):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"after {timeout} s: {counts}")
        time.sleep(interval)


def one_generation(user, prompt, stand_in, timeout=60.0):
    """Submit one generation and poll its row every 5 ms until it succeeded.

    Returns seconds: the submit call, submit → done seen, and the hops between the
    timestamps (created_at, started_at, finished_at, the stand-in's arrival and answer).
    """
    from imagegen.models import Generation

    submitted = time.time()
    start = time.perf_counter()
    generation = submit(user, prompt)
    submit_seconds = time.perf_counter() - start
    rows = Generation.objects.filter(pk=generation.pk)
    deadline = start + timeout
    while True:
        status = rows.values_list("status", flat=True).first()
        if status == "succeeded":
            break
        if status not in ("queued", "running"):
            raise failure(generation.pk)
        if time.perf_counter() > deadline:
            raise TimeoutError(f"generation {generation.pk} still {status} after {timeout} s")
        time.sleep(0.005)
    total = time.perf_counter() - start
    seen = time.time()
    row = rows.values("created_at", "started_at", "finished_at").get()
    call = stand_in.call(prompt)
    if call is None:
        raise RuntimeError(f"the stand-in never saw {prompt!r}")
    arrived, sent = call
    created, started, finished = (
        row[k].timestamp() for k in ("created_at", "started_at", "finished_at")
    )
    return {
        "submit": submit_seconds,
        "total": total,
        "created_started": started - created,
        "submit_arrival": arrived - submitted,
        "started_arrival": arrived - started,
        "provider": sent - arrived,
        "sent_finished": finished - sent,
        "finished_seen": seen - finished,
    }


def measure_latency(user, stand_in, samples):
    """Figures 1–3: `samples` generations one at a time, alternating with direct calls."""
    runs, direct = [], []
    jitter = random.Random(1)
    for i in range(samples):
        token = uuid.uuid4().hex[:8]
        # A random pause, so that submissions do not fall into step with the broker's poll
        # (each sample would otherwise arrive at the same point of the poll's cycle).
        time.sleep(jitter.uniform(0, 0.25))
        runs.append(one_generation(user, f"latency {i} {token}", stand_in))
        direct.append(stand_in.direct(f"direct {i} {token}"))
    series = {key: [run[key] for run in runs] for key in runs[0]}
    result = {"samples": samples}
    for q in (50, 95):
        result[f"e2e_p{q}_ms"] = percentile(series["total"], q) * 1000
        result[f"direct_p{q}_ms"] = percentile(direct, q) * 1000
        result[f"e2e_ratio_p{q}"] = percentile(series["total"], q) / percentile(direct, q)
        for key, name in (
            ("submit", "submit_call"),
            ("created_started", "dispatch_created_started"),
            ("submit_arrival", "dispatch_submit_arrival"),
            ("started_arrival", "before_provider"),
            ("provider", "provider"),
            ("sent_finished", "after_provider"),
            ("finished_seen", "finished_seen"),
        ):
            result[f"{name}_p{q}_ms"] = percentile(series[key], q) * 1000
    return result


def interpolate(samples, when):
    """The cumulative value at `when` from (time, value) samples, linearly."""
    if when <= samples[0][0]:
        return samples[0][1]
    for (t0, v0), (t1, v1) in zip(samples, samples[1:], strict=False):
        if t0 <= when <= t1:
            return v0 if t1 == t0 else v0 + (v1 - v0) * (when - t0) / (t1 - t0)
    return samples[-1][1]


def measure_batch(cluster, users, count, label, stand_in):
    """Figures 4–5: `count` generations submitted at once, one per user (so that no per-user
    limit holds any back); steady images/s and CPU per image.

    Steady: from the W-th finished generation (the first wave, with its start-up, is over) to
    the (count−W)-th (before the last wave thins out). The cluster's CPU, this process's (the
    stand-in, submitting, polling) and the whole machine's busy time are sampled every 0.1 s
    and interpolated at those two moments. Also, over the whole batch: started_at → request at
    the stand-in and answer written → finished_at (p50), to see where a worker's cycle goes.
    """
    from imagegen.models import Generation

    workers = cluster.workers
    token = uuid.uuid4().hex[:8]
    prompts = [f"{label} {i} {token}" for i in range(count)]
    submitted = time.time()
    ids = [submit(users[i % len(users)], prompt).pk for i, prompt in enumerate(prompts)]
    submit_seconds = time.time() - submitted
    samples = []

    def sample():
        samples.append((time.time(), (cluster.cpu(), own_cpu(), machine_busy())))

    wait_all(ids, timeout=60 + count * 3, on_poll=sample)
    sample()
    rows = Generation.objects.filter(pk__in=ids).values("prompt", "started_at", "finished_at")
    finished = sorted(row["finished_at"].timestamp() for row in rows)
    before, after = [], []
    for row in rows:
        arrived, sent = stand_in.call(row["prompt"])
        before.append(arrived - row["started_at"].timestamp())
        after.append(row["finished_at"].timestamp() - sent)
    lo, hi = workers - 1, count - workers - 1
    rate = (hi - lo) / (finished[hi] - finished[lo])
    window = finished[hi] - finished[lo]
    used = [
        interpolate([(t, v[k]) for t, v in samples], finished[hi])
        - interpolate([(t, v[k]) for t, v in samples], finished[lo])
        for k in range(3)
    ]
    roles = cluster.roles()
    worker_rss = [w["rss_mb"] for w in roles["workers"]]
    others = {k: roles[k]["rss_mb"] for k in ("main", "sentinel", "monitor", "pusher") if roles[k]}
    return {
        "workers": workers,
        "generations": count,
        "submit_seconds": submit_seconds,
        "steady_images_per_s": rate,
        "ideal_images_per_s": workers / PROVIDER_SECONDS,
        "ratio": rate / (workers / PROVIDER_SECONDS),
        "overall_images_per_s": count / (finished[-1] - submitted),
        "cpu_per_image_s": used[0] / (hi - lo),
        "bench_cpu_per_image_s": used[1] / (hi - lo),
        "machine_busy_cores": used[2] / window,
        "other_busy_cores": (used[2] - used[0] - used[1]) / window,
        "before_provider_p50_ms": statistics.median(before) * 1000,
        "after_provider_p50_ms": statistics.median(after) * 1000,
        "worker_rss_mb_mean": statistics.mean(worker_rss) if worker_rss else None,
        "worker_rss_mb_max": max(worker_rss) if worker_rss else None,
        "other_rss_mb": others,
    }


def measure_fairness(user_a, user_b, ahead):
    """Figure 6: A submits `ahead`, then B one; B's wait in provider latencies (1.0 s).

    Once B is done, A's still queued generations are canceled so that the cluster drains.
    """
    from django.utils import timezone

    from imagegen.models import Generation

    token = uuid.uuid4().hex[:8]
    a_ids = [submit(user_a, f"fair A {i} {token}").pk for i in range(ahead)]
    b_submitted = time.time()
    b = submit(user_b, f"fair B {token}")
    wait_all([b.pk], timeout=60 + ahead * 4, interval=0.05)
    row = Generation.objects.values("started_at", "finished_at").get(pk=b.pk)
    started, finished = row["started_at"], row["finished_at"]
    a_before = Generation.objects.filter(pk__in=a_ids, started_at__lt=started).count()
    a_done = Generation.objects.filter(pk__in=a_ids, status="succeeded").count()
    Generation.objects.filter(pk__in=a_ids, status="queued").update(
        status="canceled", finished_at=timezone.now()
    )
    deadline = time.monotonic() + 60
    while Generation.objects.filter(pk__in=a_ids, status="running").exists():
        if time.monotonic() > deadline:
            raise TimeoutError("A's running generations did not finish")
        time.sleep(0.1)
    return {
        "ahead": ahead,
        "b_wait_start_latencies": (started.timestamp() - b_submitted) / PROVIDER_SECONDS,
        "b_wait_done_latencies": (finished.timestamp() - b_submitted) / PROVIDER_SECONDS,
        "a_started_before_b": a_before,
        "a_done_when_b_done": a_done,
    }


class RedisCommandCounter:
    """Counts the commands Redis runs on one database, through MONITOR, in a thread."""

    def __init__(self, url):
        parts = urlsplit(url)
        self.db = int((parts.path or "/0").lstrip("/") or 0)
        self.count = 0
        self.stopping = threading.Event()
        self.sock = socket.create_connection((parts.hostname, parts.port or 6379), timeout=5)
        if parts.password:
            user = parts.username or "default"
            self._command("AUTH", user, parts.password)
        self.sock.sendall(b"MONITOR\r\n")
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _command(self, *args):
        data = f"*{len(args)}\r\n".encode()
        for arg in args:
            encoded = str(arg).encode()
            data += b"$%d\r\n%s\r\n" % (len(encoded), encoded)
        self.sock.sendall(data)
        self.sock.recv(1024)

    def _read(self):
        marker = f" [{self.db} ".encode()
        buffer = b""
        self.sock.settimeout(0.2)
        while not self.stopping.is_set():
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not chunk:
                return
            buffer += chunk
            *lines, buffer = buffer.split(b"\r\n")
            self.count += sum(1 for line in lines if marker in line)

    def stop(self):
        self.stopping.set()
        self.thread.join(timeout=2)
        self.sock.close()
        return self.count


def database_transactions():
    """PostgreSQL: transactions committed or rolled back on this database so far."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database "
            "WHERE datname = current_database()"
        )
        return cursor.fetchone()[0]


def measure_idle(cluster, seconds):
    """Figure 7: CPU of an idle cluster (% of one core), and what it asks of the database or
    Redis per second where that can be counted from outside."""
    from django.conf import settings
    from django.db import connection

    time.sleep(1.0)  # let the last task's results settle
    counter = RedisCommandCounter(settings.REDIS_URL) if settings.Q_BROKER == "redis" else None
    pg = connection.vendor == "postgresql"
    xacts = database_transactions() if pg else None
    cpu, busy, start = cluster.cpu(), machine_busy(), time.monotonic()
    time.sleep(seconds)
    cpu, elapsed = cluster.cpu() - cpu, time.monotonic() - start
    result = {
        "workers": cluster.workers,
        "seconds": elapsed,
        "cpu_percent": cpu / elapsed * 100,
        "machine_busy_cores": (machine_busy() - busy) / elapsed,
    }
    if pg:
        # Two of these are this script's own (the reads), and PostgreSQL reports with ~1 s lag.
        result["db_transactions_per_s"] = (database_transactions() - xacts - 2) / elapsed
    if counter:
        result["redis_commands_per_s"] = counter.stop() / elapsed
    return result


# --- The run -----------------------------------------------------------------------------------


def _run_here(quick, latency_only=False):
    params = dict(QUICK if quick else FULL)
    if latency_only:
        params |= {"workers": (2,), "idle_workers": ()}
    began = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="travelfit-pipeline-"))
    image = photo_like_png()
    stand_in = StandIn(image)
    clusters, stopped, old_name, queue_name = [], [], None, None
    busy_before, own_before, wall_before = machine_busy(), own_cpu(), time.monotonic()
    code = [code_state()]
    results = {
        "quick": quick,
        "latency_only": latency_only,
        "image_bytes": len(image),
        "provider_seconds": PROVIDER_SECONDS,
        "classifier_seconds": CLASSIFIER_SECONDS,
    }
    try:
        prepare_environment(workdir, stand_in)
        queue_name = os.environ["TRAVELFIT_TEST_QUEUE"]
        setup_django()
        from django.conf import settings
        from django.db import connection

        log("creating the database")
        old_name = create_database()
        results |= {
            "database": connection.vendor,
            "broker": settings.Q_BROKER,
            "poll": settings.Q_CLUSTER.get("poll"),
            "q_poll_env": os.environ.get("Q_POLL"),
            "in_flight_per_user": getattr(settings, "IMAGEGEN_IN_FLIGHT_PER_USER", None),
        }
        worker_env = {
            **os.environ,
            "TRAVELFIT_TEST_DATABASE_NAME": str(connection.settings_dict["NAME"]),
        }
        logging.getLogger("imagegen").setLevel(logging.WARNING)  # this process's, not workers'
        batch_sizes = [max(params["waves"] * w, params["min_batch"]) for w in params["workers"]]
        users = [make_user(f"pipeline-{i}") for i in range(max(batch_sizes))]
        user_a, user_b = make_user("pipeline-a"), make_user("pipeline-b")

        def start(workers):
            code.append({**code_state(), "phase": f"qcluster W={workers}"})
            cluster = Cluster(workers, worker_env, workdir)
            clusters.append(cluster)
            cluster.wait_ready()
            return cluster

        def finish(cluster):
            cluster.stop()
            clusters.remove(cluster)
            stopped.append(cluster)
            clean_broker(queue_name)

        batches, idle = [], []
        log("W=2: warming up")
        cluster = start(2)
        warm = [submit(users[0], f"warm-up {i} {uuid.uuid4().hex[:8]}").pk for i in range(2)]
        wait_all(warm, timeout=120)
        if 2 in params["idle_workers"]:
            log(f"W=2: idle for {params['idle_seconds']:.0f} s")
            idle.append(measure_idle(cluster, params["idle_seconds"]))
        log(f"W=2: {params['samples']} generations one at a time, alternating with direct calls")
        results["latency"] = measure_latency(users[0], stand_in, params["samples"])
        for workers in params["workers"]:
            if workers != 2:
                log(f"W={workers}: starting")
                cluster = start(workers)
            count = batch_sizes[params["workers"].index(workers)]
            log(f"W={workers}: batch of {count}")
            batches.append(measure_batch(cluster, users, count, f"batch w{workers}", stand_in))
            if workers == 2 and not latency_only:
                log(f"W=2: fairness, A submits {params['fair_ahead']} then B one")
                results["fairness"] = measure_fairness(user_a, user_b, params["fair_ahead"])
            elif workers in params["idle_workers"]:
                log(f"W={workers}: idle for {params['idle_seconds']:.0f} s")
                idle.append(measure_idle(cluster, params["idle_seconds"]))
            finish(cluster)
        results["throughput"] = batches
        results["idle"] = idle
        results["cpu_per_image_s"] = batches[0]["cpu_per_image_s"]
    finally:
        for cluster in list(clusters):
            try:
                cluster.stop()
            except Exception as exc:  # keep cleaning up
                log(f"stopping qcluster W={cluster.workers}: {exc}")
        if queue_name and old_name is not None:
            with contextlib.suppress(Exception):
                clean_broker(queue_name)
        if old_name is not None:
            try:
                destroy_database(old_name)
            except Exception as exc:  # keep cleaning up; say what is left
                log(f"could not drop the benchmark database: {exc}")
        stand_in.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    wall = time.monotonic() - wall_before
    others = machine_busy() - busy_before - (own_cpu() - own_before)
    results["other_busy_cores"] = (others - sum(c.final_cpu for c in stopped)) / wall
    code.append({**code_state(), "phase": "end"})
    results["code"] = code[0]
    results["code_states"] = [
        {
            "phase": state.get("phase", "start"),
            "commit": state["commit"].split()[0] if state["commit"] else "",
            "dirty": state["dirty"],
            "code": state["code"],
        }
        for state in code
    ]
    results["code_changed_during_run"] = len({state["code"] for state in code}) > 1
    results["run_seconds"] = time.monotonic() - began
    results["safety_check"] = os.environ.get("IMAGEGEN_SAFETY_CHECK", "off")
    results["classifications"] = stand_in.classifications
    return results


def run_in_child(script, mark, quick, *, timeout=1800, options=()):
    """Run bench `script` (its __file__) with --json, --quick when `quick` and `options`, in a
    fresh interpreter (Django can be set up only once per process), and return the figures it
    printed after `mark`. Stopped with SIGTERM at `timeout` (it stops its clusters and drops
    its database), killed a minute later if still there."""
    command = [sys.executable, str(Path(script).resolve()), "--json", *options]
    if quick:
        command.append("--quick")
    child = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        output, _ = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
        raise
    for line in output.splitlines():
        if line.startswith(mark):
            return json.loads(line[len(mark) :])
    name = Path(script).name
    raise RuntimeError(f"bench/{name} exited with {child.returncode} and no figures")


def write_results(marker, table):
    """`table` into bench/README.md between `<!-- RESULTS {marker} -->` and its end marker
    (added at the end the first time)."""
    readme = ROOT / "bench" / "README.md"
    text = readme.read_text()
    start, end = f"<!-- RESULTS {marker} -->\n", f"<!-- /RESULTS {marker} -->"
    if start not in text:
        text += f"\n{start}{end}\n"
    before, rest = text.split(start, 1)
    readme.write_text(before + start + table + end + rest.split(end, 1)[1])


def main_of(run_here, markdown, write, mark):
    """The command line of a bench that writes its own table (bench/photos.py, chains.py):
    --quick (or BENCH_QUICK=1), --json (the figures after `mark`), --no-write."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer samples")
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    parser.add_argument("--no-write", action="store_true", help="leave bench/README.md alone")
    args = parser.parse_args()

    def stop(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, stop)
    results = run_here(args.quick or os.environ.get("BENCH_QUICK") == "1")
    table = markdown(results)
    if not args.no_write:
        write(results["database"], table)
    print(table)
    if args.json:
        print(mark + json.dumps(results, default=str))


def run(quick=False):
    """Measure the figures and return them as a dict (see the module's docstring).

    In a process where Django is already set up (bench/run.py), the measures run in a child
    process, so that their settings, database and queue are the script's own.
    """
    from django.conf import settings

    if settings.configured:
        return run_in_child(__file__, JSON_MARK, quick)
    return _run_here(quick)


# --- Output ------------------------------------------------------------------------------------


def markdown(r):
    """The figures as Markdown: one table of the single figures, one of throughput."""
    lat, fair = r["latency"], r.get("fairness")
    code = r["code"]
    dirty = f", working tree dirty ({len(code['dirty_files'])} files)" if code["dirty"] else ""
    changed = ""
    if r["code_changed_during_run"]:
        changed = "; the code changed during the run: " + ", ".join(
            f"{state['phase']} {state['commit']}{'+dirty' if state['dirty'] else ''} "
            f"({state['code']})"
            for state in r["code_states"]
        )
    poll = f", ORM poll {r['poll']} s" if r["broker"] == "orm" else ""
    in_flight = r.get("in_flight_per_user")
    limit = "" if in_flight is None else f", IMAGEGEN_IN_FLIGHT_PER_USER={in_flight}"

    def ms(name):
        return f"{lat[f'{name}_p50_ms']:.0f} / {lat[f'{name}_p95_ms']:.0f} ms"

    idle_rows = ""
    for entry in r["idle"]:
        extra = ""
        if "db_transactions_per_s" in entry:
            extra += f", ≈{entry['db_transactions_per_s']:.1f} PostgreSQL transactions/s"
        if "redis_commands_per_s" in entry:
            extra += f", {entry['redis_commands_per_s']:.1f} Redis commands/s"
        idle_rows += (
            f"| 7. idle cluster, W={entry['workers']} ({entry['seconds']:.0f} s) | "
            f"{entry['cpu_percent']:.1f}% of a core{extra} | CPU of all its processes while "
            f"nothing is queued (machine busy meanwhile: {entry['machine_busy_cores']:.2f} "
            "cores) |\n"
        )
    waited = r.get("classifier_seconds", 0)
    classifier_wait = f"each after {waited:.2f} s" if waited else "at once"
    text = (
        f"Pipeline measured {time.strftime('%Y-%m-%d %H:%M')} on {r['database']} + "
        f"{r['broker']} broker{poll}{limit}, Python {sys.version.split()[0]}, "
        f"{os.cpu_count()} cores; code {code['commit']}{dirty}{changed}. Stand-in provider: a "
        f"1024×1024 PNG of {r['image_bytes'] / 1e6:.2f} MB after {r['provider_seconds']:.1f} s; "
        f"{lat['samples']} samples{' (--quick)' if r['quick'] else ''}"
        f"{' (--latency: figures 1–4 only)' if r.get('latency_only') else ''}; "
        f"{r['run_seconds']:.0f} s in all; image safety check: {r.get('safety_check', 'off')} "
        f"({r.get('classifications', 0)} images classified by the stand-in, "
        f"{classifier_wait}); "
        "other load on the machine meanwhile: "
        f"{r['other_busy_cores']:.2f} cores on average.\n\n"
        "| figure | p50 / p95 | what it means |\n|---|---|---|\n"
        f"| 1. end-to-end ÷ direct call | {lat['e2e_ratio_p50']:.2f}× / "
        f"{lat['e2e_ratio_p95']:.2f}× | submit → row `succeeded` ({ms('e2e')}) against a direct "
        f"POST of the same JSON ({ms('direct')}) |\n"
        f"| submit call | {lat['submit_call_p50_ms']:.1f} / {lat['submit_call_p95_ms']:.1f} ms "
        "| submit_generation() itself: quota, row, enqueue |\n"
        f"| 2. dispatch: created_at → started_at | {ms('dispatch_created_started')} | queued "
        "until a worker claimed it (commit, broker, poll, pusher, worker) |\n"
        f"| 2. dispatch: submit → provider request | {ms('dispatch_submit_arrival')} | "
        "everything before the provider is asked |\n"
        f"| started_at → provider request | {ms('before_provider')} | the worker's own "
        "preparation before the HTTP call |\n"
        f"| provider (stand-in) | {ms('provider')} | request arrival → answer written |\n"
        f"| 3. after the provider answered | {ms('after_provider')} | answer written → "
        "finished_at: read, check, encode, thumbnail, store, UPDATE |\n"
        f"| finished_at → seen | {ms('finished_seen')} | the 5 ms poll's own delay |\n"
        f"| 4. worker CPU per generation | {r['cpu_per_image_s']:.3f} s | CPU of all the "
        "cluster's processes per image, steady part of the W=2 batch |\n"
        + (
            f"| 6. fairness: B's wait to start / to done | {fair['b_wait_start_latencies']:.1f} "
            f"/ {fair['b_wait_done_latencies']:.1f} provider latencies | A submitted "
            f"{fair['ahead']} just before B; {fair['a_started_before_b']} of them started "
            "before B (2 workers; fair ≈ 1) |\n"
            if fair
            else ""
        )
        + idle_rows
        + "\n"
        "| W | steady images/s | ÷ ideal (W / 1 s) | whole batch images/s | CPU per image: "
        "cluster / this script | machine busy (other) | started → request / answer → finished "
        "(p50) | RSS per worker mean / max | RSS main / sentinel / monitor / pusher |\n"
        "|---|---|---|---|---|---|---|---|---|\n"
    )
    for b in r["throughput"]:
        other = " / ".join(
            f"{b['other_rss_mb'][k]:.0f}" if k in b["other_rss_mb"] else "?"
            for k in ("main", "sentinel", "monitor", "pusher")
        )
        mean, peak = b["worker_rss_mb_mean"], b["worker_rss_mb_max"]
        rss = f"{mean:.0f} / {peak:.0f} MB" if mean is not None else "?"
        text += (
            f"| {b['workers']} ({b['generations']} images) | {b['steady_images_per_s']:.2f} | "
            f"{b['ratio']:.2f} | {b['overall_images_per_s']:.2f} | "
            f"{b['cpu_per_image_s']:.3f} / {b['bench_cpu_per_image_s']:.3f} s | "
            f"{b['machine_busy_cores']:.2f} cores ({b['other_busy_cores']:.2f}) | "
            f"{b['before_provider_p50_ms']:.0f} / {b['after_provider_p50_ms']:.0f} ms | "
            f"{rss} | {other} MB |\n"
        )
    return text


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples, under 2 minutes")
    parser.add_argument(
        "--latency", action="store_true", help="figures 1–4 only (W=2), in a few minutes"
    )
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = parser.parse_args()

    def stop(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, stop)
    results = _run_here(args.quick, latency_only=args.latency)
    print(markdown(results))
    if args.json:
        print(JSON_MARK + json.dumps(results, default=str))


if __name__ == "__main__":
    main()
