"""The photo tasks under real workers: an edit and a try-on, end to end against a direct call.

    python bench/photos.py [--quick] [--json]

Two stand-ins on 127.0.0.1, run in this process's threads, each answering 1.0 s after it is
asked:
- **edit**: the fake Hugging Face of the tests (tests/fakes/hf_server.py) speaking fal's queue
  protocol for HF_EDIT_MODEL (FLUX.1 Kontext on fal-ai): the submit POST, status polls (the
  library polls every 0.5 s), the result, the image download. `queue_seconds` = 1.0 keeps the
  job IN_PROGRESS until 1.0 s after its submit arrived. The result is the photo, tinted, as a
  PNG of the photo's size.
- **try-on**: the tests' fake IDM-VTON Space (tests/fakes/gradio_tryon.py), a real Gradio app:
  its `/tryon` waits 1.0 s (`slow`), then pastes the garment on the person; gradio_client does
  the upload, the queue, the SSE stream and the download.
The image safety check is on (`IMAGEGEN_SAFETY_CHECK=hf_inference`) against the same fake
Hugging Face's image classification, which answers at once: what is measured is our side of it.
Real `manage.py qcluster` processes (W=2, bench/pipeline.py's Cluster) serve the generations
from a database of the script's own (SQLite and the ORM broker by default; PostgreSQL and Redis
with DATABASE_URL=postgres://… Q_BROKER=redis, as bench/pipeline.py).

The photos: a photo-like 768×1024 JPEG (noise over gradients, as a phone photo compresses) of
the person, and a 512×640 JPEG of the garment, stored once through `store_upload` (cleaned and
checked like a user's upload); every generation uses them.

The figures, for each task, one generation at a time, alternating with direct calls (each
submission after a random pause of up to 0.25 s, so it lands anywhere in the broker's poll):
1. End-to-end ÷ direct, p50 and p90: from calling submit_generation until the row reads
   `succeeded` (polled every 5 ms), against calling the provider library straight from this
   process: `InferenceClient(provider="fal-ai").image_to_image(...)` for the edit (the image
   downloaded), `gradio_client.Client(...).predict(...)` for the try-on (the result file read),
   one client built beforehand as the worker keeps one. The quotient of the two p50s (p90s).
2. Worker CPU per image: CPU seconds of the cluster's worker processes (/proc/<pid>/stat)
   from the submission until the row was seen done, median and maximum over the samples; and
   of every process of the cluster (the sentinel, monitor and pusher too), with beside it what
   the idle cluster spends in as long (its broker polls, measured alone beforehand).
3. Where the time goes: created → started (dispatch), started → finished (the worker, provider
   included) and finished → seen, p50.

`run(quick=False)` returns the figures as a dict (in a child process when Django is already
set up, as in bench/run.py); run alone, the script writes its table into bench/README.md between
`<!-- RESULTS photos <database> -->` and `<!-- /RESULTS photos <database> -->` (bench/run.py
writes the same section).
"""

import contextlib
import io
import logging
import math
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
for folder in (ROOT, BENCH):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

import pipeline  # noqa: E402  (bench/pipeline.py: the cluster, the database, the CPU probes)

PROVIDER_SECONDS = 1.0
WORKERS = 2
JSON_MARK = "PHOTOS-JSON: "
TOKEN = "hf_BenchStandInTokenAbcdefghijklmn"
SAFETY_MODEL = "Falconsai/nsfw_image_detection"
EDIT_MODEL = "black-forest-labs/FLUX.1-Kontext-dev"
FULL = {"samples": 30, "idle_seconds": 5.0}
QUICK = {"samples": 8, "idle_seconds": 3.0}
TASKS = ("edit", "try_on")


