"""What the harness' own training loop costs per step, apart from any framework.

A training run's throughput mixes the framework's step with the harness around it: batch slicing and
order, host arrays handed to the adapter, loss fetching, the finite-loss check, the progress bar. Comparing
a run with the bench mixes in the data's content and the run's process layout too
(``harness.bench.layout``). This runs the real training loop (``harness.run.runner``, real data, progress
bar on) with a null adapter whose steps cost nothing, so the loop's own seconds per step are measured
alone; divided by a backend's step time in a bench record of the same shape, that is the share of a
step the loop costs.

    python benchmarks/loop_overhead.py --task imdb --scale full --bench results/bench/bench-20261202T090216

Runs in the core environment (NumPy only). The null adapter returns constant logits: its run's metrics
mean nothing, and it writes its record to a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import backends  # noqa: E402
from backends.base import Adapter, BackendInfo  # noqa: E402
from harness.run import runner  # noqa: E402

NULL = BackendInfo("null", "unused:Unused", (), "core", "a backend whose steps cost nothing")


class NullAdapter(Adapter):
    """Steps that do nothing: what remains of a run's step time is the harness' loop."""

    framework = "null"

    def build(self, spec, recipe, seed) -> None:
        self.outputs = spec.num_outputs if spec.num_outputs > 1 else 1
        self.per_step = spec.output == "sequence"  # language models: logits at every position

    def set_weights(self, weights) -> None:
        pass

    def get_weights(self) -> dict[str, np.ndarray]:
        return {}

    def train_step(self, x, y) -> float:
        return 0.5

    def losses(self, handles) -> np.ndarray:
        return np.asarray(handles, dtype=np.float32)

    def predict(self, x) -> np.ndarray:
        return np.zeros((*x.shape, self.outputs) if self.per_step else (len(x), self.outputs), np.float32)

    def set_lr(self, lr) -> None:
        pass

    def reset_state(self) -> None:  # a stateful task's carried state: nothing to carry
        pass

    def synchronize(self) -> None:
        pass

    def describe(self) -> dict[str, Any]:
        return {"framework": "null", "versions": {}, "device": "cpu", "device_name": "cpu",
                "kernel_path": "none", "precision": self.precision, "threads": 1}


def loop_seconds_per_step(task: str, scale: str, epochs: int = 1, data_dir: str | None = None) -> float:
    """Seconds the training loop takes per step around a step that costs nothing (steady state)."""
    with tempfile.TemporaryDirectory() as out, \
            mock.patch.object(backends, "get", lambda name: NULL), \
            mock.patch.object(backends, "create", lambda info, *args, **kw: NullAdapter(*args, **kw)):
        record, _ = runner.run(runner.RunOptions(task=task, backend="null", scale=scale, epochs=epochs,
                                                 data_dir=data_dir, out=out, init="canonical"))
    batch = record["config"]["recipe"]["batch_size"]
    return batch / record["throughput"]["train_samples_per_s"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="imdb")
    parser.add_argument("--scale", default="full")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--data-dir")
    parser.add_argument("--bench", help="a bench folder: the loop's share of each backend's step there")
    args = parser.parse_args()
    loop_s = loop_seconds_per_step(args.task, args.scale, args.epochs, args.data_dir)
    print(f"{args.task}/{args.scale}: the training loop alone takes {loop_s * 1e6:,.0f} µs per step")
    if args.bench:
        for path in sorted(Path(args.bench).glob(f"{args.task}-{args.scale}--*.json")):
            rec = json.loads(path.read_text())
            rate = (rec.get("train") or {}).get("samples_per_s", {}).get("median")
            if rec.get("reference") or not rate:
                continue
            step_s = rec["point"]["train_batch"] / rate
            print(f"  {rec['backend']:12s} step {step_s * 1e3:8.2f} ms in the bench: the loop adds "
                  f"{loop_s / step_s:.2%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
