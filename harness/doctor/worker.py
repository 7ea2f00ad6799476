"""The doctor's backend side: the probe (can this backend run on the device, in which precisions, with
which framework build) and the smoke worker (every task's smoke scale in one process), each run by the
backend's own Python.

One process per backend and precision, not one per run: importing a framework and starting its device
runtime costs seconds, which nine tasks would pay nine times. Results are written atomically after every
task (``harness.records.dump_atomic``), so a worker the doctor stops at its time budget keeps what it
finished.
"""

from __future__ import annotations

import importlib.metadata
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import backends
from backends.base import PRECISIONS, BackendError
from harness import launcher, records
from harness.errors import UserError


def _short(exc: BaseException, limit: int = 300) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return text[:limit]


def _distribution_versions(modules: tuple[str, ...]) -> dict[str, str | None]:
    """Installed versions of the backend's modules, read from package metadata (nothing imported)."""
    out: dict[str, str | None] = {}
    for module in modules:
        try:
            out[module] = importlib.metadata.version(module)
        except importlib.metadata.PackageNotFoundError:
            out[module] = None
    return out


def framework_build(requires: tuple[str, ...]) -> dict[str, Any]:
    """What each framework says about its own CUDA build and the devices it sees (already imported by the
    adapter; every question guarded, since a CPU build or another version may lack it)."""
    out: dict[str, Any] = {}
    if "torch" in requires:
        import torch

        out["torch"] = {"cuda": torch.version.cuda, "cuda_available": torch.cuda.is_available(),
                        "devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
                        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available()
                        else None}
    if "jax" in requires:
        import jax

        info: dict[str, Any] = {"default_backend": jax.default_backend(),
                                "devices": [str(d) for d in jax.devices()]}
        try:  # private, but the only place jaxlib reports the CUDA and cuDNN it was built against
            from jax._src.lib import cuda_versions

            if cuda_versions is not None:
                info["cuda"] = cuda_versions.cuda_runtime_get_version()
                info["cudnn"] = cuda_versions.cudnn_get_version()
        except Exception as exc:  # noqa: BLE001 - a version question must not fail the probe
            info["cuda"] = f"unknown ({type(exc).__name__})"
        out["jax"] = info
    if "tensorflow" in requires:
        from backends.keras.runtime import import_tensorflow

        tf = import_tensorflow()

        build = tf.sysconfig.get_build_info()
        out["tensorflow"] = {"cuda": build.get("cuda_version"), "cudnn": build.get("cudnn_version"),
                             "devices": [d.name for d in tf.config.list_physical_devices("GPU")]}
    if "mxnet" in requires:
        import mxnet as mx

        features = mx.runtime.Features()
        out["mxnet"] = {"cuda": features.is_enabled("CUDA"), "cudnn": features.is_enabled("CUDNN")}
    return out


def probe(backend: str, device: str, precisions: tuple[str, ...] = PRECISIONS) -> dict[str, Any]:
    """Whether ``backend`` runs a tiny LSTM on ``device`` (one training step and a forward pass, finite),
    in fp32 and each of ``precisions``; with its versions, device and kernel path. A framework that is
    missing, or that the adapter refuses for the device (no CUDA build, no GPU seen), is ``not
    available``; one that is there and crashes is ``failed``."""
    import numpy as np

    from backends import canonical
    from harness.common.synthetic import fixed_batch
    from tasks.spec import Dense, ModelSpec, Recipe

    info = backends.get(backend)
    result: dict[str, Any] = {"schema": records.DOCTOR_PROBE, "backend": backend, "device": device,
                              "python": sys.executable, "packages": _distribution_versions(info.requires),
                              "status": "available", "reason": None, "precisions": {}, "describe": None}
    lacking = launcher.missing(info.requires)
    if lacking:
        result.update(status="not available",
                      reason=f"{', '.join(lacking)} not importable in {sys.executable}")
        return result
    spec = ModelSpec(cell="lstm", vocab_size=11, embed_dim=4, hidden_size=8, head=(Dense(3),))
    recipe = Recipe(optimizer="sgd", lr=0.1, batch_size=4, epochs=1)
    x, y = fixed_batch(spec, 4, 0, seq_len=6)
    for precision in [p for p in PRECISIONS if p == "fp32" or p in precisions]:
        try:
            adapter = backends.create(info, device, precision)
            adapter.build(spec, recipe, 0)
            adapter.set_weights(canonical.init(spec, 0))
            losses = adapter.losses([adapter.train_step(x, y)])
            out = adapter.predict(x)
            adapter.synchronize()
            if not (np.all(np.isfinite(losses)) and np.all(np.isfinite(out))):
                raise RuntimeError(f"non-finite loss or output in {precision}")
            result["precisions"][precision] = "ok"
            if precision == "fp32":
                result["describe"] = adapter.describe()
                result["peak_device_bytes"] = adapter.peak_device_memory()
        except BackendError as exc:  # the adapter's own refusal: says what would work
            result["precisions"][precision] = f"refused: {_short(exc)}"
            if precision == "fp32":
                result.update(status="not available", reason=_short(exc))
                break
        except Exception as exc:  # noqa: BLE001 - any crash of the framework is the finding
            if os.environ.get("RNNBENCH_DEBUG"):
                traceback.print_exc()
            result["precisions"][precision] = f"failed: {type(exc).__name__}: {_short(exc)}"
            if precision == "fp32":
                result.update(status="failed", reason=f"{type(exc).__name__}: {_short(exc)}")
                break
    try:
        result["build"] = framework_build(info.requires)
    except Exception as exc:  # noqa: BLE001
        result["build"] = {"error": f"{type(exc).__name__}: {_short(exc)}"}
    return result


