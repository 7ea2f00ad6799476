"""The MXNet adapter: device selection, hybridized train and predict steps.

MXNet executes asynchronously: ``train_step`` returns the loss NDArray without waiting for it,
``losses`` and ``predict`` wait for their own results, and ``synchronize`` (``mx.nd.waitall()``) waits for
everything queued, which the harness calls before reading a clock.

Consecutive sampling (``recipe.stateful``) feeds the carried encoder state to the hybridized graphs as
extra inputs (the fused layer's begin states) and keeps the final states they return, detached: NDArrays
that stay on the device, so carrying costs no copy. With random sampling the graphs have no state inputs.
"""

from __future__ import annotations

import ctypes
import os
from typing import Any

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon

from backends.base import Adapter, BackendError
from backends.mxnet import train, weights
from backends.mxnet.model import RecurrentNet, TrainNet
from tasks.spec import ModelSpec, Recipe


def _cuda_build() -> bool:
    return bool(mx.runtime.Features().is_enabled("CUDA"))


def _omp_threads() -> int | None:
    """OpenMP threads per MXNet operator. MXNet picks them when it starts: ``MXNET_OMP_MAX_THREADS``, else
    ``OMP_NUM_THREADS``, else half the processors (it assumes hyper-threading on x86, so a 2-core VM
    without it gets 1), and sets that on the main thread, where libgomp reports it."""
    if os.environ.get("MXNET_OMP_MAX_THREADS", "").isdigit():
        return int(os.environ["MXNET_OMP_MAX_THREADS"])
    try:
        return int(ctypes.CDLL("libgomp.so.1").omp_get_max_threads())
    except (OSError, AttributeError):
        return None


