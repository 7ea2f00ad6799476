"""The JAX/Flax adapter: device selection, mixed precision, one jitted train step, predict.

The training step (forward, loss, gradients, optimizer update, and the dropout key split) is one
``jax.jit`` of a pure function over the parameter and optimizer-state pytrees (``nnx.split``/``nnx.merge``
inside the trace), with those buffers donated. ``train_step`` only dispatches it: the loss comes back as a
device array, and nothing waits until the harness calls ``losses`` or ``synchronize``. Compilation
happens on the first call (the harness' first-step time), never in ``build``.

Consecutive sampling threads the encoder's hidden state through the jitted step and predict as one more
donated pytree argument and result: it stays on the device between calls (no host round-trip), is
detached because gradients are taken with respect to the parameters only, and is replaced by zeros on
``reset_state`` or a change of batch size. Random sampling passes ``None``: the same program as before.
"""

from __future__ import annotations

import os
from typing import Any

import flax
import jax
import jax.numpy as jnp
import jaxlib
import numpy as np
import optax
from flax import nnx

from backends.base import Adapter, BackendError
from backends.jax import train, weights
from backends.jax.model import RecurrentNet, encoder_zero_state
from tasks.spec import ModelSpec, Recipe

_DTYPES = {"fp32": jnp.float32, "bf16": jnp.bfloat16, "fp16": jnp.float16}
_SCALE_PERIOD = 2000  # fp16 dynamic loss scaling: double the scale after this many finite steps
# Where the input projection happens on a CPU, per path: "step" (inside the scan) or "all" (one matmul over
# every step first); see ``Recurrence``. A GPU always projects all steps at once.
_PROJECT = {"train": os.environ.get("RNNBENCH_JAX_PROJECT_TRAIN", "step"),
            "predict": os.environ.get("RNNBENCH_JAX_PROJECT_PREDICT", "step")}


def _gpus() -> list[jax.Device]:
    try:
        return jax.devices("gpu")
    except RuntimeError:
        return []


