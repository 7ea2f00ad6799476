"""The training loop, records and failure handling, with a scripted NumPy backend and a synthetic task."""

from __future__ import annotations

import json

import numpy as np
import pytest

import backends
import tasks
from backends.base import Adapter, BackendInfo
from harness import cli, runner
from harness.errors import Diverged
from tasks.base import Dataset, Scale, Split, Target, Task
from tasks.spec import Dense, ModelSpec, Recipe


class ScriptedAdapter(Adapter):
    """Predicts the label (x[:, 0] >= 5) correctly once it has taken ``learn_at`` steps, and forgets it
    after ``forget_at``; its "weights" are its step count, so checkpoints are observable."""

    framework = "scripted"
    learn_at, forget_at, nan_at = 4, 10**9, None

    def build(self, spec: ModelSpec, recipe: Recipe, seed: int) -> None:
        self.steps, self.lr = 0, None

    def set_weights(self, weights):
        self.steps = int(weights.get("steps", 0))

    def get_weights(self):
        return {"steps": np.array(self.steps)}

    def train_step(self, x, y):
        self.steps += 1
        return float("nan") if self.steps == self.nan_at else 1.0 / self.steps

    def losses(self, handles):
        return np.asarray(handles, dtype=np.float32)

    def predict(self, x):
        sign = 1.0 if self.learn_at <= self.steps < self.forget_at else -1.0
        return (sign * (x[:, :1] - 4.5)).astype(np.float32)

    def set_lr(self, lr):
        self.lr = lr

    def synchronize(self):
        pass

    def describe(self):
        return {"framework": "scripted", "versions": {"scripted": "1"}, "device": "cpu",
                "device_name": "cpu", "kernel_path": "none", "precision": self.precision, "threads": 1}


def _split(rng, n):
    x = rng.integers(0, 10, size=(n, 3)).astype(np.int32)
    return Split(x, (x[:, 0] >= 5).astype(np.int32))


def _synthetic_task(epochs=3):
    spec = ModelSpec(cell="rnn", vocab_size=10, embed_dim=2, hidden_size=2, head=(Dense(1),),
                     loss="binary_crossentropy")
    rng = np.random.default_rng(0)
    data = Dataset(_split(rng, 40), _split(rng, 20), _split(rng, 30), {"source": "synthetic"})
    scale = Scale("smoke", "synthetic", spec, Recipe(batch_size=8, epochs=epochs, eval_batch_size=16))
    return Task(name="synthetic", description="", scales={"smoke": scale}, load=lambda *a: data,
                metric="accuracy", target=Target("accuracy", 0.9), default_scale="smoke")


@pytest.fixture
def scripted(monkeypatch):
    task = _synthetic_task()
    info = BackendInfo("scripted", "unused:Unused", (), "core", "test double")
    monkeypatch.setattr(tasks, "get", lambda name: task)
    monkeypatch.setattr(backends, "get", lambda name: info)
    monkeypatch.setattr(backends, "create", lambda info, *args: ScriptedAdapter(*args))
    monkeypatch.setattr(tasks, "names", lambda: ["synthetic"])
    monkeypatch.setattr(backends, "names", lambda: ["scripted"])
    yield ScriptedAdapter
    ScriptedAdapter.learn_at, ScriptedAdapter.forget_at, ScriptedAdapter.nan_at = 4, 10**9, None


def test_run_writes_a_complete_record(scripted, tmp_path):
    record, path = runner.run(runner.RunOptions("synthetic", "scripted", out=str(tmp_path), progress=False))
    on_disk = json.loads(path.read_text())
    assert on_disk["status"] == "ok" and on_disk["run_id"] == path.stem
    assert on_disk["metrics"]["test_accuracy"] == 1.0 and on_disk["metrics"]["target_reached"] is True
    assert [c["epoch"] for c in on_disk["curves"]] == [1, 2, 3]
    assert on_disk["curves"][0]["val_accuracy"] == 1.0  # 5 steps per epoch: learnt during epoch 1
    assert on_disk["timings"]["time_to_target_s"] <= on_disk["curves"][0]["wall_s"]
    assert on_disk["throughput"]["train_samples_per_s_epochs"]["n"] == 3
    assert on_disk["throughput"]["train_samples_per_s"] > 0 and on_disk["throughput"]["seq_len"] == 3
    assert on_disk["config"]["splits"] == {"train": 40, "val": 20, "test": 30}
    assert on_disk["environment"]["backend"]["framework"] == "scripted"


def test_test_metric_comes_from_the_best_validation_checkpoint(scripted, tmp_path):
    scripted.learn_at, scripted.forget_at = 4, 8  # right after epoch 1 (5 steps), wrong after epoch 2
    record, _ = runner.run(runner.RunOptions("synthetic", "scripted", out=str(tmp_path), progress=False))
    m = record["metrics"]
    assert m["best_epoch"] == 1 and m["test_accuracy"] == 1.0
    assert m["test_accuracy_final"] < 0.5


def test_diverged_run_keeps_its_record(scripted, tmp_path):
    scripted.nan_at = 7
    with pytest.raises(Diverged, match="training loss became nan in epoch 2"):
        runner.run(runner.RunOptions("synthetic", "scripted", out=str(tmp_path), progress=False))
    (path,) = tmp_path.glob("*.json")
    saved = json.loads(path.read_text())
    assert saved["status"] == "diverged" and "diverged" in saved["error"]
    assert len(saved["curves"]) == 1  # the finished epoch is kept


def test_cli_reports_divergence_in_one_line(scripted, tmp_path, capsys):
    scripted.nan_at = 2
    code = cli.main(["run", "--task", "synthetic", "--backend", "scripted", "--out", str(tmp_path),
                     "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 3 and len(err) == 1 and err[0].startswith("python -m harness: error: the training loss")


def test_epochs_override_and_bad_epochs(scripted, tmp_path):
    record, _ = runner.run(runner.RunOptions("synthetic", "scripted", epochs=1, out=str(tmp_path),
                                             progress=False))
    assert len(record["curves"]) == 1 and record["config"]["options"]["epochs"] == 1
    with pytest.raises(runner.UserError, match="--epochs 0"):
        runner.run(runner.RunOptions("synthetic", "scripted", epochs=0, out=str(tmp_path)))
