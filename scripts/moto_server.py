"""moto's server, one request at a time: ``python -m scripts.moto_server -H 127.0.0.1 -p PORT``.

DynamoDB applies each write to an item atomically: a conditional PutItem or an
ADD cannot interleave with another write to that item. moto evaluates the
condition (or the ADD) and stores the result in Python with no lock, so two
threads can both pass one condition: we saw two creates of one unique slug
both win. Every moto the project starts therefore handles one request at a
time: the server here (test engine, `make run`, `make bench`) and the
in-process mock of the test suite (:func:`serialized_mock_aws`). Clients still
race (threads, HTTP connections), which is what the concurrency tests need.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

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


def serialize_server() -> None:
    """Make moto's WSGI dispatcher take :data:`LOCK` around every request."""
    from moto.moto_server import werkzeug_app

    dispatch = werkzeug_app.DomainDispatcherApplication.__call__

    def serialized(self, environ, start_response):
        with LOCK:
            return dispatch(self, environ, start_response)

    werkzeug_app.DomainDispatcherApplication.__call__ = serialized
    expire_shard_iterators()


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

    expire_shard_iterators()
    with mock_aws(), mock.patch.object(BotocoreStubber, "process_request", serialized):
        yield


def main(argv: list[str] | None = None) -> None:
    from moto.server import main as moto_main

    serialize_server()
    moto_main(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
