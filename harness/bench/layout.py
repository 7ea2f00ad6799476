"""Process-layout randomisation for the bench's workers.

Where a process' stack and heap land shifts with the size of its environment and arguments, and some
kernels run measurably faster or slower for it: on this project's 2-core Xeon, MXNet's IMDB inference ran
at 5,400 samples/s in a worker started with one environment and 7,400 with the same environment plus a
64-byte variable, every time (Mytkowicz et al., "Producing Wrong Data Without Doing Anything Obviously
Wrong!", ASPLOS 2009, describe the effect). An adapter and its reference loop start with different
arguments, so one layout per backend would be a fixed bias between them. The bench therefore starts each
repeat in a fresh worker whose environment carries a random-length padding variable: the layout becomes
one more random factor of the repeats, and the median and spread over repeats include it.
"""

from __future__ import annotations

import os
import random

VAR = "RNNBENCH_LAYOUT_PAD"
MAX_PAD = 4096  # one page: the stack's placement within a page is what the padding moves


def environ(rng: random.Random | None = None) -> dict[str, str]:
    """The padding variable with a random length in [0, MAX_PAD) bytes, for a worker's environment."""
    n = (rng or random.SystemRandom()).randrange(MAX_PAD)
    return {VAR: "x" * n}


def pad() -> int:
    """This process' padding length (0 where it was started without one), for its records."""
    return len(os.environ.get(VAR, ""))
