"""QuerySet.update()'s writes: one conditional UpdateItem per item, with Django's NULL semantics for F().

``clean_changes`` validates update() arguments (also for transactions);
``update_request`` builds the UpdateItem (also used inside transactions).
"""

from __future__ import annotations

from typing import Any

from . import connection, integrity, loading, unique
from .codec import FieldValueError
from .compiler import UPDATE_VALUES, Builder, compile_node, compile_update
from .exceptions import ConditionalCheckFailed, FieldError, ValidationError
from .expressions import Node, matches, required_attributes, resolve_update
from .writes import ATTEMPTS, with_changes, written

__all__ = ["clean_changes", "condition_text", "update_item", "update_request", "update_unique_item"]


def clean_changes(model: Any, kwargs: dict) -> dict:
    """Validate update() keyword arguments: known fields, valid expressions (F, Coalesce), clean values."""
    changes: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for name, value in kwargs.items():
        field = model._meta.fields.get(name)
        if field is None:
            raise FieldError(f"{model.__name__} has no field named '{name}'")
        if name == "pk" or name in model._meta.keys.names:
            raise FieldError(f"The primary key cannot be updated ({name} is part of it)")
        if hasattr(value, "resolve_expression"):
            changes[name] = resolve_update(model, name, value)
            continue
        try:
            changes[name] = field.clean(value)
        except FieldValueError as error:
            errors.setdefault(name, []).append(str(error))
    if errors:
        raise ValidationError(errors)
    return changes


def condition_text(model: Any, condition: Node | None, builder: Builder) -> str:
    """Return "the item exists" AND the condition, compiled with builder's placeholders."""
    text = f"attribute_exists({builder.name(model._meta.hash_key)})"
    extra = compile_node(condition, builder) if condition is not None else ""
    return f"{text} AND ({extra})" if extra else text


def update_request(
    model: Any, pk: str, changes: dict, condition: Node | None = None, absent: frozenset[str] = frozenset()
) -> dict:
    """Return the UpdateItem parameters applying cleaned changes to an existing item matching condition.

    Expressions are conditioned on their operands being present (or, for the
    names in ``absent``, absent), so a NULL operand can never be read as 0.
    """
    builder = Builder()
    update = compile_update(model, changes, builder, absent)
    conditions = [condition_text(model, condition, builder), *update.condition(builder)]
    return {
        "TableName": model._meta.table_name,
        "Key": model._meta.key(pk),
        "UpdateExpression": update.expression,
        "ConditionExpression": " AND ".join(conditions),
        **builder.params(),
    }


def _operands(changes: dict) -> set[str]:
    refs: set[str] = set()
    for value in changes.values():
        if isinstance(value, UPDATE_VALUES):
            refs |= required_attributes(value)
    return refs


def update_item(
    model: Any, pk: str, changes: dict, condition: Node | None = None, *, known: dict | None = None
) -> bool:
    """Apply cleaned changes to one item if it exists (and matches condition); return whether it did.

    ``known`` (the item's values as last read) guesses which F() operands are
    NULL. When DynamoDB refuses the condition, one consistent read says whether
    the item is gone, no longer matches, or had other operands NULL (then the
    update is retried with that knowledge), as Django's NULL + 1 = NULL needs.
    """
    if {r.field for r in integrity.outgoing(model)} & changes.keys():
        return _update_item_moving(model, pk, changes, condition)
    operands = _operands(changes)
    absent = frozenset(name for name in operands if known is not None and known.get(name) is None)
    for _attempt in range(ATTEMPTS):
        mark = loading.write_mark()
        try:
            request = update_request(model, pk, changes, condition, absent)
            response = connection.call("UpdateItem", ReturnValues="ALL_NEW", **request)
        except ConditionalCheckFailed:
            # Nothing was written: drop what we knew of the item, keep the table's queries.
            loading.forget(model, pk)
            if not operands:
                return False
            current = loading.load_one(model, pk, consistent=True)
            if current is None:
                return False
            values = model.from_raw(current).__dict__
            if condition is not None and not matches(condition, values):
                return False
            absent = frozenset(name for name in operands if values.get(name) is None)
            continue
        written(model, response.get("Attributes"), pk, mark, changed=changes)
        return True
    raise ConditionalCheckFailed(f"{model.__name__} {pk}: the operands of the update kept changing; not written")


def _update_item_moving(model: Any, pk: str, changes: dict, condition: Node | None) -> bool:
    """update_item() that points a guarded reference elsewhere: consistent read, then one transaction."""
    for _attempt in range(ATTEMPTS):
        current = loading.load_one(model, pk, consistent=True)
        if current is None:
            return False
        values = model.from_raw(current).__dict__
        if condition is not None and not matches(condition, values):
            return False
        absent = frozenset(name for name in _operands(changes) if values.get(name) is None)
        request = update_request(model, pk, changes, condition, absent)
        builder_conditions = _reference_condition_params(model, current, request)
        try:
            integrity.move_child(model, pk, builder_conditions, current, with_changes(model, current, _plain(changes)))
        except ConditionalCheckFailed:
            continue  # changed since the read: read again
        finally:
            loading.forget(model, pk)
        loading.table_written(model)
        return True
    raise ConditionalCheckFailed(f"{model.__name__} {pk}: the item kept changing; not written")


def _plain(changes: dict) -> dict:
    return {name: value for name, value in changes.items() if not isinstance(value, UPDATE_VALUES)}


def _reference_condition_params(model: Any, current: dict, request: dict) -> dict:
    """Add "the item still points where ``current`` does" to an UpdateItem request's condition."""
    builder = Builder()
    builder.names.update(request.get("ExpressionAttributeNames", {}))
    builder.values.update(request.get("ExpressionAttributeValues", {}))
    builder._by_attr.update({attr: name for name, attr in builder.names.items()})
    extra = integrity.reference_conditions(model, current, builder)
    return {
        **request,
        "ConditionExpression": " AND ".join([request["ConditionExpression"], *extra]),
        **builder.params(),
    }


def update_unique_item(obj: Any, changes: dict, condition: Node | None) -> bool:
    """update_item() for changes to unique constraint fields: claim new values, release replaced ones."""
    model, stored = type(obj), obj._state.stored
    new_item = dict(stored)
    for name, value in changes.items():
        av = obj._meta.fields[name].to_dynamo(value) if not isinstance(value, UPDATE_VALUES) else None
        if av is None:
            new_item.pop(name, None)
        else:
            new_item[name] = av
    unchanged = {name: av for name, av in stored.items() if name not in changes}
    claims = unique.claim_new_values(model, obj.pk, new_item, unchanged)
    if not update_item(model, obj.pk, changes, condition, known=obj.__dict__):
        unique.release_all(model, claims, obj.pk)
        return False
    unique.release_all(model, unique.replaced_values(model, stored, new_item), obj.pk)
    return True
