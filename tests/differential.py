"""Differential testing against Django's ORM: the same rows in a DynamoModel and in a Django model on
in-memory SQLite, the same random QuerySets on both, and every answer compared.

A query is a list of *ops* (plain tuples, so it can be shrunk and printed as
code); conditions are trees of ("leaf", "field__lookup", value) and
("and" | "or", negated, [children]) turned into the same Django ``Q`` objects for
both sides (the library uses Django's own Q and F). Mutations (update, delete)
run on both and are followed by a full-table comparison.

Differences the README documents on purpose are kept out of the generator:
empty strings in index key attributes (stored absent, read back as None),
ordered lookups on booleans (DynamoDB cannot compare BOOL), DISTINCT together
with an ordering on fields outside values(). Engine bugs are probed per
engine (``probe_engine_bugs``) and a mismatch they explain is excused on that
engine only.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from django.db import connections, models

import dynamo_backend as ddb
from dynamo_backend import Coalesce, F, Q

UTC = dt.UTC
BIG_OFFSET = 10**38
ORACLE_ALIAS = "difforacle"


# -- the two models ---------------------------------------------------------------


class DiffFields(ddb.DynamoModel):
    """The fields DiffItem and DiffProjected share (each declares ``cat`` and its indexes)."""

    class Meta:
        abstract = True
        app_label = "libtests"

    grp = ddb.CharField()
    rank = ddb.IntegerField()
    num = ddb.IntegerField()
    big = ddb.IntegerField()
    flt = ddb.FloatField()
    dec = ddb.DecimalField(max_digits=10, decimal_places=2)
    flag = ddb.BooleanField()
    when = ddb.DateTimeField()
    title = ddb.CharField()
    slug = ddb.CharField(unique=True)
    part = ddb.CharField(nullable=False)
    seq = ddb.IntegerField(nullable=False)


class DiffItem(DiffFields):
    """The DynamoDB side: a GSI on an index=True field, a GSI whose sort key is nullable, a unique field."""

    class Meta:
        app_label = "libtests"
        indexes = [ddb.Index("grp", sort_key="rank")]

    cat = ddb.CharField(index=True)


class DiffKeyed(ddb.DynamoModel):
    """The same fields in a HASH+RANGE table (part, seq); ``uid`` is the oracle's pk."""

    class Meta:
        app_label = "libtests"
        indexes = [ddb.Index("grp", sort_key="rank"), ddb.Index("part", sort_key="num", local=True)]

    pk = ddb.CompositePrimaryKey("part", "seq")
    part = ddb.CharField(nullable=False)
    seq = ddb.IntegerField(nullable=False)
    uid = ddb.CharField(nullable=False)
    cat = ddb.CharField(index=True)
    grp = ddb.CharField()
    rank = ddb.IntegerField()
    num = ddb.IntegerField()
    big = ddb.IntegerField()
    flt = ddb.FloatField()
    dec = ddb.DecimalField(max_digits=10, decimal_places=2)
    flag = ddb.BooleanField()
    when = ddb.DateTimeField()
    title = ddb.CharField()
    slug = ddb.CharField(unique=True)


class DiffProjected(DiffFields):
    """DiffItem's fields over projected indexes: cat's holds keys only, (grp, rank)'s the keys + num, title, flag."""

    class Meta:
        app_label = "libtests"
        indexes = [
            ddb.Index("cat", projection=ddb.Index.KEYS_ONLY),
            ddb.Index("grp", sort_key="rank", include=["num", "title", "flag"]),
        ]

    cat = ddb.CharField()


class Target:
    """Which DynamoModel the differential run drives: DiffItem (pk), DiffKeyed (composite key), DiffProjected."""

    model: Any = DiffItem

    @classmethod
    def keyed(cls) -> bool:
        return cls.model is DiffKeyed


