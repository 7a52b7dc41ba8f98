"""Schema evolution, the plan: what the models need against what the endpoint has, as typed steps.

:func:`wanted` says what tables a model needs (its table and side tables,
their CreateTable requests and options). :func:`plan_model` compares that
with what :class:`Live` holds (DescribeTable and friends, read by
schema_apply.py) and returns the :class:`Step` list that gets from one to the
other, in the order it must run. Nothing here performs I/O, so every rule is
unit-tested without an engine.

The rules, for a table that exists:

- its key schema, or its local secondary indexes, differ: :class:`Rebuild`.
  Neither can change in place; the table is never dropped for it (data).
- a GSI the models no longer declare: :class:`DeleteIndex`; one whose key
  schema, key types or projection changed: delete, then create (one GSI
  change per UpdateTable, DynamoDB's rule); a missing one: :class:`CreateIndex`.
  Deletes come before a billing change, creates after it.
- billing mode and capacity, the stream, TTL, point-in-time recovery, deletion
  protection, encryption and tags: one step each that differs. A changed
  stream view type or TTL attribute is off, then on. Tags are only added or
  changed, never removed (other tools tag tables too).
- unique claims: a constraint whose claims table has no "complete" marker for
  it gets :class:`BackfillClaims`; a fresh table's constraints are complete at
  once (:class:`MarkClaimsComplete`); a marker whose constraint went is dropped
  (:class:`UnmarkClaims`), so that adding the constraint again backfills again.

A step the endpoint cannot carry out (an emulator without the API) is kept,
with ``skipped`` saying why: the plan shows it, apply logs it and moves on.
"""

from __future__ import annotations

from typing import Any

from .schema_steps import (
    BackfillClaims,
    Capabilities,
    CreateIndex,
    CreateTable,
    DeleteIndex,
    Live,
    MarkClaimsComplete,
    Rebuild,
    Step,
    TagTable,
    UnmarkClaims,
    UpdatePointInTimeRecovery,
    UpdateTable,
    UpdateTimeToLive,
    Want,
)
from .table import side_table_specs, table_spec
from .table_options import (
    PAY_PER_REQUEST,
    PROVISIONED,
    live_billing,
    live_kms_key,
    live_stream,
    live_throughput,
    sse_matches,
    sse_spec,
    stream_spec,
    throughput,
)

__all__ = ["plan_model", "plan_table", "wanted"]


def wanted(model: Any) -> list[Want]:
    """Return the tables a model needs: its own first, then its claims and counters tables."""
    meta = model._meta
    options = meta.table_options
    ttl = meta.ttl_field.name if meta.ttl_field is not None else None
    wants = [Want(meta.table_name, meta.label, "table", table_spec(model), options, ttl=ttl)]
    for spec in side_table_specs(model):
        if spec["TableName"] == meta.unique_table_name:
            labels = tuple(c.label for c in meta.unique_constraints)
            wants.append(Want(spec["TableName"], meta.label, "claims", spec, options.for_side_table(), claims=labels))
        else:
            wants.append(Want(spec["TableName"], meta.label, "counters", spec, options.for_side_table()))
    return wants


def plan_model(
    wants: list[Want], lives: dict[str, Live], caps: Capabilities, old_claims: Live | None = None
) -> list[Step]:
    """Return the steps for one model's tables (``wants`` from :func:`wanted`, ``lives`` by table name).

    ``old_claims``: the model's claims table when the model has no unique
    constraint any more (its markers must go).
    """
    main = wants[0]
    fresh = lives[main.name].table is None
    steps: list[Step] = []
    for want in wants:
        steps += plan_table(want, lives[want.name], caps)
    for want in wants:
        if want.role == "claims":
            steps += _claims_steps(want, main, lives[want.name], fresh)
    if old_claims is not None and old_claims.table is not None and old_claims.complete:
        labels = tuple(sorted(old_claims.complete))
        steps.append(UnmarkClaims(model=main.model, table=old_claims.table["TableName"], labels=labels))
    return steps


def _claims_steps(want: Want, main: Want, live: Live, fresh: bool) -> list[Step]:
    if fresh:
        return [MarkClaimsComplete(model=want.model, table=want.name, labels=want.claims)]
    steps: list[Step] = []
    todo = tuple(label for label in want.claims if label not in live.complete)
    if todo:
        steps.append(BackfillClaims(model=want.model, table=want.name, source=main.name, labels=todo))
    gone = tuple(sorted(live.complete - set(want.claims)))
    if gone and live.table is not None:
        steps.append(UnmarkClaims(model=want.model, table=want.name, labels=gone))
    return steps


