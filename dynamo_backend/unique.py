"""The unique-claim protocol: one claim item per unique value, in the model's ``<table>__unique`` table.

Each unique constraint (a ``unique=True`` field or a ``Meta.unique_together``
tuple) claims its values. A claim's key is ``"<field>#<value>"`` (or
``"<a,b>#<JSON of the attribute values>"``); it names its ``owner`` (the item's pk)
and when it was taken (``claimed_at``, epoch seconds). Claims are taken with a
conditional PutItem, so two items can never hold one value, without needing
transactions. A claim left by a crash between claiming and writing the item is
taken over once it is older than STALE_CLAIM_SECONDS and its owner does not
hold the value.

Claims are complete for a constraint once every item holds its claim: at once
for a table created with the constraint, and after ``dynamo_tables apply`` has
backfilled the items written before it (backfill.py). One marker item,
``pk = "#complete"``, lists those constraints in its ``labels`` string set; a
claim key always starts with a field name, never with ``#``.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from . import connection
from .exceptions import ConditionalCheckFailed, UniqueConstraintError

__all__ = [
    "COMPLETE_KEY",
    "STALE_CLAIM_SECONDS",
    "claim",
    "claim_item",
    "claim_key",
    "claim_new_values",
    "claims_of",
    "complete_labels",
    "mark_complete",
    "unmark_complete",
    "replaced_values",
    "owner_of",
    "release",
    "release_all",
]

# A claim older than this whose owner does not hold the value is stale (a crash
# between claiming and writing); younger claims may belong to a write in flight.
STALE_CLAIM_SECONDS = 30

Claims = list[tuple[str, str]]  # (constraint label, claim value)
# The key of the marker item listing the constraints whose claims are complete.
COMPLETE_KEY = {"pk": {"S": "#complete"}}


def claim_key(label: str, value: str) -> dict:
    """Return the Key of the claim on a constraint's value."""
    return {"pk": {"S": f"{label}#{value}"}}


def claim_item(label: str, value: str, owner: str, now: int | None = None) -> dict:
    """Return the claim item that gives a constraint's value to owner."""
    stamp = int(time.time()) if now is None else now
    return {**claim_key(label, value), "owner": {"S": owner}, "claimed_at": {"N": str(stamp)}}


def _put_claim(table: str, item: dict, condition: str, values: dict) -> dict | None:
    """Put the claim if the condition holds; return the claim it replaced ({} if none), or None if refused."""
    try:
        response = connection.call(
            "PutItem",
            TableName=table,
            Item=item,
            ConditionExpression=condition,
            ExpressionAttributeNames={"#pk": "pk", "#owner": "owner"},
            ExpressionAttributeValues=values,
            ReturnValues="ALL_OLD",
        )
    except ConditionalCheckFailed:
        return None
    return response.get("Attributes") or {}


def _is_stale(model: Any, label: str, value: str, current: dict, now: int) -> bool:
    age = now - int(current.get("claimed_at", {"N": "0"})["N"])
    if age < STALE_CLAIM_SECONDS:
        return False
    holder = current["owner"]["S"]
    owner_item = connection.call(
        "GetItem", TableName=model._meta.table_name, Key=model._meta.key(holder), ConsistentRead=True
    ).get("Item")
    if owner_item is None:
        return True
    constraint = next(c for c in model._meta.unique_constraints if c.label == label)
    return constraint.claim(owner_item) != (label, value)


def owner_text(model: Any, pk: Any) -> str:
    """Return the claim's owner string for an item's pk (the pk itself, or a composite key's text)."""
    return model._meta.keys.text(pk)


def claim(model: Any, label: str, value: str, owner: Any) -> bool:
    """Take the claim on a constraint's value (label "field" or "a,b"), or raise UniqueConstraintError.

    Returns True when the claim is newly taken, False when owner already held it
    (so a caller that fails later releases only what it took).
    """
    table = model._meta.unique_table_name
    now = int(time.time())
    owner = owner_text(model, owner)
    item = claim_item(label, value, owner, now)
    mine = "attribute_not_exists(#pk) OR #owner = :owner"
    replaced = _put_claim(table, item, mine, {":owner": {"S": owner}})
    if replaced is not None:
        return not replaced
    # Taken: take it over only if the claim is stale (its owner never wrote or moved on).
    current = connection.call("GetItem", TableName=table, Key=claim_key(label, value), ConsistentRead=True).get("Item")
    if current is not None and _is_stale(model, label, value, current, now):
        holder = {":holder": current["owner"]}
        if _put_claim(table, item, "attribute_exists(#pk) AND #owner = :holder", holder) is not None:
            return True
    raise UniqueConstraintError(
        f"{model.__name__} with {label}={value!r} already exists", field=label, value=value, model=model
    )


