"""TravelFit benchmarks: each figure is a ratio against a baseline run in the same process.

These machines are noisy, so absolute times mean little; a ratio of two things measured side by
side, best of several rounds, says how much a design choice costs. Results are written into
bench/README.md between the RESULTS markers. Run with `make bench`.

1. Submitting a generation (quota reservation + row + enqueue) against a plain INSERT of the
   same Generation row: what the concurrency-safe quota costs on each submission.
2. Checking a provider's 1024×1024 PNG and storing it (verify, decode, PNG with parameters,
   WebP thumbnail) against only decoding it: the price of never storing unchecked bytes. The
   memory peak (tracemalloc) is compared the same way.
3. The gallery page with 24 images against the same page empty: how rendering grows with
   items, and the query count of each (it must not grow).
4. MEDIA_STORAGE=s3 (moto's S3 server on 127.0.0.1) against local: storing one 1024×1024
   photo-like PNG, serving it to its owner (the view and the bytes), and the gallery of 24.
5. Scale: the admin changelist, /health, the gallery and the operations page with 10,000
   generations (and 1,000,000 on PostgreSQL) against the same pages with 10 and with 60.
5b. The operations page (/ops/) with the same 2,000 generations in its 14 days and 10,000 or
   1,000,000 (100,000 on SQLite) in the table: the first view and later ones.
6. The pipeline under real qcluster workers (bench/pipeline.py, in a child process): end-to-end
   against a direct call to the provider, dispatch, the work after the provider answered, CPU
   per image, throughput at W = 2, 8, 16, fairness and the idle cost.
7. The photo tasks under real qcluster workers (bench/photos.py, in a child process): an edit
   through a stand-in fal queue and a try-on through a stand-in Gradio Space, end-to-end against
   the provider libraries called straight, and the worker CPU per image; written into its own
   section, `<!-- RESULTS photos sqlite -->` (or `postgresql`).
8. The gallery's cards on 10,000 and 40,000 generations with chains of edits (bench/gallery.py):
   counting them, and pages 1 and 400; written into `<!-- RESULTS gallery sqlite -->`.
9. Edit again (bench/chains.py, in a child process): an edit of a stored result against the
   same edit of an uploaded photo, each end-to-end against a direct call with the same bytes;
   written into `<!-- RESULTS chains sqlite -->` (or `postgresql`).

Each database and broker configuration writes its own section of bench/README.md, between
`<!-- RESULTS sqlite -->` (or `postgresql`) and `<!-- /RESULTS sqlite -->`. BENCH_QUICK=1 takes
fewer samples.
"""

import io
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402
from PIL import Image  # noqa: E402

ROUNDS = 7


def best_of(function, repeat):
    """Seconds per call: the best of ROUNDS rounds of `repeat` calls (least disturbed)."""
    times = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(repeat):
            function()
        times.append((time.perf_counter() - start) / repeat)
    return min(times), statistics.median(times)


def bench_submission(user):
    from imagegen import services
    from imagegen.models import Generation, Quota

    services.quota_for(user)
    Quota.objects.filter(user=user).update(daily_limit=10**6, monthly_limit=10**6)

    def submit():
        services.submit_generation(user=user, prompt="Lisbon", width=512, height=512)

    def insert():
        Generation.objects.create(owner=user, prompt="Lisbon", width=512, height=512)

    ours, _ = best_of(submit, 50)
    base, _ = best_of(insert, 50)
    return {
        "submission_ms": ours * 1000,
        "insert_ms": base * 1000,
        "submission_ratio": ours / base,
    }


def bench_image_check():
    from imagegen.images import check_image, stored_bytes

    data = photo_like_png()

    def ours():
        checked = check_image(data, expected_size=(1024, 1024))
        stored_bytes(checked, "Jeju at dawn\nSeed: 7")

    def decode_only():
        Image.open(io.BytesIO(data)).load()

    ours_s, _ = best_of(ours, 3)
    base_s, _ = best_of(decode_only, 3)
    # Pillow allocates pixels outside Python's allocator, so tracemalloc cannot see them: each
    # side runs in a fresh interpreter and reports its peak resident memory above the imports.
    with tempfile.NamedTemporaryFile(suffix=".png") as file:
        file.write(data)
        file.flush()
        ours_peak, base_peak = peak_memory("ours", file.name), peak_memory("decode", file.name)
    return {
        "image_ms": ours_s * 1000,
        "decode_ms": base_s * 1000,
        "image_ratio": ours_s / base_s,
        "image_peak_mb": ours_peak / 1e6,
        "decode_peak_mb": base_peak / 1e6,
        "image_peak_ratio": ours_peak / base_peak,
    }


