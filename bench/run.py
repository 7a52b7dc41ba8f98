"""`make bench` (``python -m bench``): one run, one machine, every figure side by side.

Starts and stops everything itself, in the order and with the methods
docs/benchmarks.md describes ("How it is measured"). Writes reports/bench.json
(a bench.results.Results), reports/bench.md and reports/bench.png; every
phase's CSVs and logs go to reports/bench/.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

from bench import ceiling, report, staleness
from bench.calls import build_fixture, measure
from bench.results import BenchConfig, Emulator, Machine, Materialisation, Results, Seed
from loadtests import harness
from loadtests.data import SeedError, discover_pool
from loadtests.records import Phase, from_dict, to_json
from scripts.processes import ROOT, Process, ProcessError

REPORTS = ROOT / "reports"
WORK = REPORTS / "bench"
ENDPOINTS = ("author_detail", "post_detail", "posts_list", "comments_list", "authors_list")


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Bench:
    def __init__(self, cfg: BenchConfig) -> None:
        self.cfg = cfg
        # The same gunicorn settings (config/gunicorn.conf.py + these) for every server.
        # Server-Timing on: calls per request are read from it (it is off by default with DEBUG off).
        self.server_env = {
            "WEB_CONCURRENCY": str(cfg.workers),
            "GUNICORN_THREADS": str(cfg.threads),
            "DYNAMO_SERVER_TIMING": "1",
        }
        started = datetime.now(UTC).isoformat(timespec="seconds")
        self.results = Results(machine=Machine.current(), config=cfg, started=started)

    def phase(self, name: str, locustfile: str, host: str, seconds: int, users: int = 0, **knobs: str) -> Phase:
        """One headless locust run with ``LOADTEST_<KNOB>`` settings; closed loop unless ``users`` are given.

        Closed loop: no think time, stats reset once every user is spawned.
        """
        closed, users = not users, users or self.cfg.users
        env = {f"LOADTEST_{k.upper()}": v for k, v in {**knobs, **({"wait": "0"} if closed else {})}.items()}
        run = harness.run_locust(
            f"loadtests/{locustfile}",
            host,
            users=users,
            spawn_rate=users,
            run_time=f"{seconds}s",
            csv_prefix=WORK / name,
            env=env,
            extra_args=["--reset-stats"] if closed else [],
            timeout=seconds + 120,
        )
        run.name, run.users, run.seconds = name, users, seconds
        t, calls = run.total, run.timing_total.calls_per_request
        figures = f"{t.rps:.1f} req/s, p50/p95/p99 {t.p50:.0f}/{t.p95:.0f}/{t.p99:.0f} ms, {t.failures} failures"
        calls_text = f", {calls:.2f} ddb calls/req" if calls is not None else ""
        log(f"  {name}: {figures} of {t.requests}{calls_text}" + (" [locust CPU > 90%]" if run.cpu_warning else ""))
        return run

    def abba(self, a: tuple[str, dict], b: tuple[str, dict], seconds: int) -> tuple[Phase, Phase]:
        """Two workloads in ABBA order over the rounds (A B, B A, ...), each side merged exactly.

        Alternating cancels a drift in the machine's load (other work starting or
        stopping) that would otherwise favour whichever side ran second.
        """
        rounds, runs = max(1, self.cfg.rounds), {a[0]: [], b[0]: []}
        per_phase = max(5, round(seconds / rounds))
        for i in range(rounds):
            for key, kwargs in (a, b) if i % 2 == 0 else (b, a):
                runs[key].append(self.phase(f"{key}_r{i + 1}", seconds=per_phase, **kwargs))
        return Phase.merge(runs[a[0]], a[0]), Phase.merge(runs[b[0]], b[0])

    def emulator(self, stack: ExitStack, name: str) -> tuple[Emulator, Process, Process, Path]:
        """Start an emulator and two stacks on it (caches off, on); seed it; write the readers' pool."""
        emulator = stack.enter_context(harness.emulator(name, WORK / f"{name}.log"))
        stacks = []
        for mode, ttl in (("off", "0"), ("on", None)):
            env = {**self.server_env, **harness.PRODUCTION_ENV, "DYNAMO_CACHE_TTL": ttl}
            server = harness.devstack(WORK / f"stack-{name}-{mode}.log", dynamodb_endpoint=emulator.url, env=env)
            stacks.append(stack.enter_context(server))
        log(f"seeding {emulator.name} (manage.py seed_blog, BENCH_SEED={self.cfg.seed}) ...")
        seed = self.seed(emulator.url)
        pool = discover_pool(stacks[0].url)
        pool_file = WORK / f"pool-{name}.json"
        pool_file.write_text(json.dumps(pool))
        seed.pool_posts, seed.pool_authors = len(pool["posts"]), len(pool["authors"])
        record = self.results.emulators[name] = Emulator(name, endpoint=emulator.url, seed=seed)
        return record, stacks[0], stacks[1], pool_file

    def seed(self, endpoint: str) -> Seed:
        authors, posts, comments = self.cfg.seed_counts
        env = harness.child_env(AWS_ENDPOINT_URL_DYNAMODB=endpoint, DYNAMO_CACHE_TTL="0", **harness.PRODUCTION_ENV)
        harness.manage(["seed_blog", f"--authors={authors}", f"--posts={posts}", f"--comments={comments}"], env)
        return Seed("manage.py seed_blog", authors, posts, comments)

    def read_mix(self, emulator: Emulator, off: Process, on: Process, pool_file: Path) -> None:
        """Section a on one emulator: warm-ups, then caches off vs on in ABBA rounds."""
        cfg, name = self.cfg, emulator.name
        log(f"a. read mix on {name}, {cfg.users} users, {cfg.duration}s a side in {cfg.rounds} ABBA rounds ...")
        for mode, server in (("off", off), ("on", on)):
            if cfg.warmup > 0:
                self.phase(f"warmup_{name}_{mode}", "read_mix.py", server.url, cfg.warmup, pool_file=str(pool_file))
        emulator.off, emulator.on = self.abba(
            (f"read_mix_{name}_off", {"locustfile": "read_mix.py", "host": off.url, "pool_file": str(pool_file)}),
            (f"read_mix_{name}_on", {"locustfile": "read_mix.py", "host": on.url, "pool_file": str(pool_file)}),
            cfg.duration,
        )
        log(f"  read mix on {name} merged: off {emulator.off.total.rps:.1f}, on {emulator.on.total.rps:.1f} req/s")

    def rates(self, emulator: Emulator) -> None:
        log(f"c. raw call rates of {emulator.label} (boto3 loops, nothing else running) ...")
        emulator.rates = ceiling.emulator_rates(emulator.endpoint, self.cfg.workers, self.cfg.threads)

    def dynalite(self) -> None:
        """Section a and the call rates on dynalite, whose processes stop before returning."""
        try:
            with ExitStack() as stack:
                emulator, off, on, pool_file = self.emulator(stack, "dynalite")
                self.read_mix(emulator, off, on, pool_file)
                self.rates(emulator)
                log("stopping dynalite and its stacks ...")
        except ProcessError as exc:
            why = str(exc).splitlines()[0]
            log(f"  no dynalite run, moto only: {why}")
            self.results.emulators["dynalite"] = Emulator("dynalite", ran=False, why=why)

    def run(self) -> Results:
        cfg, results, t0 = self.cfg, self.results, time.monotonic()
        log(f"d. materialising {cfg.items} items x {cfg.repeat} (ours / TypeDeserializer / PynamoDB) ...")
        out = WORK / "materialize.json"
        argv = ["-m", "bench.materialize", "--items", str(cfg.items), "--repeat", str(cfg.repeat), "--json", str(out)]
        subprocess.run([sys.executable, *argv], cwd=ROOT, check=True)
        results.materialize = from_dict(Materialisation, json.loads(out.read_text()))
        log("g. the cost of a cached GET outside DynamoDB, in process (bench/request_cost.py) ...")
        out = WORK / "request_cost.json"
        subprocess.run([sys.executable, "-m", "bench.request_cost", "--json", str(out)], cwd=ROOT, check=True)
        results.request_cost = json.loads(out.read_text())
        log("h. DynamoDB calls and capacity per write request, now and before (bench/write_costs.py) ...")
        out = WORK / "write_costs.json"
        subprocess.run([sys.executable, "-m", "bench.write_costs", "--json", str(out)], cwd=ROOT, check=True)
        results.write_costs = json.loads(out.read_text())

        with ExitStack() as stack:
            moto, off, on, pool_file = self.emulator(stack, "moto")
            bare_app = harness.gunicorn("bench.bare_app:application", WORK / "bare.log", self.server_env)
            bare = stack.enter_context(bare_app)
            log("b. calls per request: building the fixture through the caches-off stack ...")
            fixture = build_fixture(off.url)
            results.calls_off, results.calls_on = measure(off.url, fixture), measure(on.url, fixture)
            log(f"e. cross-worker staleness: {cfg.staleness_writes} writes, each read through the other worker ...")
            s = results.staleness = staleness.measure(on.url, cfg.staleness_writes)
            log(f"  p50 {s.percentile(0.5):.3f} s, p99 {s.percentile(0.99):.3f} s, {s.get_records_per_s:.1f} reads/s")
            self.read_mix(moto, off, on, pool_file)
            if "dynalite" in cfg.emulators.split(","):
                self.dynalite()
            else:
                results.emulators["dynalite"] = Emulator("dynalite", ran=False, why="left out (BENCH_EMULATORS)")

            log("c. one endpoint at a time; the bare view and the cached author page in ABBA rounds ...")
            on_kw = {"locustfile": "endpoint.py", "host": on.url, "pool_file": str(pool_file)}
            off_kw = {**on_kw, "host": off.url}
            results.bare, results.endpoints_on["author_detail"] = self.abba(
                ("bare", {"locustfile": "endpoint.py", "host": bare.url, "endpoint": "bare"}),
                ("endpoint_on_author_detail", {**on_kw, "endpoint": "author_detail"}),
                cfg.duration,
            )
            for mode, kw, into in (("on", on_kw, results.endpoints_on), ("off", off_kw, results.endpoints_off)):
                for ep in ENDPOINTS:
                    if ep not in into:
                        into[ep] = self.phase(f"endpoint_{mode}_{ep}", seconds=cfg.endpoint_duration, endpoint=ep, **kw)
            self.rates(moto)
            if cfg.mix_duration > 0:
                log(f"the blog mix (readers + writers), {cfg.mix_users} users for {cfg.mix_duration}s, caches on ...")
                mix = self.phase("blog_mix", "locustfile.py", on.url, cfg.mix_duration, users=cfg.mix_users)
                results.blog_mix = mix
            log("stopping the stacks ...")
        results.elapsed_s = time.monotonic() - t0
        return results


def main() -> int:
    if WORK.is_dir():  # this run's CSVs and logs only, none left over from an earlier run's phases
        shutil.rmtree(WORK)
    WORK.mkdir(parents=True)
    try:
        results = Bench(BenchConfig.from_env()).run()
    except (ProcessError, SeedError, RuntimeError, subprocess.CalledProcessError) as exc:
        print(f"make bench: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("make bench: interrupted", file=sys.stderr)
        return 130
    (REPORTS / "bench.json").write_text(to_json(results))
    md, png = report.write(results, REPORTS)
    log(f"done in {results.elapsed_s:.0f}s: {md} {png}")
    print("\n" + report.summary_text(results))
    return 0
