"""Start and stop the pieces a load run needs, run locust headless, read its CSV.

Used by loadtests/run_load.py (`make load`), bench/ (`make bench`) and the
locust smoke test. No locust import here: locust always runs as a separate
process, so its gevent monkey-patching never reaches the caller.

Every process is started in its own session (process group) and stopped
through that group only, so nothing outside what we started is touched.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
DEVSTACK = ROOT / "scripts" / "devstack.py"
DYNALITE = ROOT / "node_modules" / ".bin" / "dynalite"  # installed by `make test` / `npm ci`
GUNICORN_CONF = ROOT / "config" / "gunicorn.conf.py"

# A key for the stacks the tools start themselves (never a production secret).
LOCAL_SECRET_KEY = "loadtests-local-only-not-a-secret"


class HarnessError(RuntimeError):
    """A process did not start, did not become ready, or a tool failed."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _tail(path: Path | None, lines: int = 30) -> str:
    if not path or not path.exists():
        return ""
    text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join(text[-lines:])


def base_env(**overrides: str | None) -> dict[str, str]:
    """Our environment for a child process, minus HOST (a URL for `make load`), plus ``overrides``.

    An override of None removes the variable.
    """
    env = dict(os.environ)
    env.pop("HOST", None)  # gunicorn.conf.py reads HOST as the bind address
    env.setdefault("PYTHONUNBUFFERED", "1")
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = str(value)
    return env


# Settings for a production-like stack (DEBUG off needs a key; this one is for local runs only).
PRODUCTION_ENV = {"DJANGO_DEBUG": "0", "DJANGO_SECRET_KEY": LOCAL_SECRET_KEY}


class ManagedProcess:
    """A child process in its own process group, logging to a file; a context manager."""

    ready_timeout = 90.0

    def __init__(self, argv: Sequence[str], *, env: Mapping[str, str], log_path: Path, cwd: Path = ROOT) -> None:
        self.argv = list(argv)
        self.env = dict(env)
        self.log_path = Path(log_path)
        self.cwd = cwd
        self.proc: subprocess.Popen | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> ManagedProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            self.argv,
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def wait_ready(self) -> None:  # overridden
        return None

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise HarnessError(
                f"{self.argv[:3]} exited with {self.proc.returncode}; log {self.log_path}:\n{_tail(self.log_path)}"
            )

    def _group_alive(self, pgid: int) -> bool:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def stop(self, first_signal: int = signal.SIGINT, timeout: float = 20.0) -> None:
        """Ask politely (``first_signal`` to the leader), then SIGTERM, then SIGKILL the group."""
        proc, self.proc = self.proc, None
        if proc is not None:
            pgid = proc.pid  # start_new_session: the leader's pid is the group id
            if proc.poll() is None:
                try:
                    proc.send_signal(first_signal)
                    proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    pass
            for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
                if proc.poll() is None or self._group_alive(pgid):
                    try:
                        os.killpg(pgid, sig)
                    except ProcessLookupError:
                        break
                    deadline = time.monotonic() + grace
                    while time.monotonic() < deadline and (proc.poll() is None or self._group_alive(pgid)):
                        time.sleep(0.1)
                else:
                    break
            if proc.poll() is None:
                proc.wait(timeout=5)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> ManagedProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes, dict[str, str]]:
    """GET without requests (usable before the venv's extras matter); never raises on HTTP status."""
    req = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as err:
        return err.code, err.read(), dict(err.headers or {})


def wait_http_ok(url: str, process: ManagedProcess, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        process.check_alive()
        try:
            status, body, _ = http_get(url, timeout=3)
            if status == 200:
                return
            last = f"HTTP {status}: {body[:200]!r}"
        except (OSError, urllib.error.URLError) as exc:
            last = str(exc)
        time.sleep(0.25)
    raise HarnessError(
        f"{url} not ready after {timeout:.0f}s ({last}); log {process.log_path}:\n{_tail(process.log_path)}"
    )


class MotoServer(ManagedProcess):
    """A moto server (the DynamoDB emulator `make run` uses) on a free port."""

    def __init__(self, *, log_path: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        env = base_env()
        env.pop("MOTO_PORT", None)
        super().__init__(
            [PYTHON, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)], env=env, log_path=log_path
        )

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self) -> None:
        wait_http_ok(f"{self.endpoint}/moto-api/", self, self.ready_timeout)


