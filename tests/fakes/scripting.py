"""What a fake server does next, scripted by the test: one behaviour for every call, or a queue
of behaviours the next calls take in turn first. Shared by the fake Gradio Spaces."""

from __future__ import annotations

import collections
import threading


class Scripted:
    """`behaviour` answers every call once `script(...)`'s queue is empty; `calls` records
    what the calls received. Subclasses name their `behaviours` and call `next_behaviour()`
    once per call."""

    behaviours: frozenset[str] = frozenset({"ok"})

    def __init__(self) -> None:
        self.slow_seconds = 10.0
        self.calls: list = []
        self._behaviour = "ok"
        self._queue: collections.deque[str] = collections.deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    def _check(self, behaviour: str) -> None:
        if behaviour not in self.behaviours:
            raise ValueError(f"unknown behaviour {behaviour!r}; known: {sorted(self.behaviours)}")

    def script(self, *behaviours: str) -> None:
        """Queue behaviours for the next calls, one each, before ``behaviour``."""
        for behaviour in behaviours:
            self._check(behaviour)
        with self._lock:
            self._queue.extend(behaviours)

    @property
    def behaviour(self) -> str:
        """What calls do once the scripted queue is empty."""
        return self._behaviour

    @behaviour.setter
    def behaviour(self, value: str) -> None:
        self._check(value)
        self._behaviour = value

    def reset(self) -> None:
        """Back to ``ok`` with no queued behaviours and no recorded calls."""
        with self._lock:
            self.behaviour = "ok"
            self.slow_seconds = 10.0
            self._queue.clear()
            self.calls.clear()

    def next_behaviour(self) -> str:
        with self._lock:
            return self._queue.popleft() if self._queue else self._behaviour
