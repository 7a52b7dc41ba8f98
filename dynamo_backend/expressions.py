"""Q, F and lookups: resolved against a model, evaluated in Python. Pure: no I/O.

compiler.py turns the resolved trees into DynamoDB expression strings.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from .codec import FieldValueError
from .exceptions import FieldError, ValidationError
from .fields import CharField, Field, ListField

LOOKUPS = ("exact", "gt", "gte", "lt", "lte", "in", "contains", "startswith", "range", "isnull")
# Lookups usable in a KeyConditionExpression on a sort key.
KEY_LOOKUPS = ("exact", "gt", "gte", "lt", "lte", "range", "startswith")


class Q:
    """A filter condition tree, combinable with &, | and ~ (as in Django)."""

    AND = "AND"
    OR = "OR"

    def __init__(self, *args: Any, _connector: str = AND, _negated: bool = False, **kwargs: Any) -> None:
        self.children: list[Any] = [*args, *sorted(kwargs.items())]
        self.connector = _connector
        self.negated = _negated

    def _combine(self, other: Any, connector: str) -> Q:
        if not isinstance(other, Q):
            raise TypeError(f"Cannot combine Q with {type(other).__name__}")
        if not other.children:
            return copy.deepcopy(self)
        if not self.children:
            return copy.deepcopy(other)
        combined = Q(_connector=connector)
        combined.children = [self, other]
        return combined

    def __and__(self, other: Q) -> Q:
        return self._combine(other, self.AND)

    def __or__(self, other: Q) -> Q:
        return self._combine(other, self.OR)

    def __invert__(self) -> Q:
        negated = Q(_connector=self.AND)
        negated.children = [self]
        negated.negated = True
        return negated

    def __repr__(self) -> str:
        prefix = "NOT " if self.negated else ""
        return f"<Q: {prefix}({self.connector}: {', '.join(map(repr, self.children))})>"


class F:
    """A reference to a field's stored value, for atomic updates: F("n") + 1."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __add__(self, other: Any) -> Combined:
        return Combined(self, "+", other)

    def __radd__(self, other: Any) -> Combined:
        return Combined(other, "+", self)

    def __sub__(self, other: Any) -> Combined:
        return Combined(self, "-", other)

    def __repr__(self) -> str:
        return f"F({self.name})"


class Combined:
    """``lhs + rhs`` or ``lhs - rhs`` where either side may be an F."""

    def __init__(self, lhs: Any, op: str, rhs: Any) -> None:
        self.lhs, self.op, self.rhs = lhs, op, rhs

    def __add__(self, other: Any) -> Combined:
        return Combined(self, "+", other)

    def __sub__(self, other: Any) -> Combined:
        return Combined(self, "-", other)

    def __repr__(self) -> str:
        return f"({self.lhs!r} {self.op} {self.rhs!r})"


class Leaf:
    """One resolved condition: field, lookup, value."""

    __slots__ = ("field", "lookup", "value")

    def __init__(self, field: Field, lookup: str, value: Any) -> None:
        self.field, self.lookup, self.value = field, lookup, value

    def __repr__(self) -> str:
        return f"{self.field.name}__{self.lookup}={self.value!r}"


class Node:
    """A resolved AND/OR tree of Leafs and Nodes."""

    __slots__ = ("connector", "negated", "children")

    def __init__(self, connector: str, negated: bool, children: list) -> None:
        self.connector, self.negated, self.children = connector, negated, children


def resolve(model: Any, q: Q) -> Node:
    """Resolve a Q against a model: check fields and lookups, coerce values."""
    children: list[Leaf | Node] = []
    for child in q.children:
        if isinstance(child, Q):
            children.append(resolve(model, child))
        else:
            key, value = child
            children.append(resolve_leaf(model, key, value))
    return Node(q.connector, q.negated, children)


