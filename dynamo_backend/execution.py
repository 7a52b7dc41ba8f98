"""Running a Plan: pages of Query/Scan, GetItem/BatchGetItem through the read path, the query cache.

A plan that ``completes`` reads keys from a KEYS_ONLY / INCLUDE index and the
items from the table, page by page, through the read path (identity map, item
cache, BatchGetItem): the index's partial items never reach the caches.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from . import cache, connection, loading, stats, unique
from .cache import thaw
from .conf import get_setting
from .expressions import attributes_of, matches
from .planner import Plan

__all__ = ["Page", "CachedQuery", "count", "dependency_of", "page", "partial", "raw_items", "stream"]


@dataclass
class Page:
    """One page of results and the key to continue from (None at the end)."""

    items: list
    next_key: dict | None


def dependency_of(meta: Any, plan: Plan) -> cache.Dependency:
    """Return what a planned Query/Scan reads: the writes that can change its result (cache/dependencies.py)."""
    names = set(plan.names.values())
    if plan.residual is not None:
        names |= attributes_of(plan.residual)
    index = next((i for i in meta.indexes if i.name == plan.index), None) if plan.index else None
    if index is not None:
        names |= {index.partition_key, index.sort_key} - {None}
    return cache.Dependency(frozenset(names), plan.partition if index is not None else None)


class CachedQuery:
    """The query cache's entry for one planned request, when the cache is on for it.

    ``get()`` before reading (None on a miss), ``put(value)`` after: a write
    that can change the result and lands in between makes the put a no-op.
    Results are kept while a stream reader keeps this process's caches
    coherent with the table for as long as items (CACHE_TTL), otherwise for
    QUERY_CACHE_TTL; never longer than the model's item TTL.
    """

    def __init__(self, model: Any, plan: Plan, *parts: Any, cached: bool = True) -> None:
        self.model = model
        self.enabled = cached and bool(get_setting("QUERY_CACHE_TTL")) and bool(model._meta.effective_cache_ttl())
        self.table = plan.table
        self.key = plan.cache_key(*parts) if self.enabled else ""
        self.index = plan.index is not None
        self.dependency = dependency_of(model._meta, plan) if self.enabled else None
        self.since: int | None = None

    def get(self) -> Any:
        if not self.enabled:
            return None
        self.since = cache.query_cache.mark()
        return cache.query_cache.get(self.table, self.key)

    def ttl(self) -> float:
        """Return how long a result may be kept (see the class docstring)."""
        bound = get_setting("CACHE_TTL") if stats.streamed(self.table) else get_setting("QUERY_CACHE_TTL")
        return min(float(bound), float(self.model._meta.effective_cache_ttl()))

    def put(self, value: Any) -> None:
        if self.enabled:
            cache.query_cache.put(
                self.table, self.key, value, self.dependency, self.ttl(), since=self.since, index=self.index
            )


def _read_whole(plan: Plan) -> bool:
    """Return whether the Query/Scan itself returns whole items (no projection, an index holding everything)."""
    return plan.projection is None and not plan.partial_index


def partial(plan: Plan) -> bool:
    """Return whether the items a plan yields hold only some attributes."""
    return not (plan.completes or _read_whole(plan))


def _keys_of(model: Any, plan: Plan, items: list[dict]) -> tuple:
    """What the query cache keeps of a result: its keys, or the items themselves when they are partial."""
    if partial(plan):
        return tuple(items)  # partial items never go to the item cache: keep them here
    return tuple(model._meta.pk_of(item) for item in items)


def _contents(model: Any, plan: Plan, kept: tuple) -> list:
    """Return the raw items of a cached result, their contents from the read path (item cache first)."""
    if partial(plan):
        return list(kept)
    found = loading.load_many(model, kept)
    return [found[pk] for pk in kept if pk in found]


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
        yield from _contents(model, plan, hit)
        return
    collected: list[dict] = []
    mark = cache.item_cache.mark()
    complete = _read_whole(plan)  # partial items must never stand for whole ones in the caches
    for response in pages(plan, limit=plan.limit):
        for item in response.get("Items", ()):
            if complete:
                loading.remember(model, item, since=mark, replace=plan.index is None)
            collected.append(item)
            if plan.limit is not None and len(collected) >= plan.limit:
                # The slice that pushed its end down as Limit stops reading here: store the
                # result before handing over its last item, or the put would never run.
                entry.put(_keys_of(model, plan, collected))
                yield item
                return
            yield item
    entry.put(_keys_of(model, plan, collected))


def _complete(model: Any, plan: Plan, pks: list, cached: bool) -> list[dict]:
    """Return the whole items of ``pks`` in their order, from the read path (one BatchGetItem per 100 uncached)."""
    found = loading.load_many(model, pks, consistent=plan.consistent, cached=cached)
    return [found[pk] for pk in pks if pk in found]


def _completed_items(model: Any, plan: Plan, cached: bool) -> Iterator[dict]:
    """Yield whole items for keys read from an index, in index order, completing one Query page at a time.

    The query cache keeps the keys (the index's part); the contents come from
    the read path, as for any cached result.
    """
    entry = CachedQuery(model, plan, "keys", plan.limit, cached=cached)
    hit = entry.get()
    if hit is not None:
        yield from _contents(model, plan, hit)
        return
    pk_of = model._meta.pk_of
    keys: list = []
    for response in pages(plan, limit=plan.limit):
        batch = [pk_of(item) for item in response.get("Items", ())]
        if plan.limit is not None:
            batch = batch[: plan.limit - len(keys)]
        keys.extend(batch)
        done = not response.get("LastEvaluatedKey") or (plan.limit is not None and len(keys) >= plan.limit)
        if done:
            entry.put(tuple(keys))  # before the last items: a caller that stops there never resumes us
        yield from _complete(model, plan, batch, cached)
        if done:
            return


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
    if plan.completes:
        return _completed_items(model, plan, cached)
    return _query_items(model, plan, cached)


def stream(model: Any, plan: Plan, cached: bool) -> Iterator[Any]:
    """Yield instances matching the plan, in storage order (partial ones when the plan projects)."""
    deferred = partial(plan)
    for raw in raw_items(model, plan, cached):
        obj = model.from_raw(raw, partial=deferred)
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
        kept, next_key = hit
        return _contents(model, plan, kept), thaw(next_key)
    raws: list[dict] = []
    next_key = start_key
    mark = cache.item_cache.mark()
    while True:
        # Limit counts evaluated items: ask only for what is still missing.
        response = next(pages(plan, start_key=next_key, limit=limit - len(raws)))
        raws.extend(response.get("Items", ()))
        next_key = response.get("LastEvaluatedKey")
        if len(raws) >= limit or not next_key:
            break
    if plan.completes:
        raws = _complete(model, plan, [model._meta.pk_of(raw) for raw in raws], cached)
    elif _read_whole(plan):
        for raw in raws:
            loading.remember(model, raw, since=mark, replace=plan.index is None)
    entry.put((_keys_of(model, plan, raws), next_key))
    return raws, next_key
