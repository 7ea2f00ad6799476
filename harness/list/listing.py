"""``python -m harness list``: tasks with their scales and targets, backends with their install state."""

from __future__ import annotations

from tabulate import tabulate

import backends
import tasks
from harness.common import overrides
from harness.launcher import ROOT


def render() -> str:
    task_rows = []
    for name in tasks.all_names():
        task = tasks.get(name)
        for scale in task.scales.values():
            task_rows.append((name, scale.name + (" (default)" if scale.name == task.default_scale else ""),
                              f"{task.target.metric} {'>=' if task.target.mode == 'max' else '<='} "
                              f"{task.target.value}", scale.description))
    backend_rows = []
    for info in backends.registry().values():
        built = (ROOT / ".tox" / info.tox_env).is_dir()
        backend_rows.append((info.name, "yes" if backends.importable(info) else "no",
                             f"{info.tox_env} ({'built' if built else 'not built'})", info.description))
    mode_rows = [(f"{info.name}+{mode}" + (" (default)" if k == 0 else ""), what)
                 for info in backends.registry().values()
                 for k, (mode, what) in enumerate(info.modes.items())]
    data_rows = [(name, ", ".join(f"data.{k}" for k in tasks.get(name).data_options) or "(none)")
                 for name in tasks.all_names()]
    settings = (f"--set KEY=VALUE (run, matrix, bench, parity) takes every model.* field "
                f"({', '.join(overrides.fields('model'))}), every recipe.* field "
                f"({', '.join(overrides.fields('recipe'))}) and each task's data options:")
    return "\n\n".join([
        tabulate(task_rows, headers=("task", "scale", "target", "description"), tablefmt="simple_outline"),
        settings + "\n" + tabulate(data_rows, headers=("task", "data options"), tablefmt="simple_outline"),
        tabulate(backend_rows, headers=("backend", "importable here", "tox env", "description"),
                 tablefmt="simple_outline"),
        "Execution modes (--backend NAME+MODE, --backends torch,torch+compile; the default mode is the plain "
        "name):\n" + tabulate(mode_rows, headers=("backend+mode", "what runs"), tablefmt="simple_outline"),
    ])
