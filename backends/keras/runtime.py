"""Importing Keras on a chosen backend.

Keras reads ``KERAS_BACKEND`` once, when it is first imported, so the adapter sets it before that import.
One process can still hold adapters of several Keras backends one after another (the conformance tests
and the smoke tests run ``keras``, ``keras-jax`` and ``keras-torch`` in one pytest process):
``keras.config.set_backend`` re-imports the Keras package on the new backend. Objects built before such a
switch keep working with the modules they were built with, which is why the adapter holds on to the
``keras`` module it got from here instead of importing it by name.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
import tempfile
import warnings
from types import ModuleType

KERAS_BACKENDS = ("tensorflow", "jax", "torch")

# What TensorFlow's C++ side prints while it loads, whatever TF_CPP_MIN_LOG_LEVEL says (TensorFlow 2.17 and
# later log through absl before absl is initialised): absl's notice and INFO lines (``I0000 ...``), plus the
# second line of the CPU-feature notice. Anything else (a warning, an error) is passed through.
_BANNER = re.compile(r"WARNING: All log messages before absl::InitializeLog\(\)|I\d{4} |"
                     r"To enable the following instructions:")


def import_tensorflow() -> ModuleType:
    """``tensorflow``, imported with its start-up INFO lines held back.

    They would otherwise stand above every one-line error of a Keras run (the CLI's errors must be the last
    and only thing on the screen), and ``TF_CPP_MIN_LOG_LEVEL`` no longer silences them.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # the banners that still honour it
    return quiet_import("tensorflow")


def quiet_import(name: str) -> ModuleType:
    """Module ``name``, imported with file descriptor 2 pointed at a temporary file; the lines it held that
    are not absl/TensorFlow banners are written back to standard error afterwards (C++ code writes to the
    descriptor, past ``sys.stderr``)."""
    if name in sys.modules:
        return sys.modules[name]
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            module = importlib.import_module(name)
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            kept = [line for line in held.read().decode(errors="replace").splitlines(keepends=True)
                    if not _BANNER.match(line)]
            sys.stderr.write("".join(kept))
            sys.stderr.flush()
    return module


def load(backend: str) -> ModuleType:
    """The ``keras`` module running on ``backend`` (importing or re-importing Keras as needed)."""
    if backend not in KERAS_BACKENDS:
        raise ValueError(f"unknown Keras backend {backend!r}; expected one of {', '.join(KERAS_BACKENDS)}")
    if "tensorflow" not in sys.modules and importlib.util.find_spec("tensorflow") is not None:
        import_tensorflow()  # Keras imports it wherever it is installed (set_random_seed seeds it too)
    keras = sys.modules.get("keras")
    if keras is None:
        os.environ["KERAS_BACKEND"] = backend
        import keras
    if keras.backend.backend() != backend:
        with warnings.catch_warnings():  # its warning: objects built before stay on the old modules
            warnings.filterwarnings("ignore", message=".*set_backend", category=UserWarning)
            keras.config.set_backend(backend)  # sets KERAS_BACKEND and re-imports the keras package
        keras = sys.modules["keras"]
    if keras.backend.backend() != backend:  # pragma: no cover - Keras refused the switch
        raise RuntimeError(f"Keras runs on {keras.backend.backend()!r}, not {backend!r}")
    return keras
