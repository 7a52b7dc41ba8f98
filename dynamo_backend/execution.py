"""Running a Plan: pages of Query/Scan, GetItem/BatchGetItem through the read path, the query cache."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from . import cache, connection, loading, unique
from .cache import thaw
from .conf import get_setting
from .expressions import matches
from .planner import Plan

__all__ = ["Page", "CachedQuery", "count", "page", "raw_items", "stream"]


@dataclass
class Page:
    """One page of results and the key to continue from (None at the end)."""

    items: list
    next_key: dict | None


class CachedQuery:
    """The query cache's entry for one planned request, when the cache is on for it.

    ``get()`` before reading (None on a miss), ``put(value)`` after: a write
    to the table in between makes the put a no-op, so a result read while the
    table changed is never cached.
    """

    def __init__(self, model: Any, plan: Plan, *parts: Any, cached: bool = True) -> None:
        self.enabled = cached and bool(get_setting("QUERY_CACHE_TTL")) and bool(model._meta.effective_cache_ttl())
        self.table = plan.table
        self.key = plan.cache_key(*parts) if self.enabled else ""
        self.generation: int | None = None

    def get(self) -> Any:
        if not self.enabled:
            return None
        self.generation = cache.query_cache.generation(self.table)
        return cache.query_cache.get(self.table, self.key)

    def put(self, value: Any) -> None:
        if self.enabled:
            cache.query_cache.put(
                self.table, self.key, value, get_setting("QUERY_CACHE_TTL"), generation=self.generation
            )


def pages(
    plan: Plan,
    *,
    start_key: dict | None = None,
    limit: int | None = None,
    select_count: bool = False,
) -> Iterator[dict]:
    """Yield raw Query/Scan responses, following LastEvaluatedKey lazily."""
    params = plan.request()
    if select_count:
        params["Select"] = "COUNT"
    if start_key:
        params["ExclusiveStartKey"] = start_key
    if limit is not None:
        params["Limit"] = limit
    while True:
        response = connection.call(plan.operation, **params)
        yield response
        last = response.get("LastEvaluatedKey")
        if not last:
            return
        params["ExclusiveStartKey"] = last


def _query_items(model: Any, plan: Plan, cached: bool) -> Iterator[dict]:
    """Yield raw items of a Query/Scan plan, from the query cache when it can answer."""
    entry = CachedQuery(model, plan, "items", plan.limit, cached=cached)
    hit = entry.get()
    if hit is not None:
        yield from hit
        return
    collected: list[dict] = []
    mark = cache.item_cache.mark()
    complete = plan.projection is None  # partial items must never stand for whole ones in the caches
    for response in pages(plan, limit=plan.limit):
        for item in response.get("Items", ()):
            if complete:
                loading.remember(model, item, since=mark, replace=plan.index is None)
            collected.append(item)
            yield item
    entry.put(tuple(collected))


def raw_items(model: Any, plan: Plan, cached: bool) -> Iterator[dict]:
    """Yield the raw items a plan reads, before residual conditions."""
    if plan.empty:
        return iter(())
    if plan.operation == "GetItem":
        key = plan.keys[0] if plan.keys else None
        if plan.unique is not None:
            key = unique.owner_of(model, *plan.unique, consistent=plan.consistent)
        raw = loading.load_one(model, key, consistent=plan.consistent, cached=cached) if key else None
        return iter([raw] if raw is not None else [])
    if plan.operation == "BatchGetItem":
        found = loading.load_many(model, plan.keys, consistent=plan.consistent, cached=cached)
        return iter([found[k] for k in plan.keys if k in found])
    return _query_items(model, plan, cached)


def stream(model: Any, plan: Plan, cached: bool) -> Iterator[Any]:
    """Yield instances matching the plan, in storage order (partial ones when the plan projects)."""
    partial = plan.projection is not None
    for raw in raw_items(model, plan, cached):
        obj = model.from_raw(raw, partial=partial)
        if plan.residual is not None and not matches(plan.residual, obj.__dict__):
            continue
        yield obj


def count(model: Any, plan: Plan, cached: bool) -> int:
    """Return the number of items a Query/Scan plan matches (Select=COUNT)."""
    entry = CachedQuery(model, plan, "count", cached=cached)
    hit = entry.get()
    if hit is not None:
        return int(hit)
    if plan.residual is not None:  # conditions only Python can check: count what passes them
        return sum(1 for _ in stream(model, plan, cached))
    total = sum(r.get("Count", 0) for r in pages(plan, select_count=True))
    entry.put(total)
    return total


def page(model: Any, plan: Plan, limit: int, start_key: dict | None, cached: bool) -> tuple[list, dict | None]:
    """Return (at most ``limit`` raw items, the key to continue from or None)."""
    entry = CachedQuery(model, plan, "page", limit, start_key, cached=cached)
    hit = entry.get()
    if hit is not None:
        raws, next_key = hit
        return list(raws), thaw(next_key)
    raws, next_key = [], start_key
    mark = cache.item_cache.mark()
    while True:
        # Limit counts evaluated items: ask only for what is still missing.
        response = next(pages(plan, start_key=next_key, limit=limit - len(raws)))
        raws.extend(response.get("Items", ()))
        next_key = response.get("LastEvaluatedKey")
        if len(raws) >= limit or not next_key:
            break
    for raw in raws:
        loading.remember(model, raw, since=mark, replace=plan.index is None)
    entry.put((tuple(raws), next_key))
    return raws, next_key
