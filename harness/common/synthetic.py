"""Synthetic batches of a model's real shapes: what parity workers, the bench and the doctor's probe feed
(the content of a batch does not change the cost of a dense recurrent step, nor whether two frameworks
agree on it)."""

from __future__ import annotations

import numpy as np

from tasks.spec import ModelSpec

SEQ_LEN = 12


def fixed_batch(spec: ModelSpec, batch_size: int, seed: int, seq_len: int = SEQ_LEN
                ) -> tuple[np.ndarray, np.ndarray]:
    """Ids drawn uniformly from the vocabulary and labels uniformly from the classes (one per output
    step for sequence outputs): the batch every parity worker, and the bench, feeds."""
    rng = np.random.default_rng(seed + 1)
    x = rng.integers(0, spec.vocab_size, size=(batch_size, seq_len)).astype(np.int32)
    if spec.loss == "binary_crossentropy":
        return x, rng.integers(0, 2, size=batch_size).astype(np.float32)
    steps = spec.decoder_steps or seq_len
    shape = (batch_size, steps) if spec.output == "sequence" else (batch_size,)
    return x, rng.integers(0, spec.num_outputs, size=shape).astype(np.int32)
