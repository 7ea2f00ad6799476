"""Golden files of what the harness shows and writes, so a change of its code's layout cannot change its
behaviour unnoticed: every command's ``--help`` (at 100 columns), and the keys of every JSON file a smoke
run, a smoke bench and a smoke matrix write (values vary; their shape must not).

Everything goes through ``python -m harness`` (the help in this process, the smoke commands as child
processes, with the scripted backend of ``tests/fakes.py`` put into them by ``tests/golden/site``), so
these tests name no module of the harness and hold whatever its layout. After an intended change of the
interface, rewrite the files with ``RNNBENCH_GOLDEN_UPDATE=1 pytest tests/unit/test_golden.py``.
"""

from __future__ import annotations

import json
import os
import re
import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT

GOLDEN = ROOT / "tests" / "golden"
UPDATE = os.environ.get("RNNBENCH_GOLDEN_UPDATE") == "1"
COMMANDS = ("", "list", "test", "run", "predict", "generate", "parity", "parity-worker", "matrix", "bench",
            "bench-worker", "doctor", "doctor-probe", "doctor-worker", "report", "baseline", "baseline save",
            "compare")


def check(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.write_text(text)
    assert path.exists(), f"no golden file {path}: write it with RNNBENCH_GOLDEN_UPDATE=1"
    assert text == path.read_text(), f"{name} differs from its golden file"


@pytest.mark.parametrize("command", COMMANDS)
def test_help_is_unchanged(command, monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setattr(sys, "argv", ["harness", *command.split(), "--help"])
    with pytest.raises(SystemExit) as exit_:
        runpy.run_module("harness", run_name="__main__", alter_sys=True)
    assert exit_.value.code == 0
    check(f"help-{command.replace(' ', '-') or 'harness'}.txt", capsys.readouterr().out)


def keys(obj: Any, prefix: str = "") -> set[str]:
    """Every key path of a JSON document (``a.b``; ``a[].c`` for the dicts of a list)."""
    found: set[str] = set()
    if isinstance(obj, dict):
        for k, v in obj.items():
            found |= {f"{prefix}{k}"} | keys(v, f"{prefix}{k}.")
    elif isinstance(obj, list):
        for v in obj:
            found |= keys(v, f"{prefix[:-1]}[].")
    return found


def shape(folder: Path) -> str:
    """Each file under ``folder`` (time stamps and machine fingerprints replaced by placeholders), and for
    JSON files their sorted key paths."""
    lines = []
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        name = re.sub(r"\d{8}T\d{6}", "<stamp>", path.relative_to(folder).as_posix())
        name = re.sub(r"-[0-9a-f]{12}\.png$", "-<machine>.png", name)
        lines.append(name)
        if path.suffix == ".json":
            lines += [f"    {k}" for k in sorted(keys(json.loads(path.read_text())))]
    return "\n".join(lines) + "\n"


def harness(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "RNNBENCH_GOLDEN_FAKES": "1",
           "PYTHONPATH": os.pathsep.join([str(GOLDEN / "site"), str(ROOT)])}
    env.pop("RNNBENCH_IN_TOX", None)
    done = subprocess.run([sys.executable, "-m", "harness", *argv], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def test_a_smoke_run_writes_the_same_record(tmp_path):
    harness(tmp_path, "run", "--task", "synthetic", "--backend", "scripted", "--epochs", "1", "--threads",
            "1", "--out", "runs", "--no-progress")
    check("records-run.txt", shape(tmp_path / "runs"))


def test_a_smoke_bench_writes_the_same_records(tmp_path):
    harness(tmp_path, "bench", "--tasks", "synthetic", "--backends", "scripted", "--repeats", "1", "--steps",
            "1", "--warmup", "0", "--min-time", "0", "--threads", "1", "--out", "bench", "--no-progress")
    check("records-bench.txt", shape(tmp_path / "bench"))


def test_a_smoke_matrix_writes_the_same_records(tmp_path):
    harness(tmp_path, "matrix", "--tasks", "synthetic", "--backends", "scripted", "--epochs", "1",
            "--threads", "1", "--out", "runs", "--report-out", "report")
    check("records-matrix.txt", shape(tmp_path / "runs") + "report/\n" + shape(tmp_path / "report"))