def resolve_leaf(model: Any, key: str, value: Any) -> Leaf:
    """Turn ``field__lookup`` and a value into a Leaf, or raise FieldError."""
    name, _, lookup = key.partition("__")
    lookup = lookup or "exact"
    fields = model._meta.fields
    if name not in fields:
        raise FieldError(
            f"Cannot resolve keyword '{name}' into field of {model.__name__}. Choices are: {', '.join(fields)}"
        )
    if lookup not in LOOKUPS:
        raise FieldError(f"Unsupported lookup '{lookup}' for field '{name}'. Supported: {', '.join(LOOKUPS)}")
    field = fields[name]
    if isinstance(value, (F, Combined)):
        raise FieldError(f"{name}: comparing two fields (F) is not supported in filters.")
    try:
        value = _coerce(field, lookup, value)
    except FieldValueError as error:
        raise ValidationError({name: [f"{name}__{lookup}: {error}"]}) from None
    return Leaf(field, lookup, value)


def _coerce_in(field: Field, value: Any) -> list:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise FieldValueError("'in' takes a list of values.")
    return [field.to_python(v) for v in value]


def _coerce_range(field: Field, value: Any) -> tuple:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise FieldValueError("'range' takes a (low, high) pair.")
    return (field.to_python(value[0]), field.to_python(value[1]))


def _coerce_isnull(field: Field, value: Any) -> bool:
    if not isinstance(value, bool):
        raise FieldValueError("isnull takes True or False.")
    return value


def _coerce_contains(field: Field, value: Any) -> Any:
    if isinstance(field, ListField):
        return value
    if not isinstance(field, CharField) or not isinstance(value, str):
        raise FieldValueError("'contains' works on strings and lists.")
    return value


def _coerce_startswith(field: Field, value: Any) -> str:
    if not isinstance(field, CharField) or not isinstance(value, str):
        raise FieldValueError("'startswith' works on strings.")
    return value


_COERCE = {
    "in": _coerce_in,
    "range": _coerce_range,
    "isnull": _coerce_isnull,
    "contains": _coerce_contains,
    "startswith": _coerce_startswith,
}


def _coerce(field: Field, lookup: str, value: Any) -> Any:
    special = _COERCE.get(lookup)
    if special is not None:
        return special(field, value)
    if lookup == "exact" and value is None:
        return None
    return field.to_python(value)


# -- evaluation in Python (GetItem / BatchGetItem results with extra conditions) --


def matches(node: Node, values: dict) -> bool:
    """Return whether a row of Python values satisfies the tree."""
    results = (
        matches(child, values) if isinstance(child, Node) else _leaf_matches(child, values) for child in node.children
    )
    outcome = all(results) if node.connector == Q.AND else any(results)
    if not node.children:
        outcome = True
    return not outcome if node.negated else outcome


_ORDERED = {
    "gt": lambda actual, expected: actual > expected,
    "gte": lambda actual, expected: actual >= expected,
    "lt": lambda actual, expected: actual < expected,
    "lte": lambda actual, expected: actual <= expected,
    "range": lambda actual, expected: expected[0] <= actual <= expected[1],
    "in": lambda actual, expected: actual in expected,
    "contains": lambda actual, expected: expected in actual,
    "startswith": lambda actual, expected: isinstance(actual, str) and actual.startswith(expected),
}


def _leaf_matches(leaf: Leaf, values: dict) -> bool:
    actual = values.get(leaf.field.name)
    lookup, expected = leaf.lookup, leaf.value
    if lookup == "isnull":
        return (actual is None) == expected
    if lookup == "exact":
        return bool(actual == expected)
    if actual is None:
        return False
    try:
        return bool(_ORDERED[lookup](actual, expected))
    except TypeError:
        return False


def check_f_fields(model: Any, expr: Any) -> None:
    """Raise FieldError for F references to unknown fields."""
    if isinstance(expr, F):
        if expr.name not in model._meta.fields:
            raise FieldError(f"F('{expr.name}'): {model.__name__} has no such field.")
    elif isinstance(expr, Combined):
        check_f_fields(model, expr.lhs)
        check_f_fields(model, expr.rhs)
