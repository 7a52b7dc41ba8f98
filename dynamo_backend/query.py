"""The lazy DynamoQuerySet: chaining builds conditions; evaluation plans, executes and shapes results.

planner.py decides how to read (pure); execution.py reads; writes.py writes; query_lookups.py,
query_writes.py and scans.py hold the lookup, write and parallel-scan methods (mixins).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

from . import aggregates
from .exceptions import FieldError, NotSupported
from .execution import Page, count, page, partial, stream
from .expressions import TRUE, Node, Q, fold, matches, resolve
from .fields import scalars
from .planner import Plan, plan
from .query_lookups import QuerySetLookups
from .query_writes import QuerySetWrites
from .relations import attach_related
from .scans import QuerySetScans
from .shards import MergedQuery

__all__ = ["DynamoQuerySet", "Page"]


class DynamoQuerySet(QuerySetLookups, QuerySetWrites, QuerySetScans):
    """A lazy, chainable query over one model's table."""

    def __init__(self, model: Any = None) -> None:
        self.model = model
        self._where: list[Node] = []
        self._order: list[str] | None = None  # None: the model's Meta.ordering
        self._low = 0
        self._high: int | None = None
        self._values: tuple | None = None
        self._values_mode: str | None = None  # "dict" | "tuple" | "flat"
        self._prefetch: list[str] = []
        self._consistent = False
        self._uncached = False
        self._only: frozenset[str] | None = None  # only()/defer(): the fields to read
        self._distinct = False
        self._result_cache: list | None = None

    # -- cloning and chaining ----------------------------------------------
    def _clone(self) -> DynamoQuerySet:
        clone = type(self).__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone._where = list(self._where)
        clone._order = None if self._order is None else list(self._order)
        clone._prefetch = list(self._prefetch)
        clone._result_cache = None
        return clone

    def _check_unsliced(self, action: str) -> None:
        if self._low or self._high is not None:
            raise TypeError(f"Cannot {action} a query once a slice has been taken.")

    def all(self) -> DynamoQuerySet:
        """Return a copy of this QuerySet."""
        return self._clone()

    def filter(self, *args: Q, **kwargs: Any) -> DynamoQuerySet:
        """Return a QuerySet narrowed by lookups and Q objects."""
        return self._add(Q(*args, **kwargs), negate=False)

    def exclude(self, *args: Q, **kwargs: Any) -> DynamoQuerySet:
        """Return a QuerySet without the items matching the lookups."""
        return self._add(Q(*args, **kwargs), negate=True)

    def _add(self, q: Q, negate: bool) -> DynamoQuerySet:
        self._check_unsliced("filter")
        node = resolve(self.model, q)
        if negate:
            node = fold(Node(Q.AND, True, [node]))
        clone = self._clone()
        if node is not TRUE:
            clone._where.append(node)
        return clone

    def order_by(self, *names: str) -> DynamoQuerySet:
        """Return a QuerySet ordered by fields (in memory unless a GSI sort key serves it).

        ``order_by()`` with no names clears the ordering, Meta.ordering included.
        """
        names = tuple(_expand_pk(self.model._meta, names))
        for name in names:
            bare = name[1:] if name.startswith("-") else name
            if bare not in self.model._meta.fields:
                raise FieldError(
                    f"Cannot order by '{bare}': {self.model.__name__} has no such field. "
                    f"Choices are: {', '.join(self.model._meta.fields)}"
                )
        clone = self._clone()
        clone._order = list(names)
        return clone

    def reverse(self) -> DynamoQuerySet:
        """Return the QuerySet in the opposite order."""
        clone = self._clone()
        clone._order = [n[1:] if n.startswith("-") else f"-{n}" for n in self.ordering]
        return clone

    def prefetch(self, *relations: str) -> DynamoQuerySet:
        """Load the referenced items of the whole result set with one BatchGetItem per table."""
        for relation in relations:
            self.model._meta.related_model(relation)
        clone = self._clone()
        clone._prefetch.extend(r for r in relations if r not in clone._prefetch)
        return clone

    prefetch_related = prefetch
    select_related = prefetch

    def consistent(self, value: bool = True) -> DynamoQuerySet:
        """Return a QuerySet that reads strongly consistently and bypasses the caches.

        A plan that needs a global secondary index raises ConsistencyError: DynamoDB
        never reads a GSI consistently.
        """
        clone = self._clone()
        clone._consistent = value
        return clone

    def uncached(self) -> DynamoQuerySet:
        """Return a QuerySet that asks DynamoDB, not this process's caches (a GSI read stays eventual)."""
        clone = self._clone()
        clone._uncached = True
        return clone

    @property
    def _use_caches(self) -> bool:
        return not (self._consistent or self._uncached)

    def values(self, *fields: str) -> DynamoQuerySet:
        """Return dicts instead of instances."""
        return self._as_values(fields, "dict")

    def values_list(self, *fields: str, flat: bool = False) -> DynamoQuerySet:
        """Return tuples (or single values with flat=True) instead of instances."""
        if flat and len(fields) != 1:
            raise TypeError("'flat' is valid only with a single field in values_list().")
        return self._as_values(fields, "flat" if flat else "tuple")

    def distinct(self, *field_names: str) -> DynamoQuerySet:
        """Return a QuerySet without duplicate rows (meaningful after values() / values_list())."""
        if field_names:
            raise NotSupported("distinct(*fields) (DISTINCT ON) is PostgreSQL-only in Django and not supported.")
        clone = self._clone()
        clone._distinct = True
        return clone

    def only(self, *fields: str) -> DynamoQuerySet:
        """Return instances holding only these fields (and pk); reading another loads the whole item."""
        self._check_fields(fields)
        clone = self._clone()
        clone._only = frozenset(fields) | set(self.model._meta.keys.names)
        return clone

    def defer(self, *fields: str) -> DynamoQuerySet:
        """Return instances without these fields; reading one loads the whole item."""
        self._check_fields(fields)
        clone = self._clone()
        if not fields:
            clone._only = None
            return clone
        current = self._only if self._only is not None else frozenset(self.model._meta.fields)
        clone._only = current - set(fields) | set(self.model._meta.keys.names)
        return clone

    def _check_fields(self, fields: tuple) -> None:
        for name in fields:
            if name not in self.model._meta.fields:
                raise FieldError(f"Cannot resolve keyword '{name}' into field of {self.model.__name__}.")

    def _as_values(self, fields: tuple, mode: str) -> DynamoQuerySet:
        self._check_fields(fields)
        clone = self._clone()
        clone._values = tuple(fields) or tuple(self.model._meta.fields)
        clone._values_mode = mode
        return clone

    @property
    def ordering(self) -> list[str]:
        """Return the effective ordering: order_by()'s names, else the model's Meta.ordering."""
        return self.model._meta.ordering if self._order is None else self._order

    @property
    def ordered(self) -> bool:
        """Return whether the results come in a defined order (Django's QuerySet.ordered)."""
        return bool(self.ordering)

    # -- planning ------------------------------------------------------------
    def _plan(self, *, for_count: bool = False) -> Plan:
        return plan(
            self.model._meta,
            self._where,
            self.ordering,
            high=self._high,
            for_count=for_count,
            consistent=self._consistent,
            attributes=None if for_count else self._attributes(),
            now=scalars.ttl_clock() if self.model._meta.ttl_field is not None else None,
        )

    def _attributes(self) -> set[str] | None:
        """Return the fields evaluation needs (values() / only()), or None for whole items."""
        if self._prefetch:
            return None  # relations are read from whole items
        if self._values_mode is not None and self._values is not None:
            return set(self._values)
        return set(self._only) if self._only is not None else None

    def explain(self) -> dict:
        """Return the planned DynamoDB operation, index and expressions."""
        return self._plan().as_dict()

    # -- evaluation ------------------------------------------------------------
    def _stream(self, the_plan: Plan) -> Iterator[Any]:
        return stream(self.model, the_plan, self._use_caches)

    def _order_in_memory(self, objs: list) -> list:
        for name in reversed(self.ordering):
            objs.sort(key=_null_first_key(name.lstrip("-")), reverse=name.startswith("-"))
        return objs

    def _instances(self) -> list:
        the_plan = self._plan()
        objs_stream = self._stream(the_plan)
        if self.ordering and not the_plan.ordered_by_db:
            objs = self._order_in_memory(list(objs_stream))[self._low : self._high]
        else:
            objs = list(itertools.islice(objs_stream, self._low, self._high))
        if self._prefetch:
            attach_related(self.model, objs, self._prefetch)
        return objs

    def _transform(self, objs: list) -> list:
        if self._values_mode is None:
            return objs
        names = self._values or ()
        if self._values_mode == "dict":
            rows: list = [{n: o.__dict__.get(n) for n in names} for o in objs]
        elif self._values_mode == "flat":
            rows = [o.__dict__.get(names[0]) for o in objs]
        else:
            rows = [tuple(o.__dict__.get(n) for n in names) for o in objs]
        return _distinct(rows) if self._distinct else rows

    def _fetch_all(self) -> list:
        if self._result_cache is None:
            if self._distinct and self._values_mode is not None and (self._low or self._high is not None):
                # DISTINCT applies before LIMIT/OFFSET: dedupe the whole result, then slice.
                whole = self._clone()
                whole._low, whole._high = 0, None
                self._result_cache = whole._fetch_all()[self._low : self._high]
            else:
                self._result_cache = self._transform(self._instances())
        return self._result_cache

    def __iter__(self) -> Iterator[Any]:
        return iter(self._fetch_all())

    def __len__(self) -> int:
        return len(self._fetch_all())

    def __bool__(self) -> bool:
        return bool(self._fetch_all())

    def __repr__(self) -> str:
        data = list(self[:21]) if self._result_cache is None else self._result_cache[:21]
        suffix = ", ...(remaining elements truncated)..." if len(data) > 20 else ""
        return f"<{type(self).__name__} {data[:20]!r}{suffix}>"

    def __getitem__(self, key: int | slice) -> Any:
        if not isinstance(key, (int, slice)):
            raise TypeError(f"QuerySet indices must be integers or slices, not {type(key).__name__}.")
        if (isinstance(key, int) and key < 0) or (
            isinstance(key, slice) and ((key.start or 0) < 0 or (key.stop is not None and key.stop < 0))
        ):
            raise ValueError("Negative indexing is not supported.")
        if self._result_cache is not None:
            return self._result_cache[key]
        if isinstance(key, slice):
            if key.step not in (None, 1):
                return list(self[key.start : key.stop])[:: key.step]
            clone = self._clone()
            start = key.start or 0
            clone._low = self._low + start
            if key.stop is not None:
                stop = self._low + key.stop
                clone._high = stop if self._high is None else min(self._high, stop)
            return clone
        clone = self._clone()
        clone._low = self._low + key
        clone._high = clone._low + 1
        result = clone._fetch_all()
        if not result:
            raise IndexError("QuerySet index out of range")
        return result[0]

    # -- terminal reads -------------------------------------------------------
    def iterator(self, chunk_size: int | None = None) -> Iterator[Any]:
        """Stream results page by page without keeping them (no caching)."""
        the_plan = self._plan()
        if self.ordering and not the_plan.ordered_by_db:
            yield from self._fetch_all()
            return
        objs = itertools.islice(self._stream(the_plan), self._low, self._high)
        size = chunk_size or 100
        while chunk := list(itertools.islice(objs, size)):
            if self._prefetch:
                attach_related(self.model, chunk, self._prefetch)
            yield from self._transform(chunk)

    def count(self) -> int:
        """Return the number of matching items (Select=COUNT for Query/Scan)."""
        if self._result_cache is not None:
            return len(self._result_cache)
        the_plan = self._plan(for_count=True)
        if the_plan.empty:
            return 0
        if self._low or self._high is not None or the_plan.operation in ("GetItem", "BatchGetItem"):
            return len(self._fetch_all())
        return count(self.model, the_plan, self._use_caches)

    def exists(self) -> bool:
        """Return whether any item matches (stops at the first)."""
        if self._result_cache is not None:
            return bool(self._result_cache)
        return bool(self[:1]._fetch_all())

    def first(self) -> Any:
        """Return the first item in the QuerySet's ordering, or by pk when it has none (as Django), or None.

        Without an ordering DynamoDB's order is not pk order, so every match is read to find the smallest pk.
        """
        qs = self if self.ordered else self.order_by("pk")
        items = qs[:1]._fetch_all()
        return items[0] if items else None

    def last(self) -> Any:
        """Return the last item in the QuerySet's ordering (or by pk), or None."""
        qs = self.reverse() if self.ordered else self.order_by("-pk")
        items = qs[:1]._fetch_all()
        return items[0] if items else None

    def paginate(self, limit: int, start_key: dict | None = None) -> Page:
        """Return at most ``limit`` items and the key to continue from (DynamoDB-native paging)."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        the_plan = self._plan()
        if the_plan.operation in ("GetItem", "BatchGetItem"):
            return Page(self._transform(list(self._stream(the_plan))), None)
        if self.ordering and not the_plan.ordered_by_db:
            raise FieldError(
                f"paginate() needs an order DynamoDB can serve; order_by({', '.join(self.ordering)}) "
                "is not the sort key of the index this query uses"
            )
        raws, next_key = page(self.model, the_plan, limit, start_key, self._use_caches)
        objs = [self.model.from_raw(raw, partial=partial(the_plan)) for raw in raws]
        if the_plan.residual is not None:
            objs = [obj for obj in objs if matches(the_plan.residual, obj.__dict__)]
        if self._prefetch:
            attach_related(self.model, objs, self._prefetch)
        return Page(self._transform(objs), next_key or None)

    def across_shards(self, field: str) -> MergedQuery:
        """Return this QuerySet read from every shard partition of a ShardKeyField's index, merged."""
        return MergedQuery(self, field)

    def aggregate(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Return {alias: value} for Django aggregates (Count, Sum, Min, Max, Avg), computed over the matches."""
        wanted = aggregates.named(args, kwargs)
        names = aggregates.fields_read(self.model, wanted.values())
        rows = self.values(*names) if names else self.values(self.model._meta.keys.names[0])
        return aggregates.compute(self.model, wanted, list(rows))


def _expand_pk(meta: Any, names: Any) -> Any:
    """Yield order_by names with "pk" / "-pk" spelled out as the key fields of a composite key."""
    for name in names:
        if meta.composite_key and name.lstrip("-") == "pk":
            sign = "-" if name.startswith("-") else ""
            yield from (f"{sign}{part}" for part in meta.keys.names)
        else:
            yield name


def _null_first_key(attr: str) -> Any:
    """Sort key that puts None before every value, as SQLite orders NULLs."""

    def key(obj: Any) -> tuple:
        value = obj.__dict__.get(attr)
        return (value is not None, value if value is not None else 0)

    return key


def _distinct(rows: list) -> list:
    """Return rows without repeats, first occurrence kept (values() rows may hold unhashable lists)."""
    seen: list = []
    hashed: set = set()
    out = []
    for row in rows:
        key = tuple(row.items()) if isinstance(row, dict) else row
        try:
            if key in hashed:
                continue
            hashed.add(key)
        except TypeError:
            if key in seen:
                continue
            seen.append(key)
        out.append(row)
    return out
