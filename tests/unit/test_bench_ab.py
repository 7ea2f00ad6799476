"""A/B benches with the scripted backend, in process: the sequential round plan (ABBA, stopping at the
first look that decides every comparison, going on to --max-rounds otherwise), calibration rows and their
summary, the verdicts in the summary table, and the bad input of --variant, --against and --margin (one
line, exit 2, nothing built). No environment is built and no speed is asserted: the clock is scripted."""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest

from harness import cli, launcher
from harness import statistics as st
from harness.bench import ab, calibration, verdicts
from harness.bench import driver as bench
from harness.bench import numerics as bench_numerics
from harness.bench import report as bench_report
from harness.bench.worker import InProcessWorker, Measurer
from tests.conftest import ROOT
from tests.unit.test_bench import Clock, TimedAdapter, options, quiet_sampler


def ab_options(rows: dict, **override):
    opts = options(backends=list(rows), repeats=1, steps=2, warmup=0, **override)
    opts.update(rows=rows, sequential=True, max_rounds=override.get("max_rounds", 30), margin=0.05)
    return opts


def variants(*names: str) -> dict:
    first = f"scripted@{names[0]}"
    return {f"scripted@{n}": {"name": f"scripted@{n}", "backend": "scripted", "variant": n,
                              "versus": None if n == names[0] else first} for n in names}


def slowed_workers(events: list, factors: dict, noise: float = 0.0, seed: int = 0):
    """Scripted workers whose every step takes ``factors[row]`` times the scripted step, times a draw of
    lognormal ``noise`` per repeat (one process, one draw); idling advances the scripted clock."""
    clock = Clock(events)
    rng = np.random.default_rng(seed)

    def make(row, folder):
        factor = factors.get(row, 1.0) * (float(np.exp(rng.normal(0, noise))) if noise else 1.0)

        class Slow(TimedAdapter):
            def train_step(self, x, y):
                clock.now += (factor - 1) * 0.5
                return super().train_step(x, y)

            def predict(self, x):
                clock.now += (factor - 1) * 0.25
                return super().predict(x)

        def sleep(seconds):
            clock.now += seconds

        worker = InProcessWorker(Measurer(row, "cpu", "fp32", 1, factory=lambda: Slow(clock, row),
                                          clock=clock, sleep=sleep))
        inner = worker.measure

        def measure(request):
            events.append(("measure", row, request["repeat"], request.get("idle", 0.0)))
            return inner(request)

        worker.measure = measure
        return worker

    return make


def run(tmp_path, opts, make):
    return bench.run(opts, tmp_path, make, sampler=quiet_sampler(), progress=False, say=lambda _: None,
                     )


def test_an_ab_bench_stops_at_the_first_look_where_every_comparison_is_decided(scripted, tmp_path):
    events: list = []
    rows = variants("old", "new")
    folder, recs = run(tmp_path, ab_options(rows, fresh_workers=True),
                       slowed_workers(events, {"scripted@new": 1.25}))
    measured = [e[1:3] for e in events if e[0] == "measure"]
    # ABBA: old new, new old, ...; a constant 20% slowdown is decided at the first look, round 6
    pair = ("scripted@old", "scripted@new")
    assert measured == [(r, i) for i in range(6) for r in (pair if i % 2 == 0 else pair[::-1])]
    assert all(r["status"] == "ok" and len(r["repeats"]) == 6 for r in recs)
    manifest = json.loads((folder / "bench.json").read_text())
    train = next(v for v in manifest["verdicts"] if v["part"] == "train")
    assert (train["a"], train["b"], train["verdict"]) == ("scripted@new", "scripted@old", "slower")
    assert train["ratio"] == pytest.approx(0.8) and train["n"] == 6
    assert manifest["design"]["looks"][0] == 6 and recs[0]["ab"]["variant"] == "old"
    assert recs[1]["protocol"]["verdicts"]["margin"] == 0.05
    text = verdicts.table(recs)
    assert "scripted@new / scripted@old" in text and "0.80x [0.80-0.80]" in text and "slower" in text


def test_an_undecided_ab_bench_goes_on_to_max_rounds_and_says_what_would_decide(scripted, tmp_path):
    events: list = []
    rows = variants("old", "new")
    _, recs = run(tmp_path, ab_options(rows, max_rounds=9, fresh_workers=True),
                  slowed_workers(events, {"scripted@new": 1.03}, noise=0.10, seed=1))
    assert all(len(r["repeats"]) == 9 for r in recs)  # past the first look (6), to --max-rounds
    found = [c for c in verdicts.comparisons(recs) if c.kind == "ab" and c.part == "train"][0]
    assert found.paired.verdict == "inconclusive" and found.paired.rounds == 9
    assert found.paired.note().startswith("about ")


