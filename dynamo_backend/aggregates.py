"""QuerySet.aggregate(): Django's Count, Sum, Min, Max and Avg, computed over the matching items.

DynamoDB has no aggregation: the values are read (only the attributes the
aggregates need) and reduced here, with the result types Django gives on
SQLite (Sum of integers is an int, Avg a float, Decimal fields stay Decimal).
"""

from __future__ import annotations

import decimal
from collections.abc import Iterable
from typing import Any

from django.db.models import Avg, Count, F, Max, Min, Sum
from django.db.models.aggregates import Aggregate
from django.db.models.expressions import Star

from .exceptions import FieldError, NotSupported
from .expressions import matches, resolve

__all__ = ["compute", "fields_read", "named"]

SUPPORTED = (Count, Sum, Min, Max, Avg)


def named(args: tuple, kwargs: dict) -> dict[str, Aggregate]:
    """Return {alias: aggregate}; positional aggregates take Django's default alias ("field__sum")."""
    wanted: dict[str, Aggregate] = {}
    for aggregate in args:
        _check(aggregate)
        alias = aggregate.default_alias  # raises TypeError for Count("*") without an alias, as Django does
        wanted[alias] = aggregate
    for alias, aggregate in kwargs.items():
        _check(aggregate)
        wanted[alias] = aggregate
    return wanted


def _check(aggregate: Any) -> None:
    if not isinstance(aggregate, SUPPORTED):
        raise NotSupported(f"aggregate() supports Count, Sum, Min, Max and Avg; got {aggregate!r}")


def _source(aggregate: Aggregate) -> str | None:
    """Return the field an aggregate reads, or None for Count('*')."""
    (source,) = aggregate.get_source_expressions()[:1]
    if isinstance(source, Star):
        return None
    if isinstance(source, F):
        return str(source.name)
    raise NotSupported(f"{aggregate!r}: aggregates take a field name or F('field')")


def fields_read(model: Any, aggregates: Iterable[Aggregate]) -> list[str]:
    """Return the fields the aggregates (and their filter= conditions) need, checking they exist."""
    names: list[str] = []
    for aggregate in aggregates:
        source = _source(aggregate)
        wanted = [source] if source is not None else []
        if aggregate.filter is not None:
            wanted += [name for name, _ in _leaves(aggregate.filter)]
        for name in wanted:
            base = name.split("__")[0]
            if base not in model._meta.fields:
                raise FieldError(f"Cannot resolve keyword '{base}' into field of {model.__name__}.")
            if base not in names:
                names.append(base)
    return names


def _leaves(q: Any) -> list:
    out = []
    for child in q.children:
        out.extend(_leaves(child) if hasattr(child, "children") else [child])
    return out


def compute(model: Any, wanted: dict[str, Aggregate], rows: list[dict]) -> dict[str, Any]:
    """Reduce the rows (dicts of field values) with each aggregate."""
    return {alias: _reduce(model, aggregate, rows) for alias, aggregate in wanted.items()}


def _reduce(model: Any, aggregate: Aggregate, rows: list[dict]) -> Any:
    if aggregate.filter is not None:
        condition = resolve(model, aggregate.filter)
        rows = [row for row in rows if matches(condition, row)]
    source = _source(aggregate)
    if source is None:  # Count("*")
        return len(rows)
    values = [row.get(source) for row in rows]
    values = [v for v in values if v is not None]
    if getattr(aggregate, "distinct", False):
        values = list(dict.fromkeys(values))
    if isinstance(aggregate, Count):
        return len(values)
    result = _reduce_values(model._meta.fields[source], aggregate, values)
    if result is None and aggregate.default is not None:
        return getattr(aggregate.default, "value", aggregate.default)
    return result


def _reduce_values(field: Any, aggregate: Aggregate, values: list) -> Any:
    if not values:
        return None
    if isinstance(aggregate, Min):
        return min(values)
    if isinstance(aggregate, Max):
        return max(values)
    if field.dynamo_type != "N":
        raise NotSupported(f"{type(aggregate).__name__} needs a number field; {field.name} is not one")
    total = sum(values)
    if isinstance(aggregate, Sum):
        return total
    if isinstance(total, decimal.Decimal):
        return total / len(values)
    return float(total) / len(values)
