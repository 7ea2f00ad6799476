"""Put the scripted backend and the synthetic task of ``tests/fakes.py`` into every ``python -m harness``
process the golden tests start (the command itself, and the matrix's runs and the bench's workers it
starts in turn), so a smoke run, bench and matrix go through the real command line without a framework.

Only on this folder's ``PYTHONPATH`` and with ``RNNBENCH_GOLDEN_FAKES=1``: nothing else ever loads it.
``RNNBENCH_GOLDEN_SKEW=X`` scales the scripted losses by 1 + X: a child that computes other numbers (an
A/B bench's numerics check must notice it).
"""

import os

if os.environ.get("RNNBENCH_GOLDEN_FAKES") == "1":
    import dataclasses

    import backends
    import tasks
    from tests import fakes

    _task = fakes.synthetic_task(epochs=1)
    tasks.get = lambda name: _task
    tasks.all_names = lambda: ["synthetic"]
    backends.get = lambda name: dataclasses.replace(fakes.SCRIPTED, name=name)
    backends.registry = lambda: {"scripted": fakes.SCRIPTED}
    backends.names = lambda: ["scripted"]
    _skew = float(os.environ.get("RNNBENCH_GOLDEN_SKEW") or 0.0)
    _adapter = fakes.ScriptedAdapter
    if _skew:
        class _Skewed(fakes.ScriptedAdapter):
            def train_step(self, x, y):
                return super().train_step(x, y) * (1.0 + _skew)

        _adapter = _Skewed
    backends.create = lambda info, *args, **kwargs: _adapter(*args, **kwargs)
