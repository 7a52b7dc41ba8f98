"""Referential integrity for ``references=`` fields with ``on_delete`` (PROTECT, CASCADE, SET_NULL).

Each referenced (parent) item counts its children per relation in an
attribute of its own, ``_refs:<child label>.<field>``, and carries
``_deleting`` while a CASCADE or SET_NULL delete is in progress. Every write
that adds or removes a child changes the count in the same atomic step as the
child (TransactWriteItems with a ClientRequestToken, so a retry never applies
it twice):

- creating a child, or pointing it at a new parent, requires that parent to
  exist and not be deleting;
- deleting a parent requires every count to be 0: PROTECT refuses with
  ProtectedError while children exist; CASCADE (and SET_NULL) first mark the
  parent deleting, so no child can be added, then delete (or detach) the
  children until the parent's own count, read consistently, says none is left,
  and only then delete the parent. An interrupted cascade leaves the parent
  marked; deleting it again resumes where it stopped.

Creating a child and deleting its PROTECTed parent can therefore never
interleave into an orphan. Engines without transactions (dynalite) get the
same steps one call at a time, counts changed before a child is added and
after it is removed: no orphan either, but a crash between two steps leaves a
count too high, which blocks the parent's delete until a cascade finds no
child left and corrects it.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import DO_NOTHING

from . import connection, loading
from .compiler import Builder
from .conf import get_setting
from .exceptions import (
    ConditionalCheckFailed,
    DynamoBackendError,
    FieldError,
    RelatedObjectMissing,
    TransactionCanceled,
)
from .options import all_models

__all__ = ["DELETING", "Relation", "incoming", "outgoing", "parent_update", "transact"]

DELETING = "_deleting"
_ZERO = {"N": "0"}
_no_transactions: set[Any] = set()  # endpoints that answered UnknownOperation to TransactWriteItems


@dataclass(frozen=True)
class Relation:
    """One guarded reference: ``child.field`` points at a parent item."""

    child: Any
    field: str
    on_delete: Any

    @property
    def parent(self) -> Any:
        relation = next(name for name, (field, _) in self.child._meta.references.items() if field == self.field)
        parent = self.child._meta.related_model(relation)
        if parent._meta.composite_key:
            raise FieldError(
                f"{self.child.__name__}.{self.field}: on_delete needs a referenced model with a simple pk, "
                f"and {parent.__name__} has a composite key"
            )
        return parent

    @property
    def counter(self) -> str:
        return f"_refs:{self.child._meta.label.lower()}.{self.field}"


def outgoing(model: Any) -> list[Relation]:
    """Return the guarded references of a model (its fields that point at a parent)."""
    return [
        Relation(model, field.name, field.on_delete)
        for field in model._meta.fields.values()
        if field.references is not None and field.on_delete is not DO_NOTHING
    ]


def incoming(model: Any) -> list[Relation]:
    """Return the guarded references that point at a model (its children)."""
    return [relation for child in all_models() for relation in outgoing(child) if relation.parent is model]


# -- the atomic step ------------------------------------------------------------------------


class Transactions:
    """Whether this endpoint does TransactWriteItems (dynalite does not)."""

    @staticmethod
    def supported() -> bool:
        return get_setting("ENDPOINT_URL") not in _no_transactions

    @staticmethod
    def unsupported() -> None:
        _no_transactions.add(get_setting("ENDPOINT_URL"))


def transact(actions: list[dict]) -> None:
    """Commit actions all or none, once even if retried (a ClientRequestToken names this logical write)."""
    token = str(uuid.uuid4())
    try:
        connection.call("TransactWriteItems", TransactItems=actions, ClientRequestToken=token)
    except DynamoBackendError as error:
        if error.code == "UnknownOperationException":
            Transactions.unsupported()
        raise


def failed_actions(error: TransactionCanceled) -> list[int]:
    """Return the positions of the actions whose condition failed."""
    return [i for i, reason in enumerate(error.reasons) if (reason or {}).get("Code") == "ConditionalCheckFailed"]


def _parent_update(relation: Relation, parent_pk: str, delta: int, *, guard: bool) -> dict:
    """The Update action that moves one parent's child count by delta (guard: it must exist and not be deleting)."""
    builder = Builder()
    condition = f"attribute_exists({builder.name(relation.parent._meta.hash_key)})"
    if guard:
        condition += f" AND attribute_not_exists({builder.name(DELETING)})"
    expression = f"ADD {builder.name(relation.counter)} {builder.value({'N': str(delta)})}"
    meta = relation.parent._meta
    return {
        "Update": {
            "TableName": meta.table_name,
            "Key": meta.key(parent_pk),
            "UpdateExpression": expression,
            "ConditionExpression": condition,
            **builder.params(),
        }
    }


def parent_update(relation: Relation, parent_pk: str, delta: int) -> dict:
    """The transaction action counting one child in (+1: the parent must exist and not be deleting) or out."""
    return _parent_update(relation, parent_pk, delta, guard=delta > 0)


def guards_of(model: Any, item: dict | None) -> list[tuple[Relation, str]]:
    """Return (relation, parent pk) for each guarded reference a raw item holds."""
    if not item:
        return []
    return [(r, item[r.field]["S"]) for r in outgoing(model) if item.get(r.field) is not None]


def _apply_counts(changes: Iterable[tuple[Relation, str, int, bool]]) -> None:
    """Without transactions: move each count with its own conditional UpdateItem."""
    for relation, parent_pk, delta, guard in changes:
        action = _parent_update(relation, parent_pk, delta, guard=guard)["Update"]
        try:
            connection.call("UpdateItem", **action)
        except ConditionalCheckFailed:
            if guard:
                raise RelatedObjectMissing(
                    f"{relation.field}: {relation.parent.__name__} {parent_pk} does not exist or is being deleted",
                    field=relation.field,
                    value=parent_pk,
                ) from None


