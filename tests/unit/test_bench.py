"""The bench protocol with the scripted backend, in process: order, warm-up, synchronisation, the busy
flag, grid caps, failures and resume. No test here asserts a speed: the clock is scripted."""

from __future__ import annotations

import json
import math

import pytest

from harness import records
from harness.bench import driver as bench
from harness.bench import plan as bench_plan
from harness.bench import quiet
from harness.bench.worker import InProcessWorker, Measurer
from harness.errors import UserError
from tests.fakes import ScriptedAdapter

STEP_S, PREDICT_S = 0.5, 0.25  # scripted seconds a training step / an inference batch takes


class Clock:
    """A clock that moves only when the scripted adapter works; every read is logged."""

    def __init__(self, events: list) -> None:
        self.now, self.events = 0.0, events

    def __call__(self) -> float:
        self.events.append("clock")
        return self.now


class TimedAdapter(ScriptedAdapter):
    """The scripted adapter, logging its calls and advancing the scripted clock as it works."""

    def __init__(self, clock: Clock, name: str, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.clock, self.name = clock, name

    def train_step(self, x, y):
        self.clock.events.append(("train", self.name))
        self.clock.now += STEP_S
        return super().train_step(x, y)

    def predict(self, x):
        self.clock.events.append(("predict", self.name))
        self.clock.now += PREDICT_S
        return super().predict(x)

    def synchronize(self):
        self.clock.events.append("sync")


def quiet_sampler(others_cores: float = 0.0):
    """Scripted load samples: others take ``others_cores`` cores over every (1 s) span."""
    state = {"t": 0.0}

    def sample(pids):
        state["t"] += 1.0
        return quiet.Sample(state["t"], others_cores * state["t"], 0.0, 0.0, (0.1, 0.1, 0.1))

    return sample


def options(**override):
    opts = {"tasks": ["synthetic"], "backends": ["a", "b", "c"], "scale": None, "sweeps": [], "repeats": 3,
            "steps": 4, "warmup": 2, "threads": 1, "device": "cpu", "precision": "fp32",
            "flush_to_zero": True}
    opts.update(override)
    opts["points"] = bench_plan.plan(opts["tasks"], opts["scale"], [tuple(a) for a in opts["sweeps"]])
    return opts


def in_process(events: list, fail: dict | None = None, interrupt_after: int | None = None):
    """A worker factory of scripted in-process workers; ``fail`` maps a backend to an error raised when
    it builds; ``interrupt_after`` raises Ctrl-C at that many measurements."""
    clock = Clock(events)
    count = {"n": 0}

    def make(backend, folder):
        def factory():
            if fail and backend in fail:
                raise RuntimeError(fail[backend])
            return TimedAdapter(clock, backend)

        worker = InProcessWorker(Measurer(backend, "cpu", "fp32", 1, factory=factory, clock=clock))
        measure = worker.measure

        def counted(request):
            if request.get("op") == "gemm":  # after the rounds: not a measurement
                return measure(request)
            count["n"] += 1
            if interrupt_after is not None and count["n"] > interrupt_after:
                raise KeyboardInterrupt
            events.append(("measure", backend, request["point"]["id"], request["repeat"]))
            return measure(request)

        worker.measure = counted
        return worker

    return make


def run(tmp_path, events, opts=None, **kwargs):
    make = kwargs.pop("make", None) or in_process(events)
    return bench.run(opts or options(), tmp_path, make, sampler=kwargs.pop("sampler", quiet_sampler()),
                     progress=False, say=kwargs.pop("say", None), **kwargs)


def test_repeats_are_interleaved_across_backends_in_abba_order(scripted, tmp_path):
    events: list = []
    run(tmp_path, events, options(sweeps=[["model.hidden_size", [2, 4]]]))
    order = [e[1:] for e in events if e[0] == "measure"]
    # forward in even rounds, backward in odd ones: no backend always follows the same other one
    expected = [(b, p, r) for p in ("synthetic-smoke+hidden_size=2", "synthetic-smoke+hidden_size=4")
                for r in range(3) for b in (("a", "b", "c") if r % 2 == 0 else ("c", "b", "a"))]
    assert order == expected


def test_warmup_and_first_step_are_outside_the_timed_span_and_every_clock_read_follows_a_sync(
        scripted, tmp_path):
    events: list = []
    _, recs = run(tmp_path, events, options(backends=["a"], repeats=2, steps=4, warmup=3))
    assert all(events[i - 1] == "sync" for i, e in enumerate(events) if e == "clock")
    rec = recs[0]
    # exactly `steps` scripted steps between the clock reads: warm-up and the first step excluded
    assert [r["train_s"] for r in rec["repeats"]] == [4 * STEP_S, 4 * STEP_S]
    assert [r["infer_s"] for r in rec["repeats"]] == [4 * PREDICT_S, 4 * PREDICT_S]
    assert rec["first_step_s"] == STEP_S and rec["first_predict_s"] == PREDICT_S
    train = rec["train"]["samples_per_s"]
    assert train["median"] == pytest.approx(4 * 8 / (4 * STEP_S)) and train["n"] == 2
    assert train["values"] == [train["median"]] * 2 and train["spread"] == 0.0
    assert rec["inference"]["samples_per_s"]["median"] == pytest.approx(4 * 16 / (4 * PREDICT_S))
    assert rec["train"]["tokens_per_s"]["median"] == pytest.approx(train["median"] * 3)  # seq_len 3
    # one build per point: 1 first step + 3 warm-up + 4 timed, then 3 + 4 for the second repeat
    assert sum(1 for e in events if e == ("train", "a")) == 1 + 3 + 4 + 3 + 4


def test_records_parse_and_say_what_ran(scripted, tmp_path):
    events: list = []
    folder, _ = run(tmp_path, events, options(backends=["a", "b"]))
    files = sorted(p.name for p in folder.glob("*.json"))
    assert files == ["bench.json", "synthetic-smoke--a.json", "synthetic-smoke--b.json"]
    rec = json.loads((folder / "synthetic-smoke--a.json").read_text())
    assert rec["schema"] == records.BENCH and rec["status"] == "ok" and rec["busy"] is False
    assert rec["point"]["inputs"] == bench_plan.SYNTHETIC
    assert rec["point"]["train_batch"] == 8 and rec["point"]["infer_batch"] == 16
    assert rec["protocol"]["interleaved"] == ["a", "b"] and rec["protocol"]["synchronised"] is True
    env = rec["environment"]
    assert env["backend"]["kernel_path"] == "none" and env["threads"]["usable_cores"] >= 1
    assert env["flush_to_zero"] is True and "machine" in env
    assert json.loads((folder / "bench.json").read_text())["status"] == "finished"


def test_a_busy_machine_is_flagged_on_screen_and_in_the_records(scripted, tmp_path):
    events, said = [], []
    _, recs = run(tmp_path, events, options(backends=["a"]), sampler=quiet_sampler(others_cores=0.9),
                  say=said.append)
    assert said and "the machine is busy: other processes use 0.90 cores" in said[0]
    assert recs[0]["busy"] is True and all(r["load"]["busy"] for r in recs[0]["repeats"])
    events = []
    _, recs = run(tmp_path / "q", events, options(backends=["a"]), sampler=quiet_sampler(0.1))
    assert recs[0]["busy"] is False


def test_others_cpu_excludes_the_bench_itself():
    a = quiet.Sample(0.0, busy_s=10.0, own_s=5.0, steal_s=0.0, loadavg=(2.0, 2.0, 2.0))
    b = quiet.Sample(2.0, busy_s=14.0, own_s=8.8, steal_s=0.0, loadavg=(2.0, 2.0, 2.0))
    load = quiet.others(a, b)  # 4 busy core-seconds in 2 s, 3.8 of them the bench's own
    assert load["others_cores"] == pytest.approx(0.1) and load["busy"] is False
    assert quiet.others(a, quiet.Sample(2.0, 15.0, 8.0, 0.0, (1, 1, 1)))["busy"] is True


def test_a_point_a_backend_cannot_run_is_recorded_failed_and_the_bench_goes_on(scripted, tmp_path):
    events, said = [], []
    _, recs = run(tmp_path, events, make=in_process(events, fail={"b": "no such kernel"}), say=said.append)
    by = {r["backend"]: r for r in recs}
    assert by["b"]["status"] == "failed" and "RuntimeError: no such kernel" in by["b"]["error"]
    assert by["a"]["status"] == by["c"]["status"] == "ok" and len(by["c"]["repeats"]) == 3
    assert sum(1 for e in events if e[:2] == ("measure", "b")) == 1  # not retried every repeat
    assert any("failed: RuntimeError: no such kernel; the bench goes on" in s for s in said)


def test_interrupted_bench_keeps_finished_repeats_and_resume_runs_each_once(scripted, tmp_path):
    events: list = []
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, events, make=in_process(events, interrupt_after=4))
    folder = next(tmp_path.glob("bench-*"))
    kept = json.loads((folder / "synthetic-smoke--a.json").read_text())
    # four measurements in ABBA order: a b c of round 0, then c of round 1
    assert kept["status"] == "partial" and [r["repeat"] for r in kept["repeats"]] == [0]
    first = kept["repeats"][0]["train_samples_per_s"]
    events2: list = []
    folder2, recs = run(tmp_path, events2, resume=True)
    assert folder2 == folder
    measured = [e[1:] for e in events2 if e[0] == "measure"]
    assert measured[0] == ("b", "synthetic-smoke", 1) and len(measured) == 9 - 4
    assert all(r["status"] == "ok" and [x["repeat"] for x in r["repeats"]] == [0, 1, 2] for r in recs)
    assert recs[0]["repeats"][0]["train_samples_per_s"] == first
    with pytest.raises(UserError, match="no unfinished bench"):
        run(tmp_path, [], resume=True)


