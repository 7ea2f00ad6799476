"""Next word of a Meditations passage (seed 004): 3 words in, the next word out, 2-layer LSTM of 512,
RMSProp lr 1e-3, 50,000 single-window steps; the seed reports accuracy above 95%.

The passage (89 words) is all the data there is, so there is no held-out text: validation and test are
the training windows, and the accuracy is training accuracy, memorisation by design (records say
``held_out: false``). Words are split on white space, punctuation attached, as the seed does. The seed
feeds each word's integer id as one float; here words are one-hot vectors (the ids have no order).
50,000 steps of one window are 581 epochs over the 86 windows.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from tasks import _lm, data
from tasks.base import Dataset, Scale, Split, Target, Task
from tasks.spec import Dense, ModelSpec, Recipe

FILE = data.DataFile("meditations.txt", "2b223c4b552f98060c6563d4ce2c91b54d22d947d16b8503f97904dca8d07752")
CONTEXT = 3


def words(data_dir: Path | None) -> list[str]:
    root = data.data_dir(data_dir)
    if root is None:
        raise data.DataError("the Meditations passage has no download: it is quoted in seed 004; point "
                             "--data-dir or RNNBENCH_DATA_DIR at a mirror with meditations/meditations.txt")
    return data.fetch("meditations", FILE, "", root, data.cache_dir(None)).read_text(encoding="utf-8").split()


def load(scale: Scale, data_dir: Path | None = None, cache_dir: Path | None = None) -> Dataset:
    text = words(data_dir)
    vocab = _lm.vocabulary(text)
    if len(vocab) != scale.model.vocab_size:
        raise data.DataError(f"the passage has {len(vocab)} distinct words, the model expects "
                             f"{scale.model.vocab_size}: not the expected text")
    ids = np.array([vocab.index(w) for w in text], dtype=np.int32)
    x = np.stack([ids[i : i + CONTEXT] for i in range(len(ids) - CONTEXT)])
    split = Split(x, ids[CONTEXT:])
    return Dataset(split, split, split, {"source": FILE.name, "sha256": [FILE.sha256], "unit": "word",
                                         "context": CONTEXT, "words": len(text),
                                         "vocab_size": len(vocab), "vocab": vocab, "held_out": False})


VOCAB = 69
MODEL = ModelSpec(cell="lstm", vocab_size=VOCAB, input="onehot", hidden_size=512, num_layers=2,
                  head=(Dense(VOCAB),), init="keras")
# TensorFlow's RMSProp, as the seed's: g / sqrt(v + eps)
RECIPE = Recipe(optimizer="rmsprop", lr=1e-3, rho=0.9, eps=1e-10, rms_eps="inside", batch_size=1,
                eval_batch_size=86, epochs=581)

TASK = Task(
    name="meditations",
    description="next word of a Meditations passage, 2x512 LSTM of seed 004 (training accuracy: no "
                "held-out text)",
    metric="accuracy",
    target=Target("accuracy", 0.95, "max", source="seed 004: accuracy above 95% after 50,000 iterations "
                  "(training windows)"),
    seed_source="shared/seeds/004_99f50b8d9f217663.txt",
    scales={
        "smoke": Scale("smoke", "2x16 LSTM, 3 epochs: seconds on a CPU", replace(MODEL, hidden_size=16),
                       replace(RECIPE, lr=1e-2, epochs=3)),
        "full": Scale("full", "the seed's 2x512 LSTM, RMSProp 1e-3, 581 epochs of 86 windows (50k steps)",
                      MODEL, RECIPE, reported="above 0.95 on training windows"),
    },
    load=load,
    seq_len=CONTEXT,
    held_out=False,
    encode=_lm.encode_words,
)
