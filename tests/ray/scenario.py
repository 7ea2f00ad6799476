"""Inside a network namespace that has only loopback: a two-node Ray cluster on 127.0.0.1, and a matrix.

``python tests/ray/scenario.py two-nodes|kill-worker OUT`` starts a head and a worker node
(``ray.cluster_utils.Cluster``), each of one CPU and its processes pinned to a core of their own, as two
one-core machines would be (a run takes a whole node, so each runs alone on its core), runs
``python -m harness matrix --executor ray --address <head>`` on them into ``OUT`` and writes
``OUT/scenario.json`` for the test to check: the nodes' ids, the matrix's exit status and output, and
with ``kill-worker`` the run the worker node was running when it was removed. ``two-nodes`` also runs one
combination with the local executor, whose record the test compares with the Ray ones. Only the tests in
this folder start it, through :mod:`tests.ray.netns`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
os.environ["RAY_TMPDIR"] = tempfile.mkdtemp(prefix="rray-")  # sockets, logs, the address file: ours

import psutil  # noqa: E402
from ray.cluster_utils import Cluster  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
MATRIX = ["--tasks", "five-words,names", "--backends", "torch,mxnet", "--scale", "smoke"]
NODE = {"num_cpus": 1, "object_store_memory": 80 * 2**20}
TIMEOUT_S = 1500  # a hang guard: on a busy 2-core machine the four smoke runs took over 10 min


@contextlib.contextmanager
def pinned(cores: set[int]):
    """Processes started meanwhile (a node's raylet, and the workers it forks later) run on ``cores``."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cores)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def matrix(address: str, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "harness", "matrix", "--executor", "ray", "--address", address, *MATRIX,
            "--out", str(out / "runs"), "--report-out", str(out / "report"), *extra]


def run_on(worker_raylet: int) -> psutil.Process | None:
    """A ``harness run`` process started under the worker node's raylet (its Ray workers' children)."""
    try:
        for proc in psutil.Process(worker_raylet).children(recursive=True):
            try:
                cmd = proc.cmdline()
            except psutil.Error:
                continue
            if "harness" in cmd and "run" in cmd and "-c" not in cmd:
                return proc
    except psutil.Error:
        pass
    return None


def main(which: str, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    cores = sorted(os.sched_getaffinity(0))
    with pinned({cores[0]}):
        cluster = Cluster(initialize_head=True, head_node_args={**NODE, "include_dashboard": False})
    with pinned({cores[-1]}):
        worker = cluster.add_node(**NODE)
    cluster.wait_for_nodes()
    result: dict = {"head": cluster.head_node.node_id, "worker": worker.node_id, "address": cluster.address}
    try:
        if which == "two-nodes":
            done = subprocess.run(matrix(cluster.address, out), cwd=ROOT, capture_output=True, text=True,
                                  timeout=TIMEOUT_S)
            result.update(rc=done.returncode, stdout=done.stdout, stderr=done.stderr)
            local = subprocess.run(
                [sys.executable, "-m", "harness", "matrix", "--tasks", "five-words", "--backends", "torch",
                 "--scale", "smoke", "--threads", "1", "--out", str(out / "local"), "--no-report"],
                cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT_S)
            result.update(local_rc=local.returncode, local_stdout=local.stdout, local_stderr=local.stderr)
        else:
            raylet = worker.all_processes["raylet"][0].process.pid
            proc = subprocess.Popen(matrix(cluster.address, out, "--no-report"), cwd=ROOT,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            deadline, victim = time.monotonic() + TIMEOUT_S, None
            while victim is None and proc.poll() is None and time.monotonic() < deadline:
                victim = run_on(raylet)
                time.sleep(0.2)
            if victim is not None:
                result["killed_run"] = victim.cmdline()
                cluster.remove_node(worker, allow_graceful=False)
                try:
                    victim.wait(timeout=30)
                    result["killed_run_survived"] = False
                except psutil.TimeoutExpired:
                    result["killed_run_survived"] = True
            stdout, stderr = proc.communicate(timeout=TIMEOUT_S)
            result.update(rc=proc.returncode, stdout=stdout, stderr=stderr)
    finally:
        (out / "scenario.json").write_text(json.dumps(result, indent=1))
        cluster.shutdown()
        shutil.rmtree(os.environ["RAY_TMPDIR"], ignore_errors=True)
        if result.get("killed_run"):  # the killed attempt's scratch folder, which its task never removed
            killed = result["killed_run"]
            shutil.rmtree(Path(killed[killed.index("--out") + 1]).parent, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