def dynamodb_answers(endpoint: str, timeout: float = 3.0) -> bool:
    """True when ``endpoint`` answers a DynamoDB ListTables call (any emulator)."""
    req = urllib.request.Request(
        endpoint,
        data=b"{}",
        method="POST",
        headers={
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": "DynamoDB_20120810.ListTables",
            "X-Amz-Date": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),  # dynalite insists on one
            "Authorization": "AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/dynamodb/aws4_request, "
            "SignedHeaders=host, Signature=0",
        },
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status == 200 and b"TableNames" in resp.read()
    except (OSError, urllib.error.URLError):
        return False


def dynalite_missing() -> str | None:
    """Why dynalite cannot run here (None when it can)."""
    if not DYNALITE.exists():
        return f"{DYNALITE.relative_to(ROOT)} not found (`make test` or `npm ci` installs it)"
    if shutil.which("node") is None:
        return "dynalite needs Node.js and `node` is not on PATH"
    return None


class Dynalite(ManagedProcess):
    """dynalite (node_modules/.bin/dynalite, in memory) on a free port: a second DynamoDB emulator.

    Tables are ACTIVE at once (``--createTableMs 0`` ...), as in the test suite's engine.
    """

    def __init__(self, *, log_path: Path, port: int | None = None) -> None:
        missing = dynalite_missing()
        if missing:
            raise HarnessError(missing)
        self.port = port or free_port()
        argv = [
            str(DYNALITE),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--createTableMs",
            "0",
            "--deleteTableMs",
            "0",
            "--updateTableMs",
            "0",
        ]
        super().__init__(argv, env=base_env(), log_path=log_path)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            self.check_alive()
            if dynamodb_answers(self.endpoint):
                return
            time.sleep(0.1)
        raise HarnessError(f"dynalite not ready on {self.endpoint}; log {self.log_path}:\n{_tail(self.log_path)}")

    def stop(self, first_signal: int = signal.SIGTERM, timeout: float = 10.0) -> None:
        super().stop(first_signal, timeout)


class DevStack(ManagedProcess):
    """`make run`'s stack (scripts/devstack.py) on a free port; ready when /healthz is 200.

    With ``dynamodb_endpoint`` it uses that emulator instead of starting its own.
    Its state directory (where it notes its emulator's URL) is private to this
    run, so a developer's own `make run` is never disturbed.
    """

    def __init__(
        self,
        *,
        log_path: Path,
        port: int | None = None,
        dynamodb_endpoint: str | None = None,
        env: Mapping[str, str | None] | None = None,
    ) -> None:
        if not DEVSTACK.exists():
            raise HarnessError(f"{DEVSTACK} is missing: the stack cannot be started")
        self.port = port or free_port()
        log_path = Path(log_path)
        state_dir = log_path.parent / f"{log_path.stem}.state"
        overrides: dict[str, str | None] = {"PORT": str(self.port), "DEVSTACK_STATE_DIR": str(state_dir)}
        if dynamodb_endpoint:
            overrides["AWS_ENDPOINT_URL_DYNAMODB"] = dynamodb_endpoint
        overrides.update(env or {})
        super().__init__([PYTHON, str(DEVSTACK)], env=base_env(**overrides), log_path=log_path)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self) -> None:
        wait_http_ok(f"{self.url}/healthz", self, self.ready_timeout)


