"""Reference rows of ``harness bench``: the suite's hand-written loops, timed like any backend.

``<backend>-reference`` (``torch-reference``, ``keras-reference``, ``keras-jax-reference``,
``keras-torch-reference``, ``jax-reference``, ``mxnet-reference``) runs the plainest tutorial-style loop of
its framework, ``benchmarks/reference/<framework>_loop.py``, which imports nothing from rnnbench. It runs in
its base backend's environment and worker, with the same threads (``harness.common.threads`` and the framework
calls the adapters make) and, for Keras, the same ``KERAS_BACKEND``, so adapter / reference is a fair
ratio of one framework against itself. :class:`ReferenceAdapter` gives the bench's ``Measurer`` the
adapter calls it makes; the point's spec, recipe and shape become the loop's ``make()`` arguments.

Only the IMDB and PTB ``full`` models have reference loops: a point may change their sizes (vocabulary,
embedding, hidden size), batch sizes, length and learning rate, and is refused, with a one-line error the
bench records as a failed point, when it changes anything else (the cell, the layers, the head, the
optimizer, the sampling) or asks for a precision other than fp32.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
from collections.abc import Iterable
from dataclasses import fields, replace
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

import backends
import tasks
from backends.base import Adapter, BackendError
from tasks.spec import Dense, ModelSpec, Recipe

SUFFIX = "-reference"
FOLDER = Path(__file__).resolve().parents[2] / "benchmarks" / "reference"
LOOPS = {"torch": "torch_loop.py", "keras": "keras_loop.py", "keras-jax": "keras_loop.py",
         "keras-torch": "keras_loop.py", "jax": "flax_loop.py", "mxnet": "mxnet_loop.py"}
MODELS = ("imdb", "ptb")  # the tasks whose full model has a reference loop
OPTIMIZERS = {"imdb": "adam", "ptb": "sgd"}
# free to change: the loops take the sizes, and keep their framework's default initialisation (the other
# recipe fields a loop does not take, such as Adam's eps, keep its framework's defaults too: same cost)
SIZE_FIELDS = ("vocab_size", "embed_dim", "hidden_size", "init", "init_scale")


class Unsupported(BackendError):
    """A point the reference loops do not cover (recorded as a failed point by the bench)."""


def is_reference(name: str) -> bool:
    return name.endswith(SUFFIX) and name[: -len(SUFFIX)] in LOOPS


def base(name: str) -> str:
    """The backend whose environment and threads a reference row shares (the name itself if not one)."""
    return name[: -len(SUFFIX)] if is_reference(name) else name


def names(bases: Iterable[str]) -> list[str]:
    """The reference rows of ``bases`` that have one."""
    return [f"{b}{SUFFIX}" for b in bases if b in LOOPS]


def with_references(chosen: list[str]) -> list[str]:
    """``--references``: every chosen backend followed by its reference row (once)."""
    out: list[str] = []
    for name in chosen:
        for n in (name, *names([name])):
            if n not in out:
                out.append(n)
    return out


def _full(task: str) -> ModelSpec:
    return tasks.get(task).scale("full").model


def _normalised(spec: ModelSpec, task: str) -> ModelSpec:
    """``spec`` with the fields a reference loop may change set to the ``full`` model's."""
    ref = _full(task)
    head = spec.head
    if task == "ptb" and spec.head == (Dense(spec.vocab_size),):  # the decoder follows the vocabulary
        head = ref.head
    return replace(spec, head=head, **{f: getattr(ref, f) for f in SIZE_FIELDS})


def which(spec: ModelSpec) -> str | None:
    """``imdb`` or ``ptb``: the reference model ``spec`` is, up to its sizes; None if neither."""
    return next((t for t in MODELS if _normalised(spec, t) == _full(t)), None)


def _differences(spec: ModelSpec) -> str:
    """What keeps ``spec`` from being either reference model (against the nearer one)."""
    diffs = []
    for task in MODELS:
        norm, ref = _normalised(spec, task), _full(task)
        diffs.append([f"{f.name}={getattr(norm, f.name)!r}" for f in fields(ModelSpec)
                      if getattr(norm, f.name) != getattr(ref, f.name)])
    return ", ".join(min(diffs, key=len))


