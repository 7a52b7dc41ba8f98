"""The query cache: results of planned Query/Scan requests, dropped when their table is written."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from .. import stats
from ..conf import get_setting
from .frozen import freeze
from .store import BaseCache, Entry


class QueryCache(BaseCache):
    """Process-wide cache of query results keyed by (table, generation, key)."""

    ttl: float = 0.0  # min(CACHE_TTL, QUERY_CACHE_TTL) as read at the last (re)build

    def __init__(self) -> None:
        super().__init__()
        self._generations: dict[str, int] = {}

    def _read_settings(self) -> None:
        self.ttl = min(float(get_setting("CACHE_TTL")), float(get_setting("QUERY_CACHE_TTL")))

    def _enabled(self) -> bool:
        return self.ttl > 0

    def generation(self, table: str) -> int:
        """Return the table's current generation (bumped by every invalidate)."""
        with self._lock:
            return self._generations.get(table, 0)

    def get(self, table: str, key: Hashable) -> Any:
        """Return the cached (frozen, shared) result of the planned request, or None."""
        with self._lock:
            store = self._ensure()
            if store is None:
                return None
            generation = self._generations.get(table, 0)
            entry = store.get((table, generation, key))
            if entry is None:
                # A later put stores under this generation: if the table is
                # written meanwhile, the result lands where nobody looks.
                self._guard.remember((table, key), generation)
        stats.record_cache(entry is not None)
        return None if entry is None else entry.value

    def put(
        self, table: str, key: Hashable, value: Any, ttl: float | None = None, *, generation: int | None = None
    ) -> None:
        """Cache a query result for min(ttl, QUERY_CACHE_TTL) seconds."""
        if value is None or (ttl is not None and ttl <= 0):
            return
        value = freeze(value)
        with self._lock:
            store = self._ensure()
            seen = self._guard.take((table, key))
            if store is None:
                return
            if generation is None:
                generation = seen if seen is not None else self._generations.get(table, 0)
            if generation != self._generations.get(table, 0):
                return  # the table was written while this result was being read
            seconds = self.ttl if ttl is None else min(self.ttl, float(ttl))
            store[(table, generation, key)] = Entry(seconds, value, self._next_seq())

    def invalidate(self, table: str) -> None:
        """Make every cached result of the table unreachable (they expire soon after)."""
        with self._lock:
            self._generations[table] = self._generations.get(table, 0) + 1
            # Stale generations are never read again; LRU order and their TTL evict them.

    def clear(self) -> None:
        """Drop every entry and re-read the settings at next use."""
        with self._lock:
            # Bumping rather than resetting keeps in-flight fills from landing.
            for table in self._generations:
                self._generations[table] += 1
        super().clear()
