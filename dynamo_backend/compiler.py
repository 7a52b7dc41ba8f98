"""Resolved conditions and updates -> DynamoDB expression strings with placeholders. Pure."""

from __future__ import annotations

import decimal
from typing import Any

from .codec import FieldValueError, number_to_n
from .exceptions import FieldError
from .expressions import Combined, F, Leaf, Node

_COMPARE = {"exact": "=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_IN_CHUNK = 100  # DynamoDB allows at most 100 operands in IN


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
        if isinstance(rhs, int | float | decimal.Decimal) and not isinstance(rhs, bool):
            return rhs if expr.op == "+" else -rhs
    return None


def _operand(model: Any, expr: Any, builder: Builder) -> str:
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