def arguments(spec: ModelSpec, recipe: Recipe, seq_len: int, train_batch: int, infer_batch: int,
              precision: str = "fp32") -> dict[str, Any]:
    """The ``make()`` arguments of the reference loop for a point; :class:`Unsupported` (one line) for a
    point that is not one of the reference models."""
    model = which(spec)
    if model is None:
        raise Unsupported(f"no reference loop for this model: the loops are the imdb and ptb full models "
                          f"(sizes may change), and it differs in {_differences(spec)}")
    if precision != "fp32":
        raise Unsupported(f"--precision {precision}: the reference loops run fp32 only")
    want = {"optimizer": OPTIMIZERS[model], "sampling": "consecutive" if model == "ptb" else "random",
            "momentum": 0.0, "weight_decay": 0.0}
    off = [f"{k}={getattr(recipe, k)!r}" for k, v in want.items() if getattr(recipe, k) != v]
    if model == "imdb" and recipe.clip_norm:
        off.append(f"clip_norm={recipe.clip_norm!r}")
    if off:
        raise Unsupported(f"the {model} reference loop trains with {want['optimizer']} (no momentum or "
                          f"weight decay), {want['sampling']} sampling; this point sets {', '.join(off)}")
    return {"model": model, "batch": train_batch, "infer_batch": infer_batch, "seq_len": seq_len,
            "lr": recipe.lr, "clip_norm": recipe.clip_norm if model == "ptb" else None,
            "vocab": spec.vocab_size, "embed": spec.embed_dim, "hidden": spec.hidden_size}


def load_loop(base_name: str) -> ModuleType:
    """A fresh module of the reference file (fresh: Keras may have switched backends since a last load)."""
    path = FOLDER / LOOPS[base_name]
    module_spec = importlib.util.spec_from_file_location(f"rnnbench_reference_{path.stem}", path)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


