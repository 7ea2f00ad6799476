"""The report's Speed section and regression tracking from bench records (synthetic records)."""

from __future__ import annotations

import json

import pytest

from harness import records
from harness.baseline import baselines as baseline
from harness.bench import report as bench_report
from harness.report import command as report_command
from harness.report import runs as report
from tests.fakes import make_bench_record


def write(folder, *recs):
    for r in recs:
        records.dump_atomic(folder / r["bench_id"] / f"{r['point']['id']}--{r['backend']}.json", r)


def test_headline_table_has_shape_rows_backend_columns_and_ratios(tmp_path):
    write(tmp_path / "bench", make_bench_record(backend="torch", train=1000),
          make_bench_record(backend="mxnet", train=1600, busy=True),
          make_bench_record(backend="jax", status="failed"))
    speed = bench_report.build(tmp_path / "bench", tmp_path / "out")
    train, infer = speed.tables[0]
    assert list(train.columns) == ["task shape", "torch", "jax", "mxnet"]  # the interleaving order
    row = train.iloc[0]
    assert row["task shape"] == "imdb/full: batch 64 (inference 500) x 200, 1xlstm 100, adam"
    # one bench: the ratio is paired round by round (the fake's rounds move together: a zero-width interval)
    assert row["torch"] == "1,000 [980-1,020] 0.62x [0.62-0.62] slower"
    assert row["mxnet"] == "1,600 [1,568-1,632] 1.00x (busy)"
    assert row["jax"].startswith("failed: RuntimeError: on purpose")
    assert infer.iloc[0]["torch"].startswith("4,000 [3,920-4,080] 1.00x")


def test_a_noisy_pair_shows_its_interval_and_an_inconclusive_verdict(tmp_path):
    torch = make_bench_record(backend="torch", train=1000)
    jax = make_bench_record(backend="jax", train=980)
    jax["repeats"] = [{**r, "train_samples_per_s": v} for r, v in
                      zip(jax["repeats"], (900, 1100, 950, 1050, 1000), strict=True)]
    write(tmp_path / "bench", torch, jax)
    row = bench_report.build(tmp_path / "bench", tmp_path / "out").tables[0][0].iloc[0]
    assert row["torch"] == "1,000 [980-1,020] 1.00x"
    assert row["jax"].startswith("980 [") and row["jax"].endswith("] inconclusive")
    assert "1.00x [0.9" in row["jax"]


def test_machines_never_share_a_table(tmp_path):
    write(tmp_path / "bench", make_bench_record(machine="m1"),
          make_bench_record(machine="m2", train=5, bench_id="bench-20260102T000000"))
    speed = bench_report.build(tmp_path / "bench", tmp_path / "out")
    assert len(speed.groups) == 2
    assert [t.iloc[0]["torch"].endswith("1.00x") for t, _ in speed.tables] == [True, True]


def test_sweep_plot_fits_the_scaling_exponent(tmp_path):
    recs = [make_bench_record(backend=b, train=100 * bs ** 0.5 * (2 if b == "jax" else 1),
                              overrides={"recipe.batch_size": bs, "model.hidden_size": h},
                              bench_id="bench-sweep")
            for b in ("torch", "jax") for bs in (16, 64, 256) for h in (128, 256)]
    write(tmp_path / "bench", *recs)
    speed = bench_report.build(tmp_path / "bench", tmp_path / "out")
    names = sorted(p.name for p in speed.images[0])
    assert names == ["sweep-imdb-batch_size-bench-sweep.png", "sweep-imdb-hidden_size-bench-sweep.png"]
    assert all((tmp_path / "out" / n).stat().st_size > 10_000 for n in names)
    sizes = [16, 64, 256]
    assert bench_report.exponent(sizes, [100 * b ** 0.5 for b in sizes]) == pytest.approx(0.5)
    assert bench_report.exponent([16], [1.0]) is None
    assert speed.tables[0] == (None, None)  # a sweep alone has no headline rows