def release(model: Any, label: str, value: str, owner: Any) -> None:
    """Release a unique claim held by owner; a claim held by someone else is left alone."""
    owner = owner_text(model, owner)
    with contextlib.suppress(ConditionalCheckFailed):
        connection.call(
            "DeleteItem",
            TableName=model._meta.unique_table_name,
            Key=claim_key(label, value),
            ConditionExpression="#owner = :owner",
            ExpressionAttributeNames={"#owner": "owner"},
            ExpressionAttributeValues={":owner": {"S": owner}},
        )


def release_all(model: Any, claims: Claims, owner: Any) -> None:
    """Release every (label, value) claim held by owner."""
    for label, value in claims:
        release(model, label, value, owner)


def claims_of(model: Any, item: dict) -> Claims:
    """Return the (label, value) claims an item holds, one per constraint whose parts it has."""
    found = (constraint.claim(item) for constraint in model._meta.unique_constraints)
    return [claim_ for claim_ in found if claim_ is not None]


def claim_new_values(model: Any, owner: Any, item: dict, previous: dict) -> Claims:
    """Claim each constraint value ``item`` holds that ``previous`` did not; return what was claimed.

    On failure every claim taken so far is released and the error propagates.
    """
    claimed: Claims = []
    held = set(claims_of(model, previous))
    for label, value in claims_of(model, item):
        if (label, value) in held:
            continue
        try:
            taken = claim(model, label, value, owner)
        except Exception:
            release_all(model, claimed, owner)
            raise
        if taken:
            claimed.append((label, value))
    return claimed


def replaced_values(model: Any, previous: dict, item: dict) -> Claims:
    """Return the claims ``previous`` held that ``item`` no longer holds (to release after a write)."""
    now = set(claims_of(model, item))
    return [held for held in claims_of(model, previous) if held not in now]


def owner_of(model: Any, label: str, value: str, *, consistent: bool = False) -> Any:
    """Return the pk holding the claim on a constraint's value, or None."""
    params: dict = {"TableName": model._meta.unique_table_name, "Key": claim_key(label, value)}
    if consistent:
        params["ConsistentRead"] = True
    item = connection.call("GetItem", **params).get("Item")
    return model._meta.keys.from_text(item["owner"]["S"]) if item else None


def complete_labels(table: str, *, consistent: bool = True) -> frozenset[str]:
    """Return the labels of the constraints whose claims are complete, from a claims table's marker."""
    params: dict = {"TableName": table, "Key": COMPLETE_KEY, "ConsistentRead": consistent}
    item = connection.call("GetItem", **params).get("Item") or {}
    return frozenset(item.get("labels", {}).get("SS", ()))


def _update_marker(table: str, action: str, labels: list[str]) -> None:
    if not labels:
        return
    now = {"N": str(int(time.time()))}
    connection.call(
        "UpdateItem",
        TableName=table,
        Key=COMPLETE_KEY,
        UpdateExpression=f"{action} #labels :labels SET #at = :at",
        ExpressionAttributeNames={"#labels": "labels", "#at": "updated_at"},
        ExpressionAttributeValues={":labels": {"SS": sorted(set(labels))}, ":at": now},
        idempotent=True,  # adding (or removing) a set member twice is the same as once
    )


def mark_complete(table: str, labels: list[str]) -> None:
    """Record in a claims table that every item holds its claim for these constraints."""
    _update_marker(table, "ADD", labels)


def unmark_complete(table: str, labels: list[str]) -> None:
    """Forget that these constraints' claims are complete (the constraint went; a later one starts over)."""
    _update_marker(table, "DELETE", labels)
