"""The shared machinery of the process-wide caches: a TTL/LRU store guarded against racing fills."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any, NamedTuple

from cachetools import TLRUCache

from ..conf import get_setting

Timer = Callable[[], float]


class Entry(NamedTuple):
    ttl: float
    value: Any
    seq: int  # sequence number, to refuse fills that raced with a write
    written: bool = False  # stored by a write (or a discard), not by a read


def _time_to_use(key: Hashable, entry: Entry, now: float) -> float:
    return now + entry.ttl


class GuardedTLRU(TLRUCache):
    """A TLRUCache that remembers the newest sequence number it dropped on its own."""

    def __init__(self, maxsize: int, timer: Timer) -> None:
        super().__init__(maxsize, _time_to_use, timer=timer)
        self.dropped_seq = 0  # newest sequence number of a *write* entry dropped on its own

    def expire(self, time: float | None = None) -> list:
        expired = super().expire(time)
        for _key, entry in expired:
            if entry.written:
                self.dropped_seq = max(self.dropped_seq, entry.seq)
        return expired

    def popitem(self) -> tuple:
        key, entry = super().popitem()
        if entry.written:
            self.dropped_seq = max(self.dropped_seq, entry.seq)
        return key, entry


class FillGuard:
    """Per-thread memo of the write sequence seen at each miss.

    A reader that missed, called DynamoDB and then fills the cache may carry a
    value older than a write that landed meanwhile; comparing sequence numbers
    refuses such a fill instead of caching a stale item for a whole TTL.
    """

    # Misses that are never followed by a fill (errors, uncacheable results)
    # would otherwise pile up in long-lived threads.
    _MAX_PENDING = 4096

    def __init__(self) -> None:
        self._local = threading.local()

    def _pending(self) -> dict:
        pending = getattr(self._local, "pending", None)
        if pending is None:
            pending = self._local.pending = {}
        return pending

    def remember(self, key: Hashable, seq: int) -> None:
        pending = self._pending()
        if len(pending) >= self._MAX_PENDING:
            pending.clear()
        pending[key] = seq

    def take(self, key: Hashable) -> int | None:
        return self._pending().pop(key, None)


class BaseCache:
    """Lazily built, lock-guarded, settings-driven store."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._timer: Timer = time.monotonic
        self._store: GuardedTLRU | None = None
        self._built = False
        self._seq = 0
        self._guard = FillGuard()

    def _read_settings(self) -> None:
        raise NotImplementedError

    def _enabled(self) -> bool:
        raise NotImplementedError

    def _ensure(self) -> GuardedTLRU | None:
        # Called with the lock held. Settings are read here, never at import.
        if not self._built:
            self._read_settings()
            maxsize = int(get_setting("CACHE_MAXSIZE"))
            self._store = GuardedTLRU(maxsize, self._timer) if self._enabled() and maxsize > 0 else None
            self._built = True
        return self._store

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _rebuild(self, timer: Timer | None = None) -> None:
        with self._lock:
            if timer is not None:
                self._timer = timer
            self._store = None
            self._built = False
            # Misses remembered before a rebuild say nothing about the new store.
            self._guard = FillGuard()

    def clear(self) -> None:
        """Drop every entry and re-read the settings at next use."""
        self._rebuild()

    @property
    def maxsize(self) -> int:
        """Return the bound on the number of entries (0 when disabled)."""
        with self._lock:
            store = self._ensure()
            return int(store.maxsize) if store is not None else 0

    def __len__(self) -> int:
        with self._lock:
            store = self._ensure()
            return len(store) if store is not None else 0
