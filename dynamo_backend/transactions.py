"""All-or-nothing writes with TransactWriteItems (100 actions, never split silently)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from . import connection, loading
from .exceptions import FieldError, TransactionCanceled
from .expressions import Builder, Q, compile_node, compile_update, resolve
from .query import clean_changes

MAX_ACTIONS = 100


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
        model = type(obj)
        obj._prepare(add=True)
        version = model._meta.version_field
        if version is not None:
            obj.__dict__[version.name] = 1
        item = obj.to_raw()
        self._add(
            model._meta.table_name,
            obj.pk,
            {
                "Put": {
                    "TableName": model._meta.table_name,
                    "Item": item,
                    "ConditionExpression": "attribute_not_exists(#pk)",
                    "ExpressionAttributeNames": {"#pk": "pk"},
                }
            },
        )
        for field in model._meta.unique_fields:
            av = item.get(field.name)
            if av is None:
                continue
            key = f"{field.name}#{av['S']}"
            self._add(
                model._meta.unique_table_name,
                key,
                {
                    "Put": {
                        "TableName": model._meta.unique_table_name,
                        "Item": {"pk": {"S": key}, "owner": {"S": obj.pk}, "claimed_at": {"N": "0"}},
                        "ConditionExpression": "attribute_not_exists(#pk)",
                        "ExpressionAttributeNames": {"#pk": "pk"},
                    }
                },
            )

        def done() -> None:
            from .models import ModelState

            obj._state = ModelState(adding=False, stored=item)
            loading.remember(model, item, since=self._mark, write=True)
            loading.table_written(model)

        self._after.append(done)
        return obj

    def update(self, model: Any, pk: str, *, condition: Q | None = None, **changes: Any) -> None:
        """Update one item (F() allowed); it must exist and satisfy ``condition``."""
        if any(f.name in changes for f in model._meta.unique_fields):
            raise FieldError("Unique fields cannot be changed inside a transaction; use save()")
        cleaned = clean_changes(model, changes)
        builder = Builder()
        expression = compile_update(model, cleaned, builder)
        condition_text = f"attribute_exists({builder.name('pk')})"
        if condition is not None:
            condition_text += f" AND ({compile_node(resolve(model, condition), builder)})"
        self._add(
            model._meta.table_name,
            pk,
            {
                "Update": {
                    "TableName": model._meta.table_name,
                    "Key": {"pk": {"S": pk}},
                    "UpdateExpression": expression,
                    "ConditionExpression": condition_text,
                    **builder.params(),
                }
            },
        )
        self._after.append(lambda: (loading.forget(model, pk), loading.table_written(model)))

    def delete(self, obj: Any) -> None:
        """Delete obj and its unique claims."""
        model = type(obj)
        self._add(
            model._meta.table_name,
            obj.pk,
            {
                "Delete": {
                    "TableName": model._meta.table_name,
                    "Key": {"pk": {"S": obj.pk}},
                }
            },
        )
        for field in model._meta.unique_fields:
            value = obj.__dict__.get(field.name)
            if value is None:
                continue
            key = f"{field.name}#{value}"
            self._add(
                model._meta.unique_table_name,
                key,
                {
                    "Delete": {
                        "TableName": model._meta.unique_table_name,
                        "Key": {"pk": {"S": key}},
                        "ConditionExpression": "#owner = :owner",
                        "ExpressionAttributeNames": {"#owner": "owner"},
                        "ExpressionAttributeValues": {":owner": {"S": obj.pk}},
                    }
                },
            )
        self._after.append(lambda: (loading.forget(model, obj.pk, deleted=True), loading.table_written(model)))

    def check(self, model: Any, pk: str, condition: Q | None = None) -> None:
        """Require that an item exists (and matches ``condition``) without writing it."""
        builder = Builder()
        text = f"attribute_exists({builder.name('pk')})"
        if condition is not None:
            text += f" AND ({compile_node(resolve(model, condition), builder)})"
        self._add(
            model._meta.table_name,
            pk,
            {
                "ConditionCheck": {
                    "TableName": model._meta.table_name,
                    "Key": {"pk": {"S": pk}},
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
        try:
            connection.call("TransactWriteItems", TransactItems=self.actions)
        except TransactionCanceled:
            raise
        for callback in self._after:
            callback()
        self.actions, self._after, self._keys = [], [], set()


@contextlib.contextmanager
def transact_write() -> Iterator[TransactionWriter]:
    """Collect writes in the block and commit them all or none at its end."""
    writer = TransactionWriter()
    yield writer
    writer.commit()
