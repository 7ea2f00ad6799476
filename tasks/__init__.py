"""The task registry: one module per task, found by name and imported only when asked for.

Adding a task means adding ``tasks/<name>.py`` that defines ``TASK``; nothing else changes. Module
names use underscores; task names may use hyphens (``five-words`` is ``tasks/five_words.py``). Modules
starting with ``_`` are shared helpers. The listing is ``all_names()``: a function ``names`` would be
replaced by the ``names`` task module when it is imported.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tasks.base import Task

_NOT_TASKS = {"base", "spec", "data", "text"}


def all_names() -> list[str]:
    """Every task name, without importing any task module (no NumPy needed)."""
    return sorted(
        m.name.replace("_", "-")
        for m in pkgutil.iter_modules(__path__)
        if not m.name.startswith("_") and m.name not in _NOT_TASKS
    )


def get(name: str) -> Task:
    """The task called ``name``; ``KeyError`` with the valid names if there is none."""
    if name not in all_names():
        raise KeyError(f"unknown task {name!r}; choose one of: {', '.join(all_names())}")
    return importlib.import_module(f"tasks.{name.replace('-', '_')}").TASK
