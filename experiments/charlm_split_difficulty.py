"""Why a character LM's test perplexity sits above its validation's (#17): how hard each held-out part is.

Fits add-one smoothed n-gram count models on the training part (the tasks' own contiguous split: the
last 10% test, the 10% before it validation) and prints their perplexity on validation and test, with
the share of speeches whose speaker never appears in training. No framework; seconds on a CPU.

    python experiments/charlm_split_difficulty.py
"""

from __future__ import annotations

import math
import re
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tasks import _lm, data, tinyshakespeare  # noqa: E402

SPEAKER = re.compile(r"\n([A-Z][A-Z ]+):\n")


def perplexity(train: str, held: str, order: int, vocab: int) -> float:
    """Add-one smoothed ``order``-gram perplexity of ``held`` under counts from ``train``."""
    context, joint = Counter(), Counter()
    for i in range(order - 1, len(train)):
        context[train[i - order + 1:i]] += 1
        joint[train[i - order + 1:i + 1]] += 1
    nll = sum(-math.log((joint[held[i - order + 1:i + 1]] + 1) / (context[held[i - order + 1:i]] + vocab))
              for i in range(order - 1, len(held)))
    return math.exp(nll / (len(held) - order + 1))


def unseen_speakers(train: str, held: str) -> float:
    """The share of ``held``'s speeches whose speaker never speaks in ``train``."""
    known, speeches = set(SPEAKER.findall(train)), SPEAKER.findall(held)
    return sum(s not in known for s in speeches) / max(len(speeches), 1)


def main() -> None:
    text = tinyshakespeare.read(data.data_dir(None), data.cache_dir(None))
    train, val, test = _lm.holdout(text, 0.1, 0.1)  # slicing works on a string as on ids
    vocab = len(set(text))
    print(f"tinyshakespeare: speeches by speakers unseen in training: validation "
          f"{unseen_speakers(train, val):.0%}, test {unseen_speakers(train, test):.0%}")
    for order in (1, 2, 3, 5):
        print(f"  {order}-gram perplexity: validation {perplexity(train, val, order, vocab):.2f}, "
              f"test {perplexity(train, test, order, vocab):.2f}")


if __name__ == "__main__":
    main()
