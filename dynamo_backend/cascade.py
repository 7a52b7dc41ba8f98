"""Deleting an item that guarded references point at (the parent side of integrity.py).

PROTECT refuses while children are counted; CASCADE and SET_NULL mark the
parent deleting (so no child can join), then delete or detach the children
until the parent's own count, read consistently, is 0. Children read
consistently (a composite-key child stored under its parent) are deleted in
batches: one TransactWriteItems deletes up to CHILDREN_PER_TRANSACTION of them
and lowers every count they held, instead of one transaction each.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from typing import Any

from django.db.models import CASCADE, PROTECT, SET_NULL, signals

from . import cache, connection, loading
from .compiler import Builder
from .exceptions import (
    ConditionalCheckFailed,
    ConsistencyError,
    ProtectedError,
    ServiceUnavailable,
    TransactionCanceled,
)
from .integrity import (
    DELETING,
    Relation,
    Transactions,
    _parent_update,
    guards_of,
    incoming,
    reference_conditions,
    transact,
)

__all__ = ["counts", "prepare_parent_delete"]

_ZERO = {"N": "0"}
# Rounds of "delete the children, then read the parent's count" before a cascade gives up (it is resumable).
CASCADE_ROUNDS = 20
# Children deleted by one TransactWriteItems (its 100 actions also hold the count changes).
CHILDREN_PER_TRANSACTION = 40


def counts(model: Any, item: dict) -> dict[Relation, int]:
    """Return each incoming relation's child count from a raw item."""
    return {r: int(item.get(r.counter, _ZERO)["N"]) for r in incoming(model)}


def prepare_parent_delete(obj: Any, current: dict | None) -> dict | None:
    """Make a parent deletable: refuse PROTECTed children, cascade or detach the others.

    Returns the item as read after the children are gone (None if it vanished).
    """
    model = type(obj)
    relations = incoming(model)
    if not relations or current is None:
        return current
    _refuse_protected(model, obj.pk, current)
    if not any(r.on_delete in (CASCADE, SET_NULL) for r in relations):
        return current
    _mark_deleting(model, obj.pk)
    for _round in range(CASCADE_ROUNDS):
        current = loading.load_one(model, obj.pk, consistent=True)
        if current is None:
            return None
        pending = [r for r, n in counts(model, current).items() if n > 0 and r.on_delete in (CASCADE, SET_NULL)]
        if not pending:
            return current
        found = sum(_handle_children(r, obj.pk) for r in pending)
        if not found:
            _wait(_round)
            if _round >= 2 and not Transactions.supported():
                _reconcile(model, obj.pk, current, pending)
    raise ServiceUnavailable(
        f"{model.__name__} {obj.pk}: its children are still being deleted; repeat the delete to finish it"
    )


def _refuse_protected(model: Any, pk: str, current: dict) -> None:
    protected = {r: n for r, n in counts(model, current).items() if r.on_delete is PROTECT and n > 0}
    if protected:
        what = ", ".join(f"{n} {r.child.__name__} via {r.field}" for r, n in protected.items())
        raise ProtectedError(f"Cannot delete {model.__name__} {pk}: it is still referenced by {what}.", [])


def _mark_deleting(model: Any, pk: str) -> None:
    """Mark the parent deleting (no child can be added from now on), if no PROTECTed child exists."""
    builder = Builder()
    protect = [r for r in incoming(model) if r.on_delete is PROTECT]
    conditions = [f"attribute_exists({builder.name(model._meta.hash_key)})"]
    conditions += [
        f"(attribute_not_exists({builder.name(r.counter)}) OR {builder.name(r.counter)} = {builder.value(_ZERO)})"
        for r in protect
    ]
    since = builder.value({"N": str(int(time.time()))})
    update = f"SET {builder.name(DELETING)} = if_not_exists({builder.name(DELETING)}, {since})"
    try:
        connection.call(
            "UpdateItem",
            idempotent=True,
            TableName=model._meta.table_name,
            Key=model._meta.key(pk),
            UpdateExpression=update,
            ConditionExpression=" AND ".join(conditions),
            **builder.params(),
        )
    except ConditionalCheckFailed:
        current = loading.load_one(model, pk, consistent=True)
        if current is not None:
            _refuse_protected(model, pk, current)
            raise
    loading.forget(model, pk)


