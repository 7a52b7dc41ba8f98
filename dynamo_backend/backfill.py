"""Backfilling unique claims: items written before a field became unique get their claims.

``dynamo_tables apply`` runs :func:`backfill_claims` for each constraint its
claims table does not mark complete (see unique.py). A parallel Scan of the
model's table (scans.parallel_scan: segments read by threads, a token bucket
fed by ConsumedCapacity) reads the items; each item's value is claimed with
the claim protocol itself, so a value held by the item already is left as it
is and a stale claim (its owner moved on) is taken over. A value another
item holds is a :class:`Conflict`: both items are listed, nothing is guessed,
and the constraint is not marked complete; fix the data (or the constraint)
and run apply again. Only a backfill without conflicts marks it complete.

Items written while the backfill runs claim their values themselves, provided
the code that declares the constraint is what writes them: deploy it first,
then apply.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import unique
from .exceptions import UniqueConstraintError
from .scans import RateLimiter, parallel_scan

__all__ = ["BackfillResult", "Conflict", "backfill_claims"]


@dataclass(frozen=True)
class Conflict:
    """Two items with one value of a unique constraint: ``holder`` has the claim, ``other`` has none."""

    label: str
    value: str
    holder: str  # the claim owner's key text
    other: str

    def __str__(self) -> str:
        return f"{self.label}={self.value!r} is held by {self.holder} and also by {self.other}"


@dataclass
class BackfillResult:
    """What one backfill did: items scanned, claims it took, conflicts it found."""

    model: str
    labels: tuple[str, ...]
    scanned: int = 0
    claimed: int = 0
    conflicts: list[Conflict] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.conflicts


def _scan_request(model: Any, labels: tuple[str, ...]) -> dict:
    """Return a Scan of the keys and the constrained attributes (and the TTL, to leave expired items out)."""
    meta = model._meta
    names = list(meta.keys.names)
    for constraint in meta.unique_constraints:
        if constraint.label in labels:
            names += [name for name in constraint.fields if name not in names]
    if meta.ttl_field is not None and meta.ttl_field.name not in names:
        names.append(meta.ttl_field.name)
    aliases = {f"#a{i}": name for i, name in enumerate(names)}
    return {
        "TableName": meta.table_name,
        "ProjectionExpression": ", ".join(aliases),
        "ExpressionAttributeNames": aliases,
    }


def _claim(model: Any, item: dict, label: str, value: str, result: BackfillResult) -> None:
    pk = model._meta.pk_of(item)
    try:
        if unique.claim(model, label, value, pk):
            result.claimed += 1
    except UniqueConstraintError:
        holder = unique.owner_of(model, label, value, consistent=True)
        holder_text = model._meta.keys.text(holder) if holder is not None else "(nobody, now)"
        result.conflicts.append(Conflict(label, value, holder_text, unique.owner_text(model, pk)))


def backfill_claims(
    model: Any,
    labels: tuple[str, ...] | list[str],
    *,
    total_segments: int = 4,
    max_rcu_per_second: float | None = None,
    rate_limiter: RateLimiter | None = None,
) -> BackfillResult:
    """Claim the constraints' values for every item of the model; mark them complete when no value clashes.

    ``max_rcu_per_second`` caps the read capacity the Scan consumes (the
    claims are one PutItem each, at most one per item and constraint).
    """
    chosen = tuple(labels)
    result = BackfillResult(model._meta.label, chosen)
    constraints = [c for c in model._meta.unique_constraints if c.label in chosen]
    limiter = rate_limiter or (RateLimiter(max_rcu_per_second) if max_rcu_per_second else None)
    pages = parallel_scan(_scan_request(model, chosen), total_segments, limiter=limiter)
    for page in pages:
        for item in page:
            result.scanned += 1
            if model._meta.expired(item):
                continue  # gone as far as reads go; its claim is not needed
            for constraint in constraints:
                found = constraint.claim(item)
                if found is not None:
                    _claim(model, item, found[0], found[1], result)
    if result.complete:
        unique.mark_complete(model._meta.unique_table_name, list(chosen))
    return result
