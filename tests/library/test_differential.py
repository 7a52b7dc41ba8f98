"""Differential test: random QuerySets on a DynamoModel and on Django's ORM (SQLite) give the same answers.

``DIFF_QUERIES`` sets how many queries run per engine (default 80, a few seconds
each); ``DIFF_SEED`` replays one run. A failure prints a minimised reproduction:
the rows, the QuerySet as code, and both answers.
"""

from __future__ import annotations

import os
import random
from collections import Counter

import pytest

from tests import differential as diff

QUERIES = int(os.environ.get("DIFF_QUERIES", "80"))
SEED = int(os.environ.get("DIFF_SEED", "20261130"))
ROWS = 60
MINIMISE_BUDGET = 120


TARGETS = {"pk": diff.DiffItem, "composite": diff.DiffKeyed, "projected": diff.DiffProjected}


@pytest.fixture(params=sorted(TARGETS))
def loaded(request, engine):
    diff.oracle_connect()
    engine.create_tables(diff.DiffItem, diff.DiffKeyed, diff.DiffProjected)
    diff.Target.model = TARGETS[request.param]
    yield engine
    diff.Target.model = diff.DiffItem


def oracle_rows() -> list[dict]:
    return [{"pk": row[0], **dict(zip(diff.FIELDS, row[1:], strict=True))} for row in diff.table("orm")]


def mismatch(rows: list[dict], ops: list[tuple]) -> tuple | None:
    """Load rows, run ops on both sides; return (ours, theirs) when they differ, else None."""
    diff.load(rows)
    ours, theirs = diff.run(ops, "ddb"), diff.run(ops, "orm")
    if not diff.same(ops, ours, theirs):
        return ours, theirs
    if ops[-1][0] in ("update", "delete"):
        ours, theirs = diff.table("ddb"), diff.table("orm")
        if not diff.same([("list",)], ours, theirs):
            return ("table after", ours), ("table after", theirs)
    return None


def simpler_ops(ops: list[tuple]):
    """Yield smaller variants of a query: fewer ops, then simpler condition trees."""
    for i in range(len(ops) - 1):
        yield ops[:i] + ops[i + 1 :]
    for i, op in enumerate(ops[:-1]):
        if op[0] in ("filter", "exclude") and op[1][0] != "leaf":
            for child in op[1][2]:
                yield [*ops[:i], (op[0], child), *ops[i + 1 :]]


def minimise(rows: list[dict], ops: list[tuple]) -> tuple[list[dict], list[tuple], tuple]:
    budget = MINIMISE_BUDGET
    found = mismatch(rows, ops)
    assert found is not None
    progress = True
    while progress and budget > 0:
        progress = False
        for candidate in simpler_ops(ops):
            budget -= 1
            result = mismatch(rows, candidate)
            if result is not None:
                ops, found, progress = candidate, result, True
                break
        chunk = max(1, len(rows) // 4)
        while chunk >= 1 and budget > 0:
            for start in range(0, len(rows), chunk):
                budget -= 1
                candidate = rows[:start] + rows[start + chunk :]
                result = mismatch(candidate, ops)
                if result is not None:
                    rows, found, progress = candidate, result, True
                    break
            else:
                chunk //= 2
                continue
            break
    return rows, ops, found


def report(engine_name: str, seed: int, number: int, rows: list[dict], ops: list[tuple], found: tuple) -> str:
    ours, theirs = found
    lines = [
        f"Mismatch on {engine_name}, {diff.Target.model.__name__} (DIFF_SEED={seed}, query #{number}), minimised:",
        f"rows = {rows!r}",
        f"query = {diff.ops_code(ops)}",
        f"ops = {ops!r}",
        f"DynamoDB answered: {ours!r}",
        f"Django answered:   {theirs!r}",
    ]
    return "\n".join(lines)


def test_random_querysets_answer_as_djangos_orm(loaded):
    rng = random.Random(f"{SEED}-{loaded.name}-{diff.Target.model.__name__}")
    rows = diff.make_rows(rng, ROWS)
    diff.load(rows)
    bugs = diff.probe_engine_bugs()
    generator = diff.Generator(rng, rows)
    excused: Counter = Counter()
    kinds: Counter = Counter()
    reads: Counter = Counter()
    for number in range(QUERIES):
        before = oracle_rows()
        generator.rows = before
        ops = generator.query()
        kinds[ops[-1][0]] += 1
        reads[diff.read_as(ops)] += 1
        ours, theirs = diff.run(ops, "ddb"), diff.run(ops, "orm")
        ok = diff.same(ops, ours, theirs)
        if ok and ops[-1][0] in ("update", "delete"):
            ok = diff.same([("list",)], diff.table("ddb"), diff.table("orm"))
        if not ok:
            bug = diff.excused_by(ops, bugs)
            if bug is not None:
                excused[bug] += 1
                diff.load(before)
                continue
            small_rows, small_ops, found = minimise(before, ops)
            pytest.fail(report(loaded.name, SEED, number, small_rows, small_ops, found), pytrace=False)
        if diff.OracleItem.objects.using(diff.ORACLE_ALIAS).count() < ROWS // 2:
            diff.load(diff.make_rows(rng, ROWS))
    name = f"{loaded.name} {diff.Target.model.__name__}"
    summary = f"{QUERIES} queries {dict(kinds)} read as {dict(reads)}"
    print(f"\n{name}: {summary}; engine bugs {sorted(bugs)} excused {dict(excused)}")
