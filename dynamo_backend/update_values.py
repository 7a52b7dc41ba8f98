"""Update values: what ``update()`` may assign, resolved against a model into trees. Pure: no I/O.

Django's own expressions (``F``, ``Value``, ``+``, ``-``, ``Coalesce``) and the
library's set and path operations (:class:`SetAdd`, :class:`SetRemove`,
:class:`Remove`) become trees compiler.py turns into an UpdateExpression:

- :class:`Ref` (a stored value), :class:`Num` (a number), :class:`Const` (any
  attribute value), :class:`Arith` (``+`` / ``-``), :class:`IfAbsent`
  (``if_not_exists``), :class:`ListAppend` (``list_append``): SET values;
- :class:`SetAction` (ADD / DELETE of set elements) and :class:`Removal`
  (REMOVE): clauses of their own.

A change's target, and a Ref, is a field name or a path into a JSONField
written as Django writes key transforms: ``data__a__b``; a segment of digits
indexes a list (``data__items__0``).
"""

from __future__ import annotations

import decimal
from collections.abc import Iterable
from typing import Any

from django.db.models import F, Value
from django.db.models.expressions import CombinedExpression
from django.db.models.functions import Coalesce

from .codec import FieldValueError, python_to_av
from .exceptions import FieldError, ValidationError
from .fields import JSONField, ListField, SetField

__all__ = [
    "UPDATE_VALUES",
    "Arith",
    "Const",
    "IfAbsent",
    "ListAppend",
    "Num",
    "Ref",
    "Remove",
    "Removal",
    "SetAction",
    "SetAdd",
    "SetRemove",
    "is_idempotent",
    "path_value",
    "reads",
    "required_attributes",
    "resolve_change",
    "resolve_update",
    "root",
    "split_path",
]

SEP = "__"


def split_path(spec: str) -> list[str | int]:
    """Return a target's segments: the field name, then map keys (str) and list indexes (int)."""
    name, *rest = spec.split(SEP)
    return [name, *(int(part) if part.isdigit() else part for part in rest)]


def root(spec: str) -> str:
    """Return the field a target or Ref belongs to."""
    return spec.split(SEP, 1)[0]


def path_value(values: dict, spec: str) -> Any:
    """Return the Python value at a target in a row of field values (None when any step is missing)."""
    name, *rest = split_path(spec)
    value = values.get(name)
    for part in rest:
        if isinstance(part, int) and isinstance(value, list) and part < len(value):
            value = value[part]
        elif isinstance(part, str) and isinstance(value, dict):
            value = value.get(part)
        else:
            return None
    return value


# -- the public operations ---------------------------------------------------------------


class _Elements:
    def __init__(self, *elements: Any) -> None:
        if len(elements) == 1 and isinstance(elements[0], set | frozenset | list | tuple):
            elements = tuple(elements[0])
        if not elements:
            raise FieldError(f"{type(self).__name__}() needs at least one element")
        self.elements = elements

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(map(repr, self.elements))})"


class SetAdd(_Elements):
    """``update(tags=SetAdd("x", "y"))``: add elements to a SetField (DynamoDB's ADD; creates the set)."""

    clause = "ADD"


class SetRemove(_Elements):
    """``update(tags=SetRemove("x"))``: remove elements from a SetField (DELETE; an emptied set is removed)."""

    clause = "DELETE"


class Remove:
    """``update(data__draft=Remove())``: remove a key from a JSONField (REMOVE); on a field, the same as None."""

    def __repr__(self) -> str:
        return "Remove()"


# -- the trees ---------------------------------------------------------------------------