def log(message):
    print(f"[photos {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def photo_like_jpeg(size, seed):
    """A JPEG that compresses like a photo (noise over gradients), quality 90."""
    from PIL import Image

    random.seed(seed)
    noise = Image.effect_noise(size, 14 + seed)
    gradient = Image.linear_gradient("L").resize(size)
    image = Image.merge("RGB", (gradient, noise, Image.blend(noise, gradient.rotate(90), 0.5)))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def prepare_environment(workdir, hf_url, space_url):
    """The environment of this process (read by tests.settings) and of the workers."""
    os.environ.pop("TRAVELFIT_TEST_DATABASE_NAME", None)
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "TRAVELFIT_ENV_FILE": os.devnull,
            "DATA_DIR": str(workdir),
            "TRAVELFIT_TEST_QUEUE": f"bench-photos-{os.getpid()}-{uuid.uuid4().hex[:6]}",
            # Edits on hf_inference (fal's queue), try-ons on gradio_space's try-on Space.
            "TEST_IMAGEGEN_PROVIDERS": "hf_inference,gradio_space",
            "HF_ROUTER_URL": hf_url,
            "HF_ENDPOINT": hf_url,  # the Hub's look-ups stay on this machine
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_EDIT_MODEL": EDIT_MODEL,
            "HF_EDIT_PROVIDER": "fal-ai",
            "GRADIO_TRYON_SPACE": space_url,
            "GRADIO_TRYON_API_NAME": "/tryon",
            "GRADIO_SPACE": "",
            "GRADIO_ANALYTICS_ENABLED": "False",
            "IMAGEGEN_SAFETY_CHECK": os.environ.get("BENCH_SAFETY", "hf_inference"),
            "IMAGEGEN_SAFETY_MODEL": SAFETY_MODEL,
            "HUGGINGFACE_API_TOKEN": TOKEN,
            "HF_TOKEN": "",
            "SENTRY_DSN": "",
            "MEDIA_STORAGE": "local",
            "PROMPT_TRANSLATION": "off",
        }
    )
    if os.environ.get("Q_BROKER", "orm") == "redis":
        os.environ["REDIS_URL"] = pipeline.redis_url_for_bench()


class Direct:
    """The provider libraries called straight from this process, as a worker calls them."""

    def __init__(self, person, garment, space_url, workdir):
        import httpx
        from gradio_client import Client
        from huggingface_hub import InferenceClient

        self.person, self.garment = person, garment
        self.edit_client = InferenceClient(provider="fal-ai", api_key=TOKEN, timeout=60)
        folder = Path(workdir) / "direct"
        folder.mkdir()
        (folder / "person.jpg").write_bytes(person)
        (folder / "garment.jpg").write_bytes(garment)
        self.files = folder
        # The worker's clients share one TLS context (gradio_space.tls_context): so does this
        # one, or the baseline would pay the CA bundle's re-reading the worker no longer does.
        self.space = Client(
            space_url,
            download_files=str(folder / "downloads"),
            verbose=False,
            ssl_verify=httpx.create_ssl_context(),
        )

    def edit(self, prompt, seed):
        photo = io.BytesIO(self.person)
        photo.name = "photo.jpg"
        start = time.perf_counter()
        image = self.edit_client.image_to_image(photo, prompt=prompt, model=EDIT_MODEL, seed=seed)
        seconds = time.perf_counter() - start
        if not image.size[0]:
            raise RuntimeError("the direct edit answered no image")
        return seconds

    def try_on(self, prompt, seed):
        from gradio_client import handle_file

        start = time.perf_counter()
        image, mask = self.space.predict(
            {
                "background": handle_file(str(self.files / "person.jpg")),
                "layers": [],
                "composite": None,
            },
            handle_file(str(self.files / "garment.jpg")),
            prompt,
            True,
            False,
            30,
            seed,
            api_name="/tryon",
        )
        data = Path(image).read_bytes()
        seconds = time.perf_counter() - start
        if not data:
            raise RuntimeError("the direct try-on answered no image")
        for path in (image, mask):
            shutil.rmtree(Path(path).parent, ignore_errors=True)
        return seconds


def stamp_stand_ins(hf, space):
    """{prompt: when the stand-in was asked, time.time()}: the Space's /tryon entered, or fal's
    queue's submit POST received (the request recorded)."""
    timeline = {}
    tryon = space.tryon

    def stamped_tryon(editor, garment, description, *args):
        timeline[description] = time.time()
        return tryon(editor, garment, description, *args)

    space.tryon = stamped_tryon
    record = hf._record

    def stamped_record(request):
        body = request.json if request.method == "POST" else None
        if isinstance(body, dict) and "image_url" in body and body.get("prompt"):
            timeline[body["prompt"]] = time.time()
        record(request)

    hf._record = stamped_record
    return timeline


def submit(user, task, prompt, uploads):
    from imagegen import services

    person, garment = uploads
    return services.submit_generation(
        user=user,
        prompt=prompt,
        width=1024,
        height=1024,
        task=task,
        source_image=person,
        garment_image=garment if task == "try_on" else None,
        seed=random.randrange(2**31),
    )


