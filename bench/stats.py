"""Figures of one locust phase, and several phases merged exactly (for ABBA rounds).

A phase's tally file (written by loadtests/common.py when locust quits) holds
locust's own counters with the full response-time histogram per request name,
and the Server-Timing tally. Merging sums requests, failures, elapsed time and
histograms; percentiles are then computed the way locust computes them.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from loadtests.harness import merge_entries as _merge_entries


def merge(phases: list[dict[str, Any]]) -> dict[str, Any]:
    """One result from phases of the same workload (their names are listed in ``rounds``)."""
    if len(phases) == 1:
        return phases[0]
    first = phases[0]
    locust_rows: dict[str, list[dict[str, Any]]] = {}
    timing: dict[str, Counter] = {}
    for p in phases:
        for key, entry in p.get("locust", {}).items():
            locust_rows.setdefault(key, []).append(entry)
        for key, row in p.get("tally", {}).items():
            timing.setdefault(key, Counter()).update(row)
    agg = _merge_entries(locust_rows.get("Aggregated", []))
    out = {
        "name": first["name"].rsplit("_r", 1)[0],
        "rounds": [p["name"] for p in phases],
        "users": first["users"],
        "seconds": sum(p["seconds"] for p in phases),
        "requests": agg["requests"],
        "failures": agg["failures"],
        "rps": agg["rps"],
        "p50": agg["p50"],
        "p95": agg["p95"],
        "p99": agg["p99"],
        "avg": agg["avg"],
        "rps_by_round": [p["rps"] for p in phases],
        "cpu_warning": any(p.get("cpu_warning") for p in phases),
        "returncode": max(p.get("returncode", 0) for p in phases),
        "failures_detail": [f for p in phases for f in p.get("failures_detail", [])][:10],
        "exceptions": sum(p.get("exceptions", 0) for p in phases),
        "per_request": {
            key: _per_request(entries, agg["elapsed_s"]) for key, entries in locust_rows.items() if key != "Aggregated"
        },
        "tally": {k: dict(v) for k, v in timing.items()},
    }
    add_tally_ratios(out)
    return out


def _per_request(entries: list[dict[str, Any]], elapsed: float) -> dict[str, Any]:
    out = _merge_entries(entries)
    out["rps"] = out["requests"] / elapsed if elapsed else float("nan")  # over the whole run
    return out


def add_tally_ratios(result: dict[str, Any]) -> None:
    """calls_per_request and cache_hit_ratio from the Server-Timing tally's Aggregated row."""
    agg = result.get("tally", {}).get("Aggregated", {})
    seen = agg.get("with_header") or 0
    result["calls_per_request"] = agg.get("calls", 0) / seen if seen else None
    lookups = agg.get("hits", 0) + agg.get("misses", 0)
    result["cache_hit_ratio"] = agg.get("hits", 0) / lookups if lookups else None
