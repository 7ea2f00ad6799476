"""``torch.compile`` as the ``compile`` modes run it (``torch+compile``, ``torch+compile-max``,
``keras-torch+compile``), and what it did: graph breaks and recompilations, so a run that fell back to
eager in part is recorded as such, never reported as compiled.

- ``torch._dynamo.config.allow_rnn``: without it dynamo breaks the graph at every ``nn.LSTM``/``GRU``/
  ``RNN`` and runs the fused kernel eagerly (pytorch #141184); with it the module is traced like any other.
- A recompile limit (``RECOMPILE_LIMIT``) reached is an error (``fail_on_recompile_limit_hit``), not
  the silent eager fallback dynamo takes by default; shapes that keep changing are marked dynamic after
  the second one (``automatic_dynamic_shapes``), though a step loop still unrolls a graph per length.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import torch
import torch._dynamo
from torch._dynamo.utils import counters

# graphs a compiled forward may have: one per sequence length where a step loop unrolls (names' length
# buckets: about 20), beyond which dynamo would run eagerly; here it is an error instead
RECOMPILE_LIMIT = 64
# the options of each compile mode, recorded as they were given
OPTIONS: dict[str, dict[str, Any]] = {
    "compile": {"backend": "inductor"},
    "compile-max": {"backend": "inductor", "mode": "max-autotune-no-cudagraphs"},
}


class Compiled:
    """``module`` compiled in ``mode``; ``fn`` is called as the module is."""

    def __init__(self, module: torch.nn.Module, mode: str) -> None:
        torch._dynamo.config.allow_rnn = True
        torch._dynamo.config.fail_on_recompile_limit_hit = True
        torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, RECOMPILE_LIMIT)
        self.mode, self.options = mode, OPTIONS[mode]
        self._before = self._counts()
        self.fn = torch.compile(module, **self.options)

    @staticmethod
    def _counts() -> tuple[Counter, int]:
        return Counter(counters["graph_break"]), int(counters["stats"]["unique_graphs"])

    def report(self) -> dict[str, Any]:
        """What the compiler did since this module was compiled: ``graph_breaks`` (0: one graph per
        call, nothing ran eagerly in between) with their reasons, and the graphs compiled."""
        breaks, graphs = self._counts()
        breaks.subtract(self._before[0])
        reasons = {reason: n for reason, n in breaks.most_common() if n > 0}
        return {"torch_compile": dict(self.options), "allow_rnn": bool(torch._dynamo.config.allow_rnn),
                "graph_breaks": sum(reasons.values()),
                "graph_break_reasons": [r[:200] for r in list(reasons)[:3]],
                "graphs_compiled": graphs - self._before[1]}


def fell_back(report: dict[str, Any]) -> bool:
    """Whether part of the work ran eagerly between compiled graphs."""
    return bool(report.get("graph_breaks"))
