"""The blog as production runs it, with a fault proxy in front of DynamoDB: emulator -> proxy -> gunicorn.

:class:`BlogStack` starts an emulator (the serialised moto server, or
dynalite) with scripts/processes.py, a :class:`~tests.faults.proxy.FaultProxy`
in this process, creates the tables (`manage.py dynamo_tables create`, straight
at the emulator), and runs the image's gunicorn command with two workers whose
``AWS_ENDPOINT_URL_DYNAMODB`` is the proxy. DEBUG is off; ``DJANGO_EXPOSE_WORKER=1``
makes every answer name its worker in ``X-Worker``, and :meth:`BlogStack.pinned`
opens keep-alive connections until it holds some on each worker.

Everything is a :class:`scripts.processes.Process` (a session of its own,
SIGKILLed as a group at the end, and sent SIGTERM if pytest dies), so a
run leaves no process behind.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from scripts.devstack import GUNICORN_CMD
from scripts.processes import (
    ROOT,
    Process,
    ProcessError,
    dynalite_command,
    dynamodb_answers,
    free_port,
    http_ok,
    moto_server_command,
)
from tests.engines import FAKE_KEY, REGION, make_client
from tests.faults.accounting import Store
from tests.faults.proxy import FaultProxy

ENGINES = ("moto_server", "dynalite")
WORKERS = 2
THREADS = 4  # gunicorn's default per worker (config/gunicorn.conf.py), as in issue 10
# The per-request DynamoDB deadline (seconds) and attempts per call the stack
# runs with (config/settings.py); tests derive their time limits from them.
DEADLINE = float(os.environ.get("FAULT_DEADLINE", "3"))
MAX_ATTEMPTS = 3
START_TIMEOUT = float(os.environ.get("DDB_ENGINE_START_TIMEOUT", "30"))
HTTP_TIMEOUT = 30.0


class PinLost(AssertionError):
    """A pinned connection was answered by another worker (its keep-alive connection was closed)."""


# The moderator token the stack runs with: the tests change and delete as the moderator.
ADMIN_TOKEN = secrets.token_urlsafe(40)
# author pk -> API token, from each sign-up's answer: creates are sent as their author.
TOKENS: dict[str, str] = {}


def auth_headers(method: str, path: str, body: Any) -> dict[str, str]:
    """The Authorization a real client sends: a create as the author it names, anything else as moderator."""
    if method in ("GET", "HEAD", "OPTIONS") or (method == "POST" and path.rstrip("/").endswith("/api/authors")):
        return {}  # reads are public; a sign-up has no token yet
    author = body.get("author_pk") if isinstance(body, dict) else None
    token = TOKENS.get(author) if method == "POST" and author else None
    return {"Authorization": f"Bearer {token or ADMIN_TOKEN}"}


def _authorize(method: str, path: str, kwargs: dict) -> None:
    headers = dict(kwargs.get("headers") or {})
    if "Authorization" not in headers:
        headers.update(auth_headers(method, path, kwargs.get("json")))
    kwargs["headers"] = headers


def _remember_token(method: str, path: str, response: requests.Response) -> None:
    if method == "POST" and path.rstrip("/") == "/api/authors" and response.status_code == 201:
        body = response.json()
        if body.get("token"):
            TOKENS[body["pk"]] = body["token"]


class Pinned:
    """A keep-alive connection to one gunicorn worker: every answer must come from that worker.

    Use it from one thread at a time; ``post``/``put``/``patch`` send ``data`` as JSON, with a token
    like a real client (see ``_authorize``).
    """

    def __init__(self, base: str, session: requests.Session, worker: str) -> None:
        self.base = base
        self.session = session
        self.worker = worker

    def __repr__(self) -> str:
        return f"<Pinned worker={self.worker}>"

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", HTTP_TIMEOUT)
        _authorize(method, path, kwargs)
        response = self.session.request(method, self.base + path, **kwargs)
        served_by = response.headers.get("X-Worker")
        if served_by != self.worker:
            raise PinLost(f"{method} {path}: pinned to worker {self.worker}, answered by {served_by}")
        _remember_token(method, path, response)
        return response

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, data: Any = None, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, json=data, **kwargs)

    def patch(self, path: str, data: Any = None, **kwargs: Any) -> requests.Response:
        return self.request("PATCH", path, json=data, **kwargs)

    def put(self, path: str, data: Any = None, **kwargs: Any) -> requests.Response:
        return self.request("PUT", path, json=data, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", path, **kwargs)

    def close(self) -> None:
        self.session.close()


def _one_connection_session() -> requests.Session:
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=1, pool_maxsize=1, max_retries=0)
    session.mount("http://", adapter)
    return session


def on_free_port(start: Callable[[int], Process], attempts: int = 3) -> Process:
    """``start(port)`` on a free port; again on another when the port was taken between probe and bind."""
    for attempt in range(attempts):
        try:
            return start(free_port())
        except ProcessError as exc:
            text = str(exc).lower()
            if attempt == attempts - 1 or ("in use" not in text and "eaddrinuse" not in text):
                raise
    raise AssertionError("unreachable")


def start_emulator(engine: str, log_dir: Path) -> Process:
    """The emulator ``engine`` on a free port, answering ListTables; ProcessError if it cannot run."""

    def start(port: int) -> Process:
        url = f"http://127.0.0.1:{port}"
        argv = moto_server_command(port) if engine == "moto_server" else dynalite_command(port)
        return Process(
            argv,
            name=engine,
            log_path=log_dir / f"{engine}-{port}.log",
            url=url,
            ready=lambda: dynamodb_answers(url),
            ready_timeout=START_TIMEOUT,
            stop_timeout=5.0,
            die_with_parent=True,
        ).start()

    return on_free_port(start)


class BlogStack:
    """emulator -> fault proxy -> gunicorn (2 workers); ``start()``/``stop()`` or a ``with`` block."""

    def __init__(
        self,
        engine: str,
        *,
        log_dir: Path | None = None,
        env: dict[str, str] | None = None,
        emulator: Process | None = None,
        seed: int | None = None,
    ) -> None:
        """``emulator``: a running one to share (its owner stops it), else the stack starts its own."""
        if engine not in ENGINES:
            raise ValueError(f"engine {engine!r}: choose from {ENGINES}")
        self.engine = engine
        self.log_dir = log_dir or Path(tempfile.mkdtemp(prefix=f"faults-{engine}-"))
        self.extra_env = env or {}
        self.prefix = f"f{secrets.token_hex(2)}_"
        self.emulator: Process | None = emulator
        self._own_emulator = emulator is None
        self.seed = fault_seed() if seed is None else seed
        self.proxy: FaultProxy | None = None
        self.gunicorn: Process | None = None
        self.url = ""
        self.store: Store | None = None
        self._opened: list[Pinned] = []
        self._lock = threading.Lock()

    # --- lifecycle ------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        """A production shell (DEBUG off, a random key) pointed at the proxy."""
        assert self.proxy is not None
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DYNAMO_", "AWS_", "GUNICORN_"))}
        env.update(
            DJANGO_SETTINGS_MODULE="config.settings",
            DJANGO_DEBUG="0",
            DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
            DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
            DJANGO_EXPOSE_WORKER="1",
            DJANGO_ADMIN_TOKEN=ADMIN_TOKEN,
            # Every test request comes from one address: limits are not what these tests measure.
            DJANGO_RATE_LIMIT_TOKEN="0",
            DJANGO_RATE_LIMIT_ADDRESS="0",
            DJANGO_RATE_LIMIT_SIGNUP="0",
            DJANGO_LOG_LEVEL="WARNING",
            AWS_ENDPOINT_URL_DYNAMODB=self.proxy.url,
            AWS_ACCESS_KEY_ID=FAKE_KEY,
            AWS_SECRET_ACCESS_KEY=FAKE_KEY,
            AWS_REGION=REGION,
            AWS_CONFIG_FILE=os.devnull,
            AWS_SHARED_CREDENTIALS_FILE=os.devnull,
            AWS_EC2_METADATA_DISABLED="true",
            DYNAMO_TABLE_PREFIX=self.prefix,
            DYNAMO_SERVER_TIMING="1",
            WEB_CONCURRENCY=str(WORKERS),
            GUNICORN_THREADS=str(THREADS),
            # Pins hold while a test thinks; the default (5 s) would move an idle connection.
            GUNICORN_KEEPALIVE="600",
            GUNICORN_LOG_LEVEL="warning",
            PYTHONUNBUFFERED="1",
        )
        env["DYNAMO_REQUEST_DEADLINE"] = f"{DEADLINE:g}"
        env["DYNAMO_MAX_ATTEMPTS"] = str(MAX_ATTEMPTS)
        env.update(self.extra_env)
        return env

    def start(self) -> BlogStack:
        try:
            if self.emulator is None:
                self.emulator = start_emulator(self.engine, self.log_dir)
            self.proxy = FaultProxy(self.emulator.url, seed=self.seed).start()
            env = self.env()
            self.create_tables(env)
            self.gunicorn = on_free_port(lambda port: self.start_gunicorn(env, port))
            self.store = Store(make_client(self.emulator.url, read_timeout=30), self.prefix)
            self.wait_for_workers()
        except BaseException:
            self.stop()
            raise
        return self

    def start_gunicorn(self, env: dict[str, str], port: int) -> Process:
        """The image's command (scripts/devstack.py's GUNICORN_CMD) on ``port``, ready once /healthz answers."""
        self.url = url = f"http://127.0.0.1:{port}"
        gunicorn = Path(sys.executable).with_name("gunicorn")
        return Process(
            [str(gunicorn), *GUNICORN_CMD[1:]],
            name="gunicorn",
            env={**env, "HOST": "127.0.0.1", "PORT": str(port)},
            log_path=self.log_dir / f"gunicorn-{port}.log",
            url=url,
            ready=lambda: http_ok(f"{url}/healthz"),
            ready_timeout=60.0,
            stop_timeout=15.0,
            die_with_parent=True,
        ).start()

    def create_tables(self, env: dict[str, str]) -> None:
        """`manage.py dynamo_tables create` straight at the emulator (no faults)."""
        assert self.emulator is not None
        done = subprocess.run(
            [sys.executable, "manage.py", "dynamo_tables", "create"],
            cwd=ROOT,
            env={**env, "AWS_ENDPOINT_URL_DYNAMODB": self.emulator.url},
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode:
            raise ProcessError(f"dynamo_tables create failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")

    def wait_for_workers(self, timeout: float = 60.0) -> None:
        """Return once both workers answer (a pinned connection to each)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                for client in self.pinned(1):
                    client.close()
                return
            except AssertionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        for client in self._opened:
            client.close()
        self._opened.clear()
        if self.gunicorn is not None:
            self.gunicorn.stop(signal.SIGINT)  # gunicorn's quick shutdown: the tests are over
        if self.proxy is not None:
            self.proxy.stop()
        if self.emulator is not None and self._own_emulator:
            self.emulator.stop()

    def __enter__(self) -> BlogStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log_tail(self, size: int = 3000) -> str:
        return self.gunicorn.tail(size) if self.gunicorn else "(not started)"

    # --- clients --------------------------------------------------------------------------

    def pinned(self, per_worker: int = 1, *, attempts: int = 400, seconds: float = 30.0) -> list[Pinned]:
        """``per_worker`` keep-alive connections on each of the two workers, ordered A, B, A, B, ...

        Opens connections until each worker holds enough (the kernel spreads
        them), asking a route that needs no DynamoDB call; the spare ones close.
        A worker gunicorn is replacing (after a timeout) takes a moment to boot:
        after the first quick tries, it is given time.
        """
        by_worker: dict[str, list[Pinned]] = {}
        spare: list[requests.Session] = []
        give_up = time.monotonic() + seconds
        for tried in range(attempts):
            if len(by_worker) >= WORKERS and all(len(v) >= per_worker for v in by_worker.values()):
                break
            if time.monotonic() > give_up:
                break
            if tried >= 40:
                time.sleep(0.05)
            session = _one_connection_session()
            response = session.get(f"{self.url}/api/_which-worker", timeout=HTTP_TIMEOUT)
            worker = response.headers.get("X-Worker")
            assert worker, f"no X-Worker header (is DJANGO_EXPOSE_WORKER on?): {response.status_code} {response.text}"
            held = by_worker.setdefault(worker, [])
            if len(held) < per_worker:
                held.append(Pinned(self.url, session, worker))
            else:
                spare.append(session)
        for session in spare:
            session.close()
        groups = list(by_worker.values())
        assert len(groups) >= WORKERS and all(len(g) >= per_worker for g in groups), (
            f"could not pin {per_worker} connection(s) on each of {WORKERS} workers in {attempts} tries: "
            f"{ {w: len(g) for w, g in by_worker.items()} }"
        )
        ordered = [client for pair in zip(*groups, strict=False) for client in pair]
        with self._lock:
            self._opened.extend(ordered)
        return ordered

    def settle(self) -> None:
        """Clear the faults, close the pinned connections; after faults, wait until each worker answers.

        A test that set faults may leave requests behind it: delayed writes
        (released now, landing late) and gunicorn threads still retrying for
        a client that gave up. Those finish before the next test starts.
        """
        assert self.proxy is not None
        faulted, self.proxy.faulted = self.proxy.faulted, False
        self.proxy.clear()
        for client in self._opened:
            client.close()
        self._opened.clear()
        if faulted:
            self.proxy.wait_idle(quiet=0.5, timeout=3 * HTTP_TIMEOUT)
            self.wait_for_workers(timeout=3 * HTTP_TIMEOUT)


def fault_seed() -> int:
    """FAULT_SEED, or a random seed (the test run prints it in its header)."""
    raw = os.environ.get("FAULT_SEED", "").strip()
    return int(raw) if raw else secrets.randbelow(2**31)


def fault_rounds_scale() -> float:
    """FAULT_ROUNDS: how many times the default rounds the race and fault tests run (default 1)."""
    raw = os.environ.get("FAULT_ROUNDS", "").strip()
    return float(raw) if raw else 1.0


def rounds(default: int) -> int:
    """How many rounds a race or fault test runs: ``default`` times FAULT_ROUNDS (FAULT_ROUNDS=10: a long run)."""
    return max(1, round(default * fault_rounds_scale()))


def run_together(*calls: Callable[[], Any], timeout: float = 60.0) -> list[Any]:
    """Run the calls in threads released at once by a barrier; their results (or exceptions), in order."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            results[index] = call()
        except Exception as exc:  # reported to the caller, who decides
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i, c), daemon=True) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    return results
