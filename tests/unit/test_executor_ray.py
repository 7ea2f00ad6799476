"""``matrix --executor ray`` without Ray: the executor seam of the matrix, what each run asks the cluster
for, how a task's result lands in OUT, and the one-line errors (Ray missing, no cluster at the address).

The runs go through the real CLI and training loop in-process (the scripted backend); an in-process
executor hands them back as a Ray task's result would be. The real cluster is tested in ``tests/ray``.
"""

from __future__ import annotations

import copy
import importlib.util
import socket
import sys
from pathlib import Path

import pytest

from harness import cli, records
from harness.errors import UserError
from harness.matrix import executors
from harness.matrix.executors import ray as executor_ray
from tests.unit.test_matrix import Launcher, manifest, matrix_cli, two_backends  # noqa: F401 (a fixture)

NODE = {"id": "f" * 56, "host": "node-a", "address": "127.0.0.1"}


class InProcess:
    """An executor without Ray: the jobs in reverse order, each run in-process into its own scratch folder
    and handed back as ``run_on_node`` returns it; ``lost`` keys are reported lost once before they run,
    ``stop_after`` interrupts the matrix after that many runs."""

    def __init__(self, scratch: Path, lost=(), stop_after=None):
        self.scratch, self.lost, self.stop_after = scratch, set(lost), stop_after
        self.ran: list[str] = []
        self.closed = False

    def __call__(self, jobs, done):
        for job in reversed(jobs):
            if self.stop_after is not None and len(self.ran) == self.stop_after:
                raise KeyboardInterrupt
            key = job.entry["key"]
            out = self.scratch / f"{len(self.ran)}"
            argv = list(job.argv)
            argv[argv.index("--out") + 1] = str(out)
            code = cli.main(argv)
            name, record, files = executor_ray._collect(out)
            lost = [{"error": f"Task failed because the node it was running on is dead. node ID: {'e' * 8}."}]
            result = {"node": NODE, "code": code, "seconds": 0.5, "record_name": name, "record": record,
                      "files": files, "log": f"ran {key}\n"}
            done(job, executor_ray.RayExecutor.store(job, result, lost if key in self.lost else []))
            self.ran.append(key)

    def close(self):
        self.closed = True


@pytest.fixture
def in_process(two_backends, tmp_path, monkeypatch):  # noqa: F811 (the fixture imported above)
    made = []

    def connect(address, options, say):
        made.append(InProcess(tmp_path / "scratch", *connect.args))
        return made[-1]

    connect.args = ()
    monkeypatch.setattr(executor_ray, "connect", connect)
    return connect, made


def test_an_executor_gets_every_combination_at_once_and_the_manifest_and_records_are_the_drivers(
        in_process, tmp_path):
    connect, made = in_process
    connect.args = ((), None)
    said: list[str] = []
    assert matrix_cli(tmp_path, Launcher(), "--executor", "ray", said=said) == 0
    [executor] = made
    assert executor.closed and executor.ran == ["synthetic/smoke/other/s1", "synthetic/smoke/scripted/s1",
                                                "synthetic/smoke/other/s0", "synthetic/smoke/scripted/s0"]
    lines = [ln for ln in "".join(said).splitlines() if ln.startswith("[")]
    assert lines[0].startswith("[4/4] synthetic/smoke other seed 1 ... ok 1.000 acc")
    assert lines[0].endswith(" on node ffffffff (node-a)")
    m = manifest(tmp_path)
    assert [r["status"] for r in m["runs"]] == ["ok"] * 4 and all(r["node"] == NODE for r in m["runs"])
    runs = tmp_path / "runs"
    for entry in m["runs"]:
        record = records.load(Path(entry["record"]))
        assert Path(entry["record"]).parent == runs  # written by the driver, not left in the scratch folder
        assert (record["backend"], record["seed"]) == (entry["backend"], entry["seed"])
        assert record["environment"]["node"] == {**NODE, "executor": "ray"}
        assert (runs / record["checkpoint"]).is_file() and (runs / record["checkpoint_final"]).is_file()
        assert Path(entry["log"]).read_text() == f"ran {entry['key']}\n"
    assert (tmp_path / "report" / "report.html").is_file()  # the report reads them as any records


def test_a_lost_attempt_is_kept_in_the_manifest_beside_the_run_that_finished(in_process, tmp_path):
    connect, made = in_process
    connect.args = (("synthetic/smoke/other/s0",), None)
    assert matrix_cli(tmp_path, Launcher(), "--executor", "ray", "--no-report") == 0
    entries = {r["key"]: r for r in manifest(tmp_path)["runs"]}
    assert entries["synthetic/smoke/other/s0"]["attempts"][0]["error"].startswith("Task failed because")
    assert entries["synthetic/smoke/other/s0"]["status"] == "ok"
    assert "attempts" not in entries["synthetic/smoke/scripted/s0"]