MEMORY_PROBE = """
import ctypes, gc, io, os, sys
sys.path.insert(0, {root!r})
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
import django; django.setup()
from PIL import Image
from imagegen.images import check_image, stored_bytes
data = open({path!r}, "rb").read()

def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1])

gc.collect()
ctypes.CDLL("libc.so.6").malloc_trim(0)
with open("/proc/self/clear_refs", "w") as refs:
    refs.write("5")  # reset the peak (VmHWM) to the current resident size
before = status("VmRSS:")
if {which!r} == "ours":
    stored_bytes(check_image(data, expected_size=(1024, 1024)), "p")
else:
    Image.open(io.BytesIO(data)).load()
print(status("VmHWM:") - before)
"""


def peak_memory(which, path):
    """Bytes of peak resident memory the step added, in a fresh interpreter (Linux)."""
    code = MEMORY_PROBE.format(root=str(ROOT), which=which, path=str(path))
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return int(result.stdout.strip().splitlines()[-1]) * 1000


def bench_gallery(make_user):
    from imagegen import services
    from imagegen.tasks import run_generation

    empty_user, full_user = make_user("bench-empty"), make_user("bench-full")
    services.grant_credits(user=full_user, credits=24)
    for i in range(24):
        generation = services.submit_generation(
            user=full_user, prompt=f"trip {i}", width=256, height=256
        )
        run_generation(str(generation.pk))
    results = {}
    for label, user in (("empty", empty_user), ("full", full_user)):
        client = Client()
        client.force_login(user)
        queries = []

        def count(execute, sql, params, many, context, queries=queries):
            queries.append(sql)
            return execute(sql, params, many, context)

        # A wrapper on the connection counts every statement of the request (the request
        # signals reset Django's own query log).
        with connection.execute_wrapper(count):
            response = client.get("/gallery/")
        assert response.status_code == 200, response.status_code
        seconds, _ = best_of(lambda client=client: client.get("/gallery/"), 5)
        results[f"gallery_{label}_ms"] = seconds * 1000
        results[f"gallery_{label}_queries"] = len(queries)
    results["gallery_ratio"] = results["gallery_full_ms"] / results["gallery_empty_ms"]
    return results


def photo_like_png(size=1024):
    """A PNG that compresses like a photo (noise over gradients), not like a flat picture."""
    noise = Image.effect_noise((size, size), 48)
    gradient = Image.linear_gradient("L").resize((size, size))
    image = Image.merge("RGB", (noise, gradient, Image.blend(noise, gradient.rotate(90), 0.5)))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def bench_storage(make_user):
    """Local disk against the bucket: store one image, serve it to its owner, the gallery."""
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from django.test.utils import override_settings

    from imagegen import services
    from imagegen.models import Generation
    from imagegen.tasks import run_generation
    from tests.fakes import s3
    from tests.fakes.s3 import start_s3_server
    from travelfit.settings import s3_storage

    data = photo_like_png()
    server = start_s3_server()
    bucket = server.create_bucket()
    from django.conf import settings

    bucket_settings = {
        "MEDIA_STORAGE": "s3",
        "AWS_STORAGE_BUCKET_NAME": bucket,
        "AWS_S3_ENDPOINT_URL": server.url,
        "STORAGES": {
            **settings.STORAGES,
            "default": s3_storage(
                bucket=bucket,
                endpoint_url=server.url,
                region=s3.REGION,
                access_key=s3.ACCESS_KEY,
                secret_key=s3.SECRET_KEY,
                addressing_style="path",
                location="",
            ),
        },
    }
    results = {"image_bytes": len(data)}
    user = make_user("bench-storage")
    services.grant_credits(user=user, credits=60)
    try:
        for label, overrides in (("local", {}), ("s3", bucket_settings)):
            with override_settings(**overrides):
                names = []

                def store(names=names):
                    names.append(default_storage.save("bench/photo.png", ContentFile(data)))

                results[f"store_{label}_ms"] = best_of(store, 3)[0] * 1000
                generation = services.submit_generation(
                    user=user, prompt=f"{label} photo", width=256, height=256
                )
                Generation.objects.filter(pk=generation.pk).update(
                    status="succeeded", image=names[0], thumbnail=names[0]
                )
                client = Client()
                client.force_login(user)

                def serve(client=client, pk=generation.pk):
                    response = client.get(f"/g/{pk}/image.png")
                    if response.status_code == 302:  # the bucket: follow the signed URL
                        import urllib.request

                        with urllib.request.urlopen(response["Location"]) as answer:
                            body = answer.read()
                    else:
                        body = b"".join(response.streaming_content)
                    assert len(body) == len(data)

                results[f"serve_{label}_ms"] = best_of(serve, 3)[0] * 1000
                Generation.objects.filter(owner=user).delete()
                for i in range(24):
                    made = services.submit_generation(
                        user=user, prompt=f"trip {i}", width=256, height=256
                    )
                    run_generation(str(made.pk))
                server.reset_count()
                client.get("/gallery/")
                results[f"gallery_{label}_bucket_requests"] = server.requests
                results[f"gallery_{label}_page_ms"] = (
                    best_of(lambda client=client: client.get("/gallery/"), 5)[0] * 1000
                )
                Generation.objects.filter(owner=user).delete()
                for name in names:
                    default_storage.delete(name)
    finally:
        server.stop()
    for what in ("store", "serve", "gallery"):
        key = "page_ms" if what == "gallery" else "ms"
        results[f"{what}_bucket_ratio"] = (
            results[f"{what}_s3_{key}"] / results[f"{what}_local_{key}"]
        )
    return results


