"""The lazy DynamoQuerySet and its planner: GetItem, BatchGetItem, Query on a GSI, or Scan."""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

from . import batch, cache, connection, loading
from .conf import get_setting
from .exceptions import ConditionalCheckFailed, FieldError, ItemAlreadyExists, UniqueConstraintError, ValidationError
from .expressions import (
    KEY_LOOKUPS,
    Builder,
    Combined,
    F,
    Leaf,
    Node,
    Q,
    check_f_fields,
    compile_leaf,
    compile_node,
    compile_update,
    matches,
    resolve,
)
from .fields import FieldValueError


@dataclass
class Plan:
    """How a QuerySet will be read from DynamoDB."""

    operation: str
    table: str
    index: str | None = None
    keys: list[str] = dc_field(default_factory=list)
    key_condition: str | None = None
    filter: str | None = None
    names: dict = dc_field(default_factory=dict)
    values: dict = dc_field(default_factory=dict)
    scan_index_forward: bool | None = None
    limit: int | None = None
    residual: Node | None = None
    ordered_by_db: bool = False
    empty: bool = False
    unique: tuple[str, str] | None = None  # (field, stored value): found through its claim

    def as_dict(self) -> dict:
        """Return the plan as plain data (what explain() shows)."""
        out = {
            "operation": self.operation,
            "table": self.table,
            "index": self.index,
            "key_condition": self.key_condition,
            "filter": self.filter,
            "names": dict(self.names),
            "values": copy.deepcopy(self.values),
            "scan_index_forward": self.scan_index_forward,
            "limit": self.limit,
        }
        if self.keys:
            out["keys"] = list(self.keys)
        if self.unique is not None:
            out["via_unique_claim"] = {"field": self.unique[0], "value": self.unique[1]}
        if self.residual is not None:
            out["evaluated_in_python"] = True
        return out

    def request(self) -> dict:
        """Return the Query/Scan request parameters."""
        params: dict = {"TableName": self.table}
        if self.index:
            params["IndexName"] = self.index
        if self.key_condition:
            params["KeyConditionExpression"] = self.key_condition
        if self.filter:
            params["FilterExpression"] = self.filter
        if self.names:
            params["ExpressionAttributeNames"] = self.names
        if self.values:
            params["ExpressionAttributeValues"] = self.values
        if self.scan_index_forward is not None:
            params["ScanIndexForward"] = self.scan_index_forward
        return params

    def cache_key(self, *extra: Any) -> str:
        """Return a stable key for the query cache."""
        return json.dumps([self.request(), *extra], sort_keys=True, default=str)


@dataclass
class Page:
    """One page of results and the key to continue from (None at the end)."""

    items: list
    next_key: dict | None


def _conjuncts(node: Node) -> list:
    """Flatten top-level ANDs into a list of conditions."""
    if node.connector == Q.AND and not node.negated:
        out = []
        for child in node.children:
            out.extend(_conjuncts(child) if isinstance(child, Node) else [child])
        return out
    return [node]


