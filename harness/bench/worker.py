"""The bench's measuring side: a process in one backend's environment, started for each repeat (or, with
``--reuse-workers``, once for all of its points and repeats).

``Measurer.measure(point, repeat)`` builds the point's model the first time it sees the point (the very
first training step and the first inference batch, with any compilation, are timed on their own), then
per repeat runs ``warmup`` untimed training steps and ``steps`` timed ones, and the same for inference.
With ``min_time`` the timed steps are as many as fill at least that many seconds, and never fewer than
``steps``: a short, synchronised calibration span (doubling from one step until it lasts a tenth of
``min_time``) estimates the rate first, as pytest-benchmark calibrates its rounds, and should the timed
spans still fall short, spans of the same size follow until they fill it. So a tiny model is timed over
a window long enough to read, and a large one is not made to run longer than asked.
The timed steps run in ``CHUNKS`` consecutive spans, each synchronised at both ends; a repeat's figure
is the median of its spans' rates, so a hiccup of the machine (an interrupt, a neighbour's burst) costs
one span, not the repeat. Every clock read follows ``adapter.synchronize()``
(``harness.common.timing.Stopwatch``), so asynchronous frameworks are timed on finished work; training losses
are fetched inside each timed span, as the training loop fetches them.

``serve`` is the process' main loop: one JSON request a line on stdin, one JSON reply a line on the
original stdout (prefixed by ``REPLY``); the framework's own prints go to stderr, so they cannot break
the channel.
"""

from __future__ import annotations

import json
import math
import os
import resource
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

import backends
from backends import canonical
from backends.base import Adapter
from harness.bench import gemm, layout
from harness.bench import plan as bench_plan
from harness.bench import reference as bench_reference
from harness.common import ftz, threads
from harness.common.timing import Stopwatch

REPLY = "@@rnnbench-bench "
POOL = 4  # distinct synthetic batches cycled through while timing

CHUNKS = 5  # timed spans per repeat: a repeat's figure is their median, so a passing hiccup is one chunk
MAX_STEPS = 100_000  # a calibrated step count never exceeds this (a clock that barely moves)
MAX_CHUNKS = 4 * CHUNKS  # spans added when the timed ones fall short of min_time, at most


def chunks(steps: int) -> list[range]:
    """``steps`` split into at most ``CHUNKS`` consecutive spans of near-equal length."""
    n = max(1, min(CHUNKS, steps))
    bounds = [round(i * steps / n) for i in range(n + 1)]
    return [range(a, b) for a, b in zip(bounds, bounds[1:], strict=False) if b > a]


def chunk_rate(timed: list[tuple[int, float]]) -> float:
    """Steps per second of a repeat: the median over its timed chunks (each synchronised at both ends)."""
    rates = sorted(n / s for n, s in timed if s > 0)
    mid = len(rates) // 2
    return rates[mid] if len(rates) % 2 else (rates[mid - 1] + rates[mid]) / 2


def calibrate(run: Callable[[int], None], stopwatch: Callable[[], Stopwatch], steps: int,
              min_time: float) -> int:
    """Steps to time so that they take at least ``min_time`` seconds (and are at least ``steps``).

    ``run(k)`` does ``k`` steps, timed by a fresh ``stopwatch()`` (synchronised at both ends). The span
    doubles from one step until it lasts a tenth of ``min_time``; its rate sets the count."""
    if min_time <= 0:
        return steps
    k = 1
    while True:
        with stopwatch() as sw:
            run(k)
        seconds = sw.seconds
        if seconds >= min_time / 10 or k >= MAX_STEPS:
            break
        k *= 2
    if seconds <= 0:
        return steps
    return max(steps, min(MAX_STEPS, math.ceil(min_time * k / seconds)))


def timed_spans(run: Callable[[int, int], None], stopwatch: Callable[[], Stopwatch], steps: int,
                min_time: float = 0.0) -> list[tuple[int, float]]:
    """``steps`` in ``chunks``, each timed on its own: ``(steps, seconds)`` per span. Should the spans
    fall short of ``min_time`` (the calibration ran slower than the steps after it), spans of the last
    one's size follow until they reach it, at most ``MAX_CHUNKS`` in all."""
    parts = [len(part) for part in chunks(steps)]
    timed: list[tuple[int, float]] = []
    done = 0
    while parts:
        k = parts.pop(0)
        with stopwatch() as sw:
            run(k, done)
        timed.append((k, sw.seconds))
        done += k
        if not parts and sum(s for _, s in timed) < min_time and len(timed) < MAX_CHUNKS:
            parts.append(k)
    return timed


