"""Checking an output folder before any work, so a run never trains for an hour and then cannot write."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from harness.errors import UserError


def check_writable(folder: str | Path, option: str = "--out") -> Path:
    """``folder``, created if needed, after writing and removing a probe file in it; a one-line error
    naming the option when that fails."""
    path = Path(folder)
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".rnnbench-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise UserError(f"{option} {folder}: cannot write there ({reason}); choose a folder you can write, "
                        f"e.g. {option} results/runs") from None
    return path