def test_sweep_error_bars_are_the_min_max_of_the_repeats_and_the_legend_has_the_paired_ratio(tmp_path):
    recs = [make_bench_record(backend=b, train=100 * bs * (2 if b == "jax" else 1), infer=50 * bs,
                              overrides={"recipe.batch_size": bs}, bench_id="bench-sweep")
            for b in ("torch", "jax") for bs in (16, 64, 256)]
    odd = recs[1]  # torch at 64: repeats wider than its summary says; the bars come from the repeats
    odd["repeats"] = [{**r, "train_samples_per_s": v}
                      for r, v in zip(odd["repeats"], (5000, 6000, 6400, 7000, 9000), strict=True)]
    write(tmp_path / "bench", *recs)
    lines = bench_report.sweep_series(recs, "recipe.batch_size", "train", ["torch", "jax"], numeric=True)
    torch, jax = lines
    assert (torch.backend, torch.xs, jax.xs) == ("torch", [16, 64, 256], [16, 64, 256])
    assert torch.medians[1] == 6400 and (torch.lows[1], torch.highs[1]) == (5000, 9000)
    assert (jax.lows[2], jax.highs[2]) == (51200 * 0.98, 51200 * 1.02)  # spread 0.04: -2% to +2%
    assert torch.exponent == pytest.approx(1.0) and jax.exponent == pytest.approx(1.0)
    # both rows of one bench: torch against the fastest (jax) at the largest size, paired round by round
    assert torch.ratio == "0.50x [0.50-0.50] slower vs jax at 256" and jax.ratio is None
    infer = bench_report.sweep_series(recs, "recipe.batch_size", "inference", ["torch", "jax"], numeric=True)
    # equal rows: the first is the fastest, the other a tie within the margin
    assert (infer[0].ratio, infer[1].ratio) == (None, "1.00x [1.00-1.00] same vs torch at 256")
    speed = bench_report.build(tmp_path / "bench", tmp_path / "out")
    [png] = speed.images[0]
    assert png.name == "sweep-imdb-batch_size-bench-sweep.png" and png.read_bytes()[:4] == b"\x89PNG"


def test_report_has_a_speed_section_in_markdown_html_and_readme(tmp_path):
    write(tmp_path / "bench", make_bench_record(backend="torch"),
          make_bench_record(backend="keras", train=500))
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{report.START}\nold\n{report.END}\n")
    text = report_command.write(str(tmp_path / "runs"), str(tmp_path / "out"), str(readme),
                                str(tmp_path / "bench"))
    assert "## Speed (bench)" in text and "2 speed tables" in text
    md = readme.read_text()
    assert "| task shape" in md and "1,000 [980-1,020] 1.00x" in md and "500 [490-510] 0.50x" in md
    page = (tmp_path / "out" / "report.html").read_text()
    assert "<h2>Speed (bench)</h2>" in page and "1,000 [980-1,020] 1.00x" in page


def test_baseline_tracks_bench_figures(tmp_path):
    folder = tmp_path / "bench"
    write(folder, make_bench_record(backend="torch", train=1000, spread=0.04))
    file = tmp_path / "base.json"
    assert "1 combinations" in baseline.save(str(folder), str(file))
    saved = json.loads(file.read_text())["figures"]
    key = "bench:imdb-full/torch/cpu/fp32/t2"
    train = saved[key]["train_samples_per_s"]
    assert train["median"] == 1000 and train["noise"] == 0.04
    write(folder, make_bench_record(backend="torch", train=700, bench_id="bench-20260102T000000",
                                    started="2026-01-02T00:00:00+00:00"))
    text, code = baseline.compare(str(file), str(folder))
    assert code == 1 and "SLOWER" in text and "0.700" in text


