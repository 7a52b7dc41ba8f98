"""QuerySet.update()'s writes: one conditional UpdateItem per item, with Django's NULL semantics for F().

``clean_changes`` validates update() arguments (also for transactions);
``update_request`` builds the UpdateItem (also used inside transactions).
Each UpdateItem is retried after a lost answer only when applying it twice
changes nothing more (update_values.is_idempotent).
"""

from __future__ import annotations

from typing import Any

from . import connection, integrity, loading, paths, unique
from .compiler import UPDATE_VALUES, Builder, compile_node, compile_update
from .exceptions import ConditionalCheckFailed, FieldError, ValidationError
from .expressions import Node, attributes_of, matches
from .update_values import SEP, is_idempotent, path_value, required_attributes, resolve_change, root, split_path
from .writes import ATTEMPTS, with_changes, written

__all__ = ["clean_changes", "condition_text", "update_item", "update_request", "update_unique_item"]


def clean_changes(model: Any, kwargs: dict) -> dict:
    """Validate update() keyword arguments: fields or JSON paths (``data__a__b``), values and expressions.

    Values are cleaned by their field; F(), Coalesce, ``F("tags") + [...]``,
    SetAdd / SetRemove and Remove() become update value trees.
    """
    changes: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for target, value in kwargs.items():
        name = split_path(target)[0]
        if name not in model._meta.fields:
            raise FieldError(f"{model.__name__} has no field named '{name}'")
        if name == "pk" or name in model._meta.keys.names:
            raise FieldError(f"The primary key cannot be updated ({name} is part of it)")
        try:
            changes[target] = resolve_change(model, target, value)
        except ValidationError as error:
            for field, messages in error.message_dict.items():
                errors.setdefault(field, []).extend(messages)
    if errors:
        raise ValidationError(errors)
    _check_overlaps(list(changes))
    return changes


def _check_overlaps(targets: list[str]) -> None:
    """Refuse two changes where one path contains the other (DynamoDB refuses overlapping paths)."""
    for target in targets:
        for other in targets:
            if other != target and other.startswith(target + SEP):
                raise FieldError(f"update(): {target} and {other} overlap; change one of them")


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


def _absent(operands: set[str], values: dict) -> frozenset[str]:
    """Return the operands that are NULL in a row of field values."""
    return frozenset(name for name in operands if path_value(values, name) is None)


def update_item(
    model: Any, pk: str, changes: dict, condition: Node | None = None, *, known: dict | None = None
) -> bool:
    """Apply cleaned changes to one item if it exists (and matches condition); return whether it did.

    ``known`` (the item's values as last read) guesses which F() operands are
    NULL. When DynamoDB refuses the condition, one consistent read says whether
    the item is gone, no longer matches, had other operands NULL, or lacks the
    maps a JSON path runs through (then they are created); then the update is
    retried with that knowledge, as Django's NULL + 1 = NULL needs.
    """
    if {r.field for r in integrity.outgoing(model)} & changes.keys():
        return _update_item_moving(model, pk, changes, condition)
    operands = _operands(changes)
    absent = _absent(operands, known) if known is not None else frozenset()
    idempotent = is_idempotent(changes, attributes_of(condition) if condition is not None else ())
    for _attempt in range(ATTEMPTS):
        mark = loading.write_mark()
        try:
            request = update_request(model, pk, changes, condition, absent)
            response = connection.call("UpdateItem", idempotent=idempotent, ReturnValues="ALL_NEW", **request)
        except ConditionalCheckFailed:
            # Nothing was written: drop what we knew of the item, keep the table's queries.
            loading.forget(model, pk)
            if not operands and not paths.nested(changes):
                return False
            replanned = _replan(model, pk, changes, condition)
            if replanned is None:
                return False
            changes, absent = replanned
            if not changes:
                return True  # only removals of keys that are not there: the item matched, nothing to do
            continue
        written(model, response.get("Attributes"), pk, mark, changed={root(target) for target in changes})
        return True
    raise ConditionalCheckFailed(f"{model.__name__} {pk}: the operands of the update kept changing; not written")


def _read_matching(model: Any, pk: Any, condition: Node | None) -> tuple[dict, dict] | None:
    """Read the item consistently: (raw item, field values), or None when it is gone or no longer matches."""
    current = loading.load_one(model, pk, consistent=True)
    if current is None:
        return None
    values = model.from_raw(current).__dict__
    if condition is not None and not matches(condition, values):
        return None
    return current, values


def _replan(model: Any, pk: Any, changes: dict, condition: Node | None) -> tuple[dict, frozenset[str]] | None:
    """Read the item consistently; return (changes, NULL operands) to try again, or None if it no longer matches."""
    read = _read_matching(model, pk, condition)
    if read is None:
        return None
    _, values = read
    changes, create = paths.prepare(changes, values)
    _create_containers(model, pk, create, condition)
    return changes, _absent(_operands(changes), values)


def _create_containers(model: Any, pk: Any, create: list[tuple[str, str]], condition: Node | None) -> None:
    """Create missing maps / lists of JSON paths, shallowest first: ``SET p = if_not_exists(p, {})`` (idempotent)."""
    for path, kind in create:
        builder = Builder()
        target = builder.path(path)
        conditions = [condition_text(model, condition, builder)]
        parent, _, last = path.rpartition(SEP)
        if parent:
            parent_kind = {"S": "L" if last.isdigit() else "M"}
            conditions.append(f"attribute_type({builder.path(parent)}, {builder.value(parent_kind)})")
        empty = builder.value({kind: {} if kind == "M" else []})
        try:
            connection.call(
                "UpdateItem",
                idempotent=True,
                TableName=model._meta.table_name,
                Key=model._meta.key(pk),
                UpdateExpression=f"SET {target} = if_not_exists({target}, {empty})",
                ConditionExpression=" AND ".join(conditions),
                **builder.params(),
            )
        except ConditionalCheckFailed:
            return  # the item changed meanwhile: the update's next attempt reads it again
        finally:
            loading.forget(model, pk)
        loading.table_written(model)


def _update_item_moving(model: Any, pk: str, changes: dict, condition: Node | None) -> bool:
    """update_item() that points a guarded reference elsewhere: consistent read, then one transaction."""
    for _attempt in range(ATTEMPTS):
        read = _read_matching(model, pk, condition)
        if read is None:
            return False
        current, values = read
        now, create = paths.prepare(changes, values)
        if create:
            _create_containers(model, pk, create, condition)
            continue  # read the item as it is now
        request = update_request(model, pk, now, condition, _absent(_operands(now), values))
        builder_conditions = _reference_condition_params(model, current, request)
        try:
            integrity.move_child(model, pk, builder_conditions, current, with_changes(model, current, _plain(now)))
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
