"""DynamoDB engines the test suite runs on: moto in-process, moto server, dynalite.

Each engine is a process-wide singleton started lazily on first use and
stopped by ``stop_all()`` (pytest session end, with ``atexit`` as a backstop).
Servers listen on a free port on 127.0.0.1 and are polled until they answer
``ListTables``; nothing here sleeps a fixed time.

``DDB_ENGINES=moto,dynalite`` limits the engines a run uses (default: all).
An engine that cannot start is skipped, or fails the run when ``CI=true``.

``DDB_INTEGRATION_ENDPOINT`` (a URL such as LocalStack's ``http://localhost:4566``,
or ``aws`` for real DynamoDB with the usual credential chain and ``AWS_REGION``)
replaces them all with :class:`IntegrationEngine`: an existing endpoint the
suite neither starts nor stops, where every table carries a prefix unique to
the run and is deleted afterwards.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import secrets
import tempfile
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

from scripts.moto_server import serialized_mock_aws
from scripts.processes import (
    ROOT,
    Process,
    ProcessError,
    dynalite_command,
    dynamodb_answers,
    free_port,
    moto_server_command,
)

REPO_ROOT = ROOT
ALL_ENGINES = ("moto", "moto_server", "dynalite")
INTEGRATION = "integration"  # the engine of DDB_INTEGRATION_ENDPOINT
INTEGRATION_ENV = "DDB_INTEGRATION_ENDPOINT"
# Engines that live in this process: a test marked for them alone keeps them in an integration run.
IN_PROCESS = frozenset({"moto"})
REGION = "us-east-1"
FAKE_KEY = "test"
START_TIMEOUT = float(os.environ.get("DDB_ENGINE_START_TIMEOUT", "30"))
STOP_TIMEOUT = 5.0


class EngineUnavailable(RuntimeError):
    """The engine cannot run here (missing binary, server did not come up)."""


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def unavailable(reason: str) -> None:
    """Skip the current test for a missing engine, or fail it in CI."""
    import pytest

    if in_ci():
        pytest.fail(f"engine unavailable in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def integration_endpoint() -> str | None:
    """DDB_INTEGRATION_ENDPOINT: the endpoint an integration run targets ("aws" for real DynamoDB), or None."""
    return os.environ.get(INTEGRATION_ENV, "").strip() or None


def selected_engines() -> tuple[str, ...]:
    """Engines this run uses: the integration endpoint alone if given, else ``DDB_ENGINES`` or all."""
    if integration_endpoint():
        return (INTEGRATION,)
    raw = os.environ.get("DDB_ENGINES", "").strip()
    if not raw:
        return ALL_ENGINES
    names = tuple(n.strip() for n in raw.split(",") if n.strip())
    unknown = [n for n in names if n not in ALL_ENGINES]
    if unknown:
        raise ValueError(f"DDB_ENGINES: unknown engine(s) {unknown}; choose from {ALL_ENGINES}")
    return names


def make_client(
    endpoint_url: str | None,
    *,
    connect_timeout: float = 2,
    read_timeout: float = 10,
    region: str = REGION,
    credentials: bool = False,
):
    """A bare boto3 DynamoDB client for the harness (inspection, cleanup, readiness).

    ``credentials``: use the AWS credential chain (real AWS) instead of dummy keys.
    """
    import boto3
    from botocore.config import Config

    keys = {} if credentials else {"aws_access_key_id": FAKE_KEY, "aws_secret_access_key": FAKE_KEY}
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint_url,
        region_name=region,
        **keys,
        config=Config(
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries={"mode": "standard", "max_attempts": 1},
        ),
    )


class Engine:
    """One DynamoDB implementation the suite can run against."""

    name: str = ""
    is_server: bool = False
    supports_transactions: bool = True
    endpoint_url: str | None = None

    def start(self) -> None:
        """Make the engine usable; idempotent. Raise EngineUnavailable if it cannot be."""

    def stop(self) -> None:
        """Release whatever start() acquired; idempotent."""

    def activate(self) -> AbstractContextManager:
        """Context for one test (moto: a fresh mock; servers: nothing)."""
        return contextlib.nullcontext()

    def table_prefix(self, number: int) -> str:
        """The table prefix of the ``number``-th test (dynalite refuses table names under 3 characters)."""
        return f"t{number}_"

    def backend_overrides(self) -> dict:
        """DYNAMO_BACKEND keys this engine needs besides the harness's (region, credentials)."""
        return {}

    def admin_client(self):
        """A bare boto3 client on this engine for the harness, built once per engine."""
        client = getattr(self, "_admin_client", None)
        if client is None:
            # For moto, moto is imported by start(), so its stubber sees this client.
            client = self._admin_client = make_client(self.endpoint_url)
        return client