class BigNumberField(models.CharField):
    """38-digit integers on SQLite, exactly: stored as zero-padded text offset by 10**38 (text order = number order)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["max_length"] = 40
        super().__init__(*args, **kwargs)

    def get_prep_value(self, value: Any) -> Any:
        return None if value is None else f"{int(value) + BIG_OFFSET:040d}"

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        return None if value is None else int(value) - BIG_OFFSET

    def to_python(self, value: Any) -> Any:
        return value if value is None or isinstance(value, int) else int(value) - BIG_OFFSET


class OracleItem(models.Model):
    """The Django side, on in-memory SQLite: the same fields with Django's types."""

    pk_id = models.CharField(primary_key=True, max_length=36)
    cat = models.CharField(max_length=20, null=True)
    grp = models.CharField(max_length=20, null=True)
    rank = models.IntegerField(null=True)
    num = models.BigIntegerField(null=True)
    big = BigNumberField(null=True)
    flt = models.FloatField(null=True)
    dec = models.DecimalField(max_digits=10, decimal_places=2, null=True)
    flag = models.BooleanField(null=True)
    when = models.DateTimeField(null=True)
    title = models.CharField(max_length=50, null=True)
    slug = models.CharField(max_length=50, null=True, unique=True)
    part = models.CharField(max_length=5)
    seq = models.IntegerField()

    class Meta:
        app_label = "difforacle"


FIELDS = ["cat", "grp", "rank", "num", "big", "flt", "dec", "flag", "when", "title", "slug", "part", "seq"]
TEXT = {"cat", "grp", "title", "slug", "part"}
NUMBERS = {"rank", "num", "big", "flt", "dec", "seq"}
ORDERED = TEXT | NUMBERS | {"when"}


