"""The typed results of one `make bench` run: what bench/run.py measures and bench/report.py reports.

Locust phases are :class:`loadtests.records.Phase` records; everything else
is defined here. ``reports/bench.json`` is a :class:`Results` as JSON, read
back with :func:`loadtests.records.from_dict` to re-render the report.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from loadtests.data import from_env
from loadtests.records import Phase
from scripts.processes import ROOT

# Which emulator's read-mix ratio the caches target is judged on, when it ran (else moto's):
# dynalite prices an index Query like a GetItem, as DynamoDB does; moto walks the whole table.
TARGET_EMULATOR = "dynalite"


@dataclass
class BenchConfig:
    """The knobs, each read from ``BENCH_<NAME>`` (e.g. ``BENCH_USERS=20``); BENCH_QUICK=1 shortens the phases."""

    users: int = 20
    duration: int = 20  # seconds a side, split over the ABBA rounds (read mix; bare view vs author page)
    endpoint_duration: int = 8  # each other single-endpoint run
    warmup: int = 5
    mix_users: int = 50
    mix_duration: int = 60  # the blog mix; 0 skips it
    workers: int = 2
    threads: int = 4
    seed: str = "40,200,5"  # authors, posts, comments per post
    items: int = 10_000  # materialisation
    repeat: int = 7
    rounds: int = 2
    emulators: str = "moto,dynalite"  # the read mix's; moto always runs
    staleness_writes: int = 100  # cross-worker staleness: writes through one worker, each awaited through the other

    @classmethod
    def from_env(cls) -> BenchConfig:
        quick = {"duration": 10, "endpoint_duration": 3, "warmup": 2, "mix_duration": 10, "items": 2000, "repeat": 3}
        quick["staleness_writes"] = 20
        return from_env(cls, "BENCH_", quick if os.environ.get("BENCH_QUICK", "0") not in ("", "0") else None)

    @property
    def seed_counts(self) -> tuple[int, int, int]:
        given = [int(n) for n in self.seed.split(",")]
        authors, posts, comments = given + [40, 200, 5][len(given) :]
        return authors, posts, comments


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "?"


@dataclass
class Machine:
    nproc: int
    cpu: str
    python: str
    platform: str
    versions: dict[str, str]

    @classmethod
    def current(cls) -> Machine:
        cpuinfo = Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []
        cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "")
        dists = ("Django", "boto3", "moto", "locust", "pynamodb", "gunicorn", "cachetools")
        versions = {dist: _version(dist) for dist in dists}
        node = subprocess.run(["node", "--version"], capture_output=True, text=True) if shutil.which("node") else None
        versions["node"] = node.stdout.strip() if node else "?"
        package = ROOT / "node_modules" / "dynalite" / "package.json"
        versions["dynalite"] = json.loads(package.read_text())["version"] if package.exists() else "?"
        nproc, py = len(os.sched_getaffinity(0)), platform.python_version()
        return cls(nproc, cpu or platform.processor(), py, platform.platform(), versions)


@dataclass
class Seed:
    how: str  # "manage.py seed_blog"
    authors: int
    posts: int
    comments: int  # per post
    pool_posts: int = 0  # what the readers pick from
    pool_authors: int = 0


@dataclass
class Rate:
    """A boto3 loop's calls per second against an emulator."""

    processes: int
    threads: int  # in all
    calls: int
    errors: int
    seconds: float
    rate: float


@dataclass
class EmulatorRates:
    table: str
    single: Rate  # GetItem, 1 thread
    concurrent: Rate  # GetItem, shaped like gunicorn
    query: Rate | None = None  # the comment list's index Query, shaped like gunicorn
    query_index: str = ""


@dataclass
class Emulator:
    """One emulator's part of the run: its data, the read mix with caches off and on, its raw call rates."""

    name: str
    endpoint: str = ""
    ran: bool = True
    why: str = ""  # why it did not run
    seed: Seed | None = None
    off: Phase | None = None
    on: Phase | None = None
    rates: EmulatorRates | None = None

    @property
    def label(self) -> str:
        return {"moto": "moto server"}.get(self.name, self.name)


