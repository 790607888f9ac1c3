"""Planning a trip lookbook: what a 14-day trip costs the server once its weather is cached.

Run alone: `python bench/trips.py` (SQLite and the database cache), or with `DATABASE_URL`,
`Q_BROKER=redis` and `REDIS_URL` for PostgreSQL and the Redis cache. A throw-away test
database; Open-Meteo is the tests' stand-in on 127.0.0.1 (tests/fakes/open_meteo.py). Every
figure is a ratio against a baseline measured in the same process moments apart, best of
several rounds (bench/run.py's method); the issue's goal is the absolute one, ≤ 200 ms.

1. The whole plan from cache: the 14 days' weather (`weather.trip_weather`, one cache read),
   the outfits and packing list (`planner.plan_trip`, the rules) and the 14 picture prompts,
   against reading 16 cached values of the same size with one `cache.get_many` (the least any
   plan from cache must do).
2. The same with the weather asked from the stand-in (a new place each time, so nothing is
   cached: one forecast and one archive request), against the plan from cache: what the
   cache saves, with no real network latency in it.
3. The rules alone (14 outfits and the packing list), against the whole plan from cache.

Results go into bench/README.md between `<!-- RESULTS trips sqlite -->` (or postgresql) and
its closing marker.

`python bench/trips.py --lookbook` measures the issue's other goal, "the whole lookbook ÷ the
same number of single images made one by one ≤ 1.05", end to end with real workers, as
bench/pipeline.py does (its stand-in provider answering each picture in 1.0 s, a real
`manage.py qcluster`, a database of the script's own): a 3-day lookbook, from planning to its
last picture done (`plan_trip` with typed temperatures, `create_trip`, the fair queue, the
worker), against the same 3 pictures (same prompts, sizes and negative prompts) submitted and
waited for one at a time with `submit_generation`; alternating, LOOKBOOK_ROUNDS rounds, medians.
One worker (Q_WORKERS=1): no parallelism to hide an overhead of the lookbook's path (with more
workers its pictures are made side by side and the ratio falls well under 1). Results between
`<!-- RESULTS lookbook sqlite -->` (or postgresql) and its closing marker.
"""

import datetime
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
LOOKBOOK = __name__ == "__main__" and "--lookbook" in sys.argv[1:]
if LOOKBOOK:
    # The workers' environment (provider stand-in, data folder, queue) before Django reads it.
    import io

    from PIL import Image

    from bench import pipeline

    # The lookbook asks for portrait pictures (768×1024): the stand-in answers with one.
    portrait = Image.open(io.BytesIO(pipeline.photo_like_png())).crop((128, 0, 896, 1024))
    answer = io.BytesIO()
    portrait.save(answer, format="PNG", compress_level=1)
    STAND_IN = pipeline.StandIn(answer.getvalue())
    WORKDIR = Path(tempfile.mkdtemp(prefix="travelfit-lookbook-"))
    pipeline.prepare_environment(WORKDIR, STAND_IN)
    os.environ["TRIP_WEATHER"] = "off"  # temperatures typed: nothing asks Open-Meteo
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from django.core.cache import cache  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import override_settings, setup_test_environment  # noqa: E402

from bench.run import ROUNDS, best_of  # noqa: E402
from imagegen.trips import planner, prompts, weather  # noqa: E402
from imagegen.trips.places import Place  # noqa: E402
from imagegen.trips.vocabulary import ACTIVITIES  # noqa: E402
from tests.fakes.open_meteo import start_open_meteo  # noqa: E402

DAYS = 14
GOAL_MS = 200
LOOKBOOK_DAYS = 3
LOOKBOOK_ROUNDS = 5
LOOKBOOK_GOAL = 1.05


def jeju(offset=0.0):
    return Place(
        name="Jeju City",
        id=1846266,
        latitude=33.50972 + offset,
        longitude=126.52194,
        timezone="Asia/Seoul",
        country="South Korea",
    )


def plan(place, dates, activities):
    """What a lookbook's planning step does: weather, outfits, packing list, prompts."""
    trip = weather.trip_weather(place, dates)
    made = planner.plan_trip(trip.days, activities, "편한 캐주얼")
    return [prompts.day_picture(place, day, with_photo=True) for day in made.days]


