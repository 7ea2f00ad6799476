"""Shared fixtures: where the real datasets are, and a per-session cache for tokenised arrays; and the
two tiers of the suite.

Tests marked ``full`` (minutes each on a 2-core CPU: every task on every backend, the slowest backend's
training runs, real bench and doctor workers over several backends) run only in the full suite,
``python -m harness test --full`` (``RNNBENCH_TESTS=full``). The default, which CI runs, keeps every
backend's conformance and parity tests and at least one real training run per backend; the long tests
are reported as skipped, with the command that runs them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FULL = os.environ.get("RNNBENCH_TESTS") == "full"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if FULL:
        return
    skip = pytest.mark.skip(reason="a long test of the full suite: `python -m harness test --full` runs it")
    for item in items:
        if "full" in item.keywords:
            item.add_marker(skip)


def data_dir() -> Path | None:
    """The dataset mirror: RNNBENCH_DATA_DIR, else ../shared/data beside the checkout, else None."""
    env = os.environ.get("RNNBENCH_DATA_DIR")
    if env:  # absolute: tests hand it to CLI subprocesses that run in other folders
        return Path(env).expanduser().resolve()
    shared = ROOT.parent / "shared" / "data"
    return shared if shared.is_dir() else None


@pytest.fixture(scope="session")
def mirror() -> Path:
    path = data_dir()
    if path is None or not (path / "imdb").is_dir():
        pytest.skip("needs the dataset mirror (RNNBENCH_DATA_DIR or ../shared/data)")
    return path


@pytest.fixture(scope="session")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("rnnbench-cache")