# -- child side: writes that add, move or remove a child ------------------------------------


def put_child(model: Any, item: dict, put: dict) -> None:
    """Put a new child item and count it in its parents, atomically. ``put`` is the PutItem parameters.

    Raises ConditionalCheckFailed when the put's own condition failed, and
    RelatedObjectMissing naming the field when a parent is missing or deleting.
    """
    guards = guards_of(model, item)
    if Transactions.supported():
        actions = [{"Put": put}] + [_parent_update(r, pk, 1, guard=True) for r, pk in guards]
        try:
            transact(actions)
            return
        except TransactionCanceled as error:
            raise _cancelled(error, guards, offset=1) from error
        except DynamoBackendError:
            if Transactions.supported():
                raise
    _apply_counts((r, pk, 1, True) for r, pk in guards)
    try:
        connection.call("PutItem", **put)
    except ConditionalCheckFailed as error:
        try:
            stored = loading.load_one(model, model._meta.pk_of(item), consistent=True)
        except DynamoBackendError as unknown:
            unknown.maybe_applied = unknown.maybe_applied or error.after_unknown  # ours may be stored: keep claims
            raise
        if stored is None or not error.after_unknown or not model.same_raw(stored, item):
            _apply_counts((r, pk, -1, False) for r, pk in guards)  # another item: ours was not added
        raise  # the caller sees the stored item is ours (a retry that landed) and succeeds
    except DynamoBackendError as error:
        if not error.maybe_applied:
            _apply_counts((r, pk, -1, False) for r, pk in guards)
        raise  # unknown outcome: the count stays (too high errs on the safe side)


def _cancelled(error: TransactionCanceled, guards: list[tuple[Relation, str]], *, offset: int) -> Exception:
    failed = failed_actions(error)
    if 0 in failed:
        refused = ConditionalCheckFailed(str(error), code="ConditionalCheckFailedException")
        refused.after_unknown = error.after_unknown
        return refused
    for position in failed:
        if position >= offset and position - offset < len(guards):
            relation, pk = guards[position - offset]
            return RelatedObjectMissing(
                f"{relation.field}: {relation.parent.__name__} {pk} does not exist or is being deleted",
                field=relation.field,
                value=pk,
            )
    return error


def move_child(model: Any, pk: str, update: dict, old: dict, new: dict) -> None:
    """Apply a child's UpdateItem (``update`` parameters, conditioned on its current references) and move counts."""
    before = dict(guards_of(model, old))
    after = dict(guards_of(model, new))
    changes = [(r, p, -1, False) for r, p in before.items() if after.get(r) != p]
    changes += [(r, p, 1, True) for r, p in after.items() if before.get(r) != p]
    if Transactions.supported():
        actions = [{"Update": update}] + [_parent_update(r, p, d, guard=g) for r, p, d, g in changes]
        try:
            transact(actions)
            return
        except TransactionCanceled as error:
            raise _cancelled(error, [(r, p) for r, p, _d, _g in changes], offset=1) from error
        except DynamoBackendError:
            if Transactions.supported():
                raise
    _apply_counts(c for c in changes if c[2] > 0)
    try:
        connection.call("UpdateItem", **update)
    except DynamoBackendError as error:
        if not error.maybe_applied:
            _apply_counts((r, p, -d, False) for r, p, d, _g in changes if d > 0)
        raise
    _apply_counts(c for c in changes if c[2] < 0)


def reference_conditions(model: Any, item: dict, builder: Builder) -> list[str]:
    """Conditions that the stored item still points at the parents ``item`` points at."""
    out = []
    for relation in outgoing(model):
        name = builder.name(relation.field)
        av = item.get(relation.field)
        out.append(f"attribute_not_exists({name})" if av is None else f"{name} = {builder.value(av)}")
    return out


def counts_zero_conditions(model: Any, builder: Builder) -> list[str]:
    """Conditions that no child is counted in any relation pointing at this model."""
    return [
        f"(attribute_not_exists({builder.name(r.counter)}) OR {builder.name(r.counter)} = {builder.value(_ZERO)})"
        for r in incoming(model)
    ]


def delete_item(model: Any, pk: str, current: dict, delete: dict) -> None:
    """Delete an item (``delete`` parameters, conditioned on its references) and uncount it in its parents."""
    guards = guards_of(model, current)
    if not guards:
        connection.call("DeleteItem", **delete)
        return
    if Transactions.supported():
        actions = [{"Delete": delete}] + [_parent_update(r, p, -1, guard=False) for r, p in guards]
        try:
            transact(actions)
            return
        except TransactionCanceled as error:
            if 0 in failed_actions(error):
                refused = ConditionalCheckFailed(str(error), code="ConditionalCheckFailedException")
                refused.after_unknown = error.after_unknown
                raise refused from error
            # A parent is already gone (only DO_NOTHING-style data can do that): delete the child alone.
        except DynamoBackendError:
            if Transactions.supported():
                raise
    try:
        connection.call("DeleteItem", **delete)
    except ConditionalCheckFailed as error:
        if not error.after_unknown or loading.load_one(model, pk, consistent=True) is not None:
            raise
        # Our own earlier attempt deleted it (its answer was lost): uncount it once, below.
    for relation, parent_pk in guards:
        with contextlib.suppress(ConditionalCheckFailed):  # the parent is gone: nothing to uncount
            connection.call("UpdateItem", **_parent_update(relation, parent_pk, -1, guard=False)["Update"])
