"""One thread count for every framework: the variables each reads at import, and the affinity."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from harness.common import threads

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_every_framework_variable_gets_the_count():
    env = threads.environ(3)
    assert env["OMP_NUM_THREADS"] == "3" and env["MXNET_OMP_MAX_THREADS"] == "3"
    assert env["TF_NUM_INTRAOP_THREADS"] == env["TF_NUM_INTEROP_THREADS"] == "3"


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or threads.usable_cores() < 2,
                    reason="needs an affinity mask and two cores")
def test_fewer_threads_than_cores_pins_the_process():
    code = ("import json, os; from harness.common import threads; n = threads.apply(1); "
            "print(json.dumps([n, len(os.sched_getaffinity(0)), threads.describe()]))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    n, cores, described = json.loads(out.stdout)
    assert (n, cores) == (1, 1)
    assert described["usable_cores"] == 1 and described["OMP_NUM_THREADS"] == "1"


def test_a_bad_count_is_refused():
    with pytest.raises(ValueError, match="threads=-1"):
        threads.apply(-1)


def test_pinning_takes_the_idlest_cores_so_side_by_side_runs_spread():
    def ticks(*samples):
        it = iter(samples)
        return lambda: next(it)

    # core 0 busy (another one-thread run), core 1 idle: a new one-thread run takes core 1
    assert threads.idlest([0, 1], 1, 0.0, ticks({0: 100, 1: 50}, {0: 120, 1: 50})) == [1]
    assert threads.idlest([0, 1, 2, 3], 2, 0.0, ticks({0: 0, 1: 0, 2: 0, 3: 0},
                                                       {0: 9, 1: 1, 2: 8, 3: 0})) == [1, 3]
    # no load to read (not Linux): the first n, as before
    assert threads.idlest([4, 5, 6], 2, 0.0, ticks({}, {})) == [4, 5]
    # all idle: the process id picks, so runs started together need not share a core
    assert len(threads.idlest([0, 1], 1, 0.0, ticks({0: 0, 1: 0}, {0: 0, 1: 0}))) == 1
    if sys.platform.startswith("linux"):  # the real reading: a count per core this process may use
        assert set(threads._busy_ticks()) >= set(os.sched_getaffinity(0))
