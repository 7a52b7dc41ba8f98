"""Every write the library makes: insert, update and delete of items, one by one or in bulk.

Each follows the same steps: take the item cache's mark, call DynamoDB,
remember what was written (write-through) and invalidate the table's cached
queries. Model saves, QuerySet writes and transactions all come through here.
Deletes live in deletes.py (re-exported here).
"""

from __future__ import annotations

from typing import Any

from . import batch, cache, conditional, connection, integrity, loading, unique
from .codec import MAX_ITEM_BYTES, item_size
from .compiler import UPDATE_VALUES, Builder, compile_update
from .deletes import ATTEMPTS, after_delete, bulk_delete, delete
from .exceptions import (
    ConditionalCheckFailed,
    DynamoBackendError,
    FieldError,
    ItemAlreadyExists,
    ValidationError,
    VersionConflict,
)
from .expressions import Node, Q, attributes_of

__all__ = [
    "ATTEMPTS",
    "after_delete",
    "bulk_delete",
    "bulk_insert",
    "delete",
    "insert",
    "prepare_insert",
    "update",
]


def written(model: Any, item: dict | None, pk: Any, mark: int, *, created: bool = False, changed: Any = None) -> None:
    """Record a confirmed write: remember the new item (or forget the key) and invalidate queries.

    ``created`` (a new item) or ``changed`` (the attributes an update set)
    lets only the cached queries the write can change go; otherwise all of the table's do.
    """
    if item:
        loading.remember(model, item, since=mark, write=True)
    else:
        loading.forget(model, pk)
    if item and created:
        loading.table_written(model, cache.Change.created(item))
    elif item and changed is not None:
        loading.table_written(model, cache.Change.modified(item, changed))
    else:
        loading.table_written(model)


def check_item_size(obj: Any) -> None:
    """Refuse an item over DynamoDB's 400 KB limit, naming its largest field."""
    size, largest = item_size(obj.to_raw())
    if size > MAX_ITEM_BYTES:
        raise ValidationError(
            {
                largest or "__all__": [
                    f"The item would be {size:,} bytes; DynamoDB's limit is {MAX_ITEM_BYTES:,} "
                    f"(this is its largest field)."
                ]
            }
        )


def prepare(obj: Any, add: bool) -> None:
    """Fill automatic values, validate every field and the item's size."""
    for field in obj._meta.fields.values():
        field.pre_save(obj, add)
    obj.full_clean()
    check_item_size(obj)


def prepare_insert(obj: Any) -> dict:
    """Validate a new object, start its version at 1 and return the item to put."""
    prepare(obj, add=True)
    version = obj._meta.version_field
    if version is not None:
        obj.__dict__[version.name] = 1
    return obj.to_raw()


def insert(obj: Any) -> None:
    """Put a new item, never overwriting one (ItemAlreadyExists), with its unique claims, exactly once.

    When DynamoDB refuses the put because the item exists, or its answer is
    lost, one consistent read says whether the stored item is this very one
    (a retry of a write that did land): then it is a success, never a 409.
    Unique claims are released only when the item is certainly not written.
    """
    model, meta = type(obj), obj._meta
    item = prepare_insert(obj)
    claimed = unique.claim_new_values(model, obj.pk, item, previous={})
    mark = loading.write_mark()
    put = {
        "TableName": meta.table_name,
        "Item": item,
        "ConditionExpression": "attribute_not_exists(#pk)",
        "ExpressionAttributeNames": {"#pk": meta.hash_key},
    }
    try:
        if integrity.guards_of(model, item):
            integrity.put_child(model, item, put)
        else:
            connection.call("PutItem", **put)
    except (ConditionalCheckFailed, DynamoBackendError) as error:
        if not _landed(obj, item, claimed, error):
            raise
    except Exception:
        unique.release_all(model, claimed, obj.pk)
        raise
    obj._set_stored(item)
    written(model, item, obj.pk, mark, created=True)


def _landed(obj: Any, item: dict, claimed: unique.Claims, error: DynamoBackendError) -> bool:
    """After a failed put: return True if the item stored under its pk is this one; else clean up and raise."""
    model = type(obj)
    if not isinstance(error, ConditionalCheckFailed) and not error.maybe_applied:
        unique.release_all(model, claimed, obj.pk)  # certainly not written
        return False
    try:
        stored = loading.load_one(model, obj.pk, consistent=True)
    except DynamoBackendError as unknown:
        # Whether the stored item is ours cannot be told (the deadline ran out, say): the outcome is unknown,
        # never a conflict. Keep the claims (a stale claim is taken over later).
        raise unknown from error
    if stored is not None and _maybe_ours(error) and model.same_raw(stored, item):
        return True
    held = set(unique.claims_of(model, stored or {}))
    unique.release_all(model, [c for c in claimed if c not in held], obj.pk)
    if isinstance(error, ConditionalCheckFailed):
        raise ItemAlreadyExists(f"{model.__name__} with pk {obj.pk} already exists", code=error.code) from error
    return False