class Ref:
    """The stored value of a field or of a path in a JSONField (Django's F)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


class Num:
    """A number constant in an update expression."""

    __slots__ = ("value",)

    def __init__(self, value: int | float | decimal.Decimal) -> None:
        self.value = value


class Const:
    """Any constant, as the attribute value it is stored as."""

    __slots__ = ("av",)

    def __init__(self, av: dict) -> None:
        self.av = av


class Arith:
    """``lhs + rhs`` or ``lhs - rhs``: the only arithmetic DynamoDB's SET has."""

    __slots__ = ("lhs", "op", "rhs")

    def __init__(self, lhs: Any, op: str, rhs: Any) -> None:
        self.lhs, self.op, self.rhs = lhs, op, rhs


class IfAbsent:
    """``Coalesce(F(name), default)``: the stored value, or the default when the attribute is absent."""

    __slots__ = ("name", "default")

    def __init__(self, name: str, default: Num | Const) -> None:
        self.name, self.default = name, default


class ListAppend:
    """``F("tags") + ["x"]`` / ``["x"] + F("tags")``: DynamoDB's list_append(lhs, rhs)."""

    __slots__ = ("lhs", "rhs")

    def __init__(self, lhs: Any, rhs: Any) -> None:
        self.lhs, self.rhs = lhs, rhs


class SetAction:
    """An ADD or DELETE clause: set elements added to or removed from a set attribute."""

    __slots__ = ("clause", "av")

    def __init__(self, clause: str, av: dict) -> None:
        self.clause, self.av = clause, av


class Removal:
    """A REMOVE clause for a path inside a JSONField."""

    __slots__ = ()


UPDATE_VALUES = (Ref, Num, Const, Arith, IfAbsent, ListAppend, SetAction, Removal)
UpdateValue = Ref | Num | Const | Arith | IfAbsent | ListAppend | SetAction | Removal


# -- resolution -------------------------------------------------------------------------


def resolve_change(model: Any, target: str, value: Any) -> Any:
    """Return the cleaned value or tree update() writes to a field or a JSON path."""
    field = model._meta.fields[root(target)]
    if SEP in target and (not isinstance(field, JSONField) or "" in split_path(target)):
        raise FieldError(f"{target}: a path (field__key__...) names keys inside a JSONField")
    if isinstance(value, SetAdd | SetRemove):
        if SEP in target or not isinstance(field, SetField):
            raise FieldError(f"{target}: {type(value).__name__} works on a SetField")
        try:
            return SetAction(value.clause, field.value_to_av(field.clean(set(value.elements))))
        except FieldValueError as error:
            raise ValidationError({target: [str(error)]}) from None
    if SEP in target:
        if isinstance(value, Remove):
            return Removal()
        if hasattr(value, "resolve_expression"):
            return resolve_update(model, target, value)
        return Const(_converted(field, target, value))
    if isinstance(value, Remove):
        value = None
    if hasattr(value, "resolve_expression"):
        return resolve_update(model, target, value)
    try:
        return field.clean(value)
    except FieldValueError as error:
        raise ValidationError({target: [str(error)]}) from None


def resolve_update(model: Any, target: str, expression: Any) -> UpdateValue:
    """Translate a Django expression (F, Value, +, -, Coalesce) into an update value tree."""
    if isinstance(expression, F):
        return Ref(_known(model, expression.name))
    if isinstance(expression, Value):
        return _constant(model, target, expression.value)
    if isinstance(expression, CombinedExpression):
        if _is_list(model, target, expression):
            head = _list_operand(model, target, expression.lhs)
            return ListAppend(head, _list_operand(model, target, expression.rhs))
        if expression.connector not in ("+", "-"):
            raise FieldError(f"{target}: DynamoDB updates can only add and subtract, not '{expression.connector}'.")
        lhs = resolve_update(model, target, expression.lhs)
        rhs = resolve_update(model, target, expression.rhs)
        for operand in (lhs, rhs):
            if isinstance(operand, Const):
                raise FieldError(f"{target}: update expressions add and subtract numbers, got {operand.av!r}.")
        return Arith(lhs, expression.connector, rhs)
    if isinstance(expression, Coalesce):
        return _coalesce(model, target, expression)
    if hasattr(expression, "resolve_expression"):
        raise FieldError(f"{target}: {type(expression).__name__} is not supported in updates.")
    return _constant(model, target, expression)


