"""Every JSON document the harness writes or reads: the schema names and versions, atomic writing, and
one way to find documents of a schema in a folder (``documents``), which every reader uses.

A document says what it is in its ``schema`` field; a reader asks for one schema and passes over the rest,
so records, manifests and baselines may share a folder. Schemas:
- ``RUN`` (``rnnbench.run/1``, see docs/methods.md, "Result records"): one training run; ``schema``,
  ``run_id``, ``task``, ``backend``, ``scale``, ``seed``, ``status`` (``ok`` | ``diverged`` | ``failed``),
  ``error``, ``started``, ``config`` (model, recipe, data, options), ``metrics``, ``throughput``,
  ``timings``, ``curves``, ``memory``, ``environment``;
- ``MATRIX``: a matrix's manifest; ``BENCH``: one bench point on one backend; ``BENCH_MANIFEST``: a bench's
  options and plan (and an A/B bench's rows and verdicts); ``BENCH_CALIBRATION``: what ``bench
  --calibrate`` found the machine can detect; ``BASELINE``: stored throughput figures;
- ``DOCTOR`` and its parts (``DOCTOR_ENVIRONMENT``, ``DOCTOR_PARITY``, ``DOCTOR_PROBE``, ``DOCTOR_SMOKE``):
  the GPU check's summary and step records.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tasks.data import publish

RUN = "rnnbench.run/1"
MATRIX = "rnnbench.matrix/1"
BENCH = "rnnbench.bench/1"
BENCH_MANIFEST = "rnnbench.benchrun/1"
BENCH_CALIBRATION = "rnnbench.benchcalibration/1"
BASELINE = "rnnbench.baseline/1"
DOCTOR = "rnnbench.doctor/1"
DOCTOR_ENVIRONMENT = "rnnbench.doctor/1/environment"
DOCTOR_PARITY = "rnnbench.doctor.parity/1"
DOCTOR_PROBE = "rnnbench.doctor.probe/1"
DOCTOR_SMOKE = "rnnbench.doctor.smoke/1"
PEAK = "rnnbench.peak/1"  # a device's matrix-multiply rate (benchmarks/gemm_peak.py)
STATUSES = ("ok", "diverged", "failed")
REQUIRED = ("schema", "run_id", "task", "backend", "scale", "seed", "status", "config", "metrics",
            "throughput", "timings", "curves", "environment")


def validate(record: dict[str, Any]) -> None:
    """Raise ``ValueError`` naming the first problem of a record."""
    missing = [k for k in REQUIRED if k not in record]
    if missing:
        raise ValueError(f"record lacks keys {missing}")
    if record["schema"] != RUN:
        raise ValueError(f"record schema {record['schema']!r}, expected {RUN!r}")
    if record["status"] not in STATUSES:
        raise ValueError(f"record status {record['status']!r} is not one of {STATUSES}")


def write_atomic(path: Path, record: dict[str, Any]) -> Path:
    """Write run record ``record`` (checked first) to ``path`` through a temporary file and a rename:
    never a half-written file."""
    validate(record)
    return dump_atomic(path, record)


def dump_atomic(path: Path, obj: Any) -> Path:
    """Write any JSON document atomically (bench records, manifests, baselines, the doctor's records)."""
    return write_bytes_atomic(path, json.dumps(obj, indent=1, sort_keys=False, default=_jsonable) + "\n")


def write_bytes_atomic(path: Path, data: str | bytes) -> Path:
    """Write ``data`` through a temporary file, fsync and a rename: never a half-written file (JSON
    documents, and the logs and checkpoints a Ray run returns)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        publish(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):  # NumPy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def claim(folder: Path, run_id: str) -> tuple[str, Path]:
    """A record name no other run has: ``run_id``, or ``run_id-2``, ``-3``... when a run of the same task,
    backend and seed started in the same second (here or in another process). The name is held by an
    exclusively created ``.<name>.claim`` file until :func:`release`; a record already there is never
    replaced."""
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(1, 1000):
        name = run_id if n == 1 else f"{run_id}-{n}"
        path = folder / f"{name}.json"
        if path.exists():
            continue
        try:
            os.close(os.open(folder / f".{name}.claim", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            continue
        return name, path
    raise RuntimeError(f"no free record name for {run_id} in {folder}")


def release(path: Path) -> None:
    """Drop the claim of a record name once the record is written."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path.parent / f".{path.stem}.claim")


def load(path: Path) -> dict[str, Any]:
    with open(path) as f:
        record = json.load(f)
    validate(record)
    return record


def read(path: Path, schema: str | None = None) -> dict[str, Any] | None:
    """The JSON document at ``path`` when it is one of ``schema`` (any dict without a schema asked for);
    None when it is another document. Raises ``OSError`` or ``ValueError`` (``json.JSONDecodeError``,
    ``UnicodeDecodeError``) when the file cannot be read as JSON."""
    data = json.loads(Path(path).read_text())
    if not isinstance(data, dict) or (schema is not None and data.get("schema") != schema):
        return None
    return data


def documents(folder: Path, schema: str, *, recursive: bool = True, pattern: str = "*.json",
              warn: bool = False) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Every JSON document of ``schema`` under ``folder`` (and its subfolders unless ``recursive`` is
    False; names matching ``pattern``), in path order, with its path. Other documents are passed over;
    with ``warn``, a file that cannot be read or is not valid JSON is named on stderr, so a damaged record
    is never dropped unnoticed."""
    paths = Path(folder).rglob(pattern) if recursive else Path(folder).glob(pattern)
    for path in sorted(paths):
        try:
            data = read(path, schema)
        except (OSError, ValueError) as exc:
            if warn:
                print(f"rnnbench: warning: skipped {path}: not a readable JSON file ({exc})", file=sys.stderr)
            continue
        if data is not None:
            yield path, data


def load_all(folder: Path, warn: bool = False) -> list[dict[str, Any]]:
    """Every valid run record under ``folder`` (recursively), oldest first, each with its ``_path``."""
    found = []
    for path, record in documents(folder, RUN, warn=warn):
        try:
            validate(record)
        except ValueError:
            continue
        record["_path"] = str(path)
        found.append(record)
    return sorted(found, key=lambda r: r.get("started", ""))
