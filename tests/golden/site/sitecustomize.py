"""Put the scripted backend and the synthetic task of ``tests/fakes.py`` into every ``python -m harness``
process the golden tests start (the command itself, and the matrix's runs and the bench's workers it
starts in turn), so a smoke run, bench and matrix go through the real command line without a framework.

Only on this folder's ``PYTHONPATH`` and with ``RNNBENCH_GOLDEN_FAKES=1``: nothing else ever loads it.
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
    backends.create = lambda info, *args, **kwargs: fakes.ScriptedAdapter(*args, **kwargs)
