"""Every task at smoke scale on every backend importable here, on the real data (or generated data
where the task has no files), with the figures each task promises in its record."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

import backends
import tasks
from harness import records
from harness.predict import inference
from harness.run import runner

IMPORTABLE = [name for name, info in backends.registry().items() if backends.importable(info)]
# Every task on every backend is the full suite's (`python -m harness test --full`). The default suite
# trains five-words (150 steps) on every backend, and every task on torch and mxnet, whose smoke runs take
# seconds; the other backends' task features are checked by their conformance tests
# (tests/conformance/test_extensions.py), and their IMDB training by test_smoke_training.py.
TRAINED = [name if name in ("torch", "mxnet") else pytest.param(name, marks=pytest.mark.full)
           for name in IMPORTABLE]

pytestmark = pytest.mark.skipif(not IMPORTABLE, reason="no backend framework installed here")

GENERATED = ("five-words", "arithmetic")  # no files: runs without the mirror


def smoke(task: str, backend: str, data_dir, cache, out, **kw) -> dict:
    record, path = runner.run(runner.RunOptions(
        task=task, backend=backend, scale="smoke", device="cpu", data_dir=str(data_dir) if data_dir else None,
        cache_dir=str(cache), out=str(out), progress=False, **kw))
    saved = records.load(path)
    assert saved["status"] == "ok", saved["error"]
    return saved


@pytest.mark.parametrize("backend", IMPORTABLE)
def test_five_words_reports_latency_and_letter_accuracies(backend, cache, tmp_path):
    rec = smoke("five-words", backend, None, cache, tmp_path)
    m, lat = rec["metrics"], rec["throughput"]["step_latency_ms"]
    assert 0 <= m["test_last_step_accuracy"] <= 1 and 0 <= m["test_token_accuracy"] <= 1
    assert m["test_loss"] < math.log(26)  # 3 epochs of 50 words learn something
    assert 0 < lat["median"] <= lat["p95"] and lat["n"] == 3 * 50 - 1  # every step but the first
    assert rec["config"]["splits"]["held_out"] is False


@pytest.mark.parametrize("backend", TRAINED)
def test_arithmetic_encoder_decoder_on_unseen_expressions(backend, cache, tmp_path):
    rec = smoke("arithmetic", backend, None, cache, tmp_path)
    assert 0 <= rec["metrics"]["test_sequence_accuracy"] <= rec["metrics"]["test_token_accuracy"] <= 1
    examples = rec["analysis"]["examples"]
    assert len(examples) == 10 and all(len(e["predicted"]) == 4 for e in examples)
    assert rec["metrics"]["test_loss"] < math.log(13)


@pytest.mark.data
@pytest.mark.parametrize("backend", TRAINED)
def test_names_spiking_lstm_confusion_and_predict(backend, mirror, cache, tmp_path):
    rec = smoke("names", backend, mirror, cache, tmp_path)
    analysis = rec["analysis"]
    assert len(analysis["classes"]) == 18 and rec["environment"]["backend"]["kernel_path"] not in ("fused",)
    assert np.asarray(analysis["confusion"]).sum() == rec["config"]["splits"]["test"]
    assert Image.open(tmp_path / analysis["confusion_png"]).size[0] > 300
    assert rec["metrics"]["test_accuracy"] > 0.3  # Russian alone is 0.47 of the test names
    text = inference.predict("names", backend, "Yu", 3, str(tmp_path), None, str(mirror), str(cache), "cpu")
    lines = text.splitlines()
    assert len(lines) == 4 and all(line.strip().startswith("(0.") for line in lines[1:])


@pytest.mark.data
@pytest.mark.parametrize("backend", TRAINED)
@pytest.mark.parametrize("sampling", ["consecutive", "random"])
def test_lyrics_language_model_perplexity_and_generation(backend, sampling, mirror, cache, tmp_path):
    rec = smoke("lyrics", backend, mirror, cache, tmp_path, sampling=sampling)
    assert rec["config"]["recipe"]["sampling"] == sampling
    assert 1 < rec["metrics"]["test_perplexity"] < 1027  # better than a uniform guess over 1,027 symbols
    assert rec["throughput"]["train_tokens_per_s"] > 0
    text = inference.generate("lyrics", backend, "分开", 5, str(tmp_path), None, str(mirror), str(cache),
                              "cpu")
    assert text.startswith("分开") and len(text) == 7


@pytest.mark.data
@pytest.mark.parametrize("backend", TRAINED)
@pytest.mark.parametrize("task", ["ptb", "meditations", "timemachine", "tinyshakespeare"])
def test_other_text_tasks_run(backend, task, mirror, cache, tmp_path):
    rec = smoke(task, backend, mirror, cache, tmp_path)
    metric = rec["config"]["target"]["metric"]
    assert math.isfinite(rec["metrics"][f"test_{metric}"])
    if metric == "perplexity":
        assert rec["metrics"]["test_perplexity"] < rec["config"]["model"]["vocab_size"]


@pytest.mark.data
@pytest.mark.parametrize("backend", TRAINED)
def test_word_generation_reads_the_models_window(backend, mirror, cache, tmp_path):
    """meditations predicts from the last 3 words (output "last"): generate must feed the window and take
    the single prediction, and agree with the model's own greedy choice."""
    smoke("meditations", backend, mirror, cache, tmp_path)
    task = tasks.get("meditations")
    record = inference._finished_run("meditations", backend, str(tmp_path), None)
    adapter, info = inference._model(task, record, backend, "cpu", str(mirror), str(cache))
    words = ["In", "a", "sense,"]
    for _ in range(2):
        logits = adapter.predict(np.asarray([task.encode(" ".join(words[-3:]), info)], dtype=np.int32))
        words.append(info["vocab"][int(logits[0].argmax())])
    text = inference.generate("meditations", backend, "In a sense,", 2, str(tmp_path), None, str(mirror),
                              str(cache), "cpu")
    assert text.split() == words