def test_resume_with_other_options_is_refused(scripted, tmp_path):
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, [], make=in_process([], interrupt_after=1))
    with pytest.raises(UserError, match=r"started with other options \(repeats=3\)"):
        run(tmp_path, [], options(repeats=5), resume=True)


def test_sweep_fields_are_parsed_by_type_and_checked():
    axes = bench_plan.parse_sweeps(["batch_size=16,64", "hidden_size=128,256,512", "cell=gru,lstm",
                                    "seq_len=50"])
    assert axes == [("recipe.batch_size", [16, 64]), ("model.hidden_size", [128, 256, 512]),
                    ("model.cell", ["gru", "lstm"]), ("shape.seq_len", [50])]
    with pytest.raises(UserError, match="unknown field 'hidden'; choose one of: .*hidden_size.*seq_len"):
        bench_plan.parse_sweeps(["hidden=1,2"])
    with pytest.raises(UserError, match=r"model.hidden_size='big': expected int"):
        bench_plan.parse_sweeps(["hidden_size=big"])
    with pytest.raises(UserError, match="model.cell='transformer': choose one of rnn, gru, lstm"):
        bench_plan.parse_sweeps(["cell=transformer"])
    with pytest.raises(UserError, match="write FIELD=V1,V2"):
        bench_plan.parse_sweeps(["batch_size"])


