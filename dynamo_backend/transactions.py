"""All-or-nothing writes with TransactWriteItems and atomic reads with TransactGetItems (100 each, never split)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

from . import batch, connection, integrity, loading, unique, updates, writes
from .compiler import Builder
from .exceptions import FieldError, NotSupported, TransactionCanceled
from .expressions import Q, resolve

__all__ = ["MAX_ACTIONS", "MAX_GET_ITEMS", "TransactionWriter", "transact_get", "transact_write"]

MAX_ACTIONS = 100
MAX_GET_ITEMS = 100


class TransactionWriter:
    """Collects writes; ``commit()`` sends them as one TransactWriteItems call."""

    def __init__(self) -> None:
        self.actions: list[dict] = []
        self._keys: set[tuple[str, str]] = set()
        self._after: list[Any] = []
        self._mark = 0

    def _add(self, table: str, pk: str, action: dict) -> None:
        if (table, pk) in self._keys:
            raise ValueError(f"A transaction cannot touch one item twice ({table} {pk})")
        if len(self.actions) >= MAX_ACTIONS:
            raise ValueError(f"A transaction holds at most {MAX_ACTIONS} actions; split the work yourself")
        self._keys.add((table, pk))
        self.actions.append(action)

    def create(self, obj: Any) -> Any:
        """Insert obj (conditional on its pk being new); unique values are claimed in the same transaction."""
        model, meta = type(obj), obj._meta
        item = writes.prepare_insert(obj)
        new_item = {
            "ConditionExpression": "attribute_not_exists(#pk)",
            "ExpressionAttributeNames": {"#pk": meta.hash_key},
        }
        self._add(meta.table_name, obj.pk, {"Put": {"TableName": meta.table_name, "Item": item, **new_item}})
        new_claim = {"ConditionExpression": "attribute_not_exists(#pk)", "ExpressionAttributeNames": {"#pk": "pk"}}
        for label, value in unique.claims_of(model, item):
            claim = unique.claim_item(label, value, unique.owner_text(model, obj.pk))
            put = {"Put": {"TableName": meta.unique_table_name, "Item": claim, **new_claim}}
            self._add(meta.unique_table_name, claim["pk"]["S"], put)
        for relation, parent_pk in integrity.guards_of(model, item):
            # The parent must exist and not be deleting; its child count moves with the child.
            self._add(relation.parent._meta.table_name, parent_pk, integrity.parent_update(relation, parent_pk, 1))

        def done() -> None:
            obj._set_stored(item)
            writes.written(model, item, obj.pk, self._mark, created=True)

        self._after.append(done)
        return obj

    def update(self, model: Any, pk: str, *, condition: Q | None = None, **changes: Any) -> None:
        """Update one item (F() allowed); it must exist and satisfy ``condition``."""
        if any(name in constraint.fields for constraint in model._meta.unique_constraints for name in changes):
            raise FieldError("Unique fields cannot be changed inside a transaction; use save()")
        if {r.field for r in integrity.outgoing(model)} & changes.keys():
            raise NotSupported("A guarded reference (on_delete) cannot move inside a transaction; use save()")
        cleaned = updates.clean_changes(model, changes)
        node = resolve(model, condition) if condition is not None else None
        self._add(model._meta.table_name, pk, {"Update": updates.update_request(model, pk, cleaned, node)})
        self._after.append(lambda: writes.written(model, None, pk, self._mark))

    def delete(self, obj: Any) -> None:
        """Delete obj and its unique claims (and uncount it in the parents it references)."""
        model, meta = type(obj), obj._meta
        if integrity.incoming(model):
            raise NotSupported(
                f"{model.__name__} is referenced with on_delete: delete it with .delete(), which handles its children"
            )
        item = obj.to_raw()
        builder = Builder()
        conditions = integrity.reference_conditions(model, item, builder)
        delete: dict = {"TableName": meta.table_name, "Key": meta.key(obj.pk)}
        if conditions:
            delete.update(ConditionExpression=" AND ".join(conditions), **builder.params())
        self._add(meta.table_name, obj.pk, {"Delete": delete})
        for relation, parent_pk in integrity.guards_of(model, item):
            update = integrity.parent_update(relation, parent_pk, -1)
            self._add(relation.parent._meta.table_name, parent_pk, update)
        owned = {
            "ConditionExpression": "#owner = :owner",
            "ExpressionAttributeNames": {"#owner": "owner"},
            "ExpressionAttributeValues": {":owner": {"S": unique.owner_text(model, obj.pk)}},
        }
        for label, value in unique.claims_of(model, obj.to_raw()):
            key = unique.claim_key(label, value)
            delete = {"Delete": {"TableName": meta.unique_table_name, "Key": key, **owned}}
            self._add(meta.unique_table_name, key["pk"]["S"], delete)
        self._after.append(lambda: writes.after_delete(model, obj.pk, None))

    def check(self, model: Any, pk: str, condition: Q | None = None) -> None:
        """Require that an item exists (and matches ``condition``) without writing it."""
        builder = Builder()
        node = resolve(model, condition) if condition is not None else None
        text = updates.condition_text(model, node, builder)
        self._add(
            model._meta.table_name,
            pk,
            {
                "ConditionCheck": {
                    "TableName": model._meta.table_name,
                    "Key": model._meta.key(pk),
                    "ConditionExpression": text,
                    **builder.params(),
                }
            },
        )

    def commit(self) -> None:
        """Send every action in one TransactWriteItems call."""
        if not self.actions:
            return
        self._mark = loading.write_mark()
        integrity.transact(self.actions)  # once, even if retried; TransactionCanceled propagates
        for callback in self._after:
            callback()
        self.actions, self._after, self._keys = [], [], set()


@contextlib.contextmanager
def transact_write() -> Iterator[TransactionWriter]:
    """Collect writes in the block and commit them all or none at its end."""
    writer = TransactionWriter()
    yield writer
    writer.commit()


def transact_get(items: Iterable[Any]) -> list[Any]:
    """Read up to 100 items, of any models, in one TransactGetItems: atomically and strongly consistently.

    ``items`` holds model instances and/or ``(Model, pk)`` pairs; the answer
    is fresh instances in the same order, None where an item does not exist
    (or its TTL has passed). No transaction half-applied when the read ran is
    seen halfway. More than 100 items are refused before anything is sent
    (DynamoDB's limit; the library never splits a transaction silently). A
    read cancelled by a concurrent transaction on its items is retried.
    """
    keys = [_model_and_pk(item) for item in items]
    if len(keys) > MAX_GET_ITEMS:
        raise ValueError(
            f"transact_get() reads at most {MAX_GET_ITEMS} items, got {len(keys)}; split the work yourself"
        )
    if not keys:
        return []
    distinct: dict[tuple[str, str], tuple[Any, Any]] = {}  # one Get per item: DynamoDB refuses two
    for model, pk in keys:
        distinct.setdefault(_item_id(model, pk), (model, pk))
    gets = [{"Get": {"TableName": m._meta.table_name, "Key": m._meta.key(pk)}} for m, pk in distinct.values()]
    mark = loading.write_mark()
    responses = _transact_get_items(gets)
    found: dict[tuple[str, str], Any] = {}
    for (ident, (model, _pk)), response in zip(distinct.items(), responses, strict=True):
        raw = response.get("Item")
        if raw is not None and model._meta.expired(raw):
            raw = None
        if raw is not None:
            loading.remember(model, raw, since=mark)
        found[ident] = model.from_raw(raw) if raw is not None else None
    return [found[_item_id(model, pk)] for model, pk in keys]


def _model_and_pk(item: Any) -> tuple[Any, Any]:
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], type) and hasattr(item[0], "_meta"):
        model, pk = item
    elif hasattr(type(item), "_meta") and not isinstance(item, type):
        model, pk = type(item), item.pk
    else:
        raise TypeError(f"transact_get() takes model instances and (Model, pk) pairs, got {item!r}")
    if pk is None:
        raise ValueError(f"transact_get(): a {model.__name__} without a pk")
    return model, model._meta.keys.normalize(pk if model._meta.keys.composite else str(pk))


def _item_id(model: Any, pk: Any) -> tuple[str, str]:
    return model._meta.table_name, batch.key_id(model._meta.key(pk))


def _transact_get_items(gets: list[dict]) -> list[dict]:
    """Call TransactGetItems, retrying (with backoff) a read cancelled only by conflicting transactions."""
    policy = batch.RetryPolicy.from_settings()
    for attempt in range(policy.max_attempts):
        try:
            return connection.call("TransactGetItems", TransactItems=gets).get("Responses", [])
        except TransactionCanceled as error:
            codes = {(reason or {}).get("Code", "None") for reason in error.reasons}
            if not codes <= {"TransactionConflict", "None"} or attempt + 1 == policy.max_attempts:
                raise
            policy.sleep(policy.delay(attempt))
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises
