"""The QuerySet's lookups of single items and keys: get, in_bulk.

A mixin of DynamoQuerySet, kept apart so query.py holds chaining and evaluation;
get(pk=...) goes straight to the read path (loading.py), with no plan.
"""

from __future__ import annotations

import itertools
import re
from typing import TYPE_CHECKING, Any

from .expressions import Node, Q, resolve_leaf
from .loading import load_one
from .relations import attach_related

if TYPE_CHECKING:
    from collections.abc import Iterator

    from .planner import Plan

__all__ = ["QuerySetLookups"]

# A pk already in canonical form (what UUIDField.to_python returns) needs no parsing.
_CANONICAL_PK = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class QuerySetLookups:
    """Single-item and by-key lookups of DynamoQuerySet."""

    # Provided by DynamoQuerySet.
    model: Any
    _where: list[Node]
    _low: int
    _high: int | None
    _values_mode: str | None
    _only: Any
    _distinct: Any
    _consistent: bool
    _prefetch: Any

    if TYPE_CHECKING:

        @property
        def _use_caches(self) -> bool: ...
        def filter(self, *args: Q, **kwargs: Any) -> Any: ...
        def consistent(self, value: bool = True) -> Any: ...
        def _clone(self) -> Any: ...
        def _plan(self, *, for_count: bool = False) -> Plan: ...
        def _stream(self, the_plan: Plan) -> Iterator[Any]: ...
        def _transform(self, objs: list) -> list: ...
        def __iter__(self) -> Iterator[Any]: ...

    def get(self, *args: Q, consistent_read: bool = False, **kwargs: Any) -> Any:
        """Return the one matching item; raise DoesNotExist or MultipleObjectsReturned."""
        if not args and kwargs.keys() == {"pk"} and self._whole_items():
            return self._get_by_pk(kwargs["pk"], consistent_read)
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

    def _whole_items(self) -> bool:
        """Return whether this QuerySet reads whole items with no condition, slice or projection."""
        return not (
            self._where or self._low or self._high is not None or self._values_mode or self._only or self._distinct
        )

    def _get_by_pk(self, pk: Any, consistent_read: bool) -> Any:
        """get(pk=...) on a plain QuerySet: the read path directly, no plan (the hot path of a detail page)."""
        meta = self.model._meta
        if meta.composite_key:
            key = meta.keys.normalize(pk) if pk is not None else None
        else:
            canonical = isinstance(pk, str) and _CANONICAL_PK.fullmatch(pk) is not None
            key = pk if canonical else resolve_leaf(self.model, "pk", pk).value
        consistent = consistent_read or self._consistent
        cached = self._use_caches and not consistent
        raw = load_one(self.model, key, consistent=consistent, cached=cached) if key is not None else None
        if raw is None:
            raise self.model.DoesNotExist(f"{self.model.__name__} matching query does not exist.")
        obj = self.model.from_raw(raw)
        if self._prefetch:
            attach_related(self.model, [obj], self._prefetch)
        return obj

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
        keys = self.model._meta.keys
        wanted = [keys.normalize(i if keys.composite else str(i)) for i in ids]
        return {pk: by_pk[pk] for pk in dict.fromkeys(wanted) if pk in by_pk}
