"""Word tokenisation, frequency-ranked vocabularies and padding, as Keras' IMDB preprocessing does them."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

PAD, START, OOV = 0, 1, 2
INDEX_FROM = 3  # the first word id: 0, 1 and 2 are reserved

# Keras' text_to_word_sequence filters: punctuation becomes a separator, apostrophes stay in words.
_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'
_TABLE = str.maketrans(_FILTERS, " " * len(_FILTERS))
_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)


def tokenize(text: str) -> list[str]:
    """Lower-case words of ``text`` with HTML line breaks and punctuation removed."""
    return _BREAK.sub(" ", text).lower().translate(_TABLE).split()


def rank_words(docs: Iterable[Sequence[str]]) -> list[str]:
    """Words by descending frequency; ties keep the order of first appearance (Keras' Tokenizer)."""
    counts: Counter[str] = Counter()
    for doc in docs:
        counts.update(doc)
    return sorted(counts, key=lambda w: -counts[w])  # sorted() is stable; Counter keeps insertion order


def word_index(ranked: Sequence[str]) -> dict[str, int]:
    """Word -> id, the most frequent word getting ``INDEX_FROM``."""
    return {w: i + INDEX_FROM for i, w in enumerate(ranked)}


def encode(tokens: Sequence[str], index: dict[str, int], num_words: int) -> list[int]:
    """``START`` then each word's id; words outside the vocabulary or ranked past ``num_words`` -> ``OOV``."""
    ids = [START]
    for token in tokens:
        i = index.get(token, OOV)
        ids.append(i if i < num_words else OOV)
    return ids


def pad_sequences(seqs: Sequence[Sequence[int]], maxlen: int, value: int = PAD) -> np.ndarray:
    """Pad and truncate at the front to ``maxlen`` (Keras' ``padding="pre"``, ``truncating="pre"``)."""
    out = np.full((len(seqs), maxlen), value, dtype=np.int32)
    for row, seq in enumerate(seqs):
        tail = seq[-maxlen:]
        if tail:
            out[row, maxlen - len(tail) :] = tail
    return out


def stratified_holdout(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, held-out): ``fraction`` of each label held out, chosen by a fixed seed.

    The split seed is a property of the task, not of the run, so every run and backend validates on the
    same examples.
    """
    rng = np.random.default_rng(seed)
    held = []
    for label in np.unique(labels):
        idx = np.flatnonzero(labels == label)
        held.append(rng.choice(idx, size=round(len(idx) * fraction), replace=False))
    held_idx = np.sort(np.concatenate(held))
    train_idx = np.setdiff1d(np.arange(len(labels)), held_idx)
    return train_idx, held_idx
