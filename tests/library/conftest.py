"""Library test fixtures on top of the shared engine harness (tests/fixtures.py).

``tables`` creates the test models' tables on the current engine; ``spy``
records every request the library sends to its client.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from dynamo_backend import connection
from tests.fixtures import EngineContext, backend_settings, reset_library

from . import models as test_models

# test_connection.py and test_startup.py import these two from here.
__all__ = ["backend_settings", "reset_library"]


@pytest.fixture
def tables(request: pytest.FixtureRequest, engine: EngineContext) -> list:
    """Create the test models' tables; ``engine`` drops them after the test.

    ``@pytest.mark.models("Post", ...)`` (on the test or its module) narrows the
    set to what the test touches: table creation dominates a test's cost.
    """
    marker = request.node.get_closest_marker("models")
    models = [getattr(test_models, name) for name in marker.args] if marker else test_models.ALL_MODELS
    engine.create_tables(*models)
    return models


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
    client_spy = ClientSpy(connection.get_client())
    with connection.use_client(client_spy):
        yield client_spy
