"""Every execution mode computes what its backend's default mode computes: forward outputs and whole
training steps from canonical weights against the NumPy reference (``harness.parity``, the tolerances of
the parity check), for every cell kind, the scan cells in both scan forms and the spiking LSTM included;
and each mode's record says what ran, a compiled mode with no silent fallback to eager.

The default suite checks every mode but ``torch+compile-max`` and three of the unroll factors on the fused
LSTM and minGRU's parallel scan; the full suite (``python -m harness test --full``) every mode on every
cell."""

from __future__ import annotations

import pytest

import backends
from harness.common.synthetic import fixed_batch
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


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("task, cell, settings", CASES)
def test_a_mode_trains_as_its_default_and_the_reference(mode, task, cell, settings):
    base = mode.split("+", 1)[0]
    table, ok = parity.run(task, [base, mode], cells=[cell], steps=3, collect=parity.collect_here,
                           optim={"settings": settings} if settings else None)
    assert ok, table
    assert table.count(" ok ") == 3, table  # each against the reference, and against each other


@pytest.mark.parametrize("mode", MODES)
def test_the_record_names_the_mode_and_a_compiled_mode_did_not_fall_back(mode):
    spec, recipe = parity.parity_spec("imdb", "smoke", "lstm")
    adapter = backends.create(backends.get(mode), device="cpu")
    adapter.build(spec, recipe, seed=0)
    x, y = fixed_batch(spec, 4, seed=0, seq_len=7)
    adapter.losses([adapter.train_step(x, y)])
    adapter.predict(x)
    said = adapter.describe()
    assert said["mode"] == mode.split("+", 1)[1]
    compiled = said.get("compile")
    if compiled is not None:  # torch.compile: options as given, one graph, nothing eager in between
        assert compiled["torch_compile"]["backend"] == "inductor"
        assert compiled["allow_rnn"] is True
        assert compiled["graph_breaks"] == 0, compiled["graph_break_reasons"]
        assert compiled["graphs_compiled"] >= 1
