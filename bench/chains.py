"""Edit again (issue 32): an edit of a stored result against the same edit of an uploaded photo,
each end to end under real workers against a direct call to the provider with the same bytes.

    python bench/chains.py [--quick] [--json] [--no-write]

The far side is the fake Hugging Face of the tests (tests/fakes/hf_server.py) speaking fal's
queue protocol for FLUX.1 Kontext on fal-ai, in this process's threads, its job done 1.0 s
after its submit arrived, as bench/photos.py sets it (whose environment, photo and safety
check on the same stand-in this reuses). Real `manage.py qcluster` processes (W=2,
bench/pipeline.py's Cluster) on a database of the script's own (SQLite and the ORM broker by
default; PostgreSQL and Redis with DATABASE_URL=postgres://… Q_BROKER=redis).

One stored result is made first: an edit of the photo-like 768×1024 JPEG upload (its PNG, with
its marks and content credentials, is what a user's finished picture is). Then, one at a time
and alternating, `samples` times each:
1. **stored result**: `submit_generation(task="edit", parent=<that result>)`, from the call
   until the row reads `succeeded` (polled every 5 ms); and the provider library called
   straight with the result's stored PNG (`InferenceClient(provider="fal-ai")
   .image_to_image(...)`, one client built beforehand, as the worker keeps one).
2. **uploaded photo**: the same with `source_image=<the upload>`, against the direct call with
   the upload's stored JPEG.
End-to-end ÷ direct at p50 and p90 for each. Every version sent to fal is checked against the
stored bytes it came from (the stand-in keeps what it received): the script stops if any
differs, and if an upload was made on the way (no re-upload, no re-encode of the parent).

`run(quick=False)` returns the figures (in a child process when Django is already set up, as
in bench/run.py); run alone, the script writes its table into bench/README.md between
`<!-- RESULTS chains <database> -->` and `<!-- /RESULTS chains <database> -->`.
"""

import contextlib
import io
import logging
import os
import random
import shutil
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

import photos  # noqa: E402  (bench/photos.py: the environment, the photo, the stand-in's set-up)
import pipeline  # noqa: E402  (bench/pipeline.py: the cluster, the database, the CPU probes)

JSON_MARK = "CHAINS-JSON: "
FULL = {"samples": 30}
QUICK = {"samples": 8}
SOURCES = ("stored result", "uploaded photo")


