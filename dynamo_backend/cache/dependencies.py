"""Which writes can change which cached query results. Pure: no I/O, no state.

A cached query holds the keys it found (contents come from the item cache),
so a write changes its result only when it changes membership or order:

- a create or a delete, of an item that can be in the query's partition;
- an update of an attribute the query reads: its key condition, filter,
  residual conditions, projection, or the key attributes of the index it
  reads (which decide membership in a sparse index and the order).

A view-count increment changes none of these for a post list, so the list
stays cached while each post's new count is served from the item cache.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = ["Change", "Dependency", "UNKNOWN", "affects"]


@dataclass(frozen=True)
class Dependency:
    """What one cached query read: the attributes, and the partition a Query is confined to."""

    attributes: frozenset[str]
    partition: tuple[str, Any] | None = None  # (attribute, raw value) of a Query's partition key

    def in_partition(self, image: Mapping) -> bool:
        """Return whether an item image lies in this query's partition (always, for a Scan)."""
        return self.partition is None or _same(image.get(self.partition[0]), self.partition[1])


@dataclass(frozen=True)
class Change:
    """One write as the caches see it.

    ``image`` is the item after the write (before it, for a delete): enough
    to tell which partitions it touched. ``changed`` names the attributes an
    update changed; ``membership`` says the item appeared or disappeared.
    An image of None means the write is unknown: every query may change.
    """

    image: Mapping | None
    changed: frozenset[str] = frozenset()
    membership: bool = True

    @classmethod
    def created(cls, item: Mapping) -> Change:
        return cls(item)

    @classmethod
    def deleted(cls, old: Mapping | None) -> Change:
        return cls(old) if old else UNKNOWN

    @classmethod
    def modified(cls, item: Mapping | None, names: Iterable[str]) -> Change:
        return cls(item, frozenset(names), membership=False) if item else UNKNOWN

    @classmethod
    def from_images(cls, old: Mapping | None, new: Mapping | None) -> Change:
        """Return the change between two images of an item (None: absent), as a stream record has them."""
        if old is None:
            return cls.created(new) if new is not None else UNKNOWN
        if new is None:
            return cls.deleted(old)
        return cls.modified(new, {name for name in old.keys() | new.keys() if old.get(name) != new.get(name)})


UNKNOWN = Change(None)


def _same(value: Any, wanted: Any) -> bool:
    """Compare two attribute values; numbers by value, since "1.50" and "1.5" are one N."""
    if value == wanted:
        return True
    if isinstance(value, Mapping) and isinstance(wanted, Mapping) and "N" in value and "N" in wanted:
        try:
            return Decimal(value["N"]) == Decimal(wanted["N"])
        except InvalidOperation:
            return False
    return False


def affects(dependency: Dependency, change: Change) -> bool:
    """Return whether the write can change the result of a query with this dependency."""
    image = change.image
    if image is None:
        return True
    if not change.membership:
        touched = change.changed & dependency.attributes
        if not touched:
            return False
        if dependency.partition is not None and dependency.partition[0] in touched:
            return True  # it may have left this partition: the old value is not in the image
    return dependency.in_partition(image)
