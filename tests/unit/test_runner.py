"""The training loop, records and failure handling, with a scripted NumPy backend and a synthetic task
(``tests/fakes.py``)."""

from __future__ import annotations

import json

import pytest

from harness import cli
from harness.errors import Diverged
from harness.run import runner


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
    assert on_disk["config"]["splits"] == {"train": 40, "val": 20, "test": 30, "held_out": True}
    assert (path.parent / on_disk["checkpoint"]).exists() and on_disk["checkpoint"].startswith("checkpoints/")
    assert on_disk["environment"]["backend"]["framework"] == "scripted"


def test_without_a_bar_each_epoch_is_one_line_for_the_log(scripted, tmp_path, capsys):
    record, _ = runner.run(runner.RunOptions("synthetic", "scripted", out=str(tmp_path), progress=False))
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("epoch ")]
    assert [line.split(":")[0] for line in lines] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    last = record["curves"][-1]
    assert f"train loss {last['train_loss']:.4f}, validation accuracy {last['val_accuracy']:.4f}" in lines[-1]
    assert "samples/s" in lines[-1] and lines[-1].endswith(" min")


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


def test_sampling_option_is_refused_for_tasks_without_a_stream_layout(scripted, tmp_path):
    with pytest.raises(runner.UserError, match=r"--sampling \(recipe.sampling\) applies to language-model"):
        runner.run(runner.RunOptions("synthetic", "scripted", sampling="consecutive", out=str(tmp_path),
                                     progress=False))
    with pytest.raises(runner.UserError, match="--sampling 'sideways'"):
        runner.run(runner.RunOptions("synthetic", "scripted", sampling="sideways", out=str(tmp_path)))


def test_final_checkpoint_holds_the_last_epochs_weights(scripted, tmp_path):
    import numpy as np

    record, path = runner.run(runner.RunOptions("synthetic", "scripted", out=str(tmp_path), progress=False))
    best = dict(np.load(path.parent / record["checkpoint"]))
    final = dict(np.load(path.parent / record["checkpoint_final"]))
    assert record["checkpoint_final"].endswith("-final.npz") and set(best) == set(final)
    assert record["metrics"]["best_epoch"] == 1 < len(record["curves"])  # learnt in epoch 1, trained on
    assert any(not np.array_equal(best[k], final[k]) for k in best)


def test_fixed_shape_adapters_get_partial_batches_padded_with_zero_weights():
    """XLA compiles one program per shape: a bucket's remainder is padded to the batch size, its padding
    weighted 0, so each length is one shape; throughput counts the real rows only."""
    import numpy as np

    from tasks.base import Split
    from tests.fakes import ScriptedAdapter, synthetic_task

    seen = []

    class FixedShapes(ScriptedAdapter):
        fixed_shapes = True

        def train_step(self, x, y, weight=None):
            seen.append((x.shape, None if weight is None else weight.tolist()))
            return super().train_step(x, y)

    task = synthetic_task(epochs=1)
    scale = task.scale("smoke")  # batch 8
    lengths = np.array([3] * 11 + [2] * 8, dtype=np.int32)  # 8 + 3 rows of length 3, 8 of length 2
    x = np.tile(np.arange(1, 4, dtype=np.int32), (19, 1))
    train = Split(x, (x[:, 0] >= 5).astype(np.int32), lengths)
    adapter = FixedShapes()
    adapter.build(scale.model, scale.recipe, 0)
    trainer = runner.Trainer(task, scale, adapter, seed=0, progress=False)
    trainer._epoch(0, train, runner.batches(train, 8, np.random.default_rng(0)), runner.tqdm(disable=True))
    assert sorted(shape for shape, _ in seen) == [(8, 2), (8, 3), (8, 3)]
    assert sorted(w for _, w in seen if w is not None) == [[1.0] * 3 + [0.0] * 5]
    assert trainer.padded_steps == 1
    assert trainer.steady_samples + 8 == 19 or trainer.steady_samples + 3 == 19  # the first step is apart
