"""The unique-claim protocol: one claim item per unique value, in the model's ``<table>__unique`` table.

A claim's key is ``"<field>#<value>"``; it names its ``owner`` (the item's pk)
and when it was taken (``claimed_at``, epoch seconds). Claims are taken with a
conditional PutItem, so two items can never hold one value, without needing
transactions. A claim left by a crash between claiming and writing the item is
taken over once it is older than STALE_CLAIM_SECONDS and its owner does not
hold the value.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from . import connection
from .exceptions import ConditionalCheckFailed, UniqueConstraintError

__all__ = [
    "STALE_CLAIM_SECONDS",
    "claim",
    "claim_item",
    "claim_key",
    "claim_new_values",
    "owner_of",
    "release",
    "release_all",
]

# A claim older than this whose owner does not hold the value is stale (a crash
# between claiming and writing); younger claims may belong to a write in flight.
STALE_CLAIM_SECONDS = 30

Claims = list[tuple[str, str]]  # (field name, stored value)


def claim_key(field_name: str, value: str) -> dict:
    """Return the Key of the claim on field=value."""
    return {"pk": {"S": f"{field_name}#{value}"}}


def claim_item(field_name: str, value: str, owner: str, now: int | None = None) -> dict:
    """Return the claim item that gives field=value to owner."""
    stamp = int(time.time()) if now is None else now
    return {**claim_key(field_name, value), "owner": {"S": owner}, "claimed_at": {"N": str(stamp)}}


def _put_claim(table: str, item: dict, condition: str, values: dict) -> bool:
    try:
        connection.call(
            "PutItem",
            TableName=table,
            Item=item,
            ConditionExpression=condition,
            ExpressionAttributeNames={"#pk": "pk", "#owner": "owner"},
            ExpressionAttributeValues=values,
        )
    except ConditionalCheckFailed:
        return False
    return True


def _is_stale(model: Any, field_name: str, value: str, current: dict, now: int) -> bool:
    age = now - int(current.get("claimed_at", {"N": "0"})["N"])
    if age < STALE_CLAIM_SECONDS:
        return False
    holder = current["owner"]["S"]
    owner_item = connection.call(
        "GetItem", TableName=model._meta.table_name, Key=model._meta.key(holder), ConsistentRead=True
    ).get("Item")
    return owner_item is None or owner_item.get(field_name) != {"S": value}


def claim(model: Any, field_name: str, value: str, owner: str) -> None:
    """Take the unique claim for value, or raise UniqueConstraintError."""
    table = model._meta.unique_table_name
    now = int(time.time())
    item = claim_item(field_name, value, owner, now)
    mine = "attribute_not_exists(#pk) OR #owner = :owner"
    if _put_claim(table, item, mine, {":owner": {"S": owner}}):
        return
    # Taken: take it over only if the claim is stale (its owner never wrote or moved on).
    current = connection.call("GetItem", TableName=table, Key=claim_key(field_name, value), ConsistentRead=True).get(
        "Item"
    )
    if current is not None and _is_stale(model, field_name, value, current, now):
        holder = {":holder": current["owner"]}
        if _put_claim(table, item, "attribute_exists(#pk) AND #owner = :holder", holder):
            return
    raise UniqueConstraintError(
        f"{model.__name__} with {field_name}={value!r} already exists", field=field_name, value=value, model=model
    )


def release(model: Any, field_name: str, value: str, owner: str) -> None:
    """Release a unique claim held by owner; a claim held by someone else is left alone."""
    with contextlib.suppress(ConditionalCheckFailed):
        connection.call(
            "DeleteItem",
            TableName=model._meta.unique_table_name,
            Key=claim_key(field_name, value),
            ConditionExpression="#owner = :owner",
            ExpressionAttributeNames={"#owner": "owner"},
            ExpressionAttributeValues={":owner": {"S": owner}},
        )


def release_all(model: Any, claims: Claims, owner: str) -> None:
    """Release every (field, value) claim held by owner."""
    for field_name, value in claims:
        release(model, field_name, value, owner)


def claim_new_values(model: Any, owner: str, item: dict, previous: dict) -> Claims:
    """Claim each unique value of ``item`` that ``previous`` did not hold; return what was claimed.

    On failure every claim taken so far is released and the error propagates.
    """
    claimed: Claims = []
    for field in model._meta.unique_fields:
        av = item.get(field.name)
        if av is None or av == previous.get(field.name):
            continue
        try:
            claim(model, field.name, av["S"], owner)
        except Exception:
            release_all(model, claimed, owner)
            raise
        claimed.append((field.name, av["S"]))
    return claimed


def owner_of(model: Any, field_name: str, value: str, *, consistent: bool = False) -> str | None:
    """Return the pk holding the unique claim on field=value, or None."""
    params: dict = {"TableName": model._meta.unique_table_name, "Key": claim_key(field_name, value)}
    if consistent:
        params["ConsistentRead"] = True
    item = connection.call("GetItem", **params).get("Item")
    return item["owner"]["S"] if item else None
