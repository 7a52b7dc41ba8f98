"""Schema evolution, the vocabulary: what a model wants, what the endpoint has, the steps between.

schema.py plans (pure), schema_apply.py reads the live side and carries the steps out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .table_options import TableOptions

__all__ = [
    "FEATURES",
    "BackfillClaims",
    "Capabilities",
    "CreateIndex",
    "CreateTable",
    "DeleteIndex",
    "Live",
    "MarkClaimsComplete",
    "Plan",
    "Rebuild",
    "Step",
    "TagTable",
    "UnmarkClaims",
    "UpdatePointInTimeRecovery",
    "UpdateTable",
    "UpdateTimeToLive",
    "Want",
]

# What an endpoint may lack; index_updates is learnt by apply (an endpoint that ignores GSI changes).
FEATURES = ("streams", "ttl", "pitr", "deletion_protection", "sse", "tags", "index_updates")


@dataclass(frozen=True)
class Want:
    """One table a model needs: its CreateTable request and what CreateTable cannot say."""

    name: str
    model: str  # the model's label
    role: str  # "table", "claims" or "counters"
    create: dict
    options: TableOptions
    ttl: str | None = None  # the TTL attribute (a model table with a TTLField)
    claims: tuple[str, ...] = ()  # unique constraint labels (the claims table)


@dataclass(frozen=True)
class Live:
    """What the endpoint has for one table (``table`` None: no such table)."""

    table: dict | None = None  # DescribeTable's Table
    ttl: str | None = None  # the TTL attribute while TimeToLive is on (or turning on)
    pitr: bool | None = None  # point-in-time recovery on; None when the endpoint cannot say
    tags: dict[str, str] | None = None  # None when the endpoint cannot say
    complete: frozenset[str] = frozenset()  # claims table: constraints marked complete


@dataclass(frozen=True)
class Capabilities:
    """What the endpoint cannot do: feature (one of FEATURES) -> why."""

    lacking: dict[str, str] = field(default_factory=dict)

    def why_not(self, feature: str) -> str | None:
        return self.lacking.get(feature)


@dataclass(frozen=True, kw_only=True)
class Step:
    """One change to one table. ``skipped``: why this endpoint cannot make it (shown, never sent)."""

    model: str
    table: str
    skipped: str | None = None

    @property
    def runs(self) -> bool:
        """Return whether apply carries this step out."""
        return self.skipped is None

    def text(self) -> str:
        return f"{type(self).__name__} {self.table}"

    def __str__(self) -> str:
        return self.text() + (f"  [skipped: {self.skipped}]" if self.skipped else "")


@dataclass(frozen=True, kw_only=True)
class CreateTable(Step):
    request: dict

    def text(self) -> str:
        indexes = [g["IndexName"] for g in self.request.get("GlobalSecondaryIndexes", [])]
        indexes += [f"{i['IndexName']} (local)" for i in self.request.get("LocalSecondaryIndexes", [])]
        return f"create table {self.table}" + (f" with indexes {', '.join(indexes)}" if indexes else "")


@dataclass(frozen=True, kw_only=True)
class CreateIndex(Step):
    index: str
    request: dict  # UpdateTable's AttributeDefinitions and GlobalSecondaryIndexUpdates
    reason: str = "declared by the model"

    def text(self) -> str:
        return f"create index {self.index} on {self.table} ({self.reason})"


@dataclass(frozen=True, kw_only=True)
class DeleteIndex(Step):
    index: str
    reason: str = "no model declares it"

    def text(self) -> str:
        return f"delete index {self.index} of {self.table} ({self.reason})"


@dataclass(frozen=True, kw_only=True)
class UpdateTable(Step):
    what: str
    request: dict  # UpdateTable's parameters besides TableName

    def text(self) -> str:
        return f"update {self.table}: {self.what}"


@dataclass(frozen=True, kw_only=True)
class UpdateTimeToLive(Step):
    attribute: str
    enabled: bool

    def text(self) -> str:
        return f"{'enable' if self.enabled else 'disable'} TimeToLive on {self.table}.{self.attribute}"


@dataclass(frozen=True, kw_only=True)
class UpdatePointInTimeRecovery(Step):
    enabled: bool

    def text(self) -> str:
        return f"{'enable' if self.enabled else 'disable'} point-in-time recovery of {self.table}"


@dataclass(frozen=True, kw_only=True)
class TagTable(Step):
    tags: dict

    def text(self) -> str:
        return f"tag {self.table}: " + ", ".join(f"{k}={v}" for k, v in sorted(self.tags.items()))


@dataclass(frozen=True, kw_only=True)
class BackfillClaims(Step):
    source: str  # the model's table, scanned
    labels: tuple[str, ...]

    def text(self) -> str:
        return f"backfill unique claims ({', '.join(self.labels)}) of {self.source} into {self.table}"


@dataclass(frozen=True, kw_only=True)
class MarkClaimsComplete(Step):
    labels: tuple[str, ...]

    def text(self) -> str:
        return f"mark the claims ({', '.join(self.labels)}) in {self.table} complete (a new table holds no item)"


@dataclass(frozen=True, kw_only=True)
class UnmarkClaims(Step):
    labels: tuple[str, ...]

    def text(self) -> str:
        return f"drop the complete marker of ({', '.join(self.labels)}) in {self.table} (no longer unique)"


@dataclass(frozen=True, kw_only=True)
class Rebuild(Step):
    """A change DynamoDB cannot make to an existing table: never carried out, always reported."""

    reason: str

    @property
    def runs(self) -> bool:
        return False

    def text(self) -> str:
        return f"REBUILD NEEDED {self.table}: {self.reason}"


@dataclass
class Plan:
    """The steps from the live tables to the models, in order."""

    steps: list[Step] = field(default_factory=list)

    @property
    def changes(self) -> list[Step]:
        """Return the steps apply carries out."""
        return [step for step in self.steps if step.runs]

    @property
    def rebuilds(self) -> list[Rebuild]:
        return [step for step in self.steps if isinstance(step, Rebuild)]

    @property
    def skipped(self) -> list[Step]:
        return [step for step in self.steps if step.skipped]

    def __bool__(self) -> bool:
        """Return whether there is anything to do or to report (skipped steps aside)."""
        return bool(self.changes or self.rebuilds)
