"""The gallery's cards (issue 32: one card per chain of edits) on a big gallery.

    python bench/gallery.py            (the configured database; `make bench` runs it too)

One user with 60 and then 10,000 and 40,000 generations, one in ten of them in a chain of
edits (a first picture and three versions, chain_root set as the worker sets it). For each size,
in the same process, best of 7 rounds:
- counting the cards as the gallery's paginator does (selectors.gallery_card_count) against
  the cards' own COUNT (each row checked against its chain, what Django's Paginator would
  run), unfiltered and with a filter (done, the word "trip");
- the gallery's first page and page 400 through the test client, against the same pages with
  60 generations.
Written into bench/README.md between `<!-- RESULTS gallery sqlite -->` (or `postgresql`) and its
end marker.
"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run  # noqa: E402  (sets Django up on tests.settings)
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

SIZES = (10_000, 40_000)
CHAIN = 4  # a first picture and three versions


def fill(user, rows):
    """`rows` finished generations of `user` (bench/run.py's fill), one in ten made a chain of
    CHAIN: the oldest of each group its first picture, each newer one edited from the next."""
    from imagegen.models import Generation

    Generation.objects.all().delete()
    run._fill(user, rows)
    newest_first = list(
        Generation.objects.filter(owner=user).order_by("-created_at").values_list("pk", flat=True)
    )
    versions = []
    for start in range(0, rows - CHAIN + 1, 10 * CHAIN):
        group = newest_first[start : start + CHAIN]
        versions += [
            Generation(pk=pk, chain_root_id=group[-1], parent_id=group[n + 1])
            for n, pk in enumerate(group[:-1])
        ]
    Generation.objects.bulk_update(versions, ["chain_root", "parent"], batch_size=2000)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE imagegen_generation")


def bench(make_user):
    from imagegen import selectors

    user = make_user("bench-gallery")
    client = Client()
    client.force_login(user)
    results = {"database": connection.vendor, "sizes": SIZES}
    for size in (60, *SIZES):
        fill(user, size)
        for label, filters in (("all", {}), ("filtered", {"show": "done", "query": "trip"})):
            cards = selectors.gallery_cards(user, **filters)
            ours = selectors.gallery_card_count(user, **filters)
            assert ours == cards.count(), (size, label)  # the same number, or nothing to compare
            results[f"{size}_{label}_cards"] = ours
            results[f"{size}_{label}_count_ms"] = (
                1000
                * run.best_of(
                    lambda filters=filters: selectors.gallery_card_count(user, **filters), 3
                )[0]
            )
            results[f"{size}_{label}_rows_ms"] = 1000 * run.best_of(cards.count, 3)[0]
        for page in (1, 400):
            url = f"/gallery/?page={page}"
            results[f"{size}_p{page}_ms"], results[f"{size}_p{page}_queries"] = run._timed_page(
                client, url
            )
    return results


def markdown(r):
    lines = [
        f"Measured {time.strftime('%Y-%m-%d %H:%M')} on {r['database']}, best of "
        f"{run.ROUNDS} rounds; one generation in ten in a chain of {CHAIN}.",
        "",
        "| generations | cards | count the cards (ours) | the cards' own COUNT | ratio "
        "| same, filtered: ours / COUNT | page 1 | page 400 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for size in (60, *r["sizes"]):
        ours, rows = r[f"{size}_all_count_ms"], r[f"{size}_all_rows_ms"]
        lines.append(
            f"| {size:,} | {r[f'{size}_all_cards']:,} | {ours:.1f} ms | {rows:.1f} ms "
            f"| {ours / rows:.2f}× | {r[f'{size}_filtered_count_ms']:.1f} / "
            f"{r[f'{size}_filtered_rows_ms']:.1f} ms "
            f"| {r[f'{size}_p1_ms']:.1f} ms ({r[f'{size}_p1_ms'] / r['60_p1_ms']:.1f}× 60 rows), "
            f"{r[f'{size}_p1_queries']} queries "
            f"| {r[f'{size}_p400_ms']:.1f} ms ({r[f'{size}_p400_ms'] / r['60_p400_ms']:.1f}×) |"
        )
    return "\n".join(lines) + "\n"


def write(database, table):
    import pipeline

    pipeline.write_results(f"gallery {database}", table)


def main():
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test.utils import setup_test_environment

    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        call_command("collectstatic", interactive=False, verbosity=0)

        def make_user(name):
            return get_user_model().objects.create_user(name, f"{name}@example.org", "x" * 20)

        results = bench(make_user)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    table = markdown(results)
    if "--no-write" not in sys.argv:
        write(results["database"], table)
    print(table)


if __name__ == "__main__":
    main()
