"""The backend registry: one package per framework, found by name, its framework imported lazily.

Each ``backends/<pkg>/__init__.py`` declares ``BACKENDS``, a tuple of :class:`~backends.base.BackendInfo`
(usually one; variants such as Keras on JAX add more), and must not import its framework. Adding a
backend means adding one package; nothing else changes.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from dataclasses import replace
from typing import TYPE_CHECKING

from backends.base import MODE_SEP, BackendInfo

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


def modes_of(info: BackendInfo) -> str:
    """``torch+eager (default), torch+compile``: the names a backend's modes are given by."""
    return ", ".join(f"{info.base}{MODE_SEP}{m}{' (default)' if k == 0 else ''}"
                     for k, m in enumerate(info.modes)) or f"{info.base} alone"


def get(name: str) -> BackendInfo:
    """The backend called ``name``, or ``NAME+MODE`` (``torch+compile``): the backend with its adapter
    told the mode, under that name (the default mode is the plain name). ``KeyError`` with a message that
    names the valid backends, or the backend's modes, if there is none."""
    reg = registry()
    base, sep, mode = name.partition(MODE_SEP)
    if base not in reg:
        raise KeyError(f"unknown backend {name!r}; choose one of: {', '.join(reg)} (a mode as NAME+MODE, "
                       f"e.g. torch+compile: `python -m harness list` shows every backend's modes)")
    info = reg[base]
    if not sep or mode == info.default_mode:
        return info
    if mode not in info.modes:
        raise KeyError(f"{_unknown_mode(base, mode, info)}; {base}'s modes: {modes_of(info)}")
    return replace(info, name=name, options={**info.options, "mode": mode},
                   description=f"{info.description}; mode {mode}: {info.modes[mode]}")


def _unknown_mode(base: str, mode: str, info: BackendInfo) -> str:
    """What is wrong with ``mode``: a factor a parametrised mode does not offer (``unroll3``), or a mode
    the framework lacks (``mxnet+compile``)."""
    stem, digits = mode.rstrip("0123456789"), mode[len(mode.rstrip("0123456789")):]
    offered = [m[len(stem):] for m in info.modes if m.startswith(stem) and m[len(stem):].isdigit()]
    if stem and digits and offered:
        return f"{base}{MODE_SEP}{mode}: {stem} factor {digits} is not offered (give {', '.join(offered)})"
    if not info.modes:
        return f"{base}{MODE_SEP}{mode}: backend {base} has one mode only, no {mode!r}"
    return f"{base}{MODE_SEP}{mode}: backend {base} has no mode {mode!r}"


def importable(info: BackendInfo) -> bool:
    """Whether the backend's framework can be imported by this interpreter (without importing it)."""
    return all(importlib.util.find_spec(m) is not None for m in info.requires)


def create(info: BackendInfo, device: str = "auto", precision: str = "fp32") -> Adapter:
    """An adapter instance; this is where the framework is first imported."""
    module, cls = info.adapter.split(":")
    options = {**info.options, "mode": info.mode} if info.modes else info.options
    return getattr(importlib.import_module(module), cls)(device=device, precision=precision, **options)
