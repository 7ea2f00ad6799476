"""Time per token against sequence length (harness.bench.lengths), from synthetic bench records."""

from __future__ import annotations

import pytest

from harness.bench import lengths
from harness.bench import report as bench_report
from tests.fakes import make_bench_record
from tests.unit.test_bench_report import write


def length_record(backend: str, cell: str, scan: str, seq_len: int, us_per_token: float,
                  bench_id: str = "bench-20260101T000000") -> dict:
    r = make_bench_record("tinyshakespeare-mingru", backend, bench_id=bench_id,
                          overrides={"model.scan": scan, "model.cell": cell, "shape.seq_len": seq_len})
    rate = 1e6 / us_per_token
    r["point"].update(cell=cell, seq_len=seq_len, model={**r["point"]["model"], "cell": cell, "scan": scan})
    r["train"]["tokens_per_s"] = {"median": rate, "min": rate * 0.9, "max": rate * 1.1}
    r["inference"]["tokens_per_s"] = {"median": 3 * rate, "min": 3 * rate, "max": 3 * rate}
    return r


def test_exponent_of_time_per_token_and_a_table_row_per_cell_mode_backend(tmp_path):
    recs = [length_record("jax", "mingru", "parallel", n, 2.0 * n ** 0.3) for n in (64, 256, 1024)]
    recs += [length_record("jax", "mingru", "sequential", n, 5.0) for n in (64, 256)]
    # the same cell from another bench (the long one) joins its line; a plain LSTM is the yardstick
    recs += [length_record("jax", "mingru", "parallel", 4096, 2.0 * 4096 ** 0.3, "bench-20260102T000000")]
    recs += [length_record("torch", "lstm", "parallel", n, 1.0) for n in (64, 1024)]
    recs.append(make_bench_record(backend="torch"))  # no length sweep: not in the table
    table = lengths.table(recs)
    assert list(table[["cell", "mode", "backend"]].itertuples(index=False, name=None)) == [
        ("mingru", "parallel", "jax"), ("mingru", "sequential", "jax"), ("lstm", "fused", "torch")]
    assert float(table.iloc[0]["k"]) == pytest.approx(0.3, abs=0.01)
    assert float(table.iloc[1]["k"]) == pytest.approx(0.0, abs=0.01)
    assert table.iloc[0]["T=4096"] == f"{2.0 * 4096 ** 0.3:,.1f}"
    assert table.iloc[1]["T=1024"] == ""  # not measured
    assert lengths.us_per_token(recs[0], "inference")[0] == pytest.approx(2.0 * 64 ** 0.3 / 3)


def test_the_report_shows_the_table_and_the_plot(tmp_path):
    write(tmp_path / "bench", *[length_record(b, c, m, n, 1.0 + n / 1000)
                                for b in ("jax", "torch") for c in ("mingru", "rglru")
                                for m in ("parallel", "sequential") for n in (64, 256)])
    speed = bench_report.build(tmp_path / "bench", tmp_path / "out")
    by_length, image = speed.lengths[0]
    assert len(by_length) == 8 and image.exists() and image.stat().st_size > 10_000
    text = speed.markdown("img")
    assert "Time per token against sequence length" in text and f"![{image.stem}](img/{image.name})" in text
    assert lengths.plot([make_bench_record()], tmp_path, "none") is None  # nothing to draw
