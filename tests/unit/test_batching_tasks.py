"""Batch plans (length buckets, consecutive order), streaming metrics, LM layouts, schedules, and the
generated or listed data of the new tasks: no framework, no dataset files."""

from __future__ import annotations

import numpy as np
import pytest

import tasks
from harness.common import metrics
from harness.run import runner
from tasks import _lm
from tasks.base import Split
from tasks.spec import Recipe


def test_length_buckets_cover_every_row_once_and_cut_the_padding():
    lengths = np.array([3, 1, 3, 2, 3, 1, 2])
    x = np.zeros((7, 3), dtype=np.int32)
    for i, n in enumerate(lengths):
        x[i, 3 - n:] = i + 1  # pre-padded with zeros
    split = Split(x, np.arange(7), lengths=lengths)
    plan = runner.batches(split, 2, np.random.default_rng(0))
    seen = np.concatenate([rows for rows, _ in plan])
    assert sorted(seen.tolist()) == list(range(7))
    for batch in plan:
        xb, yb = runner.take(split, batch)
        assert xb.shape[1] == batch[1] and np.all(lengths[batch[0]] == batch[1])
        assert np.all(xb > 0)  # no padding reaches the model
        np.testing.assert_array_equal(yb, batch[0])


def test_plain_batches_drop_the_partial_one_only_when_asked():
    split = Split(np.zeros((10, 4), dtype=np.int32), np.zeros(10))
    assert [len(r) for r, _ in runner.batches(split, 4, drop_last=True)] == [4, 4]
    assert [r.tolist() for r, _ in runner.batches(split, 4)] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_streamed_metrics_equal_the_whole_split_metrics():
    rng = np.random.default_rng(1)
    logits, y = rng.normal(size=(10, 5, 7)), rng.integers(0, 7, size=(10, 5))
    acc = metrics.Accumulator("categorical_crossentropy")
    for i in range(0, 10, 3):
        acc.add(logits[i : i + 3], y[i : i + 3])
    whole = metrics.evaluate("categorical_crossentropy", "perplexity", logits, y)
    assert acc.result("perplexity") == pytest.approx(whole)
    assert acc.result("accuracy")["accuracy"] == pytest.approx(metrics.accuracy(logits, y))


def test_bucketed_predictions_come_back_in_row_order():
    acc = metrics.Accumulator("softmax_mse")
    eye = np.eye(3) * 5
    acc.add(eye[[2, 0]], np.array([2, 0]), rows=np.array([3, 0]))
    acc.add(eye[[1, 1]], np.array([1, 2]), rows=np.array([1, 2]))
    pred, y = acc.predictions()
    assert pred.tolist() == [0, 1, 1, 2] and y.tolist() == [0, 1, 2, 2]
    assert metrics.per_class_accuracy(pred, y, 3).tolist() == [1.0, 1.0, 0.5]
    assert metrics.confusion(pred, y, 3)[2].tolist() == [0, 1, 1]


def test_consecutive_layout_continues_each_stream_in_the_next_batch():
    ids = np.arange(100)
    split = _lm.layout(ids, steps=5, sampling="consecutive", batch_size=4)
    assert split.stream_batch == 4 and split.x.shape == (16, 5)  # 4 streams of 24 tokens: 4 windows each
    np.testing.assert_array_equal(split.y, split.x + 1)  # next-token targets
    np.testing.assert_array_equal(split.x[4:8, 0], split.x[0:4, -1] + 1)  # batch 1 continues batch 0
    short = _lm.layout(np.arange(60), steps=5, sampling="consecutive", batch_size=8, held_out=True)
    assert short.stream_batch == 2  # fewer streams, each still several windows long
    rand = _lm.layout(ids, steps=5, sampling="random", batch_size=4)
    assert rand.x.shape == (19, 5) and rand.stream_batch is None


def test_zaremba_schedule_halves_after_the_fourth_epoch():
    r = Recipe(lr=1.0, lr_gamma=0.5, lr_decay_after=4)
    assert [r.lr_at(e) for e in range(7)] == [1.0, 1.0, 1.0, 1.0, 0.5, 0.25, 0.125]
    assert Recipe(lr=1.0, lr_gamma=0.1, lr_step_epochs=300).lr_at(600) == pytest.approx(0.01)


def test_arithmetic_tests_on_expressions_never_trained_on():
    task = tasks.get("arithmetic")
    ds = task.load(task.scale("full"))
    as_text = [{"".join(task.load.__globals__["SYMBOLS"][i] for i in row) for row in s.x}
               for s in (ds.train, ds.val, ds.test)]
    assert len(ds.train) == 10_000 and len(ds.test) == 200 and len(ds.val) == 200
    assert not (as_text[0] & as_text[2]) and not (as_text[0] & as_text[1])
    row = "".join(task.load.__globals__["SYMBOLS"][i] for i in ds.test.x[0])
    answer = "".join(task.load.__globals__["SYMBOLS"][i] for i in ds.test.y[0])
    assert int(answer) == eval(row.strip())  # the label is the expression's value


def test_five_words_targets_are_the_next_letters():
    task = tasks.get("five-words")
    ds = task.load(task.scale("rnn"))
    assert ds.train.x.shape == (50, 4) and ds.test is ds.train
    np.testing.assert_array_equal(ds.train.x[:, 1:], ds.train.y[:, :-1])
    assert task.scale("rnn").model.num_outputs == 26 and task.scale("rnn").model.head == ()


def test_names_folds_unicode_like_the_tutorial():
    names = tasks.get("names")
    from tasks import names as module  # noqa: F401  (the module, not the registry)

    fold = names.load.__globals__["fold"]
    assert fold("Ślusàrski") == "Slusarski" and fold("O'Néill-Smith") == "O'Neill-Smith"
    assert len(names.load.__globals__["LETTERS"]) == 58
    with pytest.raises(ValueError, match="no letters"):
        names.encode("中文", {})