def test_calibration_rows_idle_a_known_fraction_and_the_summary_counts_trials(scripted, tmp_path):
    events: list = []
    rows = ab.calibration_rows(["scripted"])
    assert list(rows) == ["scripted", "scripted~a2", "scripted~a3", "scripted~a4", "scripted~slow10",
                          "scripted~slow5"]
    opts = options(backends=list(rows), repeats=12, steps=2, warmup=0)
    opts.update(rows=rows, calibrate=True, block=6)
    _, recs = run(tmp_path, opts, slowed_workers(events, {}))
    idles = {e[1]: e[3] for e in events if e[0] == "measure"}
    assert idles["scripted~slow10"] == 0.10 and idles["scripted~slow5"] == 0.05 and idles["scripted"] == 0.0
    by = {r["backend"]: r for r in recs}
    slow = (by["scripted~slow10"]["train"]["samples_per_s"]["median"]
            / by["scripted"]["train"]["samples_per_s"]["median"])
    assert slow == pytest.approx(0.90)  # the idle is exactly the fraction asked of every timed span
    assert by["scripted~slow10"]["repeats"][0]["calibration_idle"] == 0.10
    found = calibration.summarise(recs, block=6)
    train = next(r for r in found["results"] if r["part"] == "train")
    # six A/A pairs of the four plain rows x two blocks, four of them from the two disjoint pairs
    assert (train["aa_trials"], train["aa_false"], train["aa_disjoint"]) == (12, 0, 4)
    # each slowed row against the four plain rows x two blocks, two of them independent
    assert train["power"]["0.10"] == {"trials": 8, "detected": 8, "rate": 1.0, "independent": 2}
    assert train["power"]["0.05"]["detected"] == 8
    assert found["sentences"] == ["on this machine a 10% slowdown of synthetic-smoke/scripted training is "
                                  "detected in 100% of 8 trials with 6 rounds (5%: 100% of 8); A/A gave 0% "
                                  "false verdicts in 12 trials (0 of the 4 disjoint ones)"]


def test_a_plain_bench_judges_every_backend_against_the_rows_fastest(scripted, tmp_path):
    _, recs = run(tmp_path, options(backends=["a", "b"], repeats=3, steps=2, warmup=0),
                  slowed_workers([], {"b": 2.0}))
    found = [c for c in verdicts.comparisons(recs) if c.part == "train"]
    assert [(c.a, c.b, c.kind) for c in found] == [("b", "a", "fastest")]
    assert found[0].paired.ratio == pytest.approx(0.5) and found[0].paired.verdict == "slower"
    assert verdicts.cell(found[0]) == "0.50x [0.50-0.50] slower"


