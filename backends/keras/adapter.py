"""The Keras 3 adapter: one class for Keras on TensorFlow, JAX and PyTorch (``keras_backend`` option).

Keras is imported here, lazily, after ``KERAS_BACKEND`` is set (``backends.keras.runtime``); this module
imports no framework at import time.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

import numpy as np

from backends.base import Adapter, BackendError
from backends.keras import model as keras_model
from backends.keras import runtime, steps, train, weights
from tasks.spec import ModelSpec, Recipe

_POLICIES = {"fp32": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}
# keras-torch on a CPU: the sequence length from which Keras' generic loop trains faster than the torch
# backend's own op, per cell (benchmarks/keras_torch_fallback.py, one layer at each task's shape: LSTM
# 0.85x of the op at 35 steps, 1.9x at 100; GRU 0.89x at 100, 2.8x at 200)
LOOP_FROM = {"lstm": 64, "gru": 128}


def _gpus(backend: str) -> list[str]:
    """Names of the GPUs the Keras backend's framework sees."""
    if backend == "tensorflow":
        import tensorflow as tf

        return [d.name for d in tf.config.list_physical_devices("GPU")]
    if backend == "jax":
        import jax

        try:
            return [d.device_kind for d in jax.devices("gpu")]  # "NVIDIA H200", as the others name it
        except RuntimeError:
            return []
    import torch

    return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]


