"""Where a matrix's runs execute, behind one small interface (as submitit's ``Executor``): the matrix
hands over :class:`Job` objects and gets an :class:`Outcome` for each; it alone keeps the manifest.

``local`` runs each job here, one after another (a :data:`Launcher`: argv and log in, exit status out);
``ray`` runs them all as tasks on a Ray cluster (an :class:`Executor`). Executors never import the matrix.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

Launcher = Callable[[list[str], Path], int]  # (`python -m harness` argv, log file) -> exit status


@dataclass
class Job:
    """One combination handed to an executor: its manifest entry, its ``run`` arguments and its log."""

    entry: dict[str, Any]
    argv: list[str]
    log: Path


@dataclass
class Outcome:
    """What became of a job: the run's exit status, the record it left in OUT (path, content) or None, its
    seconds, fields for the manifest entry (where it ran), and the executor's reason when it could not run
    it at all (then the log is not consulted)."""

    code: int
    found: tuple[Path, dict] | None
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


class Executor(Protocol):
    """Runs jobs, perhaps concurrently; calls ``done`` in the calling thread as each one finishes."""

    def __call__(self, jobs: list[Job], done: Callable[[Job, Outcome], None]) -> None: ...

    def close(self) -> None: ...
