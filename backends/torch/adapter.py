"""The PyTorch adapter: device selection, mixed precision, train and predict steps."""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import torch

from backends.base import Adapter, BackendError
from backends.torch import compiled, scan, train, weights
from backends.torch.model import RecurrentNet, State
from tasks.spec import ModelSpec, Recipe

_AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class TorchAdapter(Adapter):
    framework = "torch"

    def __init__(self, device: str = "auto", precision: str = "fp32", **options: Any) -> None:
        super().__init__(device, precision, **options)
        cuda = torch.cuda.is_available()
        if device == "gpu" and not cuda:
            raise BackendError(
                "--device gpu: torch sees no CUDA GPU (torch.cuda.is_available() is False, build "
                f"{torch.__version__}); use --device cpu, or install a CUDA build of torch on a GPU machine"
            )
        self.device = torch.device("cuda" if cuda and device != "cpu" else "cpu")
        if precision == "fp16" and self.device.type != "cuda":
            raise BackendError("--precision fp16 needs a GPU (loss scaling); use bf16 or fp32 on a CPU")
        self.amp_dtype = _AMP_DTYPES.get(precision)
        self.scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None

    def set_threads(self, threads: int) -> None:
        torch.set_num_threads(threads)
        with contextlib.suppress(RuntimeError):  # only settable before the first inter-op parallel work
            torch.set_num_interop_threads(threads)

    def build(self, spec: ModelSpec, recipe: Recipe, seed: int) -> None:
        torch.manual_seed(seed)
        self.spec, self.recipe = spec, recipe
        self.model = RecurrentNet(spec).to(self.device)
        # the forward each step calls: the module itself (eager), or torch.compile of it (compile modes)
        self.compiled = compiled.Compiled(self.model, self.mode) if self.mode in compiled.OPTIONS else None
        self.forward = self.compiled.fn if self.compiled is not None else self.model
        self._state: State | None = None  # carried between calls under consecutive sampling
        self.optimizer = train.optimizer(recipe, self.model.parameters())
        if self.amp_dtype is not None:
            self._probe_precision()
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)

    def _probe_precision(self) -> None:
        """Fail at build, not mid-run, where the device has no kernel for the requested precision."""
        x = torch.zeros((2, 3), dtype=torch.long if self.spec.input == "embedding" else torch.int32,
                        device=self.device)
        try:
            with torch.no_grad(), self._autocast():
                self.model.eval()(x)
        except RuntimeError as exc:
            raise BackendError(
                f"--precision {self.precision} on {self.device.type}: torch has no {self.precision} kernel "
                f"for this model here ({str(exc).splitlines()[0][:120]}); use --precision fp32"
            ) from None

    def set_weights(self, canonical: dict[str, np.ndarray]) -> None:
        weights.from_canonical(self.model, canonical)

    def get_weights(self) -> dict[str, np.ndarray]:
        return weights.to_canonical(self.model)

    def _tensor(self, a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a)).to(self.device, non_blocking=True)

    def _autocast(self) -> torch.autocast:
        return torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32,
                              enabled=self.amp_dtype is not None)

    def _start(self, batch: int) -> State | None:
        """The carried state if there is one for this batch size; None starts from zeros."""
        state = self._state
        if state is None or (state[0] if isinstance(state, tuple) else state).shape[1] != batch:
            return None
        return state

    def _keep(self, state: State) -> None:
        """Carry the final encoder state into the next call, detached (truncated BPTT), on the device."""
        if self.recipe.stateful:
            self._state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()

    def reset_state(self) -> None:
        self._state = None

    def train_step(self, x: np.ndarray, y: np.ndarray) -> torch.Tensor:
        self.model.train()
        xb, yb = self._tensor(x), self._tensor(y)
        with self._autocast():
            logits, state = self.forward(xb, self._start(xb.shape[0]))
        self._keep(state)
        loss = train.loss(self.spec, logits.float(), yb)
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.optimizer)
        else:
            loss.backward()
        if self.recipe.clip_norm:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.recipe.clip_norm)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        return loss.detach()

    def losses(self, handles: list[Any]) -> np.ndarray:
        return torch.stack(handles).float().cpu().numpy()

    def predict(self, x: np.ndarray) -> np.ndarray:
        self.model.eval()
        # A kept state must be a normal tensor: a later train step saves it for backward, which torch
        # refuses for inference-mode tensors; so stateful prediction runs under no_grad alone.
        with torch.inference_mode(not self.recipe.stateful), torch.no_grad(), self._autocast():
            xb = self._tensor(x)
            logits, state = self.forward(xb, self._start(xb.shape[0]))
            self._keep(state)
        return logits.float().cpu().numpy()

    def set_lr(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def synchronize(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def kernel_path(self) -> str:
        if self.spec.scan_cell:  # the primitive that runs the recurrence (backends/torch/scan.py)
            return {"sequential": "loop", "logspace": "logcumsumexp", "assoc": "hillis-steele"}[
                "sequential" if self.spec.scan == "sequential" else scan.PARALLEL]
        if not self.spec.fused_ok:
            return "loop"  # recurrent dropout or the spiking cell: per-step cell in Python
        cudnn = torch.backends.cudnn
        if self.device.type == "cuda" and cudnn.is_available() and cudnn.enabled:
            return "cudnn"
        return "fused"

    def _detail(self) -> str:
        if self.spec.scan_cell:
            mode = "sequential" if self.spec.scan == "sequential" else scan.PARALLEL
            return f"{self.spec.cell} ScanRecurrence, scan={self.spec.scan}: {scan.PRIMITIVES[mode]}"
        return {"loop": "per-step LoopRecurrence "
                        f"({'spiking cell' if self.spec.spiking else 'recurrent dropout'})",
                "cudnn": "nn.LSTM/GRU/RNN on cuDNN",
                "fused": "nn.LSTM/GRU/RNN fused CPU kernel"}[self.kernel_path()]

    def describe(self) -> dict[str, Any]:
        cuda = self.device.type == "cuda"
        versions = {"torch": torch.__version__}
        if cuda:
            versions["cuda"] = torch.version.cuda
            versions["cudnn"] = torch.backends.cudnn.version()
        return {
            "framework": "torch",
            "versions": versions,
            "device": str(self.device),
            "device_name": torch.cuda.get_device_name(self.device) if cuda else "cpu",
            "kernel_path": self.kernel_path(),
            "kernel_detail": self._detail(),
            "mode": self.mode,
            **({"compile": self.compiled.report()} if self.compiled is not None else {}),
            "precision": self.precision,
            "optimizer": train.implementation(self.recipe),
            "threads": torch.get_num_threads(),
            "interop_threads": torch.get_num_interop_threads(),
        }

    def peak_device_memory(self) -> int | None:
        if self.device.type == "cuda":
            return int(torch.cuda.max_memory_allocated(self.device))
        return None