@pytest.mark.parametrize("argv, message", [
    (["--margin", "0.7"], "--margin 0.7: give a fraction between 0 and 0.5"),
    (["--margin", "0"], "--margin 0.0: give a fraction between 0 and 0.5"),
    (["--variant", "a=keras==3.14.1", "--variant", "a=keras==3.15.1"], "--variant 'a' is given twice"),
    (["--variant", "keras==3.14.1"], "write NAME=REQUIREMENTS"),
    (["--variant", "old=keras==3.14.1"], "give two or more"),
    (["--against", "no-such-ref-31"], "--against 'no-such-ref-31': no such commit in this repository"),
    (["--against", "HEAD", "--calibrate"], "--against and --calibrate cannot be combined"),
    (["--max-rounds", "3", "--against", "HEAD"], "--max-rounds 3: give at least 6"),
    (["--calibrate", "--repeats", "5"], "--repeats 5: --calibrate needs at least 6 rounds"),
    (["--calibrate", "--repeats", "30", "--block", "0"],
     "--block 0: a trial takes from 6 rounds up to --repeats (30); give --block between 6 and 30"),
    (["--calibrate", "--repeats", "30", "--block", "31"], "give --block between 6 and 30"),
])
def test_bad_ab_input_is_one_line_and_exit_2(argv, message, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(launcher, "requirement_env", lambda *a, **k: pytest.fail("built an environment"))
    monkeypatch.setattr(launcher, "git_tree", lambda *a, **k: pytest.fail("checked out a tree"))
    code = cli.main(["bench", "--tasks", "imdb", "--backends", "torch", "--out", str(tmp_path), *argv])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not list(tmp_path.iterdir())  # nothing written, nothing half-built


def test_an_unresolvable_variant_is_refused_before_any_environment_is_built(tmp_path, capsys, monkeypatch):
    asked: list = []

    def check(reqs):
        asked.append(reqs)
        return None if "keras==3.15.1" in reqs else "No matching distribution found for keras==9.99"

    monkeypatch.setattr(launcher, "check_requirements", check)
    monkeypatch.setattr(launcher, "requirement_env", lambda *a, **k: pytest.fail("built an environment"))
    code = cli.main(["bench", "--tasks", "imdb", "--backends", "keras", "--out", str(tmp_path),
                     "--variant", "new=keras==3.15.1", "--variant", "bad=keras==9.99"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1] == (
        "python -m harness: error: --variant bad='keras==9.99': pip cannot resolve it (No matching "
        "distribution found for keras==9.99); give versions that exist and fit together (e.g. keras==3.15.1)")
    # the keras backend's tox requirements, keras replaced, TensorFlow kept, JAX and torch left out
    assert "keras==9.99" in asked[1] and "keras==3.15.*" not in asked[1]
    assert any(r.startswith("tensorflow-cpu") for r in asked[1])
    assert not any(ab.project(r) in ("jax", "torch") for r in asked[1])
    assert not list(tmp_path.iterdir())


def test_a_failed_environment_build_leaves_nothing_behind(tmp_path, monkeypatch):
    monkeypatch.setattr(launcher, "ENVS", tmp_path / "envs")
    with pytest.raises(launcher.UserError, match="could not build an environment for "):
        launcher.requirement_env([str(tmp_path / "no-such-project")])
    assert not list((tmp_path / "envs").iterdir())


def test_variant_requirements_replace_the_same_project_only():
    base = ["tensorflow-cpu==2.21.*", "keras==3.15.*", "numpy"]
    assert ab.merged(base, ["Keras==3.14.1"]) == ["tensorflow-cpu==2.21.*", "numpy", "Keras==3.14.1"]
    assert ab.project("Tensorflow_CPU>=2.20") == "tensorflow-cpu"
    assert st.sequential(6, 30).looks == bench.design({"sequential": True, "max_rounds": 30}).looks


# -- numerics: do the A/B rows compute the same numbers? (parity workers as child processes) ----------
def fake_children(monkeypatch) -> None:
    """Child processes get the scripted backend and synthetic task (tests/golden/site)."""
    monkeypatch.setenv("RNNBENCH_GOLDEN_FAKES", "1")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT / "tests" / "golden" / "site"), str(ROOT)]))
    monkeypatch.delenv("RNNBENCH_IN_TOX", raising=False)
    monkeypatch.delenv("RNNBENCH_GOLDEN_SKEW", raising=False)


def interpreter(folder, name: str, prelude: str = "") -> str:
    """A variant's "environment": this Python behind a wrapper script (``prelude``: shell run first)."""
    path = folder / name / "bin" / "python"
    path.parent.mkdir(parents=True)
    path.write_text(f"#!/bin/sh\n{prelude}\nexec {sys.executable} \"$@\"\n")
    path.chmod(0o755)
    return str(path)


def test_against_rows_that_compute_the_same_numbers_are_marked_same(scripted, tmp_path, monkeypatch):
    fake_children(monkeypatch)
    rows = {"scripted": {"name": "scripted", "backend": "scripted", "ref": "working tree",
                         "versus": "scripted@HEAD"},
            "scripted@HEAD": {"name": "scripted@HEAD", "backend": "scripted", "ref": "HEAD",
                              "tree": str(ROOT), "versus": None}}
    folder, recs = bench.run(ab_options(rows, fresh_workers=True), tmp_path, slowed_workers([], {}),
                             sampler=quiet_sampler(), progress=False, say=lambda _: None,
                             numerics=bench_numerics.run)
    manifest = json.loads((folder / "bench.json").read_text())
    [entry] = manifest["numerics"]
    assert (entry["point"], entry["a"], entry["b"], entry["verdict"]) == (
        "synthetic-smoke", "scripted", "scripted@HEAD", "same")
    assert entry["absolute"] == {"outputs": 0.0, "loss": 0.0} and entry["steps"] == 20
    by = {r["backend"]: r for r in recs}
    assert by["scripted"]["numerics"] == entry and by["scripted@HEAD"]["numerics"] is None
    assert (folder / "logs" / "numerics-scripted@HEAD.log").read_text().startswith("$ ")
    text = verdicts.table(recs)
    assert "numerics" in text.splitlines()[1] and "\u2713" in text
    ab = bench_report.build(tmp_path, tmp_path / "report").ab[0]  # the report's A/B table
    row = ab[ab["part"] == "train"].iloc[0]
    assert (row["A / B"], row["numerics"]) == ("scripted / scripted@HEAD", "\u2713")
    assert row["what"] == "commits: working tree against HEAD"


