"""Deletes of items, one by one or in bulk, and what follows every delete (claims released, caches updated).

Kept apart from writes.py, which inserts and updates; ``writes`` re-exports
these names. A model with guarded relations (on_delete) deletes through
integrity.py and cascade.py.
"""

from __future__ import annotations

from typing import Any

from . import batch, cache, cascade, conditional, connection, integrity, loading, unique
from .compiler import Builder
from .exceptions import ConditionalCheckFailed, VersionConflict
from .expressions import Node, Q

__all__ = ["ATTEMPTS", "after_delete", "bulk_delete", "delete"]

# Reads and tries before giving up when a guarded item keeps changing under a write.
ATTEMPTS = 5


def delete(obj: Any, condition: Q | None = None) -> int:
    """Delete the item (conditional on its version, if any); return 1 if it existed, else 0.

    ``condition``: the stored item must also match it, else ConditionNotMet and
    nothing is deleted (a missing item is still 0). A model referenced by
    guarded relations (on_delete) or holding one deletes through integrity.py:
    PROTECT refuses, CASCADE / SET_NULL handle the children first, and the
    counts move in the same atomic step.
    """
    model, meta = type(obj), obj._meta
    if obj.pk is None:
        raise ValueError(f"{model.__name__} has no pk; it cannot be deleted")
    node = conditional.resolve_condition(obj, condition, "deleted")
    if integrity.outgoing(model) or integrity.incoming(model):
        return _delete_guarded(obj, node)
    params: dict = {"TableName": meta.table_name, "Key": meta.key(obj.pk), "ReturnValues": "ALL_OLD"}
    builder = Builder()
    terms = [conditional.compiled(node, builder)] if node is not None else []
    version = meta.version_field
    if version is not None and obj.__dict__.get(version.name) is not None:
        terms.append(f"({builder.name(version.name)} = {builder.value({'N': str(obj.__dict__[version.name])})})")
    if terms:
        # A missing item is deleted already (0); one that is there must match. DynamoDB refuses "((x))".
        matching = terms[0] if len(terms) == 1 else f"({' AND '.join(terms)})"
        params["ConditionExpression"] = f"attribute_not_exists({builder.name(meta.hash_key)}) OR {matching}"
        params.update(builder.params())
    try:
        response = connection.call("DeleteItem", **params)
    except ConditionalCheckFailed as error:
        raise _delete_refused(obj, error, node) from error
    old = response.get("Attributes")
    # Nothing found by a retry whose first attempt's answer was lost: that attempt deleted the loaded item.
    ours = old is not None or (connection.after_unknown(response) and not obj._state.adding)
    after_delete(model, obj.pk, old or (obj._state.stored if ours else None))
    return 1 if ours else 0


def _delete_refused(obj: Any, error: ConditionalCheckFailed, node: Node | None) -> Exception:
    model = type(obj)
    if node is not None and not conditional.version_moved(obj, loading.load_one(model, obj.pk, consistent=True)):
        return conditional.not_met(obj, "deleted", error.code)
    return VersionConflict(f"{model.__name__} {obj.pk} changed since it was loaded; not deleted", code=error.code)


def _delete_guarded(obj: Any, node: Node | None = None) -> int:
    model, meta = type(obj), obj._meta
    version = meta.version_field
    for _attempt in range(ATTEMPTS):
        current = loading.load_one(model, obj.pk, consistent=True)
        loaded = obj.__dict__.get(version.name) if version is not None else None
        if (
            current is not None
            and version is not None
            and loaded is not None
            and (current.get(version.name) != version.to_dynamo(loaded))
        ):
            raise VersionConflict(f"{model.__name__} {obj.pk} changed since it was loaded; not deleted")
        if conditional.fails(obj, node, current):  # checked before any child is touched
            raise conditional.not_met(obj, "deleted")
        current = cascade.prepare_parent_delete(obj, current)
        if current is None:
            after_delete(model, obj.pk, None)
            return 0
        builder = Builder()
        conditions = [f"attribute_exists({builder.name(meta.hash_key)})"]
        conditions += integrity.reference_conditions(model, current, builder)
        conditions += integrity.counts_zero_conditions(model, builder)
        if node is not None:
            conditions.append(conditional.compiled(node, builder))
        request = {
            "TableName": meta.table_name,
            "Key": meta.key(obj.pk),
            "ConditionExpression": " AND ".join(conditions),
            **builder.params(),
        }
        try:
            integrity.delete_item(model, obj.pk, current, request)
        except ConditionalCheckFailed as error:
            if error.after_unknown and loading.load_one(model, obj.pk, consistent=True) is None:
                after_delete(model, obj.pk, current)  # our own attempt deleted it; its answer was lost
                return 1
            continue  # a reference moved or a child was added since the read: look again
        after_delete(model, obj.pk, current)
        return 1
    raise ConditionalCheckFailed(f"{model.__name__} {obj.pk}: the item kept changing; not deleted")


def after_delete(model: Any, pk: str, old: dict | None) -> None:
    """After a delete: release the item's unique claims and update the caches."""
    if old:
        unique.release_all(model, unique.claims_of(model, old), pk)
    loading.forget(model, pk, deleted=True)
    loading.table_written(model, cache.Change.deleted(old))


def bulk_delete(model: Any, objs: list) -> int:
    """Delete loaded objects with BatchWriteItem (25 a call) and release their claims."""
    if not objs:
        return 0
    if integrity.outgoing(model) or integrity.incoming(model):
        return sum(delete(obj) for obj in objs)
    meta = model._meta
    batch.batch_write(meta.table_name, delete_pks=[meta.key(o.pk) for o in objs], key_names=meta.keys.names)
    for obj in objs:
        after_delete(model, obj.pk, obj._state.stored)
    return len(objs)
