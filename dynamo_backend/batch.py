"""BatchGetItem / BatchWriteItem within DynamoDB's limits, with bounded retries.

BatchGetItem takes at most 100 keys, none twice; BatchWriteItem at most 25
requests, no item twice. Either may hand back part of the work as
``UnprocessedKeys`` / ``UnprocessedItems`` (throttling, the 16 MB response
limit); that part is retried with exponential backoff and full jitter, a
bounded number of times, then reported in a BatchGetError / BatchWriteError.
"""

from __future__ import annotations

import json
import random as _random
import time as _time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any, TypeVar

from . import connection
from .conf import get_setting
from .exceptions import BatchGetError, BatchWriteError

__all__ = [
    "GET_CHUNK",
    "WRITE_CHUNK",
    "RetryPolicy",
    "chunked",
    "batch_get",
    "batch_write",
    "write_chunks",
]

GET_CHUNK = 100  # BatchGetItem's key limit per call
WRITE_CHUNK = 25  # BatchWriteItem's request limit per call

T = TypeVar("T")


@dataclass
class RetryPolicy:
    """How often and how patiently to retry the unprocessed part of a batch."""

    max_attempts: int
    base_delay: float
    max_delay: float
    sleep: Callable[[float], Any] = _time.sleep
    random: Callable[[], float] = _random.random

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("delays must not be negative")

    @classmethod
    def from_settings(cls, **overrides: Any) -> RetryPolicy:
        """Build a policy from BATCH_MAX_ATTEMPTS / BATCH_BASE_DELAY / BATCH_MAX_DELAY."""
        values: dict[str, Any] = {
            "max_attempts": int(get_setting("BATCH_MAX_ATTEMPTS")),
            "base_delay": float(get_setting("BATCH_BASE_DELAY")),
            "max_delay": float(get_setting("BATCH_MAX_DELAY")),
        }
        values.update(overrides)
        return cls(**values)

    def delay(self, attempt: int) -> float:
        """Return the pause before retry number ``attempt`` (0 for the first retry)."""
        # Full jitter: spreads the retries of many throttled clients apart.
        return min(self.max_delay, self.base_delay * 2**attempt) * self.random()


def chunked(iterable: Iterable[T], n: int) -> Iterator[list[T]]:
    """Yield lists of at most n consecutive items."""
    if n < 1:
        raise ValueError("chunk size must be at least 1")
    iterator = iter(iterable)
    while chunk := list(islice(iterator, n)):
        yield chunk


Key = str | dict  # a simple key's pk string, or a Key dict (composite keys)


def _key(pk: Key) -> dict:
    if isinstance(pk, dict):
        return pk
    if not isinstance(pk, str):
        raise TypeError(f"batch calls need string pks or Key dicts, got {pk!r}")
    return {"pk": {"S": pk}}


def key_id(key: dict) -> str:
    """Return one string naming a key: the pk of a simple key, else its canonical JSON."""
    if len(key) == 1 and "pk" in key and "S" in key["pk"]:
        return key["pk"]["S"]
    return json.dumps(key, sort_keys=True, separators=(",", ":"))


def _key_of_item(item: dict, key_names: tuple[str, ...]) -> dict:
    try:
        return {name: item[name] for name in key_names}
    except KeyError:
        raise ValueError(f"an item needs its key attributes {key_names}") from None


def _pk_of_key(key: dict) -> str:
    return key_id(key)


