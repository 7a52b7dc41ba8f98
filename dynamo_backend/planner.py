"""How a QuerySet is read: GetItem, BatchGetItem, Query on a GSI, or Scan. Pure: no I/O.

``plan(meta, where, order, ...)`` takes a model's ``_meta`` and the resolved
conditions of a QuerySet and returns a :class:`Plan`; execution.py runs it.

Rules DynamoDB imposes, and how the planner keeps them:

- A GSI holds only items that have every key attribute of the index (sparse).
  An index serves a query only when the conditions imply every matching item
  has them (or the field can never be absent); otherwise another plan is used.
- A Query's FilterExpression may not name the queried index's key attributes.
  Conditions on them go into the key condition when they can (two bounds
  become BETWEEN) and are otherwise evaluated in Python after the read (the
  plan's ``residual``).
- GSIs cannot be read consistently: a consistent QuerySet never uses one.
- An index that projects KEYS_ONLY or INCLUDE serves alone a query that needs
  no other attribute (values()/only()/count() within its projection);
  otherwise the plan ``completes``: it reads keys from the index and
  execution.py reads the items from the table by BatchGetItem. Conditions on
  attributes the index lacks are checked in Python on the completed items.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

from . import projections
from .batch import GET_CHUNK
from .compiler import Builder, compile_leaf, compile_node
from .exceptions import ConsistencyError
from .expressions import FALSE, TRUE, Leaf, Node, Q, attributes_of

__all__ = ["Plan", "plan", "conjuncts"]

# Lookups whose condition implies the attribute is present on a matching item.
_IMPLIES_PRESENT = ("exact", "gt", "gte", "lt", "lte", "range", "startswith", "in", "contains")
_LOWER = {"gt": True, "gte": False}  # lookup -> strict
_UPPER = {"lt": True, "lte": False}


@dataclass
class Plan:
    """How a QuerySet will be read from DynamoDB."""

    operation: str
    table: str
    index: str | None = None
    keys: list[Any] = dc_field(default_factory=list)
    key_condition: str | None = None
    filter: str | None = None
    projection: str | None = None
    names: dict = dc_field(default_factory=dict)
    values: dict = dc_field(default_factory=dict)
    scan_index_forward: bool | None = None
    limit: int | None = None
    residual: Node | None = None
    ordered_by_db: bool = False
    empty: bool = False
    consistent: bool = False
    unique: tuple[str, str] | None = None  # (claim name, claim value): found through its claim
    global_index: bool = False  # a GSI, which DynamoDB never reads consistently
    partition: tuple[str, dict] | None = None  # a Query's (partition key, its attribute value)
    reasons: list[str] = dc_field(default_factory=list)
    partial_index: bool = False  # the index read holds only some attributes (KEYS_ONLY / INCLUDE)
    completes: bool = False  # keys read from the index, items from the table by BatchGetItem
    completion: str | None = None  # what explain() says of the projection
    page_size: int | None = None  # Limit of each Query page when a slice end cannot be pushed down

    def as_dict(self) -> dict:
        """Return the plan as plain data (what explain() shows)."""
        out: dict[str, Any] = {
            "operation": self.operation,
            "table": self.table,
            "index": self.index,
            "key_condition": self.key_condition,
            "filter": self.filter,
            "projection": self.projection,
            "names": dict(self.names),
            "values": copy.deepcopy(self.values),
            "scan_index_forward": self.scan_index_forward,
            "limit": self.limit,
            "consistent": self.consistent,
            "empty": self.empty,
            "index_choice": list(self.reasons),
        }
        if self.keys:
            out["keys"] = list(self.keys)
        if self.unique is not None:
            out["via_unique_claim"] = {"field": self.unique[0], "value": self.unique[1]}
        if self.residual is not None:
            out["evaluated_in_python"] = repr(self.residual)
        if self.completion is not None:
            out["completion"] = self.completion
        return out

    def request(self) -> dict:
        """Return the Query/Scan request parameters."""
        params: dict = {"TableName": self.table}
        optional = {
            "IndexName": self.index,
            "KeyConditionExpression": self.key_condition,
            "FilterExpression": self.filter,
            "ProjectionExpression": self.projection,
            "ExpressionAttributeNames": self.names,
            "ExpressionAttributeValues": self.values,
        }
        params.update((key, value) for key, value in optional.items() if value)
        if self.scan_index_forward is not None:
            params["ScanIndexForward"] = self.scan_index_forward
        if self.page_size is not None:
            params["Limit"] = self.page_size
        if self.consistent and not self.global_index:
            params["ConsistentRead"] = True
        return params

    def cache_key(self, *extra: Any) -> str:
        """Return a stable key for the query cache."""
        return json.dumps([self.request(), repr(self.residual), *extra], sort_keys=True, default=str)


def conjuncts(node: Node) -> list:
    """Flatten top-level ANDs into a list of conditions."""
    if node.connector == Q.AND and not node.negated and node is not TRUE:
        out = []
        for child in node.children:
            out.extend(conjuncts(child) if isinstance(child, Node) else [child])
        return out
    return [node]


def _and(conds: list) -> Node | None:
    return Node(Q.AND, False, conds) if conds else None


def _without(conds: list, used: list) -> list:
    return [c for c in conds if not any(c is u for u in used)]


def _leaves(conds: list, name: str, lookups: tuple[str, ...] | None = None) -> list[Leaf]:
    return [
        c for c in conds if isinstance(c, Leaf) and c.field.name == name and (lookups is None or c.lookup in lookups)
    ]


def _composite_key_plan(meta: Any, table: str, conds: list) -> Plan | None:
    """Equality on both key fields is a GetItem; an OR of such pairs (pk__in) a BatchGetItem."""
    hash_name, range_name = meta.keys.names
    exact = {name: _leaves(conds, name, ("exact",)) for name in (hash_name, range_name)}
    if all(leaves and leaves[0].value is not None for leaves in exact.values()):
        used = [exact[hash_name][0], exact[range_name][0]]
        key = (used[0].value, used[1].value)
        return Plan("GetItem", table, keys=[key], residual=_and(_without(conds, used)))
    for cond in conds:
        keys = _key_pairs(cond, hash_name, range_name)
        if keys is not None:
            return Plan("BatchGetItem", table, keys=keys, residual=_and(_without(conds, [cond])), empty=not keys)
    return None


def _key_pairs(cond: Any, hash_name: str, range_name: str) -> list | None:
    """Return the keys of an OR of (hash = a AND range = b) pairs, the shape pk__in takes, else None."""
    if not isinstance(cond, Node) or cond.negated or cond.connector != Q.OR:
        return None
    keys = []
    for child in cond.children:
        if not isinstance(child, Node) or child.negated or child.connector != Q.AND or len(child.children) != 2:
            return None
        values = {
            leaf.field.name: leaf.value for leaf in child.children if isinstance(leaf, Leaf) and leaf.lookup == "exact"
        }
        if set(values) != {hash_name, range_name}:
            return None
        keys.append((values[hash_name], values[range_name]))
    return list(dict.fromkeys(keys))


def _key_plan(table: str, conds: list) -> Plan | None:
    """pk equality is a GetItem, pk__in a BatchGetItem; other conditions are checked in Python."""
    exact = _leaves(conds, "pk", ("exact",))
    if exact:
        if exact[0].value is None:
            return Plan("GetItem", table, empty=True)
        return Plan("GetItem", table, keys=[exact[0].value], residual=_and(_without(conds, exact[:1])))
    among = _leaves(conds, "pk", ("in",))
    if among:
        keys = list(among[0].value)
        return Plan("BatchGetItem", table, keys=keys, residual=_and(_without(conds, among[:1])), empty=not keys)
    return None


def _unique_plan(meta: Any, table: str, conds: list) -> Plan | None:
    """Equality on every field of an unindexed unique constraint: its claim names the one item.

    Two GetItems instead of a Scan. Every condition stays in the residual, so a
    stale claim never returns the wrong item.
    """
    indexed = {i.partition_key for i in meta.indexes}
    for constraint in meta.unique_constraints:
        if len(constraint.fields) == 1 and constraint.fields[0] in indexed:
            continue
        values = {}
        for name in constraint.fields:
            exact = [leaf for leaf in _leaves(conds, name, ("exact",)) if leaf.value is not None]
            if not exact:
                break
            values[name] = meta.fields[name].to_dynamo(exact[0].value)
        else:
            if all(av is not None for av in values.values()):
                return Plan("GetItem", table, unique=constraint.claim(values), residual=_and(conds))
    return None


def _present(meta: Any, conds: list, name: str) -> bool:
    """Return whether every item matching the conditions has attribute ``name``."""
    if not meta.fields[name].nullable:
        return True
    for leaf in _leaves(conds, name):
        if leaf.lookup in _IMPLIES_PRESENT and leaf.value is not None:
            return True
        if leaf.lookup == "isnull" and leaf.value is False:
            return True
    return False


def _sorted_by(index: Any, order: list[str]) -> bool:
    return bool(index.sort_key) and len(order) == 1 and order[0].lstrip("-") == index.sort_key


def _usable(meta: Any, index: Any, conds: list) -> tuple[Leaf | None, str]:
    """Return (the partition key's equality condition, why) or (None, why not)."""
    hash_leaf = next((c for c in _leaves(conds, index.partition_key, ("exact",)) if c.value not in (None, "")), None)
    if hash_leaf is None:
        return None, f"{index.name}: no equality condition on its partition key {index.partition_key}"
    if index.sort_key and not index.table and not _present(meta, conds, index.sort_key):
        return None, (
            f"{index.name}: passed over, items without {index.sort_key} are not in this sparse index "
            f"and the conditions do not exclude them"
        )
    return hash_leaf, f"{index.name}: usable, {index.partition_key} = value"


def _choose_index(meta: Any, conds: list, order: list[str], reasons: list[str], needed: set | None) -> tuple | None:
    """Return (index, partition key condition) of the best usable GSI, or None; note why in reasons.

    Sort key order and conditions decide; among equals, an index whose projection
    covers the request (no BatchGetItem to complete it), then the base table.
    """
    best = None
    candidates = ([meta.table_index] if meta.table_index is not None else []) + meta.indexes
    for index in candidates:
        hash_leaf, why = _usable(meta, index, conds)
        reasons.append(why)
        if hash_leaf is None:
            continue
        score = 0
        if index.sort_key:
            score = 2 * _sorted_by(index, order) + bool(_leaves(conds, index.sort_key))
        score += 0.5 * index.table  # the base table: no extra index to write, readable consistently
        score += 0.25 * projections.covers(index, needed)
        if best is None or score > best[0]:
            best = (score, index, hash_leaf)
    if best is not None:
        reasons.append(f"chosen: {best[1].name}")
    return best[1:] if best is not None else None


def _tightest(leaves: list[Leaf], bounds: dict[str, bool], position: int, lower: bool) -> Leaf | None:
    """Return the tightest bound among leaves (gt/gte or lt/lte, and one end of each range)."""
    best: tuple | None = None
    for leaf in leaves:
        if leaf.lookup in bounds:
            value, strict = leaf.value, bounds[leaf.lookup]
        elif leaf.lookup == "range":
            value, strict = leaf.value[position], False
        else:
            continue
        if best is None:
            best = (value, strict, leaf)
            continue
        tighter = value > best[0] if lower else value < best[0]
        if tighter or (value == best[0] and strict and not best[1]):
            best = (value, strict, leaf)
    return best[2] if best is not None else None


class _Impossible(Exception):
    """The sort key's conditions cannot all hold (its bounds cross): the query matches nothing."""


def _sort_key_condition(leaves: list[Leaf], builder: Builder) -> tuple[str | None, list[Leaf]]:
    """Return (the sort key's key condition, the leaves it fully expresses); the rest stay residual."""
    exact = [leaf for leaf in leaves if leaf.lookup == "exact" and leaf.value is not None]
    if exact:
        return compile_leaf(exact[0], builder), exact[:1]
    low = _tightest(leaves, _LOWER, 0, lower=True)
    high = _tightest(leaves, _UPPER, 1, lower=False)
    if low is not None and high is not None:
        if low is high:  # one range covers both ends
            return compile_leaf(low, builder), [low]
        low_value = low.value[0] if low.lookup == "range" else low.value
        high_value = high.value[1] if high.lookup == "range" else high.value
        if low_value > high_value:
            raise _Impossible
        between = Leaf(low.field, "range", (low_value, high_value))
        exact_ends = [leaf for leaf in (low, high) if leaf.lookup in ("gte", "lte")]
        return compile_leaf(between, builder), exact_ends if len(exact_ends) == 2 else []
    bound = low or high
    if bound is not None:
        return compile_leaf(bound, builder), [bound]
    prefix = next((leaf for leaf in leaves if leaf.lookup == "startswith"), None)
    if prefix is not None:
        return compile_leaf(prefix, builder), [prefix]
    return None, []


def _query_plan(table: str, conds: list, order: list[str], chosen: tuple, builder: Builder, needed: Any) -> Plan:
    index, hash_leaf = chosen
    completes = not projections.covers(index, needed)
    key_condition = compile_leaf(hash_leaf, builder)
    used = [hash_leaf]
    if index.sort_key:
        sort_condition, sort_used = _sort_key_condition(_leaves(conds, index.sort_key), builder)
        if sort_condition:
            key_condition = f"{key_condition} AND {sort_condition}"
            used += sort_used
    key_names = {index.partition_key, index.sort_key} - {None}
    rest = _without(conds, used)
    # The index's key attributes may not appear in a Query's filter: check those in Python; so are
    # attributes the index does not project (the completed items have them).
    residual = [c for c in rest if _names(c) & key_names or not projections.covers(index, _names(c))]
    filtered = _and(_without(rest, residual))
    result = Plan(
        "Query",
        table,
        index=None if index.table else index.name,
        global_index=not (index.table or index.local),
        key_condition=key_condition,
        filter=compile_node(filtered, builder) if filtered else None,
        residual=_and(residual),
        partition=(index.partition_key, hash_leaf.field.value_to_av(hash_leaf.value)),
        partial_index=index.projected is not None,
        completes=completes,
        completion=projections.explain(index, needed) if index.projected is not None else None,
    )
    if _sorted_by(index, order):
        result.scan_index_forward = not order[0].startswith("-")
        result.ordered_by_db = True
    return result


def _names(cond: Any) -> set[str]:
    return attributes_of(cond) if isinstance(cond, Node) else {cond.field.name}


def _projection(meta: Any, attributes: set[str] | None, order: list[str], result: Plan, builder: Builder) -> str | None:
    if attributes is None or result.completes:
        return None
    needed = set(attributes) | set(meta.keys.names) | {name.lstrip("-") for name in order}
    if result.residual is not None:
        needed |= attributes_of(result.residual)
    return ", ".join(builder.name(name) for name in sorted(needed))


def plan(
    meta: Any,
    where: list[Node],
    order: list[str],
    *,
    high: int | None = None,
    for_count: bool = False,
    consistent: bool = False,
    attributes: set[str] | None = None,
    now: float | None = None,
) -> Plan:
    """Return the plan for a model's table, conditions, ordering and slice end.

    ``attributes`` (field names) asks Query/Scan to read only those attributes.
    ``now`` (epoch seconds) hides items whose TTLField has passed from Query/Scan.
    """
    table = meta.table_name
    conds: list = []
    for node in where:
        conds.extend(conjuncts(node))
    if any(c is FALSE for c in conds):
        return Plan("GetItem", table, empty=True, consistent=consistent, reasons=["the conditions are always false"])
    conds = [c for c in conds if c is not TRUE]
    key_plan = _composite_key_plan(meta, table, conds) if meta.composite_key else _key_plan(table, conds)
    direct = key_plan or _unique_plan(meta, table, conds)
    if direct is not None:
        direct.consistent = consistent
        return direct
    ttl = meta.ttl_field
    if ttl is not None and now is not None:
        # Expired items linger until DynamoDB deletes them: reads treat them as gone.
        alive = Node(Q.OR, False, [Leaf(ttl, "isnull", True), Leaf(ttl, "gt", ttl.to_python(int(now)))])
        conds = [*conds, alive]
    builder = Builder()
    reasons: list[str] = []
    needed = projections.needed(meta, [_names(c) for c in conds], order, attributes, for_count)
    chosen = _choose_index(meta, conds, order, reasons, needed)
    if chosen is not None and consistent and not (chosen[0].table or chosen[0].local):
        raise ConsistencyError(
            f"{meta.object_name}: this query would read global secondary index {chosen[0].name!r}, which "
            "DynamoDB cannot read consistently. Query by primary key, or drop .consistent() / consistent_read."
        )
    if chosen is not None:
        try:
            result = _query_plan(table, conds, order, chosen, builder, needed)
        except _Impossible:
            reasons.append(f"{chosen[0].sort_key}: the bounds cross, nothing can match")
            return Plan("GetItem", table, empty=True, consistent=consistent, reasons=reasons)
    else:
        everything = _and(conds)
        result = Plan("Scan", table, filter=compile_node(everything, builder) if everything else None)
        reasons.append("no usable index: Scan")
    result.consistent, result.reasons = consistent, reasons
    result.projection = _projection(meta, attributes, order, result, builder)
    result.names, result.values = builder.names, builder.values
    pushdown = not result.filter and result.residual is None and (result.ordered_by_db or not order)
    if not for_count and high is not None and pushdown:
        result.limit = high
    elif not for_count and high is not None and result.completes:
        result.page_size = GET_CHUNK  # page until enough pass: one BatchGetItem per page
    return result