def _create(backend: str, device: str, precision: str) -> Adapter:
    if bench_reference.is_reference(backend):  # a hand-written loop (benchmarks/reference/)
        return bench_reference.ReferenceAdapter(backend, device, precision)
    return backends.create(backends.get(backend), device, precision)


class Measurer:
    """Times points on one backend; keeps the current point's model between its repeats."""

    def __init__(self, backend: str, device: str = "auto", precision: str = "fp32", threads_: int = 1,
                 factory: Callable[[], Adapter] | None = None,
                 clock: Callable[[], float] = time.perf_counter, flush_to_zero: bool = True,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.backend, self.device, self.precision, self.threads = backend, device, precision, threads_
        ftz.set_flush_to_zero(flush_to_zero)  # before the framework starts its threads: they inherit it
        self.factory = factory or (lambda: _create(backend, device, precision))
        self.clock, self.sleep = clock, sleep
        self.point_id: str | None = None
        self.adapter: Adapter | None = None

    def _build(self, point: bench_plan.Point) -> dict[str, Any]:
        self.adapter = None  # free the previous point's model first
        shape = bench_plan.resolve(point)
        start = time.perf_counter()  # set-up, not a throughput figure: the wall clock of the whole build
        adapter = self.factory()
        adapter.set_threads(self.threads)
        if isinstance(adapter, bench_reference.ReferenceAdapter):  # its loop takes the shapes up front
            adapter.set_shape(shape.seq_len, shape.train_batch, shape.infer_batch)
        adapter.build(shape.scale.model, shape.scale.recipe, seed=0)
        adapter.set_weights(canonical.init(shape.scale.model, 0))
        adapter.synchronize()
        self.build_s = time.perf_counter() - start
        self.adapter, self.shape, self.point_id = adapter, shape, point.id
        self.train_batches = bench_plan.synthetic_batches(shape, shape.train_batch, POOL)
        self.infer_batches = [x for x, _ in bench_plan.synthetic_batches(shape, shape.infer_batch, POOL, 100)]
        if shape.scale.recipe.stateful:
            adapter.reset_state()
        with Stopwatch(adapter, self.clock) as first_train:
            x, y = self.train_batches[0]
            adapter.losses([adapter.train_step(x, y)])
        with Stopwatch(adapter, self.clock) as first_infer:
            adapter.predict(self.infer_batches[0])
        return {"build_s": self.build_s, "first_step_s": first_train.seconds,
                "first_predict_s": first_infer.seconds}

    def measure(self, point: bench_plan.Point, repeat: int, steps: int, warmup: int,
                min_time: float = 0.0, idle: float = 0.0) -> dict[str, Any]:
        """One repeat of one point: training and inference throughput, and what ran. ``idle`` (only
        ``bench --calibrate``'s slowed rows): after the steps of every timed span, sleep so that the idle
        time is that fraction of the span, a known slowdown for the verdicts to find."""
        first: dict[str, Any] = {}
        if point.id != self.point_id or self.adapter is None:
            first = self._build(point)
        adapter, shape = self.adapter, self.shape
        assert adapter is not None
        stateful = shape.scale.recipe.stateful
        if stateful:
            adapter.reset_state()
        pool, infer_pool = self.train_batches, self.infer_batches
        losses: list[float] = []

        def slowed(work: Callable[[int, int], None]) -> Callable[[int, int], None]:
            if not idle:
                return work

            def run(k: int, at: int = 0) -> None:
                start = self.clock()
                work(k, at)
                adapter.synchronize()
                self.sleep((self.clock() - start) * idle / (1 - idle))
            return run

        def work_train(k: int, at: int = 0) -> None:
            nonlocal losses
            losses = adapter.losses([adapter.train_step(*pool[i % POOL]) for i in range(at, at + k)])

        def work_infer(k: int, at: int = 0) -> None:
            for i in range(at, at + k):
                adapter.predict(infer_pool[i % POOL])

        train, infer = slowed(work_train), slowed(work_infer)

        def stopwatch() -> Stopwatch:
            return Stopwatch(adapter, self.clock)

        for i in range(warmup):
            train(1, i)
        train_steps = calibrate(train, stopwatch, steps, min_time)
        train_chunks = timed_spans(train, stopwatch, train_steps, min_time)
        if stateful:
            adapter.reset_state()
        for i in range(warmup):
            infer(1, i)
        infer_steps = calibrate(infer, stopwatch, steps, min_time)
        infer_chunks = timed_spans(infer, stopwatch, infer_steps, min_time)
        train_steps, infer_steps = sum(k for k, _ in train_chunks), sum(k for k, _ in infer_chunks)
        return {
            "point": point.id, "repeat": repeat, **first,
            "train_s": sum(s for _, s in train_chunks), "train_steps_per_s": chunk_rate(train_chunks),
            "train_chunks_s": [s for _, s in train_chunks], "train_batch": shape.train_batch,
            "infer_s": sum(s for _, s in infer_chunks), "infer_steps_per_s": chunk_rate(infer_chunks),
            "infer_chunks_s": [s for _, s in infer_chunks], "infer_batch": shape.infer_batch,
            "seq_len": shape.seq_len, "steps": steps, "train_steps": train_steps, "infer_steps": infer_steps,
            "last_loss": float(losses[-1]) if len(losses) else None,
            "peak_host_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            "peak_device_bytes": adapter.peak_device_memory(),
            "backend": adapter.describe(), "threads": threads.describe(),
            "flush_to_zero": ftz.enabled(), "denormals_flushed": ftz.flushes(), "pid": os.getpid(),
            "layout_pad": layout.pad(), **({"calibration_idle": idle} if idle else {}),
        }


def serve(backend: str, device: str, precision: str, n_threads: int, flush_to_zero: bool) -> int:
    """The worker process: answer ``measure`` requests until ``quit`` or end of input."""
    channel = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # frameworks' prints go to the log, not the channel
    n = threads.apply(n_threads)  # before the framework is imported
    measurer = Measurer(backend, device, precision, n, flush_to_zero=flush_to_zero)

    def reply(obj: dict[str, Any]) -> None:
        channel.write(REPLY + json.dumps(obj, default=str) + "\n")
        channel.flush()

    reply({"ok": True, "ready": True, "pid": os.getpid()})
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        if request.get("op") == "quit":
            break
        reply(handle(measurer, request))
    return 0


def _failed(exc: Exception) -> dict[str, Any]:
    if os.environ.get("RNNBENCH_DEBUG"):
        traceback.print_exc()
    message = str(exc).splitlines()[0][:300] if str(exc) else ""
    return {"ok": False, "error": f"{type(exc).__name__}: {message}"}


def handle(measurer: Measurer, request: dict[str, Any]) -> dict[str, Any]:
    """The reply to one request: a ``measure`` of a point (or the error of a point this backend cannot
    run, recorded as failed by the driver, which goes on), or after the rounds a ``gemm``: this
    framework's matrix-multiply rates (``harness.bench.gemm``)."""
    if request.get("op") == "gemm":
        try:
            found = gemm.measure(gemm.library(measurer.backend), request["device"], measurer.precision,
                                 request["square"], request["shapes"], request.get("repeats", gemm.REPEATS))
            return {"ok": True, "result": found}
        except Exception as exc:
            return _failed(exc)
    try:
        result = measurer.measure(bench_plan.Point.from_dict(request["point"]), request["repeat"],
                                  request["steps"], request["warmup"], request.get("min_time", 0.0),
                                  request.get("idle", 0.0))
        return {"ok": True, "result": result}
    except Exception as exc:
        measurer.adapter, measurer.point_id = None, None
        return _failed(exc)


class InProcessWorker:
    """A worker in the driver's own process (the tests' scripted backend): same requests, same replies."""

    def __init__(self, measurer: Measurer) -> None:
        self.measurer, self.pid = measurer, None

    def measure(self, request: dict[str, Any]) -> dict[str, Any]:
        return json.loads(json.dumps(handle(self.measurer, request), default=str))

    def close(self) -> None:
        self.measurer.adapter = None