class KerasAdapter(Adapter):
    framework = "keras"

    def __init__(self, device: str = "auto", precision: str = "fp32", **options: Any) -> None:
        super().__init__(device, precision, **options)
        self.backend = options.get("keras_backend", "tensorflow")
        self.keras = runtime.load(self.backend)
        gpus = _gpus(self.backend)
        if device == "gpu" and not gpus:
            raise BackendError(
                f"--device gpu: Keras on {self.backend} sees no GPU (keras {self.keras.__version__}); use "
                f"--device cpu, or install a GPU build of {self.backend} on a GPU machine"
            )
        self.gpu = bool(gpus) and device != "cpu"
        self.gpu_names = gpus
        self.fixed_shapes = self.backend == "jax"  # jax.jit: partial batches come padded, weight 0
        if precision == "fp16" and not self.gpu:
            raise BackendError("--precision fp16 needs a GPU (loss scaling); use bf16 or fp32 on a CPU")

    def _scope(self) -> contextlib.AbstractContextManager:
        """Pins work to the CPU when a GPU is present but --device cpu was asked for."""
        if self.gpu or not self.gpu_names:
            return contextlib.nullcontext()
        return self.keras.device("cpu:0")

    def _jit(self) -> bool:
        """The mode's compiler: ``xla``/``compile`` on, ``noxla``/``eager`` off; in the ``auto`` mode as
        Keras' ``jit_compile="auto"`` decides it: always on JAX, never on torch (eager), on TensorFlow only
        with a GPU and not around cuDNN recurrences (they are not XLA-compatible)."""
        if self.mode in ("xla", "compile", "noxla", "eager"):
            return self.mode in ("xla", "compile")
        if self.backend == "jax":
            return True
        if self.backend == "torch":
            return False
        return self.gpu and self._recurrence()[0] != "cudnn"

    def set_threads(self, threads: int) -> None:
        if self.backend == "tensorflow":
            import tensorflow as tf

            with contextlib.suppress(RuntimeError):  # settable only before TensorFlow's runtime starts
                tf.config.threading.set_intra_op_parallelism_threads(threads)
                tf.config.threading.set_inter_op_parallelism_threads(threads)
        elif self.backend == "torch":
            import torch

            torch.set_num_threads(threads)
            with contextlib.suppress(RuntimeError):
                torch.set_num_interop_threads(threads)

    def build(self, spec: ModelSpec, recipe: Recipe, seed: int) -> None:
        keras = self.keras
        keras.utils.set_random_seed(seed)  # Python, NumPy, framework and Keras' seed generators (dropout)
        self.spec, self.recipe = spec, recipe
        with self._scope():
            self.model = keras_model.build(keras, spec, dtype=_POLICIES[self.precision],
                                           stateful=recipe.stateful, loop_from=self._loop_from())
            optimizer = train.optimizer(keras, recipe)
            if self.precision == "fp16":
                optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
            self.optimizer = optimizer
            self.engine = steps.ENGINES[self.backend](keras, self.model, optimizer, train.loss(keras, spec),
                                                      self._jit(), stateful=recipe.stateful)

    def set_weights(self, canonical: dict[str, np.ndarray]) -> None:
        self.engine.push()
        with self._scope():
            weights.from_canonical(self.spec, self.model, canonical)
        self.engine.pull()

    def get_weights(self) -> dict[str, np.ndarray]:
        self.engine.push()
        return weights.to_canonical(self.spec, self.model)

    def _targets(self, y: np.ndarray) -> np.ndarray:
        if self.spec.loss == "binary_crossentropy":
            return np.asarray(y, dtype=np.float32).reshape(-1, 1)
        return np.asarray(y, dtype=np.int32)

    def train_step(self, x: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None) -> Any:
        with self._scope():
            if weight is not None:  # only the JAX engine is given weights (fixed_shapes)
                return self.engine.train(np.asarray(x, dtype=np.int32), self._targets(y),
                                         np.asarray(weight, dtype=np.float32))
            return self.engine.train(np.asarray(x, dtype=np.int32), self._targets(y))

    def compiled_shapes(self) -> int | None:
        return self.engine.compiled_shapes()

    def prepare(self, batches: list[tuple[np.ndarray, np.ndarray]]) -> None:
        if self.fixed_shapes and not self.recipe.stateful:
            with self._scope():
                self.engine.prepare([(np.asarray(x, dtype=np.int32), self._targets(y)) for x, y in batches])

    def losses(self, handles: list[Any]) -> np.ndarray:
        return self.engine.losses(handles)

    def predict(self, x: np.ndarray) -> np.ndarray:
        with self._scope():
            return np.asarray(self.engine.predict(np.asarray(x, dtype=np.int32)), dtype=np.float32)

    def reset_state(self) -> None:
        """Zero the carried encoder states (consecutive sampling); with random sampling there are none."""
        self.engine.reset()

    def set_lr(self, lr: float) -> None:
        self.engine.push()
        self.optimizer.learning_rate = lr
        self.engine.pull()

    def synchronize(self) -> None:
        self.engine.synchronize()

    def _loop_from(self) -> dict[str, int] | None:
        """From how many steps the LSTM/GRU layers run Keras' generic loop instead of the backend's own
        op (``backends.keras.model.length_switched``). keras-torch without a GPU: ``LOOP_FROM``, its own op
        being a Python loop over ``x_proj[t]`` with a backward quadratic in the length. keras-jax on a GPU
        in bf16/fp16: from step 0, since JAX's cuDNN RNN lowers fp32 only (jaxlib's ``gpu_rnn`` raises
        "Unknown output type bfloat16" when the train step compiles, past Keras' fallback), as the jax
        backend does. Elsewhere None: Keras' choice (cuDNN on a GPU)."""
        if self.backend == "torch" and not self.gpu:
            return LOOP_FROM
        if self._jax_cudnn_declined():
            return {"lstm": 0, "gru": 0}
        return None

    def _jax_cudnn_declined(self) -> bool:
        """keras-jax on a GPU in a precision JAX's cuDNN RNN cannot lower (fp32 only)."""
        return self.backend == "jax" and self.gpu and self.precision != "fp32"

    def _recurrence(self) -> tuple[str, str]:
        """(kernel_path, detail) of the recurrence Keras 3.15 runs for this spec, backend and device.

        Keras' LSTM/GRU layers try the backend's own ``lstm``/``gru`` op unless recurrent dropout is on;
        when it declines (NotImplementedError) they run the generic ``keras.backend.rnn`` loop over the
        layer's per-step cell. SimpleRNN always runs the generic loop.
        """
        be, cell = self.backend, self.spec.cell
        if self.spec.scan_cell:
            how = {"tensorflow": "in a tf.function graph", "jax": "under jax.jit",
                   "torch": "eager torch ops"}[be]
            if self.spec.scan == "parallel" and be == "torch":
                return "hillis-steele", (
                    f"{cell}, scan=parallel: recursive doubling in keras.ops over (a, b) pairs of h = a*h + b"
                    " on the torch backend, eager torch ops (keras.ops.associative_scan leaks host memory on "
                    "torch in training, backends/keras/cells.py)")
            if self.spec.scan == "parallel":
                return "associative_scan", (f"{cell}, scan=parallel: keras.ops.associative_scan over (a, b) "
                                            f"pairs of h = a*h + b on the {be} backend, {how}")
            loop = {"tensorflow": "tf.while_loop", "jax": "lax.scan", "torch": "a Python loop"}[be]
            return "scan", (f"{cell}, scan=sequential: keras.ops.scan stepping h = a*h + b ({loop} on the "
                            f"{be} backend, {how})")
        generic = {"tensorflow": ("scan", "generic keras rnn loop: tf.while_loop over the per-step cell "
                                          "in a tf.function graph"),
                   "jax": ("scan", "generic keras rnn loop: lax.scan over the per-step cell"),
                   "torch": ("loop", "generic keras rnn loop: Python loop over the per-step cell, eager")}[be]
        if not self.spec.fused_ok or cell == "rnn":
            reason = ("spiking LSTM cell: Heaviside gates, surrogate gradient" if self.spec.spiking
                      else "recurrent dropout" if not self.spec.fused_ok else "SimpleRNN")
            return generic[0], f"{generic[1]} ({reason})"
        if self._jax_cudnn_declined():
            return generic[0], (f"{generic[1]} (cuDNN RNN is fp32-only in JAX; {self.precision} runs the "
                                "scan)")
        if self.gpu and (be != "jax" or cell == "lstm"):
            return "cudnn", f"keras {be} backend {cell}: fused cuDNN kernel"
        if be == "jax" and cell == "gru":
            return "scan", "keras jax backend gru: input projections in one matmul, lax.scan over the rest"
        if be == "torch":  # see _loop_from
            return "loop", (f"keras torch backend {cell} below {LOOP_FROM[cell]} steps (input projections "
                            "in one matmul, a Python loop over x_proj[t], eager); from "
                            f"{LOOP_FROM[cell]} steps {generic[1]} (that op's backward grows with the square "
                            "of the length)")
        return generic[0], f"{generic[1]} (no fused {cell} kernel on a CPU)"

    def describe(self) -> dict[str, Any]:
        keras, be = self.keras, self.backend
        versions = {"keras": keras.__version__}
        if be == "tensorflow":
            import tensorflow as tf

            versions["tensorflow"] = tf.__version__
            build = tf.sysconfig.get_build_info()
            if self.gpu:
                versions.update(cuda=build.get("cuda_version"), cudnn=build.get("cudnn_version"))
            threads = (tf.config.threading.get_intra_op_parallelism_threads()
                       or int(os.environ.get("TF_NUM_INTRAOP_THREADS", 0)) or os.cpu_count())
        elif be == "jax":
            import jax
            import jaxlib

            versions.update(jax=jax.__version__, jaxlib=jaxlib.__version__)
            threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        else:
            import torch

            versions["torch"] = torch.__version__
            if self.gpu:
                versions.update(cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version())
            threads = torch.get_num_threads()
        path, detail = self._recurrence()
        return {
            "framework": "keras",
            "keras_backend": be,
            "versions": versions,
            "device": "gpu:0" if self.gpu else "cpu",
            "device_name": self.gpu_names[0] if self.gpu else "cpu",
            "kernel_path": path,
            "kernel_detail": detail,
            "mode": self.mode,
            "xla": self._jit() and be != "torch",
            "train_step": {"tensorflow": f"tf.function(jit_compile={self._jit()})",
                           "jax": "jax.jit stateless",
                           "torch": "torch.compile of the model call" if self._jit() else "eager"}[be],
            **({"compile": self.engine.compile_report()} if be == "torch" and self._jit() else {}),
            "state": ("encoder states carried between calls: initial states in, final states out of the "
                      "model, kept on the device" if self.recipe.stateful else "zeros every call"),
            "precision": self.precision,
            "optimizer": train.implementation(self.recipe),
            "dtype_policy": _POLICIES[self.precision],
            "threads": threads,
        }

    def peak_device_memory(self) -> int | None:
        if not self.gpu:
            return None
        if self.backend == "torch":
            import torch

            return int(torch.cuda.max_memory_allocated())
        if self.backend == "tensorflow":
            import tensorflow as tf

            return int(tf.config.experimental.get_memory_info("GPU:0")["peak"])
        import jax

        stats = jax.devices("gpu")[0].memory_stats() or {}
        return stats.get("peak_bytes_in_use")