def log(message):
    print(f"[chains {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class DirectEdit:
    """fal's queue asked straight from this process through huggingface_hub, as the worker
    asks it (the photo named for its type, so the data URL says PNG or JPEG)."""

    def __init__(self):
        from huggingface_hub import InferenceClient

        self.client = InferenceClient(provider="fal-ai", api_key=photos.TOKEN, timeout=60)

    def __call__(self, data, prompt, seed):
        photo = io.BytesIO(data)
        photo.name = "photo.png" if data.startswith(b"\x89PNG") else "photo.jpg"
        start = time.perf_counter()
        image = self.client.image_to_image(photo, prompt=prompt, model=photos.EDIT_MODEL, seed=seed)
        seconds = time.perf_counter() - start
        if not image.size[0]:
            raise RuntimeError("the direct edit answered no image")
        return seconds


def one_edit(user, prompt, **source):
    """Submit one edit and poll its row every 5 ms until it succeeded: seconds."""
    from imagegen import services
    from imagegen.models import Generation

    start = time.perf_counter()
    generation = services.submit_generation(
        user=user,
        task="edit",
        prompt=prompt,
        width=768,
        height=1024,
        seed=random.randrange(2**31),
        **source,
    )
    rows = Generation.objects.filter(pk=generation.pk)
    deadline = start + 60
    while (status := rows.values_list("status", flat=True).first()) != "succeeded":
        if status not in ("queued", "running"):
            raise pipeline.failure(generation.pk)
        if time.perf_counter() > deadline:
            raise TimeoutError(f"edit {generation.pk} still {status} after 60 s")
        time.sleep(0.005)
    return time.perf_counter() - start


def sent_for(hf, prompt):
    """The photo fal's queue received with the submit of `prompt`."""
    (job,) = [job for job in hf.jobs.values() if job.prompt == prompt]
    return job.image


def measure(hf, user, sources, samples):
    """Each source `samples` times, alternating ours and the direct call; checks each photo
    fal received against the stored bytes it was to be."""
    from imagegen.models import Upload

    direct = DirectEdit()
    uploads_before = Upload.objects.count()
    ours = {name: [] for name in SOURCES}
    straight = {name: [] for name in SOURCES}
    jitter = random.Random(32)
    for i in range(samples):
        for name in SOURCES:
            source, stored = sources[name]
            prompt = f"make the jacket red {i} {uuid.uuid4().hex[:8]}"
            time.sleep(jitter.uniform(0, 0.25))
            ours[name].append(one_edit(user, prompt, **source))
            if sent_for(hf, prompt) != stored:
                raise AssertionError(f"{name}: fal received other bytes than the stored ones")
            straight[name].append(direct(stored, f"direct {prompt}", jitter.randrange(2**31)))
    if Upload.objects.count() != uploads_before:
        raise AssertionError("an edit of a stored result made an upload")
    results = {}
    for name in SOURCES:
        figures = {"samples": samples, "bytes": len(sources[name][1])}
        for q in (50, 90):
            e2e = pipeline.percentile(ours[name], q)
            base = pipeline.percentile(straight[name], q)
            figures |= {f"e2e_p{q}_ms": e2e * 1000, f"direct_p{q}_ms": base * 1000}
            figures[f"ratio_p{q}"] = e2e / base
        results[name] = figures
    return results


def stored_sources(user):
    """The upload and a result edited from it, each with its stored bytes (as source kwargs)."""
    from imagegen import services
    from imagegen.models import Generation

    upload = services.store_upload(user=user, data=photos.photo_like_jpeg((768, 1024), 1))
    with upload.image.open("rb") as handle:
        photo = handle.read()
    one_edit(user, "the first version", source_image=upload)
    result = Generation.objects.get(prompt="the first version")
    with result.image.open("rb") as handle:
        picture = handle.read()
    return {
        "stored result": ({"parent": result}, picture),
        "uploaded photo": ({"source_image": upload}, photo),
    }


def _run_here(quick):
    params = QUICK if quick else FULL
    began = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="travelfit-chains-"))
    from tests.fakes.hf_server import huggingface_hub_pointed_at, start_hf_server

    hf = start_hf_server()
    hf.queue_seconds = photos.PROVIDER_SECONDS
    clusters, old_name, queue_name = [], None, None
    busy_before, own_before = pipeline.machine_busy(), pipeline.own_cpu()
    results = {"quick": quick, "provider_seconds": photos.PROVIDER_SECONDS}
    stack = contextlib.ExitStack()
    try:
        photos.prepare_environment(workdir, hf.url, "http://127.0.0.1:9/")
        os.environ["TEST_IMAGEGEN_PROVIDERS"] = "hf_inference"  # edits only: no Space here
        stack.enter_context(huggingface_hub_pointed_at(hf.url))
        queue_name = os.environ["TRAVELFIT_TEST_QUEUE"]
        pipeline.setup_django()
        from django.conf import settings
        from django.db import connection
        from huggingface_hub.utils import _http as hf_http

        log("creating the database")
        old_name = pipeline.create_database()
        results |= {
            "database": connection.vendor,
            "broker": settings.Q_BROKER,
            "safety_check": settings.IMAGEGEN_SAFETY_CHECK,
        }
        logging.getLogger("imagegen").setLevel(logging.WARNING)
        user = pipeline.make_user("chains")
        worker_env = {
            **os.environ,
            "TRAVELFIT_TEST_DATABASE_NAME": str(connection.settings_dict["NAME"]),
        }
        cluster = pipeline.Cluster(photos.WORKERS, worker_env, workdir)
        clusters.append(cluster)
        cluster.wait_ready()
        log("the first version, and a warm-up of each source and of the direct client")
        sources = stored_sources(user)
        hf_http.set_client_factory(hf_http.default_client_factory)
        measure(hf, user, sources, 1)
        log(f"{params['samples']} edits from each source, alternating with direct calls")
        results["sources"] = measure(hf, user, sources, params["samples"])
        results["code"] = pipeline.code_state()
    finally:
        for cluster in clusters:
            with contextlib.suppress(Exception):
                cluster.stop()
        if queue_name and old_name is not None:
            with contextlib.suppress(Exception):
                pipeline.clean_broker(queue_name)
        if old_name is not None:
            with contextlib.suppress(Exception):
                pipeline.destroy_database(old_name)
        stack.close()
        hf.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    wall = time.monotonic() - began
    others = pipeline.machine_busy() - busy_before - (pipeline.own_cpu() - own_before)
    results["other_busy_cores"] = others / wall
    results["load_average"] = os.getloadavg()
    results["run_seconds"] = wall
    return results


def run(quick=False):
    """Measure the figures and return them as a dict (see the module's docstring)."""
    from django.conf import settings

    if settings.configured:
        return pipeline.run_in_child(
            __file__, JSON_MARK, quick, timeout=1200, options=["--no-write"]
        )
    return _run_here(quick)


def markdown(r):
    code = r["code"]
    dirty = f", working tree dirty ({len(code['dirty_files'])} files)" if code["dirty"] else ""
    load = " / ".join(f"{value:.1f}" for value in r["load_average"])
    samples = r["sources"][SOURCES[0]]["samples"]
    text = (
        f"Measured {time.strftime('%Y-%m-%d %H:%M')} on {r['database']} + {r['broker']} "
        f"broker, qcluster W={photos.WORKERS}, Python {sys.version.split()[0]}, "
        f"{os.cpu_count()} cores; code {code['commit']}{dirty}. The fal stand-in answers "
        f"{r['provider_seconds']:.1f} s after the submit; safety check {r['safety_check']}; "
        f"{samples} samples of each{' (--quick)' if r['quick'] else ''}, "
        f"{r['run_seconds']:.0f} s in all; other load on the machine meanwhile "
        f"{r['other_busy_cores']:.2f} cores, load average {load}. Every photo fal received "
        "was the stored bytes, and no upload was made for an edit of a result.\n\n"
        "| source of the edit | bytes sent | end-to-end ÷ direct, p50 / p90 | "
        "end-to-end p50 / p90 | direct p50 / p90 |\n|---|---|---|---|---|\n"
    )
    for name in SOURCES:
        f = r["sources"][name]
        text += (
            f"| {name} | {f['bytes']:,} | {f['ratio_p50']:.3f} / {f['ratio_p90']:.3f} | "
            f"{f['e2e_p50_ms']:.0f} / {f['e2e_p90_ms']:.0f} ms | "
            f"{f['direct_p50_ms']:.0f} / {f['direct_p90_ms']:.0f} ms |\n"
        )
    return text


def write(database, table):
    """The table into bench/README.md, between this database's RESULTS chains markers."""
    pipeline.write_results(f"chains {database}", table)


def main():
    pipeline.main_of(_run_here, markdown, write, JSON_MARK)


if __name__ == "__main__":
    main()