def test_grid_over_the_cap_is_refused_before_anything_runs():
    axes = bench_plan.parse_sweeps(["batch_size=" + ",".join(map(str, range(1, 21))),
                                    "hidden_size=" + ",".join(map(str, range(1, 12)))])
    with pytest.raises(UserError, match="the sweep makes 220 points, more than 200"):
        bench_plan.plan(["imdb"], "full", axes)


def test_imdb_points_have_the_tasks_real_shapes():
    points = bench_plan.plan(["imdb"], "full", bench_plan.parse_sweeps(["batch_size=16,256"]))
    shapes = [bench_plan.resolve(p) for p in points]
    assert [(s.train_batch, s.infer_batch, s.seq_len) for s in shapes] == [(16, 16, 200), (256, 256, 200)]
    plain = bench_plan.resolve(bench_plan.Point("imdb", "full"))
    assert (plain.train_batch, plain.infer_batch, plain.seq_len) == (64, 500, 200)
    x, y = bench_plan.synthetic_batches(plain, 64, 1)[0]
    assert x.shape == (64, 200) and x.max() < 1000 and set(y.tolist()) <= {0.0, 1.0}
    with pytest.raises(UserError, match="hidden_size=0: give a positive number"):
        bench_plan.resolve(bench_plan.Point("imdb", "full", {"model.hidden_size": 0}))


def test_min_time_times_enough_steps_to_fill_it_and_never_fewer_than_steps(scripted, tmp_path):
    events: list = []
    # STEP_S per training step: 5 s need ceil(5 / STEP_S) steps; inference is calibrated the same way
    _, recs = run(tmp_path, events, options(backends=["a"], repeats=1, steps=4, warmup=0, min_time=5.0))
    rec = recs[0]
    want_train, want_infer = math.ceil(5.0 / STEP_S), math.ceil(5.0 / PREDICT_S)
    assert want_train > 4 and want_infer > 4
    r = rec["repeats"][0]
    assert (r["train_steps"], r["infer_steps"]) == (want_train, want_infer)
    assert r["train_s"] == pytest.approx(want_train * STEP_S) and r["train_s"] >= 5.0
    assert r["infer_s"] == pytest.approx(want_infer * PREDICT_S) and r["infer_s"] >= 5.0
    assert all(events[i - 1] == "sync" for i, e in enumerate(events) if e == "clock")
    assert rec["protocol"]["min_time_s"] == 5.0
    # the rate is still steps / timed seconds: the calibration span is not part of the figure
    assert rec["train"]["samples_per_s"]["median"] == pytest.approx(8 / STEP_S)
    # a min_time shorter than `steps` take: exactly `steps`
    _, recs = run(tmp_path / "short", [], options(backends=["a"], repeats=1, steps=4, warmup=0,
                                                  min_time=STEP_S))
    assert recs[0]["repeats"][0]["train_steps"] == 4


