"""The report from synthetic records: tables per machine and device, PNGs, a self-contained HTML page."""

from __future__ import annotations

import base64
import re

import matplotlib.image
import pytest

from harness import records
from harness.report import command as report_command
from tests.fakes import make_record

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def write(folder, record):
    return records.write_atomic(folder / f"{record['run_id']}.json", record)


@pytest.fixture
def runs(tmp_path):
    folder = tmp_path / "runs"
    later = "2026-01-02T00:00:00+00:00"
    for seed, (t, k) in enumerate([(1000, 800), (1100, 840)]):
        write(folder, make_record(backend="torch", seed=seed, train=t))
        write(folder, make_record(backend="keras", seed=seed, train=k, accuracy=0.82))
    write(folder, make_record(backend="torch", seed=0, train=1, started="2025-01-01T00:00:00+00:00"))  # older
    write(folder, make_record(backend="mxnet", seed=0, status="diverged"))
    write(folder, make_record(backend="jax", seed=0, status="failed", started=later,
                              environment__backend=None, config__param_count=None))  # fields missing
    write(folder, make_record(backend="torch", seed=0, train=9000, machine="m2", started=later))  # elsewhere
    write(folder, make_record(backend="torch", seed=0, train=20000, device="gpu"))  # the GPU of m1
    records.dump_atomic(folder / "matrix.json", {"schema": records.MATRIX, "options": {}, "runs": [
        {"key": "imdb/smoke/mxnet/s1", "status": "failed", "record": None,
         "error": "could not build tox environment 'mxnet'"}]})
    (folder / "junk.json").write_text("{not json")
    return folder


def test_report_writes_tables_pngs_and_self_contained_html(runs, tmp_path):
    out = tmp_path / "report"
    text = report_command.write(str(runs), str(out), None, include_smoke=True)
    md = (out / "report.md").read_text()
    assert md.count("### imdb / smoke, 2 epochs on") == 4  # m1 cpu (with jax: no device), m1 gpu, m2
    tables = md.split("### ")
    m1_cpu = next(t for t in tables if "CPU of m1 (2 cores), cpu" in t)
    rows = {line.split("|")[1].strip(): line for line in m1_cpu.splitlines() if line.startswith("| ")}
    assert set(rows) >= {"torch", "keras", "mxnet"}
    assert "1,050 [1,000-1,100]" in rows["torch"] and "2 ok" in rows["torch"]  # the older run is replaced
    assert "820 [800-840]" in rows["keras"] and "0.78x" in rows["keras"]  # relative to the fastest
    assert "DIVERGED" in rows["mxnet"] and "n/a" in rows["mxnet"]
    assert "9,000" not in m1_cpu and "20,000" not in m1_cpu  # other machine, other device: other tables
    assert "FAILED" in md and "jax" in md  # the record without environment is kept, as n/a
    assert "imdb/smoke/mxnet/s1: FAILED, no record: could not build tox environment 'mxnet'" in md
    # one bar chart: the m1 cpu table; the others have one row each, and a single bar compares nothing
    assert "report: overview of 0 configurations, 4 run tables, 0 speed tables, 5 PNG plots" in text

    pngs = sorted(out.glob("*.png"))
    bars = [p.name for p in pngs if p.name.startswith("throughput")]
    assert bars == ["throughput-imdb-smoke-e2-cpu-m1.png"]
    assert len(pngs) == 5 and {p.name.split("-")[0] for p in pngs} == {"throughput", "curves"}
    for png in pngs:
        assert png.read_bytes().startswith(PNG_MAGIC)
        assert matplotlib.image.imread(png).shape[0] > 100
    assert all(f"]({p.name})" in md for p in pngs)

    page = (out / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    embedded = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(embedded) == 5 and all(base64.b64decode(e).startswith(PNG_MAGIC) for e in embedded)
    assert "<td>keras</td>" in page and "src=\"throughput" not in page  # nothing outside the page


def test_smoke_comparisons_are_left_out_unless_asked_for(runs, tmp_path):
    text = report_command.write(str(runs), str(tmp_path / "report"), None)
    md = (tmp_path / "report" / "report.md").read_text()
    assert "### imdb / smoke" not in md and not list((tmp_path / "report").glob("*.png"))
    assert "Only smoke-scale records under" in md and "`report --include-smoke` shows them" in md
    assert "report: overview of 0 configurations, 0 run tables" in text


def test_empty_runs_folder_gives_a_note_not_a_crash(tmp_path):
    text = report_command.write(str(tmp_path / "none"), str(tmp_path / "report"), None)
    assert "No result records" in text and (tmp_path / "report" / "report.html").is_file()
