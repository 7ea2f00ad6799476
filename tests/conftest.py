"""Shared fixtures: where the real datasets are, and a per-session cache for tokenised arrays."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


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
