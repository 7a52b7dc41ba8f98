"""Blog test fixtures: the blog's tables, fresh for each test, on each engine.

Every blog test runs on moto in-process and on dynalite over HTTP (the
library's harness in tests/engines.py starts and stops dynalite; with
CI=true a missing engine fails the run). ``DDB_BLOG_ENGINES=moto`` narrows it.
"""

from __future__ import annotations

import json
import os
import uuid

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DJANGO_SECRET_KEY", "blog-tests-not-a-secret")

import django  # noqa: E402
from django.apps import apps  # noqa: E402

if not apps.ready:
    django.setup()

import contextlib  # noqa: E402

import pytest  # noqa: E402
from django.conf import settings  # noqa: E402
from django.test import Client, override_settings  # noqa: E402

from dynamo_backend import cache, connection  # noqa: E402
from dynamo_backend.table import delete_table, ensure_table  # noqa: E402
from services.blog.models import Author, Comment, Post  # noqa: E402
from tests import engines  # noqa: E402

BLOG_MODELS = (Author, Post, Comment)
BLOG_ENGINES = tuple(e for e in os.environ.get("DDB_BLOG_ENGINES", "moto,dynalite").split(",") if e)


def pytest_generate_tests(metafunc):
    if "blog_engine_name" in metafunc.fixturenames:
        metafunc.parametrize("blog_engine_name", BLOG_ENGINES, ids=list(BLOG_ENGINES), scope="session")


@pytest.fixture(scope="session")
def blog_engine(blog_engine_name):
    """The engine (moto in-process or a dynalite server) the blog tests of this round use."""
    engine = engines.get_engine(blog_engine_name)
    try:
        engine.start()
    except engines.EngineUnavailable as exc:
        engines.unavailable(str(exc))
    return engine


def pytest_configure(config):
    config.addinivalue_line("markers", "no_dynamo: a blog test that needs no DynamoDB tables")


@pytest.fixture(autouse=True)
def dynamo(request, monkeypatch, blog_engine):
    """The engine of this round, a unique table prefix, clean caches, the three tables."""
    if request.node.get_closest_marker("no_dynamo"):
        yield None
        return
    for var in ("AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with blog_engine.activate():
        config = {
            **settings.DYNAMO_BACKEND,
            "ENDPOINT_URL": blog_engine.endpoint_url,
            "REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "TABLE_PREFIX": f"t{uuid.uuid4().hex[:10]}_",
            "CREATE_TABLES_ON_STARTUP": False,
        }
        with override_settings(DYNAMO_BACKEND=config):
            cache.reset()
            connection.reset_client()
            for model in BLOG_MODELS:
                ensure_table(model)
            try:
                yield config
            finally:
                if blog_engine.is_server:  # moto forgets everything with its mock
                    with override_settings(DYNAMO_BACKEND=config):
                        connection.reset_client()
                        for model in BLOG_MODELS:
                            with contextlib.suppress(Exception):
                                delete_table(model, wait=False)
                cache.reset()
                connection.reset_client()


@pytest.fixture
def dynamo_settings(dynamo):
    """Context manager factory: override some DYNAMO_BACKEND keys for a block."""

    def _override(**changes):
        return override_settings(DYNAMO_BACKEND={**dynamo, **changes})

    return _override


class Api:
    """Thin JSON wrapper around Django's test client."""

    def __init__(self, client: Client | None = None) -> None:
        self.client = client or Client()

    def request(self, method: str, url: str, data=None, *, raw: bytes | str | None = None, **extra):
        body = raw if raw is not None else (json.dumps(data) if data is not None else "")
        return self.client.generic(method, url, data=body, content_type="application/json", **extra)

    def get(self, url, **extra):
        return self.client.get(url, **extra)

    def post(self, url, data=None, **kw):
        return self.request("POST", url, data, **kw)

    def put(self, url, data=None, **kw):
        return self.request("PUT", url, data, **kw)

    def patch(self, url, data=None, **kw):
        return self.request("PATCH", url, data, **kw)

    def delete(self, url, **kw):
        return self.request("DELETE", url, **kw)

    # --- shortcuts that must succeed -------------------------------------------

    def create_author(self, username: str = "alice", **fields) -> dict:
        data = {"username": username, "email": f"{username}@example.com", **fields}
        response = self.post("/api/authors/", data)
        assert response.status_code == 201, response.content
        return response.json()

    def create_post(self, author_pk: str, slug: str = "hello", **fields) -> dict:
        data = {"title": f"Title of {slug}", "slug": slug, "author_pk": author_pk, **fields}
        response = self.post("/api/posts/", data)
        assert response.status_code == 201, response.content
        return response.json()

    def create_comment(self, post_pk: str, author_pk: str, body: str = "Nice post") -> dict:
        response = self.post(f"/api/posts/{post_pk}/comments/", {"author_pk": author_pk, "body": body})
        assert response.status_code == 201, response.content
        return response.json()


@pytest.fixture
def api() -> Api:
    return Api()


@pytest.fixture
def new_api():
    """Factory for extra API clients (one per thread in concurrency tests)."""
    return Api


@pytest.fixture
def assert_error():
    return check_error


def check_error(response, status: int, code: str, *fields: str) -> dict:
    """Assert the single error shape, status, code and (optionally) field names."""
    assert response.status_code == status, (response.status_code, response.content)
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = json.loads(response.content)
    assert set(body) == {"error"}, body
    error = body["error"]
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"]
    for name in fields:
        assert name in error.get("fields", {}), error
    return error
