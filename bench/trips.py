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
"""

import datetime
import os
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
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
    readme = ROOT / "bench" / "README.md"
    text = readme.read_text()
    start, end = (
        f"<!-- RESULTS trips {r['database']} -->\n",
        f"<!-- /RESULTS trips {r['database']} -->",
    )
    if start not in text:
        text += f"\n{start}{end}\n"
    text = re.sub(
        f"({re.escape(start)}).*?({re.escape(end)})",
        lambda match: match.group(1) + table + match.group(2),
        text,
        flags=re.S,
    )
    readme.write_text(text)
    print(table)


def main():
    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        results = measure()
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    write(results)


if __name__ == "__main__":
    main()
