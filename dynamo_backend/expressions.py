"""Q, F and lookups, compiled to DynamoDB expressions. Pure: no I/O."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from .exceptions import FieldError
from .fields import Field, FieldValueError

LOOKUPS = ("exact", "gt", "gte", "lt", "lte", "in", "contains", "startswith", "range", "isnull")
_COMPARE = {"exact": "=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
# Lookups usable in a KeyConditionExpression on a sort key.
KEY_LOOKUPS = ("exact", "gt", "gte", "lt", "lte", "range", "startswith")
_IN_CHUNK = 100  # DynamoDB allows at most 100 operands in IN


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
    children = []
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
        from .exceptions import ValidationError

        raise ValidationError({name: [f"{name}__{lookup}: {error}"]}) from None
    return Leaf(field, lookup, value)


def _coerce(field: Field, lookup: str, value: Any) -> Any:
    from .fields import CharField, ListField  # local: avoid widening the import surface

    if lookup == "isnull":
        if not isinstance(value, bool):
            raise FieldValueError("isnull takes True or False.")
        return value
    if lookup == "in":
        if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
            raise FieldValueError("'in' takes a list of values.")
        return [field.to_python(v) for v in value]
    if lookup == "range":
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise FieldValueError("'range' takes a (low, high) pair.")
        return (field.to_python(value[0]), field.to_python(value[1]))
    if lookup == "exact" and value is None:
        return None
    if lookup == "contains":
        if isinstance(field, ListField):
            return value
        if not isinstance(field, CharField) or not isinstance(value, str):
            raise FieldValueError("'contains' works on strings and lists.")
        return value
    if lookup == "startswith":
        if not isinstance(field, CharField) or not isinstance(value, str):
            raise FieldValueError("'startswith' works on strings.")
        return value
    return field.to_python(value)


class Builder:
    """Allocates #name and :value placeholders for one request."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.values: dict[str, dict] = {}
        self._by_attr: dict[str, str] = {}

    def name(self, attr: str) -> str:
        placeholder = self._by_attr.get(attr)
        if placeholder is None:
            placeholder = f"#n{len(self._by_attr)}"
            self._by_attr[attr] = placeholder
            self.names[placeholder] = attr
        return placeholder

    def value(self, av: dict) -> str:
        placeholder = f":v{len(self.values)}"
        self.values[placeholder] = av
        return placeholder

    def params(self) -> dict:
        out: dict = {}
        if self.names:
            out["ExpressionAttributeNames"] = dict(self.names)
        if self.values:
            out["ExpressionAttributeValues"] = dict(self.values)
        return out


def compile_node(node: Node, builder: Builder) -> str:
    """Compile a resolved tree into a condition expression."""
    parts = []
    for child in node.children:
        text = compile_node(child, builder) if isinstance(child, Node) else compile_leaf(child, builder)
        if text:
            parts.append(text)
    if not parts:
        text = ""
    elif len(parts) == 1:
        text = parts[0]
    else:
        text = f" {node.connector} ".join(f"({p})" for p in parts)
    if node.negated and text:
        text = f"NOT ({text})"
    return text


def compile_leaf(leaf: Leaf, builder: Builder) -> str:
    """Compile one condition."""
    field, lookup, value = leaf.field, leaf.lookup, leaf.value
    name = builder.name(field.name)
    if lookup == "isnull":
        return f"attribute_not_exists({name})" if value else f"attribute_exists({name})"
    if lookup == "exact" and value is None:
        return f"attribute_not_exists({name})"
    if lookup in _COMPARE:
        return f"{name} {_COMPARE[lookup]} {builder.value(field.value_to_av(value))}"
    if lookup == "in":
        if not value:
            return f"(attribute_exists({name}) AND attribute_not_exists({name}))"
        groups = []
        for start in range(0, len(value), _IN_CHUNK):
            chunk = value[start : start + _IN_CHUNK]
            groups.append(f"{name} IN ({', '.join(builder.value(field.value_to_av(v)) for v in chunk)})")
        return " OR ".join(groups) if len(groups) > 1 else groups[0]
    if lookup == "contains":
        return f"contains({name}, {builder.value(field.value_to_av(value))})"
    if lookup == "startswith":
        return f"begins_with({name}, {builder.value({'S': value})})"
    if lookup == "range":
        low, high = value
        return f"{name} BETWEEN {builder.value(field.value_to_av(low))} AND {builder.value(field.value_to_av(high))}"
    raise FieldError(f"Unsupported lookup {lookup}")