def run_probe(backend: str, device: str, result_path: str, precisions: str = ",".join(PRECISIONS)) -> int:
    """``doctor-probe``: the probe's answer, written atomically to ``result_path``."""
    records.dump_atomic(Path(result_path), probe(backend, device, tuple(precisions.split(","))))
    return 0


def _fused_ok(model: dict[str, Any]) -> bool:
    return not model.get("recurrent_dropout") and model.get("cell") != "spiking-lstm"


def smoke(backend: str, device: str, precision: str, task_names: list[str], epochs: int, out: Path,
          result_path: Path, deadline: float, data_dir: str | None = None, cache_dir: str | None = None,
          threads: int | None = None, clock: Any = time.time) -> dict[str, Any]:
    """Each task's smoke scale on ``backend``, in order, until ``deadline`` (a ``clock`` time): one
    ``harness.run.runner`` run each, its record under ``out``, and the kernel path it recorded checked
    against the device's (``harness.doctor.driver.kernel_check``). Tasks left when the deadline passes are
    ``skipped``; a task whose dataset is not there (no mirror, no network) is ``no data``."""
    from harness.doctor import driver as doctor
    from harness.run import runner
    from tasks.data import DataError

    result: dict[str, Any] = {"schema": records.DOCTOR_SMOKE, "backend": backend, "device": device,
                              "precision": precision, "epochs": epochs, "tasks": []}
    for name in task_names:
        entry: dict[str, Any] = {"task": name, "status": None, "seconds": None, "record": None,
                                 "error": None}
        if clock() >= deadline:
            entry.update(status="skipped", error="the doctor's time budget for this step was spent")
            result["tasks"].append(entry)
            continue
        start = time.perf_counter()
        record: dict[str, Any] | None = None
        try:
            record, path = runner.run(runner.RunOptions(
                task=name, backend=backend, scale="smoke", epochs=epochs, device=device,
                precision=precision, data_dir=data_dir, cache_dir=cache_dir, out=str(out), progress=False,
                threads=threads))
            entry.update(status="ok", record=str(path))
        except UserError as exc:
            # runner re-raises a DataError as a one-line UserError; its context still says which it was
            missing_data = isinstance(exc.__context__, DataError)
            entry.update(status="no data" if missing_data else
                         "diverged" if exc.exit_code == 3 else "failed", error=_short(exc, 500))
        except Exception as exc:  # noqa: BLE001 - a crash of one task must not lose the others
            entry.update(status="failed", error=f"{type(exc).__name__}: {_short(exc)}")
        entry["seconds"] = round(time.perf_counter() - start, 2)
        if record is not None:
            described = (record.get("environment") or {}).get("backend") or {}
            model = record["config"]["model"]
            ok, why = doctor.kernel_check(backend, described, model.get("cell"), _fused_ok(model), precision,
                                          device)
            entry.update(kernel_path=described.get("kernel_path"), ran_on=described.get("device"),
                         kernel_ok=ok, kernel=why, metrics=record.get("metrics"),
                         peak_device_bytes=(record.get("memory") or {}).get("peak_device_bytes"))
            if entry["status"] == "ok" and not ok:
                entry.update(status="failed", error=f"kernel path: {why}")
        result["tasks"].append(entry)
        records.dump_atomic(result_path, result)
    records.dump_atomic(result_path, result)
    return result


def run_smoke(args: Any) -> int:
    """``doctor-worker``: the smoke worker, from its command line."""
    from harness.common import threads

    n = threads.apply(args.threads)  # before the framework is imported
    result = smoke(args.backend, args.device, args.precision, [t for t in args.tasks.split(",") if t],
                   args.epochs, Path(args.out), Path(args.result), args.deadline, args.data_dir,
                   args.cache_dir, n)
    return 0 if all(t["status"] in ("ok", "skipped", "no data") for t in result["tasks"]) else 1

