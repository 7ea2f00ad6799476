import json
import os
import platform

import numpy as np
import pytest

from harness import records
from harness.common import ftz


def record(**kw):
    base = {"schema": records.RUN, "run_id": "r", "task": "imdb", "backend": "torch", "scale": "smoke",
            "seed": 0, "status": "ok", "config": {}, "metrics": {"test_accuracy": np.float32(0.5)},
            "throughput": {}, "timings": {}, "curves": [], "environment": {}}
    return {**base, **kw}


def test_write_atomic_round_trips_numpy_values(tmp_path):
    path = records.write_atomic(tmp_path / "a" / "run.json", record())
    loaded = records.load(path)
    assert loaded["metrics"]["test_accuracy"] == 0.5
    assert [p.name for p in path.parent.iterdir()] == ["run.json"]
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask  # shareable, not mkstemp's 0600


def test_failed_write_keeps_the_previous_file_and_leaves_no_temp(tmp_path):
    path = records.write_atomic(tmp_path / "run.json", record())
    with pytest.raises(TypeError):
        records.write_atomic(path, record(metrics={"bad": object()}))
    assert json.loads(path.read_text())["status"] == "ok"
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]


def test_validate_rejects_missing_keys_and_bad_status():
    bad = record()
    del bad["curves"]
    with pytest.raises(ValueError, match="lacks keys \\['curves'\\]"):
        records.validate(bad)
    with pytest.raises(ValueError, match="status 'great'"):
        records.validate(record(status="great"))


def test_load_all_skips_unparseable_files(tmp_path):
    records.write_atomic(tmp_path / "good.json", record())
    (tmp_path / "broken.json").write_text("{")
    assert [r["run_id"] for r in records.load_all(tmp_path)] == ["r"]


@pytest.mark.skipif(platform.machine() != "x86_64" or platform.system() != "Linux", reason="x86-64 Linux")
def test_flush_to_zero_sets_and_clears_the_mxcsr_bits():
    try:
        assert ftz.set_flush_to_zero(True), "fesetenv did not take FTZ+DAZ"
        assert ftz.enabled() is True and ftz.mxcsr() & (1 << 15 | 1 << 6) == (1 << 15 | 1 << 6)
        assert ftz.set_flush_to_zero(False), "fesetenv did not clear FTZ+DAZ"
        assert ftz.enabled() is False and ftz.mxcsr() & (1 << 15 | 1 << 6) == 0
    finally:
        ftz.set_flush_to_zero(False)


@pytest.mark.skipif(platform.machine() != "x86_64" or platform.system() != "Linux", reason="x86-64 Linux")
def test_flush_to_zero_flushes_float32_denormals_when_the_cpu_honours_it():
    tiny = np.array([1e-38], dtype=np.float32)  # below float32's smallest normal, 1.18e-38
    try:
        ftz.set_flush_to_zero(True)
        if not ftz.flushes():
            pytest.skip("this CPU or sandbox keeps denormals with MXCSR FTZ/DAZ set; records say so")
        assert (tiny / np.float32(100))[0] == 0.0
        ftz.set_flush_to_zero(False)
        assert not ftz.flushes()
        assert (tiny / np.float32(100))[0] > 0.0
    finally:
        ftz.set_flush_to_zero(False)
