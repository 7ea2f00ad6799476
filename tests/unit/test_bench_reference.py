"""Reference rows of the bench (harness.bench.reference): names, the point -> loop arguments mapping, the
refusals, and the Measurer driving a loop through the shim (a NumPy stand-in for the framework's loop)."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import numpy as np
import pytest

from harness import cli, records
from harness.bench import driver as bench
from harness.bench import plan as bench_plan
from harness.bench import quiet
from harness.bench import reference as bench_reference
from harness.bench import report as bench_report
from harness.bench.worker import InProcessWorker, Measurer
from harness.errors import UserError
from tests.fakes import make_bench_record


def shape(task: str, scale: str = "full", **overrides) -> bench_plan.Shape:
    return bench_plan.resolve(bench_plan.Point(task, scale, overrides))


def arguments(s: bench_plan.Shape, precision: str = "fp32") -> dict:
    return bench_reference.arguments(s.scale.model, s.scale.recipe, s.seq_len, s.train_batch, s.infer_batch,
                                     precision)


def test_reference_names_share_their_backends_environment():
    assert bench_reference.is_reference("keras-jax-reference") and not bench_reference.is_reference("torch")
    assert not bench_reference.is_reference("nope-reference")
    assert bench_reference.base("keras-torch-reference") == "keras-torch"
    assert bench_reference.base("mxnet") == "mxnet"
    assert bench_reference.names(["torch", "jax", "scripted"]) == ["torch-reference", "jax-reference"]
    assert bench_reference.with_references(["torch", "torch-reference", "keras-jax"]) == [
        "torch", "torch-reference", "keras-jax", "keras-jax-reference"]
    assert set(bench_reference.LOOPS) == {"torch", "keras", "keras-jax", "keras-torch", "jax", "mxnet"}
    assert all((bench_reference.FOLDER / f).is_file() for f in bench_reference.LOOPS.values())


def test_full_points_map_to_the_loops_arguments():
    assert arguments(shape("imdb")) == {"model": "imdb", "batch": 64, "infer_batch": 500, "seq_len": 200,
                                        "lr": 1e-3, "clip_norm": None, "vocab": 1000, "embed": 50,
                                        "hidden": 100}
    assert arguments(shape("ptb")) == {"model": "ptb", "batch": 20, "infer_batch": 20, "seq_len": 35,
                                       "lr": 35.0, "clip_norm": pytest.approx(5 / 35), "vocab": 10_000,
                                       "embed": 200, "hidden": 200}


def test_sizes_batches_and_length_may_change():
    args = arguments(shape("imdb", **{"recipe.batch_size": 16, "model.hidden_size": 32}))
    assert (args["batch"], args["infer_batch"], args["hidden"]) == (16, 16, 32)  # the bench's sweep rule
    assert arguments(shape("imdb", **{"shape.seq_len": 50}))["seq_len"] == 50
    smoke = arguments(shape("ptb", "smoke"))  # 2x16: the same model, smaller
    assert (smoke["model"], smoke["embed"], smoke["hidden"], smoke["lr"]) == ("ptb", 16, 16, 20.0)


@pytest.mark.parametrize(("task", "scale", "overrides", "says"), [
    ("imdb", "full", {"model.cell": "gru"}, "differs in cell='gru'"),
    ("ptb", "full", {"model.num_layers": 3}, "differs in num_layers=3"),
    ("imdb", "smoke", {}, "differs in head="),  # Dense 32: not the reference head
    ("imdb", "seed", {}, "differs in recurrent_dropout=0.2"),
    ("imdb", "full", {"recipe.optimizer": "rmsprop"}, "this point sets optimizer='rmsprop'"),
    ("ptb", "full", {"recipe.sampling": "random"}, "this point sets sampling='random'"),
    ("ptb", "full", {"recipe.momentum": 0.9}, "this point sets momentum=0.9"),
    ("imdb", "full", {"recipe.clip_norm": 1.0}, "this point sets clip_norm=1.0"),
])
def test_other_models_are_refused_in_one_line(task, scale, overrides, says):
    with pytest.raises(bench_reference.Unsupported) as err:
        arguments(shape(task, scale, **overrides))
    assert says in str(err.value) and "\n" not in str(err.value)


def test_only_fp32_runs():
    with pytest.raises(bench_reference.Unsupported, match="fp32 only"):
        arguments(shape("imdb"), precision="bf16")


class FakeLoop:
    """Stands for a reference file's Loop: logs its calls, losses that fall, logits of the batch's rows."""

    def __init__(self, **args) -> None:
        self.args, self.calls, self.steps = args, [], 0

    def train_step(self, x, y):
        self.steps += 1
        self.calls.append(("train", x.shape, y.shape))
        return 1.0 / self.steps

    def loss_value(self, handle) -> float:
        return float(handle)

    def predict(self, x):
        self.calls.append(("predict", x.shape))
        return np.zeros((len(x), 1))

    def reset_state(self) -> None:
        self.calls.append("reset")

    def synchronize(self) -> None:
        pass


@pytest.fixture
def fake_loops(monkeypatch):
    """The shim with FakeLoop for every framework's loop (and no framework imported)."""
    built: list[FakeLoop] = []

    def make(**args):
        built.append(FakeLoop(**args))
        return built[-1]

    monkeypatch.setattr(bench_reference, "load_loop", lambda base: SimpleNamespace(make=make))
    monkeypatch.setattr(bench_reference.ReferenceAdapter, "_device", lambda self: ("cpu", "cpu"))
    monkeypatch.setattr(bench_reference.ReferenceAdapter, "_versions", lambda self: {"mxnet": "0"})
    return built