def measure():
    server = start_open_meteo()
    try:
        with override_settings(
            **server.settings(), TRIP_WEATHER="open_meteo", TRIP_PLANNER="rules"
        ):
            return _measure()
    finally:
        server.stop()


def _measure():
    # A week ahead: the first 8 days from the forecast, the last 6 from the archive.
    start = jeju().today() + datetime.timedelta(days=7)
    dates = [start + datetime.timedelta(days=n) for n in range(DAYS)]
    names = list(ACTIVITIES)
    activities = {d: [ACTIVITIES[names[n % len(names)]]] for n, d in enumerate(dates)}
    place = jeju()
    pictures = plan(place, dates, activities)  # fills the cache
    assert len(pictures) == DAYS
    days = weather.trip_weather(place, dates).days
    cache.set_many({f"bench:trips:{n}": days[n % DAYS].as_dict() for n in range(16)}, 600)
    keys = [f"bench:trips:{n}" for n in range(16)]

    cached_s, cached_median = best_of(lambda: plan(place, dates, activities), 20)
    read_s, _ = best_of(lambda: cache.get_many(keys), 20)
    offsets = iter(range(1, 10_000))
    cold_s, _ = best_of(lambda: plan(jeju(next(offsets) * 0.1), dates, activities), 3)
    rules_s, _ = best_of(lambda: planner.plan_trip(days, activities, "편한 캐주얼"), 20)
    return {
        "database": connection.vendor,
        "cache": settings_cache_backend(),
        "cached_ms": cached_s * 1000,
        "cached_median_ms": cached_median * 1000,
        "read_ms": read_s * 1000,
        "cold_ms": cold_s * 1000,
        "rules_ms": rules_s * 1000,
    }


def settings_cache_backend():
    from django.conf import settings

    return settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]


def write(r):
    def row(what, ours, baseline, ratio):
        shown = f"{ratio:.2f}" if ratio < 1 else f"{ratio:.1f}"
        return f"| {what} | {ours:.2f} ms | {baseline:.2f} ms | {shown}× |\n"

    met = "met" if r["cached_median_ms"] <= GOAL_MS else "NOT met"
    table = (
        f"Measured {time.strftime('%Y-%m-%d')} on {r['database']} with the {r['cache']}, "
        f"Python {sys.version.split()[0]}, best of {ROUNDS} rounds; a {DAYS}-day trip from "
        f"cache: {r['cached_ms']:.1f} ms best, {r['cached_median_ms']:.1f} ms median "
        f"(goal ≤ {GOAL_MS} ms: {met}).\n\n"
        "| what | ours | baseline | ratio |\n|---|---|---|---|\n"
        + row(
            f"plan a {DAYS}-day trip from cache (weather, outfits, packing list, {DAYS} "
            "prompts) vs one cache read of 16 days",
            r["cached_ms"],
            r["read_ms"],
            r["cached_ms"] / r["read_ms"],
        )
        + row(
            "the same with the weather asked from the stand-in (2 requests) vs from cache",
            r["cold_ms"],
            r["cached_ms"],
            r["cold_ms"] / r["cached_ms"],
        )
        + row(
            f"the rules alone ({DAYS} outfits and the packing list) vs the whole plan from cache",
            r["rules_ms"],
            r["cached_ms"],
            r["rules_ms"] / r["cached_ms"],
        )
    )
    replace_results(f"trips {r['database']}", table)
    print(table)


def lookbook_seconds(user, start):
    """Plan and make a LOOKBOOK_DAYS-day lookbook; seconds until its last picture is done,
    and its generations."""
    from imagegen.models import Generation
    from imagegen.services import trips

    dates = [start + datetime.timedelta(days=n) for n in range(LOOKBOOK_DAYS)]
    began = time.perf_counter()
    draft = trips.plan_trip(
        destination="제주",
        start_date=dates[0],
        end_date=dates[-1],
        temperatures={date: (21.0, 14.0) for date in dates},
    )
    trip = trips.create_trip(user=user, draft=draft)
    ids = list(trip.days.values_list("generation_id", flat=True))
    pipeline.wait_all(ids, timeout=120, interval=0.005)
    return time.perf_counter() - began, list(Generation.objects.filter(pk__in=ids))