def plan_table(want: Want, live: Live, caps: Capabilities) -> list[Step]:
    """Return the steps that make one table what ``want`` describes."""
    base = {"model": want.model, "table": want.name}
    if live.table is None:
        return [CreateTable(**base, request=want.create), *_after_create(want, caps)]
    table = live.table
    reason = _key_difference(want.create, table)
    if reason:
        return [Rebuild(**base, reason=reason)]
    steps: list[Step] = []
    reason = _local_index_difference(want.create, table)
    if reason:
        steps.append(Rebuild(**base, reason=reason))
    deletes, creates = _global_index_steps(want, table, caps.why_not("index_updates"))
    steps += deletes
    steps += _capacity_steps(want, table, {step.index for step in deletes})
    steps += creates
    steps += _stream_steps(want, table, caps)
    steps += _ttl_steps(want, live.ttl, caps)
    steps += _option_steps(want, live, caps)
    return steps


def _after_create(want: Want, caps: Capabilities) -> list[Step]:
    """What CreateTable cannot do (TTL, backups), and what it asked for that this endpoint drops."""
    base = {"model": want.model, "table": want.name}
    options = want.options
    steps: list[Step] = []
    if want.ttl:
        steps.append(UpdateTimeToLive(**base, attribute=want.ttl, enabled=True, skipped=caps.why_not("ttl")))
    if options.point_in_time_recovery:
        steps.append(UpdatePointInTimeRecovery(**base, enabled=True, skipped=caps.why_not("pitr")))
    dropped = (
        ("streams", options.stream_managed and options.stream_view_type, f"stream {options.stream_view_type}"),
        ("deletion_protection", options.deletion_protection, "deletion protection on"),
        ("sse", options.sse_kms_key, f"encryption with KMS key {options.sse_kms_key}"),
    )
    for feature, asked, what in dropped:
        why = caps.why_not(feature)
        if asked and why:
            steps.append(UpdateTable(**base, what=what, request={}, skipped=why))
    return steps


# --- keys and indexes -----------------------------------------------------------------------


def _types(described: dict) -> dict[str, str]:
    return {d["AttributeName"]: d["AttributeType"] for d in described.get("AttributeDefinitions", [])}


def _shape(index: dict, types: dict[str, str]) -> tuple:
    """Return what identifies an index's content: its keys with their types, and its projection."""
    keys = tuple((k["AttributeName"], k["KeyType"], types.get(k["AttributeName"])) for k in index["KeySchema"])
    projection = index.get("Projection") or {}
    return keys, projection.get("ProjectionType", "ALL"), tuple(sorted(projection.get("NonKeyAttributes", ())))


def _same_keys(want: tuple, have: tuple) -> bool:
    """Compare key schemas; a type the live table does not define is not a difference (moto forgets some)."""
    return len(want) == len(have) and all(
        (name, kind) == (live_name, live_kind) and live_type in (None, key_type)
        for (name, kind, key_type), (live_name, live_kind, live_type) in zip(want, have, strict=True)
    )


def _same_shape(want: tuple, have: tuple) -> bool:
    return want[1:] == have[1:] and _same_keys(want[0], have[0])


def _key_difference(request: dict, table: dict) -> str | None:
    want = _shape({"KeySchema": request["KeySchema"]}, _types(request))[0]
    have = _shape({"KeySchema": table["KeySchema"]}, _types(table))[0]
    if _same_keys(want, have):
        return None
    return (
        f"the table's key is {_keys_text(have)}, the model's is {_keys_text(want)}; a key never changes "
        "in place: create a new table, copy the items, then switch"
    )


def _keys_text(keys: tuple) -> str:
    return " + ".join(f"{name} ({kind}, {kind_type})" for name, kind, kind_type in keys)


def _local_index_difference(request: dict, table: dict) -> str | None:
    want_types, have_types = _types(request), _types(table)
    want = {i["IndexName"]: _shape(i, want_types) for i in request.get("LocalSecondaryIndexes", [])}
    have = {i["IndexName"]: _shape(i, have_types) for i in table.get("LocalSecondaryIndexes") or []}
    changed = sorted(
        name for name in want.keys() | have.keys() if name not in want or name not in have
        or not _same_shape(want[name], have[name])
    )  # fmt: skip
    if not changed:
        return None
    return (
        f"local secondary indexes differ ({', '.join(changed)}); they are fixed when a table is created: "
        "create a new table, copy the items, then switch"
    )


def _live_gsis(table: dict) -> dict[str, dict]:
    """Return the table's GSIs by name, leaving out those being deleted."""
    return {g["IndexName"]: g for g in table.get("GlobalSecondaryIndexes") or [] if g.get("IndexStatus") != "DELETING"}


