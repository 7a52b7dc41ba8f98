"""Library suite harness: every test that asks for ``engine`` runs once per engine.

``pytest_generate_tests`` parametrizes ``engine_name`` with session scope, so
pytest groups the tests by engine and each server starts once (lazily, on the
first test that needs it) and stops when the suite moves to the next engine.
The function-scoped ``engine`` fixture points the library at that engine with
a table prefix of its own; ``tables`` creates the test models' tables.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.test import override_settings

from tests import engines

_prefixes = itertools.count(1)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "engine_name" in metafunc.fixturenames:
        names = engines.selected_engines()
        metafunc.parametrize("engine_name", names, ids=list(names), scope="session")


@pytest.fixture(scope="session")
def engine_server(engine_name: str) -> Iterator[engines.Engine]:
    engine = engines.get_engine(engine_name)
    try:
        engine.start()
    except engines.EngineUnavailable as exc:
        engines.unavailable(str(exc))
    yield engine
    engine.stop()


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
        for name in self.table_names():
            try:
                self.client.delete_table(TableName=name)
            except self.client.exceptions.ClientError:  # already gone, or being deleted
                pass


def backend_settings(endpoint_url: str | None, prefix: str, **extra: Any) -> dict:
    return {
        "ENDPOINT_URL": endpoint_url,
        "REGION": engines.REGION,
        "AWS_ACCESS_KEY_ID": engines.FAKE_KEY,
        "AWS_SECRET_ACCESS_KEY": engines.FAKE_KEY,
        "TABLE_PREFIX": prefix,
        "BATCH_BASE_DELAY": 0.001,
        "BATCH_MAX_DELAY": 0.05,
        # Generous: an emulator on a loaded CI box can be slow, and a timed-out
        # UpdateItem that botocore retries would apply an F() increment twice.
        "CONNECT_TIMEOUT": 5,
        "READ_TIMEOUT": 30,
        **extra,
    }


def reset_library() -> None:
    from dynamo_backend import cache, connection

    connection.reset_client()
    cache.reset()


@pytest.fixture
def engine(request: pytest.FixtureRequest, engine_server: engines.Engine) -> Iterator[EngineContext]:
    """Point the library at the current engine, with a table prefix unique to this test."""
    if request.node.get_closest_marker("transactions") and not engine_server.supports_transactions:
        pytest.skip(f"{engine_server.name} does not implement TransactWriteItems")
    prefix = f"t{next(_prefixes)}_"  # dynalite refuses table names under 3 characters
    settings = backend_settings(engine_server.endpoint_url, prefix)
    with ExitStack() as stack:
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


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "models(*names): names of the test models whose tables the `tables` fixture creates (default: all)"
    )


@pytest.fixture
def tables(request: pytest.FixtureRequest, engine: EngineContext) -> Iterator[list]:
    """Create the test models' tables (GSIs and unique-claim tables included) with ensure_table.

    ``@pytest.mark.models("Post", ...)`` (on the test or its module) narrows the
    set to what the test touches: table creation dominates a test's cost.
    """
    from dynamo_backend.table import delete_table, ensure_table

    from . import models as test_models

    marker = request.node.get_closest_marker("models")
    models = [getattr(test_models, name) for name in marker.args] if marker else test_models.ALL_MODELS
    for model in models:
        ensure_table(model)
    yield models
    if engine.is_server:
        for model in models:
            try:
                delete_table(model, wait=False)
            except Exception:  # noqa: BLE001 - the prefix sweep in `engine` still cleans up
                pass


class ClientSpy:
    """Wrap the library's client at the connection seam and record every request."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.requests: list[tuple[str, dict]] = []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if name.startswith("_") or not callable(attr):
            return attr

        def method(*args: Any, **params: Any) -> Any:
            self.requests.append((name, params))
            return attr(*args, **params)

        return method

    def of(self, method: str) -> list[dict]:
        """The parameters of every recorded call of one client method ("query", "scan", ...)."""
        return [params for name, params in self.requests if name == method]

    def clear(self) -> None:
        self.requests.clear()


@pytest.fixture
def spy(engine: EngineContext) -> Iterator[ClientSpy]:
    """Route the library's calls through a recording wrapper around its real client."""
    from dynamo_backend import connection

    client_spy = ClientSpy(connection.get_client())
    with connection.use_client(client_spy):
        yield client_spy
