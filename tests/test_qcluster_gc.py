"""The workers a real `qcluster` forks start with what the cluster had loaded frozen out of the
garbage collector's sight (gc.freeze() in the sentinel before the fork): a full collection in a
worker then walks only what the worker made since, not the ~110,000 objects of Django, the apps,
c2pa and NumPy, which took 75–115 ms and landed inside a generation every twenty-odd images."""

import gc
import time
from pathlib import Path

import pytest
from django_q.tasks import async_task


def write_freeze_count(path):
    """Run by a worker (a django-q2 task): how many objects it holds frozen."""
    Path(path).write_text(str(gc.get_freeze_count()))


@pytest.mark.worker
def test_a_worker_holds_what_the_cluster_loaded_frozen(start_worker, tmp_path):
    assert gc.get_freeze_count() == 0  # this test process froze nothing: the count is the worker's
    report = tmp_path / "frozen"
    start_worker()
    async_task("tests.test_qcluster_gc.write_freeze_count", str(report))
    deadline = time.monotonic() + 60
    while not report.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert report.exists(), "the worker did not run the task"
    frozen = int(report.read_text())
    # The apps and their libraries, not a handful: more objects than the models' own classes.
    assert frozen > 50_000