def batch_get(
    table_name: str,
    pks: Iterable[Key],
    *,
    consistent_read: bool = False,
    policy: RetryPolicy | None = None,
    key_names: tuple[str, ...] = ("pk",),
) -> dict[str, dict]:
    """Read items by pk (or Key dict), 100 keys a call; return {key_id: raw_item} for those that exist."""
    # DynamoDB rejects a call that names one key twice.
    keys = {key_id(k): k for k in map(_key, pks)}
    unique = list(keys)
    found: dict[str, dict] = {}
    if not unique:
        return found
    policy = policy or RetryPolicy.from_settings()
    chunks = list(chunked(unique, GET_CHUNK))
    for index, chunk in enumerate(chunks):
        request: dict = {"Keys": [keys[k] for k in chunk], "ConsistentRead": consistent_read}
        for attempt in range(policy.max_attempts):
            if attempt:
                policy.sleep(policy.delay(attempt - 1))
            response = connection.call("BatchGetItem", RequestItems={table_name: request})
            for item in response.get("Responses", {}).get(table_name, ()):
                found[key_id(_key_of_item(item, key_names))] = item
            unprocessed = (response.get("UnprocessedKeys", {}).get(table_name) or {}).get("Keys")
            if not unprocessed:
                break
            # Rebuilt rather than resent as is, so ConsistentRead survives every retry.
            request = {"Keys": unprocessed, "ConsistentRead": consistent_read}
        else:
            leftover = [_pk_of_key(key) for key in request["Keys"]]
            # Chunks never sent are just as unread as the leftovers of this one.
            leftover += [pk for later in chunks[index + 1 :] for pk in later]
            raise BatchGetError(
                f"BatchGetItem on {table_name!r}: {len(leftover)} of {len(unique)} key(s) "
                f"left unprocessed after {policy.max_attempts} attempt(s)",
                unprocessed=leftover,
            )
    return found


def _pk_of_request(request: dict, key_names: tuple[str, ...] = ("pk",)) -> str:
    if "PutRequest" in request:
        try:
            return key_id(_key_of_item(request["PutRequest"]["Item"], key_names))
        except (ValueError, TypeError):
            raise ValueError(f"a put item needs its key attributes {key_names}, e.g. {{'pk': {{'S': ...}}}}") from None
    return key_id(request["DeleteRequest"]["Key"])


def write_chunks(
    requests: Iterable[dict], size: int = WRITE_CHUNK, key_names: tuple[str, ...] = ("pk",)
) -> list[list[dict]]:
    """Pack write requests into calls of at most ``size``, no pk twice in one call.

    A later request for a pk already placed goes to a later call than the
    earlier one, so requests for one pk still take effect in the given order.
    """
    chunks: list[list[dict]] = []
    last_chunk: dict[str, int] = {}
    first_open = 0  # every chunk before it is full
    for request in requests:
        pk = _pk_of_request(request, key_names)
        index = max(first_open, last_chunk.get(pk, -1) + 1)
        while index < len(chunks) and len(chunks[index]) >= size:
            index += 1
        if index == len(chunks):
            chunks.append([])
        chunks[index].append(request)
        last_chunk[pk] = index
        while first_open < len(chunks) and len(chunks[first_open]) >= size:
            first_open += 1
    return chunks


def batch_write(
    table_name: str,
    *,
    put_items: Iterable[dict] = (),
    delete_pks: Iterable[Key] = (),
    policy: RetryPolicy | None = None,
    chunk_size: int | None = None,
    key_names: tuple[str, ...] = ("pk",),
) -> None:
    """Put raw items, then delete pks, 25 requests a call (or fewer), retrying unprocessed ones."""
    requests = [{"PutRequest": {"Item": item}} for item in put_items]
    requests += [{"DeleteRequest": {"Key": _key(pk)}} for pk in delete_pks]
    if not requests:
        return
    policy = policy or RetryPolicy.from_settings()
    chunks = write_chunks(requests, min(chunk_size or WRITE_CHUNK, WRITE_CHUNK), key_names)
    for index, chunk in enumerate(chunks):
        pending = chunk
        for attempt in range(policy.max_attempts):
            if attempt:
                policy.sleep(policy.delay(attempt - 1))
            response = connection.call("BatchWriteItem", RequestItems={table_name: pending})
            pending = response.get("UnprocessedItems", {}).get(table_name) or []
            if not pending:
                break
        else:
            leftover = list(pending) + [request for later in chunks[index + 1 :] for request in later]
            raise BatchWriteError(
                f"BatchWriteItem on {table_name!r}: {len(leftover)} of {len(requests)} request(s) "
                f"left unprocessed after {policy.max_attempts} attempt(s)",
                unprocessed=leftover,
            )