def test_a_variant_whose_losses_moved_is_flagged_beside_its_speed_verdict(scripted, tmp_path, monkeypatch,
                                                                          capsys):
    fake_children(monkeypatch)
    rows = variants("old", "new")
    rows["scripted@old"]["python"] = interpreter(tmp_path / "envs", "old")
    rows["scripted@new"]["python"] = interpreter(tmp_path / "envs", "new", "export RNNBENCH_GOLDEN_SKEW=3e-4")
    said: list = []
    folder, recs = bench.run(ab_options(rows, fresh_workers=True), tmp_path / "out",
                             slowed_workers([], {"scripted@new": 1.25}), sampler=quiet_sampler(),
                             progress=False, say=said.append, numerics=bench_numerics.run)
    [entry] = json.loads((folder / "bench.json").read_text())["numerics"]
    assert (entry["a"], entry["b"], entry["verdict"], entry["quantity"]) == (
        "scripted@new", "scripted@old", "differs", "loss")
    # the scripted losses are 1/step, scaled by 1 + 3e-4: every step off by the same relative amount
    assert entry["relative"]["loss"] == pytest.approx(3e-4, rel=1e-3)
    assert entry["relative"]["outputs"] == 0.0 and entry["absolute"]["loss"] == pytest.approx(3e-4, rel=1e-3)
    assert entry["tolerance"] == {"outputs": 1e-5, "loss": 1e-4}
    assert bench_numerics.mark(entry) == "differs: loss 3e-4"
    assert any("numerics of synthetic-smoke scripted@new / scripted@old: differs: loss 3e-4" in s
               for s in said)
    row = next(line for line in verdicts.table(recs).splitlines() if "train" in line)
    assert "slower" in row and "differs: loss 3e-4" in row  # beside the speed verdict
    ab = bench_report.build(tmp_path / "out", tmp_path / "report").ab[0]  # the report's A/B table
    row = ab[ab["part"] == "train"].iloc[0]
    assert (row["A / B"], row["verdict"], row["numerics"]) == (
        "scripted@new / scripted@old", "slower", "differs: loss 3e-4")


def test_a_variant_whose_worker_fails_is_unchecked_and_the_bench_goes_on(scripted, tmp_path, monkeypatch):
    fake_children(monkeypatch)
    rows = variants("old", "new")
    rows["scripted@new"]["python"] = interpreter(tmp_path / "envs", "new", "echo broken >&2; exit 3")
    folder, recs = bench.run(ab_options(rows, fresh_workers=True), tmp_path / "out",
                             slowed_workers([], {"scripted@new": 1.25}), sampler=quiet_sampler(),
                             progress=False, say=lambda _: None, numerics=bench_numerics.run)
    [entry] = json.loads((folder / "bench.json").read_text())["numerics"]
    assert entry["verdict"] == "failed" and "parity worker for scripted failed (exit 3)" in entry["error"]
    assert "numerics-scripted@new.log" in entry["error"]
    assert "broken" in (folder / "logs" / "numerics-scripted@new.log").read_text()
    assert all(r["status"] == "ok" and len(r["repeats"]) == 6 for r in recs)
    assert bench_numerics.mark(entry) == "unchecked (a worker failed)"


def test_points_with_the_same_parity_model_share_one_check(scripted, tmp_path):
    calls: list = []

    def collect(row, task, scale, cell, steps, folder, optim, log):
        calls.append((row["name"], tuple(optim["settings"])))
        return {"forward": np.zeros((2, 1)), "losses": np.ones(steps)}

    opts = options(sweeps=[["shape.seq_len", [3, 6]], ["model.hidden_size", [2, 4]]])
    rows = variants("old", "new")
    found = bench_numerics.run(opts["points"], rows, [("scripted@new", "scripted@old")], tmp_path, collect)
    assert [e["point"] for e in found] == [p.id for p in opts["points"]]
    assert {e["verdict"] for e in found} == {"same"}
    # the length is the speed shape's alone: two parity models (hidden 2 and 4), each row once
    assert sorted(set(calls)) == sorted(calls) and len(calls) == 4
    assert {s for _, s in calls} == {("model.hidden_size=2",), ("model.hidden_size=4",)}


def test_pips_reason_is_its_error_not_its_note_on_other_pythons():
    import subprocess

    out = subprocess.CompletedProcess([], 1, "", "ERROR: Ignored the following versions that require a "
                                      "different python version: 1.21.2 Requires-Python >=3.7,<3.11\n"
                                      "ERROR: Could not find a version that satisfies the requirement "
                                      "keras==99.0 (from versions: 2.0.0, 3.15.1)\n"
                                      "ERROR: No matching distribution found for keras==99.0\n")
    assert launcher._pip_error(out) == "Could not find a version that satisfies the requirement keras==99.0"
