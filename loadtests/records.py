"""Typed records of a load run, from the locust process to `make bench`'s report.

The locust process dumps a :class:`Phase` as JSON when it quits (counters with
the full response-time histogram per request name, and the Server-Timing
tally); the harness reads it back, and phases of one workload merge exactly
(summed requests, time and histograms; percentiles computed as locust does).
Nothing here imports locust, so any process can use these.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

AGGREGATED = "Aggregated"


@dataclass
class Requests:
    """Locust's counters for one request name (or all of them), with the response-time histogram."""

    requests: int = 0
    failures: int = 0
    elapsed_s: float = 0.0  # the whole run's, so a request name's rps is over the run too
    total_ms: float = 0.0
    histogram: dict[int, int] = field(default_factory=dict)  # rounded ms -> count

    def __add__(self, other: Requests) -> Requests:
        return Requests(
            self.requests + other.requests,
            self.failures + other.failures,
            self.elapsed_s + other.elapsed_s,
            self.total_ms + other.total_ms,
            dict(Counter(self.histogram) + Counter(other.histogram)),
        )

    @property
    def rps(self) -> float:
        return self.requests / self.elapsed_s if self.elapsed_s else math.nan

    @property
    def avg(self) -> float:
        return self.total_ms / self.requests if self.requests else math.nan

    def percentile(self, fraction: float) -> float:
        """Locust's ``calculate_response_time_percentile`` over the histogram."""
        if not self.requests:
            return math.nan
        wanted, processed = int(self.requests * fraction), 0
        for ms in sorted(self.histogram, reverse=True):
            processed += self.histogram[ms]
            if self.requests - processed <= wanted:
                return float(ms)
        return 0.0

    p50 = property(lambda self: self.percentile(0.50))
    p95 = property(lambda self: self.percentile(0.95))
    p99 = property(lambda self: self.percentile(0.99))


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


@dataclass
class Timing:
    """What ``Server-Timing`` said for one request name: DynamoDB calls and time, cache hits and misses."""

    responses: int = 0
    with_header: int = 0
    calls: int = 0
    ddb_ms: float = 0.0
    hits: int = 0
    misses: int = 0

    def add(self, header: str | None) -> None:
        """Count one response: ``ddb;dur=4.2;desc="calls=3", cache;desc="hits=5 misses=1"``."""
        self.responses += 1
        seen: dict[str, float] = {}
        for metric in (header or "").split(","):
            name, *params = (part.strip() for part in metric.split(";"))
            for key, _, value in (param.partition("=") for param in params):
                value = value.strip('"')
                if name == "ddb" and key == "dur":
                    seen["ddb_ms"] = float(value)
                elif key == "desc":
                    seen.update((k, float(v)) for k, _, v in (token.partition("=") for token in value.split()))
        if "calls" in seen:
            self.with_header += 1
            self.calls += int(seen["calls"])
            self.ddb_ms += seen.get("ddb_ms", 0.0)
            self.hits += int(seen.get("hits", 0))
            self.misses += int(seen.get("misses", 0))

    def __add__(self, other: Timing) -> Timing:
        return Timing(*(a + b for a, b in zip(dataclasses.astuple(self), dataclasses.astuple(other), strict=True)))

    @property
    def calls_per_request(self) -> float | None:
        return _ratio(self.calls, self.with_header)

    @property
    def ddb_ms_per_request(self) -> float | None:
        return _ratio(self.ddb_ms, self.with_header)

    @property
    def hit_ratio(self) -> float | None:
        return _ratio(self.hits, self.hits + self.misses)


@dataclass
class Failure:
    method: str
    name: str
    error: str
    occurrences: int

    def __str__(self) -> str:
        return f"{self.method} {self.name}: {self.error} x{self.occurrences}"


@dataclass
class Phase:
    """One headless locust run, or several runs of one workload merged."""

    name: str = ""
    users: int = 0
    seconds: float = 0
    returncode: int = 0
    exceptions: int = 0
    cpu_warning: bool = False  # locust said its own CPU went above 90%
    stats: dict[str, Requests] = field(default_factory=dict)  # "GET /api/..." and AGGREGATED
    timing: dict[str, Timing] = field(default_factory=dict)  # by request name
    failed: list[Failure] = field(default_factory=list)
    rps_by_round: list[float] = field(default_factory=list)

    @property
    def total(self) -> Requests:
        return self.stats.get(AGGREGATED, Requests())

    @property
    def timing_total(self) -> Timing:
        return sum(self.timing.values(), Timing())

    def names(self) -> list[str]:
        return sorted(set(self.stats) - {AGGREGATED})

    @classmethod
    def merge(cls, phases: list[Phase], name: str) -> Phase:
        stats: dict[str, Requests] = {}
        timing: dict[str, Timing] = {}
        for phase in phases:
            for key, entry in phase.stats.items():
                stats[key] = stats.get(key, Requests()) + entry
            for key, row in phase.timing.items():
                timing[key] = timing.get(key, Timing()) + row
        return cls(
            name=name,
            users=phases[0].users,
            seconds=sum(p.seconds for p in phases),
            returncode=max(p.returncode for p in phases),
            exceptions=sum(p.exceptions for p in phases),
            cpu_warning=any(p.cpu_warning for p in phases),
            stats=stats,
            timing=timing,
            failed=[f for p in phases for f in p.failed][:10],
            rps_by_round=[p.total.rps for p in phases],
        )


def to_json(record: Any) -> str:
    return json.dumps(dataclasses.asdict(record), indent=1)


def from_dict(kind: Any, data: Any) -> Any:
    """Rebuild a record of type ``kind`` (nested dataclasses, lists, dicts, optionals) from its JSON form."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if data is None:
        return None
    if origin in (typing.Union, types.UnionType):
        return from_dict(next(a for a in args if a is not type(None)), data)
    if dataclasses.is_dataclass(kind):
        hints = typing.get_type_hints(kind)
        return kind(**{name: from_dict(hints[name], value) for name, value in data.items() if name in hints})
    if origin is list:
        return [from_dict(args[0], item) for item in data]
    if origin is tuple:
        return tuple(from_dict(args[0], item) for item in data)
    if origin is dict:
        return {from_dict(args[0], k): from_dict(args[1], v) for k, v in data.items()}
    return kind(data) if kind in (int, float) else data  # JSON object keys are strings