def _fill(user, rows):
    """Add finished generations (no files) until the table holds `rows`, quickly."""
    import datetime
    import uuid as uuid_module

    from django.utils import timezone

    from imagegen.models import Generation

    missing = rows - Generation.objects.count()
    if missing <= 0:
        return
    now = timezone.now()
    if connection.vendor == "postgresql" and missing > 50_000:
        # One INSERT … SELECT: the columns that make each row, and every other column at its
        # field's default (so a column added later needs no change here).
        made = {
            "id": "md5(random()::text || i::text)::uuid",
            "owner_id": "%s",
            "prompt": "'trip ' || i",
            "width": "512",
            "height": "512",
            "status": "'succeeded'",
            "provider": "'demo'",
            "model_name": "'demo'",
            "image": "'generations/x.png'",
            "thumbnail": "'generations/x.webp'",
            "created_at": "%s - i * interval '1 second'",
            "started_at": "%s - i * interval '1 second'",
            "finished_at": "%s - i * interval '1 second'",
        }
        columns, values, params = list(made), list(made.values()), [user.pk, now, now, now]
        for field in Generation._meta.concrete_fields:
            if field.column not in made:
                columns.append(field.column)
                values.append("%s")
                params.append(field.get_db_prep_save(field.get_default(), connection))
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO imagegen_generation ({', '.join(columns)}) "
                f"SELECT {', '.join(values)} FROM generate_series(1, %s) AS i",
                [*params, missing],
            )
            cursor.execute("ANALYZE imagegen_generation")
        return
    batch = []
    for i in range(missing):
        moment = now - datetime.timedelta(seconds=i + 1)
        batch.append(
            Generation(
                id=uuid_module.uuid4(),
                owner=user,
                prompt=f"trip {i}",
                width=512,
                height=512,
                status="succeeded",
                provider="demo",
                image="generations/x.png",
                thumbnail="generations/x.webp",
                created_at=moment,
                started_at=moment,
                finished_at=moment,
            )
        )
    Generation.objects.bulk_create(batch, batch_size=2000)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE imagegen_generation")


def _timed_page(client, url, repeat=5):
    queries = []

    def count(execute, sql, params, many, context):
        queries.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        response = client.get(url)
    assert response.status_code in (200, 503), (url, response.status_code)
    seconds, _ = best_of(lambda: client.get(url), repeat)
    return seconds * 1000, len(queries)


