"""Flush-to-zero and denormals-are-zero for the CPU's SSE unit, set before any framework is imported.

Denormal floats make LSTM training 5-8x slower on some CPUs (PyTorch and MXNet alike), and MXNet has no
switch of its own. Reading the floating-point environment with glibc's ``fegetenv``, setting MXCSR's FTZ
and DAZ bits in it and loading it back with ``fesetenv`` changes the calling thread; threads the
frameworks start afterwards inherit the register. Only x86-64 Linux is handled; elsewhere
:func:`set_flush_to_zero` reports ``False`` and changes nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform
import warnings

_FTZ, _DAZ = 1 << 15, 1 << 6
_MXCSR_OFFSET = 28  # in glibc's x86-64 fenv_t


def _libm() -> ctypes.CDLL | None:
    """glibc's libm by its stable soname first: ``find_library`` needs ldconfig or a compiler."""
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
        return None
    for name in ("libm.so.6", ctypes.util.find_library("m")):
        try:
            return ctypes.CDLL(name) if name else None
        except OSError:
            continue
    return None


def _env(libm: ctypes.CDLL) -> ctypes.Array | None:
    env = ctypes.create_string_buffer(32)
    return env if libm.fegetenv(env) == 0 else None


def mxcsr() -> int | None:
    """The SSE control/status register of this thread, or None where it cannot be read."""
    libm = _libm()
    env = _env(libm) if libm is not None else None
    if env is None:
        return None
    return int.from_bytes(env.raw[_MXCSR_OFFSET : _MXCSR_OFFSET + 4], "little")


def enabled() -> bool | None:
    """Whether FTZ and DAZ are both on in this thread (None: unknown on this platform)."""
    value = mxcsr()
    return None if value is None else bool(value & _FTZ and value & _DAZ)


def set_flush_to_zero(on: bool) -> bool:
    """Turn FTZ+DAZ on or off for this thread and threads started later; True if it took effect."""
    libm = _libm()
    env = _env(libm) if libm is not None else None
    if env is None:
        return False
    value = int.from_bytes(env.raw[_MXCSR_OFFSET : _MXCSR_OFFSET + 4], "little")
    value = value | _FTZ | _DAZ if on else value & ~(_FTZ | _DAZ)
    env[_MXCSR_OFFSET : _MXCSR_OFFSET + 4] = value.to_bytes(4, "little")
    if on:  # NumPy < 2 measures the smallest subnormal when a library first asks np.finfo (SciPy does at
        # import, and MXNet imports SciPy where it is installed), finds zero under FTZ and says so on
        # stderr: the flush is ours and on purpose, so that warning is noise above a one-line error
        warnings.filterwarnings("ignore", message="The value of the smallest subnormal", category=UserWarning)
    return libm.fesetenv(env) == 0 and enabled() is on


def flushes() -> bool:
    """Whether this thread's arithmetic treats a denormal as zero right now (DAZ in effect).

    The register can hold the bits while an emulator or sandbox ignores them, so a record states what
    the arithmetic did, not only what was asked.
    """
    smallest = float.fromhex("0x0.0000000000001p-1022")  # the smallest positive denormal double
    return smallest * _ONE == 0.0


_ONE = float("1")  # a runtime value, so the product above is computed, not folded by the compiler
