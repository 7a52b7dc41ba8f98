"""moto's server, one request at a time: ``python -m scripts.moto_server -H 127.0.0.1 -p PORT``.

DynamoDB applies each write to an item atomically: a conditional PutItem or an
ADD cannot interleave with another write to that item. moto evaluates the
condition (or the ADD) and stores the result in Python with no lock, so two
threads can both pass one condition: we saw two creates of one unique slug
both win. Every moto the project starts therefore handles one request at a
time: the server here (test engine, `make run`, `make bench`) and the
in-process mock of the test suite (:func:`serialized_mock_aws`). Clients still
race (threads, HTTP connections), which is what the concurrency tests need.

Two more changes keep a long-running moto from slowing down with its history:
shard iterators are bounded (:func:`expire_shard_iterators`), and a
transaction backs up only what it can change (:func:`cheap_transaction_backups`);
:func:`bound_history` applies both.
"""

from __future__ import annotations

import copy
import sys
import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

LOCK = threading.RLock()
# moto keeps every shard iterator it ever handed out, and a stream reader asks for a new one at
# every poll (about 40 MB an hour for `make run`); DynamoDB expires them (15 minutes). Keep the newest.
ITERATORS_KEPT = 2048


def expire_shard_iterators() -> None:
    """Bound moto's shard iterators; an older one is an ExpiredIteratorException, as on DynamoDB."""
    from moto.core.exceptions import JsonRESTError
    from moto.dynamodbstreams.models import DynamoDBStreamsBackend

    get_records = DynamoDBStreamsBackend.get_records
    if getattr(get_records, "bounded", False):
        return

    def bounded(self, iterator_arn, limit):
        if iterator_arn not in self.shard_iterators:
            raise JsonRESTError("ExpiredIteratorException", "Iterator expired")
        result = get_records(self, iterator_arn, limit)
        while len(self.shard_iterators) > ITERATORS_KEPT:
            del self.shard_iterators[next(iter(self.shard_iterators))]
        return result

    bounded.bounded = True
    DynamoDBStreamsBackend.get_records = bounded


# The TransactItems of the TransactWriteItems being applied, for the table backups below.
_TRANSACTION: ContextVar[list[dict[str, Any]] | None] = ContextVar("moto_transaction", default=None)


class _TransactionBackups:
    """Stands in for the ``copy`` module inside moto.dynamodb.models (see :func:`cheap_transaction_backups`)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value: Any, memo: dict | None = None) -> Any:
        from moto.dynamodb.models.table import Table

        transaction = _TRANSACTION.get()
        if transaction is None or not isinstance(value, Table):
            return copy.deepcopy(value, memo)
        return _table_backup(value, transaction)


def _table_backup(table: Any, transaction: list[dict[str, Any]]) -> Any:
    """What a transaction can change of ``table``: its item maps (a Put or Delete replaces or removes an
    item object, never changes one), the items its Updates change in place (copied), its stream's records."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    backup = copy.copy(table)
    backup.items = defaultdict(dict, {h: dict(v) if isinstance(v, dict) else v for h, v in table.items.items()})
    for action in transaction:
        update = action.get("Update") or {}
        key = update.get("Key") or {}
        if update.get("TableName") != table.name or table.hash_key_attr not in key:
            continue
        hash_value = DynamoType(key[table.hash_key_attr])
        if table.range_key_attr is None:
            if hash_value in backup.items:
                backup.items[hash_value] = copy.deepcopy(backup.items[hash_value])
            continue
        bucket = backup.items.get(hash_value)
        range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr in key else None
        if bucket is not None and range_value in bucket:
            bucket[range_value] = copy.deepcopy(bucket[range_value])
    if table.stream_shard is not None:
        backup.stream_shard = copy.copy(table.stream_shard)
        backup.stream_shard.items = list(table.stream_shard.items)
        backup.stream_shard.table = backup
    return backup


def cheap_transaction_backups() -> None:
    """Back up only what a TransactWriteItems can change, to roll it back when it is cancelled.

    moto deep-copies every table a transaction touches, items and stream history included, so a transaction
    cost time in proportion to every write the server ever took: 6 ms at 100 items, 454 ms at 6,000
    (measured in-process). A long `make run` or test session slowed down until requests ran out of their
    deadline. The backup here copies the table's item maps (not the items), the items the transaction's
    Updates change in place, and the stream's record list; a cancelled transaction restores the same state.
    """
    import moto.dynamodb.models as models

    if isinstance(models.copy, _TransactionBackups):
        return
    transact = models.DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        token = _TRANSACTION.set(transact_items)
        try:
            return transact(self, transact_items)
        finally:
            _TRANSACTION.reset(token)

    models.copy = _TransactionBackups()  # type: ignore[assignment]
    models.DynamoDBBackend.transact_write_items = transact_write_items


def bound_history() -> None:
    """The patches that keep a long-running moto from slowing down with its history (server and in-process)."""
    expire_shard_iterators()
    cheap_transaction_backups()


def serialize_server() -> None:
    """Make moto's WSGI dispatcher take :data:`LOCK` around every request."""
    from moto.moto_server import werkzeug_app

    dispatch = werkzeug_app.DomainDispatcherApplication.__call__

    def serialized(self, environ, start_response):
        with LOCK:
            return dispatch(self, environ, start_response)

    werkzeug_app.DomainDispatcherApplication.__call__ = serialized
    bound_history()


@contextmanager
def serialized_mock_aws() -> Iterator[None]:
    """moto's in-process ``mock_aws()``, handling one request at a time like the server."""
    from unittest import mock

    from moto import mock_aws
    from moto.core.botocore_stubber import BotocoreStubber

    process = BotocoreStubber.process_request

    def serialized(stubber, request):
        with LOCK:
            return process(stubber, request)

    bound_history()
    with mock_aws(), mock.patch.object(BotocoreStubber, "process_request", serialized):
        yield


def main(argv: list[str] | None = None) -> None:
    from moto.server import main as moto_main

    serialize_server()
    moto_main(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