def _maybe_ours(error: DynamoBackendError) -> bool:
    """Whether the item a put found may be that put's own earlier attempt (its answer lost, then retried).

    A condition refused on the first attempt is another writer's item, however
    alike: two creates of equal items race, and only one of them may win.
    """
    return error.maybe_applied or error.after_unknown


def _changed_fields(obj: Any, item: dict, update_fields: list[str] | None) -> dict[str, Any]:
    """Return {field: value} to write.

    With update_fields: every field named, changed or not (as Django). Without:
    every field assigned since the object was loaded, plus any whose value
    differs from the loaded item (changed in place); unassigned ones are left
    alone, so a concurrent counter is not clobbered.
    """
    meta = obj._meta
    stored = obj._state.stored
    dirty = obj._state.dirty
    version = meta.version_field
    changes: dict[str, Any] = {}
    for name, field in meta.fields.items():
        if name == "pk" or name in meta.keys.names or (version is not None and name == version.name):
            continue
        if update_fields is not None:
            if name in update_fields or getattr(field, "auto_now", False):
                changes[name] = obj.__dict__.get(name)
        elif name in dirty or not field.stored_equal(item.get(name), stored.get(name)):
            changes[name] = obj.__dict__.get(name)
    return changes


def _version_condition(obj: Any, builder: Builder, changes: dict) -> list[str]:
    """Condition on the loaded version and bump it; return the extra conditions."""
    version = obj._meta.version_field
    if version is None:
        return []
    current = obj.__dict__.get(version.name)
    changes[version.name] = (current or 0) + 1
    name = builder.name(version.name)
    if current is None:
        return [f"attribute_not_exists({name})"]
    return [f"{name} = {builder.value({'N': str(current)})}"]


def update(obj: Any, update_fields: list[str] | None, condition: Q | None = None) -> None:
    """Write a loaded object's changes with one conditional UpdateItem (a transaction when a reference moves).

    ``condition``: the stored item must match it too (ConditionNotMet otherwise, nothing written).
    """
    model, meta = type(obj), obj._meta
    if update_fields is not None:
        unknown = [f for f in update_fields if f not in meta.fields]
        if unknown:
            raise FieldError(f"update_fields: {model.__name__} has no field(s) {', '.join(unknown)}")
    prepare(obj, add=False)
    node = conditional.resolve_condition(obj, condition, "saved")
    item = obj.to_raw()
    stored = obj._state.stored
    changes = _changed_fields(obj, item, update_fields)
    if not changes and meta.version_field is None:
        if node is not None:  # nothing to write, but the caller asked: does the item match?
            current = loading.load_one(model, obj.pk, consistent=True)
            if current is None or conditional.fails(obj, node, current):
                raise _update_refused(obj, None, current, node)
        return
    # Claim every value of a changed unique field, even one the (maybe cached) loaded item shows:
    # claiming is idempotent for its owner, and only newly taken claims are released on failure.
    unchanged = {name: av for name, av in stored.items() if name not in changes}
    claimed = unique.claim_new_values(model, obj.pk, _overlay(stored, item, changes), unchanged)
    moving = {r.field for r in integrity.outgoing(model)} & changes.keys()
    try:
        new_item = (_update_moving if moving else _update_in_place)(obj, item, changes, node)
    except Exception:
        unique.release_all(model, claimed, obj.pk)
        raise
    unique.release_all(model, unique.replaced_values(model, stored, new_item), obj.pk)
    obj._refresh_from_item(new_item)


def _update_in_place(obj: Any, item: dict, changes: dict, node: Node | None) -> dict:
    model, meta = type(obj), obj._meta
    builder = Builder()
    conditions = [f"attribute_exists({builder.name(meta.hash_key)})", *_version_condition(obj, builder, changes)]
    if node is not None:
        conditions.append(conditional.compiled(node, builder))
    expression = compile_update(model, changes, builder).expression
    mark = loading.write_mark()
    try:
        response = connection.call(
            "UpdateItem",
            # Absolute values: applying twice is applying once, unless the condition reads what they change.
            idempotent=node is None or not (attributes_of(node) & changes.keys()),
            TableName=meta.table_name,
            Key=meta.key(obj.pk),
            UpdateExpression=expression,
            ConditionExpression=" AND ".join(conditions),
            ReturnValues="ALL_NEW",
            **builder.params(),
        )
    except ConditionalCheckFailed as error:
        loading.forget(model, obj.pk)
        current = _current_or_none(model, obj.pk)
        ours = _maybe_ours(error) and current is not None and _applied(model, current, changes)
        if current is None or not ours or conditional.fails(obj, node, current):
            raise _update_refused(obj, error, current, node) from error
        return current  # our own earlier attempt landed (its answer was lost): done, once
    new_item = response.get("Attributes") or item
    written(model, new_item, obj.pk, mark, changed=changes)
    return new_item


def _current_or_none(model: Any, pk: str) -> dict | None:
    try:
        return loading.load_one(model, pk, consistent=True)
    except DynamoBackendError:
        return None


