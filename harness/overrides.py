"""Changing one field of a task's model or recipe from the command line, parsed by the field's type.

A key is ``model.FIELD`` (a :class:`~tasks.spec.ModelSpec` field), ``recipe.FIELD`` (a
:class:`~tasks.spec.Recipe` field) or ``shape.seq_len`` (the sequence length of synthetic batches, for
the bench); a bare ``FIELD`` means the first group that has it, so ``hidden_size`` is
``model.hidden_size`` and ``batch_size`` is ``recipe.batch_size``. Values are parsed by the dataclass
field's annotation, and the dataclass validates the result, so a bad value gets the field's own error.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import replace
from typing import Any

from harness.errors import UserError
from tasks.base import Scale
from tasks.spec import ModelSpec, Recipe

GROUPS: dict[str, type] = {"model": ModelSpec, "recipe": Recipe}
SHAPE_FIELDS = ("seq_len",)
_NOT_SCALAR = {"head", "extra"}  # structured fields: a task module defines them


def fields(group: str) -> list[str]:
    """The keys of one group that can be set from the command line."""
    if group == "shape":
        return list(SHAPE_FIELDS)
    return [f.name for f in dataclasses.fields(GROUPS[group]) if f.name not in _NOT_SCALAR]


def all_keys() -> list[str]:
    return [f"{g}.{name}" for g in (*GROUPS, "shape") for name in fields(g)]


def resolve(key: str) -> str:
    """The full ``group.field`` of ``key``; a one-line error listing the keys when there is none."""
    if "." in key:
        group, name = key.split(".", 1)
        if group not in (*GROUPS, "shape"):
            raise UserError(f"unknown group {group!r} in {key!r}; use model.*, recipe.* or shape.seq_len")
        if name not in fields(group):
            raise UserError(f"unknown field {key!r}; {group} fields: {', '.join(fields(group))}")
        return key
    for group in (*GROUPS, "shape"):
        if key in fields(group):
            return f"{group}.{key}"
    names = ", ".join(n.split(".", 1)[1] for n in all_keys())
    raise UserError(f"unknown field {key!r}; choose one of: {names}")


def _annotation(key: str) -> Any:
    group, name = key.split(".", 1)
    if group == "shape":
        return int
    return typing.get_type_hints(GROUPS[group], include_extras=False)[name]


def parse_value(key: str, text: str) -> Any:
    """``text`` as the type of field ``key`` (full name); a one-line error saying what would work."""
    hint = _annotation(key)
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


def apply(scale: Scale, overrides: dict[str, Any]) -> Scale:
    """``scale`` with the model and recipe overrides applied (shape keys are the caller's); a value the
    dataclass rejects is a one-line error."""
    by_group: dict[str, dict[str, Any]] = {"model": {}, "recipe": {}}
    for key, value in overrides.items():
        group, name = resolve(key).split(".", 1)
        if group in by_group:
            by_group[group][name] = value
    try:
        model = replace(scale.model, **by_group["model"])
        recipe = replace(scale.recipe, **by_group["recipe"])
    except (ValueError, TypeError) as exc:
        raise UserError(f"{', '.join(f'{k}={v}' for k, v in overrides.items())}: {exc}") from None
    for name in ("hidden_size", "num_layers", "vocab_size"):
        if getattr(model, name) < 1:
            raise UserError(f"model.{name}={getattr(model, name)}: give a positive number")
    if recipe.batch_size < 1 or recipe.eval_batch_size < 1:
        raise UserError("recipe.batch_size and recipe.eval_batch_size must be positive")
    return replace(scale, model=model, recipe=recipe)