def bench_scale(make_user, sizes):
    """Admin changelist (page 1 and 200), /health and the gallery (page 1 and 400) with many
    generations, against the same pages with 10: each ratio should stay near 1."""
    from django.contrib.auth import get_user_model

    from imagegen.models import Generation

    Generation.objects.all().delete()
    owner = make_user("bench-scale")
    staff = get_user_model().objects.create_superuser("bench-admin", "a@example.org", "x" * 20)
    admin, user = Client(), Client()
    admin.force_login(staff)
    user.force_login(owner)
    pages = {
        "admin_p1": (admin, "/admin/imagegen/generation/"),
        "admin_p200": (admin, "/admin/imagegen/generation/?p=199"),
        "health": (admin, "/health"),
        "gallery_p1": (user, "/gallery/"),
        "gallery_p400": (user, "/gallery/?page=400"),
        "ops": (admin, "/ops/"),
    }
    results = {}
    # 10 rows is the baseline; 60 fills a first page, so that page renders as many
    # rows as at any size and the ratio shows only what the size itself costs.
    for size in (10, 60, *sizes):
        _fill(owner, size)
        for name, (client, url) in pages.items():
            if name == "admin_p200" and size < 200 * 50:
                # The admin redirects a page that does not exist: the baseline is page 1.
                url = pages["admin_p1"][1]
            ms, queries = _timed_page(client, url)
            results[f"scale_{name}_{size}_ms"] = ms
            results[f"scale_{name}_{size}_queries"] = queries
    results["scale_sizes"] = sizes
    return results


def _fill_history(user, rows, recent):
    """`recent` finished generations spread over the last 14 days and the rest of `rows` over
    the year before them: what a site that has run for a while holds."""
    import datetime
    import random
    import uuid as uuid_module

    from django.utils import timezone

    from imagegen.models import Generation

    Generation.objects.all().delete()
    now = timezone.now()
    rng = random.Random(24)
    batch = []
    for i in range(rows):
        if i < recent:
            ago = datetime.timedelta(seconds=rng.uniform(60, 13.9 * 86400))
        else:
            ago = datetime.timedelta(days=rng.uniform(15, 380))
        finished = now - ago
        failed = i % 17 == 0
        batch.append(
            Generation(
                id=uuid_module.uuid4(),
                owner=user,
                prompt=f"trip {i}",
                width=512,
                height=512,
                status="failed" if failed else "succeeded",
                failure_class="unavailable" if failed else "",
                provider=("demo", "hf_inference", "gradio_space")[i % 3],
                image="" if failed else "generations/x.png",
                thumbnail="" if failed else "generations/x.webp",
                created_at=finished - datetime.timedelta(seconds=9),
                enqueued_at=finished - datetime.timedelta(seconds=9),
                started_at=finished - datetime.timedelta(seconds=rng.uniform(1, 8)),
                finished_at=finished,
            )
        )
        if len(batch) == 5000:
            Generation.objects.bulk_create(batch)
            batch = []
    Generation.objects.bulk_create(batch)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE imagegen_generation")


def bench_ops(make_user, sizes, recent=2000):
    """/ops/ with `recent` generations in its 14 days and 10,000 or a million in the table:
    the first view (every day counted) and later ones (the days that are over are kept)."""
    from django.contrib.auth import get_user_model

    from imagegen import ops

    owner = make_user("bench-ops")
    staff = get_user_model().objects.create_superuser("bench-ops-admin", "o@example.org", "x" * 20)
    admin = Client()
    admin.force_login(staff)
    results = {}
    for size in sizes:
        _fill_history(owner, size, recent)
        ops.forget()
        start = time.perf_counter()
        admin.get("/ops/")
        results[f"ops_{size}_first_ms"] = (time.perf_counter() - start) * 1000
        ms, queries = _timed_page(admin, "/ops/")
        results[f"ops_{size}_ms"], results[f"ops_{size}_queries"] = ms, queries
    results["ops_sizes"] = sizes
    return results


def main():
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        call_command("collectstatic", interactive=False, verbosity=0)

        def make_user(name):
            return get_user_model().objects.create_user(name, f"{name}@example.org", "x" * 20)

        results = {"database": connection.vendor}
        results |= bench_submission(make_user("bench-submit"))
        results |= bench_image_check()
        results |= bench_gallery(make_user)
        results |= bench_storage(make_user)
        sizes = [10_000] + ([1_000_000] if connection.vendor == "postgresql" else [])
        results |= bench_scale(make_user, sizes)
        big = 1_000_000 if connection.vendor == "postgresql" else 100_000
        results |= bench_ops(make_user, [10_000, big])
        import gallery

        gallery_figures = gallery.bench(make_user)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    import pipeline

    quick = bool(os.environ.get("BENCH_QUICK"))
    pipeline_figures = pipeline.markdown(pipeline.run(quick=quick))
    write(results, pipeline_figures)
    gallery.write(gallery_figures["database"], gallery.markdown(gallery_figures))
    import photos

    photo_figures = photos.run(quick=quick)
    photos.write(photo_figures["database"], photos.markdown(photo_figures))
    import chains

    chain_figures = chains.run(quick=quick)
    chains.write(chain_figures["database"], chains.markdown(chain_figures))


