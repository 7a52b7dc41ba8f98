"""Table management: ensure_table / delete_table / describe_table, waiting on status, never a fixed sleep.

``ensure_table`` creates what is missing (tables, GSIs, TTL, a stream) and
leaves what exists alone; changing or removing what exists is schema.py's
plan and schema_apply.py's apply (``manage.py dynamo_tables plan|apply``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from . import connection, counters, projections, unique
from .conf import get_setting
from .exceptions import DynamoBackendError, TableDoesNotExist
from .options import all_models
from .table_options import PAY_PER_REQUEST, TableOptions, create_params, live_billing, stream_spec, throughput

_IN_USE = "ResourceInUseException"
# What an engine answers for an API (or a parameter) it does not have.
UNSUPPORTED = ("UnknownOperationException", "UnrecognizedClientException", "ValidationException")

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
        "Projection": projections.spec(index),
    }


def _attribute_definitions(model: Any, indexes: list) -> list[dict]:
    fields = model._meta.fields
    names = list(model._meta.keys.names)
    for index in indexes:
        for key in (index.partition_key, index.sort_key):
            if key and key not in names:
                names.append(key)
    return [{"AttributeName": n, "AttributeType": fields[n].key_type()} for n in names]


def gsi_create(model: Any, index: Any, options: TableOptions) -> dict:
    """Return a GSI's Create request: its spec plus, on provisioned tables, its capacity."""
    spec = _gsi_spec(model, index)
    units = throughput(options, index.name)
    return {**spec, "ProvisionedThroughput": units} if units else spec


def table_spec(model: Any) -> dict:
    """Return the CreateTable request for a model: its key (pk, or HASH+RANGE), GSIs and LSIs, its options."""
    meta = model._meta
    options = meta.table_options
    spec = {
        "TableName": meta.table_name,
        "KeySchema": meta.keys.schema(),
        "AttributeDefinitions": _attribute_definitions(model, meta.indexes),
        **create_params(options),
    }
    if meta.global_indexes:
        spec["GlobalSecondaryIndexes"] = [gsi_create(model, i, options) for i in meta.global_indexes]
    if meta.local_indexes:
        spec["LocalSecondaryIndexes"] = [_gsi_spec(model, i) for i in meta.local_indexes]
    return spec


def side_table_specs(model: Any) -> list[dict]:
    """Return the CreateTable requests of a model's side tables (unique claims, sharded counters).

    Both are keyed by a string ``pk`` and take the model's capacity, backups,
    protection, tags and key, never a stream.
    """
    params = create_params(model._meta.table_options.for_side_table())
    names = [model._meta.unique_table_name] if model._meta.has_claims else []
    names += counters.counter_table_names(model)
    return [{**counters.counter_table_spec(name), **params} for name in names]


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


def settled(table: dict | None) -> bool:
    """Return whether a described table is ACTIVE with every GSI ACTIVE and none backfilling."""
    if table is None or table.get("TableStatus") != "ACTIVE":
        return False
    return all(
        g.get("IndexStatus", "ACTIVE") == "ACTIVE" and not g.get("Backfilling")
        for g in table.get("GlobalSecondaryIndexes", [])
    )


def wait_for_active(table_name: str, timeout: float | None = None) -> dict:
    """Wait until the table and all its GSIs are ACTIVE (and backfilled); return its description."""
    state: dict = {}

    def active() -> bool:
        state["table"] = describe(table_name)
        return settled(state["table"])

    _poll(active, f"table {table_name} to become ACTIVE", timeout)
    return state["table"]


def wait_until_deleted(table_name: str, timeout: float | None = None) -> None:
    """Wait until DescribeTable says the table is gone."""
    _poll(lambda: describe(table_name) is None, f"table {table_name} to be deleted", timeout)


def create(spec: dict) -> bool:
    """Send a CreateTable request; return False when the table exists already (another process made it)."""
    try:
        connection.call("CreateTable", **spec)
        return True
    except DynamoBackendError as error:
        if error.code == _IN_USE:
            return False
        raise


def _cannot_add_on_demand_gsi(error: DynamoBackendError, table: dict) -> bool:
    """Return whether an endpoint refused a GSI on an on-demand table for want of throughput (dynalite)."""
    return (
        error.code == "ValidationException"
        and "provisionedthroughput" in str(error).lower()
        and live_billing(table) == PAY_PER_REQUEST
    )


def _add_missing_indexes(model: Any, table: dict) -> list[str]:
    """Create declared GSIs the table lacks, one UpdateTable call each (DynamoDB's rule)."""
    existing = {g["IndexName"] for g in table.get("GlobalSecondaryIndexes", [])}
    options = model._meta.table_options
    added = []
    for index in model._meta.global_indexes:
        if index.name in existing:
            continue
        try:
            connection.call(
                "UpdateTable",
                TableName=model._meta.table_name,
                AttributeDefinitions=_attribute_definitions(model, [index]),
                GlobalSecondaryIndexUpdates=[{"Create": gsi_create(model, index, options)}],
            )
        except DynamoBackendError as error:
            if _cannot_add_on_demand_gsi(error, table):
                logger.warning(
                    "This endpoint cannot add index %s to the on-demand table %s (%s); queries that need it fail "
                    "until the table is recreated",
                    index.name,
                    model._meta.table_name,
                    error.code,
                )
                continue
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
        if error.code not in UNSUPPORTED:
            raise
        logger.warning(
            "TimeToLive is not available for %s on this endpoint (%s); expired items are hidden, not deleted",
            name,
            error.code,
        )
        return False
    return True