def oracle_connect() -> None:
    """Add the in-memory SQLite database to Django's connections (the project has no DATABASES) and make the table."""
    if ORACLE_ALIAS not in connections.settings:
        connections.settings[ORACLE_ALIAS] = connections.configure_settings(
            {
                "default": {"ENGINE": "django.db.backends.dummy"},
                ORACLE_ALIAS: {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
            }
        )[ORACLE_ALIAS]
        connection = connections[ORACLE_ALIAS]
        with connection.cursor() as cursor:
            # Django's contains/startswith use LIKE, which SQLite compares case-insensitively by default.
            cursor.execute("PRAGMA case_sensitive_like = ON")
        with connection.schema_editor() as editor:
            editor.create_model(OracleItem)


def oracle() -> models.QuerySet:
    return OracleItem.objects.using(ORACLE_ALIAS).all()


# -- data -------------------------------------------------------------------------

WHENS = [dt.datetime(2024, 1, d, h, tzinfo=UTC) for d in (1, 2, 3) for h in (0, 12)]
VALUES: dict[str, list] = {
    "cat": ["a", "b", "c", "é", "日本", "B", None],
    "grp": ["g1", "g2", "g3", None],
    "rank": [-3, 0, 1, 2, 2, 5, None, None],
    "num": [-(2**53) - 1, -5, 0, 1, 2, 7, 2**53, 2**53 + 1, None],
    "big": [-(10**38) + 1, -(10**37), -1, 0, 10**37 + 3, 10**38 - 1, None],
    "flt": [-1.5, 0.0, 0.1, 2.5, 1e10, None],
    "dec": [decimal.Decimal("1.10"), decimal.Decimal("-2.50"), decimal.Decimal("0.00"), decimal.Decimal("7"), None],
    "flag": [True, False, None],
    "when": [*WHENS, None],
    "title": ["", "x", "Hello", "hello", "ünï", "a b", "%_", "Hello world", None],
    "part": ["p1", "p2", "p3", "p9"],  # rows use p1-p3; p9 matches none
    "seq": [-1, 0, 5, 30, 59, 200],  # rows use their number
}


def make_rows(rng: random.Random, count: int) -> list[dict]:
    rows = []
    for n in range(count):
        row = {name: rng.choice(choices) for name, choices in VALUES.items()}
        row["pk"] = f"00000000-0000-4000-8000-{n:012d}"
        row["slug"] = rng.choice([f"s{n}", None])
        row["part"] = rng.choice(["p1", "p2", "p3"])
        row["seq"] = n
        rows.append(row)
    return rows


def load(rows: list[dict]) -> None:
    """Replace both tables' contents with rows."""
    model = Target.model
    model.objects.all().delete()
    oracle().delete()
    if rows:
        if Target.keyed():
            model.objects.bulk_create([model(uid=r["pk"], **_fields(r)) for r in rows])
        else:
            model.objects.bulk_create([model(**row) for row in rows])
        OracleItem.objects.using(ORACLE_ALIAS).bulk_create([OracleItem(pk_id=r["pk"], **_fields(r)) for r in rows])


def _fields(row: dict) -> dict:
    return {name: row[name] for name in FIELDS}


# -- conditions ---------------------------------------------------------------------


def _pk_name(key: str, side: str) -> str:
    """On the composite-key table the oracle's pk is the ``uid`` field."""
    if side == "ddb" and Target.keyed() and key.split("__")[0].lstrip("-") == "pk":
        return key.replace("pk", "uid", 1)
    return key


def to_q(tree: tuple, side: str) -> Q:
    """Return the Django Q of a condition tree (the oracle's pk, ``pk_id``, is ``pk`` to Django)."""
    if tree[0] == "leaf":
        return Q(**{_pk_name(tree[1], side): tree[2]})
    _kind, negated, children = tree
    combined = Q()
    for child in children:
        combined = (combined & to_q(child, side)) if tree[0] == "and" else (combined | to_q(child, side))
    return ~combined if negated else combined


def tree_code(tree: tuple) -> str:
    if tree[0] == "leaf":
        return f"Q({tree[1]}={tree[2]!r})"
    joiner = " & " if tree[0] == "and" else " | "
    text = "(" + joiner.join(tree_code(c) for c in tree[2]) + ")"
    return f"~{text}" if tree[1] else text


@dataclass
class Generator:
    """Random QuerySets over the current rows (values are drawn from the data, so conditions hit)."""

    rng: random.Random
    rows: list[dict] = field(default_factory=list)

    def value(self, name: str) -> Any:
        if self.rows and self.rng.random() < 0.7:
            return self.rng.choice(self.rows)[name]
        if name == "slug":
            return self.rng.choice(["s1", "s2", "nope"])
        return self.rng.choice(VALUES[name])

    def leaf(self) -> tuple:
        name = self.rng.choice(FIELDS + ["pk"])
        if name == "pk":
            pks = [r["pk"] for r in self.rows] or ["00000000-0000-4000-8000-000000000000"]
            if self.rng.random() < 0.5:
                return ("leaf", "pk", self.rng.choice(pks))
            return ("leaf", "pk__in", self.rng.sample(pks, min(len(pks), self.rng.randint(0, 3))))
        lookups = ["exact", "exact", "isnull", "in"]
        if name in ORDERED:
            lookups += ["gt", "gte", "lt", "lte", "range"]
        if name in TEXT:
            lookups += ["contains", "startswith"]
        lookup = self.rng.choice(lookups)
        return ("leaf", f"{name}__{lookup}", self._operand(name, lookup))

    def _operand(self, name: str, lookup: str) -> Any:
        if lookup == "isnull":
            return self.rng.random() < 0.5
        if lookup == "in":
            return [self.value(name) for _ in range(self.rng.randint(0, 3))]
        if lookup == "range":
            low, high = self._not_none(name), self._not_none(name)
            return (low, high)
        if lookup in ("contains", "startswith"):
            text = self._not_none(name)
            return text[: self.rng.randint(0, len(text))]
        if lookup == "exact":
            return self.value(name)
        return self._not_none(name)

    def _not_none(self, name: str) -> Any:
        for _ in range(20):
            value = self.value(name)
            if value is not None:
                return value
        return next(v for v in VALUES.get(name, ["s1"]) if v is not None)

    def tree(self, depth: int = 0) -> tuple:
        if depth >= 2 or self.rng.random() < 0.55:
            return self.leaf()
        kind = self.rng.choice(["and", "or"])
        children = [self.tree(depth + 1) for _ in range(self.rng.randint(1, 3))]
        return (kind, self.rng.random() < 0.25, children)

    def ordering(self, tiebreak: bool) -> list[str]:
        names = [f"{'-' if self.rng.random() < 0.4 else ''}{n}" for n in self.rng.sample(sorted(ORDERED), 2)]
        names = names[: self.rng.randint(1, 2)]
        return [*names, "pk"] if tiebreak else names

    def index_filter(self) -> tuple:
        """A condition an index could serve: equality on a partition key, maybe with sort-key conditions."""
        name = self.rng.choice(["cat", "grp", "grp", "slug"])
        leaves = [("leaf", name, self._not_none(name))]
        if name == "grp":
            for _ in range(self.rng.randint(0, 2)):
                lookup = self.rng.choice(["gt", "gte", "lt", "lte", "range", "in", "exact", "isnull"])
                leaves.append(("leaf", f"rank__{lookup}", self._operand("rank", lookup)))
        if self.rng.random() < 0.3:
            leaves.append(self.leaf())
        return ("and", False, leaves)

    def query(self) -> list[tuple]:
        ops: list[tuple] = []
        if self.rng.random() < 0.4:
            ops.append(("filter", self.index_filter()))
            if self.rng.random() < 0.3:
                ops.append(("order_by", [self.rng.choice(["rank", "-rank"])]))
        for _ in range(self.rng.randint(0, 2)):
            ops.append((self.rng.choice(["filter", "filter", "exclude"]), self.tree()))
        terminal = self.rng.choice([t for t in TERMINALS if not (Target.keyed() and t == "in_bulk")])
        if any(op[0] == "order_by" for op in ops):
            terminal = self.rng.choice(["list", "values", "values_list", "count", "update", "delete"])
        ordered = (
            (self.rng.random() < 0.5 or (Target.keyed() and terminal in ("first", "last")))
            and terminal not in ("values_distinct", "count", "exists", "aggregate")
            and not any(op[0] == "order_by" for op in ops)
        )
        sliced = ordered and self.rng.random() < 0.4 and terminal in ("list", "values", "values_list")
        if ordered:
            ops.append(("order_by", self.ordering(tiebreak=sliced or terminal in ("first", "last"))))
        if sliced:
            low = self.rng.randint(0, 3)
            ops.append(("slice", low, low + self.rng.randint(0, 6)))
        ops.append(self.terminal(terminal))
        return ops

    def terminal(self, kind: str) -> tuple:
        if kind == "values":
            return ("values", tuple(self.rng.sample(FIELDS, self.rng.randint(1, 3))))
        if kind == "values_list":
            names = tuple(self.rng.sample(FIELDS, self.rng.randint(1, 2)))
            return ("values_list", names, len(names) == 1 and self.rng.random() < 0.5)
        if kind == "values_distinct":
            return ("values_distinct", tuple(self.rng.sample(["cat", "grp", "flag", "rank", "title"], 2)))
        if kind == "get":
            return ("get", self.rng.choice([self.leaf(), ("leaf", "slug", self.value("slug"))]))
        if kind == "in_bulk":
            pks = [r["pk"] for r in self.rows]
            return ("in_bulk", [*self.rng.sample(pks, min(len(pks), 3)), "00000000-0000-4000-8000-999999999999"])
        if kind == "aggregate":
            return ("aggregate", self._aggregates())
        if kind == "update":
            return ("update", self._changes())
        return (kind,)

    def _aggregates(self) -> dict:
        out = {}
        for n in range(self.rng.randint(1, 3)):
            func = self.rng.choice(["Count", "Sum", "Min", "Max", "Avg"])
            pool = ["num", "rank", "flt", "dec"] if func in ("Sum", "Avg") else sorted(ORDERED - {"big"})
            if func == "Count":
                pool = FIELDS
            out[f"a{n}"] = (func, self.rng.choice(pool), self.rng.random() < 0.2 and func == "Count")
        return out

    def _changes(self) -> dict:
        choices = [
            ("num", ("f_plus", "num", self.rng.randint(-3, 3))),
            ("num", ("coalesce_plus", "num", self.rng.randint(1, 3))),
            ("num", ("f_plus", "rank", 1)),
            ("rank", ("f_plus", "rank", -1)),
            ("title", ("value", self.rng.choice(["new", "", None, "Hello"]))),
            ("flag", ("value", self.rng.choice([True, False, None]))),
            ("cat", ("value", self.rng.choice(["b", "z", None]))),
            ("when", ("value", self.rng.choice(WHENS + [None]))),
            ("flt", ("value", self.rng.choice([0.5, -2.0, None]))),
        ]
        picked = dict(self.rng.sample(choices, self.rng.randint(1, 2)))
        return picked


TERMINALS = [
    "list",
    "list",
    "count",
    "exists",
    "first",
    "last",
    "get",
    "values",
    "values_list",
    "values_distinct",
    "in_bulk",
    "aggregate",
    "update",
    "update",
    "delete",
]


# -- running a query on one side ------------------------------------------------------


def _aggregate_objects(spec: dict) -> dict:
    funcs = {"Count": models.Count, "Sum": models.Sum, "Min": models.Min, "Max": models.Max, "Avg": models.Avg}
    return {
        alias: funcs[name](source, distinct=True) if distinct else funcs[name](source)
        for alias, (name, source, distinct) in spec.items()
    }


def _update_value(spec: tuple) -> Any:
    kind = spec[0]
    if kind == "f_plus":
        return F(spec[1]) + spec[2]
    if kind == "coalesce_plus":
        return Coalesce(F(spec[1]), 0) + spec[2]
    return spec[1]


def run(ops: list[tuple], side: str) -> Any:
    """Run the ops on one side ("ddb" or "orm"); return a comparable answer, or the exception's class name."""
    qs = Target.model.objects.all() if side == "ddb" else oracle()
    try:
        for op in ops[:-1]:
            qs = _apply(qs, op, side)
        return _terminal(qs, ops[-1], side)
    except (ddb.ObjectDoesNotExist, ddb.MultipleObjectsReturned) as error:
        return ("raised", "DoesNotExist" if isinstance(error, ddb.ObjectDoesNotExist) else "MultipleObjectsReturned")
    except Exception as error:  # a crash is a mismatch too: report it with the query that caused it
        return ("error", type(error).__name__, str(error)[:300])


def read_as(ops: list[tuple]) -> str:
    """Return how the library reads a query: its operation; on a projected index, whether it completes."""
    qs = Target.model.objects.all()
    for op in ops[:-1]:
        qs = _apply(qs, op, "ddb")
    if ops[-1][0] == "values":
        qs = qs.values(*ops[-1][1])
    elif ops[-1][0] == "values_list":
        qs = qs.values_list(*ops[-1][1])
    plan = qs.explain()
    completion = plan.get("completion")
    if completion is None:
        return plan["operation"]
    return "Query, completes" if "completed from the base table" in completion else "Query, index alone"


def _apply(qs: Any, op: tuple, side: str) -> Any:
    if op[0] == "filter":
        return qs.filter(to_q(op[1], side))
    if op[0] == "exclude":
        return qs.exclude(to_q(op[1], side))
    if op[0] == "order_by":
        return qs.order_by(*(_pk_name(name, side) for name in op[1]))
    if op[0] == "slice":
        return qs[op[1] : op[2]]
    raise ValueError(op)


def _row(obj: Any, side: str) -> tuple:
    pk = obj.uid if side == "ddb" and Target.keyed() else obj.pk
    return (pk, *(getattr(obj, name) for name in FIELDS))


def _terminal(qs: Any, op: tuple, side: str) -> Any:
    kind = op[0]
    if kind == "list":
        return [_row(o, side) for o in qs]
    if kind in ("count", "exists"):
        return getattr(qs, kind)()
    if kind in ("first", "last"):
        obj = getattr(qs, kind)()
        return None if obj is None else _row(obj, side)
    if kind == "get":
        return _row(qs.get(to_q(op[1], side)), side)
    if kind == "values":
        return [tuple(sorted(d.items())) for d in qs.values(*op[1])]
    if kind == "values_list":
        return list(qs.values_list(*op[1], flat=op[2]))
    if kind == "values_distinct":
        return sorted(map(repr, qs.values_list(*op[1]).distinct()))
    if kind == "in_bulk":
        return {k: _row(v, side) for k, v in qs.in_bulk(op[1]).items()}
    if kind == "aggregate":
        return qs.aggregate(**_aggregate_objects(op[1]))
    if kind == "update":
        return qs.update(**{name: _update_value(spec) for name, spec in op[1].items()})
    if kind == "delete":
        return qs.delete()[0]
    raise ValueError(op)


def table(side: str) -> list[tuple]:
    """Every row of one side, sorted by pk."""
    qs = Target.model.objects.consistent().all() if side == "ddb" else oracle()
    return sorted((_row(o, side) for o in qs), key=lambda r: r[0])


# -- comparing ---------------------------------------------------------------------------


def _norm(value: Any) -> Any:
    # Sums of floats depend on the order of addition: compare 12 significant digits.
    if isinstance(value, float) and not math.isnan(value):
        return float(f"{value:.12g}")
    if isinstance(value, decimal.Decimal):
        return float(f"{float(value):.12g}")
    if isinstance(value, tuple):
        return tuple(_norm(v) for v in value)
    if isinstance(value, list):
        return [_norm(v) for v in value]
    if isinstance(value, dict):
        return {k: _norm(v) for k, v in value.items()}
    return value


def _ordered_keys(ops: list[tuple]) -> list[str] | None:
    for op in ops:
        if op[0] == "order_by":
            return list(op[1])
    return None


def _close_aggregates(ours: dict, theirs: dict) -> bool:
    """Aggregates: SQLite sums and averages in doubles, so beyond 2**53 its answer is rounded; ours is exact."""
    if ours.keys() != theirs.keys():
        return False
    for key, value in ours.items():
        other = theirs[key]
        if isinstance(value, int | float) and isinstance(other, int | float) and not isinstance(value, bool):
            if not math.isclose(value, other, rel_tol=1e-12, abs_tol=256):
                return False
        elif value != other:
            return False
    return True


def same(ops: list[tuple], ours: Any, theirs: Any) -> bool:
    """Compare answers: exactly when the order is fully determined, else as multisets (with order keys)."""
    ours, theirs = _norm(ours), _norm(theirs)
    if ours == theirs:
        return True
    kind = ops[-1][0]
    if kind == "aggregate" and isinstance(ours, dict) and isinstance(theirs, dict):
        return _close_aggregates(ours, theirs)
    if not isinstance(ours, list) or not isinstance(theirs, list):
        return False
    order = _ordered_keys(ops)
    if order and "pk" in order:
        return False  # fully determined: must be equal
    if Counter(map(repr, ours)) != Counter(map(repr, theirs)):
        return False
    if order and kind == "list":
        # Ties may come in any order: the sequence of ordering-key values must still match.
        index = {name: 1 + FIELDS.index(name) for name in FIELDS}
        keys = [index[name.lstrip("-")] for name in order]
        return [tuple(r[k] for k in keys) for r in ours] == [tuple(r[k] for k in keys) for r in theirs]
    return order is None or kind not in ("list",)


def ops_code(ops: list[tuple]) -> str:
    parts = []
    for op in ops:
        if op[0] in ("filter", "exclude"):
            parts.append(f".{op[0]}({tree_code(op[1])})")
        elif op[0] == "order_by":
            parts.append(f".order_by({', '.join(map(repr, op[1]))})")
        elif op[0] == "slice":
            parts.append(f"[{op[1]}:{op[2]}]")
        else:
            parts.append(f"  # then {op!r}")
    return f"{Target.model.__name__}.objects.all()" + "".join(parts)


# -- engine bugs --------------------------------------------------------------------------


def probe_engine_bugs() -> set[str]:
    """Return the engine bugs this engine shows, probed on a throwaway row: 'in_false', 'in_empty_string'."""
    bugs = set()
    DiffItem.objects.filter(slug="__probe__").delete()
    probe = DiffItem.objects.create(flag=False, title="", slug="__probe__", cat="probe", part="x", seq=-1)
    try:
        if not DiffItem.objects.uncached().filter(flag__in=[False], cat="probe").exists():
            bugs.add("in_false")
        if not DiffItem.objects.uncached().filter(title__in=[""], cat="probe").exists():
            bugs.add("in_empty_string")
        if not DiffItem.objects.uncached().filter(title__range=("", "a"), cat="probe").exists():
            bugs.add("range_empty_string")
    finally:
        probe.delete()
    return bugs


def excused_by(ops: list[tuple], bugs: set[str]) -> str | None:
    """Return the engine bug that explains a mismatch of this query, or None."""
    leaves = []

    def walk(tree: tuple) -> None:
        if tree[0] == "leaf":
            leaves.append(tree)
        else:
            for child in tree[2]:
                walk(child)

    for op in ops:
        if op[0] in ("filter", "exclude") or (op[0] == "get" and isinstance(op[1], tuple)):
            walk(op[1])
    for _leaf, key, value in leaves:
        if "in_false" in bugs and key.endswith("__in") and False in value:
            return "in_false"
        if "in_empty_string" in bugs and key.endswith("__in") and "" in value:
            return "in_empty_string"
        if "range_empty_string" in bugs and key.endswith("__range") and "" in value:
            return "range_empty_string"
    return None
