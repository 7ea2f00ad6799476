"""benchmarks/loop_overhead.py: the real training loop around a null adapter, timed alone."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from tests.fakes import synthetic_task

PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "loop_overhead.py"


def _module():
    spec = importlib.util.spec_from_file_location("loop_overhead", PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_loop_alone_is_timed_through_the_real_runner(scripted, tmp_path):
    loop = _module()
    seconds = loop.loop_seconds_per_step("synthetic", "smoke", epochs=2)
    assert 0 < seconds < 0.05  # a step that costs nothing leaves microseconds of loop, not a framework's
    adapter = loop.NullAdapter()
    adapter.build(synthetic_task().scale("smoke").model, None, 0)
    x = np.zeros((4, 3), np.int32)
    assert adapter.predict(x).shape == (4, 1) and adapter.losses([0.5, 0.5]).tolist() == [0.5, 0.5]
