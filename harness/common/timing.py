"""Synchronised timing: the clock is read only after the backend has finished its queued work."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from backends.base import Adapter


class Stopwatch:
    """Times a block of backend work: ``synchronize()`` on entry and exit, then the monotonic clock."""

    def __init__(self, adapter: Adapter, clock: Callable[[], float] = time.perf_counter) -> None:
        self.adapter, self.clock = adapter, clock
        self.seconds = 0.0

    def __enter__(self) -> Stopwatch:
        self.adapter.synchronize()
        self._start = self.clock()
        return self

    def __exit__(self, *exc: object) -> None:
        self.adapter.synchronize()
        self.seconds = self.clock() - self._start
