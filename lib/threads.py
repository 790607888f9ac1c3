"""Running one function over a few items on threads at once, for work that lets go of the GIL
(NumPy on large arrays, zlib): the caller's thread takes the first item, a thread each the
others, and the first error is raised in the caller once all have ended."""

import os
import threading

MAX_THREADS = 4


def parallel_parts(size: int, worth_from: int) -> int:
    """How many parts to split work of `size` into: one per core (up to MAX_THREADS) once
    `size` reaches `worth_from`, else one (starting threads would cost more than they save)."""
    if size < worth_from:
        return 1
    return max(1, min(os.cpu_count() or 1, MAX_THREADS))


def in_parallel(function, items) -> list:
    """[function(item) for item in items], each on a thread of its own."""
    items = list(items)
    results: list = [None] * len(items)
    errors: list = [None] * len(items)

    def run(number):
        try:
            results[number] = function(items[number])
        except BaseException as exc:  # noqa: BLE001 - raised in the caller's thread, below
            errors[number] = exc

    helpers = [threading.Thread(target=run, args=(n,)) for n in range(1, len(items))]
    for helper in helpers:
        helper.start()
    if items:
        run(0)
    for helper in helpers:
        helper.join()
    for error in errors:
        if error is not None:
            raise error
    return results