class DynamoQuerySet:
    """A lazy, chainable query over one model's table."""

    def __init__(self, model: Any = None) -> None:
        self.model = model
        self._where: list[Node] = []
        self._order: list[str] = []
        self._low = 0
        self._high: int | None = None
        self._values: tuple | None = None
        self._values_mode: str | None = None  # "dict" | "tuple" | "flat"
        self._prefetch: list[str] = []
        self._consistent = False
        self._result_cache: list | None = None

    # -- cloning and chaining ----------------------------------------------
    def _clone(self) -> DynamoQuerySet:
        clone = type(self).__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone._where = list(self._where)
        clone._order = list(self._order)
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
            node = Node(Q.AND, True, [node])
        clone = self._clone()
        if node.children:
            clone._where.append(node)
        return clone

    def order_by(self, *names: str) -> DynamoQuerySet:
        """Return a QuerySet ordered by fields (in memory unless a GSI sort key serves it)."""
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
        clone._order = [n[1:] if n.startswith("-") else f"-{n}" for n in self._order]
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
        """Return a QuerySet that reads strongly consistently and bypasses the caches."""
        clone = self._clone()
        clone._consistent = value
        return clone

    def values(self, *fields: str) -> DynamoQuerySet:
        """Return dicts instead of instances."""
        return self._as_values(fields, "dict")

    def values_list(self, *fields: str, flat: bool = False) -> DynamoQuerySet:
        """Return tuples (or single values with flat=True) instead of instances."""
        if flat and len(fields) != 1:
            raise TypeError("'flat' is valid only with a single field in values_list().")
        return self._as_values(fields, "flat" if flat else "tuple")

    def _as_values(self, fields: tuple, mode: str) -> DynamoQuerySet:
        for name in fields:
            if name not in self.model._meta.fields:
                raise FieldError(f"Cannot resolve keyword '{name}' into field of {self.model.__name__}.")
        clone = self._clone()
        clone._values = tuple(fields) or tuple(self.model._meta.fields)
        clone._values_mode = mode
        return clone

    # -- planning ------------------------------------------------------------
    def _plan(self, *, for_count: bool = False) -> Plan:
        meta = self.model._meta
        table = meta.table_name
        conjuncts: list = []
        for node in self._where:
            conjuncts.extend(_conjuncts(node))

        def rest(excluded: list) -> Node | None:
            left = [c for c in conjuncts if not any(c is e for e in excluded)]
            return Node(Q.AND, False, left) if left else None

        for cond in conjuncts:
            if isinstance(cond, Leaf) and cond.field.name == "pk" and cond.lookup == "exact":
                if cond.value is None:
                    return Plan("GetItem", table, empty=True)
                return Plan("GetItem", table, keys=[cond.value], residual=rest([cond]))
        for cond in conjuncts:
            if isinstance(cond, Leaf) and cond.field.name == "pk" and cond.lookup == "in":
                keys = list(dict.fromkeys(cond.value))
                return Plan("BatchGetItem", table, keys=keys, residual=rest([cond]), empty=not keys)
        indexed = {i.partition_key for i in meta.indexes}
        for cond in conjuncts:
            # Equality on a unique field: its claim names the one item that can hold
            # the value (two GetItems instead of a Scan). The condition stays in the
            # residual, so a stale claim never returns the wrong item.
            if (
                isinstance(cond, Leaf)
                and cond.field.unique
                and cond.lookup == "exact"
                and cond.value is not None
                and cond.field.name not in indexed
            ):
                stored = cond.field.value_to_av(cond.value)["S"]
                return Plan("GetItem", table, unique=(cond.field.name, stored), residual=rest([]))

        order = self._order
        best = None
        for index in meta.indexes:
            hash_leaf = next(
                (
                    c
                    for c in conjuncts
                    if isinstance(c, Leaf)
                    and c.field.name == index.partition_key
                    and c.lookup == "exact"
                    and c.value not in (None, "")
                ),
                None,
            )
            if hash_leaf is None:
                continue
            score, sort_leaf = 0, None
            if index.sort_key:
                sort_leaf = next(
                    (
                        c
                        for c in conjuncts
                        if isinstance(c, Leaf)
                        and c.field.name == index.sort_key
                        and c.lookup in KEY_LOOKUPS
                        and c.value is not None
                        and c is not hash_leaf
                    ),
                    None,
                )
                if len(order) == 1 and order[0].lstrip("-") == index.sort_key:
                    score += 2
                if sort_leaf is not None:
                    score += 1
            if best is None or score > best[0]:
                best = (score, index, hash_leaf, sort_leaf)

        builder = Builder()
        if best is not None:
            _, index, hash_leaf, sort_leaf = best
            key_condition = compile_leaf(hash_leaf, builder)
            used = [hash_leaf]
            if sort_leaf is not None:
                key_condition = f"{key_condition} AND {compile_leaf(sort_leaf, builder)}"
                used.append(sort_leaf)
            remaining = rest(used)
            filter_expr = compile_node(remaining, builder) if remaining else None
            plan = Plan("Query", table, index=index.name, key_condition=key_condition, filter=filter_expr or None)
            if index.sort_key and len(order) == 1 and order[0].lstrip("-") == index.sort_key:
                plan.scan_index_forward = not order[0].startswith("-")
                plan.ordered_by_db = True
        else:
            everything = rest([])
            filter_expr = compile_node(everything, builder) if everything else None
            plan = Plan("Scan", table, filter=filter_expr or None)
        plan.names, plan.values = builder.names, builder.values
        if not for_count and self._high is not None and not plan.filter and (plan.ordered_by_db or not order):
            plan.limit = self._high
        return plan

    def explain(self) -> dict:
        """Return the planned DynamoDB operation, index and expressions."""
        return self._plan().as_dict()

    # -- execution -----------------------------------------------------------
    def _query_cache_on(self) -> bool:
        return (
            not self._consistent
            and bool(get_setting("QUERY_CACHE_TTL"))
            and bool(self.model._meta.effective_cache_ttl())
        )

    def _pages(
        self, plan: Plan, *, start_key: dict | None = None, limit: int | None = None, select_count: bool = False
    ) -> Iterator[dict]:
        """Yield raw Query/Scan responses, following LastEvaluatedKey."""
        params = plan.request()
        if self._consistent and not plan.index:
            params["ConsistentRead"] = True
        if select_count:
            params["Select"] = "COUNT"
        if start_key:
            params["ExclusiveStartKey"] = start_key
        while True:
            if limit is not None:
                params["Limit"] = limit
            response = connection.call(plan.operation, **params)
            yield response
            last = response.get("LastEvaluatedKey")
            if not last:
                return
            params["ExclusiveStartKey"] = last

    def _stream_raw(self, plan: Plan) -> Iterator[dict]:
        """Yield raw items of a Query/Scan plan, from the query cache when it can answer."""
        use_cache = self._query_cache_on()
        key = plan.cache_key("items", plan.limit) if use_cache else None
        generation = cache.query_cache.generation(plan.table) if use_cache else None
        if use_cache:
            hit = cache.query_cache.get(plan.table, key)
            if hit is not None:
                yield from hit
                return
        collected: list[dict] = []
        mark = cache.item_cache.mark()
        for response in self._pages(plan, limit=plan.limit):
            for item in response.get("Items", ()):
                loading.remember(self.model, item, since=mark, replace=plan.index is None)
                collected.append(item)
                yield item
        if use_cache:
            cache.query_cache.put(
                plan.table, key, tuple(collected), get_setting("QUERY_CACHE_TTL"), generation=generation
            )

    def _stream(self, plan: Plan) -> Iterator[Any]:
        """Yield instances matching the plan, in storage order."""
        if plan.empty:
            return
        model = self.model
        if plan.operation == "GetItem":
            key = plan.keys[0] if plan.keys else loading.claim_owner(model, *plan.unique, consistent=self._consistent)
            raw = loading.load_one(model, key, consistent=self._consistent) if key else None
            raws = [raw] if raw is not None else []
        elif plan.operation == "BatchGetItem":
            found = loading.load_many(model, plan.keys, consistent=self._consistent)
            raws = [found[k] for k in plan.keys if k in found]
        else:
            raws = self._stream_raw(plan)
        for raw in raws:
            obj = model.from_raw(raw)
            if plan.residual is not None and not matches(plan.residual, obj.__dict__):
                continue
            yield obj

    def _order_in_memory(self, objs: list) -> list:
        for name in reversed(self._order):
            descending = name.startswith("-")
            attr = name.lstrip("-")
            objs.sort(
                key=lambda o, a=attr: (
                    o.__dict__.get(a) is not None,
                    o.__dict__.get(a) if o.__dict__.get(a) is not None else 0,
                ),
                reverse=descending,
            )
        return objs

    def _instances(self) -> list:
        plan = self._plan()
        stream = self._stream(plan)
        needs_sort = bool(self._order) and not plan.ordered_by_db
        if needs_sort:
            objs = self._order_in_memory(list(stream))
            objs = objs[self._low : self._high]
        else:
            objs = list(itertools.islice(stream, self._low, self._high))
        if self._prefetch:
            attach_related(self.model, objs, self._prefetch)
        return objs

    def _transform(self, objs: list) -> list:
        if self._values_mode is None:
            return objs
        names = self._values
        if self._values_mode == "dict":
            return [{n: o.__dict__.get(n) for n in names} for o in objs]
        if self._values_mode == "flat":
            return [o.__dict__.get(names[0]) for o in objs]
        return [tuple(o.__dict__.get(n) for n in names) for o in objs]

    def _fetch_all(self) -> list:
        if self._result_cache is None:
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
        plan = self._plan()
        if self._order and not plan.ordered_by_db:
            yield from self._fetch_all()
            return
        stream = itertools.islice(self._stream(plan), self._low, self._high)
        size = chunk_size or 100
        while True:
            chunk = list(itertools.islice(stream, size))
            if not chunk:
                return
            if self._prefetch:
                attach_related(self.model, chunk, self._prefetch)
            yield from self._transform(chunk)

    def count(self) -> int:
        """Return the number of matching items (Select=COUNT for Query/Scan)."""
        if self._result_cache is not None:
            return len(self._result_cache)
        plan = self._plan(for_count=True)
        if plan.empty:
            return 0
        if self._low or self._high is not None or plan.operation in ("GetItem", "BatchGetItem"):
            return len(self._fetch_all())
        use_cache = self._query_cache_on()
        key = plan.cache_key("count") if use_cache else None
        generation = cache.query_cache.generation(plan.table) if use_cache else None
        if use_cache:
            hit = cache.query_cache.get(plan.table, key)
            if hit is not None:
                return hit
        total = sum(r.get("Count", 0) for r in self._pages(plan, select_count=True))
        if use_cache:
            cache.query_cache.put(plan.table, key, total, get_setting("QUERY_CACHE_TTL"), generation=generation)
        return total

    def exists(self) -> bool:
        """Return whether any item matches (stops at the first)."""
        if self._result_cache is not None:
            return bool(self._result_cache)
        return bool(self[:1]._fetch_all())

    def first(self) -> Any:
        """Return the first item or None."""
        if self._result_cache is not None:
            return self._result_cache[0] if self._result_cache else None
        items = self[:1]._fetch_all()
        return items[0] if items else None

    def last(self) -> Any:
        """Return the last item or None."""
        if self._order:
            return self.reverse().first()
        items = self._fetch_all()
        return items[-1] if items else None

    def get(self, *args: Q, consistent_read: bool = False, **kwargs: Any) -> Any:
        """Return the one matching item; raise DoesNotExist or MultipleObjectsReturned."""
        qs = self.filter(*args, **kwargs) if (args or kwargs) else self._clone()
        if consistent_read:
            qs._consistent = True
        plan = qs._plan()
        objs = list(itertools.islice(qs._stream(plan), qs._low, min(qs._low + 2, qs._high or qs._low + 2)))
        if not objs:
            raise self.model.DoesNotExist(f"{self.model.__name__} matching query does not exist.")
        if len(objs) > 1:
            raise self.model.MultipleObjectsReturned(f"get() returned more than one {self.model.__name__}.")
        if qs._prefetch:
            attach_related(self.model, objs, qs._prefetch)
        return qs._transform(objs)[0]

    def in_bulk(self, id_list: list | None = None, *, field_name: str = "pk", consistent_read: bool = False) -> dict:
        """Return {pk: instance} for the given pks, in their order (BatchGetItem, 100 a call)."""
        if consistent_read:
            return self.consistent().in_bulk(id_list, field_name=field_name)
        if field_name != "pk":
            field = self.model._meta.fields.get(field_name)
            if field is None or not field.unique:
                raise ValueError(f"in_bulk()'s field_name must be a unique field but '{field_name}' isn't.")
            if id_list is None:
                return {getattr(o, field_name): o for o in self}
            return {getattr(o, field_name): o for o in self.filter(**{f"{field_name}__in": list(id_list)})}
        if id_list is None:
            return {o.pk: o for o in self}
        ids = list(id_list)
        if not ids:
            return {}
        objs = list(self.filter(pk__in=ids))
        by_pk = {o.pk: o for o in objs}
        return {pk: by_pk[pk] for pk in dict.fromkeys(str(i) for i in ids) if pk in by_pk}

    def paginate(self, limit: int, start_key: dict | None = None) -> Page:
        """Return at most ``limit`` items and the key to continue from (DynamoDB-native paging)."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        plan = self._plan()
        if plan.operation in ("GetItem", "BatchGetItem"):
            return Page(list(self._stream(plan)), None)
        if self._order and not plan.ordered_by_db:
            raise FieldError(
                f"paginate() needs an order DynamoDB can serve; order_by({', '.join(self._order)}) "
                "is not the sort key of the index this query uses"
            )
        use_cache = self._query_cache_on()
        key = plan.cache_key("page", limit, start_key) if use_cache else None
        generation = cache.query_cache.generation(plan.table) if use_cache else None
        hit = cache.query_cache.get(plan.table, key) if use_cache else None
        if hit is not None:
            raws, next_key = hit
        else:
            raws, next_key = [], start_key
            mark = cache.item_cache.mark()
            while True:
                # Limit counts evaluated items: ask only for what is still missing.
                response = next(self._pages(plan, start_key=next_key, limit=limit - len(raws)))
                raws.extend(response.get("Items", ()))
                next_key = response.get("LastEvaluatedKey")
                if len(raws) >= limit or not next_key:
                    break
            for raw in raws:
                loading.remember(self.model, raw, since=mark, replace=plan.index is None)
            if use_cache:
                cache.query_cache.put(
                    plan.table, key, (tuple(raws), next_key), get_setting("QUERY_CACHE_TTL"), generation=generation
                )
        objs = [self.model.from_raw(raw) for raw in raws]
        if self._prefetch:
            attach_related(self.model, objs, self._prefetch)
        return Page(self._transform(objs), cache.copy_raw(next_key) if next_key else None)

    # -- writes ------------------------------------------------------------------
    def create(self, **kwargs: Any) -> Any:
        """Create and save an item; never overwrites an existing one."""
        obj = self.model(**kwargs)
        obj.save()
        return obj

    def bulk_create(self, objs: list, batch_size: int | None = None) -> list:
        """Validate every object, then write them with BatchWriteItem (25 a call)."""
        objs = list(objs)
        if not objs:
            return objs
        errors: dict[str, list[str]] = {}
        for position, obj in enumerate(objs):
            if not isinstance(obj, self.model):
                raise TypeError(f"bulk_create() expects {self.model.__name__} instances")
            try:
                obj._prepare(add=True)
            except ValidationError as error:
                for name, messages in error.message_dict.items():
                    errors.setdefault(name, []).extend(f"item {position}: {m}" for m in messages)
        if errors:
            raise ValidationError(errors)
        pks = [obj.pk for obj in objs]
        if len(set(pks)) != len(pks):
            raise ValueError("bulk_create() got two objects with the same pk")
        version = self.model._meta.version_field
        items = []
        claimed: list[tuple[Any, list]] = []
        try:
            for obj in objs:
                if version is not None:
                    obj.__dict__[version.name] = 1
                item = obj.to_raw()
                claimed.append((obj, obj._claim_unique(item, previous={})))
                items.append(item)
            mark = loading.write_mark()
            batch.batch_write(self.model._meta.table_name, put_items=items)
        except Exception:
            for obj, claims in claimed:
                obj._release_unique(claims)
            raise
        from .models import ModelState

        for obj, item in zip(objs, items, strict=False):
            obj._state = ModelState(adding=False, stored=item)
            loading.remember(self.model, item, since=mark, write=True)
        loading.table_written(self.model)
        return objs

    def get_or_create(self, defaults: dict | None = None, **kwargs: Any) -> tuple[Any, bool]:
        """Return (object, created): look it up, else create it; safe against a racing create."""
        try:
            return self.get(**kwargs), False
        except self.model.DoesNotExist:
            pass
        params = {k: v for k, v in kwargs.items() if "__" not in k}
        params.update(defaults or {})
        params = {k: (v() if callable(v) else v) for k, v in params.items()}
        try:
            return self.create(**params), True
        except (UniqueConstraintError, ItemAlreadyExists):
            try:
                return self.consistent().get(**kwargs), False
            except self.model.DoesNotExist:
                raise

    def update_or_create(
        self, defaults: dict | None = None, create_defaults: dict | None = None, **kwargs: Any
    ) -> tuple[Any, bool]:
        """Update the matching object with defaults, or create it; return (object, created)."""
        defaults = defaults or {}
        try:
            obj = self.get(**kwargs)
        except self.model.DoesNotExist:
            params = {k: v for k, v in kwargs.items() if "__" not in k}
            params.update(defaults if create_defaults is None else create_defaults)
            try:
                return self.create(**params), True
            except (UniqueConstraintError, ItemAlreadyExists):
                obj = self.consistent().get(**kwargs)
        for name, value in defaults.items():
            setattr(obj, name, value() if callable(value) else value)
        obj.save()
        return obj, False

    def update(self, **kwargs: Any) -> int:
        """Apply changes with one conditional UpdateItem per matching item; F() updates are atomic."""
        self._check_unsliced("update")
        if not kwargs:
            return 0
        meta = self.model._meta
        changes = clean_changes(self.model, kwargs)
        version = meta.version_field
        if version is not None and version.name not in changes:
            changes[version.name] = F(version.name) + 1
        unique_changed = [f for f in meta.unique_fields if f.name in changes]
        plan = self._plan()
        if plan.empty:
            return 0
        if plan.operation == "GetItem" and plan.residual is None and not unique_changed:
            return 1 if self._update_one(plan.keys[0], changes, None) else 0
        condition = None
        conjuncts = [n for n in self._where]
        if conjuncts:
            condition = Node(Q.AND, False, conjuncts)
        count = 0
        for obj in list(self._stream(plan)):
            claims = []
            for field in unique_changed:
                value = changes[field.name]
                if value is not None and value != obj.__dict__.get(field.name):
                    obj._claim_unique({field.name: {"S": value}}, previous={})
                    claims.append((field.name, value))
            if self._update_one(obj.pk, changes, condition):
                count += 1
                for field in unique_changed:
                    old = obj.__dict__.get(field.name)
                    if old is not None and old != changes[field.name]:
                        obj._release_unique([(field.name, old)])
            else:
                obj._release_unique(claims)
        return count

    def _update_one(self, pk: str, changes: dict, condition: Node | None) -> bool:
        builder = Builder()
        expression = compile_update(self.model, changes, builder)
        condition_text = f"attribute_exists({builder.name('pk')})"
        if condition is not None:
            extra = compile_node(condition, builder)
            if extra:
                condition_text = f"{condition_text} AND ({extra})"
        mark = loading.write_mark()
        try:
            response = connection.call(
                "UpdateItem",
                TableName=self.model._meta.table_name,
                Key={"pk": {"S": pk}},
                UpdateExpression=expression,
                ConditionExpression=condition_text,
                ReturnValues="ALL_NEW",
                **builder.params(),
            )
        except ConditionalCheckFailed:
            # Nothing was written: drop what we knew of the item, keep the table's queries.
            loading.forget(self.model, pk)
            return False
        item = response.get("Attributes")
        if item:
            loading.remember(self.model, item, since=mark, write=True)
        else:
            loading.forget(self.model, pk)
        loading.table_written(self.model)
        return True

    def delete(self) -> tuple[int, dict[str, int]]:
        """Delete every matching item with BatchWriteItem (25 a call); return Django's pair."""
        self._check_unsliced("delete")
        if self._values_mode is not None:
            raise TypeError("Cannot call delete() after values() or values_list().")
        from .models import delete_cleanup

        plan = self._plan()
        objs = list(self._stream(plan))
        if not objs:
            return 0, {self.model._meta.label: 0}
        batch.batch_write(self.model._meta.table_name, delete_pks=[o.pk for o in objs])
        for obj in objs:
            delete_cleanup(self.model, obj.pk, obj._state.stored)
        return len(objs), {self.model._meta.label: len(objs)}