class MXNetAdapter(Adapter):
    framework = "mxnet"

    def __init__(self, device: str = "auto", precision: str = "fp32", **options: Any) -> None:
        super().__init__(device, precision, **options)
        gpus = mx.context.num_gpus() if _cuda_build() else 0
        if device == "gpu" and not gpus:
            why = ("this MXNet build has no CUDA support" if not _cuda_build()
                   else "MXNet sees no CUDA GPU (mx.context.num_gpus() is 0)")
            raise BackendError(
                f"--device gpu: {why} (mxnet {mx.__version__}); MXNet's GPU wheels stop at CUDA 11.7 "
                "(mxnet-cu117 1.9.1, the last release), so no current GPU build exists; use --device cpu"
            )
        if precision != "fp32":
            raise BackendError(f"--precision {precision}: the mxnet backend runs fp32 only (MXNet's AMP is "
                               "GPU-only and not wired up here); use --precision fp32")
        self.ctx = mx.gpu(0) if gpus and device != "cpu" else mx.cpu()

    def build(self, spec: ModelSpec, recipe: Recipe, seed: int) -> None:
        mx.random.seed(seed)  # dropout masks; seeds every device's generator
        self.spec, self.recipe = spec, recipe
        self.net = RecurrentNet(spec)
        self.net.initialize(mx.init.Xavier(), ctx=self.ctx)  # overwritten by set_weights
        if spec.cell != "gru":  # the spec has one bias: h2h_bias stays 0 (see backends/canonical.py)
            for name, param in self.net.collect_params().items():
                if name.endswith("h2h_bias"):
                    param.grad_req = "null"
        self.train_net = TrainNet(self.net, train.loss(spec))
        self.params = list(self.net.collect_params().values())
        self.trainer = gluon.Trainer(self.net.collect_params(), train.optimizer(recipe), kvstore=None,
                                     update_on_kvstore=False)
        self._steps: int | None = None
        self._state: list[mx.nd.NDArray] = []  # carried encoder state (consecutive sampling)

    @property
    def hybridize_options(self) -> dict[str, bool]:
        """The mode's ``hybridize`` flags: ``static`` (the default) plans memory and shapes once."""
        static = self.mode != "dynamic"
        return {"static_alloc": static, "static_shape": static}

    def _hybridize(self, steps: int) -> None:
        """(Re)build the cached graphs; the per-step loop unrolls ``steps`` time steps into them."""
        if steps != self._steps:
            if not self.spec.fused_ok:
                self.net.rnn.steps = steps  # the decoder's length is fixed at construction
            self.train_net.hybridize(**self.hybridize_options)  # also hybridizes self.net
            self._steps = steps

    def set_weights(self, canonical: dict[str, np.ndarray]) -> None:
        weights.from_canonical(self.net, canonical, self.ctx)

    def get_weights(self) -> dict[str, np.ndarray]:
        return weights.to_canonical(self.net)

    def _array(self, a: np.ndarray, dtype: str) -> mx.nd.NDArray:
        return mx.nd.array(a, ctx=self.ctx, dtype=dtype)

    def _begin_state(self, batch: int) -> list[mx.nd.NDArray]:
        """The carried state, or zeros where there is none or its batch size differs; none when random
        sampling."""
        if not self.recipe.stateful:
            return []
        if not self._state or self._state[0].shape[1] != batch:
            shape = (self.spec.num_layers, batch, self.spec.hidden_size)
            self._state = [mx.nd.zeros(shape, ctx=self.ctx) for _ in range(self.net.num_states)]
        return self._state

    def _split(self, out: mx.nd.NDArray | list[mx.nd.NDArray]) -> mx.nd.NDArray:
        """The first output of a graph; a stateful graph's final states are kept, detached (truncated
        backpropagation through time)."""
        if not self.recipe.stateful:
            return out
        self._state = [s.detach() for s in out[1:]]
        return out[0]

    def reset_state(self) -> None:
        self._state = []

    def train_step(self, x: np.ndarray, y: np.ndarray) -> mx.nd.NDArray:
        self._hybridize(x.shape[1])
        xb, yb = self._array(x, "int32"), self._array(y, "float32")
        state = self._begin_state(x.shape[0])
        with autograd.record():
            loss = self._split(self.train_net(xb, yb, *state))
        loss.backward()
        if self.recipe.clip_norm:
            grads = [p.grad(self.ctx) for p in self.params if p.grad_req != "null"]
            gluon.utils.clip_global_norm(grads, self.recipe.clip_norm, check_isfinite=False)
        self.trainer.step(1)  # the loss is already the batch mean: no further rescaling
        return loss

    def losses(self, handles: list[Any]) -> np.ndarray:
        return mx.nd.concat(*handles, dim=0).asnumpy().astype(np.float32)

    def predict(self, x: np.ndarray) -> np.ndarray:
        self._hybridize(x.shape[1])
        out = self._split(self.net(self._array(x, "int32"), *self._begin_state(x.shape[0])))
        return out.asnumpy().astype(np.float32, copy=False)

    def set_lr(self, lr: float) -> None:
        self.trainer.set_learning_rate(lr)

    def synchronize(self) -> None:
        mx.nd.waitall()

    def kernel_path(self) -> str:
        if self.spec.scan_cell:
            return "hillis-steele" if self.spec.scan == "parallel" else "loop"
        if not self.spec.fused_ok:
            return "loop"  # spiking cell or recurrent dropout: per-step cell unrolled in the graph
        return "cudnn" if self.ctx.device_type == "gpu" else "fused"

    def describe(self) -> dict[str, Any]:
        features = mx.runtime.Features()
        onednn = features.is_enabled("MKLDNN")
        cell = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}.get(self.spec.cell, self.spec.cell)
        why = "spiking LSTM" if self.spec.spiking else "recurrent dropout"
        detail = {
            "hillis-steele": f"{self.spec.cell}, scan=parallel: Hillis-Steele scan over (a, b) pairs of "
                             "h = a*h + b, ceil(log2 T) rounds of slice/mul/concat unrolled in a hybridized "
                             "graph (MXNet 1.9 has no associative scan)",
            "loop": f"per-step LoopRecurrence unrolled in a hybridized graph ({why})",
            "cudnn": f"gluon.rnn.{cell} (RNN operator on cuDNN), hybridized",
            "fused": f"gluon.rnn.{cell} (fused RNN operator"
                     + (", oneDNN build" if onednn else "") + "), hybridized",
        }[self.kernel_path()]
        if self.spec.scan_cell and self.spec.scan == "sequential":
            detail = (f"{self.spec.cell}, scan=sequential: per-step h = a*h + b unrolled in a hybridized "
                      "graph")
        gpu = self.ctx.device_type == "gpu"
        return {
            "framework": "mxnet",
            "versions": {"mxnet": mx.__version__, "numpy": np.__version__},
            "device": f"gpu:{self.ctx.device_id}" if gpu else "cpu",
            "device_name": f"gpu {self.ctx.device_id}" if gpu else "cpu",
            "kernel_path": self.kernel_path(),
            "kernel_detail": detail,
            "mode": self.mode,
            "hybridize": self.hybridize_options,
            "precision": self.precision,
            "optimizer": train.implementation(self.recipe),
            "threads": _omp_threads(),
            "features": sorted(k for k in features if features.is_enabled(k)),
            "env": {k: v for k, v in os.environ.items()
                    if k.startswith("MXNET_") or k in ("OMP_NUM_THREADS",)},
        }