@dataclass
class PageCalls:
    """DynamoDB calls of consecutive requests for one page on one keep-alive connection."""

    label: str
    naive: int  # calls a client making one GetItem per reference would make
    naive_formula: str
    calls: list[int]
    hits: list[int]
    misses: list[int]
    ddb_ms: list[float]

    @property
    def first(self) -> int:
        return self.calls[0]

    @property
    def warm(self) -> float:
        return statistics.median(self.calls[1:]) if len(self.calls) > 1 else self.calls[0]


# DynamoDB Streams, us-east-1 list price: each GetRecords call is one streams read request unit
# (the first 2.5 million a month are free per account; other Streams calls are not billed).
STREAMS_USD_PER_100K_READS = 0.02
SECONDS_PER_MONTH = 30 * 86_400


@dataclass
class Staleness:
    """Cross-worker staleness after writes through another worker, and the stream reader's polling meanwhile."""

    lags_s: list[float]
    seconds: float  # the phase's duration
    polls: int  # the reader's polls during it
    get_records: int  # and its GetRecords calls (the billed unit)
    tables: int  # tables with a stream
    interval_s: float  # STREAM_POLL_INTERVAL
    same_reader: bool  # one reader throughout

    def percentile(self, q: float) -> float:
        ordered = sorted(self.lags_s)
        return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]

    @property
    def get_records_per_s(self) -> float:
        return self.get_records / self.seconds if self.seconds else 0.0

    @property
    def usd_per_month(self) -> float:
        """What the measured GetRecords rate costs a host in a month at list price (free tier not subtracted)."""
        return self.get_records_per_s * SECONDS_PER_MONTH / 100_000 * STREAMS_USD_PER_100K_READS


@dataclass
class Contender:
    best_s: float
    median_s: float
    samples_s: list[float]
    items: int

    @property
    def items_per_s(self) -> float:
        return self.items / self.best_s

    @property
    def us_per_item(self) -> float:
        return self.best_s / self.items * 1e6


@dataclass
class Materialisation:
    items: int
    repeat: int
    datetime_format: str
    contenders: dict[str, Contender]  # ours, typedeserializer, pynamodb

    def speedup(self, other: str, median: bool = False) -> float:
        """How many times faster ours is than ``other`` (best of the repetitions, or their medians)."""
        mine, theirs = self.contenders["ours"], self.contenders[other]
        return theirs.median_s / mine.median_s if median else theirs.best_s / mine.best_s


@dataclass
class Results:
    machine: Machine
    config: BenchConfig
    started: str
    elapsed_s: float = 0.0
    materialize: Materialisation | None = None
    emulators: dict[str, Emulator] = field(default_factory=dict)  # moto first
    calls_off: dict[str, PageCalls] = field(default_factory=dict)
    calls_on: dict[str, PageCalls] = field(default_factory=dict)
    bare: Phase | None = None
    endpoints_on: dict[str, Phase] = field(default_factory=dict)
    endpoints_off: dict[str, Phase] = field(default_factory=dict)
    blog_mix: Phase | None = None
    staleness: Staleness | None = None
    request_cost: dict[str, dict[str, float]] = field(default_factory=dict)  # variant -> best_us, median_us
    write_costs: dict[str, Any] = field(default_factory=dict)  # bench.write_costs --json: before, rows_*

    def read_mixes(self) -> list[Emulator]:
        return [e for e in self.emulators.values() if e.on and e.off]

    @property
    def target(self) -> Emulator | None:
        """The emulator the caches target is judged on."""
        mixes = {e.name: e for e in self.read_mixes()}
        return mixes.get(TARGET_EMULATOR) or next(iter(mixes.values()), None)

    def phases(self) -> list[Phase]:
        mixes = [p for e in self.read_mixes() for p in (e.off, e.on) if p]
        others = [self.bare, *self.endpoints_on.values(), *self.endpoints_off.values(), self.blog_mix]
        return mixes + [p for p in others if p]