def set_point_in_time_recovery(table_name: str, enabled: bool, timeout: float | None = None) -> bool:
    """Turn point-in-time recovery on or off; return False when the endpoint has no such API (logged).

    A new table's continuous backups take a moment to become available: the
    call is repeated (backing off) while DynamoDB says so.
    """
    spec = {"PointInTimeRecoveryEnabled": enabled}

    def done() -> bool:
        try:
            connection.call("UpdateContinuousBackups", TableName=table_name, PointInTimeRecoverySpecification=spec)
        except DynamoBackendError as error:
            if error.code == "ContinuousBackupsUnavailableException":
                return False
            raise
        return True

    try:
        _poll(done, f"continuous backups of {table_name} to become available", timeout)
    except DynamoBackendError as error:
        if error.code not in UNSUPPORTED:
            raise
        logger.warning("%s: this endpoint has no point-in-time recovery (%s); left off", table_name, error.code)
        return False
    return True


def tag_missing(table: dict, tags: dict[str, str]) -> dict[str, str]:
    """Add the tags a described table lacks (or holds with another value); return what was tagged.

    CreateTable asks for them already; this catches engines that take the
    parameter and drop it.
    """
    if not tags:
        return {}
    arn = table["TableArn"]
    live = {t["Key"]: t["Value"] for t in connection.call("ListTagsOfResource", ResourceArn=arn).get("Tags", [])}
    missing = {key: value for key, value in tags.items() if live.get(key) != value}
    if missing:
        connection.call("TagResource", ResourceArn=arn, Tags=[{"Key": k, "Value": v} for k, v in missing.items()])
    return missing


def _ensure_stream(model: Any, table: dict) -> bool:
    """Turn on the stream of an existing table that has none; return False when the engine has no streams.

    A stream already on is left as it is, whatever its view type (the reader
    copes with records without images); ``dynamo_tables apply`` changes it.
    """
    options = model._meta.table_options
    if not options.stream_managed or not options.stream_view_type:
        return True
    if table.get("StreamSpecification", {}).get("StreamEnabled"):
        return True
    name = model._meta.table_name
    try:
        connection.call("UpdateTable", TableName=name, StreamSpecification=stream_spec(options.stream_view_type))
    except DynamoBackendError as error:
        if error.code not in ("ValidationException", "UnknownOperationException"):
            raise
        # dynalite, for one, refuses it: the caches fall back to their TTLs there.
        logger.info("%s: this DynamoDB has no streams (%s); caches rely on their TTLs", name, error.code)
        return False
    wait_for_active(name)
    return True


def configure_new(table: dict, options: TableOptions) -> None:
    """Finish a table CreateTable just made: point-in-time recovery, and tags an engine dropped."""
    if options.point_in_time_recovery:
        set_point_in_time_recovery(table["TableName"], True)
    tag_missing(table, options.tags)


def _ensure_side_tables(model: Any, *, wait: bool, fresh: bool) -> None:
    """Create the model's missing side tables; a fresh model table's claims are complete at once."""
    side_options = model._meta.table_options.for_side_table()
    for spec in side_table_specs(model):
        side_name = spec["TableName"]
        if describe(side_name) is None and create(spec) and wait:
            configure_new(wait_for_active(side_name), side_options)
    if fresh and wait and model._meta.has_claims:
        # The table is new, so no item lacks a claim: unique lookups may trust the claims table.
        wait_for_active(model._meta.unique_table_name)
        unique.mark_complete(model._meta.unique_table_name, [c.label for c in model._meta.unique_constraints])


def ensure_table(model: Any, *, wait: bool = True) -> bool:
    """Create the model's table (and GSIs, and its side tables) if missing; idempotent.

    An existing table gets the GSIs, TTL and stream it lacks; nothing it has is
    changed (that is ``dynamo_tables plan`` / ``apply``).
    """
    name = model._meta.table_name
    created = False
    table = describe(name)
    if table is None:
        created = create(table_spec(model))
        if wait:
            table = wait_for_active(name)
            if created:
                configure_new(table, model._meta.table_options)
    if table is not None and wait:
        if table.get("TableStatus") != "ACTIVE":
            table = wait_for_active(name)
        _add_missing_indexes(model, table)
        enable_ttl(model)
        if not created:
            _ensure_stream(model, table)
    _ensure_side_tables(model, wait=wait, fresh=created)
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


def required_tables(models: list | None = None) -> dict[str, str]:
    """Return {table name: model label} of every table the (registered) models need, side tables included."""
    needed: dict[str, str] = {}
    for model in models or all_models():
        needed[model._meta.table_name] = model._meta.label
        for spec in side_table_specs(model):
            needed[spec["TableName"]] = model._meta.label
    return needed


def missing_tables(models: list | None = None) -> list[str]:
    """Return the names of the tables the (registered) models need and the endpoint lacks.

    One DescribeTable each (a permission an application has on its own tables,
    where ListTables needs one on every table of the account).
    """
    return sorted(name for name in required_tables(models) if describe(name) is None)


def ensure_all_tables(models: list | None = None) -> dict[str, bool]:
    """Ensure the tables of every registered (or given) model; return {label: created}."""
    return {m._meta.label: ensure_table(m) for m in (models or all_models())}