class Gunicorn(ManagedProcess):
    """gunicorn with config/gunicorn.conf.py serving ``app`` (e.g. the bare benchmark app)."""

    def __init__(
        self,
        app: str,
        *,
        log_path: Path,
        health_path: str,
        port: int | None = None,
        env: Mapping[str, str | None] | None = None,
    ) -> None:
        self.port = port or free_port()
        self.health_path = health_path
        overrides: dict[str, str | None] = {"PORT": str(self.port), "HOST": "127.0.0.1"}
        overrides.update(env or {})
        environ = base_env()
        for key, value in overrides.items():
            if value is None:
                environ.pop(key, None)
            else:
                environ[key] = value
        super().__init__([PYTHON, "-m", "gunicorn", "-c", str(GUNICORN_CONF), app], env=environ, log_path=log_path)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self) -> None:
        wait_http_ok(f"{self.url}{self.health_path}", self, self.ready_timeout)

    def stop(self, first_signal: int = signal.SIGTERM, timeout: float = 20.0) -> None:
        super().stop(first_signal, timeout)


def manage(args: Sequence[str], *, env: Mapping[str, str], timeout: float = 600.0) -> subprocess.CompletedProcess:
    """Run ``manage.py <args>`` (e.g. seed_blog) and fail loudly with its output."""
    result = subprocess.run(
        [PYTHON, str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise HarnessError(
            f"manage.py {' '.join(args)} failed ({result.returncode}):\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
        )
    return result


# --- locust --------------------------------------------------------------------

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


def merge_entries(entries: Iterable[dict]) -> dict[str, float]:
    """Requests, failures, req/s and percentiles of locust stats entries taken together.

    Entries are what loadtests/common.py dumps when locust quits (counters, start
    and last-request times, the response-time histogram). Elapsed times add up,
    histograms are summed, so several runs merge exactly.
    """
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
    out = {
        "requests": requests,
        "failures": failures,
        "elapsed_s": elapsed,
        "rps": requests / elapsed if elapsed else float("nan"),
        "avg": total_rt / requests if requests else float("nan"),
    }
    for name, fraction in PERCENTILES.items():
        out[name] = percentile(hist, requests, fraction)
    return out


@dataclass
class LocustRun:
    """One headless locust run: exit code, its stats and what it printed.

    Figures come from the stats locust holds when it quits (dumped by
    loadtests/common.py to ``<prefix>_tally.json``); the CSV is the fallback,
    since locust writes it on a timer and a short run can end before the last write.
    """

    returncode: int
    csv_prefix: Path
    log_path: Path
    rows: dict[str, dict[str, str]] = field(default_factory=dict)
    failures: list[dict[str, str]] = field(default_factory=list)
    exceptions: list[dict[str, str]] = field(default_factory=list)
    dump: dict = field(default_factory=dict)

    @property
    def tally_path(self) -> Path:
        return Path(f"{self.csv_prefix}_tally.json")

    @property
    def locust_stats(self) -> dict[str, dict]:
        return self.dump.get("locust", {})

    @property
    def server_timing(self) -> dict[str, dict]:
        return self.dump.get("server_timing", {})

    def figures(self, name: str = "Aggregated") -> dict[str, float]:
        """requests, failures, rps, avg, p50, p95, p99 for one request name (or all)."""
        if name in self.locust_stats:
            out = merge_entries([self.locust_stats[name]])
            agg = self.locust_stats.get("Aggregated")
            if name != "Aggregated" and agg:
                # Over the whole run, not between this name's first and last request.
                elapsed = merge_entries([agg])["elapsed_s"]
                out["rps"] = out["requests"] / elapsed if elapsed else float("nan")
            return out
        row = self.rows.get(name, {})

        def num(column: str) -> float:
            try:
                return float(row.get(column, ""))
            except ValueError:
                return float("nan")

        return {
            "requests": int(num("Request Count") or 0) if row else 0,
            "failures": int(num("Failure Count") or 0) if row else 0,
            "rps": num("Requests/s"),
            "avg": num("Average Response Time"),
            "p50": num("50%"),
            "p95": num("95%"),
            "p99": num("99%"),
        }

    def names(self) -> list[str]:
        keys = set(self.locust_stats) | set(self.rows)
        return sorted(keys - {"Aggregated"})

    @property
    def requests(self) -> int:
        return int(self.figures()["requests"])

    @property
    def failure_count(self) -> int:
        return int(self.figures()["failures"])

    @property
    def rps(self) -> float:
        return self.figures()["rps"]

    @property
    def cpu_warning(self) -> bool:
        """Locust said its own CPU was above 90%: the load generator may have been the limit."""
        if not self.log_path.exists():
            return False
        return "CPU usage above" in self.log_path.read_text(encoding="utf-8", errors="replace")

    def summary(self) -> dict[str, float]:
        out = dict(self.figures())
        out["cpu_warning"] = self.cpu_warning
        return out


def _read_csv(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def read_locust_csv(prefix: Path) -> tuple[dict[str, dict[str, str]], list[dict[str, str]], list[dict[str, str]]]:
    rows: dict[str, dict[str, str]] = {}
    for row in _read_csv(Path(f"{prefix}_stats.csv")):
        key = row["Name"] if row.get("Name") == "Aggregated" else f"{row.get('Type', '')} {row['Name']}".strip()
        rows[key] = row
    return rows, _read_csv(Path(f"{prefix}_failures.csv")), _read_csv(Path(f"{prefix}_exceptions.csv"))


def run_locust(
    locustfile: str | Path,
    host: str,
    *,
    users: int,
    spawn_rate: float,
    run_time: str,
    csv_prefix: Path,
    html: Path | None = None,
    env: Mapping[str, str | None] | None = None,
    extra_args: Sequence[str] = (),
    config: Path | None = None,
    stream: bool = False,
    timeout: float | None = None,
) -> LocustRun:
    """Run locust headless and return its parsed CSV. ``stream`` echoes its output to ours."""
    csv_prefix = Path(csv_prefix)
    csv_prefix.parent.mkdir(parents=True, exist_ok=True)
    log_path = Path(f"{csv_prefix}.log")
    argv = [PYTHON, "-m", "locust"]
    if config is not None:
        argv += ["--config", str(config)]
    argv += [
        "-f",
        str(locustfile),
        "--headless",
        "--host",
        host,
        "-u",
        str(users),
        "-r",
        str(spawn_rate),
        "-t",
        run_time,
        "--csv",
        str(csv_prefix),
        "--only-summary",
        "--stop-timeout",
        "5",
    ]
    if html is not None:
        argv += ["--html", str(html)]
    argv += list(extra_args)
    tally = Path(f"{csv_prefix}_tally.json")
    tally.unlink(missing_ok=True)
    environ = dict(os.environ)
    environ.pop("HOST", None)
    environ["LOADTEST_TALLY_FILE"] = str(tally)
    for key, value in (env or {}).items():
        if value is None:
            environ.pop(key, None)
        else:
            environ[key] = str(value)
    with open(log_path, "w", encoding="utf-8") as log:
        if stream:
            proc = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=environ,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
            try:
                assert proc.stdout is not None
                for line in proc.stdout:
                    sys.stdout.write(line)
                    log.write(line)
                returncode = proc.wait(timeout=timeout)
            except BaseException:
                _stop_group(proc)
                raise
        else:
            proc = subprocess.Popen(
                argv, cwd=ROOT, env=environ, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
            try:
                returncode = proc.wait(timeout=timeout)
            except BaseException:
                _stop_group(proc)
                raise
    rows, failures, exceptions = read_locust_csv(csv_prefix)
    dump = json.loads(tally.read_text(encoding="utf-8")) if tally.exists() else {}
    if "errors" in dump:  # the CSV may predate the last failures
        failures = dump["errors"]
    return LocustRun(returncode, csv_prefix, log_path, rows, failures, exceptions, dump)


def _stop_group(proc: subprocess.Popen) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            continue
