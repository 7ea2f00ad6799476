import gzip
import io
import json
import tarfile

import numpy as np
import pytest

import tasks
from tasks import data, imdb


def _raw():
    train_texts = ["Good good film<br />great", "bad film", "good acting", "bad bad plot",
                   "great good", "awful bad", "good", "bad"] * 5
    train_labels = np.array([1, 0, 1, 0, 1, 0, 1, 0] * 5, dtype=np.int32)
    return {"train": (train_texts, train_labels),
            "test": (["good film", "unknown words bad"], np.array([1, 0], dtype=np.int32))}


def test_tokenise_builds_vocab_from_training_part_and_pads_front():
    arrays = imdb._tokenise(_raw(), num_words=6, maxlen=5)
    assert len(arrays["x_train"]) == 36 and len(arrays["x_val"]) == 4  # 10% per label held out
    assert arrays["x_train"].shape[1] == 5
    # ranks in the training part: good(3) bad(4) film(5) great(6) ...; num_words=6 maps great -> OOV 2
    assert arrays["x_test"].tolist() == [[0, 0, 1, 3, 5], [0, 1, 2, 2, 4]]


def test_validation_is_carved_from_training_reviews_only():
    arrays = imdb._tokenise(_raw(), num_words=100, maxlen=8)
    assert len(arrays["x_test"]) == 2
    assert len(arrays["x_train"]) + len(arrays["x_val"]) == 40


def test_read_archive_orders_like_the_mirror(tmp_path):
    path = tmp_path / "aclImdb_v1.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, body in [("train/pos/10_9.txt", "ten"), ("train/neg/2_1.txt", "two"),
                           ("test/pos/0_7.txt", "zero"), ("train/unsup/1_0.txt", "skip")]:
            blob = body.encode()
            info = tarfile.TarInfo(f"aclImdb/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    out = imdb._read_archive(path)
    assert out["train"][0] == ["two", "ten"] and out["train"][1].tolist() == [0, 1]
    assert out["test"][0] == ["zero"]


def test_corrupt_mirror_file_is_a_checksum_error(tmp_path):
    folder = tmp_path / "imdb"
    folder.mkdir()
    for name in ("train.jsonl.gz", "test.jsonl.gz"):
        with gzip.open(folder / name, "wt") as f:
            f.write(json.dumps({"text": "x", "label": 1, "id": "0_9"}) + "\n")
    scale = tasks.get("imdb").scale("smoke")
    with pytest.raises(data.DataError, match=r"checksum mismatch for .*train.jsonl.gz: sha256 [0-9a-f]{64}"):
        imdb.load(scale, tmp_path, tmp_path / "cache")


def test_missing_mirror_names_the_expected_layout(tmp_path):
    with pytest.raises(data.DataError, match="IMDB data not found in .*expected imdb/train.jsonl.gz"):
        imdb.load(tasks.get("imdb").scale("smoke"), tmp_path, tmp_path / "cache")


def test_unreachable_upstream_suggests_a_mirror(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(data.urllib.request, "urlopen", refuse)
    with pytest.raises(data.DataError, match="could not download https://.*aclImdb_v1.tar.gz.*--data-dir"):
        data.download(imdb.UPSTREAM, tmp_path)
    assert not list((tmp_path / "downloads").iterdir())  # no partial file left behind


@pytest.mark.data
def test_real_smoke_splits_are_deterministic_and_cached(mirror, cache):
    task = tasks.get("imdb")
    first = task.load(task.scale("smoke"), mirror, cache)
    assert (len(first.train), len(first.val), len(first.test)) == (4000, 400, 1000)
    assert first.train.y.mean() == 0.5 and first.test.y.mean() == 0.5
    assert first.train.x.shape == (4000, 100) and first.train.x.max() < 1000
    second = task.load(task.scale("smoke"), mirror, cache)
    assert np.array_equal(first.train.x, second.train.x)
    assert first.info["source"] == "mirror"
