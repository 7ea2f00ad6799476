"""Language-model data shared by the character and word LM tasks: vocabularies, held-out parts of a
corpus, and the two sampling layouts.

Layouts (``Recipe.sampling``): ``random`` cuts the token stream into independent windows of ``steps``
tokens (the harness shuffles them every epoch; each starts from a zero state); ``consecutive`` splits
the stream into ``batch_size`` parallel streams and lays the windows out so that row b of batch i+1
continues row b of batch i, for a model that carries its state (d2l's ``data_iter_consecutive``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from tasks.base import Dataset, Scale, Split
from tasks.data import DataError
from tasks.spec import Dense, ModelSpec, Recipe


def vocabulary(tokens: list[str]) -> list[str]:
    """Distinct tokens, sorted: a deterministic id for every token of the corpus."""
    return sorted(set(tokens))


def holdout(ids: np.ndarray, val_fraction: float, test_fraction: float
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Contiguous train / validation / test parts of one stream: the test part is the end, validation
    the stretch before it (both out of training, so their perplexity is not memorisation)."""
    n = len(ids)
    n_test, n_val = int(n * test_fraction), int(n * val_fraction)
    return ids[: n - n_test - n_val], ids[n - n_test - n_val : n - n_test], ids[n - n_test :]


def layout(ids: np.ndarray, steps: int, sampling: str, batch_size: int, held_out: bool = False) -> Split:
    """Inputs and next-token targets of shape (rows, steps) in the sampling scheme's row order.

    A held-out part too short for ``batch_size`` streams of at least four windows gets fewer streams
    (``Split.stream_batch``), so the state is still carried across its windows.
    """
    ids = np.asarray(ids, dtype=np.int32)
    if sampling == "random":
        n = (len(ids) - 1) // steps
        return Split(ids[: n * steps].reshape(n, steps), ids[1 : n * steps + 1].reshape(n, steps))
    if held_out:
        batch_size = min(batch_size, max(1, (len(ids) - 1) // (4 * steps)))
    per_stream = (len(ids) - 1) // batch_size
    batches = per_stream // steps
    if batches == 0:
        raise ValueError(f"{len(ids)} tokens are too few for {batch_size} streams of {steps} steps")
    used = batches * steps
    x = ids[: batch_size * per_stream].reshape(batch_size, per_stream)[:, :used]
    y = ids[1 : batch_size * per_stream + 1].reshape(batch_size, per_stream)[:, :used]
    # (streams, batches, steps) -> (batches, streams, steps): batch i is rows i*B .. i*B+B-1
    def arrange(a: np.ndarray) -> np.ndarray:
        return a.reshape(batch_size, batches, steps).transpose(1, 0, 2).reshape(-1, steps)

    return Split(arrange(x), arrange(y), stream_batch=batch_size)

# The data options of a character LM: window length and a cut of the corpus (``--set data.limit=20000``).
CHAR_DATA_OPTIONS: dict[str, type] = {"steps": int, "limit": int}


def char_dataset(text: str, scale: Scale, source: dict[str, Any], val_fraction: float = 0.1,
                 test_fraction: float = 0.1) -> Dataset:
    """A character corpus as a language-model dataset in the scale's sampling layout."""
    vocab = vocabulary(list(text))  # of the whole corpus, so a smaller scale keeps the model's size
    if len(vocab) != scale.model.vocab_size:
        raise DataError(f"the corpus has {len(vocab)} distinct characters, the model expects "
                        f"{scale.model.vocab_size}: the data is not the expected version")
    index = {c: i for i, c in enumerate(vocab)}
    ids = np.fromiter((index[c] for c in text), dtype=np.int32, count=len(text))
    ids = ids[: scale.data.get("limit") or len(ids)]
    steps, batch = scale.data["steps"], scale.recipe.batch_size
    parts = holdout(ids, val_fraction, test_fraction)
    train, val, test = (layout(p, steps, scale.recipe.sampling, batch, held_out=k > 0)
                        for k, p in enumerate(parts))
    info = {**source, "unit": "character", "characters": len(ids), "vocab_size": len(vocab),
            "vocab": vocab,
            "tokens": {"train": len(parts[0]), "val": len(parts[1]), "test": len(parts[2])},
            "sampling": scale.recipe.sampling, "steps": steps}
    return Dataset(train, val, test, info)


def encode_chars(text: str, info: dict[str, Any]) -> list[int]:
    """Token ids of a user's prefix; an unknown character is a clear error, not a silent id."""
    index = {c: i for i, c in enumerate(info["vocab"])}
    unknown = sorted({c for c in text if c not in index})
    if unknown:
        raise ValueError(f"characters {''.join(unknown)!r} do not occur in the corpus; use others")
    return [index[c] for c in text]


def encode_words(text: str, info: dict[str, Any]) -> list[int]:
    index = {w: i for i, w in enumerate(info["vocab"])}
    unk = index.get("<unk>")
    ids = [index.get(w, unk) for w in text.split()]
    if None in ids:
        raise ValueError("words outside the vocabulary; use words of the corpus")
    return ids  # type: ignore[return-value]


def char_scales(vocab_size: int, full_model: dict[str, Any], full_recipe: Recipe, full_data: dict[str, Any],
                description: str, reported: str = "") -> dict[str, Scale]:
    """``smoke`` and ``full`` scales of a character LM: one-hot characters in, a Dense over the
    vocabulary out at every step."""
    base = ModelSpec(cell="rnn", vocab_size=vocab_size, input="onehot", hidden_size=256,
                     head=(Dense(vocab_size),), output="sequence", init="torch")
    full = replace(base, **full_model)
    smoke = replace(full, hidden_size=16, num_layers=1)
    smoke_recipe = replace(full_recipe, lr=1e-2, epochs=3, batch_size=8, eval_batch_size=64)
    return {
        "smoke": Scale("smoke", "hidden 16, 3 epochs over the first 3,000 characters: seconds on a CPU",
                       smoke, smoke_recipe, {**full_data, "limit": 3000}),
        "full": Scale("full", description, full, full_recipe, full_data, reported=reported),
    }