class JaxAdapter(Adapter):
    framework = "jax"
    fixed_shapes = True  # XLA compiles a program per shape: partial batches come padded, weight 0

    def __init__(self, device: str = "auto", precision: str = "fp32", **options: Any) -> None:
        super().__init__(device, precision, **options)
        gpus = _gpus() if device != "cpu" else []
        if device == "gpu" and not gpus:
            raise BackendError(
                f"--device gpu: JAX sees no GPU (jax {jax.__version__}, backend "
                f"{jax.default_backend()!r}; a CUDA build of jaxlib, e.g. jax[cuda12], is needed); "
                "use --device cpu, or run on a GPU machine with CUDA-enabled JAX"
            )
        self.device = gpus[0] if gpus else jax.devices("cpu")[0]
        self.on_gpu = self.device.platform in ("gpu", "cuda", "rocm")
        if precision == "fp16" and not self.on_gpu:
            raise BackendError("--precision fp16 needs a GPU (loss scaling); use bf16 or fp32 on a CPU")
        self.dtype = _DTYPES[precision]

    @property
    def unroll(self) -> int:
        """``jax.lax.scan``'s unroll factor: the mode's (``jax+unroll8``: 8), 1 by default."""
        return int((self.mode or "unroll1").removeprefix("unroll"))

    # -- build ---------------------------------------------------------------------------------------

    def build(self, spec: ModelSpec, recipe: Recipe, seed: int) -> None:
        self.spec, self.recipe = spec, recipe
        model = RecurrentNet(spec, self.dtype, unroll=self.unroll)
        # the fused kernel: LSTM only, no recurrent dropout (cuDNN has none), fp32 only in JAX
        self.cudnn = self.on_gpu and spec.cell == "lstm" and spec.fused_ok and self.precision == "fp32"
        model.use_cudnn(self.cudnn)
        self.graphdef, params = nnx.split(model, nnx.Param)
        self.tx = train.optimizer(recipe)
        with jax.default_device(self.device):
            self.params = jax.device_put(params, self.device)
            self.opt_state = jax.device_put(self.tx.init(self.params), self.device)
            self.key = jax.device_put(jax.random.key(seed), self.device)
            # fp16 dynamic loss scale and the count of finite steps since it last changed
            self.scaler = (jax.device_put((jnp.float32(2.0 ** 15), jnp.int32(0)), self.device)
                           if self.precision == "fp16" else None)
        self.set_lr(recipe.lr)
        self._step = jax.jit(self._step_fn(), donate_argnums=(0, 1, 2, 3, 4))
        self._compiled: dict[tuple, Any] = {}  # ahead-of-time compiled steps by input shape (``prepare``)
        self._predict = jax.jit(self._predict_fn(), donate_argnums=(1,))
        self._last: Any = None
        self.state: Any = None  # the carried encoder state (consecutive sampling), a device pytree

    def _step_fn(self):
        graphdef, tx, spec, fp16 = self.graphdef, self.tx, self.spec, self.precision == "fp16"

        per_step = self._per_step("train")

        def loss_fn(params, key, state, x, y, w, scale):
            logits, final = nnx.merge(graphdef, params)(x, key=key, state=state, per_step=per_step)
            value = train.loss(spec, logits, y, w)
            return value * scale, (value, final if state is not None else None)

        def step(params, opt_state, key, scaler, state, x, y, w):
            key, sub = jax.random.split(key)
            scale = scaler[0] if fp16 else jnp.float32(1.0)
            grads, (loss, state) = jax.grad(loss_fn, has_aux=True)(params, sub, state, x, y, w, scale)
            if fp16:
                grads = jax.tree.map(lambda g: g / scale, grads)
            updates, new_opt_state = tx.update(grads, opt_state, params)
            new_params = optax.apply_updates(params, updates)
            if fp16:  # skip the update and halve the scale on overflow; double it after a quiet period
                finite = jnp.all(jnp.array([jnp.all(jnp.isfinite(g)) for g in jax.tree.leaves(grads)]))
                keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(finite, a, b), new, old)  # noqa: E731
                new_params, new_opt_state = keep(new_params, params), keep(new_opt_state, opt_state)
                good = jnp.where(finite, scaler[1] + 1, 0)
                grow = good >= _SCALE_PERIOD
                scaler = (jnp.where(finite, jnp.where(grow, scale * 2, scale), scale / 2),
                          jnp.where(grow, 0, good))
            return new_params, new_opt_state, key, scaler, state, loss

        return step

    def _predict_fn(self):
        graphdef, per_step = self.graphdef, self._per_step("predict")

        def predict(params, state, x):
            logits, final = nnx.merge(graphdef, params)(x, state=state, per_step=per_step)
            return logits, final if state is not None else None

        return predict

    def _per_step(self, path: str) -> bool:
        return not self.on_gpu and _PROJECT[path] == "step"

    # -- weights -------------------------------------------------------------------------------------

    def _model(self) -> RecurrentNet:
        return nnx.merge(self.graphdef, self.params)

    def set_weights(self, canonical: dict[str, np.ndarray]) -> None:
        model = self._model()
        weights.from_canonical(model, canonical)
        self.params = jax.device_put(nnx.state(model, nnx.Param), self.device)

    def get_weights(self) -> dict[str, np.ndarray]:
        return weights.to_canonical(self._model())

    # -- steps ---------------------------------------------------------------------------------------

    def _initial_state(self, batch: int) -> Any:
        """The state this call starts from: None (zeros inside the step) unless sampling is consecutive;
        then the carried one, or fresh device zeros when there is none or its batch size differs."""
        if not self.recipe.stateful:
            return None
        carried = self.state
        if carried is None or jax.tree.leaves(carried)[0].shape[0] != batch:
            carried = encoder_zero_state(self.spec, batch, self.dtype, self.device)
        self.state = None  # donated to the call, which returns its successor
        return carried

    def reset_state(self) -> None:
        self.state = None  # the next call starts from zeros of its own batch size

    def _args(self, x: np.ndarray, y: np.ndarray, weight: np.ndarray | None, state: Any) -> tuple:
        w = np.ones(len(x), np.float32) if weight is None else np.asarray(weight, np.float32)
        return self.params, self.opt_state, self.key, self.scaler, state, x, y, w

    def prepare(self, batches: list[tuple[np.ndarray, np.ndarray]]) -> None:
        if self.recipe.stateful:  # one shape: the first step compiles it
            return
        for x, y in batches:
            key = (x.shape, x.dtype.str, y.shape, y.dtype.str)
            if key not in self._compiled:
                self._compiled[key] = self._step.lower(*self._args(x, y, None, None)).compile()

    def train_step(self, x: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None) -> jax.Array:
        step = self._compiled.get((x.shape, x.dtype.str, y.shape, y.dtype.str), self._step)
        self.params, self.opt_state, self.key, self.scaler, self.state, loss = step(
            *self._args(x, y, weight, self._initial_state(len(x))))
        self._last = loss
        return loss

    def losses(self, handles: list[Any]) -> np.ndarray:
        return np.asarray(jax.device_get(handles), dtype=np.float32).reshape(len(handles))

    def predict(self, x: np.ndarray) -> np.ndarray:
        self._last, self.state = self._predict(self.params, self._initial_state(len(x)), x)
        return np.asarray(self._last, dtype=np.float32)

    def set_lr(self, lr: float) -> None:
        # a float32 scalar like the one it replaces: same abstract value, so no recompilation
        self.opt_state.hyperparams["learning_rate"] = jax.device_put(np.float32(lr), self.device)

    def synchronize(self) -> None:
        jax.block_until_ready((self.params, self.opt_state, self._last))

    def compiled_steps(self) -> int:
        """How many versions of the train step XLA compiled (1 in a healthy run)."""
        return self._step._cache_size()

    def compiled_shapes(self) -> int:
        return self.compiled_steps() + len(self._compiled)

    # -- what ran ------------------------------------------------------------------------------------

    def kernel_path(self) -> str:
        if self.spec.scan_cell:
            return "associative_scan" if self.spec.scan == "parallel" else "scan"
        if self.spec.recurrent_dropout:
            return "loop"  # recurrent dropout: per-step cell with a mask, in lax.scan
        return "cudnn" if self.cudnn else "scan"

    def describe(self) -> dict[str, Any]:
        path = self.kernel_path()
        versions = {"jax": jax.__version__, "jaxlib": jaxlib.__version__, "flax": flax.__version__,
                    "optax": optax.__version__}
        spec = self.spec
        detail = {
            "loop": "recurrent dropout: hand-written cell per step in jax.lax.scan, inside one jax.jit",
            "scan": "hand-written cell in jax.lax.scan (input projection precomputed), inside one jax.jit",
            "cudnn": "jax.experimental.rnn.lstm (fused cuDNN LSTM) per layer, inside one jax.jit",
        }[path] if not spec.scan_cell else (
            f"{spec.cell}, scan={spec.scan}: "
            + ("jax.lax.associative_scan over (a, b) pairs of h = a*h + b" if spec.scan == "parallel"
               else "jax.lax.scan stepping h = a*h + b (gates precomputed in one matmul)")
            + ", inside one jax.jit")
        if spec.spiking:
            detail += ("; spiking LSTM: Heaviside gates, surrogate gradient via jax.custom_jvp "
                       "(no fused kernel exists)")
        if self.on_gpu and path == "scan" and spec.cell == "lstm" and self.precision != "fp32":
            detail += f" (cuDNN LSTM is fp32-only in JAX; {self.precision} runs the scan)"
        if spec.decoder_steps:
            detail += f"; encoder-decoder: {spec.decoder_layers} decoder layer(s) on the same path"
        if self.recipe.stateful:
            detail += "; consecutive sampling: encoder state carried on the device between calls"
        info: dict[str, Any] = {
            "framework": "jax",
            "versions": versions,
            "device": "cpu" if not self.on_gpu else f"{self.device.platform}:{self.device.id}",
            "device_name": getattr(self.device, "device_kind", "cpu") if self.on_gpu else "cpu",
            "kernel_path": path,
            "kernel_detail": detail,
            "precision": self.precision,
            "optimizer": train.implementation(self.recipe),
            "threads": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
            "xla_jit": not jax.config.jax_disable_jit,
            "mode": self.mode,
            "scan_unroll": self.unroll,
            "input_projection": {p: "per step" if self._per_step(p) else "all steps" for p in _PROJECT},
            "sampling": self.recipe.sampling,
            "xla_flags": os.environ.get("XLA_FLAGS", ""),
        }
        return info

    def peak_device_memory(self) -> int | None:
        if not self.on_gpu:
            return None
        stats = self.device.memory_stats() or {}
        return stats.get("peak_bytes_in_use")
