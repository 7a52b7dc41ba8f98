"""The emulator's ceiling: how many calls a boto3 loop gets out of a DynamoDB emulator.

GetItem is measured with 1 thread (one client in a loop) and shaped like the
stack's gunicorn: as many processes as workers, each with as many threads as a
worker has, every thread with its own client, all against an item that exists.
Processes, not just threads, so the client side is not held to one GIL while
the server side is. The index Query the blog's comment list makes (a post's
comments by ``post_pk``, ``Limit`` 10) is measured the gunicorn way too, since
emulators price a Query very differently from a GetItem (moto walks the whole
table). Nothing else runs meanwhile.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from typing import Any

import boto3
from botocore.config import Config


def _client(endpoint: str) -> Any:
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, max_pool_connections=4),
    )


def pick_item(endpoint: str, hint: str = "author") -> tuple[str, dict]:
    """A (table, key) that exists: the first item of a table whose name contains ``hint``."""
    client = _client(endpoint)
    tables = client.list_tables()["TableNames"]
    candidates = [t for t in tables if hint in t and "__" not in t] or [t for t in tables if "__" not in t] or tables
    for table in candidates:
        items = client.scan(TableName=table, Limit=1).get("Items", [])
        if items:
            return table, {"pk": items[0]["pk"]}
    raise RuntimeError(f"no item to read in {tables}")


def pick_query(endpoint: str, hint: str = "comment", attribute: str = "post_pk") -> dict[str, Any]:
    """Query parameters for an index Query that finds items: a post's comments, as the comment list asks.

    The table whose name contains ``hint``; its index keyed on ``attribute``
    (else its first index); the key value of an item that exists.
    """
    client = _client(endpoint)
    tables = [t for t in client.list_tables()["TableNames"] if hint in t and "__" not in t]
    for table in tables:
        desc = client.describe_table(TableName=table)["Table"]
        indexes = desc.get("GlobalSecondaryIndexes") or []
        chosen = None
        for index in indexes:
            hash_key = next(k["AttributeName"] for k in index["KeySchema"] if k["KeyType"] == "HASH")
            if attribute in hash_key or chosen is None:
                chosen = (index["IndexName"], hash_key)
                if attribute in hash_key:
                    break
        if chosen is None:
            continue
        items = client.scan(TableName=table, Limit=1).get("Items", [])
        if items and chosen[1] in items[0]:
            return {
                "TableName": table,
                "IndexName": chosen[0],
                "Limit": 10,
                "KeyConditionExpression": "#k = :v",
                "ExpressionAttributeNames": {"#k": chosen[1]},
                "ExpressionAttributeValues": {":v": items[0][chosen[1]]},
            }
    raise RuntimeError(f"no index Query to make on tables matching {hint!r}")


def _call(client: Any, op: str, params: dict) -> bool:
    """One call; True when it found something (an item, or a non-empty page)."""
    if op == "get_item":
        return "Item" in client.get_item(**params)
    return bool(client.query(**params).get("Items"))


def getitem_rate(endpoint: str, table: str, key: dict, *, seconds: float = 5.0, threads: int = 1) -> dict[str, float]:
    """GetItem calls per second over ``seconds`` with ``threads`` concurrent loops."""
    return call_rate(endpoint, "get_item", {"TableName": table, "Key": key}, seconds=seconds, threads=threads)


def call_rate(endpoint: str, op: str, params: dict, *, seconds: float = 5.0, threads: int = 1) -> dict[str, float]:
    """``op`` ("get_item" or "query") calls per second over ``seconds`` with ``threads`` concurrent loops."""
    clients = [_client(endpoint) for _ in range(threads)]
    for client in clients:  # warm connections and botocore's lazy loading
        for _ in range(5):
            _call(client, op, params)
    counts = [0] * threads
    errors = [0] * threads
    start_gate = threading.Barrier(threads + 1)
    deadline = [0.0]

    def loop(i: int) -> None:
        client = clients[i]
        start_gate.wait()
        while time.perf_counter() < deadline[0]:
            try:
                if _call(client, op, params):
                    counts[i] += 1
                else:
                    errors[i] += 1
            except Exception:  # noqa: BLE001 - counted, never hidden
                errors[i] += 1

    workers = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(threads)]
    for worker in workers:
        worker.start()
    began = time.perf_counter()
    deadline[0] = began + seconds
    start_gate.wait()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - began
    return {
        "threads": threads,
        "calls": sum(counts),
        "errors": sum(errors),
        "seconds": elapsed,
        "rate": sum(counts) / elapsed,
    }


def _process_loop(args: tuple[str, str, dict, float, int, float]) -> dict[str, float]:
    endpoint, op, params, seconds, threads, start_at = args
    while time.time() < start_at:  # every process starts its loop at the same moment
        time.sleep(0.005)
    return call_rate(endpoint, op, params, seconds=seconds, threads=threads)


def getitem_rate_processes(
    endpoint: str, table: str, key: dict, *, seconds: float = 5.0, processes: int = 2, threads: int = 4
) -> dict[str, float]:
    """GetItem calls per second with ``processes`` x ``threads`` concurrent loops."""
    return call_rate_processes(
        endpoint, "get_item", {"TableName": table, "Key": key}, seconds=seconds, processes=processes, threads=threads
    )


def call_rate_processes(
    endpoint: str, op: str, params: dict, *, seconds: float = 5.0, processes: int = 2, threads: int = 4
) -> dict[str, float]:
    """``op`` calls per second with ``processes`` x ``threads`` concurrent loops."""
    ctx = multiprocessing.get_context("spawn")
    start_at = time.time() + 3.0 + processes  # time for the children to import boto3 and warm up
    with ctx.Pool(processes) as pool:
        parts = pool.map(_process_loop, [(endpoint, op, params, seconds, threads, start_at)] * processes)
    calls = sum(p["calls"] for p in parts)
    elapsed = max(p["seconds"] for p in parts)
    return {
        "processes": processes,
        "threads": processes * threads,
        "calls": calls,
        "errors": sum(p["errors"] for p in parts),
        "seconds": elapsed,
        "rate": calls / elapsed,
    }
