"""``matrix --executor ray`` on a real two-node Ray cluster (head and worker on 127.0.0.1, one core each).

The cluster runs inside a network namespace that has only loopback (:mod:`tests.ray.netns`), started by
``tests/ray/scenario.py``; the runs re-run themselves in the torch and mxnet tox environments, so the tox
environment ``ray`` comes after those. Skipped where Ray is not installed or no namespace can be made.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from harness import cli, records
from harness.matrix.driver import FINISHED
from tests.conftest import ROOT, data_dir
from tests.ray.netns import loopback_namespace

pytestmark = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                                reason="needs Ray: the tox environment `ray` (pip install -e '.[ray]')")

SCENARIO = Path(__file__).with_name("scenario.py")
COMBINATIONS = {(t, b, 0) for t in ("five-words", "names") for b in ("torch", "mxnet")}


def scenario(which: str, out: Path) -> dict:
    """Run ``scenario.py which`` in a fresh loopback-only namespace; what it saw."""
    mirror = data_dir()
    if mirror is None or not (mirror / "names").is_dir():
        pytest.skip("needs the dataset mirror (RNNBENCH_DATA_DIR or ../shared/data) for the names task")
    env = {**os.environ, "RNNBENCH_DATA_DIR": str(mirror)}
    with loopback_namespace() as netns:
        done = subprocess.run([*netns, sys.executable, str(SCENARIO), which, str(out)], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((out / "scenario.json").read_text())


def run_records(runs: Path) -> list[dict]:
    return [r for r in records.load_all(runs) if Path(r["_path"]).parent == runs]


def test_a_smoke_matrix_runs_on_both_nodes_and_its_records_match_the_local_executors(tmp_path):
    seen = scenario("two-nodes", tmp_path)
    assert seen["rc"] == 0, seen["stdout"] + seen["stderr"][-3000:]
    said = f"Ray cluster at {seen['address']}: 2 nodes, 2 CPUs, 0 GPUs; each run asks for 1 CPU"
    assert said in seen["stdout"]
    runs = tmp_path / "runs"
    manifest = json.loads((runs / "matrix.json").read_text())
    assert {(e["task"], e["backend"], e["seed"]) for e in manifest["runs"]} == COMBINATIONS
    assert [e["status"] for e in manifest["runs"]] == ["ok"] * 4
    assert {e["node"]["id"] for e in manifest["runs"]} == {seen["head"], seen["worker"]}  # both nodes ran

    found = run_records(runs)
    assert len(found) == 4 and {(r["task"], r["backend"], r["seed"]) for r in found} == COMBINATIONS
    for entry in manifest["runs"]:
        record = records.load(Path(entry["record"]))
        assert record["environment"]["node"] == {**entry["node"], "executor": "ray"}
        assert record["environment"]["node"]["address"] == "127.0.0.1"
        assert record["config"]["options"]["threads"] == 1
        for key in ("checkpoint", "checkpoint_final"):  # the node's files, beside the driver's record
            assert (runs / record[key]).is_file(), record[key]
        if record["task"] == "names":
            assert (runs / record["analysis"]["confusion_png"]).is_file()
        assert Path(entry["log"]).read_text().strip(), entry["log"]

    assert seen["local_rc"] == 0, seen["local_stdout"] + seen["local_stderr"]
    local_manifest = json.loads((tmp_path / "local" / "matrix.json").read_text())
    [local] = run_records(tmp_path / "local")
    [ray_run] = [r for r in found if (r["task"], r["backend"]) == ("five-words", "torch")]
    assert set(ray_run) == set(local)  # the same record, but for where it ran
    for key in ("config", "metrics", "throughput", "timings", "memory", "analysis"):
        assert set(ray_run.get(key, {})) == set(local.get(key, {})), key
    assert set(ray_run["environment"]) - set(local["environment"]) == {"node"}
    assert set(local["environment"]) <= set(ray_run["environment"])
    assert ray_run["config"]["options"] == local["config"]["options"]
    assert [set(c) for c in ray_run["curves"]] == [set(c) for c in local["curves"]]
    assert set(manifest["runs"][0]) - set(local_manifest["runs"][0]) == {"node"}

    report = (tmp_path / "report" / "report.md").read_text()  # built by the driver from the records
    assert "five-words / smoke" in report and "names / smoke" in report and "| mxnet" in report
    resumed = subprocess.run([sys.executable, "-m", "harness", "matrix", "--tasks", "five-words,names",
                              "--backends", "torch,mxnet", "--scale", "smoke", "--out", str(runs),
                              "--resume", "--no-report"], cwd=ROOT, capture_output=True, text=True)
    assert "4 of 4 combinations finished earlier" in resumed.stdout, resumed.stdout + resumed.stderr
    assert resumed.returncode == 0 and len(run_records(runs)) == 4  # the local executor resumes it


def test_a_worker_node_killed_mid_run_loses_no_combination_and_duplicates_none(tmp_path):
    seen = scenario("kill-worker", tmp_path)
    killed = seen.get("killed_run")
    assert killed, "no run was seen on the worker node: " + seen["stdout"] + seen["stderr"][-3000:]
    assert seen["killed_run_survived"] is False  # the run died with its Ray worker
    victim = (killed[killed.index("--task") + 1], killed[killed.index("--backend") + 1],
              int(killed[killed.index("--seed") + 1]))
    assert seen["rc"] in (0, 1), seen["stderr"][-3000:]
    runs = tmp_path / "runs"
    manifest = json.loads((runs / "matrix.json").read_text())
    entries = {(e["task"], e["backend"], e["seed"]): e for e in manifest["runs"]}
    assert set(entries) == COMBINATIONS and len(manifest["runs"]) == 4
    assert all(e["status"] in FINISHED for e in manifest["runs"])

    lost = entries[victim]
    assert lost["attempts"] and seen["worker"] in lost["attempts"][0]["error"]  # lost with that node
    key = "/".join((victim[0], "smoke", victim[1], f"s{victim[2]}"))
    assert f"matrix: {key} was lost (" in seen["stdout"] and "retrying it (1 of 2)" in seen["stdout"]
    if lost["status"] == "failed":
        assert "lost" in lost["error"]
    else:  # retried on the node that was left
        assert lost["status"] == "ok" and lost["node"]["id"] == seen["head"]

    found = run_records(runs)
    keys = [(r["task"], r["backend"], r["seed"]) for r in found]
    assert len(keys) == len(set(keys)), keys  # no combination recorded twice
    with_record = {k for k, e in entries.items() if e["record"]}
    assert set(keys) == with_record  # and none lost: every record is the manifest's
    for k in with_record:
        record = records.load(Path(entries[k]["record"]))
        assert (record["task"], record["backend"], record["seed"]) == k
        assert record["environment"]["node"]["id"] == entries[k]["node"]["id"]
    assert all(e["status"] == "ok" or e["error"] for e in manifest["runs"])  # a failure says why


def test_an_unreachable_cluster_is_a_one_line_error(tmp_path, capsys):
    with socket.socket() as probe:  # a loopback port nothing listens on (Ray is never started)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = cli.main(["matrix", "--executor", "ray", "--address", f"127.0.0.1:{port}", "--tasks",
                     "five-words", "--backends", "torch", "--scale", "smoke", "--out", str(tmp_path / "runs"),
                     "--no-report"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"cannot reach the Ray cluster at 127.0.0.1:{port}" in err and "ray start --head" in err
    assert not (tmp_path / "runs" / "matrix.json").exists() and "ray" not in sys.modules