def _handle_children(relation: Relation, parent_pk: str) -> int:
    """Delete (CASCADE) or detach (SET_NULL) the children the index shows now; return how many."""
    children, consistent = _children(relation, parent_pk)
    if relation.on_delete is CASCADE and consistent and _batchable(relation.child):
        left = _delete_in_batches(relation.child, children)
    else:
        left = children
    for child in left:
        if relation.on_delete is CASCADE:
            child.delete()
        else:
            relation.child.objects.filter(pk=child.pk).update(**{relation.field: None})
    return len(children)


def _children(relation: Relation, parent_pk: str) -> tuple[list, bool]:
    """The children an index shows now, and whether they were read consistently (the child table's own key)."""
    query = relation.child.objects.filter(**{relation.field: parent_pk})
    try:
        query.consistent().explain()
    except ConsistencyError:
        return list(query.uncached()), False  # a GSI: eventually consistent; the parent's count says when done
    return list(query.consistent()), True


def _batchable(model: Any) -> bool:
    """Children deletable in bulk: nothing of their own to cascade, no claims, no versions, transactions at hand."""
    meta = model._meta
    return not incoming(model) and not meta.has_claims and meta.version_field is None and Transactions.supported()


def _delete_in_batches(model: Any, children: list) -> list:
    """Delete consistently-read children, many per transaction with the counts they held; return those left.

    A batch whose condition fails (a child moved or went meanwhile) is left to the one-by-one path.
    """
    left: list = []
    for start in range(0, len(children), CHILDREN_PER_TRANSACTION):
        chunk = children[start : start + CHILDREN_PER_TRANSACTION]
        for child in chunk:
            signals.pre_delete.send(sender=model, instance=child, using="dynamodb", origin=child)
        try:
            transact(_batch_actions(model, chunk))
        except TransactionCanceled:
            left.extend(chunk)
            continue
        for child in chunk:
            loading.forget(model, child.pk, deleted=True)
            signals.post_delete.send(sender=model, instance=child, using="dynamodb", origin=child)
        loading.table_written(model, *(cache.Change.deleted(child._state.stored) for child in chunk))
    return left


def _batch_actions(model: Any, chunk: list) -> list[dict]:
    meta = model._meta
    actions = []
    uncount: Counter = Counter()
    for child in chunk:
        current = child._state.stored
        builder = Builder()
        conditions = [f"attribute_exists({builder.name(meta.hash_key)})"]
        conditions += reference_conditions(model, current, builder)
        delete = {
            "TableName": meta.table_name,
            "Key": meta.key(child.pk),
            "ConditionExpression": " AND ".join(conditions),
            **builder.params(),
        }
        actions.append({"Delete": delete})
        uncount.update(guards_of(model, current))
    actions += [_parent_update(r, p, -n, guard=False) for (r, p), n in uncount.items()]
    return actions


def _wait(round_: int) -> None:
    """Give a lagging index time to show the last children, within the request's deadline."""
    pause = min(1.0, 0.05 * 2**round_)
    left = connection.remaining()
    if left is not None and left <= pause:
        return
    connection.sleep(pause)


def _reconcile(model: Any, pk: str, current: dict, pending: list[Relation]) -> None:
    """Without transactions a crash can leave a count too high; when no child is left, set it to 0."""
    for relation in pending:
        if relation.child.objects.uncached().filter(**{relation.field: pk}).exists():
            continue
        builder = Builder()
        with contextlib.suppress(ConditionalCheckFailed):  # it moved: the next round looks again
            connection.call(
                "UpdateItem",
                idempotent=True,
                TableName=model._meta.table_name,
                Key=model._meta.key(pk),
                UpdateExpression=f"SET {builder.name(relation.counter)} = {builder.value(_ZERO)}",
                ConditionExpression=f"{builder.name(relation.counter)} = {builder.value(current[relation.counter])}",
                **builder.params(),
            )
