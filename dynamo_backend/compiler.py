"""Resolved conditions and updates -> DynamoDB expression strings with placeholders. Pure."""

from __future__ import annotations

from typing import Any

from .codec import FieldValueError, number_to_n
from .exceptions import FieldError
from .expressions import FALSE, TRUE, Leaf, Node
from .update_values import (
    SEP,
    UPDATE_VALUES,
    Arith,
    Const,
    IfAbsent,
    ListAppend,
    Ref,
    Removal,
    SetAction,
    required_attributes,
    split_path,
)

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

    def path(self, spec: str) -> str:
        """Return the document path of a field or of a JSON path ``data__a__0``: ``#n0.#n1[0]``."""
        if SEP not in spec:
            return self.name(spec)
        name, *parts = split_path(spec)
        text = self.name(str(name))
        for part in parts:
            text += f"[{part}]" if isinstance(part, int) else f".{self.name(part)}"
        return text

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
    """Compile {target: value | update value tree} into an UpdateExpression (SET, REMOVE, ADD, DELETE).

    An expression reading an attribute named in ``absent`` is NULL (as in SQL),
    so its target is removed; the returned Update says which attributes the
    expression assumed present or absent, and which containers a JSON path
    needs, for the caller's condition.
    """
    clauses: dict[str, list[str]] = {"SET": [], "REMOVE": [], "ADD": [], "DELETE": []}
    result = Update()
    for target, value in changes.items():
        clause, text = _compile_change(model, target, value, builder, absent, result)
        clauses[clause].append(text)
        if SEP in target:
            parent, _, last = target.rpartition(SEP)
            result.containers[parent] = "L" if last.isdigit() else "M"
    result.expression = " ".join(f"{clause} {', '.join(parts)}" for clause, parts in clauses.items() if parts)
    return result


def _compile_change(
    model: Any, target: str, value: Any, builder: Builder, absent: frozenset[str], result: Update
) -> tuple[str, str]:
    """Return (clause, text) of one change."""
    path = builder.path(target)
    if isinstance(value, SetAction):
        return value.clause, f"{path} {builder.value(value.av)}"
    if isinstance(value, Removal):
        return "REMOVE", path
    if isinstance(value, UPDATE_VALUES):
        refs = required_attributes(value)
        if refs & absent:
            result.assumed_absent |= refs & absent
            return "REMOVE", path
        result.assumed_present |= refs
        return "SET", f"{path} = {_operand(value, builder)}"
    av = model._meta.fields[target].to_dynamo(value)
    return ("REMOVE", path) if av is None else ("SET", f"{path} = {builder.value(av)}")


class Update:
    """A compiled UpdateExpression and what it assumed of the item's attributes."""

    def __init__(self) -> None:
        self.expression = ""
        self.assumed_present: set[str] = set()
        self.assumed_absent: set[str] = set()
        self.containers: dict[str, str] = {}  # JSON path -> "M" / "L": the parents of path targets

    def condition(self, builder: Builder) -> list[str]:
        """Return the conditions that make the assumptions hold when the update is applied."""
        present = [f"attribute_exists({builder.path(n)})" for n in sorted(self.assumed_present)]
        absent = [f"attribute_not_exists({builder.path(n)})" for n in sorted(self.assumed_absent)]
        containers = [
            f"attribute_type({builder.path(path)}, {builder.value({'S': kind})})"
            for path, kind in sorted(self.containers.items())
        ]
        return present + absent + containers


def _operand(value: Any, builder: Builder) -> str:
    if isinstance(value, Ref):
        return builder.path(value.name)
    if isinstance(value, IfAbsent):
        return f"if_not_exists({builder.path(value.name)}, {_operand(value.default, builder)})"
    if isinstance(value, Arith):
        return f"{_operand(value.lhs, builder)} {value.op} {_operand(value.rhs, builder)}"
    if isinstance(value, ListAppend):
        return f"list_append({_operand(value.lhs, builder)}, {_operand(value.rhs, builder)})"
    if isinstance(value, Const):
        return builder.value(value.av)
    try:
        return builder.value({"N": number_to_n(value.value)})
    except FieldValueError as error:
        raise FieldError(f"Update expression: {error}") from None
