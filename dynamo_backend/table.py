"""Table management: ensure_table / delete_table / describe_table, waiting on status, never a fixed sleep."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from . import connection, counters
from .conf import get_setting
from .exceptions import DynamoBackendError, TableDoesNotExist
from .options import all_models

_IN_USE = "ResourceInUseException"
# Every model table streams its changes, old and new images, for dynamo_backend.streams.
_STREAM = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}

logger = logging.getLogger("dynamo_backend")


def _key_schema(partition: str, sort: str | None = None) -> list[dict]:
    schema = [{"AttributeName": partition, "KeyType": "HASH"}]
    if sort:
        schema.append({"AttributeName": sort, "KeyType": "RANGE"})
    return schema


def _gsi_spec(model: Any, index: Any) -> dict:
    return {
        "IndexName": index.name,
        "KeySchema": _key_schema(index.partition_key, index.sort_key),
        "Projection": {"ProjectionType": "ALL"},
    }


def _attribute_definitions(model: Any, indexes: list) -> list[dict]:
    fields = model._meta.fields
    names = list(model._meta.keys.names)
    for index in indexes:
        for key in (index.partition_key, index.sort_key):
            if key and key not in names:
                names.append(key)
    return [{"AttributeName": n, "AttributeType": fields[n].key_type()} for n in names]


def table_spec(model: Any) -> dict:
    """Return the CreateTable request for a model: its key (pk, or HASH+RANGE), GSIs and LSIs, on-demand."""
    meta = model._meta
    spec = {
        "TableName": meta.table_name,
        "KeySchema": meta.keys.schema(),
        "AttributeDefinitions": _attribute_definitions(model, meta.indexes),
        "BillingMode": "PAY_PER_REQUEST",
    }
    if meta.global_indexes:
        spec["GlobalSecondaryIndexes"] = [_gsi_spec(model, i) for i in meta.global_indexes]
    if meta.local_indexes:
        spec["LocalSecondaryIndexes"] = [_gsi_spec(model, i) for i in meta.local_indexes]
    if get_setting("STREAMS"):
        spec["StreamSpecification"] = dict(_STREAM)
    return spec


def _unique_spec(model: Any) -> dict:
    return {
        "TableName": model._meta.unique_table_name,
        "KeySchema": _key_schema("pk"),
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
    }


def describe(table_name: str) -> dict | None:
    """Return DescribeTable's Table for a name, or None when it does not exist."""
    try:
        return connection.call("DescribeTable", TableName=table_name)["Table"]
    except TableDoesNotExist:
        return None


def describe_table(model: Any) -> dict:
    """Return the model's table description; raise TableDoesNotExist when absent."""
    return connection.call("DescribeTable", TableName=model._meta.table_name)["Table"]


def _poll(
    check: Callable[[], bool], what: str, timeout: float | None, sleep: Callable[[float], None] = time.sleep
) -> None:
    """Poll until check() holds, backing off from 20 ms to 1 s; raise after timeout."""
    limit = timeout if timeout is not None else float(get_setting("TABLE_WAIT_TIMEOUT"))
    deadline = time.monotonic() + limit
    delay = 0.02
    while not check():
        if time.monotonic() >= deadline:
            raise DynamoBackendError(f"Timed out after {limit:g}s waiting for {what}", code="WaitTimeout")
        sleep(delay)
        delay = min(delay * 2, 1.0)


def wait_for_active(table_name: str, timeout: float | None = None) -> dict:
    """Wait until the table and all its GSIs are ACTIVE; return its description."""
    state: dict = {}

    def active() -> bool:
        table = describe(table_name)
        state["table"] = table
        if table is None or table.get("TableStatus") != "ACTIVE":
            return False
        return all(g.get("IndexStatus", "ACTIVE") == "ACTIVE" for g in table.get("GlobalSecondaryIndexes", []))

    _poll(active, f"table {table_name} to become ACTIVE", timeout)
    return state["table"]


def wait_until_deleted(table_name: str, timeout: float | None = None) -> None:
    """Wait until DescribeTable says the table is gone."""
    _poll(lambda: describe(table_name) is None, f"table {table_name} to be deleted", timeout)


def _create(spec: dict) -> bool:
    try:
        connection.call("CreateTable", **spec)
        return True
    except DynamoBackendError as error:
        if error.code == _IN_USE:
            return False  # another process created it first: fine
        raise


