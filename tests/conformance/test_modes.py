"""Every execution mode computes what its backend's default mode computes: forward outputs and whole
training steps from canonical weights against the NumPy reference (``harness.parity``, the tolerances of
the parity check), for every cell kind, the scan cells in both scan forms and the spiking LSTM included;
and each mode's record says what ran, a compiled mode with no silent fallback to eager.

The default suite checks every mode but ``torch+compile-max`` and three of the unroll factors on the fused
LSTM and minGRU's parallel scan; the full suite (``python -m harness test --full``) every mode on every
cell."""

from __future__ import annotations

import functools
import json
import re

import pytest

import backends
from harness.errors import UserError
from harness.parity import check as parity

FULL_ONLY = {"torch+compile-max", "jax+unroll2", "jax+unroll4", "jax+unroll16"}
MODES = [pytest.param(f"{info.name}+{mode}", marks=[
    pytest.mark.skipif(not backends.importable(info), reason=f"{info.name} is not installed here"),
    *([pytest.mark.full] if f"{info.name}+{mode}" in FULL_ONLY else [])])
    for info in backends.registry().values() for mode in list(info.modes)[1:]]
# (task whose model is used, cell, --set settings): every cell kind of the spec; the default suite takes
# the fused LSTM and minGRU's parallel scan (a compile of each costs a minute or two on 2 cores), the full
# suite every other cell and scan form
QUICK = {("lstm", ""), ("mingru", "parallel")}
CASES = [pytest.param(task, cell, [f"model.cell={cell}", f"model.scan={scan}"] if scan else [],
                      id=f"{cell}-{scan or 'default'}",
                      marks=[] if (cell, scan) in QUICK else [pytest.mark.full])
         for task, cell, scan in [("imdb", "lstm", ""), ("imdb", "gru", ""), ("imdb", "rnn", ""),
                                  ("names", "spiking-lstm", ""),
                                  *(("imdb", c, s) for c in ("mingru", "minlstm", "rglru")
                                    for s in ("parallel", "sequential"))]]


# what a framework cannot compile, with its own error (the test fails when it starts to work: update then)
CANNOT = {("keras+xla", cell, "parallel"): "tf2xla conversion failed"
          for cell in ("mingru", "minlstm", "rglru")}
# where the compiler breaks the graph and runs the rest eagerly: the record counts the breaks, with dynamo's
# reason (here: Keras' layer tracking mutates a dict dynamo holds a mappingproxy of)
BREAKS = {("keras-torch+compile", "mingru", "parallel"): "mapping proxy affected by dictionary mutation"}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("task, cell, settings", CASES)
def test_a_mode_trains_as_its_default_and_the_reference(mode, task, cell, settings, capfd):
    """Each backend in its own process, as a bench worker runs it: Keras on TensorFlow and on torch in one
    process trip dynamo's guards (keras-torch+compile after keras: "Guard failed on the same frame")."""
    base = mode.split("+", 1)[0]
    said: dict[str, dict] = {}

    def collect(backend, *args, **kwargs):
        found = parity.collect_isolated(backend, *args, **kwargs)
        said[backend] = json.loads(str(found["describe"]))
        return found

    scan = next((s.split("=", 1)[1] for s in settings if s.startswith("model.scan=")), "")
    run = functools.partial(parity.run, task, [base, mode], cells=[cell], steps=3, collect=collect,
                            optim={"settings": settings} if settings else None)
    if (mode, cell, scan) in CANNOT:
        with pytest.raises(UserError, match=f"parity worker for {re.escape(mode)} failed"):
            run()
        printed = capfd.readouterr()
        assert CANNOT[(mode, cell, scan)] in printed.out + printed.err
        return
    table, ok = run()
    assert ok, table
    assert table.count(" ok ") == 3, table  # each against the reference, and against each other
    what = said[mode]
    assert what["mode"] == mode.split("+", 1)[1] and said[base]["mode"] != what["mode"]
    compiled = what.get("compile")
    if compiled:  # torch.compile: options as given, at least a graph, nothing run eagerly in between
        assert compiled["torch_compile"]["backend"] == "inductor"
        assert compiled["allow_rnn"] is True
        assert compiled["graphs_compiled"] >= 1
        if (mode, cell, scan) in BREAKS:  # a partial fallback, said in the record
            assert compiled["graph_breaks"] > 0
            assert any(BREAKS[(mode, cell, scan)] in r for r in compiled["graph_break_reasons"])
        else:
            assert compiled["graph_breaks"] == 0, compiled["graph_break_reasons"]