class ReferenceAdapter(Adapter):
    """Drives a reference loop through the calls the bench's ``Measurer`` makes of an adapter."""

    def __init__(self, name: str, device: str = "auto", precision: str = "fp32") -> None:
        super().__init__(device, precision)
        if not is_reference(name):
            raise BackendError(f"{name!r} is not a reference row; choose one of: {', '.join(names(LOOPS))}")
        self.name, self.base = name, base(name)
        self.info = backends.get(self.base)
        self.keras_backend = self.info.options.get("keras_backend")
        self.framework = {"jax": "flax"}.get(self.base, "keras" if self.keras_backend else self.base)
        if device == "cpu":  # hide any GPU, as --device cpu does for the adapters (before the import)
            frameworks = ("torch", "tensorflow", "jax", "mxnet", "keras")
            if not any(m in sys.modules for m in frameworks):
                os.environ["CUDA_VISIBLE_DEVICES"] = ""
                os.environ["JAX_PLATFORMS"] = "cpu"
        if self.keras_backend:
            from backends.keras import runtime  # sets KERAS_BACKEND, as the keras adapters do

            runtime.load(self.keras_backend)
        self.shape: tuple[int, int, int] | None = None
        self.loop: Any = None

    def set_shape(self, seq_len: int, train_batch: int, infer_batch: int) -> None:
        """The point's batch shapes, which some loops need up front (the bench calls this before
        ``build``)."""
        self.shape = (seq_len, train_batch, infer_batch)

    def set_threads(self, threads: int) -> None:
        """The same framework calls as the base backend's adapter (the environment variables are set)."""
        if self.base in ("torch", "keras-torch"):
            import torch

            torch.set_num_threads(threads)
            with contextlib.suppress(RuntimeError):
                torch.set_num_interop_threads(threads)
        elif self.base == "keras":
            import tensorflow as tf

            with contextlib.suppress(RuntimeError):  # settable only before TensorFlow's runtime starts
                tf.config.threading.set_intra_op_parallelism_threads(threads)
                tf.config.threading.set_inter_op_parallelism_threads(threads)

    def build(self, spec: ModelSpec, recipe: Recipe, seed: int) -> None:
        if self.shape is None:
            raise BackendError("a reference loop needs the batch shapes first: call set_shape")
        self.args = arguments(spec, recipe, *self.shape, precision=self.precision)
        self.loop = load_loop(self.base).make(**self.args)
        if self.device_request == "gpu" and self._device()[0] == "cpu":
            raise BackendError(f"--device gpu: the {self.name} loop found no GPU ({self.framework}); use "
                               "--device cpu")

    def set_weights(self, weights: dict[str, np.ndarray]) -> None:
        """Ignored: a reference loop keeps its framework's default initialisation."""

    def get_weights(self) -> dict[str, np.ndarray]:
        raise BackendError("a reference loop has no canonical weights")

    def set_lr(self, lr: float) -> None:
        raise BackendError("a reference loop keeps the learning rate it was built with")

    def train_step(self, x: np.ndarray, y: np.ndarray) -> Any:
        return self.loop.train_step(x, y)

    def losses(self, handles: list[Any]) -> np.ndarray:
        return np.array([self.loop.loss_value(h) for h in handles], dtype=np.float32)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.loop.predict(x), dtype=np.float32)

    def reset_state(self) -> None:
        self.loop.reset_state()

    def synchronize(self) -> None:
        self.loop.synchronize()

    def _device(self) -> tuple[str, str]:
        """(device, device name) the loop runs on."""
        fw = self.keras_backend or self.base
        if fw == "torch":
            import torch

            cuda = torch.cuda.is_available()
            return ("cuda:0", torch.cuda.get_device_name(0)) if cuda else ("cpu", "cpu")
        if fw == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            return ("gpu:0", gpus[0].name) if gpus else ("cpu", "cpu")
        if fw == "jax":
            import jax

            d = jax.devices()[0]
            return ("cpu", "cpu") if d.platform == "cpu" else (f"{d.platform}:{d.id}", d.device_kind)
        ctx = self.loop.ctx  # mxnet
        gpu = ctx.device_type == "gpu"
        return (f"gpu:{ctx.device_id}", f"gpu {ctx.device_id}") if gpu else ("cpu", "cpu")

    def _versions(self) -> dict[str, str]:
        fw = self.keras_backend or self.base
        out: dict[str, str] = {}
        if self.keras_backend:
            out["keras"] = sys.modules["keras"].__version__
        if fw == "torch":
            import torch

            out["torch"] = torch.__version__
        elif fw == "tensorflow":
            import tensorflow as tf

            out["tensorflow"] = tf.__version__
        elif fw == "jax":
            import jax
            import jaxlib

            out.update(jax=jax.__version__, jaxlib=jaxlib.__version__)
            if not self.keras_backend:
                import flax
                import optax

                out.update(flax=flax.__version__, optax=optax.__version__)
        else:
            import mxnet as mx

            out["mxnet"] = mx.__version__
        return out

    def _kernel(self, gpu: bool) -> tuple[str, str]:
        """(kernel_path, detail) of the recurrence the loop's framework runs, as far as it is knowable."""
        ptb = self.args["model"] == "ptb"
        if self.base == "torch":
            return ("cudnn", "nn.LSTM on cuDNN") if gpu else ("fused", "nn.LSTM fused CPU kernel")
        if self.base == "mxnet":
            return ("cudnn" if gpu else "fused"), "gluon.rnn.LSTM (fused RNN operator), hybridized"
        if self.base == "jax":
            return "scan", "nnx.RNN over nnx.OptimizedLSTMCell (lax.scan of the cell), inside one nnx.jit"
        if self.keras_backend == "torch":
            if ptb:
                return "loop", ("keras generic rnn loop, eager (use_cudnn=False: Keras 3.15's fused path "
                                "breaks autograd with stateful=True on torch)")
            return ("cudnn", "keras torch backend lstm: cuDNN") if gpu else \
                ("loop", "keras torch backend lstm fallback: Python loop over time steps, eager")
        if gpu:
            return "cudnn", f"keras {self.keras_backend} backend lstm: fused cuDNN kernel"
        loop = "tf.while_loop in a tf.function" if self.keras_backend == "tensorflow" else "lax.scan"
        note = ("; stateful states not carried: Keras 3.15 on jax leaves them out of its stateless step"
                if ptb and self.keras_backend == "jax" else "")
        return "scan", f"generic keras rnn loop: {loop} over the LSTM cell (no fused lstm on a CPU){note}"

    def _threads(self) -> int | None:
        fw = self.keras_backend or self.base
        if fw == "torch":
            import torch

            return torch.get_num_threads()
        if fw == "tensorflow":
            import tensorflow as tf

            return tf.config.threading.get_intra_op_parallelism_threads() or \
                int(os.environ.get("TF_NUM_INTRAOP_THREADS", 0)) or os.cpu_count()
        if fw == "jax":
            return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        value = os.environ.get("MXNET_OMP_MAX_THREADS") or os.environ.get("OMP_NUM_THREADS")
        return int(value) if value and value.isdigit() else None

    def describe(self) -> dict[str, Any]:
        device, device_name = self._device()
        path, detail = self._kernel(device != "cpu")
        model = self.args["model"]
        optimizer = {"torch": "torch.optim.", "jax": "optax.", "mxnet": "gluon.Trainer "}.get(
            self.base, "keras.optimizers.") + ("SGD, global norm clipped" if model == "ptb" else "Adam")
        info = {
            "framework": self.framework, "reference": True,
            "loop": str((FOLDER / LOOPS[self.base]).relative_to(FOLDER.parents[1])),
            "reference_model": model, "base_backend": self.base, "versions": self._versions(),
            "device": device, "device_name": device_name, "kernel_path": path, "kernel_detail": detail,
            "precision": self.precision, "optimizer": optimizer, "threads": self._threads(),
            "weights": "the framework's default initialisation",
        }
        if self.keras_backend:
            info["keras_backend"] = self.keras_backend
        return info

    def peak_device_memory(self) -> int | None:
        fw = self.keras_backend or self.base
        torch, jax = sys.modules.get("torch"), sys.modules.get("jax")  # the loop imported its framework
        if fw == "torch" and torch is not None and torch.cuda.is_available():
            return int(torch.cuda.max_memory_allocated())
        if fw == "jax" and jax is not None:
            d = jax.devices()[0]
            return None if d.platform == "cpu" else (d.memory_stats() or {}).get("peak_bytes_in_use")
        return None