def test_calibration_doubles_until_a_tenth_of_min_time_and_survives_a_clock_that_does_not_move():
    from harness.bench.worker import calibrate

    spans: list[int] = []

    class Watch:
        def __init__(self, per_step):
            self.per_step, self.seconds = per_step, 0.0

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.seconds = spans[-1] * self.per_step

    assert calibrate(spans.append, lambda: Watch(0.01), steps=5, min_time=2.0) == 200
    assert spans == [1, 2, 4, 8, 16, 32]  # 32 steps = 0.32 s >= 0.2 s, a tenth of 2 s
    spans.clear()
    assert calibrate(spans.append, lambda: Watch(0.0), steps=5, min_time=2.0) == 5
    assert calibrate(spans.append, lambda: Watch(1.0), steps=5, min_time=0.0) == 5


def test_spans_that_fall_short_of_min_time_are_followed_by_more_of_their_size_up_to_a_cap():
    from harness.bench.worker import MAX_CHUNKS, timed_spans

    ran: list[tuple[int, int]] = []

    class Watch:  # 0.01 s a step, whatever the calibration thought
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.seconds = ran[-1][0] * 0.01

    def run(k, at):
        ran.append((k, at))

    assert timed_spans(run, Watch, 10, 0.0) == [(2, pytest.approx(0.02))] * 5
    ran.clear()
    spans = timed_spans(run, Watch, 10, 0.25)  # five spans are 0.1 s: eight more reach 0.26 s
    assert len(spans) == 13 and sum(s for _, s in spans) >= 0.25
    assert [at for _, at in ran] == list(range(0, 26, 2))  # the batches go on where the last span ended
    ran.clear()
    assert len(timed_spans(run, Watch, 10, 100.0)) == MAX_CHUNKS


def test_a_repeat_is_the_median_of_its_synchronised_chunks():
    from harness.bench.worker import chunk_rate, chunks

    assert [len(c) for c in chunks(30)] == [6] * 5 and [len(c) for c in chunks(3)] == [1, 1, 1]
    assert sum(len(c) for c in chunks(17)) == 17
    # one chunk hit by a hiccup (three times slower) does not move the repeat's figure
    assert chunk_rate([(6, 1.0), (6, 1.0), (6, 3.0), (6, 1.0), (6, 1.0)]) == pytest.approx(6.0)
    assert chunk_rate([(2, 1.0), (2, 2.0)]) == pytest.approx(1.5)


def test_fresh_workers_start_one_worker_per_repeat_and_keep_each_builds_timings(scripted, tmp_path):
    events: list = []
    made: list = []
    inner = in_process(events)

    def make(backend, folder):
        made.append(backend)
        return inner(backend, folder)

    _, recs = run(tmp_path, events, options(backends=["a", "b"], repeats=3, fresh_workers=True), make=make)
    assert made == ["a", "b", "b", "a", "a", "b"]  # a new worker (a new process layout) every repeat
    rec = recs[0]
    assert rec["protocol"]["fresh_worker_per_repeat"] is True and rec["train"]["samples_per_s"]["n"] == 3
    assert [r["first_step_s"] for r in rec["repeats"]] == [STEP_S] * 3  # every repeat built its model
    assert rec["first_step_s"] == STEP_S and all("layout_pad" in r for r in rec["repeats"])
    # a worker per backend for all repeats where fresh workers are off (--reuse-workers)
    made.clear()
    _, recs = run(tmp_path / "reuse", [], options(backends=["a", "b"], repeats=3), make=make)
    assert made == ["a", "b"] and recs[0]["protocol"]["fresh_worker_per_repeat"] is False
    assert "first_step_s" in recs[0]["repeats"][0] and "first_step_s" not in recs[0]["repeats"][1]


