"""The query cache: results of planned Query/Scan requests, dropped only by writes that can change them.

Each entry carries the :class:`~.dependencies.Dependency` of its query; a
write (from this process, or from another one through the stream reader)
drops the entries it affects (:func:`~.dependencies.affects`). Recent writes
are kept in a short log, so a result read while an affecting write landed is
never stored: the reader's put compares the write sequence it saw at its miss.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from typing import Any

from .. import stats
from ..conf import get_setting
from .dependencies import UNKNOWN, Change, Dependency, affects
from .frozen import freeze
from .store import BaseCache, Entry

# Writes remembered for refusing racing fills; an older fill is refused outright.
_LOG_SIZE = 2048
# More changes than this in one invalidation count as one unknown change.
_MANY = 64
# A GSI lags its table (eventually consistent): a result read this soon after
# an affecting write may predate it, so it is kept only this long.
INDEX_SETTLE_SECONDS = 1.0


class QueryCache(BaseCache):
    """Process-wide cache of query results keyed by (table, key), each with its dependency."""

    ttl: float = 0.0  # CACHE_TTL as read at the last (re)build: no result outlives an item
    default_ttl: float = 0.0  # QUERY_CACHE_TTL

    def __init__(self) -> None:
        super().__init__()
        self._dependencies: dict[str, dict[Hashable, Dependency]] = {}
        # (sequence number, time, table or None for every table, change)
        self._log: deque[tuple[int, float, str | None, Change]] = deque(maxlen=_LOG_SIZE)
        self._log_floor = 0  # newest sequence number pushed out of the log

    def _read_settings(self) -> None:
        self.ttl = float(get_setting("CACHE_TTL"))
        self.default_ttl = min(self.ttl, float(get_setting("QUERY_CACHE_TTL")))

    def _enabled(self) -> bool:
        return self.ttl > 0 and self.default_ttl > 0

    def mark(self) -> int:
        """Return the current write sequence number (pass it to put() as ``since``)."""
        with self._lock:
            return self._seq

    def get(self, table: str, key: Hashable) -> Any:
        """Return the cached (frozen, shared) result of the planned request, or None."""
        with self._lock:
            store = self._ensure()
            if store is None:
                return None
            entry = store.get((table, key))
            if entry is None:
                # A later put refuses its result if an affecting write lands meanwhile.
                self._guard.remember((table, key), self._seq)
        stats.record_cache(entry is not None)
        return None if entry is None else entry.value

    def put(
        self,
        table: str,
        key: Hashable,
        value: Any,
        dependency: Dependency | None = None,
        ttl: float | None = None,
        *,
        since: int | None = None,
        index: bool = False,
    ) -> None:
        """Cache a query result for min(ttl, CACHE_TTL) seconds (QUERY_CACHE_TTL by default).

        ``since`` is the sequence number seen before the read (the miss in get()
        records it too): a write logged after it that affects ``dependency``
        refuses the result. ``index`` says the result came from a GSI.
        """
        if value is None or (ttl is not None and ttl <= 0):
            return
        dependency = dependency or Dependency(frozenset())
        value = freeze(value)
        with self._lock:
            store = self._ensure()
            seen = self._guard.take((table, key))
            if store is None:
                return
            if since is None:
                since = seen if seen is not None else self._seq
            if self._changed_since(table, dependency, since):
                return  # the result was read while a write that changes it landed
            seconds = self.default_ttl if ttl is None else min(self.ttl, float(ttl))
            if index and self._changed_recently(table, dependency):
                seconds = min(seconds, INDEX_SETTLE_SECONDS)
            store[(table, key)] = Entry(seconds, value, self._next_seq())
            known = self._dependencies.setdefault(table, {})
            known[key] = dependency
            if len(known) > 2 * store.maxsize:
                self._sweep(table)

    def _changed_since(self, table: str, dependency: Dependency, since: int) -> bool:
        if since < self._log_floor:
            return True  # the log no longer reaches back that far
        for seq, _at, written, change in reversed(self._log):
            if seq <= since:
                return False
            if written in (None, table) and affects(dependency, change):
                return True
        return False

    def _changed_recently(self, table: str, dependency: Dependency) -> bool:
        horizon = self._timer() - INDEX_SETTLE_SECONDS
        for _seq, at, written, change in reversed(self._log):
            if at < horizon:
                return False
            if written in (None, table) and affects(dependency, change):
                return True
        return False

    def _sweep(self, table: str) -> None:
        """Forget the dependencies of entries that expired or were evicted."""
        store = self._store
        known = self._dependencies.get(table, {})
        for key in [k for k in known if store is None or (table, k) not in store]:
            del known[key]

    def _log_change(self, table: str | None, change: Change, now: float) -> None:
        if len(self._log) == self._log.maxlen:
            self._log_floor = self._log[0][0]
        self._log.append((self._next_seq(), now, table, change))

    def invalidate(self, table: str, *changes: Change) -> int:
        """Drop the table's cached results these writes can change; return how many.

        With no change given (or an unknown one) every result of the table goes.
        """
        if not changes or len(changes) > _MANY:
            changes = (UNKNOWN,)
        with self._lock:
            now = self._timer()
            for change in changes:
                self._log_change(table, change, now)
            store = self._store
            known = self._dependencies.get(table)
            if store is None or not known:
                return 0
            dropped = 0
            for key, dependency in list(known.items()):
                if (table, key) not in store:
                    del known[key]
                elif any(affects(dependency, change) for change in changes):
                    del known[key]
                    store.pop((table, key), None)
                    dropped += 1
            return dropped

    def flush(self, table: str | None = None) -> None:
        """Drop every cached result of a table (of every table when None), refusing fills in flight."""
        with self._lock:
            self._log_change(table, UNKNOWN, self._timer())
            store = self._store
            for name in [table] if table is not None else list(self._dependencies):
                for key in self._dependencies.pop(name, {}):
                    if store is not None:
                        store.pop((name, key), None)

    def clear(self) -> None:
        """Drop every entry and re-read the settings at next use."""
        with self._lock:
            # Logged, so fills that started before the clear cannot land after it.
            self._log_change(None, UNKNOWN, self._timer())
            self._dependencies.clear()
        super().clear()
