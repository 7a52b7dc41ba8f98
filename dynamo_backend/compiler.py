"""Resolved conditions and updates -> DynamoDB expression strings with placeholders. Pure."""

from __future__ import annotations

from typing import Any

from .codec import FieldValueError, number_to_n
from .exceptions import FieldError
from .expressions import FALSE, TRUE, Arith, IfAbsent, Leaf, Node, Num, Ref, required_attributes

UPDATE_VALUES = (Ref, Num, Arith, IfAbsent)

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
    """Compile a resolved tree into a condition expression (constants are folded away before this)."""
    if node is TRUE or node is FALSE:
        raise ValueError(f"{node!r} cannot be compiled; the planner answers it without a condition")
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


def compile_update(model: Any, changes: dict, builder: Builder, absent: frozenset[str] = frozenset()) -> Update:
    """Compile {field: value | update value tree} into an UpdateExpression.

    An expression reading an attribute named in ``absent`` is NULL (as in SQL),
    so its target is removed; the returned Update says which attributes the
    expression assumed present or absent, for the caller's condition.
    """
    sets: list[str] = []
    removes: list[str] = []
    result = Update()
    fields = model._meta.fields
    for name, value in changes.items():
        placeholder = builder.name(name)
        if isinstance(value, UPDATE_VALUES):
            refs = required_attributes(value)
            if refs & absent:
                removes.append(placeholder)
                result.assumed_absent |= refs & absent
                continue
            result.assumed_present |= refs
            sets.append(f"{placeholder} = {_operand(value, builder)}")
            continue
        av = fields[name].to_dynamo(value)
        if av is None:
            removes.append(placeholder)
        else:
            sets.append(f"{placeholder} = {builder.value(av)}")
    clauses = []
    if sets:
        clauses.append("SET " + ", ".join(sets))
    if removes:
        clauses.append("REMOVE " + ", ".join(removes))
    result.expression = " ".join(clauses)
    return result


class Update:
    """A compiled UpdateExpression and what it assumed of the item's attributes."""

    def __init__(self) -> None:
        self.expression = ""
        self.assumed_present: set[str] = set()
        self.assumed_absent: set[str] = set()

    def condition(self, builder: Builder) -> list[str]:
        """Return the conditions that make the assumptions hold when the update is applied."""
        present = [f"attribute_exists({builder.name(n)})" for n in sorted(self.assumed_present)]
        return present + [f"attribute_not_exists({builder.name(n)})" for n in sorted(self.assumed_absent)]


def _operand(value: Any, builder: Builder) -> str:
    if isinstance(value, Ref):
        return builder.name(value.name)
    if isinstance(value, IfAbsent):
        return f"if_not_exists({builder.name(value.name)}, {_operand(value.default, builder)})"
    if isinstance(value, Arith):
        return f"{_operand(value.lhs, builder)} {value.op} {_operand(value.rhs, builder)}"
    try:
        return builder.value({"N": number_to_n(value.value)})
    except FieldValueError as error:
        raise FieldError(f"Update expression: {error}") from None