def test_a_process_worker_gets_a_random_layout_padding_in_its_environment(scripted, monkeypatch, tmp_path):
    import random

    from harness import launcher
    from harness.bench import layout
    from harness.bench import worker as bench_worker

    lengths = {len(layout.environ(random.Random(seed))[layout.VAR]) for seed in range(50)}
    assert min(lengths) >= 0 and max(lengths) < layout.MAX_PAD and len(lengths) > 40
    seen: list[dict] = []

    class FakeProcess:
        def __init__(self, cmd, env, **kwargs):
            seen.append(env)
            self.pid, self.stdout = 1, iter([bench_worker.REPLY + json.dumps({"ok": True, "ready": True})])

    monkeypatch.setattr(launcher, "start_piped",
                        lambda python, argv, env, stderr, **kw: FakeProcess(argv, env))
    monkeypatch.setattr(launcher, "env_python", lambda info: "python")
    monkeypatch.setenv(layout.VAR, "inherited")
    opts = options(threads=2)
    for randomise in (True, False):
        bench.ProcessWorker("torch", opts, tmp_path / "w.log", randomise_layout=randomise)
    assert layout.VAR in seen[0] and set(seen[0][layout.VAR]) <= {"x"}
    assert layout.VAR not in seen[1]  # no padding, not even an inherited one
    assert seen[0]["OMP_NUM_THREADS"] == "2"


def test_after_the_rounds_each_framework_times_its_matrix_products_once(scripted, tmp_path, monkeypatch):
    """Rows of one library (here two scripted rows, NumPy's) share one GEMM worker; its record is a peak
    document with the square product and the point's own shapes, and the report shows it."""
    from harness.bench import gemm
    from harness.bench import report as bench_report

    monkeypatch.setattr(gemm, "SQUARE", {"cpu": 256})  # the real 2048 takes a second a product here
    events: list = []
    said: list = []
    folder, recs = run(tmp_path, events, options(backends=["a", "b"], repeats=1, gemm=True), say=said.append)
    found = json.loads((folder / "peak-numpy.json").read_text())
    assert found["schema"] == records.PEAK and found["row"] == "a" and found["device"] == "cpu"
    point = recs[0]["point"]
    model = point["model"]
    own = gemm.shapes(point, bench_report.peak.GATES)
    expected = [(256, 256, 256)] + [(s["m"], s["k"], s["n"]) for s in own]
    assert [(s["m"], s["k"], s["n"]) for s in found["shapes"]] == expected
    assert expected[1] == (point["train_batch"] * point["seq_len"],
                           model["embed_dim"] if model["input"] == "embedding" else model["vocab_size"],
                           bench_report.peak.GATES[model["cell"]][0] * model["hidden_size"])
    assert all(s["tflops"] > 0 for s in found["shapes"])
    assert found["tflops"] == {"fp32_numpy": found["shapes"][0]["tflops"]}
    assert any(line.startswith("rnnbench: GEMM numpy: ") for line in said)
    assert json.loads((folder / "bench.json").read_text())["status"] == "finished"
    speed = bench_report.build(tmp_path, tmp_path / "report")
    rates = speed.gemm[0]
    assert list(rates["product"]) == ["square", *[s["what"] for s in found["shapes"][1:]]]
    assert rates.iloc[0][f"numpy {found['by']['numpy']}"].endswith("(100%)")


def test_backend_rows_map_to_the_library_their_products_run_through():
    from harness.bench import gemm

    assert [gemm.library(r) for r in ("keras", "keras-jax", "keras-torch-reference", "keras@new",
                                      "torch~slow10", "mxnet", "scripted")] == [
        "tensorflow", "jax", "torch", "tensorflow", "torch", "mxnet", "numpy"]
    imdb = {"id": "imdb-full", "train_batch": 64, "seq_len": 200,
            "model": {"cell": "gru", "hidden_size": 100, "embed_dim": 50, "input": "embedding",
                      "num_layers": 2}}
    gates = {"gru": (3, 3), "mingru": (2, 0)}
    assert [(s["m"], s["k"], s["n"]) for s in gemm.shapes(imdb, gates)] == [
        (12800, 50, 300), (64, 100, 300), (12800, 100, 300)]
    scan = {**imdb, "model": {**imdb["model"], "cell": "mingru", "num_layers": 1}}
    # a scan cell has no recurrent product
    assert [(s["m"], s["k"], s["n"]) for s in gemm.shapes(scan, gates)] == [(12800, 50, 200)]
