"""Fixtures of the unit tests (the shared test doubles live in ``tests/fakes.py``)."""

from tests.fakes import scripted  # noqa: F401  (a fixture)
