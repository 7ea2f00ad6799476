"""Changing a task's configuration from the command line or a config file, parsed by the field's type.

A key is ``model.FIELD`` (a :class:`~tasks.spec.ModelSpec` field), ``recipe.FIELD`` (a
:class:`~tasks.spec.Recipe` field), ``data.OPTION`` (one of the data options the task declares in
``Task.data_options``, such as IMDB's ``num_words`` and ``maxlen``) or ``shape.seq_len`` (the sequence
length of synthetic batches, for the bench); a bare ``FIELD`` means the first group that has it, so
``hidden_size`` is ``model.hidden_size`` and ``batch_size`` is ``recipe.batch_size``. Values are parsed by
the field's annotation, and the dataclasses validate the result, so a bad value gets the field's own error.
``--epochs``, ``--cell`` and ``--sampling`` are shorthands for ``recipe.epochs``, ``model.cell`` and
``recipe.sampling``.

``model.head`` takes the head's layers in a line, ``dense:UNITS[:ACTIVATION]`` and ``dropout:RATE``
separated by commas (``dense:250:relu,dropout:0.5,dense:1``; ``none`` for no head, the recurrent output
being the logits); a config file gives them as ``[[model.head]]`` tables. Its last ``Dense`` must keep
the task's output width, which the task's labels and loss fix.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from harness.errors import UserError
from tasks.base import Scale
from tasks.spec import SCAN_CELLS, Dense, Dropout, ModelSpec, Recipe

if TYPE_CHECKING:
    from tasks.base import Task

GROUPS: dict[str, type] = {"model": ModelSpec, "recipe": Recipe}
ALL_GROUPS = ("model", "recipe", "data", "shape")
SHAPE_FIELDS = ("seq_len",)
_NOT_SCALAR = {"extra"}  # structured fields: a task module defines them
ACTIVATIONS = ("linear", "relu")
HEAD_FORM = "dense:UNITS[:linear|relu] or dropout:RATE, separated by commas (e.g. dense:250:relu,dense:1)"


def parse_head(text: str) -> tuple[Dense | Dropout, ...]:
    """The head layers that ``text`` (``model.head``'s line form) names; a one-line error naming the layer
    that is wrong and the form that works."""
    if text.strip().lower() in ("none", ""):
        return ()
    layers: list[Dense | Dropout] = []
    for k, item in enumerate(text.split(",")):
        kind, *args = [part.strip() for part in item.strip().split(":")]
        where = f"model.head layer {k} ({item.strip()!r})"
        try:
            if kind == "dense" and 1 <= len(args) <= 2:
                units, activation = int(args[0]), (args[1] if len(args) == 2 else "linear")
                if units < 1:
                    raise UserError(f"{where}: a Dense layer needs at least 1 unit")
                if activation not in ACTIVATIONS:
                    raise UserError(f"{where}: unknown activation {activation!r}; use linear or relu")
                layers.append(Dense(units, activation))
            elif kind == "dropout" and len(args) == 1:
                rate = float(args[0])
                if not 0.0 <= rate < 1.0:
                    raise UserError(f"{where}: a dropout rate lies in [0, 1)")
                layers.append(Dropout(rate))
            else:
                raise UserError(f"{where}: unknown layer; give {HEAD_FORM}")
        except ValueError:
            raise UserError(f"{where}: not a number; give {HEAD_FORM}") from None
    if not isinstance(layers[-1], Dense):
        raise UserError(f"model.head={text!r}: the head must end with a Dense layer, the logits")
    return tuple(layers)


def head_text(head: Iterable[Dense | Dropout]) -> str:
    """``head`` in ``model.head``'s line form (``none`` when empty): how a run record and its id name it."""
    parts = [f"dense:{layer.units}:{layer.activation}" if isinstance(layer, Dense)
             else f"dropout:{layer.rate}" for layer in head]
    return ",".join(parts) or "none"


def fields(group: str, task: Task | None = None) -> list[str]:
    """The keys of one group that can be set from the command line (``data``: the task's own)."""
    if group == "shape":
        return list(SHAPE_FIELDS)
    if group == "data":
        return list(task.data_options) if task is not None else []
    return [f.name for f in dataclasses.fields(GROUPS[group]) if f.name not in _NOT_SCALAR]


def all_keys(task: Task | None = None) -> list[str]:
    return [f"{g}.{name}" for g in ALL_GROUPS for name in fields(g, task)]


def _listing(group: str, task: Task | None) -> str:
    names = fields(group, task)
    if group == "data" and task is not None:
        return f"{task.name} data options: {', '.join(names) or '(none)'}"
    return f"{group} fields: {', '.join(names)}"


def resolve(key: str, task: Task | None = None) -> str:
    """The full ``group.field`` of ``key``; a one-line error listing the group's keys when there is none."""
    if "." in key:
        group, name = key.split(".", 1)
        if group not in ALL_GROUPS:
            raise UserError(f"unknown group {group!r} in {key!r}; use model.*, recipe.*, data.* or "
                            "shape.seq_len")
        if group == "data" and task is None:
            raise UserError(f"{key!r}: data options belong to one task; give the task (--task)")
        if name not in fields(group, task):
            raise UserError(f"unknown key {key!r}; {_listing(group, task)}")
        return key
    for group in ALL_GROUPS:
        if key in fields(group, task):
            return f"{group}.{key}"
    names = ", ".join(n.split(".", 1)[1] for n in all_keys(task))
    raise UserError(f"unknown field {key!r}; choose one of: {names}")


def _annotation(key: str, task: Task | None) -> Any:
    group, name = key.split(".", 1)
    if group == "shape":
        return int
    if group == "data":
        return task.data_options[name] | None  # type: ignore[union-attr]  # "none" drops the option
    return typing.get_type_hints(GROUPS[group], include_extras=False)[name]


def parse_value(key: str, text: str, task: Task | None = None) -> Any:
    """``text`` as the type of field ``key`` (full name); a one-line error saying what would work."""
    if key == "model.head":
        return head_text(parse_head(text))  # checked now, kept in its line form (records, run ids)
    hint = _annotation(key, task)
    options = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) is typing.Literal:
        if text not in options:
            raise UserError(f"{key}={text!r}: choose one of {', '.join(map(str, options))}")
        return text
    if type(None) in typing.get_args(hint) and text.lower() in ("none", "null", ""):
        return None
    base = options[0] if options else hint
    try:
        if base is bool:
            if text.lower() not in ("true", "false", "1", "0"):
                raise ValueError
            return text.lower() in ("true", "1")
        if base is int:
            return int(text)
        if base is float:
            return float(text)
    except ValueError:
        raise UserError(f"{key}={text!r}: expected {getattr(base, '__name__', base)}") from None
    return text


