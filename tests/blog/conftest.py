"""Blog test fixtures: the blog's tables on the shared engine harness (tests/fixtures.py).

A blog test that talks to DynamoDB asks for ``blog_tables`` (most modules do
so for all their tests with ``pytestmark = pytest.mark.usefixtures("blog_tables")``):
it runs on moto in-process and on dynalite over HTTP (``DDB_ENGINES`` picks
others), each time with fresh tables. Other tests are pure and run once, with
no engine; ``no_dynamodb`` makes any DynamoDB call fail them.
"""

from __future__ import annotations

import json

import pytest
from django.test import Client, override_settings

from services.blog.models import Author, Comment, Post
from tests.fixtures import EngineContext

BLOG_MODELS = (Author, Post, Comment)
# The API's tests exercise the library through HTTP views; two engines (one
# in-process, one over HTTP) cover them, and a third round would add minutes.
BLOG_ENGINES = ("moto", "dynalite")


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Give blog tests their default engines before the harness parametrizes ``engine_name``."""
    if metafunc.definition.get_closest_marker("engines") is None:
        metafunc.definition.add_marker(pytest.mark.engines(*BLOG_ENGINES))


@pytest.fixture
def blog_tables(engine: EngineContext) -> EngineContext:
    """The engine of this round with the blog's three tables, empty."""
    engine.create_tables(*BLOG_MODELS)
    return engine


@pytest.fixture
def dynamo_settings(blog_tables: EngineContext):
    """Context manager factory: override some DYNAMO_BACKEND keys for a block."""

    def _override(**changes):
        return override_settings(DYNAMO_BACKEND={**blog_tables.settings, **changes})

    return _override


class Api:
    """Thin JSON wrapper around Django's test client."""

    def __init__(self, client: Client | None = None) -> None:
        self.client = client or Client()

    def request(
        self,
        method: str,
        url: str,
        data=None,
        *,
        raw: bytes | str | None = None,
        content_type: str = "application/json",
        **extra,
    ):
        body = raw if raw is not None else (json.dumps(data) if data is not None else "")
        return self.client.generic(method, url, data=body, content_type=content_type, **extra)

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
