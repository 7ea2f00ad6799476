"""Penn Treebank word-level language model (Mikolov's simple-examples), Zaremba et al. 2014.

Vocabulary: the 10,000 words of ptb.train.txt (``<unk>`` is already in the text; ``<eos>`` ends every
line). Scales: ``full`` is Zaremba's small model (2x200 LSTM, no dropout, uniform init 0.1, SGD lr 1 on
the loss summed over the 35 steps, clip 5, 13 epochs, lr halved each epoch after the 4th; published
test perplexity 114.5), ``medium`` the 2x650 model with dropout 0.5 (82.7; a GPU job), ``smoke`` a
tiny one. Their loss is the sum over time steps of the batch mean; ours is the mean over both, so the
same SGD step is lr 35 with clip norm 5/35 (the gradient and the clip threshold scale alike).
Evaluation carries the state through the whole validation and test streams (20 streams, as training).
"""

from __future__ import annotations

import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from tasks import _lm, data
from tasks.base import Dataset, Scale, Target, Task
from tasks.spec import Dense, Dropout, ModelSpec, Recipe

FILE = data.DataFile("ptb.zip", "310d8f602882a5716613815ed75596e5764ea84ed04c5630eebaaf2b943ec5aa")
URL = "http://d2l-data.s3-accelerate.amazonaws.com/ptb.zip"
STEPS = 35


def _words(z: zipfile.ZipFile, split: str) -> list[str]:
    lines = z.read(f"ptb/ptb.{split}.txt").decode("utf-8").splitlines()
    return [w for line in lines for w in (*line.split(), "<eos>")]


def load(scale: Scale, data_dir: Path | None = None, cache_dir: Path | None = None) -> Dataset:
    path = data.fetch("ptb", FILE, URL, data.data_dir(data_dir), data.cache_dir(cache_dir))
    with zipfile.ZipFile(path) as z:
        words = {s: _words(z, s) for s in ("train", "valid", "test")}
    vocab = _lm.vocabulary(words["train"])
    index = {w: i for i, w in enumerate(vocab)}
    limit = scale.data.get("limit")
    ids = {s: np.array([index[w] for w in ws[:limit]], dtype=np.int32) for s, ws in words.items()}
    batch = scale.recipe.batch_size
    sampling = scale.recipe.sampling
    info = {"source": FILE.name, "sha256": [FILE.sha256], "unit": "word", "vocab_size": len(vocab),
            "vocab": vocab,
            "tokens": {s: len(v) for s, v in ids.items()}, "sampling": sampling, "steps": STEPS}
    return Dataset(
        train=_lm.layout(ids["train"], STEPS, sampling, batch),
        val=_lm.layout(ids["valid"], STEPS, sampling, batch, held_out=True),
        test=_lm.layout(ids["test"], STEPS, sampling, batch, held_out=True),
        info=info,
    )


SMALL = ModelSpec(cell="lstm", vocab_size=10_000, embed_dim=200, hidden_size=200, num_layers=2,
                  head=(Dense(10_000),), output="sequence", init="uniform", init_scale=0.1)
SMALL_RECIPE = Recipe(optimizer="sgd", lr=35.0, clip_norm=5.0 / 35, batch_size=20, eval_batch_size=20,
                      epochs=13, lr_gamma=0.5, lr_decay_after=4, sampling="consecutive")
MEDIUM = replace(SMALL, embed_dim=650, hidden_size=650, embed_dropout=0.5, layer_dropout=0.5,
                 head=(Dropout(0.5), Dense(10_000)), init_scale=0.05)
MEDIUM_RECIPE = replace(SMALL_RECIPE, epochs=39, lr_gamma=0.8, lr_decay_after=6)

TASK = Task(
    name="ptb",
    description="Penn Treebank word LM, Zaremba et al. 2014 small 2x200 LSTM (test perplexity per word)",
    metric="perplexity",
    target=Target("perplexity", 125.0, "min",
                  source="Zaremba et al. 2014: small model test perplexity 114.5 (medium 82.7)"),
    scales={
        "smoke": Scale("smoke", "2x16 LSTM on the first 20,000 training words, 2 epochs: seconds on a CPU",
                       replace(SMALL, embed_dim=16, hidden_size=16),
                       replace(SMALL_RECIPE, epochs=2, lr=20.0), {"limit": 20_000}),
        "full": Scale("full", "Zaremba small: 2x200 LSTM, no dropout, SGD, 13 epochs", SMALL, SMALL_RECIPE,
                      reported="114.5 (Zaremba et al. 2014, small)"),
        "medium": Scale("medium", "Zaremba medium: 2x650 LSTM, dropout 0.5, 39 epochs (a GPU job)",
                        MEDIUM, MEDIUM_RECIPE),
    },
    load=load,
    seq_len=STEPS,
    encode=_lm.encode_words,
    data_options={"limit": int},
)
