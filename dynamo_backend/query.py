"""The lazy DynamoQuerySet: chaining builds conditions; evaluation plans, executes and shapes results.

planner.py decides how to read (pure); execution.py reads; writes.py writes.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

from . import loading, writes
from .exceptions import FieldError, ItemAlreadyExists, UniqueConstraintError
from .execution import Page, count, page, stream
from .expressions import F, Node, Q, resolve
from .planner import Plan, plan

__all__ = ["DynamoQuerySet", "Page", "attach_related"]


class DynamoQuerySet:
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
            node = Node(Q.AND, True, [node])
        clone = self._clone()
        if node.children:
            clone._where.append(node)
        return clone

    def order_by(self, *names: str) -> DynamoQuerySet:
        """Return a QuerySet ordered by fields (in memory unless a GSI sort key serves it).

        ``order_by()`` with no names clears the ordering, Meta.ordering included.
        """
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
        return plan(self.model._meta, self._where, self.ordering, high=self._high, for_count=for_count)

    def explain(self) -> dict:
        """Return the planned DynamoDB operation, index and expressions."""
        return self._plan().as_dict()

    # -- evaluation ------------------------------------------------------------
    def _stream(self, the_plan: Plan) -> Iterator[Any]:
        return stream(self.model, the_plan, self._consistent)

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
        return count(self.model, the_plan, self._consistent)

    def exists(self) -> bool:
        """Return whether any item matches (stops at the first)."""
        if self._result_cache is not None:
            return bool(self._result_cache)
        return bool(self[:1]._fetch_all())

    def first(self) -> Any:
        """Return the first item (in the QuerySet's ordering, else by pk as Django does) or None."""
        if self._result_cache is not None:
            return self._result_cache[0] if self._result_cache else None
        items = self[:1]._fetch_all()
        return items[0] if items else None

    def last(self) -> Any:
        """Return the last item or None."""
        if self.ordering:
            return self.reverse().first()
        items = self._fetch_all()
        return items[-1] if items else None

    def get(self, *args: Q, consistent_read: bool = False, **kwargs: Any) -> Any:
        """Return the one matching item; raise DoesNotExist or MultipleObjectsReturned."""
        qs = self.filter(*args, **kwargs) if (args or kwargs) else self._clone()
        if consistent_read:
            qs._consistent = True
        stop = min(qs._low + 2, qs._high or qs._low + 2)
        objs = list(itertools.islice(qs._stream(qs._plan()), qs._low, stop))
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
            chosen = self if id_list is None else self.filter(**{f"{field_name}__in": list(id_list)})
            return {getattr(o, field_name): o for o in chosen}
        if id_list is None:
            return {o.pk: o for o in self}
        ids = list(id_list)
        if not ids:
            return {}
        by_pk = {o.pk: o for o in self.filter(pk__in=ids)}
        return {pk: by_pk[pk] for pk in dict.fromkeys(str(i) for i in ids) if pk in by_pk}

    def paginate(self, limit: int, start_key: dict | None = None) -> Page:
        """Return at most ``limit`` items and the key to continue from (DynamoDB-native paging)."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        the_plan = self._plan()
        if the_plan.operation in ("GetItem", "BatchGetItem"):
            return Page(list(self._stream(the_plan)), None)
        if self.ordering and not the_plan.ordered_by_db:
            raise FieldError(
                f"paginate() needs an order DynamoDB can serve; order_by({', '.join(self.ordering)}) "
                "is not the sort key of the index this query uses"
            )
        raws, next_key = page(self.model, the_plan, limit, start_key, self._consistent)
        objs = [self.model.from_raw(raw) for raw in raws]
        if self._prefetch:
            attach_related(self.model, objs, self._prefetch)
        return Page(self._transform(objs), next_key or None)

    # -- writes ------------------------------------------------------------------
    def create(self, **kwargs: Any) -> Any:
        """Create and save an item; never overwrites an existing one."""
        obj = self.model(**kwargs)
        obj.save()
        return obj

    def bulk_create(self, objs: list, batch_size: int | None = None) -> list:
        """Validate every object, then write them with BatchWriteItem (at most min(batch_size, 25) a call)."""
        return writes.bulk_insert(self.model, list(objs), batch_size)

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
            return self.consistent().get(**kwargs), False

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
        changes = writes.clean_changes(self.model, kwargs)
        version = meta.version_field
        if version is not None and version.name not in changes:
            changes[version.name] = F(version.name) + 1
        unique_changed = [f for f in meta.unique_fields if f.name in changes]
        the_plan = self._plan()
        if the_plan.empty:
            return 0
        if the_plan.operation == "GetItem" and the_plan.residual is None and not unique_changed and the_plan.keys:
            return int(writes.update_item(self.model, the_plan.keys[0], changes))
        condition = Node(Q.AND, False, list(self._where)) if self._where else None
        done = 0
        for obj in list(self._stream(the_plan)):
            if unique_changed:
                done += writes.update_unique_item(obj, changes, unique_changed, condition)
            else:
                done += writes.update_item(self.model, obj.pk, changes, condition)
        return done

    def delete(self) -> tuple[int, dict[str, int]]:
        """Delete every matching item with BatchWriteItem (25 a call); return Django's pair."""
        self._check_unsliced("delete")
        if self._values_mode is not None:
            raise TypeError("Cannot call delete() after values() or values_list().")
        deleted = writes.bulk_delete(self.model, list(self._stream(self._plan())))
        return deleted, {self.model._meta.label: deleted}


def _null_first_key(attr: str) -> Any:
    """Sort key that puts None before every value, as SQLite orders NULLs."""

    def key(obj: Any) -> tuple:
        value = obj.__dict__.get(attr)
        return (value is not None, value if value is not None else 0)

    return key


def attach_related(model: Any, objs: list, relations: list[str]) -> None:
    """Load each relation for all objs at once (one BatchGetItem per table for uncached keys)."""
    for relation in relations:
        field_name, _ = model._meta.references[relation]
        target = model._meta.related_model(relation)
        keys = [o.__dict__.get(field_name) for o in objs]
        found = loading.load_many(target, [k for k in keys if k is not None])
        cache_name = f"_rel_{relation}"
        for obj, key in zip(objs, keys, strict=True):
            raw = found.get(key) if key is not None else None
            obj.__dict__[cache_name] = target.from_raw(raw) if raw is not None else None
