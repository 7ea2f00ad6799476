"""Importing Keras on a chosen backend.

Keras reads ``KERAS_BACKEND`` once, when it is first imported, so the adapter sets it before that import.
One process can still hold adapters of several Keras backends one after another (the conformance tests
and the smoke tests run ``keras``, ``keras-jax`` and ``keras-torch`` in one pytest process):
``keras.config.set_backend`` re-imports the Keras package on the new backend. Objects built before such a
switch keep working with the modules they were built with, which is why the adapter holds on to the
``keras`` module it got from here instead of importing it by name.
"""

from __future__ import annotations

import os
import sys
import warnings
from types import ModuleType

KERAS_BACKENDS = ("tensorflow", "jax", "torch")


def load(backend: str) -> ModuleType:
    """The ``keras`` module running on ``backend`` (importing or re-importing Keras as needed)."""
    if backend not in KERAS_BACKENDS:
        raise ValueError(f"unknown Keras backend {backend!r}; expected one of {', '.join(KERAS_BACKENDS)}")
    keras = sys.modules.get("keras")
    if keras is None:
        os.environ["KERAS_BACKEND"] = backend
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up banners
        import keras
    if keras.backend.backend() != backend:
        with warnings.catch_warnings():  # its warning: objects built before stay on the old modules
            warnings.filterwarnings("ignore", message=".*set_backend", category=UserWarning)
            keras.config.set_backend(backend)  # sets KERAS_BACKEND and re-imports the keras package
        keras = sys.modules["keras"]
    if keras.backend.backend() != backend:  # pragma: no cover - Keras refused the switch
        raise RuntimeError(f"Keras runs on {keras.backend.backend()!r}, not {backend!r}")
    return keras