class MotoEngine(Engine):
    """moto in-process, one request at a time like the server (see scripts/moto_server.py)."""

    name = "moto"

    def start(self) -> None:
        try:
            import moto  # noqa: F401 - only whether it imports
        except ImportError as exc:  # pragma: no cover - moto is a dev dependency
            raise EngineUnavailable(f"moto is not installed: {exc}") from exc

    def activate(self) -> AbstractContextManager:
        return serialized_mock_aws()


class ServerEngine(Engine):
    """An emulator in a process of its own (scripts/processes.py), on a free port, logging to a temp file."""

    is_server = True

    def __init__(self) -> None:
        self._process: Process | None = None
        self._error: str | None = None
        self._lock = threading.Lock()

    def command(self, port: int) -> list[str]:
        raise NotImplementedError

    def start(self) -> None:
        with self._lock:
            if self._process is not None and self._process.running:
                return
            if self._error is not None:  # don't retry a broken engine for every test
                raise EngineUnavailable(self._error)
            try:
                self._start()
            except EngineUnavailable as exc:
                self._error = str(exc)
                raise

    def _start(self) -> None:
        error = ""
        for _attempt in range(3):  # a free port can be taken between probe and bind
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            fd, log_name = tempfile.mkstemp(prefix=f"ddb-{self.name}-", suffix=".log")
            os.close(fd)
            try:
                process = Process(
                    self.command(port),
                    name=self.name,
                    log_path=Path(log_name),
                    url=url,
                    ready=lambda url=url: dynamodb_answers(url),
                    ready_timeout=START_TIMEOUT,
                    stop_timeout=STOP_TIMEOUT,
                )
                self._process = process.start()
                self.endpoint_url = url
                return
            except ProcessError as exc:
                error = str(exc)
                Path(log_name).unlink(missing_ok=True)
                if "in use" not in error.lower():  # only a port clash is worth a retry
                    break
        raise EngineUnavailable(error)

    def stop(self) -> None:
        self._admin_client = None
        process, self._process = self._process, None
        if process is not None:
            process.stop()
            if process.log_path is not None:
                process.log_path.unlink(missing_ok=True)


class MotoServerEngine(ServerEngine):
    """``python -m scripts.moto_server``: the server `make run` and `make bench` start too, serialised."""

    name = "moto_server"

    def command(self, port: int) -> list[str]:
        try:
            import moto.server  # noqa: F401 - only whether it imports
        except ImportError as exc:
            raise EngineUnavailable(f"moto[server] is not installed: {exc}") from exc
        return moto_server_command(port)


class DynaliteEngine(ServerEngine):
    name = "dynalite"
    supports_transactions = False  # dynalite implements no TransactWriteItems

    def command(self, port: int) -> list[str]:
        try:
            return dynalite_command(port)
        except ProcessError as exc:
            raise EngineUnavailable(str(exc)) from exc


def delete_table_anyway(client, name: str) -> None:
    """Delete a test's table, turning deletion protection off first if it is on; gone already is fine."""
    try:
        client.delete_table(TableName=name)
    except client.exceptions.ResourceNotFoundException:
        return
    except client.exceptions.ClientError as error:
        if "protect" not in str(error).lower():
            return  # being created or deleted: the run's final sweep tries again
        client.update_table(TableName=name, DeletionProtectionEnabled=False)
        with contextlib.suppress(client.exceptions.ClientError):
            client.delete_table(TableName=name)


