"""The seed's quick start: gunicorn or runserver against a DynamoDB with no tables creates them and serves.

Each server gets a moto server with a table prefix of its own and nothing in
it; the first request creates every table (CREATE_TABLES_ON_STARTUP: on in
development, asked for explicitly with debug off) and is answered.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import subprocess
import sys

import pytest

from tests import engines
from tests.engines import free_port
from tests.stack.servers import ROOT, Server, _stop, _wait_for_port, get, gunicorn, production_env

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
_runs = itertools.count(1)


@pytest.fixture
def empty_dynamodb():
    """A moto server's URL and a table prefix with no tables behind it; the tables go afterwards."""
    engine = engines.get_engine("moto_server")
    try:
        engine.start()
    except engines.EngineUnavailable as exc:
        engines.unavailable(str(exc))
    prefix = f"startup{next(_runs)}_"
    yield engine.endpoint_url, prefix
    client = engine.admin_client()
    for name in client.list_tables()["TableNames"]:
        if name.startswith(prefix):
            with contextlib.suppress(client.exceptions.ClientError):
                client.delete_table(TableName=name)


def tables_with(endpoint: str, prefix: str) -> list[str]:
    return [n for n in engines.make_client(endpoint).list_tables()["TableNames"] if n.startswith(prefix)]


def assert_served_with_tables(port: int, endpoint: str, prefix: str) -> None:
    assert tables_with(endpoint, prefix) == []
    response = get(port, "/api/posts/", timeout=60)  # the first request creates the tables
    assert response.status == 200, response.body
    assert json.loads(response.body)["results"] == []
    assert f"{prefix}blog_post" in tables_with(endpoint, prefix)
    assert get(port, "/healthz").status == 200


def test_gunicorn_creates_the_missing_tables_when_asked(tmp_path, empty_dynamodb):
    endpoint, prefix = empty_dynamodb
    with gunicorn(
        tmp_path,
        AWS_ENDPOINT_URL_DYNAMODB=endpoint,
        DYNAMO_TABLE_PREFIX=prefix,
        DYNAMO_CREATE_TABLES_ON_STARTUP="1",
        DYNAMO_STREAMS="0",
        WEB_CONCURRENCY="2",
    ) as server:
        assert_served_with_tables(server.port, endpoint, prefix)


def test_runserver_in_development_creates_the_missing_tables(tmp_path, empty_dynamodb):
    endpoint, prefix = empty_dynamodb
    port = free_port()
    env = production_env(AWS_ENDPOINT_URL_DYNAMODB=endpoint, DYNAMO_TABLE_PREFIX=prefix, DJANGO_DEBUG="1")
    log = tmp_path / "runserver.log"
    with open(log, "wb") as output:
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
            cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    server = Server(proc, port, log)
    try:
        _wait_for_port(server, "runserver")
        assert_served_with_tables(port, endpoint, prefix)
    finally:
        _stop(proc)


def test_with_debug_off_and_no_setting_tables_are_left_to_the_operator(tmp_path, empty_dynamodb):
    endpoint, prefix = empty_dynamodb
    with gunicorn(tmp_path, AWS_ENDPOINT_URL_DYNAMODB=endpoint, DYNAMO_TABLE_PREFIX=prefix) as server:
        response = get(server.port, "/healthz", timeout=30)
        assert response.status == 503
        assert f"{prefix}blog_post" in json.loads(response.body)["error"]["message"]
        assert tables_with(endpoint, prefix) == []
