"""Conditions and update values, resolved against a model. Pure: no I/O.

Q and F are Django's own (``django.db.models.Q`` / ``F``), so code written for
the ORM combines them the same way; ``Coalesce`` is Django's too. This module
turns them into resolved trees: :class:`Leaf` / :class:`Node` for conditions
(folded the way Django folds an EmptyResultSet) and :class:`Ref` / :class:`Num`
/ :class:`Arith` / :class:`IfAbsent` for update values. It also evaluates
conditions in Python (results of GetItem, and conditions DynamoDB cannot take
in a filter). compiler.py turns the trees into DynamoDB expression strings.
The update value trees live in update_values.py (re-exported here).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import F, Q
from django.db.models.functions import Coalesce

from .codec import FieldValueError, check_text
from .exceptions import FieldError, ValidationError
from .fields import CharField, Field, ListField, SetField
from .update_values import Arith, IfAbsent, Num, Ref, required_attributes, resolve_update

__all__ = [
    "FALSE",
    "KEY_LOOKUPS",
    "LOOKUPS",
    "TRUE",
    "Arith",
    "Coalesce",
    "F",
    "IfAbsent",
    "Leaf",
    "Node",
    "Num",
    "Q",
    "Ref",
    "attributes_of",
    "matches",
    "required_attributes",
    "resolve",
    "resolve_update",
]

LOOKUPS = ("exact", "gt", "gte", "lt", "lte", "in", "contains", "startswith", "range", "isnull")
ORDERED_LOOKUPS = ("gt", "gte", "lt", "lte", "range")
# Lookups usable in a KeyConditionExpression on a sort key.
KEY_LOOKUPS = ("exact", "gt", "gte", "lt", "lte", "range", "startswith")
AND, OR = Q.AND, Q.OR


class Leaf:
    """One resolved condition: field, lookup, value."""

    __slots__ = ("field", "lookup", "value")

    def __init__(self, field: Field, lookup: str, value: Any) -> None:
        self.field, self.lookup, self.value = field, lookup, value

    def __repr__(self) -> str:
        return f"{self.field.name}__{self.lookup}={self.value!r}"


class Node:
    """A resolved AND/OR tree of Leafs and Nodes; TRUE and FALSE are the folded constants."""

    __slots__ = ("connector", "negated", "children")

    def __init__(self, connector: str, negated: bool, children: list) -> None:
        self.connector, self.negated, self.children = connector, negated, children

    def __repr__(self) -> str:
        if self is TRUE or self is FALSE:
            return "TRUE" if self is TRUE else "FALSE"
        prefix = "NOT " if self.negated else ""
        return f"{prefix}({f' {self.connector} '.join(map(repr, self.children))})"


# An empty AND is true; an empty OR is false. Only these two instances are ever empty.
TRUE = Node(AND, False, [])
FALSE = Node(OR, False, [])


def resolve(model: Any, q: Any) -> Node:
    """Resolve a Q against a model (check fields and lookups, coerce values) and fold constants."""
    if not isinstance(q, Q):
        raise TypeError(f"Expected a Q object, got {type(q).__name__}")
    if q.connector not in (AND, OR):
        raise FieldError(f"Q objects combined with {q.connector} are not supported; use &, | and ~")
    children: list[Leaf | Node] = []
    for child in q.children:
        if isinstance(child, Q):
            children.append(resolve(model, child))
        else:
            key, value = child
            name, _, lookup = key.partition("__")
            if name == "pk" and model._meta.composite_key:
                children.append(_composite_pk(model, lookup or "exact", value))
            else:
                children.append(_fold_leaf(resolve_leaf(model, key, value)))
    return fold(Node(q.connector, q.negated, children))


def fold(node: Node) -> Node:
    """Fold TRUE/FALSE children the way SQL does, as Django does with an EmptyResultSet."""
    absorbing, neutral = (FALSE, TRUE) if node.connector == AND else (TRUE, FALSE)
    kept: list = []
    for child in node.children:
        if child is absorbing:
            return _negate_constant(absorbing, node.negated)
        if child is not neutral:
            kept.append(child)
    if not kept:
        return _negate_constant(neutral, node.negated)
    if len(kept) == 1 and not node.negated and isinstance(kept[0], Node):
        return kept[0]
    return Node(node.connector, node.negated, kept)


def _negate_constant(constant: Node, negated: bool) -> Node:
    if not negated:
        return constant
    return FALSE if constant is TRUE else TRUE


def _fold_leaf(leaf: Leaf) -> Leaf | Node:
    """Return FALSE for a condition no value can meet (``__in=[]``, a reversed range)."""
    if leaf.lookup == "in" and not leaf.value:
        return FALSE
    if leaf.lookup in ("contains", "startswith") and leaf.value == "" and isinstance(leaf.field, CharField):
        # Every string contains and starts with "": Django's LIKE '%%' matches every non-NULL value.
        return Leaf(leaf.field, "isnull", False)
    if leaf.lookup == "exact" and isinstance(leaf.field, SetField) and leaf.value is not None and not leaf.value:
        return Leaf(leaf.field, "isnull", True)  # an empty set is stored as an absent attribute
    if leaf.lookup == "range":
        low, high = leaf.value
        try:
            if low > high:
                return FALSE
        except TypeError:
            pass
    return leaf


def _composite_pk(model: Any, lookup: str, value: Any) -> Node:
    """``pk=(a, b)`` / ``pk__in=[...]`` on a composite key: equality on both key fields."""
    keys = model._meta.keys

    def pair(pk: Any) -> Node:
        try:
            parts = keys.normalize(pk)
        except FieldValueError as error:
            raise ValidationError({"pk": [f"pk__{lookup}: {error}"]}) from None
        return Node(AND, False, [Leaf(f, "exact", v) for f, v in zip(keys.fields, parts, strict=True)])

    if lookup == "exact":
        return pair(value)
    if lookup == "in":
        if isinstance(value, str | bytes) or not isinstance(value, Iterable):
            raise ValidationError({"pk": ["pk__in takes a list of keys."]})
        return fold(Node(OR, False, [pair(pk) for pk in value if pk is not None]))
    raise FieldError(f"A composite pk supports the exact and in lookups, not '{lookup}'")


def resolve_leaf(model: Any, key: str, value: Any) -> Leaf:
    """Turn ``field__lookup`` and a value into a Leaf, or raise FieldError / ValidationError."""
    name, _, lookup = key.partition("__")
    lookup = lookup or "exact"
    fields = model._meta.fields
    if name not in fields:
        raise FieldError(
            f"Cannot resolve keyword '{name}' into field of {model.__name__}. Choices are: {', '.join(fields)}"
        )
    field = fields[name]
    supported = LOOKUPS if field.lookups is None else field.lookups
    if lookup not in supported:
        raise FieldError(
            f"Unsupported lookup '{lookup}' for {type(field).__name__} '{name}'. Supported: {', '.join(supported)}"
        )
    if lookup in ORDERED_LOOKUPS and not field.ordered:
        raise FieldError(
            f"'{lookup}' needs an ordered type; {type(field).__name__} '{name}' is stored as "
            f"{field.dynamo_type}, which DynamoDB does not compare with <, >, BETWEEN."
        )
    if hasattr(value, "resolve_expression"):
        raise FieldError(f"{name}: comparing with an expression (F, Value...) is not supported in filters.")
    try:
        value = _coerce(field, lookup, value)
    except FieldValueError as error:
        raise ValidationError({name: [f"{name}__{lookup}: {error}"]}) from None
    return Leaf(field, lookup, value)


def _coerce_in(field: Field, value: Any) -> list:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise FieldValueError("'in' takes a list of values.")
    # None never equals anything in SQL: Django drops it from IN lists.
    values = [field.to_python(v) for v in value if v is not None]
    try:
        return list(dict.fromkeys(values))
    except TypeError:  # unhashable values (lists): duplicates are harmless
        return values


def _coerce_range(field: Field, value: Any) -> tuple:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise FieldValueError("'range' takes a (low, high) pair.")
    if value[0] is None or value[1] is None:
        raise FieldValueError("'range' bounds cannot be None.")
    return (field.to_python(value[0]), field.to_python(value[1]))


def _coerce_isnull(field: Field, value: Any) -> bool:
    if not isinstance(value, bool):
        raise FieldValueError("isnull takes True or False.")
    return value


def _coerce_contains(field: Field, value: Any) -> Any:
    if isinstance(field, ListField):
        return value
    if isinstance(field, SetField) and value is not None:  # element membership
        return field.item_field.clean(value)
    if not isinstance(field, CharField) or not isinstance(value, str):
        raise FieldValueError("'contains' works on strings, lists and sets.")
    check_text(value)
    return value


def _coerce_startswith(field: Field, value: Any) -> str:
    if not isinstance(field, CharField) or not isinstance(value, str):
        raise FieldValueError("'startswith' works on strings.")
    check_text(value)
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
    if value is None:
        if lookup == "exact":
            return None
        raise FieldValueError(f"'{lookup}' cannot compare with None; use __isnull.")
    return field.to_python(value)


def attributes_of(node: Node) -> set[str]:
    """Return the field names a condition tree reads."""
    names: set[str] = set()
    for child in node.children:
        names |= attributes_of(child) if isinstance(child, Node) else {child.field.name}
    return names


# -- evaluation in Python ------------------------------------------------------------


def matches(node: Node, values: dict) -> bool:
    """Return whether a row of Python values satisfies the tree."""
    results = (
        matches(child, values) if isinstance(child, Node) else _leaf_matches(child, values) for child in node.children
    )
    outcome = all(results) if node.connector == AND else any(results)
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
