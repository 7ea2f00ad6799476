"""The local executor: each run here, one after another, its output in its log (the default)."""

from __future__ import annotations

from pathlib import Path

from harness import launcher


def launch(argv: list[str], log: Path) -> int:
    """Run ``python -m harness argv`` with output to ``log``; its exit status."""
    return launcher.run_logged(argv, log)
