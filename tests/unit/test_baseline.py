"""Speed regression tracking on synthetic records: a planted 30% slowdown fails, an unchanged rerun passes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from harness import cli, records
from harness.baseline import baselines as baseline
from harness.errors import UserError
from tests.fakes import make_record

BASE_DAY, NEW_DAY = "2026-01-01T00:00:00+00:00", "2026-02-01T00:00:00+00:00"


def write_runs(folder, rates, started, machine="m1", backends=("torch", "keras")):
    """One record per (backend, seed) with training throughput ``rates[seed]`` (inference 5x that)."""
    for backend in backends:
        for seed, rate in enumerate(rates):
            r = make_record(backend=backend, seed=seed, train=rate, evaluate=5 * rate, started=started,
                            machine=machine)
            records.write_atomic(folder / f"{r['run_id']}.json", r)


@pytest.fixture
def saved(tmp_path):
    runs = tmp_path / "runs"
    write_runs(runs, [1000, 1040, 980], BASE_DAY)  # 6% spread across three repeats
    file = tmp_path / "base.json"
    message = baseline.save(str(runs), str(file))
    assert "throughput of 2 combinations (task/scale/backend/device/precision) of machine m1" in message
    return runs, file


def test_baseline_holds_median_and_spread_per_figure(saved):
    _, file = saved
    data = json.loads(file.read_text())
    assert data["machine"] == "m1" and data["schema"] == records.BASELINE
    fig = data["figures"]["imdb/smoke/torch/cpu/fp32"]["train_samples_per_s"]
    assert (fig["median"], fig["min"], fig["max"], fig["n"]) == (1000, 980, 1040, 3)
    assert fig["noise"] == pytest.approx(0.06)


def test_a_planted_30_percent_slowdown_is_flagged(saved, capsys):
    runs, file = saved
    write_runs(runs, [700, 728, 686], NEW_DAY, backends=("torch",))  # torch 30% slower, keras unchanged
    write_runs(runs, [1010, 990, 1030], NEW_DAY, backends=("keras",))
    text, code = baseline.compare(str(file), str(runs))
    assert code == 1
    lines = {tuple(c.strip() for c in ln.split("│")[1:3]): ln for ln in text.splitlines() if "│" in ln}
    assert "SLOWER" in lines[("imdb/smoke/torch/cpu/fp32", "train_samples_per_s")]
    assert "0.700 [" in lines[("imdb/smoke/torch/cpu/fp32", "train_samples_per_s")]
    assert "SLOWER" in lines[("imdb/smoke/torch/cpu/fp32", "eval_samples_per_s")]
    # keras: 1000 [980-1040] then 1010 [990-1030], three repeats a side: the interval is too wide to say
    assert "inconclusive" in lines[("imdb/smoke/keras/cpu/fp32", "train_samples_per_s")]
    assert "2 figure(s) slower" in text
    assert cli.main(["compare", "--baseline", str(file), "--runs", str(runs)]) == 1


def test_an_unchanged_rerun_passes(saved):
    runs, file = saved
    write_runs(runs, [960, 1050, 1000], NEW_DAY)  # the same figures, within the measured noise
    text, code = baseline.compare(str(file), str(runs))
    assert code == 0 and "SLOWER" not in text and "no figure shown slower" in text
    assert cli.main(["compare", "--baseline", str(file), "--runs", str(runs)]) == 0


def test_the_unpaired_test_replaces_the_tolerance_rule():
    """A 20% slowdown inside a 37% spread (keras in the IMDB bench): the old max(10%, spread) rule passed
    it; nine repeats a side show it."""
    rng = np.random.default_rng(4)
    values = list(1000 * np.exp(rng.normal(0, 0.10, 9)))
    base = {"median": float(np.median(values)), "values": values}
    slow = [0.8 * v for v in 1000 * np.exp(rng.normal(0, 0.10, 9))]
    found = baseline.judge(base, {"values": slow}, 0.05)
    assert found.verdict == "slower" and found.high < 1
    assert 0.05 < found.detectable < 0.15  # what nine repeats at 10% noise can see
    assert baseline.judge({"values": [1000.0]}, {"values": slow}, 0.05).verdict == "inconclusive"
    assert baseline.judge({}, {"values": slow}, 0.05) is None


def test_figures_too_few_to_detect_a_large_slowdown_are_called_out(tmp_path):
    runs = tmp_path / "runs"
    write_runs(runs, [500, 1000], BASE_DAY, backends=("torch",))
    baseline.save(str(runs), str(tmp_path / "b.json"))
    text, code = baseline.compare(str(tmp_path / "b.json"), str(runs))
    assert code == 0 and "2 figure(s) cannot detect a 30% slowdown" in text
    # one run a side: no interval, and the row says why
    single = tmp_path / "single"
    write_runs(single, [1000], BASE_DAY, backends=("torch",))
    baseline.save(str(single), str(tmp_path / "s.json"))
    text, _ = baseline.compare(str(tmp_path / "s.json"), str(single))
    assert "inconclusive (one repeat on a side: no interval)" in text


def test_a_single_run_uses_its_own_epoch_spread_as_noise(tmp_path):
    runs = tmp_path / "runs"
    r = make_record(train=1000, spread=0.25)
    records.write_atomic(runs / f"{r['run_id']}.json", r)
    baseline.save(str(runs), str(tmp_path / "b.json"))
    fig = json.loads((tmp_path / "b.json").read_text())["figures"]["imdb/smoke/torch/cpu/fp32"]
    assert fig["train_samples_per_s"]["n"] == 1 and fig["train_samples_per_s"]["noise"] == pytest.approx(0.25)


def test_compare_refuses_another_machine_in_one_line(saved, capsys):
    runs, file = saved
    write_runs(runs, [1000], NEW_DAY, machine="m2")
    with pytest.raises(UserError, match="measured on machine m1 .* on machine m2 .*not compared"):
        baseline.compare(str(file), str(runs))
    assert cli.main(["compare", "--baseline", str(file), "--runs", str(runs)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("python -m harness: error: baseline")


@pytest.mark.parametrize("argv,message", [
    (["compare", "--baseline", "{tmp}/nope.json"], "baseline {tmp}/nope.json not found"),
    (["compare", "--baseline", "{tmp}/runs/matrix.json"], "is not an rnnbench baseline"),
    (["compare", "--baseline", "{tmp}/base.json", "--margin", "1.5"], "--margin 1.5: give a fraction"),
    (["baseline", "save", "--runs", "{tmp}/empty"], "no result records with a machine fingerprint"),
])
def test_baseline_errors_are_one_line(tmp_path, capsys, argv, message):
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "matrix.json").write_text('{"schema": "rnnbench.matrix/1"}')
    base = {"schema": records.BASELINE, "machine": "m1", "figures": {}}
    (tmp_path / "base.json").write_text(json.dumps(base))
    code = cli.main([a.format(tmp=tmp_path) for a in argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message.format(tmp=tmp_path) in err[0]


def test_default_baseline_file_is_named_after_the_machine(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_runs(tmp_path / "results" / "runs", [1000], BASE_DAY)
    assert cli.main(["baseline", "save"]) == 0
    assert (tmp_path / "results" / "baselines" / "m1.json").is_file()
