"""Finding, verifying and caching datasets: upstream download or a local mirror, always checksummed.

A dataset is looked for in the mirror (``--data-dir`` / ``RNNBENCH_DATA_DIR``, in the layout of
``shared/data``; where neither is given, ``shared/data`` beside the checkout when that folder exists, so
the README's commands work as printed on a machine without network) and otherwise downloaded from its
upstream URL into the cache (``RNNBENCH_CACHE_DIR``, default ``~/.cache/rnnbench``).
``RNNBENCH_DATA_DIR=`` (set and empty) turns the mirror off: always download. Every file is checked
against its sha256.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import urllib.request
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class DataError(Exception):
    """Missing, unreachable or corrupt data; the message says what would work."""


@dataclass(frozen=True)
class DataFile:
    """One file of a dataset: its name in the mirror folder and its sha256."""

    name: str
    sha256: str


@dataclass(frozen=True)
class Upstream:
    """Where a dataset comes from when no mirror is given."""

    url: str
    filename: str
    sha256: str | None  # None: the archive has no published digest; its members are checked instead


# The default mirror: ``shared/data`` beside the checkout (``<checkout>/../shared/data``), the layout
# this project's machines and CI have. Used only when it exists and nothing else is named.
DEFAULT_MIRROR = Path(__file__).resolve().parents[2] / "shared" / "data"


def data_dir(explicit: str | Path | None = None) -> Path | None:
    """The mirror root: the explicit option, else ``RNNBENCH_DATA_DIR`` (set and empty: no mirror), else
    :data:`DEFAULT_MIRROR` where it exists, else None (download)."""
    if explicit:
        return Path(explicit).expanduser()
    value = os.environ.get("RNNBENCH_DATA_DIR")
    if value is not None:
        return Path(value).expanduser() if value else None
    return DEFAULT_MIRROR if DEFAULT_MIRROR.is_dir() else None


def cache_dir(explicit: str | Path | None = None) -> Path:
    value = explicit or os.environ.get("RNNBENCH_CACHE_DIR") or Path.home() / ".cache" / "rnnbench"
    return Path(value).expanduser()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def publish(tmp: str | Path, dest: Path) -> None:
    """Move a finished temporary file into place with ordinary permissions (mkstemp makes it 0600)."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(tmp, 0o666 & ~mask)
    os.replace(tmp, dest)


def sha256_bytes(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def verify(path: Path, sha256: str) -> Path:
    """``path`` if its sha256 is ``sha256``; a :class:`DataError` naming both digests otherwise."""
    actual = sha256_of(path)
    if actual != sha256:
        raise DataError(
            f"checksum mismatch for {path}: sha256 {actual}, expected {sha256}; "
            "the file is corrupt or a different version: replace it with the original"
        )
    return path


def download(upstream: Upstream, cache: Path) -> Path:
    """The upstream file in the cache, downloaded and verified on first use."""
    dest = cache / "downloads" / upstream.filename
    if dest.exists():
        return verify(dest, upstream.sha256) if upstream.sha256 else dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    print(f"rnnbench: downloading {upstream.url} to {dest}", flush=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=dest.name, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(upstream.url, timeout=60) as response:
            for chunk in iter(lambda: response.read(1 << 20), b""):
                out.write(chunk)
        if upstream.sha256:
            verify(Path(tmp), upstream.sha256)
        publish(tmp, dest)
    except OSError as exc:
        raise DataError(
            f"could not download {upstream.url} ({exc}); point --data-dir or RNNBENCH_DATA_DIR "
            "at a local mirror instead"
        ) from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest


def mirror_files(root: Path, folder: str, files: Iterable[DataFile]) -> dict[str, Path] | None:
    """The verified files of ``root/folder`` if all are present, else None."""
    paths = {f.name: root / folder / f.name for f in files}
    if not all(p.exists() for p in paths.values()):
        return None
    for f in files:
        verify(paths[f.name], f.sha256)
    return paths


def cache_key(**parts: Any) -> str:
    """A short stable key for derived arrays: change any part and the cache misses."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def save_arrays(path: Path, arrays: dict[str, Any]) -> None:
    """Write an ``.npz`` atomically, so an interrupted run never leaves a half-written cache."""
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz")
    os.close(fd)
    try:
        np.savez(tmp, **arrays)
        publish(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load_arrays(path: Path) -> dict[str, Any] | None:
    import numpy as np

    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        # a cache is disposable: a damaged entry is rebuilt, not trusted
        print(f"rnnbench: warning: the cached arrays {path} are damaged ({type(exc).__name__}: {exc}); "
              "rebuilding them", file=sys.stderr, flush=True)
        return None


def fetch(folder: str, file: DataFile, url: str, data_dir: Path | None, cache: Path) -> Path:
    """One verified file: from the mirror's ``folder`` when a data dir is given, else downloaded from
    ``url`` into the cache (checked by the same sha256)."""
    if data_dir is None:
        return download(Upstream(url=url, filename=file.name, sha256=file.sha256), cache)
    path = data_dir / folder / file.name
    if not path.exists():
        raise DataError(
            f"{folder} data not found: expected {path}; fix --data-dir/RNNBENCH_DATA_DIR, "
            f"or set RNNBENCH_DATA_DIR= (empty) to download {url}"
        )
    return verify(path, file.sha256)