def worker_cpu(cluster):
    """CPU seconds of the cluster's worker processes alone (the sentinel, monitor and pusher
    left out: their broker polls run whether or not anything is queued)."""
    return sum(member["cpu"] for member in cluster.roles()["workers"])


def one_generation(cluster, user, task, prompt, uploads, timeline, timeout=60.0):
    """Submit one and poll its row every 5 ms until it succeeded: seconds, and the cluster's
    CPU seconds meanwhile."""
    from imagegen.models import Generation

    cpu, workers = cluster.cpu(), worker_cpu(cluster)
    submitted = time.time()
    start = time.perf_counter()
    generation = submit(user, task, prompt, uploads)
    rows = Generation.objects.filter(pk=generation.pk)
    deadline = start + timeout
    while True:
        status = rows.values_list("status", flat=True).first()
        if status == "succeeded":
            break
        if status not in ("queued", "running"):
            raise pipeline.failure(generation.pk)
        if time.perf_counter() > deadline:
            raise TimeoutError(f"{task} {generation.pk} still {status} after {timeout} s")
        time.sleep(0.005)
    total = time.perf_counter() - start
    seen = time.time()
    used, used_by_workers = cluster.cpu() - cpu, worker_cpu(cluster) - workers
    row = rows.values("created_at", "started_at", "finished_at").get()
    created, started, finished = (
        row[k].timestamp() for k in ("created_at", "started_at", "finished_at")
    )
    asked = timeline.get(prompt, math.nan)
    return {
        "total": total,
        "before_asked": asked - submitted,
        "after_asked": seen - asked,
        "cpu": used,
        "worker_cpu": used_by_workers,
        "created_started": started - created,
        "started_finished": finished - started,
        "finished_seen": seen - finished,
    }


def measure(cluster, user, uploads, direct, samples, timeline):
    """Both tasks, `samples` each, alternating: ours, then the direct call, edit then try-on."""
    runs = {task: [] for task in TASKS}
    directs = {task: [] for task in TASKS}
    direct_hops = {task: [] for task in TASKS}
    jitter = random.Random(28)
    for i in range(samples):
        for task in TASKS:
            token = uuid.uuid4().hex[:8]
            prompt = (
                f"make it a watercolour {i} {token}"
                if task == "edit"
                else f"red linen shirt {i} {token}"
            )
            time.sleep(jitter.uniform(0, 0.25))
            runs[task].append(one_generation(cluster, user, task, prompt, uploads, timeline))
            call = direct.edit if task == "edit" else direct.try_on
            started = time.time()
            directs[task].append(call(f"direct {prompt}", jitter.randrange(2**31)))
            asked = timeline.get(f"direct {prompt}", math.nan)
            direct_hops[task].append((asked - started, time.time() - asked))
    results = {}
    for task in TASKS:
        series = {key: [run[key] for run in runs[task]] for key in runs[task][0]}
        figures = {"samples": samples}
        for q in (50, 90):
            e2e = pipeline.percentile(series["total"], q)
            base = pipeline.percentile(directs[task], q)
            figures[f"e2e_p{q}_ms"] = e2e * 1000
            figures[f"direct_p{q}_ms"] = base * 1000
            figures[f"ratio_p{q}"] = e2e / base
        for key in ("created_started", "started_finished", "finished_seen"):
            figures[f"{key}_p50_ms"] = statistics.median(series[key]) * 1000
        # Before and after the stand-in was asked, ours and direct (p50, ms).
        figures["before_asked_p50_ms"] = statistics.median(series["before_asked"]) * 1000
        figures["after_asked_p50_ms"] = statistics.median(series["after_asked"]) * 1000
        figures["direct_before_asked_p50_ms"] = (
            statistics.median(hop[0] for hop in direct_hops[task]) * 1000
        )
        figures["direct_after_asked_p50_ms"] = (
            statistics.median(hop[1] for hop in direct_hops[task]) * 1000
        )
        figures["cpu_per_image_s"] = statistics.median(series["cpu"])
        figures["worker_cpu_per_image_s"] = statistics.median(series["worker_cpu"])
        figures["worker_cpu_per_image_max_s"] = max(series["worker_cpu"])
        figures["cpu_per_image_max_s"] = max(series["cpu"])
        figures["e2e_mean_s"] = statistics.mean(series["total"])
        results[task] = figures
    return results


