"""Typed dataclass configs: `--set key=value` overrides, validation hooks and a printable summary.

Configs nest (`train.lr=0.1`); values are parsed by the field's declared type, so a typo or a bad
value fails at start with the key, the value and the type expected.
"""

from __future__ import annotations

import ast
import dataclasses
import typing
from typing import Any


def _field_types(config_class: type) -> dict[str, Any]:
    return typing.get_type_hints(config_class)


def _parse_value(raw: str, target: Any, key: str) -> Any:
    origin = typing.get_origin(target)
    args = typing.get_args(target)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)) and type(None) in args:
        if raw.lower() in ("none", "null", ""):
            return None
        (target,) = [a for a in args if a is not type(None)]
        return _parse_value(raw, target, key)
    if origin is typing.Literal:
        if raw not in args:
            raise ValueError(f"--set {key}={raw}: expected one of {', '.join(map(str, args))}")
        return raw
    if target is bool:
        lowered = raw.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"--set {key}={raw}: expected true or false")
    if target in (int, float, str):
        try:
            return target(float(raw)) if target is int and ("e" in raw.lower()) else target(raw)
        except ValueError:
            raise ValueError(f"--set {key}={raw}: expected {target.__name__}") from None
    if origin in (tuple, list):
        item_type = args[0] if args else str
        items = [s for s in raw.strip("()[]").split(",") if s.strip()]
        return origin(_parse_value(s.strip(), item_type, key) for s in items)
    raise ValueError(f"--set {key}: fields of type {target} cannot be set from the command line")


def apply_overrides(config: Any, assignments: list[str]) -> Any:
    """Return a copy of `config` with each `dotted.key=value` applied (nested dataclasses allowed)."""
    for assignment in assignments:
        if "=" not in assignment:
            raise ValueError(f"--set {assignment!r}: expected key=value, e.g. --set train.lr=0.05")
        key, raw = assignment.split("=", 1)
        config = _replace_path(config, key.strip().split("."), raw.strip(), key.strip())
    return config


def _replace_path(config: Any, path: list[str], raw: str, full_key: str) -> Any:
    names = [f.name for f in dataclasses.fields(config)]
    head = path[0]
    if head not in names:
        raise ValueError(f"--set {full_key}: unknown key {head!r}; known keys here: {', '.join(names)}")
    current = getattr(config, head)
    if len(path) > 1 and isinstance(current, dict):
        return dataclasses.replace(config, **{head: _set_in_dict(current, path[1:], raw, full_key)})
    if len(path) > 1:
        if not dataclasses.is_dataclass(current):
            raise ValueError(f"--set {full_key}: {head!r} has no sub-keys")
        return dataclasses.replace(config, **{head: _replace_path(current, path[1:], raw, full_key)})
    if dataclasses.is_dataclass(current):
        raise ValueError(f"--set {full_key}: {head!r} is a group; set one of its keys, e.g. {full_key}.<key>=...")
    value = _parse_value(raw, _field_types(type(config))[head], full_key)
    return dataclasses.replace(config, **{head: value})


def _set_in_dict(options: dict, path: list[str], raw: str, full_key: str) -> dict:
    """Options dicts (e.g. pipeline options): parsed like the value already there, else as a literal.

    The dict's owner validates the keys (e.g. the pipeline config names the valid options)."""
    if len(path) != 1:
        raise ValueError(f"--set {full_key}: options take one level of keys")
    key = path[0]
    if key in options and options[key] is not None and not isinstance(options[key], (dict, list, tuple)):
        value = _parse_value(raw, type(options[key]), full_key)
    else:
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = raw
    return {**options, key: value}


def format_config(config: Any, indent: int = 0) -> str:
    """Human-readable, one key per line, nested groups indented: printed at the top of a run."""
    lines = []
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if dataclasses.is_dataclass(value):
            lines.append(" " * indent + f"{field.name}:")
            lines.append(format_config(value, indent + 2))
        else:
            lines.append(" " * indent + f"{field.name}: {value!r}")
    return "\n".join(lines)