def test_the_measurer_drives_a_loop_through_the_shim(fake_loops):
    measurer = Measurer("mxnet-reference", "auto", "fp32", 1)  # its default factory: the shim
    point = bench_plan.Point("ptb", "smoke")
    result = measurer.measure(point, 0, steps=3, warmup=1)
    loop = fake_loops[0]
    assert loop.args == {"model": "ptb", "batch": 20, "infer_batch": 20, "seq_len": 35, "lr": 20.0,
                         "clip_norm": pytest.approx(5 / 35), "vocab": 10_000, "embed": 16, "hidden": 16}
    assert ("train", (20, 35), (20, 35)) in loop.calls and ("predict", (20, 35)) in loop.calls
    assert loop.calls.count("reset") == 3  # at build, before training and before inference (stateful)
    assert result["last_loss"] == pytest.approx(1 / 5)  # 1 first + 1 warm-up + 3 timed steps
    described = result["backend"]
    assert described["reference"] is True and described["framework"] == "mxnet"
    assert described["loop"] == "benchmarks/reference/mxnet_loop.py" and described["reference_model"] == "ptb"
    assert described["kernel_path"] == "fused" and described["base_backend"] == "mxnet"
    measurer.measure(point, 1, steps=3, warmup=1)
    assert len(fake_loops) == 1  # the point's loop is kept between repeats


def test_a_refused_point_is_a_failed_record_and_the_bench_goes_on(fake_loops, tmp_path):
    opts = {"tasks": ["imdb"], "backends": ["jax-reference"], "scale": "smoke", "sweeps": [], "repeats": 1,
            "steps": 2, "warmup": 0, "threads": 1, "device": "auto", "precision": "fp32",
            "flush_to_zero": True, "points": bench_plan.plan(["ptb", "imdb"], "smoke", [])}
    said: list[str] = []

    def make(backend, folder):
        return InProcessWorker(Measurer(backend, "auto", "fp32", 1))

    def sampler(pids):
        return quiet.Sample(0.0, 0.0, 0.0, 0.0, (0.0, 0.0, 0.0))

    folder, recs = bench.run(opts, tmp_path, make, sampler=sampler, progress=False, say=said.append)
    ptb, imdb = recs
    assert ptb["status"] == "ok" and ptb["reference"] is True and ptb["backend"] == "jax-reference"
    assert imdb["status"] == "failed" and imdb["error"].startswith("Unsupported: no reference loop")
    assert "imdb-smoke on jax-reference failed" in said[-1]
    saved = json.loads((folder / "ptb-smoke--jax-reference.json").read_text())
    assert saved["reference"] is True and saved["environment"]["backend"]["reference"] is True