def idle_cpu_per_second(cluster, seconds):
    """CPU seconds per second of the idle cluster (its broker polls, its heartbeats)."""
    time.sleep(0.5)
    cpu, start = cluster.cpu(), time.monotonic()
    time.sleep(seconds)
    return (cluster.cpu() - cpu) / (time.monotonic() - start)


def _run_here(quick):
    params = QUICK if quick else FULL
    began = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="travelfit-photos-"))
    # Gradio reads its cache folder when imported, and checks against it later: set first.
    os.environ["GRADIO_TEMP_DIR"] = str(workdir / "gradio")
    from tests.fakes.gradio_tryon import start_gradio_tryon
    from tests.fakes.hf_server import huggingface_hub_pointed_at, start_hf_server

    hf = start_hf_server()
    hf.queue_seconds = PROVIDER_SECONDS  # the edit's job is done 1.0 s after its submit
    space = start_gradio_tryon()
    space.behaviour, space.slow_seconds = "slow", PROVIDER_SECONDS  # /tryon waits 1.0 s
    timeline = stamp_stand_ins(hf, space)
    clusters, old_name, queue_name = [], None, None
    busy_before, own_before, wall_before = pipeline.machine_busy(), pipeline.own_cpu(), began
    code = [pipeline.code_state()]
    results = {"quick": quick, "provider_seconds": PROVIDER_SECONDS, "workers": WORKERS}
    stack = contextlib.ExitStack()
    try:
        prepare_environment(workdir, hf.url, space.url)
        # gradio imported huggingface_hub before HF_ENDPOINT was set: point this process's
        # copy at the stand-in (the workers read the environment).
        stack.enter_context(huggingface_hub_pointed_at(hf.url))
        queue_name = os.environ["TRAVELFIT_TEST_QUEUE"]
        pipeline.setup_django()
        from django.conf import settings
        from django.db import connection
        from huggingface_hub.utils import _http as hf_http

        from imagegen import services

        log("creating the database")
        old_name = pipeline.create_database()
        results |= {
            "database": connection.vendor,
            "broker": settings.Q_BROKER,
            "poll": settings.Q_CLUSTER.get("poll"),
            "safety_check": settings.IMAGEGEN_SAFETY_CHECK,
        }
        logging.getLogger("imagegen").setLevel(logging.WARNING)
        user = pipeline.make_user("photos")
        person = photo_like_jpeg((768, 1024), 1)
        garment = photo_like_jpeg((512, 640), 2)
        uploads = (
            services.store_upload(user=user, data=person),
            services.store_upload(user=user, data=garment),
        )
        results["photo_bytes"] = {"person": len(person), "garment": len(garment)}
        # The uploads' safety check set huggingface_hub's HTTP client up as TravelFit does;
        # the direct calls get the library's own.
        hf_http.set_client_factory(hf_http.default_client_factory)
        stored = [upload.image.read() for upload in uploads]
        direct = Direct(stored[0], stored[1], space.url, workdir)
        worker_env = {
            **os.environ,
            "TRAVELFIT_TEST_DATABASE_NAME": str(connection.settings_dict["NAME"]),
        }
        code.append({**pipeline.code_state(), "phase": f"qcluster W={WORKERS}"})
        cluster = pipeline.Cluster(WORKERS, worker_env, workdir)
        clusters.append(cluster)
        cluster.wait_ready()
        log("warming up: one of each task per worker, and the direct clients")
        warm = [
            submit(user, task, f"warm-up {task} {i}", uploads).pk
            for i in range(WORKERS)
            for task in TASKS
        ]
        pipeline.wait_all(warm, timeout=180)
        direct.edit("warm-up", 1)
        direct.try_on("warm-up", 1)
        classified = len(hf.classification_requests)
        log(f"idle for {params['idle_seconds']:.0f} s")
        results["idle_cpu_per_s"] = idle_cpu_per_second(cluster, params["idle_seconds"])
        log(f"{params['samples']} of each task, one at a time, alternating with direct calls")
        results["tasks"] = measure(cluster, user, uploads, direct, params["samples"], timeline)
        results["classifications"] = len(hf.classification_requests) - classified
        for task in TASKS:
            figures = results["tasks"][task]
            figures["idle_cpu_same_time_s"] = results["idle_cpu_per_s"] * figures["e2e_mean_s"]
        cluster.stop()
        clusters.remove(cluster)
        results["cluster_seconds"] = cluster.final_cpu
    finally:
        for cluster in list(clusters):
            try:
                cluster.stop()
            except Exception as exc:  # keep cleaning up
                log(f"stopping qcluster: {exc}")
        if queue_name and old_name is not None:
            with contextlib.suppress(Exception):
                pipeline.clean_broker(queue_name)
        if old_name is not None:
            try:
                pipeline.destroy_database(old_name)
            except Exception as exc:
                log(f"could not drop the benchmark database: {exc}")
        stack.close()
        space.stop()
        hf.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    wall = time.monotonic() - wall_before
    others = pipeline.machine_busy() - busy_before - (pipeline.own_cpu() - own_before)
    results["other_busy_cores"] = (others - results.get("cluster_seconds", 0.0)) / wall
    results["load_average"] = os.getloadavg()
    code.append({**pipeline.code_state(), "phase": "end"})
    results["code"] = code[0]
    results["code_changed_during_run"] = len({state["code"] for state in code}) > 1
    results["run_seconds"] = time.monotonic() - began
    return results


