"""The parity tox environment's commands: ``python -m harness parity`` across every landed backend, each
backend in its own environment, as a user runs it.

The default suite runs the README's command (IMDB's three cells, SGD); the full suite
(``RNNBENCH_TESTS=full``) adds Adam with clipping and weight decay, RMSprop, the spiking LSTM and the
encoder-decoder. Those four are also checked in every backend's own environment by
tests/conformance/test_parity.py, in-process; here they go through the command line and the workers.
Arguments (``--backends torch,jax``) replace the default backend list.

    python tests/parity_commands.py [--backends A,B]
"""

from __future__ import annotations

import os
import subprocess
import sys

BACKENDS = ["--backends", "torch,keras,keras-jax,keras-torch,jax,mxnet"]
README = ["--task", "imdb", "--cells", "rnn,gru,lstm"]
FULL = [
    ["--task", "imdb", "--cells", "rnn,gru,lstm", "--optimizer", "adam", "--clip-norm", "0.05",
     "--weight-decay", "0.01"],
    ["--task", "imdb", "--cells", "rnn,gru,lstm", "--optimizer", "rmsprop", "--rms-eps", "inside"],
    ["--task", "names", "--cells", "spiking-lstm"],
    ["--task", "arithmetic", "--cells", "lstm"],
]


def main(argv: list[str]) -> int:
    chosen = [README, *(FULL if os.environ.get("RNNBENCH_TESTS") == "full" else [])]
    for args in chosen:
        cmd = [sys.executable, "-m", "harness", "parity", *args, *(argv or BACKENDS)]
        print("parity:", " ".join(cmd[1:]), flush=True)
        code = subprocess.call(cmd)
        if code != 0:
            return code
    if len(chosen) == 1:
        print(f"parity: {len(FULL)} more configurations in the full suite (python -m harness test --full)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
