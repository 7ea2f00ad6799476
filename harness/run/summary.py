"""The table printed at the end of a run."""

from __future__ import annotations

import math
from typing import Any

from tabulate import tabulate


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.{digits}g}" if abs(value) < 1e-3 else f"{value:.{digits}f}"
    return str(value)


def _rate(spread: dict[str, Any]) -> str:
    if not spread or spread.get("median") is None:
        return "-"
    return f"{spread['median']:.0f} [{spread['min']:.0f}-{spread['max']:.0f}] (n={spread['n']})"


def run_summary(record: dict[str, Any], path: str) -> str:
    """A two-column table of what a run measured."""
    m, tp, tm = record["metrics"], record["throughput"], record["timings"]
    env, be = record["environment"], record["environment"]["backend"]
    metric = record["config"]["target"]["metric"]
    rows = [
        ("task / scale", f"{record['task']} / {record['scale']}"),
        ("backend", f"{record['backend']} ({', '.join(f'{k} {v}' for k, v in be['versions'].items())})"),
        ("device", f"{be['device']} ({env['cpu'] if be['device'] == 'cpu' else be.get('device_name')}), "
                   f"{be.get('threads')} threads"),
        ("kernel path / precision", f"{be['kernel_path']} / {be['precision']}"),
        ("flush-to-zero", f"{env['flush_to_zero']} (denormals flushed: {env.get('denormals_flushed', '?')})"),
        ("status", record["status"]),
        (f"test {metric} (best val, epoch {m.get('best_epoch')})", _fmt(m.get(f"test_{metric}"))),
        (f"test {metric} (final model)", _fmt(m.get(f"test_{metric}_final"))),
        *([("train perplexity (last epoch)", _fmt(math.exp(min(record["curves"][-1]["train_loss"], 700.0))))]
          if metric == "perplexity" and record.get("curves") else []),
        (f"target {record['config']['target']['value']} reached", m.get("target_reached")),
        *((f"test {k[5:].replace('_', ' ')}", _fmt(v)) for k, v in m.items()
          if k.startswith("test_") and k[5:] not in (metric, f"{metric}_final", "loss", "loss_final")),
        ("train samples/s (median [min-max] per epoch)", _rate(tp.get("train_samples_per_s_epochs", {}))),
        ("train tokens/s", _fmt(tp.get("train_tokens_per_s"))),
        ("eval samples/s", _fmt(tp.get("eval_samples_per_s"))),
        *([("train step latency ms (median / p95)",
            f"{tp['step_latency_ms']['median']:.3f} / {tp['step_latency_ms']['p95']:.3f}")]
          if tp.get("step_latency_ms") else []),
        ("first step (warm-up) s", _fmt(tm.get("first_step_s"))),
        ("time to target s", _fmt(tm.get("time_to_target_s"))),
        ("training wall s", _fmt(tm.get("wall_s"))),
        ("parameters", record["config"]["param_count"]),
        *([("held-out data", "none: val and test are the training data (memorisation)")]
          if record["config"].get("splits", {}).get("held_out") is False else []),
        ("record", path),
    ]
    table = tabulate([(k, _fmt(v)) for k, v in rows], tablefmt="simple_outline")
    examples = (record.get("analysis") or {}).get("examples")
    if examples:
        table += "\n" + tabulate([(e["input"], e["predicted"], e["actual"]) for e in examples],
                                  headers=("input", "predicted", "actual"), tablefmt="simple")
    return table
