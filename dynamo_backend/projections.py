"""Index projections (ALL, KEYS_ONLY, INCLUDE): validation, the CreateTable Projection, what an index covers.

An index whose projection is not ALL holds, per item, only the table's key,
the index's key and the INCLUDE'd attributes. The planner reads such an index
alone when that covers what a QuerySet needs; otherwise it reads keys from it
and completes the items from the base table (execution.py, BatchGetItem).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .exceptions import FieldError

__all__ = ["ALL", "INCLUDE", "KEYS_ONLY", "check", "check_totals", "covers", "spec"]

ALL = "ALL"
KEYS_ONLY = "KEYS_ONLY"
INCLUDE = "INCLUDE"
TYPES = (ALL, KEYS_ONLY, INCLUDE)
PER_INDEX = 20  # NonKeyAttributes of one index (DynamoDB's Projection limit)
PER_TABLE = 100  # NonKeyAttributes summed over a table's secondary indexes (a repeat counts again)


def normalise(projection: str | None, include: Iterable[str] | None) -> tuple[str, tuple]:
    """Return (projection type, included names) from Index's arguments: include= alone means INCLUDE."""
    names = (include,) if isinstance(include, str) else tuple(include or ())
    if projection is None:
        projection = INCLUDE if names else ALL
    return projection, names


def check(model: Any, meta: Any, index: Any) -> None:
    """Validate an index's projection and set ``index.projected`` (field names it holds; None: every one)."""
    where = f"{model.__name__}: index {index.name}"
    if index.projection not in TYPES:
        raise FieldError(f"{where}: projection must be one of {', '.join(TYPES)}, got {index.projection!r}")
    if index.projection != INCLUDE and index.include:
        raise FieldError(f"{where}: include= lists attributes, which only an INCLUDE projection takes")
    if index.projection == INCLUDE and not index.include:
        raise FieldError(f"{where}: an INCLUDE projection needs include=[field names]")
    keys = set(meta.keys.names) | {index.partition_key, index.sort_key} - {None}
    for name in index.include:
        if name not in meta.fields:
            raise FieldError(f"{where} includes unknown field {name!r}. Choices are: {', '.join(meta.fields)}")
        if name in keys:
            raise FieldError(f"{where} includes key field {name!r}: key attributes are always projected")
    if len(set(index.include)) != len(index.include):
        raise FieldError(f"{where} includes a field twice")
    if len(index.include) > PER_INDEX:
        raise FieldError(f"{where} includes {len(index.include)} fields; DynamoDB allows {PER_INDEX} per index")
    index.projected = None if index.projection == ALL else frozenset(keys | set(index.include))


def check_totals(model: Any, indexes: list) -> None:
    """DynamoDB's table-wide limit: 100 INCLUDE'd attributes over all secondary indexes, repeats counted."""
    total = sum(len(index.include) for index in indexes)
    if total > PER_TABLE:
        raise FieldError(
            f"{model.__name__}: its indexes include {total} non-key attributes in all; "
            f"DynamoDB allows {PER_TABLE} per table (an attribute in two indexes counts twice)"
        )


def spec(index: Any) -> dict:
    """Return the CreateTable/UpdateTable Projection of an index."""
    projection: dict[str, Any] = {"ProjectionType": index.projection}
    if index.projection == INCLUDE:
        projection["NonKeyAttributes"] = list(index.include)
    return projection


def covers(index: Any, names: set[str] | None) -> bool:
    """Return whether the index holds every attribute in ``names`` (None: the whole item)."""
    projected = getattr(index, "projected", None)
    if projected is None:
        return True
    return names is not None and names <= projected


def describe(index: Any) -> str:
    """Return the projection as explain() words it: "KEYS_ONLY" or "INCLUDE (title, slug)"."""
    if index.projection == INCLUDE:
        return f"INCLUDE ({', '.join(index.include)})"
    return str(index.projection)


def needed(meta: Any, condition_names: list[set[str]], order: list[str], attributes: Any, for_count: bool) -> Any:
    """Return the field names a read needs (None: whole items): what it returns, filters and sorts on.

    A count needs only its conditions' attributes.
    """
    names: set[str] = set().union(*condition_names) if condition_names else set()
    if for_count:
        return names
    if attributes is None:
        return None
    return names | set(attributes) | {name.lstrip("-") for name in order} | set(meta.keys.names)


def explain(index: Any, wanted: set[str] | None) -> str:
    """Return what explain() says of a KEYS_ONLY / INCLUDE index: covered, or completed (and for lack of what)."""
    if covers(index, wanted):
        return f"the projection of {index.name} ({describe(index)}) covers the request: the index alone is read"
    lacking = "whole items" if wanted is None else ", ".join(sorted(wanted - (index.projected or frozenset())))
    return (
        f"{index.name} projects {describe(index)}, the request needs {lacking}: keys are read from the index "
        "and each item is completed from the base table by BatchGetItem (100 keys a call, item cache first)"
    )
