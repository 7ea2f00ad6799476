"""The matrix: every combination once, a manifest after each run, resume, failures recorded, report.

Runs go through the real CLI and training loop in-process (the scripted backend of ``tests/fakes.py``)
instead of one subprocess per run.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import backends
from harness import cli
from harness.matrix import driver as matrix
from tests.fakes import SCRIPTED


class Launcher:
    """Runs ``python -m harness ARGV`` in-process; ``hooks[i]`` replaces the i-th call (0-based)."""

    def __init__(self, hooks=None):
        self.calls: list[list[str]] = []
        self.hooks = hooks or {}

    def __call__(self, argv, log):
        self.calls.append(argv)
        hook = self.hooks.get(len(self.calls) - 1)
        if hook is not None:
            return hook(argv, log)
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text("")
        return cli.main(argv)

    def runs(self):
        return [(a[a.index("--backend") + 1], int(a[a.index("--seed") + 1])) for a in self.calls
                if a[0] == "run"]


@pytest.fixture
def two_backends(scripted, monkeypatch):
    monkeypatch.setattr(backends, "registry", lambda: {"scripted": SCRIPTED, "other": SCRIPTED})
    monkeypatch.setattr(backends, "names", lambda: ["scripted", "other"])
    return scripted


def matrix_cli(tmp_path, launcher, *extra, said=None):
    """Run a matrix of the scripted backend; what it says (progress lines) is appended to ``said``."""
    said = [] if said is None else said
    argv = ["matrix", "--tasks", "synthetic", "--backends", "scripted,other", "--repeats", "2",
            "--out", str(tmp_path / "runs"), "--report-out", str(tmp_path / "report"), *extra]
    args = cli.build_parser().parse_args(argv)
    try:
        return matrix.main(args, launch=launcher, say=said.append)
    except KeyboardInterrupt:
        return 130


def manifest(tmp_path):
    return json.loads((tmp_path / "runs" / "matrix.json").read_text())


def test_every_combination_runs_once_in_order_with_a_progress_line(two_backends, tmp_path):
    launcher, said = Launcher(), []
    assert matrix_cli(tmp_path, launcher, "--epochs", "1", said=said) == 0
    assert launcher.runs() == [("scripted", 0), ("other", 0), ("scripted", 1), ("other", 1)]
    assert all("--epochs" in a and "--no-progress" in a for a in launcher.calls if a[0] == "run")
    lines = [ln for ln in "".join(said).splitlines() if ln.startswith("[")]
    assert len(lines) == 4
    assert re.fullmatch(r"\[2/4\] synthetic/smoke other seed 0 \.\.\. ok 1\.000 acc, [\d,]+ samples/s, \d+ s",
                        lines[1]), lines[1]
    m = manifest(tmp_path)
    assert [r["status"] for r in m["runs"]] == ["ok"] * 4
    for entry in m["runs"]:
        record = json.loads(Path(entry["record"]).read_text())
        assert (record["backend"], record["seed"]) == (entry["backend"], entry["seed"])
    assert launcher.calls[-1][0] == "report"  # and the report was built from the records
    assert (tmp_path / "report" / "report.html").is_file()
    assert "| other" in (tmp_path / "report" / "report.md").read_text()


def test_an_interrupted_matrix_resumes_without_rerunning_finished_runs(two_backends, tmp_path):
    def interrupt(argv, log):
        raise KeyboardInterrupt

    first = Launcher({2: interrupt})
    assert matrix_cli(tmp_path, first, "--no-report") == 130
    assert [r["status"] for r in manifest(tmp_path)["runs"]] == ["ok", "ok", "pending", "pending"]
    assert len(list((tmp_path / "runs").glob("synthetic-*.json"))) == 2

    with pytest.raises(matrix.UserError, match="unfinished matrix \\(2 of 4 .*pass --resume"):
        matrix_cli(tmp_path, Launcher(), "--no-report")
    with pytest.raises(matrix.UserError, match="different matrix \\(epochs=None\\)"):
        matrix_cli(tmp_path, Launcher(), "--no-report", "--resume", "--epochs", "2")

    second = Launcher()
    assert matrix_cli(tmp_path, second, "--no-report", "--resume") == 0
    assert second.runs() == [("scripted", 1), ("other", 1)]
    m = manifest(tmp_path)
    assert [r["status"] for r in m["runs"]] == ["ok"] * 4
    assert len({r["record"] for r in m["runs"]}) == 4
    third = Launcher()
    assert matrix_cli(tmp_path, third, "--no-report", "--resume") == 0 and third.runs() == []


def test_a_run_interrupted_inside_training_is_pending_again(two_backends, tmp_path, monkeypatch):
    def interrupted_training(argv, log):
        monkeypatch.setattr(two_backends, "train_step", lambda self, x, y: (_ for _ in ()).throw(
            KeyboardInterrupt()))
        try:
            return cli.main(argv)  # the runner writes a failed record saying "interrupted"; exit 130
        finally:
            monkeypatch.undo()

    assert matrix_cli(tmp_path, Launcher({0: interrupted_training}), "--no-report") == 130
    entry = manifest(tmp_path)["runs"][0]
    assert entry["status"] == "pending" and entry["error"] == "interrupted"


def test_failures_are_recorded_and_the_matrix_goes_on(two_backends, tmp_path):
    def unbuildable(argv, log):
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text("building...\npython -m harness: error: could not build tox environment 'other'\n")
        return 2

    def diverging(argv, log):
        two_backends.nan_at = 2
        try:
            return cli.main(argv)
        finally:
            two_backends.nan_at = None

    said = []
    assert matrix_cli(tmp_path, Launcher({1: unbuildable, 2: diverging}), said=said) == 1
    runs = manifest(tmp_path)["runs"]
    assert [r["status"] for r in runs] == ["ok", "failed", "diverged", "ok"]
    assert runs[1]["record"] is None and "could not build tox environment 'other'" in runs[1]["error"]
    assert runs[2]["record"] and "diverged" in runs[2]["error"]
    out = "".join(said)
    assert "[2/4] synthetic/smoke other seed 0 ... failed: could not build tox environment 'other'" in out
    assert "matrix: 4 runs: 1 diverged, 1 failed, 2 ok" in out
    report = (tmp_path / "report" / "report.md").read_text()
    assert "DIVERGED" in report and "synthetic/smoke/other/s0: FAILED, no record" in report

    retry = Launcher()
    assert matrix_cli(tmp_path, retry, "--no-report", "--resume", "--retry-failed") == 1  # diverged stays
    assert retry.runs() == [("other", 0)]
    assert [r["status"] for r in manifest(tmp_path)["runs"]] == ["ok", "ok", "diverged", "ok"]


@pytest.mark.parametrize("extra,message", [
    (["--tasks", "synthetic,nope"], "unknown task 'nope'; choose from: synthetic"),
    (["--backends", "scripted,x,y"], "unknown backend 'x', 'y'; choose from: scripted"),
    (["--repeats", "0"], "--repeats 0: give at least 1"),
    (["--scale", "huge"], "task 'synthetic' has no scale 'huge'; choose one of: smoke"),
])
def test_bad_matrix_input_fails_before_anything_runs(scripted, tmp_path, capsys, extra, message):
    code = cli.main(["matrix", "--out", str(tmp_path), *extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0]
    assert not list(tmp_path.iterdir())


def test_a_combination_left_running_by_a_killed_matrix_runs_again(two_backends, tmp_path):
    assert matrix_cli(tmp_path, Launcher(), "--no-report", "--repeats", "1") == 0
    path = tmp_path / "runs" / "matrix.json"
    m = json.loads(path.read_text())
    m["runs"][1].update(status="running", record=None)  # what a SIGKILL during run 2 leaves
    path.write_text(json.dumps(m))
    again = Launcher()
    assert matrix_cli(tmp_path, again, "--no-report", "--repeats", "1", "--resume") == 0
    assert again.runs() == [("other", 0)]
    assert [r["status"] for r in manifest(tmp_path)["runs"]] == ["ok", "ok"]