def test_readme_shows_the_newest_machines_bench_alone(tmp_path):
    write(tmp_path / "bench", make_bench_record(machine="old-box", train=111),
          make_bench_record(machine="new-box", train=222, bench_id="bench-20260102T000000",
                            started="2026-01-02T00:00:00+00:00"))
    speed = bench_report.build(tmp_path / "bench", tmp_path / "out")
    short = speed.markdown(None, headline_only=True)
    assert "machine new-box" in short and "machine old-box" not in short
    assert "222 [" in short and "111 [" not in short
    assert "1 other machine(s) and precision(s) in the full report" in short
    full = speed.markdown(None)
    assert "machine new-box" in full and "machine old-box" in full


def test_ab_rows_stay_out_of_the_backend_tables_and_get_a_table_of_their_own(tmp_path):
    """A newer A/B bench (here of keras versions, with a row named plainly `torch` as a calibration bench
    has) must not take torch's column from the bench of six, nor make the README show a one-backend
    table; its comparisons are listed apart, with their verdicts."""
    six = [make_bench_record(backend=b, train=t) for b, t in (("torch", 1000), ("mxnet", 1500))]
    later = {"bench_id": "bench-20260103T000000", "started": "2026-01-03T00:00:00+00:00"}
    old = make_bench_record(backend="keras@old", train=900, **later)
    new = make_bench_record(backend="keras@new", train=720, **later)
    old["ab"] = {"name": "keras@old", "backend": "keras", "variant": "old", "asked": ["keras==3.14.1"],
                 "versus": None}
    new["ab"] = {"name": "keras@new", "backend": "keras", "variant": "new", "asked": ["keras==3.15.1"],
                 "versus": "keras@old"}
    calibration = make_bench_record(backend="torch", train=5, **later)
    calibration["ab"] = {"name": "torch", "backend": "torch", "calibration": True, "versus": None}
    one_thread = make_bench_record(backend="torch", train=700, bench_id="bench-20260104T000000",
                                   started="2026-01-04T00:00:00+00:00")
    one_thread["protocol"]["threads"] = 1
    write(tmp_path / "bench", *six, old, new, calibration, one_thread)
    speed = bench_report.build(tmp_path / "bench", tmp_path / "out")
    two_threads = speed.groups.index(next(g for g in speed.groups if g.threads == 2))
    train = speed.tables[two_threads][0]
    assert list(train.columns) == ["task shape", "torch", "mxnet"]
    assert train.iloc[0]["torch"].startswith("1,000 [980-1,020] 0.67x [0.67-0.67] slower")
    ab = speed.ab[two_threads]
    row = ab[ab["part"] == "train"].iloc[0]
    assert (row["A / B"], row["ratio [95%]"], row["verdict"]) == (
        "keras@new / keras@old", "0.80x [0.80-0.80]", "slower")
    assert row["what"] == "versions: keras==3.15.1 against keras==3.14.1"
    short = speed.markdown(None, headline_only=True)
    assert "1,500 [" in short and "700 [" not in short  # the bench of two backends, not the newer one of one
    assert "A/B benches" in speed.markdown(None) and "A/B benches" not in short


def test_a_row_takes_one_bench_the_newest_that_compares_backends(tmp_path):
    old = dict(bench_id="bench-20260101T000000", started="2026-01-01T00:00:00+00:00")
    new = dict(bench_id="bench-20260102T000000", started="2026-01-02T00:00:00+00:00")
    one = dict(bench_id="bench-20260103T000000", started="2026-01-03T00:00:00+00:00")
    write(tmp_path / "bench",
          make_bench_record(backend="torch", train=900, **old),
          make_bench_record(backend="torch-reference", train=2000, **old),
          make_bench_record(backend="torch", train=1000, **new),
          make_bench_record(backend="jax", train=1600, **new),
          make_bench_record(backend="jax", train=5000, **one))  # one backend alone: compares nothing
    train = bench_report.build(tmp_path / "bench", tmp_path / "out").tables[0][0]
    row = train.iloc[0]
    # the newer six-backend-style bench, not the older one's reference row nor the lone later bench
    assert "torch-reference" not in train.columns
    assert row["torch"] == "1,000 [980-1,020] 0.62x [0.62-0.62] slower"
    assert row["jax"] == "1,600 [1,568-1,632] 1.00x"
