"""Execution modes without a framework: the registry's ``NAME+MODE`` names and their errors, the bench's
mode-against-default verdicts, the report's mode table and the compile-cost table on simulated records."""

from __future__ import annotations

import pytest

import backends
from harness import cli
from harness.bench import compile_cost, verdicts
from harness.bench import report as bench_report
from tests.fakes import make_bench_record


def test_a_mode_is_the_backend_told_its_mode_and_the_default_is_the_plain_name():
    compiled = backends.get("torch+compile")
    assert (compiled.name, compiled.base, compiled.mode, compiled.tox_env) == \
        ("torch+compile", "torch", "compile", "torch")
    assert compiled.options["mode"] == "compile" and "mode compile: torch.compile" in compiled.description
    assert backends.get("torch+eager") is backends.get("torch")  # the default mode: one row, one name
    assert backends.get("torch").mode == "eager"
    assert backends.get("jax+unroll8").mode == "unroll8"
    assert [m for info in backends.registry().values() for m in info.modes if not info.modes] == []
    # every backend names its modes, the default first
    assert {n: next(iter(i.modes)) for n, i in backends.registry().items()} == {
        "jax": "unroll1", "keras": "auto", "keras-jax": "xla", "keras-torch": "eager", "mxnet": "static",
        "torch": "eager"}


@pytest.mark.parametrize("name, message", [
    ("torch+xla", "torch+xla: backend torch has no mode 'xla'; torch's modes: torch+eager (default), "
                  "torch+compile, torch+compile-max"),
    ("mxnet+compile", "mxnet+compile: backend mxnet has no mode 'compile'; mxnet's modes: mxnet+static "
                      "(default), mxnet+dynamic"),
    ("jax+unroll3", "jax+unroll3: unroll factor 3 is not offered (give 1, 2, 4, 8, 16); jax's modes: "
                    "jax+unroll1 (default)"),
    ("keras-jax+noxla", "keras-jax+noxla: backend keras-jax has no mode 'noxla'; keras-jax's modes: "
                        "keras-jax+xla (default)"),
    ("pytorch+compile", "unknown backend 'pytorch+compile'; choose one of: "),
])
def test_a_mode_that_does_not_exist_names_the_modes_that_do(name, message):
    with pytest.raises(KeyError) as err:
        backends.get(name)
    assert message in err.value.args[0]


@pytest.mark.parametrize("argv", [
    ["run", "--task", "imdb", "--backend", "jax+unroll3"],
    ["bench", "--tasks", "imdb", "--backends", "torch,torch+xla"],
    ["matrix", "--tasks", "imdb", "--backends", "mxnet+compile"],
    ["parity", "--task", "imdb", "--backends", "torch,keras-jax+noxla"],
])
def test_bad_modes_are_one_line_and_exit_2_in_every_command(argv, capsys, tmp_path):
    code = cli.main([*argv, "--out", str(tmp_path / "out")] if argv[0] != "parity" else argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith("python -m harness: error: ") and "modes: " in err[0] or "unknown" in err[0]
    assert not (tmp_path / "out").exists()


def _bench(rows: dict[str, float], first: dict[str, float] | None = None, **kw) -> list[dict]:
    recs = []
    for backend, rate in rows.items():
        r = make_bench_record("tinyshakespeare-mingru", backend, train=rate, infer=rate * 3, **kw)
        r["first_step_s"] = (first or {}).get(backend, 0.5)
        recs.append(r)
    return recs


def test_a_bench_pairs_each_mode_with_its_default_mode():
    recs = _bench({"torch": 80.0, "torch+compile": 200.0, "jax": 150.0, "jax+unroll8": 150.0})
    found = {(c.a, c.b): c for c in verdicts.comparisons(recs) if c.kind == "mode" and c.part == "train"}
    assert set(found) == {("torch+compile", "torch"), ("jax+unroll8", "jax")}
    assert found[("torch+compile", "torch")].paired.ratio == pytest.approx(2.5)
    assert found[("torch+compile", "torch")].paired.verdict == "faster"
    assert found[("jax+unroll8", "jax")].paired.verdict == "same"
    assert "mode / default mode" in verdicts.table(recs)


def test_the_report_shows_each_mode_against_its_default_with_the_compile_time():
    recs = _bench({"torch": 80.0, "torch+compile": 200.0}, first={"torch": 0.5, "torch+compile": 27.0})
    failed = make_bench_record("tinyshakespeare-mingru", "keras-torch+compile", status="failed")
    failed["error"] = "over the step budget: one measurement ran past 600 s and was stopped (--step-budget)"
    failed["environment"] = None  # stopped before it could describe its machine: it stays with its bench
    plain = make_bench_record("tinyshakespeare-mingru", "keras-torch", train=80.0)
    found = bench_report.groups([*recs, failed, plain])
    assert len(found) == 1
    group = found[0]
    frame = bench_report.mode_ratios(group)
    rows = {r["mode"]: r for r in frame.to_dict("records")}
    assert rows["torch+compile"]["train mode/default"] == "2.50x [2.50-2.50] faster"
    assert rows["torch+compile"]["first step, default -> mode"] == "0.5 s -> 27 s"
    assert rows["keras-torch+compile"]["train mode/default"].startswith("failed: over the step budget")


def test_compile_cost_is_the_first_step_against_length_with_its_exponent(tmp_path):
    recs = []
    for n in (32, 128, 512, 2048):
        for backend, seconds in (("torch", 0.1), ("torch+compile", 0.02 * n), ("jax", 2.0)):
            r = make_bench_record("tinyshakespeare-mingru", backend,
                                  overrides={"model.cell": "mingru", "shape.seq_len": n})
            r["point"].update(cell="mingru", seq_len=n)
            r["first_step_s"] = seconds
            recs.append(r)
    over = make_bench_record("tinyshakespeare-mingru", "torch+compile-max", status="failed",
                             overrides={"model.cell": "mingru", "shape.seq_len": 2048})
    over["point"].update(cell="mingru", seq_len=2048)
    over["error"] = "over the step budget: one measurement (its first step compiles) ran past 600 s"
    frame = compile_cost.table([*recs, over])
    rows = {r["backend"]: r for r in frame.to_dict("records")}
    assert rows["torch+compile"]["k"] == "1.00" and rows["jax"]["k"] == "0.00"
    assert rows["torch+compile"]["T=2048"] == "41" and rows["torch"]["T=32"] == "0.1"
    assert rows["torch+compile-max"]["T=2048"] == "over budget" and rows["torch+compile-max"]["T=32"] == ""
    path = compile_cost.plot([*recs, over], tmp_path, "cpu fp32")
    assert path is not None and path.stat().st_size > 1000
    # a bench of default modes alone is a length bench, not a compile-cost one
    assert compile_cost.table([r for r in recs if "+" not in r["backend"]]) is None
