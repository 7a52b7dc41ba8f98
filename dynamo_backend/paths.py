"""JSON paths in updates (``update(data__a__b=3)``): what to do when the item lacks a path's parents. Pure.

DynamoDB sets ``data.a.b`` only when ``data.a`` is a map (``data.items[0]``
only when ``data.items`` is a list), so every path change is conditioned on
its parent's type (compiler.Update.containers). When DynamoDB refuses,
updates.py reads the item and asks :func:`prepare`, which walks each path
through the stored value and says which maps (or lists) to create first, as
``dict.setdefault`` would, drops removals whose key cannot be there, and
refuses a path through a value of another type.
"""

from __future__ import annotations

from typing import Any

from .exceptions import ValidationError
from .update_values import SEP, Removal, split_path

__all__ = ["nested", "prepare"]


class _Blocked(Exception):
    """The path runs through a value that is not the container it needs."""


def nested(changes: dict) -> bool:
    """Return whether any change targets a path inside a JSONField."""
    return any(SEP in target for target in changes)


def _join(parts: list) -> str:
    return SEP.join(str(part) for part in parts)


def _missing_containers(target: str, values: dict) -> list[tuple[str, str]]:
    """Return the (path, "M" | "L") containers to create, shallowest first, for the target to be settable."""
    parts = split_path(target)
    current: Any = values.get(str(parts[0]))
    missing: list[tuple[str, str]] = []
    for depth in range(1, len(parts)):
        step = parts[depth]
        kind = "L" if isinstance(step, int) else "M"
        here = _join(parts[:depth])
        if current is None:
            if isinstance(step, int) and depth < len(parts) - 1:
                raise _Blocked(f"{here} does not exist, so it has no element {step}")
            missing.append((here, kind))
            current = [] if kind == "L" else {}
        if kind == "M" and not isinstance(current, dict):
            raise _Blocked(f"{here} holds a {type(current).__name__}, not a map")
        if kind == "L" and not isinstance(current, list):
            raise _Blocked(f"{here} holds a {type(current).__name__}, not a list")
        if depth == len(parts) - 1:
            break
        if isinstance(step, int):
            if step >= len(current):
                raise _Blocked(f"{here} has no element {step}")
            current = current[step]
        else:
            current = current.get(step)
    return missing


def prepare(changes: dict, values: dict) -> tuple[dict, list[tuple[str, str]]]:
    """Return (the changes to send, the containers to create first) for an item whose field values are ``values``.

    A removal under a parent that is missing (or not a container) is dropped:
    the key is not there. A path through a value of another type raises
    ValidationError naming the field.
    """
    kept: dict = {}
    create: list[tuple[str, str]] = []
    for target, value in changes.items():
        if SEP not in target:
            kept[target] = value
            continue
        try:
            missing = _missing_containers(target, values)
        except _Blocked as error:
            if isinstance(value, Removal):
                continue
            field = str(split_path(target)[0])
            raise ValidationError({field: [f"{target}: {error}"]}) from None
        if missing and isinstance(value, Removal):
            continue
        kept[target] = value
        create.extend(container for container in missing if container not in create)
    create.sort(key=lambda container: len(split_path(container[0])))
    return kept, create