class IntegrationEngine(Engine):
    """An existing DynamoDB (``DDB_INTEGRATION_ENDPOINT``): LocalStack, an emulator started elsewhere, or AWS.

    Nothing is started or stopped. Each test's tables carry ``ddbit<random>_t<n>_``,
    unique to the run, and go after the test; :meth:`stop` sweeps whatever a
    test left. Transactions are probed, not assumed (dynalite has none).
    """

    name = INTEGRATION
    is_server = True

    def __init__(self) -> None:
        raw = integration_endpoint() or ""
        self.real_aws = raw.lower() == "aws"
        self.endpoint_url = None if self.real_aws else raw
        fallback = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") if self.real_aws else None
        self.region = os.environ.get("DDB_INTEGRATION_REGION") or fallback or REGION
        self.run_prefix = f"ddbit{secrets.token_hex(3)}_"
        self._started = False

    def admin_client(self):
        client = getattr(self, "_admin_client", None)
        if client is None:
            client = self._admin_client = make_client(
                self.endpoint_url, region=self.region, credentials=self.real_aws, read_timeout=30
            )
        return client

    def start(self) -> None:
        if self._started:
            return
        client = self.admin_client()
        try:
            client.list_tables(Limit=1)
        except Exception as exc:  # whatever stops it: the run cannot go on
            raise EngineUnavailable(f"{INTEGRATION_ENV}={integration_endpoint()} does not answer: {exc}") from exc
        self.supports_transactions = self._has_transactions(client)
        self._started = True

    def _has_transactions(self, client) -> bool:
        get = {"Get": {"TableName": f"{self.run_prefix}absent", "Key": {"pk": {"S": "x"}}}}
        try:
            client.transact_get_items(TransactItems=[get])
        except client.exceptions.ClientError as error:
            return error.response.get("Error", {}).get("Code") != "UnknownOperationException"
        return True

    def table_prefix(self, number: int) -> str:
        return f"{self.run_prefix}t{number}_"

    def backend_overrides(self) -> dict:
        overrides: dict = {"REGION": self.region}
        if self.real_aws:  # the credential chain, not the harness's dummies
            overrides.update(AWS_ACCESS_KEY_ID=None, AWS_SECRET_ACCESS_KEY=None)
        return overrides

    def stop(self) -> None:
        if not self._started:
            return
        client = self.admin_client()
        for name in self.run_tables():
            delete_table_anyway(client, name)
        self._started = False

    def run_tables(self) -> list[str]:
        """Every table of this run (its prefix), following pagination."""
        client, names, params = self.admin_client(), [], {"ExclusiveStartTableName": self.run_prefix[:-1]}
        while True:
            page = client.list_tables(**params)
            found = [n for n in page["TableNames"] if n.startswith(self.run_prefix)]
            names += found
            if "LastEvaluatedTableName" not in page or len(found) < len(page["TableNames"]):
                return names  # names come sorted: one past the prefix ends the run's tables
            params["ExclusiveStartTableName"] = page["LastEvaluatedTableName"]


_FACTORIES = {
    "moto": MotoEngine,
    "moto_server": MotoServerEngine,
    "dynalite": DynaliteEngine,
    INTEGRATION: IntegrationEngine,
}
_engines: dict[str, Engine] = {}
_registry_lock = threading.Lock()


def get_engine(name: str) -> Engine:
    """The process-wide engine called ``name`` (not started yet)."""
    with _registry_lock:
        if name not in _engines:
            _engines[name] = _FACTORIES[name]()
        return _engines[name]


def stop_all() -> None:
    with _registry_lock:
        engines = list(_engines.values())
    for engine in engines:
        engine.stop()


atexit.register(stop_all)


@contextlib.contextmanager
def running(name: str) -> Iterator[Engine]:
    """Start an engine for a script and stop it afterwards."""
    engine = get_engine(name)
    engine.start()
    try:
        yield engine
    finally:
        engine.stop()
