"""Schema evolution, the I/O: read the live tables, plan (schema.py), carry the steps out.

:func:`plan` describes every table the models need (DescribeTable,
DescribeTimeToLive, DescribeContinuousBackups, ListTagsOfResource, the claims
marker) and returns the :class:`~dynamo_backend.schema_steps.Plan`.
:func:`apply` plans afresh and runs each step, one at a time:

- before every UpdateTable the table must be ACTIVE with every GSI ACTIVE and
  none backfilling; after a GSI change it waits for that again (table._poll
  backs off, never a fixed sleep), so one GSI is created or deleted per call;
- each step checks the live table first and does nothing when it is done
  already, so an apply that stopped half-way (a crash, a timeout) is resumed
  by running it again, and a second apply sends no change at all;
- a step the endpoint cannot make (``skipped``) is logged and left;
- a :class:`Rebuild` is reported, never attempted; claim conflicts are reported
  and their constraint left unmarked.

Against a custom endpoint (an emulator, LocalStack) the endpoint's APIs are
probed once per process with calls on a table that does not exist, so the
plan knows what it lacks: "not found" means the API is there. Real AWS (no
ENDPOINT_URL) has them all.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from . import connection, unique
from .backfill import BackfillResult, backfill_claims
from .conf import get_setting
from .exceptions import DynamoBackendError, RequestValidationError, TableDoesNotExist
from .options import all_models
from .schema import plan_model, wanted
from .schema_steps import (
    BackfillClaims,
    Capabilities,
    CreateIndex,
    CreateTable,
    DeleteIndex,
    Live,
    MarkClaimsComplete,
    Plan,
    Step,
    TagTable,
    UnmarkClaims,
    UpdatePointInTimeRecovery,
    UpdateTable,
    UpdateTimeToLive,
)
from .table import (
    UNSUPPORTED,
    _poll,
    create,
    describe,
    set_point_in_time_recovery,
    settled,
    tag_missing,
    wait_for_active,
)
from .table_options import PAY_PER_REQUEST, live_billing

__all__ = ["ApplyResult", "apply", "capabilities", "inspect", "plan"]

logger = logging.getLogger("dynamo_backend")

_NOT_FOUND = ("ResourceNotFoundException", "ResourceNotFound", "TableNotFoundException")
_PROBE_TABLE = "ddbdjango-capability-probe-absent"
_probed: dict[tuple, Capabilities] = {}


# --- what the endpoint can do --------------------------------------------------------------


def _probes(name: str) -> dict[str, tuple[str, dict]]:
    """Return feature -> (operation, parameters): a harmless call on a table that does not exist."""
    arn = f"arn:aws:dynamodb:{get_setting('REGION')}:000000000000:table/{name}"
    ttl = {"Enabled": False, "AttributeName": "x"}
    recovery = {"PointInTimeRecoveryEnabled": False}
    return {
        "streams": ("UpdateTable", {"TableName": name, "StreamSpecification": {"StreamEnabled": False}}),
        "ttl": ("UpdateTimeToLive", {"TableName": name, "TimeToLiveSpecification": ttl}),
        "pitr": ("UpdateContinuousBackups", {"TableName": name, "PointInTimeRecoverySpecification": recovery}),
        "deletion_protection": ("UpdateTable", {"TableName": name, "DeletionProtectionEnabled": False}),
        "sse": ("UpdateTable", {"TableName": name, "SSESpecification": {"Enabled": False}}),
        "tags": ("ListTagsOfResource", {"ResourceArn": arn}),
    }


def capabilities() -> Capabilities:
    """Return what this endpoint lacks, probing a custom endpoint once per process (real AWS lacks nothing)."""
    endpoint = get_setting("ENDPOINT_URL")
    if not endpoint:
        return Capabilities()
    key = (endpoint, get_setting("REGION"))
    if key not in _probed:
        lacking: dict[str, str] = {}
        for feature, (operation, params) in _probes(f"{get_setting('TABLE_PREFIX')}{_PROBE_TABLE}").items():
            try:
                connection.call(operation, **params)
            except DynamoBackendError as error:
                if error.code in UNSUPPORTED:
                    lacking[feature] = f"this endpoint has no {operation} for it ({error.code})"
                elif error.code not in _NOT_FOUND:
                    logger.info("probing %s for %s answered %s; assuming it is there", endpoint, feature, error.code)
        _probed[key] = Capabilities(lacking)
    return _probed[key]


# --- what the endpoint has -----------------------------------------------------------------


def _optional(operation: str, **params: Any) -> dict | None:
    """Call a describing API; None when the endpoint does not have it."""
    try:
        return connection.call(operation, **params)
    except DynamoBackendError as error:
        if error.code in UNSUPPORTED:
            return None
        raise


def inspect(
    name: str, caps: Capabilities, *, claims: bool = False, tags: bool = False, marker_only: bool = False
) -> Live:
    """Read what the endpoint has for one table.

    ``claims``: read its claims marker too; ``tags``: its tags (only asked for
    when the model wants some: ListTagsOfResource is rate-limited, and plan
    never removes a tag); ``marker_only``: nothing but the table and its marker.
    """
    table = describe(name)
    if table is None:
        return Live()
    complete = unique.complete_labels(name) if claims else frozenset()
    if marker_only:
        return Live(table=table, complete=complete)
    ttl = _optional("DescribeTimeToLive", TableName=name) or {}
    described = ttl.get("TimeToLiveDescription", {})
    attribute = described.get("AttributeName") if described.get("TimeToLiveStatus") in ("ENABLED", "ENABLING") else None
    pitr = None
    if not caps.why_not("pitr"):
        backups = _optional("DescribeContinuousBackups", TableName=name) or {}
        recovery = backups.get("ContinuousBackupsDescription", {}).get("PointInTimeRecoveryDescription", {})
        pitr = recovery.get("PointInTimeRecoveryStatus") in ("ENABLED", "ENABLING") if recovery else None
    live_tags = None
    if tags and not caps.why_not("tags"):
        listed = _optional("ListTagsOfResource", ResourceArn=table["TableArn"]) or {}
        live_tags = {t["Key"]: t["Value"] for t in listed.get("Tags", [])}
    return Live(table=table, ttl=attribute, pitr=pitr, tags=live_tags, complete=complete)


def plan(models: list | None = None) -> Plan:
    """Return the steps from the live tables to the (registered) models."""
    caps = capabilities()
    steps: list[Step] = []
    for model in models or all_models():
        wants = wanted(model)
        lives = {
            want.name: inspect(want.name, caps, claims=want.role == "claims", tags=bool(want.options.tags))
            for want in wants
        }
        old_claims = None
        if not model._meta.has_claims:
            old_claims = inspect(model._meta.unique_table_name, caps, claims=True, marker_only=True)
        steps += plan_model(wants, lives, caps, old_claims)
    return Plan(steps)


# --- carrying it out -------------------------------------------------------------------------


@dataclass
class ApplyResult:
    """What apply did: steps carried out, steps skipped, rebuilds it left, backfills and their conflicts."""

    plan: Plan
    done: list[Step] = field(default_factory=list)
    backfills: list[BackfillResult] = field(default_factory=list)

    @property
    def conflicts(self) -> list:
        return [conflict for result in self.backfills for conflict in result.conflicts]

    @property
    def ok(self) -> bool:
        """Return whether the tables now match the models (nothing to rebuild, no conflict)."""
        return not self.plan.rebuilds and not self.conflicts


def _index_state(table: str, index: str) -> str | None:
    described = describe(table) or {}
    found = [g for g in described.get("GlobalSecondaryIndexes") or [] if g["IndexName"] == index]
    return found[0].get("IndexStatus", "ACTIVE") if found else None


def _update(table: str, **params: Any) -> dict:
    return connection.call("UpdateTable", TableName=table, **params)


# Each runner: (step, its model, the result so far, the backfill's scan options). wait_for_active
# waits for the table ACTIVE with every GSI ACTIVE and none backfilling.


def _run_create(step: Any, model: Any, result: ApplyResult, scan: dict) -> None:
    options = model._meta.table_options
    if step.table != model._meta.table_name:
        options = options.for_side_table()
    created = create(step.request)
    table = wait_for_active(step.table)  # made by us, by another process, or by an earlier apply
    if created:
        tag_missing(table, options.tags)  # point-in-time recovery is a step of its own


class _Ignored(Exception):
    """The endpoint took a GSI change without making it (dynalite): the step is skipped from now on."""


def _listed(response: dict, index: str) -> dict | None:
    indexes = response.get("TableDescription", {}).get("GlobalSecondaryIndexes") or []
    return next((g for g in indexes if g["IndexName"] == index), None)


def _run_create_index(step: Any, model: Any, result: ApplyResult, scan: dict) -> None:
    table = wait_for_active(step.table)
    if _index_state(step.table, step.index) is None:
        try:
            response = _update(step.table, **step.request)
        except RequestValidationError as error:
            if "provisionedthroughput" in str(error).lower() and live_billing(table) == PAY_PER_REQUEST:
                raise _Ignored(f"this endpoint cannot add a GSI to an on-demand table ({error.code})") from error
            raise
        if _listed(response, step.index) is None:
            raise _Ignored("this endpoint accepted the new GSI and did not create it")
    _poll(lambda: settled(describe(step.table)), f"index {step.index} of {step.table} to be ACTIVE", None)


def _run_delete_index(step: Any, model: Any, result: ApplyResult, scan: dict) -> None:
    wait_for_active(step.table)
    if _index_state(step.table, step.index) not in (None, "DELETING"):
        response = _update(step.table, GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": step.index}}])
        if (_listed(response, step.index) or {}).get("IndexStatus") == "ACTIVE":
            raise _Ignored("this endpoint accepted the GSI's deletion and kept it")
    _poll(lambda: _index_state(step.table, step.index) is None, f"index {step.index} of {step.table} to go", None)
    wait_for_active(step.table)


def _run_update(step: Any, model: Any, result: ApplyResult, scan: dict) -> None:
    wait_for_active(step.table)
    _update(step.table, **step.request)
    wait_for_active(step.table)


def _run_ttl(step: Any, model: Any, result: ApplyResult, scan: dict) -> None:
    spec = {"Enabled": step.enabled, "AttributeName": step.attribute}
    try:
        connection.call("UpdateTimeToLive", TableName=step.table, TimeToLiveSpecification=spec)
    except DynamoBackendError as error:
        # Already in that state (a resumed apply): DynamoDB refuses the repetition.
        if error.code != "ValidationException" or "already" not in str(error).lower():
            raise


def _run_pitr(step: Any, model: Any, result: ApplyResult, scan: dict) -> None:
    set_point_in_time_recovery(step.table, step.enabled)


def _run_tags(step: Any, model: Any, result: ApplyResult, scan: dict) -> None:
    tag_missing(wait_for_active(step.table), step.tags)  # what is still missing now


def _run_backfill(step: Any, model: Any, result: ApplyResult, scan: dict) -> None:
    result.backfills.append(backfill_claims(model, step.labels, **scan))


def _run_mark(step: Any, model: Any, result: ApplyResult, scan: dict) -> None:
    unique.mark_complete(step.table, list(step.labels))


def _run_unmark(step: Any, model: Any, result: ApplyResult, scan: dict) -> None:
    unique.unmark_complete(step.table, list(step.labels))


_RUNNERS: dict[type, Callable[[Any, Any, ApplyResult, dict], None]] = {
    CreateTable: _run_create,
    CreateIndex: _run_create_index,
    DeleteIndex: _run_delete_index,
    UpdateTable: _run_update,
    UpdateTimeToLive: _run_ttl,
    UpdatePointInTimeRecovery: _run_pitr,
    TagTable: _run_tags,
    BackfillClaims: _run_backfill,
    MarkClaimsComplete: _run_mark,
    UnmarkClaims: _run_unmark,
}


def apply(
    models: list | None = None,
    *,
    total_segments: int = 4,
    max_rcu_per_second: float | None = None,
    report: Callable[[str, Step], None] | None = None,
) -> ApplyResult:
    """Plan, then carry the plan out step by step; return what was done and what is left.

    ``total_segments`` and ``max_rcu_per_second`` shape the claims backfills'
    Scans; ``report(event, step)`` hears "start", "done" and "skipped" per step.
    """
    chosen = list(models or all_models())
    by_label = {model._meta.label: model for model in chosen}
    result = ApplyResult(plan(chosen))
    scan = {"total_segments": total_segments, "max_rcu_per_second": max_rcu_per_second}
    for planned in result.plan.steps:
        step = _unless_learned(planned)
        if step.skipped:
            _skip(step, report)
            continue
        if not step.runs:
            continue
        if report:
            report("start", step)
        try:
            _RUNNERS[type(step)](step, by_label[step.model], result, scan)
        except _Ignored as why:
            _learn("index_updates", str(why))
            _skip(replace(step, skipped=str(why)), report)
            continue
        except TableDoesNotExist as error:
            raise DynamoBackendError(f"{step.text()} failed: {error}", code=error.code) from error
        result.done.append(step)
        if report:
            report("done", step)
    return result


def _unless_learned(step: Step) -> Step:
    """Return the step, skipped if this process has learnt since planning that the endpoint cannot make it."""
    why = capabilities().why_not("index_updates")
    if why and not step.skipped and isinstance(step, CreateIndex | DeleteIndex):
        return replace(step, skipped=why)
    return step


def _skip(step: Step, report: Callable[[str, Step], None] | None) -> None:
    logger.warning("dynamo_tables apply: skipped %s: %s", step.text(), step.skipped)
    if report:
        report("skipped", step)


def _learn(feature: str, why: str) -> None:
    """Remember for this process that the endpoint lacks a feature (later plans mark its steps skipped)."""
    key = (get_setting("ENDPOINT_URL"), get_setting("REGION"))
    known = _probed.get(key, Capabilities())
    _probed[key] = Capabilities({**known.lacking, feature: why})