def test_the_cli_accepts_reference_rows_and_references_adds_them(monkeypatch, tmp_path):
    seen = {}

    def fake_run(opts, out, make, **kwargs):
        seen.update(opts)
        return tmp_path, []

    monkeypatch.setattr(bench, "run", fake_run)
    parse = cli.build_parser().parse_args
    common = ["--tasks", "imdb", "--out", str(tmp_path)]
    assert bench.main(parse(["bench", "--backends", "torch,jax-reference", *common])) == 0
    assert seen["backends"] == ["torch", "jax-reference"]
    bench.main(parse(["bench", "--backends", "torch,keras-jax", "--references", *common]))
    assert seen["backends"] == ["torch", "torch-reference", "keras-jax", "keras-jax-reference"]
    bench.main(parse(["bench", *common]))
    assert not any(bench_reference.is_reference(b) for b in seen["backends"])  # not by default
    with pytest.raises(UserError, match="unknown backend 'nope-reference'"):
        bench.main(parse(["bench", "--backends", "nope-reference", *common]))


def write(folder, *recs):
    for r in recs:
        records.dump_atomic(folder / r["bench_id"] / f"{r['point']['id']}--{r['backend']}.json", r)


def test_the_report_gives_adapter_over_reference_from_one_bench_and_machine(tmp_path):
    later = {"bench_id": "bench-20260102T000000", "started": "2026-01-02T00:00:00+00:00"}
    write(tmp_path / "bench",
          make_bench_record(backend="torch", train=1000, infer=4000),
          make_bench_record(backend="torch-reference", train=1250, infer=2000),
          make_bench_record(backend="jax", train=800, infer=1000),
          make_bench_record(backend="jax-reference", train=1000, infer=3000, busy=True),
          make_bench_record(backend="mxnet", train=900),  # no reference row: no ratio
          make_bench_record(backend="keras-reference", status="failed"),
          make_bench_record(backend="keras", train=5),
          make_bench_record(backend="torch-reference", train=1, **later),  # its adapter is not in that bench
          make_bench_record(point="ptb-full", backend="torch", train=300, **later),
          make_bench_record(point="ptb-full", backend="torch-reference", train=600, infer=8000, **later),
          *(make_bench_record(backend=b, train=t, machine="m2", bench_id="bench-m2")  # another machine
            for b, t in (("torch", 10), ("torch-reference", 20))))
    speed = bench_report.build(tmp_path / "bench", tmp_path / "out")
    assert len(speed.groups) == 2 and len(speed.ratios) == 2
    table = speed.ratios[0]
    assert list(table.columns) == ["point", "backend", "train adapter/reference",
                                   "inference adapter/reference", "bench"]
    rows = {(r["point"], r["backend"]): r for r in table.to_dict("records")}
    assert set(rows) == {("imdb-full", "torch"), ("imdb-full", "jax"), ("ptb-full", "torch")}
    torch_row = rows[("imdb-full", "torch")]
    assert torch_row["train adapter/reference"] == "0.80x [0.80-0.80] slower"
    assert torch_row["inference adapter/reference"] == "2.00x [2.00-2.00] faster"
    assert torch_row["bench"] == "bench-20260101T000000"
    assert rows[("imdb-full", "jax")]["train adapter/reference"] == "0.80x [0.80-0.80] slower (busy)"
    assert rows[("ptb-full", "torch")]["train adapter/reference"] == "0.50x [0.50-0.50] slower"
    assert speed.ratios[1].iloc[0]["train adapter/reference"] == "0.50x [0.50-0.50] slower"
    md = speed.markdown(None)
    assert "Adapter / reference" in md and re.search(r"\| imdb-full +\| torch +\| 0.80x", md)
    assert "torch-reference" in speed.tables[0][0].columns  # the headline has the reference columns too
    assert "adapter/reference" in speed.html()


def test_no_reference_rows_no_ratio_table(tmp_path):
    write(tmp_path / "bench", make_bench_record(backend="torch"))
    speed = bench_report.build(tmp_path / "bench", tmp_path / "out")
    assert speed.ratios == [None] and "Adapter / reference" not in speed.markdown(None)
