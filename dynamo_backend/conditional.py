"""Conditional saves and deletes of instances: ``save(condition=Q(...))``, ``delete(condition=Q(...))``.

The condition is resolved like a filter and compiled into the write's
ConditionExpression, beside the version and existence conditions; when
DynamoDB refuses the write, one consistent read tells which condition failed.
"""

from __future__ import annotations

from typing import Any

from .compiler import Builder, compile_node
from .exceptions import ConditionNotMet
from .expressions import FALSE, TRUE, Node, Q, matches, resolve

__all__ = ["compiled", "fails", "resolve_condition", "version_moved"]


def resolve_condition(obj: Any, condition: Q | None, action: str) -> Node | None:
    """Return the resolved condition (None when there is none or it always holds); raise when it never holds."""
    if condition is None:
        return None
    node = resolve(type(obj), condition)
    if node is FALSE:
        raise ConditionNotMet(f"{type(obj).__name__} {obj.pk}: the condition can never hold; not {action}")
    return None if node is TRUE else node


def compiled(node: Node, builder: Builder) -> str:
    """Return the condition as a parenthesised ConditionExpression term."""
    return f"({compile_node(node, builder)})"


def version_moved(obj: Any, current: dict | None) -> bool:
    """Return whether the stored item's version differs from the loaded instance's."""
    version = obj._meta.version_field
    if version is None or current is None:
        return False
    return current.get(version.name) != version.to_dynamo(obj.__dict__.get(version.name))


def fails(obj: Any, node: Node | None, current: dict | None) -> bool:
    """Return whether a stored item exists and does not match the condition."""
    if node is None or current is None:
        return False
    return not matches(node, type(obj).from_raw(current).__dict__)


def not_met(obj: Any, action: str, code: str | None = None) -> ConditionNotMet:
    """Return the error of a write refused because the stored item does not match the condition."""
    return ConditionNotMet(
        f"{type(obj).__name__} {obj.pk} does not match the condition; not {action}", code=code or ConditionNotMet.code
    )
