"""Every CLI error the user can cause ends in one line on stderr and a non-zero exit."""

from __future__ import annotations

import subprocess
import sys

import pytest

from harness import launcher
from harness.errors import UserError
from tests.conftest import ROOT


def harness(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("args,message", [
    (["run", "--task", "nope", "--backend", "torch"],
     "unknown task 'nope'; choose one of: arithmetic, five-words, imdb"),
    (["run", "--task", "imdb", "--backend", "tensorflow"], "unknown backend 'tensorflow'; choose one of: "),
    (["run", "--task", "imdb", "--backend", "torch", "--scale", "huge"],
     "task 'imdb' has no scale 'huge'; choose one of: smoke, full, seed"),
    (["run", "--task", "imdb", "--backend", "torch", "--bogus"], "unrecognized arguments: --bogus"),
    (["run", "--task", "imdb", "--backend", "torch", "--device", "tpu"], "invalid choice: 'tpu'"),
    (["run", "--task", "imdb"], "give --backend (or `backend = ...` in a --config file)"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    (["parity", "--task", "imdb", "--backends", "torch,nope"], "unknown backend(s) nope; choose from: "),
    (["parity", "--task", "nope", "--backends", "torch"], "unknown task 'nope'"),
    (["matrix", "--tasks", "imdb,nope", "--out", "/nonexistent/x"],
     "unknown task 'nope'; choose from: arithmetic, five-words, imdb"),
    (["matrix", "--backends", "torch,tensorflow", "--out", "/nonexistent/x"],
     "unknown backend 'tensorflow'; choose from: "),
    (["matrix", "--tasks", "imdb", "--scale", "huge"], "task 'imdb' has no scale 'huge'"),
    (["compare", "--baseline", "/nonexistent/base.json"], "baseline /nonexistent/base.json not found"),
    (["baseline", "load"], "invalid choice: 'load'"),
])
def test_bad_input_is_one_line(args, message):
    result = harness(*args)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("python -m harness: error: ") and message in lines[0]
    assert "Traceback" not in result.stderr


def test_list_shows_tasks_scales_targets_and_backends():
    result = harness("list")
    assert result.returncode == 0, result.stderr
    assert "imdb" in result.stdout and "full (default)" in result.stdout
    assert "accuracy >= 0.84" in result.stdout
    assert "torch" in result.stdout and "importable here" in result.stdout


def test_missing_tox_is_installed_privately_once(monkeypatch, tmp_path, capsys):
    """A machine with Python alone: the harness puts tox into a virtual environment of its own."""
    monkeypatch.setattr(launcher, "BOOTSTRAP", tmp_path / "boot")
    monkeypatch.setattr(launcher.shutil, "which", lambda name: None)
    monkeypatch.setattr(launcher.importlib.util, "find_spec", lambda name: None)
    calls = []
    monkeypatch.setattr(launcher.subprocess, "run",
                        lambda cmd, **k: calls.append(cmd) or subprocess.CompletedProcess(cmd, 0, "", ""))
    python = str(tmp_path / "boot" / "bin" / "python")
    assert launcher._tox() == [python, "-m", "tox"]
    assert calls == [[sys.executable, "-m", "venv", str(tmp_path / "boot")],
                     [python, "-m", "pip", "install", "--quiet", "tox>=4"]]
    assert f"tox is not installed; installing it once into {tmp_path / 'boot'}" in capsys.readouterr().err


def test_missing_tox_that_cannot_be_installed_is_explained(monkeypatch, tmp_path):
    monkeypatch.delenv(launcher.IN_TOX, raising=False)
    monkeypatch.setattr(launcher, "BOOTSTRAP", tmp_path / "boot")
    monkeypatch.setattr(launcher.shutil, "which", lambda name: None)
    monkeypatch.setattr(launcher.importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(launcher.subprocess, "run",
                        lambda cmd, **k: subprocess.CompletedProcess(cmd, 1, "", ""))
    with pytest.raises(UserError, match="tox is not installed, and installing it into .* failed"):
        launcher.run_in_tox("torch", ["run"], ["torch"])


def test_unbuildable_environment_is_explained(monkeypatch):
    monkeypatch.delenv(launcher.IN_TOX, raising=False)
    monkeypatch.setattr(launcher, "_tox", lambda: ["tox"])
    monkeypatch.setattr(launcher.subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 1))
    with pytest.raises(UserError, match="could not build tox environment 'mxnet' \\(tox exited 1"):
        launcher.run_in_tox("mxnet", ["run"], ["mxnet"])


def test_no_recursion_inside_tox(monkeypatch):
    monkeypatch.setenv(launcher.IN_TOX, "jax")
    with pytest.raises(UserError, match="cannot be imported even inside tox environment 'jax'"):
        launcher.run_in_tox("jax", ["run"], ["jax"])


def test_a_rerun_in_one_environment_may_start_another(monkeypatch):
    """The README's parity command re-runs itself in `report`; its workers then go to their own
    environments (this refused every worker before)."""
    calls = []

    def run(cmd, **kwargs):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 0, stdout=sys.executable + "\n")

    class Child:
        def __init__(self, cmd, **kwargs):
            self.cmd, self.env = cmd, kwargs["env"]
            calls.append(self)

        def wait(self):
            return 0

    monkeypatch.setenv(launcher.IN_TOX, "report")
    monkeypatch.setattr(launcher, "_tox", lambda: ["tox"])
    monkeypatch.setattr(launcher.subprocess, "run", run)
    monkeypatch.setattr(launcher.subprocess, "Popen", Child)
    assert launcher.run_in_tox("torch", ["parity-worker"], ["torch"]) == 0
    build, locate, child = calls
    assert build[build.index("-e") + 1] == "torch" and locate[locate.index("-e") + 1] == "torch"
    assert child.cmd == [sys.executable, "-m", "harness", "parity-worker"]
    assert child.env[launcher.IN_TOX] == "torch"


def test_cli_and_matrix_need_only_the_standard_library():
    blocked = ("numpy", "pandas", "matplotlib", "tabulate", "tqdm")
    code = (f"import sys\nfor m in {blocked!r}: sys.modules[m] = None\n"
            "import harness.cli, harness.matrix.driver")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(("given", "tox_args", "full"), [
    ([], ["run-parallel", "--parallel", "auto", "--parallel-live"], False),  # the whole suite
    (["--full"], ["run-parallel", "--parallel", "auto", "--parallel-live"], True),
    (["-e", "core", "--full"], ["-e", "core"], True),
    (["-e", "core"], ["-e", "core"], False),  # tox's own arguments pass through
])
def test_the_test_command_runs_tox_in_parallel_and_full_adds_the_long_tests(monkeypatch, given, tox_args,
                                                                              full):
    seen = {}

    def fake_run(cmd, cwd, env):
        seen.update(cmd=cmd, env=env)
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(launcher, "_tox", lambda: ["tox"])
    monkeypatch.setattr(launcher.subprocess, "run", fake_run)
    monkeypatch.delenv("RNNBENCH_TESTS", raising=False)
    assert launcher.run_tox(given) == 0
    assert seen["cmd"] == ["tox", "-c", str(ROOT / "tox.ini"), *tox_args]
    assert (seen["env"].get("RNNBENCH_TESTS") == "full") is full


def test_a_tox_environment_is_checked_once_a_process(monkeypatch, tmp_path):
    python = tmp_path / "python"
    python.write_text("")
    calls = []

    def fake_run(cmd, **kw):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 0, f"{python}\n", "")

    monkeypatch.setattr(launcher, "_tox", lambda: ["tox"])
    monkeypatch.setattr(launcher.subprocess, "run", fake_run)
    monkeypatch.setattr(launcher, "_PYTHONS", {})
    assert launcher.tox_python("keras") == launcher.tox_python("keras") == str(python)
    assert len(calls) == 2  # one build check and one `tox exec`, for both calls
    python.unlink()  # an environment removed since: checked again
    with pytest.raises(UserError, match="cannot find the Python of tox environment 'keras'"):
        launcher.tox_python("keras")


def test_a_tox_build_holds_a_lock_other_processes_wait_for(monkeypatch, tmp_path):
    """Two commands started together must not reinstall into one environment at once (pip's uninstall
    of the first removes files the second is replacing): the build runs under an exclusive file lock."""
    monkeypatch.setattr(launcher, "ROOT", tmp_path)
    probe = ("import fcntl, sys\nh = open(sys.argv[1], 'a')\n"
             "try:\n    fcntl.flock(h, fcntl.LOCK_EX | fcntl.LOCK_NB)\nexcept BlockingIOError:\n"
             "    sys.exit(3)\n")
    lock = tmp_path / ".tox" / ".keras.build.lock"
    seen = []
    real_run = subprocess.run

    def fake_run(cmd, **kw):  # while tox "builds", another process tries the lock without waiting
        seen.append(real_run([sys.executable, "-c", probe, str(lock)]).returncode)
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(launcher.subprocess, "run", fake_run)
    launcher._build(["tox"], "keras", quiet=True)
    assert seen == [3]
    monkeypatch.undo()
    assert subprocess.run([sys.executable, "-c", probe, str(lock)]).returncode == 0  # released after
