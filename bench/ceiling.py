"""The emulators' ceiling: GetItem and index-Query calls per second of boto3 loops, nothing else running.

Shaped like the stack's gunicorn (workers x threads, in processes so the client
side is not held to one GIL), plus GetItem with one thread.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from typing import Any

import boto3
from botocore.config import Config

from bench.results import EmulatorRates, Rate


def _client(endpoint: str) -> Any:
    config = Config(retries={"max_attempts": 1, "mode": "standard"}, max_pool_connections=4)
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=config,
    )


def _tables(client: Any, hint: str) -> list[str]:
    """Tables whose name holds ``hint``, claims tables (``__``) left out."""
    return [t for t in client.list_tables()["TableNames"] if hint in t and "__" not in t]


def get_item_params(endpoint: str, hint: str = "author") -> dict[str, Any]:
    """GetItem parameters for an item that exists: the first item of a table whose name holds ``hint``."""
    client = _client(endpoint)
    for table in _tables(client, hint) or _tables(client, ""):
        if items := client.scan(TableName=table, Limit=1).get("Items"):
            return {"TableName": table, "Key": {"pk": items[0]["pk"]}}
    raise RuntimeError(f"no item to read at {endpoint}")


def query_params(endpoint: str, hint: str = "comment", attribute: str = "post_pk") -> dict[str, Any]:
    """An index Query that finds items, as the comment list asks: a post's comments by ``post_pk``."""
    client = _client(endpoint)
    for table in _tables(client, hint):
        for index in client.describe_table(TableName=table)["Table"].get("GlobalSecondaryIndexes") or []:
            key = next(k["AttributeName"] for k in index["KeySchema"] if k["KeyType"] == "HASH")
            items = client.scan(TableName=table, Limit=1).get("Items", [])
            if attribute in key and items and key in items[0]:
                return {
                    "TableName": table,
                    "IndexName": index["IndexName"],
                    "Limit": 10,
                    "KeyConditionExpression": "#k = :v",
                    "ExpressionAttributeNames": {"#k": key},
                    "ExpressionAttributeValues": {":v": items[0][key]},
                }
    raise RuntimeError(f"no index Query on {attribute} to make on tables matching {hint!r}")


def _found(client: Any, op: str, params: dict) -> bool:
    """One call; True when it found something (an item, or a non-empty page)."""
    answer = getattr(client, op)(**params)
    return "Item" in answer if op == "get_item" else bool(answer.get("Items"))


def call_rate(endpoint: str, op: str, params: dict, seconds: float = 5.0, threads: int = 1) -> Rate:
    """``op`` ("get_item" or "query") calls per second over ``seconds`` with ``threads`` concurrent loops."""
    clients = [_client(endpoint) for _ in range(threads)]
    for client in clients:  # warm connections and botocore's lazy loading
        for _ in range(5):
            _found(client, op, params)
    counts, errors = [0] * threads, [0] * threads
    gate = threading.Barrier(threads + 1)
    deadline = [0.0]

    def loop(i: int) -> None:
        gate.wait()
        while time.perf_counter() < deadline[0]:
            try:
                ok = _found(clients[i], op, params)
            except Exception:  # any failure is counted as an error, never hidden
                ok = False
            counts[i] += ok
            errors[i] += not ok

    workers = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(threads)]
    for worker in workers:
        worker.start()
    began = time.perf_counter()
    deadline[0] = began + seconds
    gate.wait()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - began
    return Rate(1, threads, sum(counts), sum(errors), elapsed, sum(counts) / elapsed)


def _process_loop(args: tuple[str, str, dict, float, int, float]) -> Rate:
    endpoint, op, params, seconds, threads, start_at = args
    while time.time() < start_at:  # every process starts its loop at the same moment
        time.sleep(0.005)
    return call_rate(endpoint, op, params, seconds, threads)


def call_rate_processes(endpoint: str, op: str, params: dict, seconds: float, processes: int, threads: int) -> Rate:
    """``op`` calls per second with ``processes`` x ``threads`` concurrent loops."""
    start_at = time.time() + 3.0 + processes  # time for the children to import boto3 and warm up
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        parts = pool.map(_process_loop, [(endpoint, op, params, seconds, threads, start_at)] * processes)
    calls, elapsed = sum(p.calls for p in parts), max(p.seconds for p in parts)
    return Rate(processes, processes * threads, calls, sum(p.errors for p in parts), elapsed, calls / elapsed)


def emulator_rates(endpoint: str, processes: int, threads: int, seconds: float = 5.0) -> EmulatorRates:
    """GetItem with 1 thread and ``processes`` x ``threads``; the comment list's index Query likewise."""
    get = get_item_params(endpoint)
    rates = EmulatorRates(
        table=get["TableName"],
        single=call_rate(endpoint, "get_item", get, seconds),
        concurrent=call_rate_processes(endpoint, "get_item", get, seconds, processes, threads),
    )
    try:
        query = query_params(endpoint)
    except RuntimeError:
        return rates
    rates.query = call_rate_processes(endpoint, "query", query, seconds, processes, threads)
    rates.query_index = f"{query['TableName']}/{query['IndexName']}"
    return rates