def _add_missing_indexes(model: Any, table: dict) -> list[str]:
    """Create declared GSIs the table lacks, one UpdateTable call each (DynamoDB's rule)."""
    existing = {g["IndexName"] for g in table.get("GlobalSecondaryIndexes", [])}
    added = []
    for index in model._meta.global_indexes:
        if index.name in existing:
            continue
        try:
            connection.call(
                "UpdateTable",
                TableName=model._meta.table_name,
                AttributeDefinitions=_attribute_definitions(model, [index]),
                GlobalSecondaryIndexUpdates=[{"Create": _gsi_spec(model, index)}],
            )
        except DynamoBackendError as error:
            if error.code != _IN_USE:
                raise
        wait_for_active(model._meta.table_name)
        added.append(index.name)
    return added


def enable_ttl(model: Any) -> bool:
    """Turn on TimeToLive for the model's TTLField if it is off; return whether it is on (or enabling).

    Engines without the TTL API (dynalite) are logged once and left alone: the
    library still hides expired items, DynamoDB just never deletes them there.
    """
    field = model._meta.ttl_field
    if field is None:
        return False
    name = model._meta.table_name
    try:
        described = connection.call("DescribeTimeToLive", TableName=name).get("TimeToLiveDescription", {})
        if (
            described.get("TimeToLiveStatus") in ("ENABLED", "ENABLING")
            and described.get("AttributeName") == field.name
        ):
            return True
        connection.call(
            "UpdateTimeToLive",
            TableName=name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": field.name},
        )
    except DynamoBackendError as error:
        if error.code not in ("UnknownOperationException", "UnrecognizedClientException", "ValidationException"):
            raise
        logger.warning(
            "TimeToLive is not available for %s on this endpoint (%s); expired items are hidden, not deleted",
            name,
            error.code,
        )
        return False
    return True


def _ensure_stream(model: Any, table: dict) -> bool:
    """Turn on the stream of an existing table that has none; return False when the engine has no streams.

    A stream already on is left as it is, whatever its view type (the reader
    copes with records without images).
    """
    if not get_setting("STREAMS") or table.get("StreamSpecification", {}).get("StreamEnabled"):
        return True
    name = model._meta.table_name
    try:
        connection.call("UpdateTable", TableName=name, StreamSpecification=dict(_STREAM))
    except DynamoBackendError as error:
        if error.code not in ("ValidationException", "UnknownOperationException"):
            raise
        # dynalite, for one, refuses it: the caches fall back to their TTLs there.
        logger.info("%s: this DynamoDB has no streams (%s); caches rely on their TTLs", name, error.code)
        return False
    wait_for_active(name)
    return True


def ensure_table(model: Any, *, wait: bool = True) -> bool:
    """Create the model's table (and GSIs, and its unique-claims table) if missing; idempotent."""
    name = model._meta.table_name
    created = False
    table = describe(name)
    if table is None:
        created = _create(table_spec(model))
        if wait:
            table = wait_for_active(name)
    if table is not None and wait:
        if table.get("TableStatus") != "ACTIVE":
            table = wait_for_active(name)
        _add_missing_indexes(model, table)
        enable_ttl(model)
        if not created:
            _ensure_stream(model, table)
    side_tables = [(model._meta.unique_table_name, _unique_spec(model))] if model._meta.has_claims else []
    side_tables += [(name, counters.counter_table_spec(name)) for name in counters.counter_table_names(model)]
    for side_name, spec in side_tables:
        if describe(side_name) is None:
            _create(spec)
            if wait:
                wait_for_active(side_name)
    return created


def delete_table(model: Any, *, wait: bool = True) -> bool:
    """Drop the model's tables; return whether the main table existed."""
    existed = False
    names = [model._meta.table_name]
    if model._meta.has_claims:
        names.append(model._meta.unique_table_name)
    names += counters.counter_table_names(model)
    for position, name in enumerate(names):
        try:
            connection.call("DeleteTable", TableName=name)
            existed = existed or position == 0
        except TableDoesNotExist:
            continue
        except DynamoBackendError as error:
            if error.code != _IN_USE:
                raise
        if wait:
            wait_until_deleted(name)
    return existed


def list_tables() -> list[str]:
    """Return every table name, following pagination."""
    names: list[str] = []
    params: dict = {}
    while True:
        response = connection.call("ListTables", **params)
        names.extend(response.get("TableNames", []))
        last = response.get("LastEvaluatedTableName")
        if not last:
            return names
        params["ExclusiveStartTableName"] = last


def ensure_all_tables(models: list | None = None) -> dict[str, bool]:
    """Ensure the tables of every registered (or given) model; return {label: created}."""
    return {m._meta.label: ensure_table(m) for m in (models or all_models())}