def clean_changes(model: Any, kwargs: dict) -> dict:
    """Validate update() keyword arguments: known fields, valid F() references, clean values."""
    changes: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for name, value in kwargs.items():
        field = model._meta.fields.get(name)
        if field is None:
            raise FieldError(f"{model.__name__} has no field named '{name}'")
        if name == "pk":
            raise FieldError("The primary key cannot be updated")
        if isinstance(value, (F, Combined)):
            check_f_fields(model, value)
            changes[name] = value
            continue
        try:
            changes[name] = field.clean(value)
        except FieldValueError as error:
            errors.setdefault(name, []).append(str(error))
    if errors:
        raise ValidationError(errors)
    return changes


def attach_related(model: Any, objs: list, relations: list[str]) -> None:
    """Load each relation for all objs at once (one BatchGetItem per table for uncached keys)."""
    for relation in relations:
        field_name, _ = model._meta.references[relation]
        target = model._meta.related_model(relation)
        keys = [o.__dict__.get(field_name) for o in objs]
        found = loading.load_many(target, [k for k in keys if k is not None])
        cache_name = f"_rel_{relation}"
        for obj, key in zip(objs, keys, strict=False):
            raw = found.get(key) if key is not None else None
            obj.__dict__[cache_name] = target.from_raw(raw) if raw is not None else None