def _applied(model: Any, current: dict, changes: dict) -> bool:
    """Return whether the stored item already holds every change (a version bump included)."""
    fields = model._meta.fields
    return all(
        not isinstance(value, UPDATE_VALUES)
        and fields[name].stored_equal(current.get(name), fields[name].to_dynamo(value))
        for name, value in changes.items()
    )


def with_changes(model: Any, current: dict, changes: dict) -> dict:
    """Return the item with plain-value changes applied (what an UpdateItem SET/REMOVE makes of it)."""
    new_item = dict(current)
    for name, value in changes.items():
        av = model._meta.fields[name].to_dynamo(value)
        if av is None:
            new_item.pop(name, None)
        else:
            new_item[name] = av
    return new_item


def _update_moving(obj: Any, item: dict, changes: dict, node: Node | None) -> dict:
    """An update that points a guarded reference elsewhere: read the item consistently, move both counts."""
    model, meta = type(obj), obj._meta
    current = loading.load_one(model, obj.pk, consistent=True)
    if current is None:
        raise model.DoesNotExist(f"{model.__name__} {obj.pk} no longer exists; nothing was written")
    if conditional.fails(obj, node, current) and not conditional.version_moved(obj, current):
        raise conditional.not_met(obj, "saved")
    builder = Builder()
    conditions = [f"attribute_exists({builder.name(meta.hash_key)})", *_version_condition(obj, builder, changes)]
    conditions += integrity.reference_conditions(model, current, builder)
    if node is not None:
        conditions.append(conditional.compiled(node, builder))
    request = {
        "TableName": meta.table_name,
        "Key": meta.key(obj.pk),
        "UpdateExpression": compile_update(model, changes, builder).expression,
        "ConditionExpression": " AND ".join(conditions),
        **builder.params(),
    }
    new_item = with_changes(model, current, changes)
    try:
        integrity.move_child(model, obj.pk, request, current, new_item)
    except ConditionalCheckFailed as error:
        now = _current_or_none(model, obj.pk) if node is not None else None
        raise _update_refused(obj, error, now, node) from error
    finally:
        loading.forget(model, obj.pk)  # a transaction returns no item: the next read fetches it
    loading.table_written(model, cache.Change.modified(new_item, changes))
    return new_item


def _update_refused(
    obj: Any, error: ConditionalCheckFailed | None, current: dict | None = None, node: Node | None = None
) -> Exception:
    """Return the error of a refused save: the condition not met, a stale version, or the item gone."""
    model, version = type(obj), obj._meta.version_field
    code = error.code if error is not None else None
    if node is not None and current is not None and not conditional.version_moved(obj, current):
        return conditional.not_met(obj, "saved", code)  # the item is there, as loaded: the condition failed
    if version is not None:
        return VersionConflict(
            f"{model.__name__} {obj.pk} was changed or deleted since it was loaded "
            f"(version {obj.__dict__.get(version.name)})",
            code=code,
        )
    return model.DoesNotExist(f"{model.__name__} {obj.pk} no longer exists; nothing was written")


def _overlay(stored: dict, item: dict, changes: dict) -> dict:
    """Return the stored item with the changed attributes replaced by their new values."""
    new_item = dict(stored)
    for name in changes:
        if name in item:
            new_item[name] = item[name]
        else:
            new_item.pop(name, None)
    return new_item


def _validate_all(model: Any, objs: list) -> list[dict]:
    errors: dict[str, list[str]] = {}
    items = []
    for position, obj in enumerate(objs):
        if not isinstance(obj, model):
            raise TypeError(f"bulk_create() expects {model.__name__} instances")
        try:
            items.append(prepare_insert(obj))
        except ValidationError as error:
            for name, messages in error.message_dict.items():
                errors.setdefault(name, []).extend(f"item {position}: {m}" for m in messages)
    if errors:
        raise ValidationError(errors)
    pks = [obj.pk for obj in objs]
    if len(set(pks)) != len(pks):
        raise ValueError("bulk_create() got two objects with the same pk")
    return items


def bulk_insert(model: Any, objs: list, batch_size: int | None = None) -> list:
    """Validate every object, claim unique values, then BatchWriteItem (at most batch_size per call)."""
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"bulk_create()'s batch_size must be a positive integer, got {batch_size!r}")
    if not objs:
        return objs
    items = _validate_all(model, objs)
    if integrity.outgoing(model):
        # Each item's parents must be checked with it, atomically: item by item.
        for obj in objs:
            obj._state.adding = True
            insert(obj)
        return objs
    claimed: list[tuple[Any, unique.Claims]] = []
    try:
        for obj, item in zip(objs, items, strict=True):
            claimed.append((obj, unique.claim_new_values(model, obj.pk, item, previous={})))
        mark = loading.write_mark()
        batch.batch_write(
            model._meta.table_name, put_items=items, chunk_size=batch_size, key_names=model._meta.keys.names
        )
    except Exception:
        for obj, claims in claimed:
            unique.release_all(model, claims, obj.pk)
        raise
    for obj, item in zip(objs, items, strict=True):
        obj._set_stored(item)
        loading.remember(model, item, since=mark, write=True)
    loading.table_written(model, *(cache.Change.created(item) for item in items))
    return objs
