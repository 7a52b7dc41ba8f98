"""How a QuerySet is read: GetItem, BatchGetItem, Query on a GSI, or Scan. Pure: no I/O.

``plan(meta, where, order, ...)`` takes a model's ``_meta`` and the resolved
conditions of a QuerySet and returns a :class:`Plan`; the QuerySet executes it.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

from .compiler import Builder, compile_leaf, compile_node
from .expressions import KEY_LOOKUPS, Leaf, Node, Q

__all__ = ["Plan", "plan", "conjuncts"]


@dataclass
class Plan:
    """How a QuerySet will be read from DynamoDB."""

    operation: str
    table: str
    index: str | None = None
    keys: list[str] = dc_field(default_factory=list)
    key_condition: str | None = None
    filter: str | None = None
    names: dict = dc_field(default_factory=dict)
    values: dict = dc_field(default_factory=dict)
    scan_index_forward: bool | None = None
    limit: int | None = None
    residual: Node | None = None
    ordered_by_db: bool = False
    empty: bool = False
    unique: tuple[str, str] | None = None  # (field, stored value): found through its claim

    def as_dict(self) -> dict:
        """Return the plan as plain data (what explain() shows)."""
        out: dict[str, Any] = {
            "operation": self.operation,
            "table": self.table,
            "index": self.index,
            "key_condition": self.key_condition,
            "filter": self.filter,
            "names": dict(self.names),
            "values": copy.deepcopy(self.values),
            "scan_index_forward": self.scan_index_forward,
            "limit": self.limit,
        }
        if self.keys:
            out["keys"] = list(self.keys)
        if self.unique is not None:
            out["via_unique_claim"] = {"field": self.unique[0], "value": self.unique[1]}
        if self.residual is not None:
            out["evaluated_in_python"] = True
        return out

    def request(self) -> dict:
        """Return the Query/Scan request parameters."""
        params: dict = {"TableName": self.table}
        optional = {
            "IndexName": self.index,
            "KeyConditionExpression": self.key_condition,
            "FilterExpression": self.filter,
            "ExpressionAttributeNames": self.names,
            "ExpressionAttributeValues": self.values,
        }
        params.update((key, value) for key, value in optional.items() if value)
        if self.scan_index_forward is not None:
            params["ScanIndexForward"] = self.scan_index_forward
        return params

    def cache_key(self, *extra: Any) -> str:
        """Return a stable key for the query cache."""
        return json.dumps([self.request(), *extra], sort_keys=True, default=str)


def conjuncts(node: Node) -> list:
    """Flatten top-level ANDs into a list of conditions."""
    if node.connector == Q.AND and not node.negated:
        out = []
        for child in node.children:
            out.extend(conjuncts(child) if isinstance(child, Node) else [child])
        return out
    return [node]


def _rest(conds: list, used: list) -> Node | None:
    left = [c for c in conds if not any(c is u for u in used)]
    return Node(Q.AND, False, left) if left else None


def _leaf(conds: list, name: str, lookups: tuple[str, ...]) -> Leaf | None:
    return next(
        (c for c in conds if isinstance(c, Leaf) and c.field.name == name and c.lookup in lookups),
        None,
    )


def _key_plan(table: str, conds: list) -> Plan | None:
    """pk equality is a GetItem, pk__in a BatchGetItem; other conditions are checked in Python."""
    exact = _leaf(conds, "pk", ("exact",))
    if exact is not None:
        if exact.value is None:
            return Plan("GetItem", table, empty=True)
        return Plan("GetItem", table, keys=[exact.value], residual=_rest(conds, [exact]))
    among = _leaf(conds, "pk", ("in",))
    if among is not None:
        keys = list(dict.fromkeys(among.value))
        return Plan("BatchGetItem", table, keys=keys, residual=_rest(conds, [among]), empty=not keys)
    return None


def _unique_plan(meta: Any, table: str, conds: list) -> Plan | None:
    """Equality on an unindexed unique field: its claim names the one item that can hold the value.

    Two GetItems instead of a Scan. Every condition stays in the residual, so a
    stale claim never returns the wrong item.
    """
    indexed = {i.partition_key for i in meta.indexes}
    for cond in conds:
        if (
            isinstance(cond, Leaf)
            and cond.field.unique
            and cond.lookup == "exact"
            and cond.value is not None
            and cond.field.name not in indexed
        ):
            stored = cond.field.value_to_av(cond.value)["S"]
            return Plan("GetItem", table, unique=(cond.field.name, stored), residual=_rest(conds, []))
    return None


def _sorted_by(index: Any, order: list[str]) -> bool:
    return bool(index.sort_key) and len(order) == 1 and order[0].lstrip("-") == index.sort_key


def _choose_index(meta: Any, conds: list, order: list[str]) -> tuple | None:
    """Return (index, hash leaf, sort leaf or None) of the best GSI for the conditions, or None."""
    best = None
    for index in meta.indexes:
        hash_leaf = next(
            (
                c
                for c in conds
                if isinstance(c, Leaf)
                and c.field.name == index.partition_key
                and c.lookup == "exact"
                and c.value not in (None, "")
            ),
            None,
        )
        if hash_leaf is None:
            continue
        score, sort_leaf = 0, None
        if index.sort_key:
            sort_leaf = next(
                (
                    c
                    for c in conds
                    if isinstance(c, Leaf)
                    and c.field.name == index.sort_key
                    and c.lookup in KEY_LOOKUPS
                    and c.value is not None
                    and c is not hash_leaf
                ),
                None,
            )
            score = 2 * _sorted_by(index, order) + (sort_leaf is not None)
        if best is None or score > best[0]:
            best = (score, index, hash_leaf, sort_leaf)
    return best[1:] if best is not None else None


def _query_plan(table: str, conds: list, order: list[str], chosen: tuple, builder: Builder) -> Plan:
    index, hash_leaf, sort_leaf = chosen
    key_condition = compile_leaf(hash_leaf, builder)
    used = [hash_leaf]
    if sort_leaf is not None:
        key_condition = f"{key_condition} AND {compile_leaf(sort_leaf, builder)}"
        used.append(sort_leaf)
    remaining = _rest(conds, used)
    filter_expr = compile_node(remaining, builder) if remaining else None
    result = Plan("Query", table, index=index.name, key_condition=key_condition, filter=filter_expr or None)
    if _sorted_by(index, order):
        result.scan_index_forward = not order[0].startswith("-")
        result.ordered_by_db = True
    return result


def plan(meta: Any, where: list[Node], order: list[str], *, high: int | None = None, for_count: bool = False) -> Plan:
    """Return the plan for a model's table, conditions, ordering and slice end."""
    table = meta.table_name
    conds: list = []
    for node in where:
        conds.extend(conjuncts(node))
    direct = _key_plan(table, conds) or _unique_plan(meta, table, conds)
    if direct is not None:
        return direct
    builder = Builder()
    chosen = _choose_index(meta, conds, order)
    if chosen is not None:
        result = _query_plan(table, conds, order, chosen, builder)
    else:
        everything = _rest(conds, [])
        filter_expr = compile_node(everything, builder) if everything else None
        result = Plan("Scan", table, filter=filter_expr or None)
    result.names, result.values = builder.names, builder.values
    if not for_count and high is not None and not result.filter and (result.ordered_by_db or not order):
        result.limit = high
    return result