def compile_key_leaf(leaf: Leaf, builder: Builder) -> str:
    """Compile a sort-key condition for a KeyConditionExpression."""
    return compile_leaf(leaf, builder)


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


def _leaf_matches(leaf: Leaf, values: dict) -> bool:
    actual = values.get(leaf.field.name)
    lookup, expected = leaf.lookup, leaf.value
    if lookup == "isnull":
        return (actual is None) == expected
    if lookup == "exact":
        return actual == expected
    if actual is None:
        return False
    try:
        if lookup == "gt":
            return actual > expected
        if lookup == "gte":
            return actual >= expected
        if lookup == "lt":
            return actual < expected
        if lookup == "lte":
            return actual <= expected
        if lookup == "range":
            return expected[0] <= actual <= expected[1]
    except TypeError:
        return False
    if lookup == "in":
        return actual in expected
    if lookup == "contains":
        return expected in actual
    if lookup == "startswith":
        return isinstance(actual, str) and actual.startswith(expected)
    return False


# -- update expressions -----------------------------------------------------


def compile_update(model: Any, changes: dict, builder: Builder) -> str:
    """Compile {field: value | F-expression} into an UpdateExpression."""
    sets: list[str] = []
    removes: list[str] = []
    adds: list[str] = []
    fields = model._meta.fields
    for name, value in changes.items():
        field = fields[name]
        placeholder = builder.name(name)
        if isinstance(value, (F, Combined)):
            delta = _as_increment(name, value)
            if delta is not None:
                # ADD is atomic and creates the attribute when absent.
                adds.append(f"{placeholder} {builder.value({'N': str(delta)})}")
            else:
                sets.append(f"{placeholder} = {_operand(model, value, builder)}")
            continue
        av = field.to_dynamo(value)
        if av is None:
            removes.append(placeholder)
        else:
            sets.append(f"{placeholder} = {builder.value(av)}")
    clauses = []
    if sets:
        clauses.append("SET " + ", ".join(sets))
    if removes:
        clauses.append("REMOVE " + ", ".join(removes))
    if adds:
        clauses.append("ADD " + ", ".join(adds))
    return " ".join(clauses)


def _as_increment(name: str, expr: Any) -> Any:
    """Return n when expr is F(name) + n or F(name) - n with a plain number."""
    if isinstance(expr, Combined) and isinstance(expr.lhs, F) and expr.lhs.name == name:
        rhs = expr.rhs
        if isinstance(rhs, (int, float)) and not isinstance(rhs, bool) or _is_decimal(rhs):
            return rhs if expr.op == "+" else -rhs
    return None


def _is_decimal(value: Any) -> bool:
    import decimal

    return isinstance(value, decimal.Decimal)


def _operand(model: Any, expr: Any, builder: Builder) -> str:
    from .fields import number_to_n

    if isinstance(expr, F):
        if expr.name not in model._meta.fields:
            raise FieldError(f"F('{expr.name}'): {model.__name__} has no such field.")
        return f"if_not_exists({builder.name(expr.name)}, {builder.value({'N': '0'})})"
    if isinstance(expr, Combined):
        return f"{_operand(model, expr.lhs, builder)} {expr.op} {_operand(model, expr.rhs, builder)}"
    try:
        return builder.value({"N": number_to_n(expr)})
    except FieldValueError as error:
        raise FieldError(f"Update expression: {error}") from None


def check_f_fields(model: Any, expr: Any) -> None:
    """Raise FieldError for F references to unknown fields."""
    if isinstance(expr, F):
        if expr.name not in model._meta.fields:
            raise FieldError(f"F('{expr.name}'): {model.__name__} has no such field.")
    elif isinstance(expr, Combined):
        check_f_fields(model, expr.lhs)
        check_f_fields(model, expr.rhs)
