"""Figures of one locust phase, and several phases merged exactly (for ABBA rounds).

A phase's tally file (written by loadtests/common.py when locust quits) holds
locust's own counters with the full response-time histogram per request name,
and the Server-Timing tally. Merging sums requests, failures, elapsed time and
histograms; percentiles are then computed the way locust computes them.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Iterable

PERCENTILES = {"p50": 0.50, "p95": 0.95, "p99": 0.99}


def percentile(histogram: dict[int, int], count: int, fraction: float) -> float:
    """Locust's ``calculate_response_time_percentile`` over a ``{ms: count}`` histogram."""
    if not count:
        return float("nan")
    wanted = int(count * fraction)
    processed = 0
    for rt in sorted(histogram, reverse=True):
        processed += histogram[rt]
        if count - processed <= wanted:
            return float(rt)
    return 0.0


def _merge_entries(entries: Iterable[dict[str, Any]]) -> dict[str, Any]:
    hist: Counter = Counter()
    requests = failures = 0
    elapsed = total_rt = 0.0
    for e in entries:
        requests += e["num_requests"]
        failures += e["num_failures"]
        total_rt += e.get("total_response_time", 0.0)
        if e.get("last_request_timestamp") and e.get("start_time"):
            elapsed += max(0.0, e["last_request_timestamp"] - e["start_time"])
        hist.update({int(float(k)): v for k, v in e["response_times"].items()})
    out = {"requests": requests, "failures": failures, "elapsed_s": elapsed,
           "rps": requests / elapsed if elapsed else float("nan"),
           "avg": total_rt / requests if requests else float("nan")}
    for name, fraction in PERCENTILES.items():
        out[name] = percentile(hist, requests, fraction)
    return out


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
        "p50": agg["p50"], "p95": agg["p95"], "p99": agg["p99"], "avg": agg["avg"],
        "rps_by_round": [p["rps"] for p in phases],
        "cpu_warning": any(p.get("cpu_warning") for p in phases),
        "returncode": max(p.get("returncode", 0) for p in phases),
        "failures_detail": [f for p in phases for f in p.get("failures_detail", [])][:10],
        "exceptions": sum(p.get("exceptions", 0) for p in phases),
        "per_request": {
            key: {"count": m["requests"], "failures": m["failures"], "rps": m["rps"],
                  "p50": m["p50"], "p95": m["p95"], "p99": m["p99"]}
            for key, entries in locust_rows.items() if key != "Aggregated"
            for m in [_merge_entries(entries)]
        },
        "tally": {k: dict(v) for k, v in timing.items()},
        "locust": {},
    }
    add_tally_ratios(out)
    return out


def add_tally_ratios(result: dict[str, Any]) -> None:
    """calls_per_request and cache_hit_ratio from the Server-Timing tally's Aggregated row."""
    agg = result.get("tally", {}).get("Aggregated", {})
    seen = agg.get("with_header") or 0
    result["calls_per_request"] = agg.get("calls", 0) / seen if seen else None
    lookups = agg.get("hits", 0) + agg.get("misses", 0)
    result["cache_hit_ratio"] = agg.get("hits", 0) / lookups if lookups else None
