"""What the GPU paths need of the training loop, checked on a CPU with a fake adapter that records its
calls: the clock is read only after ``synchronize()`` (an asynchronous device has finished the work being
timed), the timed spans hold the training steps and their loss fetches, and the device's peak memory
reaches the record."""

from __future__ import annotations

import pytest

from harness import cli
from harness.common.timing import Stopwatch
from harness.run import runner
from tests.fakes import ScriptedAdapter


class RecordingAdapter(ScriptedAdapter):
    """The scripted adapter, logging every call in order; it "has" a device with a peak of memory."""

    events: list = []
    peak = 123_456_789

    def train_step(self, x, y):
        self.events.append("train")
        return super().train_step(x, y)

    def losses(self, handles):
        self.events.append("losses")
        return super().losses(handles)

    def synchronize(self):
        self.events.append("sync")

    def peak_device_memory(self):
        return self.peak


@pytest.fixture
def recording(scripted, monkeypatch):
    import backends

    RecordingAdapter.events = []
    monkeypatch.setattr(backends, "create", lambda info, *args: RecordingAdapter(*args))

    def clock():
        RecordingAdapter.events.append("clock")
        return float(len(RecordingAdapter.events))

    monkeypatch.setattr(runner, "Stopwatch", lambda adapter: Stopwatch(adapter, clock))
    return RecordingAdapter


def test_every_training_clock_read_follows_a_sync_and_spans_hold_the_steps(recording, tmp_path):
    record, _ = runner.run(runner.RunOptions("synthetic", "scripted", out=str(tmp_path), progress=False))
    events = recording.events
    reads = [i for i, e in enumerate(events) if e == "clock"]
    assert reads and len(reads) % 2 == 0
    assert all(events[i - 1] == "sync" for i in reads)  # synchronised before every read
    spans = [events[a:b] for a, b in zip(reads[::2], reads[1::2], strict=True)]
    # 40 rows in batches of 8: 5 steps an epoch, 3 epochs; the first step is timed alone (compilation)
    assert [s.count("train") for s in spans] == [1, 4, 5, 5]
    assert all(s.count("losses") >= 1 and s[-1] == "sync" for s in spans)  # losses fetched inside
    assert sum(e == "train" for e in events) == 15
    assert record["throughput"]["train_samples_per_s"] > 0


def test_the_devices_peak_memory_reaches_the_record(recording, tmp_path):
    record, path = runner.run(runner.RunOptions("synthetic", "scripted", out=str(tmp_path), progress=False))
    assert record["memory"]["peak_device_bytes"] == recording.peak
    assert record["memory"]["peak_host_bytes"] > 0
    assert '"peak_device_bytes": 123456789' in path.read_text()


def test_run_device_gpu_without_one_is_a_one_line_error(scripted, monkeypatch, tmp_path, capsys):
    import backends
    from backends.base import BackendError

    def no_gpu(info, device="auto", precision="fp32"):
        if device == "gpu":
            raise BackendError("--device gpu: the scripted backend sees no GPU; use --device cpu")
        return ScriptedAdapter(device, precision)

    monkeypatch.setattr(backends, "create", no_gpu)
    code = cli.main(["run", "--task", "synthetic", "--backend", "scripted", "--device", "gpu",
                     "--out", str(tmp_path), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("python -m harness: error: --device gpu: the scripted backend sees no GPU")