def split_setting(item: str) -> tuple[str, str]:
    """``KEY=VALUE`` as its two parts; a one-line error for anything else."""
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise UserError(f"--set {item!r}: expected KEY=VALUE, e.g. --set model.hidden_size=64 "
                        "or --set recipe.lr=1e-3")
    return key.strip(), value.strip()


def parse_settings(items: Iterable[str], task: Task | None = None) -> dict[str, Any]:
    """``["KEY=VALUE", ...]`` as ``{full key: parsed value}``, sorted by key (so the same settings in any
    order, from ``--set`` or a config file, name the same run); a later setting of a key wins."""
    out: dict[str, Any] = {}
    for item in items:
        name, text = split_setting(item)
        key = resolve(name, task)
        out[key] = parse_value(key, text, task)
    return dict(sorted(out.items()))


def shorthands(epochs: int | None = None, cell: str | None = None, sampling: str | None = None
               ) -> list[str]:
    """``--epochs``, ``--cell`` and ``--sampling`` as settings (``recipe.epochs=3``, ...)."""
    given = {"recipe.epochs": epochs, "model.cell": cell, "recipe.sampling": sampling}
    return [f"{k}={v}" for k, v in given.items() if v is not None]


def label(overrides: dict[str, Any], sep: str = " ") -> str:
    """``hidden_size=64 maxlen=120``: the overrides as a reader names them (field names without groups)."""
    return sep.join(f"{k.split('.', 1)[1]}={v}" for k, v in overrides.items())


def scan_unread(cell: str, scan: str) -> str:
    """The error for ``model.scan`` on a cell that does not read it: recorded, it would name a run by a
    setting that changed nothing."""
    return (f"model.scan={scan}: cell {cell} is not a scan cell, so nothing reads it; model.scan applies to "
            f"{', '.join(SCAN_CELLS)} (e.g. --cell mingru --set model.scan={scan})")


def apply(scale: Scale, overrides: dict[str, Any], task: Task | None = None) -> Scale:
    """``scale`` with the data, model and recipe overrides applied (shape keys are the caller's); a value
    the dataclass rejects is a one-line error. Data options first, then the model fields that follow from
    them (``Task.data_derived``, e.g. IMDB's vocabulary size), then explicit model and recipe fields."""
    by_group: dict[str, dict[str, Any]] = {"model": {}, "recipe": {}, "data": {}}
    for key, value in overrides.items():
        group, name = resolve(key, task).split(".", 1)
        if group in by_group:
            by_group[group][name] = parse_head(value) if (group, name) == ("model", "head") else value
    shown = ", ".join(f"{k}={v}" for k, v in overrides.items())
    if by_group["data"]:
        data = {**scale.data, **by_group["data"]}
        for name in [n for n, v in data.items() if v is None]:
            del data[name]
        for name, value in by_group["data"].items():
            if value is not None and value < 1:
                raise UserError(f"data.{name}={value}: give a positive number")
        scale = replace(scale, data=data)
        if task is not None and task.data_derived is not None:
            scale = task.data_derived(scale)
    try:
        model = replace(scale.model, **by_group["model"])
        recipe = replace(scale.recipe, **by_group["recipe"])
    except (ValueError, TypeError) as exc:
        raise UserError(f"{shown}: {exc}") from None
    if "scan" in by_group["model"] and not model.scan_cell:
        raise UserError(scan_unread(model.cell, model.scan))
    for name in ("hidden_size", "num_layers", "vocab_size"):
        if getattr(model, name) < 1:
            raise UserError(f"model.{name}={getattr(model, name)}: give a positive number")
    if "head" in by_group["model"] and model.num_outputs != scale.model.num_outputs:
        raise UserError(f"model.head={overrides['model.head']}: its logits are {model.num_outputs} wide; "
                        f"this task's labels and loss ({model.loss}) need {scale.model.num_outputs}: end "
                        f"the head with dense:{scale.model.num_outputs}")
    if recipe.batch_size < 1 or recipe.eval_batch_size < 1:
        raise UserError("recipe.batch_size and recipe.eval_batch_size must be positive")
    if recipe.epochs < 1:
        raise UserError(f"recipe.epochs={recipe.epochs}: give a positive number of epochs")
    if recipe.lr <= 0:
        raise UserError(f"recipe.lr={recipe.lr}: give a positive learning rate")
    return replace(scale, model=model, recipe=recipe)
