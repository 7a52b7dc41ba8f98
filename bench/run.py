"""`make bench`: one run, one machine, every figure side by side.

Order (each step's processes are started here and stopped here):

 1. materialisation (d), CPU only, before any server runs;
 2. a moto server, seeded with ``manage.py seed_blog``; two stacks from
    scripts/devstack.py on it: caches off (``DYNAMO_CACHE_TTL=0``) and on;
    the bare Django app under gunicorn with the same config file;
 3. calls per request (b): fixture created through the caches-off stack,
    then each page measured on both stacks;
 4. the read mix (a), caches off vs on, same users, after a warm-up each, in
    ABBA rounds (off, on, on, off) merged exactly, so drift favours neither;
 5. the same read mix on dynalite (node_modules/.bin/dynalite, when present):
    its own two stacks, seeded the same way, same users, durations and ABBA
    rounds; then dynalite's raw GetItem and index-Query rates; its processes
    are stopped before the next step. moto answers an index Query by walking
    the whole table, dynalite does not, so the two emulators price the calls
    the caches cannot remove very differently: both ratios are reported;
 6. the bare view vs the cached author page, ABBA likewise; every other
    endpoint alone, caches on and off (c); then the raw GetItem and
    index-Query rates of the moto server alone;
 7. the blog mix (readers + writers) at 50 users for 60 s: zero failures?

Writes reports/bench.json, reports/bench.md and reports/bench.png; CSVs and
logs of every phase go to reports/bench/.

Environment: BENCH_USERS (20), BENCH_DURATION (20 s per side, split over the
rounds: read mix, cached author page, bare view), BENCH_ROUNDS (2),
BENCH_ENDPOINT_DURATION (8 s), BENCH_WARMUP (5 s),
BENCH_MIX_USERS (50), BENCH_MIX_DURATION (60 s; 0 skips), BENCH_WORKERS (2),
BENCH_THREADS (4), BENCH_SEED ("40,200,5": authors, posts, comments per post),
BENCH_ITEMS (10000), BENCH_REPEAT (7), BENCH_EMULATORS ("moto,dynalite": the read mix's
emulators; moto always runs), BENCH_QUICK=1 (short phases, for trying it out).
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import calls as calls_mod  # noqa: E402
from bench import ceiling, report  # noqa: E402
from bench.stats import add_tally_ratios, merge  # noqa: E402
from loadtests import common  # noqa: E402
from loadtests.harness import (  # noqa: E402
    PRODUCTION_ENV,
    PYTHON,
    DevStack,
    Dynalite,
    Gunicorn,
    HarnessError,
    MotoServer,
    base_env,
    dynalite_missing,
    manage,
    run_locust,
)

REPORTS = ROOT / "reports"
WORK = REPORTS / "bench"
ENDPOINTS = ("author_detail", "post_detail", "posts_list", "comments_list", "authors_list")
# Which emulator's read-mix ratio the caches target is judged on, when it ran (else moto):
# dynalite prices an index Query like a GetItem, as DynamoDB does; moto walks the whole
# table for one, so moto inflates the cost of exactly the calls the caches cannot remove.
TARGET_EMULATOR = "dynalite"


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


@dataclass
class BenchConfig:
    users: int
    duration: int
    endpoint_duration: int
    warmup: int
    mix_users: int
    mix_duration: int
    workers: int
    threads: int
    seed: tuple[int, int, int]
    items: int
    repeat: int
    rounds: int
    emulators: tuple[str, ...] = ("moto", "dynalite")

    @classmethod
    def from_env(cls) -> BenchConfig:
        quick = os.environ.get("BENCH_QUICK", "").strip() not in ("", "0")
        seed = [int(x) for x in os.environ.get("BENCH_SEED", "40,200,5").split(",")]
        seed += [40, 200, 5][len(seed) :]
        return cls(
            users=_int("BENCH_USERS", 20),
            duration=_int("BENCH_DURATION", 10 if quick else 20),
            endpoint_duration=_int("BENCH_ENDPOINT_DURATION", 3 if quick else 8),
            warmup=_int("BENCH_WARMUP", 2 if quick else 5),
            mix_users=_int("BENCH_MIX_USERS", 50),
            mix_duration=_int("BENCH_MIX_DURATION", 10 if quick else 60),
            workers=_int("BENCH_WORKERS", 2),
            threads=_int("BENCH_THREADS", 4),
            seed=(seed[0], seed[1], seed[2]),
            items=_int("BENCH_ITEMS", 2000 if quick else 10_000),
            repeat=_int("BENCH_REPEAT", 3 if quick else 7),
            rounds=_int("BENCH_ROUNDS", 2),
            emulators=tuple(
                e.strip() for e in os.environ.get("BENCH_EMULATORS", "moto,dynalite").split(",") if e.strip()
            ),
        )


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for dist in ("Django", "boto3", "moto", "locust", "pynamodb", "gunicorn", "cachetools"):
        try:
            from importlib.metadata import version

            versions[dist] = version(dist)
        except Exception:  # noqa: BLE001
            versions[dist] = "?"
    for name, argv in (("node", ["node", "--version"]),):
        try:
            versions[name] = subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip() or "?"
        except (OSError, subprocess.SubprocessError):
            versions[name] = "?"
    try:
        versions["dynalite"] = json.loads((ROOT / "node_modules" / "dynalite" / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        versions["dynalite"] = "?"
    try:
        nproc = int(subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip())
    except (OSError, ValueError):
        nproc = os.cpu_count() or 0
    return {
        "nproc": nproc,
        "cpu": cpu or platform.processor(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
    }


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Bench:
    def __init__(self, cfg: BenchConfig) -> None:
        self.cfg = cfg
        self.pool_file = WORK / "pool.json"
        # The same gunicorn settings (config/gunicorn.conf.py + these) for all three servers.
        self.server_env = {"WEB_CONCURRENCY": str(cfg.workers), "GUNICORN_THREADS": str(cfg.threads)}
        self.stack_env = {**self.server_env, **PRODUCTION_ENV}

    # -- locust phases ---------------------------------------------------------

    def phase(
        self,
        name: str,
        *,
        locustfile: str,
        host: str,
        seconds: int,
        users: int | None = None,
        endpoint: str | None = None,
        closed_loop: bool = True,
        pool_file: Path | None = None,
    ) -> dict[str, Any]:
        users = users or self.cfg.users
        env = {"LOADTEST_POOL_FILE": str(pool_file or self.pool_file), "LOADTEST_ENDPOINT": endpoint}
        if closed_loop:
            env["LOADTEST_WAIT"] = "0"
        extra = ["--reset-stats"] if closed_loop else []
        run = run_locust(
            f"loadtests/{locustfile}",
            host,
            users=users,
            spawn_rate=users,
            run_time=f"{seconds}s",
            csv_prefix=WORK / name,
            env=env,
            extra_args=extra,
            timeout=seconds + 120,
        )
        result = run.summary()
        result.update(
            name=name,
            users=users,
            seconds=seconds,
            returncode=run.returncode,
            failures_detail=run.failures[:10],
            exceptions=len(run.exceptions),
            per_request={k: run.figures(k) for k in run.names()},
            tally=run.server_timing,
            locust=run.locust_stats,
        )
        add_tally_ratios(result)
        log(
            f"  {name}: {result['rps']:.1f} req/s, p50/p95/p99 {result['p50']:.0f}/{result['p95']:.0f}/"
            f"{result['p99']:.0f} ms, {result['failures']} failures of {result['requests']}"
            + (
                f", {result['calls_per_request']:.2f} ddb calls/req"
                if result.get("calls_per_request") is not None
                else ""
            )
            + (" [locust CPU > 90%]" if result["cpu_warning"] else "")
        )
        return result

    def abba(self, a: tuple[str, dict[str, Any]], b: tuple[str, dict[str, Any]], seconds: int) -> tuple[dict, dict]:
        """Run two workloads in ABBA order over ``rounds`` (A B, B A, ...) and merge each side.

        Alternating cancels a drift in the machine's load (other work starting or
        stopping) that would otherwise favour whichever side ran second.
        """
        rounds = max(1, self.cfg.rounds)
        per_phase = max(5, round(seconds / rounds))
        runs: dict[str, list[dict[str, Any]]] = {a[0]: [], b[0]: []}
        for i in range(rounds):
            for key, kwargs in (a, b) if i % 2 == 0 else (b, a):
                runs[key].append(self.phase(f"{key}_r{i + 1}", seconds=per_phase, **kwargs))
        return merge(runs[a[0]]), merge(runs[b[0]])

    def warmup(self, name: str, host: str, pool_file: Path | None = None) -> None:
        if self.cfg.warmup > 0:
            self.phase(
                f"warmup_{name}", locustfile="read_mix.py", host=host, seconds=self.cfg.warmup, pool_file=pool_file
            )

    def read_mix(self, emulator: str, off_url: str, on_url: str, pool_file: Path) -> dict[str, Any]:
        """Section a on one emulator: warm-ups, then caches off vs on in ABBA rounds."""
        cfg = self.cfg
        log(
            f"a. read mix on {emulator}, {cfg.users} users, {cfg.duration}s each side in {cfg.rounds} ABBA rounds: "
            "caches off vs on ..."
        )
        self.warmup(f"{emulator}_off", off_url, pool_file)
        self.warmup(f"{emulator}_on", on_url, pool_file)
        mix_off, mix_on = self.abba(
            (f"read_mix_{emulator}_off", {"locustfile": "read_mix.py", "host": off_url, "pool_file": pool_file}),
            (f"read_mix_{emulator}_on", {"locustfile": "read_mix.py", "host": on_url, "pool_file": pool_file}),
            cfg.duration,
        )
        speedup = mix_on["rps"] / mix_off["rps"] if mix_off.get("rps") else float("nan")
        log(
            f"  read mix on {emulator} merged: off {mix_off['rps']:.1f} req/s, on {mix_on['rps']:.1f} req/s "
            f"({speedup:.2f}x)"
        )
        return {"off": mix_off, "on": mix_on, "emulator": emulator}

    def emulator_rates(self, name: str, endpoint: str) -> dict[str, Any]:
        """Raw GetItem (1 thread; workers x threads) and index-Query (workers x threads) rates."""
        cfg = self.cfg
        log(f"c. raw call rates of {name} (boto3 loops, nothing else running) ...")
        table, key = ceiling.pick_item(endpoint)
        out: dict[str, Any] = {
            "table": table,
            "single": ceiling.getitem_rate(endpoint, table, key, seconds=5, threads=1),
            "concurrent": ceiling.getitem_rate_processes(
                endpoint, table, key, seconds=5, processes=cfg.workers, threads=cfg.threads
            ),
        }
        try:
            query = ceiling.pick_query(endpoint)
            out["query"] = ceiling.call_rate_processes(
                endpoint, "query", query, seconds=5, processes=cfg.workers, threads=cfg.threads
            )
            out["query"]["index"] = f"{query['TableName']}/{query['IndexName']}"
        except RuntimeError as exc:
            log(f"  no index Query measured: {exc}")
        for k in ("single", "concurrent", "query"):
            v = out.get(k)
            if v:
                log(
                    f"  {name} {'Query' if k == 'query' else 'GetItem'} ({v['threads']} threads): "
                    f"{v['rate']:.0f} calls/s, {v['errors']} errors"
                )
        return out

    def dynalite_read_mix(self, results: dict[str, Any]) -> None:
        """Section a on dynalite, with its own emulator and stacks, stopped before returning."""
        cfg = self.cfg
        missing = dynalite_missing()
        if missing:
            log(f"a. no read mix on dynalite: {missing}")
            results["emulators"]["dynalite"] = {"ran": False, "why": missing}
            return
        pool_file = WORK / "pool-dynalite.json"
        try:
            with ExitStack() as stack:
                log("starting dynalite and two stacks on it: caches off, caches on ...")
                dyn = stack.enter_context(Dynalite(log_path=WORK / "dynalite.log"))
                off = stack.enter_context(
                    DevStack(
                        log_path=WORK / "stack-dynalite-off.log",
                        dynamodb_endpoint=dyn.endpoint,
                        env={**self.stack_env, "DYNAMO_CACHE_TTL": "0"},
                    )
                )
                on = stack.enter_context(
                    DevStack(
                        log_path=WORK / "stack-dynalite-on.log",
                        dynamodb_endpoint=dyn.endpoint,
                        env={**self.stack_env, "DYNAMO_CACHE_TTL": None},
                    )
                )
                authors, posts, comments = cfg.seed
                log(f"seeding dynalite: {authors} authors, {posts} posts, {comments} comments ...")
                seed = self.seed(dyn.endpoint, off.url, authors, posts, comments)
                pool = common.discover_pool(off.url, common.Settings.from_env())
                pool_file.write_text(json.dumps(pool))
                results["emulators"]["dynalite"] = {
                    "ran": True,
                    "endpoint": dyn.endpoint,
                    "seed": seed,
                    "pool": {"posts": len(pool["posts"]), "authors": len(pool["authors"])},
                    "servers": {"off": off.url, "on": on.url},
                }
                results["read_mix"]["dynalite"] = self.read_mix("dynalite", off.url, on.url, pool_file)
                results["getitem"]["dynalite"] = self.emulator_rates("dynalite", dyn.endpoint)
                log("stopping dynalite and its stacks ...")
        except HarnessError as exc:
            log(f"  dynalite run failed, continuing with moto only: {str(exc).splitlines()[0]}")
            results["emulators"]["dynalite"] = {"ran": False, "why": f"failed: {str(exc).splitlines()[0]}"}
            results["read_mix"].pop("dynalite", None)

    # -- the run -----------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        cfg = self.cfg
        results: dict[str, Any] = {
            "machine": machine(),
            "config": asdict(cfg),
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        t0 = time.monotonic()

        log(f"d. materialising {cfg.items} items x {cfg.repeat} (ours / TypeDeserializer / PynamoDB) ...")
        out = WORK / "materialize.json"
        subprocess.run(
            [
                PYTHON,
                "-m",
                "bench.materialize",
                "--items",
                str(cfg.items),
                "--repeat",
                str(cfg.repeat),
                "--json",
                str(out),
            ],
            cwd=ROOT,
            check=True,
        )
        results["materialize"] = json.loads(out.read_text())

        with ExitStack() as stack:
            log("starting moto server ...")
            moto = stack.enter_context(MotoServer(log_path=WORK / "moto.log"))
            log("starting the stacks: caches off, caches on, bare Django ...")
            off = stack.enter_context(
                DevStack(
                    log_path=WORK / "stack-off.log",
                    dynamodb_endpoint=moto.endpoint,
                    env={**self.stack_env, "DYNAMO_CACHE_TTL": "0"},
                )
            )
            on = stack.enter_context(
                DevStack(
                    log_path=WORK / "stack-on.log",
                    dynamodb_endpoint=moto.endpoint,
                    env={**self.stack_env, "DYNAMO_CACHE_TTL": None},
                )
            )
            bare = stack.enter_context(
                Gunicorn(
                    "bench.bare_app:application",
                    log_path=WORK / "bare.log",
                    health_path="/healthz",
                    env=self.server_env,
                )
            )
            results["servers"] = {"off": off.url, "on": on.url, "bare": bare.url, "moto": moto.endpoint}
            results["emulators"] = {"moto": {"ran": True, "endpoint": moto.endpoint}}
            results["read_mix"], results["getitem"] = {}, {}

            authors, posts, comments = cfg.seed
            log(f"seeding {authors} authors, {posts} posts, {comments} comments (manage.py seed_blog) ...")
            results["seed"] = self.seed(moto.endpoint, off.url, authors, posts, comments)
            pool = common.discover_pool(off.url, common.Settings.from_env())
            self.pool_file.write_text(json.dumps(pool))
            results["pool"] = {"posts": len(pool["posts"]), "authors": len(pool["authors"])}

            log("b. calls per request: building the fixture through the caches-off stack ...")
            fixture = calls_mod.build_fixture(off.url)
            results["calls"] = {"off": calls_mod.measure(off.url, fixture), "on": calls_mod.measure(on.url, fixture)}
            for key, row in results["calls"]["on"].items():
                log(
                    f"  {row['label']}: naive {row['naive']}, off {results['calls']['off'][key]['first']}, "
                    f"on cold {row['first']}, on warm {row['warm']}"
                )

            results["read_mix"]["moto"] = self.read_mix("moto", off.url, on.url, self.pool_file)
            if "dynalite" in cfg.emulators:
                self.dynalite_read_mix(results)
            else:
                results["emulators"]["dynalite"] = {"ran": False, "why": "left out (BENCH_EMULATORS)"}
            results["read_mix_target"] = TARGET_EMULATOR if TARGET_EMULATOR in results["read_mix"] else "moto"

            log("c. one endpoint at a time; the bare view and the cached author page in ABBA rounds ...")
            endpoints: dict[str, Any] = {"on": {}, "off": {}}
            results["bare"], endpoints["on"]["author_detail"] = self.abba(
                ("bare", {"locustfile": "endpoint.py", "host": bare.url, "endpoint": "bare"}),
                (
                    "endpoint_on_author_detail",
                    {"locustfile": "endpoint.py", "host": on.url, "endpoint": "author_detail"},
                ),
                cfg.duration,
            )
            log(
                f"  merged: bare {results['bare']['rps']:.1f} req/s, cached author page "
                f"{endpoints['on']['author_detail']['rps']:.1f} req/s"
            )
            for ep in ENDPOINTS:
                if ep != "author_detail":
                    endpoints["on"][ep] = self.phase(
                        f"endpoint_on_{ep}",
                        locustfile="endpoint.py",
                        host=on.url,
                        seconds=cfg.endpoint_duration,
                        endpoint=ep,
                    )
            for ep in ENDPOINTS:
                endpoints["off"][ep] = self.phase(
                    f"endpoint_off_{ep}",
                    locustfile="endpoint.py",
                    host=off.url,
                    seconds=cfg.endpoint_duration,
                    endpoint=ep,
                )
            results["endpoints"] = endpoints

            results["getitem"]["moto"] = self.emulator_rates("moto", moto.endpoint)

            if cfg.mix_duration > 0:
                log(f"the blog mix (readers + writers), {cfg.mix_users} users for {cfg.mix_duration}s, caches on ...")
                results["blog_mix"] = self.phase(
                    "blog_mix",
                    locustfile="locustfile.py",
                    host=on.url,
                    seconds=cfg.mix_duration,
                    users=cfg.mix_users,
                    closed_loop=False,
                )
            log("stopping the stacks ...")

        results["elapsed_s"] = time.monotonic() - t0
        return results

    def seed(self, endpoint: str, api: str, authors: int, posts: int, comments: int) -> dict[str, Any]:
        env = base_env(AWS_ENDPOINT_URL_DYNAMODB=endpoint, DYNAMO_CACHE_TTL="0", **PRODUCTION_ENV)
        try:
            manage(
                ["seed_blog", "--authors", str(authors), "--posts", str(posts), "--comments", str(comments)], env=env
            )
            return {"how": "manage.py seed_blog", "authors": authors, "posts": posts, "comments": comments}
        except HarnessError as exc:
            # Fall back to the API (through the caches-off stack), and say so in the report.
            log(f"  seed_blog failed, seeding through the API instead: {str(exc).splitlines()[0]}")
            settings = dataclasses.replace(
                common.Settings.from_env(),
                min_posts=posts,
                seed_authors=authors,
                seed_posts=posts,
                seed_comments=max(1, 2 * comments // max(posts, 1)),
            )
            created = common.ensure_seed(api, settings)
            return {"how": "API (seed_blog failed)", "authors": authors, "posts": created, "comments": "~"}


def main(argv: list[str] | None = None) -> int:
    cfg = BenchConfig.from_env()
    if WORK.is_dir():  # this run's CSVs and logs only, none left over from an earlier run's phases
        shutil.rmtree(WORK)
    WORK.mkdir(parents=True, exist_ok=True)
    try:
        results = Bench(cfg).run()
    except (HarnessError, common.SeedError, RuntimeError, subprocess.CalledProcessError) as exc:
        print(f"make bench: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("make bench: interrupted", file=sys.stderr)
        return 130
    (REPORTS / "bench.json").write_text(json.dumps(results, indent=2, default=str))
    md, png = report.write(results, REPORTS)
    log(f"done in {results['elapsed_s']:.0f}s: {md} {png}")
    print()
    print(report.summary_text(results))
    return 0
