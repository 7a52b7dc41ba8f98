"""Blog test fixtures: the blog's tables on the shared engine harness (tests/fixtures.py).

A blog test that talks to DynamoDB asks for ``blog_tables`` (most modules do
so for all their tests with ``pytestmark = pytest.mark.usefixtures("blog_tables")``):
it runs on moto in-process and on dynalite over HTTP (``DDB_ENGINES`` picks
others), each time with fresh tables. Other tests are pure and run once, with
no engine; ``no_dynamodb`` makes any DynamoDB call fail them.
"""

from __future__ import annotations

import hashlib
import json

import pytest
from django.test import Client, override_settings

from services.blog.models import ApiToken, Author, Comment, IdempotencyRecord, Post, RateCounter
from tests.fixtures import EngineContext

BLOG_MODELS = (Author, Post, Comment, IdempotencyRecord, ApiToken, RateCounter)
# The moderator's token in tests that ask for ``admin_token``.
ADMIN_TOKEN = "test-admin-token-0123456789abcdefghijklmnop"
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


def bearer(token: str) -> dict:
    """The test client's keyword for ``Authorization: Bearer <token>``."""
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


class Api:
    """Thin JSON wrapper around Django's test client.

    It remembers the token of every author it created: ``as_=author`` (the
    author's dict or pk) sends the request with that author's token,
    ``token=`` with any token.
    """

    def __init__(self, client: Client | None = None) -> None:
        self.client = client or Client()
        self.tokens: dict[str, str] = {}

    def token_of(self, author: dict | str) -> str:
        return self.tokens[author if isinstance(author, str) else author["pk"]]

    def request(
        self,
        method: str,
        url: str,
        data=None,
        *,
        raw: bytes | str | None = None,
        as_: dict | str | None = None,
        token: str | None = None,
        content_type: str = "application/json",
        **extra,
    ):
        body = raw if raw is not None else (json.dumps(data) if data is not None else "")
        if as_ is not None:
            token = self.token_of(as_)
        if token is not None:
            extra.update(bearer(token))
        return self.client.generic(method, url, data=body, content_type=content_type, **extra)

    def get(self, url, *, as_: dict | str | None = None, token: str | None = None, **extra):
        if as_ is not None:
            token = self.token_of(as_)
        if token is not None:
            extra.update(bearer(token))
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
        """Sign up; the answer (with its ``token``) is returned and the token remembered."""
        data = {"username": username, "email": f"{username}@example.com", **fields}
        response = self.post("/api/authors/", data)
        assert response.status_code == 201, response.content
        created = response.json()
        self.tokens[created["pk"]] = created["token"]
        return created

    def create_post(self, author_pk: str, slug: str = "hello", **fields) -> dict:
        """Create a post as that author (with the author's token)."""
        data = {"title": f"Title of {slug}", "slug": slug, "author_pk": author_pk, **fields}
        response = self.post("/api/posts/", data, as_=author_pk)
        assert response.status_code == 201, response.content
        return response.json()

    def create_comment(self, post_pk: str, author_pk: str, body: str = "Nice post") -> dict:
        """Comment as that author (with the author's token)."""
        data = {"author_pk": author_pk, "body": body}
        response = self.post(f"/api/posts/{post_pk}/comments/", data, as_=author_pk)
        assert response.status_code == 201, response.content
        return response.json()


def public(author: dict) -> dict:
    """An author as anyone reads it: no email, no token."""
    return {k: v for k, v in author.items() if k not in ("email", "token")}


def own(author: dict) -> dict:
    """An author as they read themselves: with the email, without the token (shown at sign-up only)."""
    return {k: v for k, v in author.items() if k != "token"}


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


@pytest.fixture
def admin_token():
    """The moderator's token, configured as DJANGO_ADMIN_TOKEN would (only its SHA-256 in the settings)."""
    with override_settings(BLOG_ADMIN_TOKEN_SHA256=hashlib.sha256(ADMIN_TOKEN.encode()).hexdigest()):
        yield ADMIN_TOKEN


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