def test_an_interrupted_executor_leaves_its_unfinished_runs_pending_for_resume(in_process, tmp_path):
    connect, made = in_process
    connect.args = ((), 1)
    assert matrix_cli(tmp_path, Launcher(), "--executor", "ray", "--no-report") == 130
    assert [r["status"] for r in manifest(tmp_path)["runs"]] == ["pending", "pending", "pending", "ok"]
    assert made[0].closed
    local = Launcher()  # the local executor continues a matrix the Ray one began
    assert matrix_cli(tmp_path, local, "--no-report", "--resume") == 0
    assert local.runs() == [("scripted", 0), ("other", 0), ("scripted", 1)]
    assert len(list((tmp_path / "runs").glob("synthetic-*.json"))) == 4


def test_a_record_of_the_same_name_in_out_is_never_replaced(two_backends, tmp_path):  # noqa: F811
    scratch, runs = tmp_path / "scratch", tmp_path / "runs"
    assert cli.main(["run", "--task", "synthetic", "--backend", "scripted", "--out", str(scratch),
                     "--no-progress"]) == 0
    name, record, files = executor_ray._collect(scratch)
    job = executors.Job({"key": "k"}, ["run", "--out", str(runs)], tmp_path / "k.log")
    result = {"node": NODE, "code": 0, "seconds": 1.0, "record_name": name, "record": record, "files": files,
              "log": ""}
    first = executor_ray.RayExecutor.store(job, dict(result, record=copy.deepcopy(record)), [])
    second = executor_ray.RayExecutor.store(job, dict(result, record=copy.deepcopy(record)), [])
    assert first.found[0].name == name and second.found[0].name == f"{Path(name).stem}-2.json"
    renamed = second.found[1]["checkpoint"]
    assert renamed.endswith("-2.npz") and (runs / renamed).is_file()
    assert (runs / first.found[1]["checkpoint"]).is_file()
    with pytest.raises(UserError, match="outside its run's folder"):
        executor_ray.RayExecutor.store(job, dict(result, record=None, files={"../evil": b""}), [])


def test_without_ray_the_ray_executor_is_a_one_line_error_saying_how_to_install_it(
        two_backends, tmp_path, monkeypatch, capsys):  # noqa: F811
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "ray" else find_spec(name, *a))
    code = cli.main(["matrix", "--executor", "ray", "--tasks", "synthetic", "--backends", "scripted",
                     "--out", str(tmp_path / "runs"), "--no-report"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "--executor ray needs Ray" in err and "pip install -e '.[ray]'" in err and "ray==2.60.0" in err
    assert not (tmp_path / "runs" / "matrix.json").exists()


def test_an_address_is_for_the_ray_executor_only(two_backends, tmp_path):  # noqa: F811
    with pytest.raises(UserError, match="--address names a Ray cluster: pass it with --executor ray"):
        matrix_cli(tmp_path, Launcher(), "--address", "10.0.0.1:6379")


def test_an_address_where_nothing_listens_fails_before_ray_is_started():
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(UserError, match=f"cannot reach the Ray cluster at 127.0.0.1:{port} .*ray start"):
        executor_ray.check_reachable(f"127.0.0.1:{port}")
    with pytest.raises(UserError, match="give the cluster's head as HOST:PORT"):
        executor_ray.check_reachable("headnode")
    executor_ray.check_reachable("auto")  # Ray finds the cluster started on this machine itself
    assert "ray" not in sys.modules


@pytest.mark.parametrize(("options", "nodes", "want"), [
    ({}, [{"CPU": 8}, {"CPU": 4}], ({"num_cpus": 4, "num_gpus": 0}, 4)),  # a whole node, the smallest
    ({"threads": 2}, [{"CPU": 8}], ({"num_cpus": 2, "num_gpus": 0}, 2)),
    ({"device": "gpu"}, [{"CPU": 16, "GPU": 4}, {"CPU": 64}], ({"num_cpus": 4, "num_gpus": 1}, 4)),
    ({}, [{"CPU": 0}, {"CPU": 2}], ({"num_cpus": 2, "num_gpus": 0}, 2)),  # a head that runs nothing
])
def test_each_run_asks_for_its_threads_in_cpus_and_a_gpu_with_device_gpu(options, nodes, want):
    assert executor_ray.plan_resources(options, nodes) == want


def test_a_run_no_node_can_hold_is_refused_before_anything_runs():
    refused = r"--threads 16: no node of the Ray cluster has 16 CPUs \(the most is 8\); lower --threads"
    with pytest.raises(UserError, match=refused):
        executor_ray.plan_resources({"threads": 16}, [{"CPU": 8}, {"CPU": 4}])
    with pytest.raises(UserError, match="--device gpu: no node of the Ray cluster has a GPU"):
        executor_ray.plan_resources({"device": "gpu"}, [{"CPU": 8}])


def test_a_backend_some_nodes_declare_goes_to_those_nodes():
    nodes = [{"CPU": 4, "rnnbench:mxnet": 1}, {"CPU": 4}]
    assert executor_ray.backend_resources("mxnet", nodes) == {"rnnbench:mxnet": 0.001}
    assert executor_ray.backend_resources("torch", nodes) == {}
    request = {"num_cpus": 4, "num_gpus": 0, "resources": {"rnnbench:mxnet": 0.001}}
    assert [executor_ray.fits(request, n) for n in nodes] == [True, False]