def singles_seconds(user, made):
    """The same pictures as `made`, each submitted and waited for before the next."""
    from imagegen import services

    began = time.perf_counter()
    for generation in made:
        single = services.submit_generation(
            user=user,
            prompt=generation.prompt,
            negative_prompt=generation.negative_prompt,
            width=generation.width,
            height=generation.height,
            translate_prompt=False,
        )
        pipeline.wait_all([single.pk], timeout=60, interval=0.005)
    return time.perf_counter() - began


def measure_lookbook():
    """Alternating rounds of a lookbook and its pictures one by one, under one real worker."""
    old_name = pipeline.create_database()
    queue = os.environ["TRAVELFIT_TEST_QUEUE"]
    worker_env = {**os.environ, "TRAVELFIT_TEST_DATABASE_NAME": connection.settings_dict["NAME"]}
    cluster = None
    busy_before, wall_before = pipeline.machine_busy(), time.monotonic()
    try:
        user = pipeline.make_user("lookbook")
        cluster = pipeline.Cluster(1, worker_env, WORKDIR)
        cluster.wait_ready()
        start = datetime.date.today() + datetime.timedelta(days=7)
        _, made = lookbook_seconds(user, start)  # warm-up, and the pictures to make singly
        singles_seconds(user, made)
        lookbooks, singles = [], []
        for number in range(LOOKBOOK_ROUNDS):
            offset = datetime.timedelta(days=LOOKBOOK_DAYS * (number + 1))
            seconds, made = lookbook_seconds(user, start + offset)
            lookbooks.append(seconds)
            singles.append(singles_seconds(user, made))
    finally:
        if cluster is not None:
            cluster.stop()
        pipeline.clean_broker(queue)
        pipeline.destroy_database(old_name)
        STAND_IN.stop()
        shutil.rmtree(WORKDIR, ignore_errors=True)
    wall = time.monotonic() - wall_before
    return {
        "database": connection.vendor,
        "lookbooks": lookbooks,
        "singles": singles,
        "busy_cores": (pipeline.machine_busy() - busy_before) / wall,
        "cores": os.cpu_count(),
    }


def write_lookbook(r):
    lookbook, singles = statistics.median(r["lookbooks"]), statistics.median(r["singles"])
    ratio = lookbook / singles
    met = "met" if ratio <= LOOKBOOK_GOAL else "NOT met"
    rounds = ", ".join(
        f"{a:.2f}/{b:.2f}" for a, b in zip(r["lookbooks"], r["singles"], strict=True)
    )
    table = (
        f"Measured {time.strftime('%Y-%m-%d')} on {r['database']}, one worker, the stand-in "
        f"provider at 1.0 s a picture, {LOOKBOOK_ROUNDS} alternating rounds (medians); the "
        f"machine was busy with {r['busy_cores']:.1f} of its {r['cores']} cores on average "
        f"(this script, its worker and other loads). Goal ≤ {LOOKBOOK_GOAL}: {met}.\n\n"
        "| what | lookbook | one by one | ratio |\n|---|---|---|---|\n"
        f"| a {LOOKBOOK_DAYS}-day lookbook (plan, confirm, {LOOKBOOK_DAYS} pictures) vs the "
        f"same {LOOKBOOK_DAYS} pictures one at a time | {lookbook:.2f} s | {singles:.2f} s "
        f"| {ratio:.3f}× |\n\nEach round, lookbook/one by one (s): {rounds}.\n"
    )
    replace_results(f"lookbook {r['database']}", table)
    print(table)


def replace_results(name, table):
    """`table` between bench/README.md's `<!-- RESULTS name -->` and its closing marker."""
    readme = ROOT / "bench" / "README.md"
    text = readme.read_text()
    start, end = f"<!-- RESULTS {name} -->\n", f"<!-- /RESULTS {name} -->"
    if start not in text:
        text += f"\n{start}{end}\n"
    text = re.sub(
        f"({re.escape(start)}).*?({re.escape(end)})",
        lambda match: match.group(1) + table + match.group(2),
        text,
        flags=re.S,
    )
    readme.write_text(text)


def main():
    if LOOKBOOK:
        write_lookbook(measure_lookbook())
        return
    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        results = measure()
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    write(results)


if __name__ == "__main__":
    main()