def _is_list(model: Any, target: str, expression: CombinedExpression) -> bool:
    """Return whether ``a + b`` concatenates lists: a list operand, or a ListField target."""
    if expression.connector != "+":
        return False
    sides = (expression.lhs, expression.rhs)
    listy = any(isinstance(side, Value) and isinstance(side.value, list | tuple) for side in sides)
    return listy or (SEP not in target and isinstance(model._meta.fields[target], ListField))


def _list_operand(model: Any, target: str, expression: Any) -> Ref | IfAbsent | Const:
    field = model._meta.fields[root(target)]
    if not isinstance(field, ListField | JSONField):
        raise FieldError(f"{target}: list_append (F(...) + [...]) needs a ListField or JSONField target")
    operand = resolve_update(model, target, expression)
    if isinstance(operand, Ref | IfAbsent | Const):
        return operand
    raise FieldError(f"{target}: list_append takes F(), Coalesce(F(), [...]) or a list on each side")


def _coalesce(model: Any, target: str, expression: Coalesce) -> IfAbsent:
    sources = expression.get_source_expressions()
    if len(sources) != 2 or not isinstance(sources[0], F) or not isinstance(sources[1], Value):
        hint = " (Django reads a bare string as a field name: write Value('text'))" if len(sources) == 2 else ""
        raise FieldError(f"{target}: only Coalesce(F('field'), <value>) is supported in updates{hint}.")
    default = _constant(model, target, sources[1].value)
    return IfAbsent(_known(model, sources[0].name), default)


def _known(model: Any, name: str) -> str:
    field = model._meta.fields.get(root(name))
    if field is None:
        raise FieldError(f"F('{name}'): {model.__name__} has no such field.")
    if SEP in name and not isinstance(field, JSONField):
        raise FieldError(f"F('{name}'): only a JSONField has paths ({root(name)} is a {type(field).__name__}).")
    return name


def _constant(model: Any, target: str, value: Any) -> Num | Const:
    """Return a number as Num, anything else as the attribute value the target stores it as."""
    if value is None:
        raise FieldError(f"{target}: None cannot be an operand; assign None (or Remove()) to remove a value.")
    if isinstance(value, int | float | decimal.Decimal) and not isinstance(value, bool):
        return Num(value)
    return Const(_converted(model._meta.fields[root(target)], target, value))


def _converted(field: Any, target: str, value: Any) -> dict:
    try:
        if SEP in target:
            return python_to_av(value)
        return field.value_to_av(value)
    except FieldValueError as error:
        raise ValidationError({target: [str(error)]}) from None


# -- what a tree reads ------------------------------------------------------------------------


def required_attributes(value: Any) -> set[str]:
    """Return the attributes an update value needs present (a NULL operand makes it NULL, as in SQL)."""
    if isinstance(value, Ref):
        return {value.name}
    if isinstance(value, Arith | ListAppend):
        return required_attributes(value.lhs) | required_attributes(value.rhs)
    return set()


def reads(value: Any) -> set[str]:
    """Return every attribute an update value reads (if_not_exists included)."""
    if isinstance(value, Ref | IfAbsent):
        return {value.name}
    if isinstance(value, Arith | ListAppend):
        return reads(value.lhs) | reads(value.rhs)
    return set()


def is_idempotent(changes: dict, condition_reads: Iterable[str] = ()) -> bool:
    """Return whether applying the update twice leaves what applying it once does.

    True when nothing it reads (its values, its condition) is something it
    writes: ``SET n = n + 1`` and list_append are not; absolute values,
    if_not_exists of another attribute, ADD / DELETE of set elements and
    REMOVE are. Only then may a request whose answer was lost be sent again.
    """
    written = {root(target) for target in changes}
    read = {root(name) for name in condition_reads}
    for value in changes.values():
        read |= {root(name) for name in reads(value)}
    return not (read & written)