def run(quick=False):
    """Measure the figures and return them as a dict (see the module's docstring)."""
    from django.conf import settings

    if settings.configured:
        return pipeline.run_in_child(__file__, JSON_MARK, quick, options=["--no-write"])
    return _run_here(quick)


# --- Output ------------------------------------------------------------------------------------

NAMES = {"edit": "edit (fal queue)", "try_on": "try-on (Gradio Space)"}


def markdown(r):
    code = r["code"]
    dirty = f", working tree dirty ({len(code['dirty_files'])} files)" if code["dirty"] else ""
    changed = "; the code changed during the run" if r["code_changed_during_run"] else ""
    poll = f", ORM poll {r['poll']} s" if r["broker"] == "orm" else ""
    load = " / ".join(f"{value:.1f}" for value in r["load_average"])
    text = (
        f"Measured {time.strftime('%Y-%m-%d %H:%M')} on {r['database']} + {r['broker']} "
        f"broker{poll}, qcluster W={r['workers']}, Python {sys.version.split()[0]}, "
        f"{os.cpu_count()} cores; code {code['commit']}{dirty}{changed}. Stand-ins answer "
        f"{r['provider_seconds']:.1f} s after they are asked; safety check "
        f"{r['safety_check']} ({r['classifications']} results classified by the stand-in, at "
        f"once); {r['tasks']['edit']['samples']} samples of each task"
        f"{' (--quick)' if r['quick'] else ''}, {r['run_seconds']:.0f} s in all; other load "
        f"on the machine meanwhile {r['other_busy_cores']:.2f} cores, load average {load}.\n\n"
        "| task | end-to-end ÷ direct, p50 / p90 | end-to-end p50 / p90 | direct p50 / p90 | "
        "worker CPU per image, median / max | whole cluster while one image is made, median "
        "(idle cluster for as long) | dispatch / worker / seen (p50) | before / after the "
        "stand-in was asked, ours vs direct (p50) |\n"
        "|---|---|---|---|---|---|---|---|\n"
    )
    for task in TASKS:
        f = r["tasks"][task]
        text += (
            f"| {NAMES[task]} | {f['ratio_p50']:.3f} / {f['ratio_p90']:.3f} | "
            f"{f['e2e_p50_ms']:.0f} / {f['e2e_p90_ms']:.0f} ms | "
            f"{f['direct_p50_ms']:.0f} / {f['direct_p90_ms']:.0f} ms | "
            f"{f['worker_cpu_per_image_s']:.3f} / {f['worker_cpu_per_image_max_s']:.3f} s | "
            f"{f['cpu_per_image_s']:.3f} s ({f['idle_cpu_same_time_s']:.3f} s) | "
            f"{f['created_started_p50_ms']:.0f} / {f['started_finished_p50_ms']:.0f} / "
            f"{f['finished_seen_p50_ms']:.0f} ms | {f['before_asked_p50_ms']:.0f} / "
            f"{f['after_asked_p50_ms']:.0f} ms vs {f['direct_before_asked_p50_ms']:.0f} / "
            f"{f['direct_after_asked_p50_ms']:.0f} ms |\n"
        )
    return text


def write(database, table):
    """The table into bench/README.md, between this database's RESULTS photos markers."""
    pipeline.write_results(f"photos {database}", table)


def main():
    pipeline.main_of(_run_here, markdown, write, JSON_MARK)


if __name__ == "__main__":
    main()
