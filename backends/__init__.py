"""The backend registry: one package per framework, found by name, its framework imported lazily.

Each ``backends/<pkg>/__init__.py`` declares ``BACKENDS``, a tuple of :class:`~backends.base.BackendInfo`
(usually one; variants such as Keras on JAX add more), and must not import its framework. Adding a
backend means adding one package; nothing else changes.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from typing import TYPE_CHECKING

from backends.base import BackendInfo

if TYPE_CHECKING:
    from backends.base import Adapter


def registry() -> dict[str, BackendInfo]:
    """Every backend by name, in package order."""
    found: dict[str, BackendInfo] = {}
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if module.ispkg:
            for info in importlib.import_module(f"backends.{module.name}").BACKENDS:
                found[info.name] = info
    return found


def names() -> list[str]:
    return list(registry())


def get(name: str) -> BackendInfo:
    """The backend called ``name``; ``KeyError`` with the valid names if there is none."""
    reg = registry()
    if name not in reg:
        raise KeyError(f"unknown backend {name!r}; choose one of: {', '.join(reg)}")
    return reg[name]


def importable(info: BackendInfo) -> bool:
    """Whether the backend's framework can be imported by this interpreter (without importing it)."""
    return all(importlib.util.find_spec(m) is not None for m in info.requires)


def create(info: BackendInfo, device: str = "auto", precision: str = "fp32") -> Adapter:
    """An adapter instance; this is where the framework is first imported."""
    module, cls = info.adapter.split(":")
    return getattr(importlib.import_module(module), cls)(device=device, precision=precision, **info.options)
