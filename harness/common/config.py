"""``--config FILE.toml``: an experiment saved as a file, so it can be shared and rerun.

The file holds the command line's names (``task`` or ``tasks``, ``backend`` or ``backends``, ``scale``,
``seed``) at its top, and the ``--set`` keys as tables::

    task = "imdb"
    backend = "torch"
    scale = "full"

    [model]
    hidden_size = 64

    [recipe]
    batch_size = 128
    lr = 3e-3

    [data]
    maxlen = 120

    [[model.head]]           # the head's layers, in order (``model.head``)
    type = "dense"
    units = 1

Options given on the command line win over the file: a ``--set`` of the same key, ``--task``,
``--scale``. Standard library only (``tomllib``), so it is read before any environment is chosen.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import UserError

NAMES = ("task", "tasks", "backend", "backends", "scale", "seed")
TABLES = ("model", "recipe", "data", "shape")


@dataclass
class Config:
    """What a config file says: its top-level names and its settings (``group.field=value``)."""

    names: dict[str, Any] = field(default_factory=dict)
    settings: list[str] = field(default_factory=list)


def _text(value: Any) -> str:
    """A TOML value as the text ``--set`` would have given (parsed again by the field's type)."""
    if isinstance(value, bool):
        return str(value).lower()
    return repr(value) if isinstance(value, float) else str(value)


HEAD_KEYS = {"dense": ("units", "activation"), "dropout": ("rate",)}


def _head(path: str | Path, tables: list[Any]) -> str:
    """``[[model.head]]`` tables (``type = "dense"``, ``units``, ``activation``; ``type = "dropout"``,
    ``rate``) in ``model.head``'s line form, which ``--set`` parses and checks like any other value."""
    parts = []
    for k, table in enumerate(tables):
        kind = table.get("type") if isinstance(table, dict) else None
        if kind not in HEAD_KEYS:
            raise UserError(f"--config {path}: [[model.head]] table {k} needs type = \"dense\" or "
                            f"\"dropout\" (got {kind!r})")
        unknown = set(table) - {"type", *HEAD_KEYS[kind]}
        if unknown:
            raise UserError(f"--config {path}: [[model.head]] table {k} ({kind}): unknown key(s) "
                            f"{', '.join(sorted(unknown))}; a {kind} takes {', '.join(HEAD_KEYS[kind])}")
        missing = HEAD_KEYS[kind][0]
        if missing not in table:
            raise UserError(f"--config {path}: [[model.head]] table {k} ({kind}) needs {missing}")
        parts.append(":".join([kind, *(_text(table[f]) for f in HEAD_KEYS[kind] if f in table)]))
    return ",".join(parts)


def load(path: str | Path) -> Config:
    """The config file at ``path``; a one-line error naming what is wrong in it."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        raise UserError("--config needs Python 3.11 or newer (tomllib); use --set KEY=VALUE") from None
    try:
        raw = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UserError(f"--config {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"--config {path}: cannot be read ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"--config {path}: not valid TOML ({exc})") from None
    config = Config()
    for key, value in raw.items():
        if isinstance(value, dict):
            if key not in TABLES:
                raise UserError(f"--config {path}: unknown table [{key}]; use [{'], ['.join(TABLES)}]")
            for name, item in value.items():
                if (key, name) == ("model", "head") and isinstance(item, list):
                    config.settings.append(f"model.head={_head(path, item)}")
                    continue
                if isinstance(item, (dict, list)):
                    raise UserError(f"--config {path}: {key}.{name} must be a single value")
                config.settings.append(f"{key}.{name}={_text(item)}")
        elif key in NAMES:
            config.names[key] = ",".join(map(str, value)) if isinstance(value, list) else value
        else:
            raise UserError(f"--config {path}: unknown key {key!r}; use {', '.join(NAMES)} and the tables "
                            f"[{'], ['.join(TABLES)}]")
    return config


def merge(args: argparse.Namespace, required: tuple[str, ...] = ()) -> None:
    """Fill ``args`` from its ``--config`` file where the command line left a name unset, and set
    ``args.settings``: the file's settings, then the ``--set`` ones (the later of a key wins).
    ``required``: the names this command cannot go without (a one-line error when neither gives one)."""
    config = load(args.config) if getattr(args, "config", None) else Config()
    aliases = {"task": "tasks", "tasks": "task", "backend": "backends", "backends": "backend"}
    for name in ("task", "tasks", "backend", "backends", "scale", "seed"):
        if not hasattr(args, name) or getattr(args, name) is not None:
            continue
        value = config.names.get(name, config.names.get(aliases.get(name, ""), None))
        if value is not None:
            setattr(args, name, str(value) if name != "seed" else value)
    if hasattr(args, "seed") and args.seed is None:
        args.seed = 0
    if isinstance(getattr(args, "seed", 0), (str, bool)):
        raise UserError(f"seed = {args.seed!r} in --config: give an integer")
    for name in required:
        if getattr(args, name, None) is None:
            raise UserError(f"give --{name} (or `{name} = ...` in a --config file)")
    args.settings = config.settings + list(getattr(args, "set", None) or [])