def _global_index_steps(want: Want, table: dict, why: str | None) -> tuple[list[DeleteIndex], list[CreateIndex]]:
    base = {"model": want.model, "table": want.name}
    want_types, have_types = _types(want.create), _types(table)
    desired = {g["IndexName"]: g for g in want.create.get("GlobalSecondaryIndexes", [])}
    live = _live_gsis(table)
    deletes = [DeleteIndex(**base, index=name, skipped=why) for name in sorted(live) if name not in desired]
    creates = []
    for name, spec in desired.items():
        if name in live and _same_shape(_shape(spec, want_types), _shape(live[name], have_types)):
            continue
        reason = "declared by the model"
        if name in live:
            replaced = "replaced: its keys or projection changed"
            deletes.append(DeleteIndex(**base, index=name, reason=replaced, skipped=why))
            reason = "replacing the old one"
        keys = {k["AttributeName"] for k in spec["KeySchema"]}
        definitions = [d for d in want.create["AttributeDefinitions"] if d["AttributeName"] in keys]
        request = {"AttributeDefinitions": definitions, "GlobalSecondaryIndexUpdates": [{"Create": spec}]}
        creates.append(CreateIndex(**base, index=name, request=request, reason=reason, skipped=why))
    return deletes, creates


# --- capacity, stream, TTL, options -------------------------------------------------------


def _capacity_steps(want: Want, table: dict, dropping: set[str]) -> list[Step]:
    base = {"model": want.model, "table": want.name}
    options = want.options
    mode = live_billing(table)
    if not options.provisioned:
        if mode == PAY_PER_REQUEST:
            return []
        return [
            UpdateTable(**base, what="billing PROVISIONED -> PAY_PER_REQUEST", request={"BillingMode": PAY_PER_REQUEST})
        ]
    switching = mode != PROVISIONED
    request: dict[str, Any] = {"BillingMode": PROVISIONED} if switching else {}
    units = throughput(options)
    if switching or live_throughput(table) != units:
        request["ProvisionedThroughput"] = units
    updates = [
        {"Update": {"IndexName": name, "ProvisionedThroughput": throughput(options, name)}}
        for name, index in sorted(_live_gsis(table).items())
        if name not in dropping and (switching or live_throughput(index) != throughput(options, name))
    ]
    if updates:
        request["GlobalSecondaryIndexUpdates"] = updates
    if not request:
        return []
    what = "billing PAY_PER_REQUEST -> PROVISIONED" if switching else "provisioned capacity"
    what += f" ({units['ReadCapacityUnits']} read / {units['WriteCapacityUnits']} write units)"
    return [UpdateTable(**base, what=what, request=request)]


def _stream_steps(want: Want, table: dict, caps: Capabilities) -> list[Step]:
    options = want.options
    have, view = live_stream(table), options.stream_view_type
    if not options.stream_managed or have == view:
        return []
    base = {"model": want.model, "table": want.name}
    why = caps.why_not("streams")
    steps: list[Step] = []
    if have is not None:  # a view type never changes in place: off, then on
        off = {"StreamSpecification": stream_spec(None)}
        steps.append(UpdateTable(**base, what=f"stream {have} off", request=off, skipped=why))
    if view is not None:
        on = {"StreamSpecification": stream_spec(view)}
        steps.append(UpdateTable(**base, what=f"stream {view} on", request=on, skipped=why))
    return steps


def _ttl_steps(want: Want, have: str | None, caps: Capabilities) -> list[Step]:
    if have == want.ttl:
        return []
    base = {"model": want.model, "table": want.name}
    why = caps.why_not("ttl")
    steps: list[Step] = []
    if have is not None:
        steps.append(UpdateTimeToLive(**base, attribute=have, enabled=False, skipped=why))
    if want.ttl is not None:
        steps.append(UpdateTimeToLive(**base, attribute=want.ttl, enabled=True, skipped=why))
    return steps


def _option_steps(want: Want, live: Live, caps: Capabilities) -> list[Step]:
    base = {"model": want.model, "table": want.name}
    options, table = want.options, live.table or {}
    steps: list[Step] = []
    if options.point_in_time_recovery != bool(live.pitr):
        skipped = caps.why_not("pitr")
        steps.append(UpdatePointInTimeRecovery(**base, enabled=options.point_in_time_recovery, skipped=skipped))
    if options.deletion_protection != bool(table.get("DeletionProtectionEnabled")):
        what = f"deletion protection {'on' if options.deletion_protection else 'off'}"
        protection = {"DeletionProtectionEnabled": options.deletion_protection}
        steps.append(UpdateTable(**base, what=what, request=protection, skipped=caps.why_not("deletion_protection")))
    if not sse_matches(options.sse_kms_key, live_kms_key(table)):
        what = f"encryption with {options.sse_kms_key or 'an AWS owned key'}"
        sse = {"SSESpecification": sse_spec(options)}
        steps.append(UpdateTable(**base, what=what, request=sse, skipped=caps.why_not("sse")))
    have_tags = live.tags or {}
    missing = {key: value for key, value in options.tags.items() if have_tags.get(key) != value}
    if missing:
        steps.append(TagTable(**base, tags=missing, skipped=caps.why_not("tags")))
    return steps
