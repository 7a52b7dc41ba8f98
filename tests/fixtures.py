"""The one engine harness for the library and blog tests (a pytest plugin, loaded by tests/conftest.py).

A test that asks for ``engine`` (directly or through another fixture) runs
once per engine and is marked ``engine``; every other test is pure and runs
once, with no emulator: ``pytest -m "not engine"`` runs only those.

``engine_name`` is parametrized with session scope, so pytest groups the tests
by engine and each server starts once (lazily, on the first test that needs
it). The engines are those of ``DDB_ENGINES`` when it is set, otherwise a
test's ``@pytest.mark.engines(...)`` (the blog's default: moto and dynalite),
otherwise all three; ``DDB_INTEGRATION_ENDPOINT`` replaces them with an existing
endpoint and marks those tests ``integration``. The function-scoped ``engine`` fixture points the library
at the engine with a table prefix of its own and clean caches, creates model
tables on request (``engine.create_tables``) and drops every table of the test
afterwards.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.test import override_settings

from dynamo_backend import cache, connection
from dynamo_backend.table import ensure_table
from tests import engines

_prefixes = itertools.count(1)


def engines_for(definition: pytest.Function) -> tuple[str, ...]:
    """The engines one test runs on: DDB_ENGINES if set, else its ``engines`` marker, else all.

    With DDB_INTEGRATION_ENDPOINT, the integration endpoint replaces them, except for
    a test marked for in-process engines only (it inspects moto's internals).
    """
    marker = definition.get_closest_marker("engines")
    if engines.integration_endpoint():
        if marker and set(marker.args) <= engines.IN_PROCESS:
            return tuple(marker.args)
        return (engines.INTEGRATION,)
    if os.environ.get("DDB_ENGINES", "").strip():
        return engines.selected_engines()
    return tuple(marker.args) if marker else engines.selected_engines()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "engine_name" in metafunc.fixturenames:
        names = engines_for(metafunc.definition)
        metafunc.parametrize("engine_name", names, ids=list(names), scope="session")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "integration" in (config.getoption("markexpr") or "") and not engines.integration_endpoint():
        raise pytest.UsageError(
            f"-m integration runs the engine tests against {engines.INTEGRATION_ENV}: set it to an endpoint "
            "(LocalStack: http://localhost:4566) or to 'aws', or run `make integration` (it starts a moto server)"
        )
    for item in items:
        # An end-to-end test starts a whole stack with an emulator of its own.
        if "engine" in getattr(item, "fixturenames", ()) or item.get_closest_marker("e2e"):
            item.add_marker(pytest.mark.engine)
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("engine_name") == engines.INTEGRATION:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def engine_server(engine_name: str) -> Iterator[engines.Engine]:
    engine = engines.get_engine(engine_name)
    try:
        engine.start()
    except engines.EngineUnavailable as exc:
        if engine_name == engines.INTEGRATION:  # asked for by name: never a quiet skip
            pytest.fail(str(exc), pytrace=False)
        engines.unavailable(str(exc))
    yield engine
    engine.stop()


def backend_settings(endpoint_url: str | None, prefix: str, **extra: Any) -> dict:
    """The DYNAMO_BACKEND dict of a test: this endpoint and prefix, fast batch retries."""
    return {
        "ENDPOINT_URL": endpoint_url,
        "REGION": engines.REGION,
        "AWS_ACCESS_KEY_ID": engines.FAKE_KEY,
        "AWS_SECRET_ACCESS_KEY": engines.FAKE_KEY,
        "TABLE_PREFIX": prefix,
        "BATCH_BASE_DELAY": 0.001,
        "BATCH_MAX_DELAY": 0.05,
        # Generous: an emulator on a loaded CI box can be slow. No request deadline
        # (it would cap each attempt's timeouts); the tests about deadlines set one.
        "CONNECT_TIMEOUT": 5,
        "READ_TIMEOUT": 30,
        "REQUEST_DEADLINE": 0,
        # Tables are the fixtures' business (and a test's request must not create every model's).
        "CREATE_TABLES_ON_STARTUP": False,
        **extra,
    }


def reset_library() -> None:
    """Forget the library's client and caches, so the next call sees the current settings."""
    connection.reset_client()
    cache.reset()


@dataclass
class EngineContext:
    """What a test knows about the engine it runs on, plus raw inspection helpers."""

    name: str
    endpoint_url: str | None
    prefix: str
    settings: dict
    is_server: bool
    supports_transactions: bool
    _engine: Any = field(default=None, repr=False)

    @property
    def client(self):
        """A bare boto3 client on the same engine, outside the library (no stats, no cache)."""
        return self._engine.admin_client()

    def create_tables(self, *models: Any) -> None:
        """Create the models' tables (GSIs and unique-claim tables included) with ensure_table."""
        for model in models:
            ensure_table(model)

    def table_names(self) -> list[str]:
        """Every table of this test (the ones carrying its prefix)."""
        names: list[str] = []
        kwargs: dict = {}
        while True:
            page = self.client.list_tables(**kwargs)
            names += [n for n in page["TableNames"] if n.startswith(self.prefix)]
            if "LastEvaluatedTableName" not in page:
                return sorted(names)
            kwargs = {"ExclusiveStartTableName": page["LastEvaluatedTableName"]}

    def raw_get(self, model, pk: str) -> dict | None:
        """The stored item, read consistently and around the library's caches."""
        resp = self.client.get_item(TableName=model._meta.table_name, Key={"pk": {"S": pk}}, ConsistentRead=True)
        return resp.get("Item")

    def raw_scan(self, model_or_table) -> list[dict]:
        """Every stored item of a table, following LastEvaluatedKey."""
        table = model_or_table if isinstance(model_or_table, str) else model_or_table._meta.table_name
        items: list[dict] = []
        kwargs: dict = {"TableName": table, "ConsistentRead": True}
        while True:
            page = self.client.scan(**kwargs)
            items += page["Items"]
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def drop_all_tables(self) -> None:
        """Delete every table of this test, without waiting (deletion protection turned off first)."""
        for name in self.table_names():
            engines.delete_table_anyway(self.client, name)


@pytest.fixture
def engine(request: pytest.FixtureRequest, engine_server: engines.Engine) -> Iterator[EngineContext]:
    """Point the library at the current engine, with a table prefix unique to this test."""
    if request.node.get_closest_marker("transactions") and not engine_server.supports_transactions:
        pytest.skip(f"{engine_server.name} does not implement TransactWriteItems")
    prefix = engine_server.table_prefix(next(_prefixes))
    settings = backend_settings(engine_server.endpoint_url, prefix, **engine_server.backend_overrides())
    with contextlib.ExitStack() as stack:
        stack.enter_context(engine_server.activate())
        stack.enter_context(override_settings(DYNAMO_BACKEND=settings))
        reset_library()
        ctx = EngineContext(
            name=engine_server.name,
            endpoint_url=engine_server.endpoint_url,
            prefix=prefix,
            settings=settings,
            is_server=engine_server.is_server,
            supports_transactions=engine_server.supports_transactions,
            _engine=engine_server,
        )
        stack.callback(reset_library)
        if engine_server.is_server:  # moto in-process forgets everything with its mock
            stack.callback(ctx.drop_all_tables)
        yield ctx


class NoDynamoDB:
    """A stand-in for the library's client that fails, and remembers, any DynamoDB call."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        self.calls.append(name)
        raise AssertionError(f"a pure test called DynamoDB ({name})")


@pytest.fixture
def no_dynamodb() -> Iterator[NoDynamoDB]:
    """For a pure test: any DynamoDB call fails the test, even one the code under test swallows."""
    client = NoDynamoDB()
    with connection.use_client(client):
        yield client
    assert client.calls == [], f"DynamoDB was called: {client.calls}"