def write(r, pipeline_figures):
    def row(what, ours, baseline, ratio):
        return f"| {what} | {ours} | {baseline} | {ratio:.1f}× |\n"

    version = sys.version.split()[0]
    table = (
        f"Measured {time.strftime('%Y-%m-%d')} on {r['database']}, Python {version}, "
        f"best of {ROUNDS} rounds.\n\n| what | ours | baseline | ratio |\n|---|---|---|---|\n"
        + row(
            "submit a generation (quota UPDATE + row + enqueue) vs a plain INSERT of the row",
            f"{r['submission_ms']:.2f} ms",
            f"{r['insert_ms']:.2f} ms",
            r["submission_ratio"],
        )
        + row(
            "check + store a 1024² photo-like PNG (verify, one decode for the WebP thumbnail, "
            "parameters chunk spliced in) vs decode only",
            f"{r['image_ms']:.1f} ms",
            f"{r['decode_ms']:.1f} ms",
            r["image_ratio"],
        )
        + row(
            "peak memory added by the same",
            f"{r['image_peak_mb']:.1f} MB",
            f"{r['decode_peak_mb']:.1f} MB",
            r["image_peak_ratio"],
        )
        + row(
            "gallery page with 24 images vs empty",
            f"{r['gallery_full_ms']:.1f} ms, {r['gallery_full_queries']} queries",
            f"{r['gallery_empty_ms']:.1f} ms, {r['gallery_empty_queries']} queries",
            r["gallery_ratio"],
        )
        + row(
            f"store one 1024² photo-like PNG ({r['image_bytes'] / 1e6:.1f} MB): bucket vs local",
            f"{r['store_s3_ms']:.1f} ms",
            f"{r['store_local_ms']:.1f} ms",
            r["store_bucket_ratio"],
        )
        + row(
            "serve it to its owner (view + bytes; bucket: redirect + signed GET) vs local",
            f"{r['serve_s3_ms']:.1f} ms",
            f"{r['serve_local_ms']:.1f} ms",
            r["serve_bucket_ratio"],
        )
        + row(
            "gallery page with 24 images: bucket (signed URLs) vs local",
            f"{r['gallery_s3_page_ms']:.1f} ms, {r['gallery_s3_bucket_requests']} bucket requests",
            f"{r['gallery_local_page_ms']:.1f} ms",
            r["gallery_bucket_ratio"],
        )
    )
    for size in r["scale_sizes"]:
        for name, what in (
            ("admin_p1", "admin generations list, page 1"),
            ("admin_p200", "admin generations list, page 200"),
            ("health", "/health (with its details)"),
            ("gallery_p1", "gallery, page 1"),
            ("gallery_p400", "gallery, page 400"),
            ("ops", "/ops/, the last 14 days as charts"),
        ):
            big = r[f"scale_{name}_{size}_ms"]
            for base in (10, 60):
                small = r[f"scale_{name}_{base}_ms"]
                table += row(
                    f"{what}: {size:,} generations vs {base}",
                    f"{big:.1f} ms, {r[f'scale_{name}_{size}_queries']} queries",
                    f"{small:.1f} ms, {r[f'scale_{name}_{base}_queries']} queries",
                    big / small,
                )
    small, big = r["ops_sizes"]
    for when, key in (("first view (every day counted)", "first_ms"), ("later views", "ms")):
        table += row(
            f"/ops/ with 2,000 generations in its 14 days, {when}: {big:,} in the table vs "
            f"{small:,}",
            f"{r[f'ops_{big}_{key}']:.1f} ms",
            f"{r[f'ops_{small}_{key}']:.1f} ms",
            r[f"ops_{big}_{key}"] / r[f"ops_{small}_{key}"],
        )
    table += "\n" + pipeline_figures
    readme = ROOT / "bench" / "README.md"
    text = readme.read_text()
    start, end = f"<!-- RESULTS {r['database']} -->\n", f"<!-- /RESULTS {r['database']} -->"
    if start not in text:
        text += f"\n{start}{end}\n"
    text = re.sub(
        f"({re.escape(start)}).*?({re.escape(end)})",
        lambda m: m.group(1) + table + m.group(2),
        text,
        flags=re.S,
    )
    readme.write_text(text)
    print(table)


if __name__ == "__main__":
    main()
