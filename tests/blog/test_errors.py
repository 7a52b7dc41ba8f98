"""The single error shape: bad bodies, routes, methods, sizes, outages, crashes."""

from __future__ import annotations

import re
import uuid

import pytest
from django.test import override_settings

import dynamo_backend
from services.blog.models import Author, Comment, Post

pytestmark = pytest.mark.usefixtures("blog_tables")


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b"",
        b"   ",
        b'{"username": "a",}',
        b"\xff\xfe\x00",
        b'{"username": NaN}',
        b"[" * 100_000,
    ],
)
def test_malformed_json_is_400_invalid_json_and_writes_nothing(api, assert_error, raw):
    assert_error(api.post("/api/authors/", raw=raw), 400, "invalid_json")
    assert Author.objects.count() == 0


@pytest.mark.parametrize("raw", [b"[]", b'"alice"', b"42", b"null", b"true", b'[{"username": "a"}]'])
def test_json_that_is_not_an_object_is_400(api, assert_error, raw):
    assert_error(api.post("/api/authors/", raw=raw), 400, "invalid_json")
    assert Author.objects.count() == 0


def test_malformed_json_on_update_is_400_and_changes_nothing(api, assert_error):
    author = api.create_author(bio="keep")
    assert_error(api.put(f"/api/authors/{author['pk']}/", raw=b"{oops", as_=author), 400, "invalid_json")
    assert api.get(f"/api/authors/{author['pk']}/").json()["bio"] == "keep"


def test_malformed_json_for_comment_is_400(api, assert_error):
    author = api.create_author()
    post = api.create_post(author["pk"])
    assert_error(api.post(f"/api/posts/{post['pk']}/comments/", raw=b"]", as_=author), 400, "invalid_json")


def test_body_over_1_mib_is_413_and_writes_nothing(api, assert_error):
    big = b'{"username": "alice", "email": "a@example.com", "bio": "' + b"x" * (1024 * 1024) + b'"}'
    assert_error(api.post("/api/authors/", raw=big), 413, "payload_too_large")
    assert Author.objects.count() == 0


def test_body_over_1_mib_on_post_update_is_413(api, assert_error):
    author = api.create_author()
    post = api.create_post(author["pk"])
    big = b'{"body": "' + b"x" * (1024 * 1024 + 10) + b'"}'
    assert_error(api.put(f"/api/posts/{post['pk']}/", raw=big, as_=author), 413, "payload_too_large")


def test_post_body_over_model_limit_is_400(api, assert_error):
    author = api.create_author()
    post = api.create_post(author["pk"])
    response = api.patch(f"/api/posts/{post['pk']}/", {"body": "x" * 50_001}, as_=author)
    assert_error(response, 400, "validation_error", "body")


@pytest.mark.parametrize(
    "url",
    [
        "/api/authors/not-a-uuid/",
        "/api/posts/123/",
        "/api/posts/123/comments/",
        "/api/comments/zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz/",
        f"/api/authors/{uuid.uuid4()}x/",
    ],
)
def test_bad_uuid_in_url_is_404_json_for_every_method(api, assert_error, url):
    for method in ("GET", "PUT", "PATCH", "DELETE", "POST"):
        assert_error(api.request(method, url, {"title": "x"}), 404, "not_found")
    assert Author.objects.count() == 0 and Post.objects.count() == 0


@pytest.mark.parametrize("url", ["/", "/nope", "/api/", "/api/things/", "/healthz/extra"])
def test_unknown_route_is_404_json(api, assert_error, url):
    assert_error(api.get(url), 404, "not_found")


@override_settings(DEBUG=True)
def test_unknown_route_is_json_even_with_debug_on(api, assert_error):
    assert_error(api.get("/definitely/not/here"), 404, "not_found")


def test_get_without_trailing_slash_redirects(api):
    response = api.get("/api/posts?limit=5")
    assert response.status_code == 301
    assert response["Location"] == "/api/posts/?limit=5"


def test_post_without_trailing_slash_is_404_naming_the_right_url(api, assert_error):
    error = assert_error(api.post("/api/authors", {"username": "a", "email": "a@example.com"}), 404, "not_found")
    assert "/api/authors/" in error["message"]
    assert Author.objects.count() == 0


@pytest.mark.parametrize(
    "method, url, allowed",
    [
        ("DELETE", "/api/authors/", {"GET", "POST"}),
        ("PUT", "/api/posts/", {"GET", "POST"}),
        ("POST", f"/api/authors/{uuid.uuid4()}/", {"GET", "PUT", "PATCH", "DELETE"}),
        ("PATCH", f"/api/posts/{uuid.uuid4()}/comments/", {"GET", "POST"}),
        ("POST", f"/api/comments/{Comment.pk_text((str(uuid.uuid4()), 'sk'))}/", {"GET", "DELETE"}),
        ("POST", "/healthz", {"GET"}),
    ],
)
def test_wrong_method_is_405_json_with_allow(api, assert_error, method, url, allowed):
    response = api.request(method, url, {})
    assert_error(response, 405, "method_not_allowed")
    got = {m.strip() for m in response["Allow"].split(",")}
    assert allowed <= got and method not in got


def test_healthz_ok(api):
    response = api.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["cache"]["mode"] == "ttl"  # no stream reader runs in the test process
    assert body["cache"]["lag_seconds"] is None


def test_healthz_shows_the_process_and_reader_to_operators_only(api, admin_token):
    with override_settings(DYNAMO_SERVER_TIMING=False):  # as in production: DEBUG off
        public = api.get("/healthz").json()["cache"]
        assert set(public) == {"mode", "lag_seconds"}  # no pid, reader pid, table names or counters
        assert api.get("/healthz", HTTP_AUTHORIZATION="Bearer not-the-admin-token").json()["cache"] == public
        operator = api.get("/healthz", HTTP_AUTHORIZATION=f"Bearer {admin_token}").json()["cache"]
        assert {"pid", "reader_pid", "tables", "reader", "applied", "flushes"} <= set(operator)
    with override_settings(DYNAMO_SERVER_TIMING=True):  # what the benchmarks and DEBUG runs set
        assert "reader_pid" in api.get("/healthz").json()["cache"]


def test_healthz_503_when_table_missing(api, dynamo_settings, assert_error):
    with dynamo_settings(TABLE_PREFIX="absent_"):
        response = api.get("/healthz")
    assert_error(response, 503, "service_unavailable")
    assert response["Retry-After"] == "1"


@pytest.fixture
def unreachable(dynamo_settings):
    """DynamoDB endpoint that refuses connections, failing fast."""
    with dynamo_settings(
        ENDPOINT_URL="http://127.0.0.1:9",
        CONNECT_TIMEOUT=0.5,
        READ_TIMEOUT=0.5,
        MAX_ATTEMPTS=1,
        CACHE_TTL=0,
    ):
        dynamo_backend.cache.reset()
        yield


def test_healthz_503_when_dynamodb_unreachable(api, unreachable, assert_error):
    response = api.get("/healthz")
    assert_error(response, 503, "service_unavailable")
    assert response["Retry-After"] == "1"


@pytest.mark.parametrize(
    "method, url, data",
    [
        ("GET", "/api/authors/", None),
        ("POST", "/api/authors/", {"username": "alice", "email": "a@example.com"}),
        ("GET", f"/api/posts/{uuid.uuid4()}/", None),
        ("GET", "/api/posts/", None),
    ],
)
def test_unreachable_dynamodb_is_503_with_retry_after(api, unreachable, assert_error, method, url, data):
    response = api.request(method, url, data)
    assert_error(response, 503, "service_unavailable")
    assert response["Retry-After"] == "1"


def test_a_503_is_logged_with_the_calls_that_spent_the_request(api, unreachable, caplog):
    caplog.set_level("WARNING", logger="services.blog")
    assert api.get("/api/authors/").status_code == 503
    (line,) = [r.getMessage() for r in caplog.records if "DynamoDB unavailable" in r.getMessage()]
    assert "GET /api/authors/" in line
    assert re.search(r"; calls: (Query|Scan) \d+ms", line), line


def test_service_recovers_when_dynamodb_returns(api, dynamo_settings):
    with dynamo_settings(ENDPOINT_URL="http://127.0.0.1:9", CONNECT_TIMEOUT=0.5, MAX_ATTEMPTS=1, CACHE_TTL=0):
        assert api.get("/api/authors/").status_code == 503
    assert api.get("/api/authors/").status_code == 200
    assert api.get("/healthz").status_code == 200


def test_unexpected_error_is_500_json_without_internals(api, monkeypatch, assert_error, caplog):
    author = api.create_author()

    def boom(*args, **kwargs):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr("services.blog.views.author_to_dict", boom)
    response = api.get(f"/api/authors/{author['pk']}/")
    assert_error(response, 500, "internal_error")
    assert b"secret internal detail" not in response.content and b"Traceback" not in response.content
    assert any("secret internal detail" in str(r.exc_info) for r in caplog.records if r.exc_info)


def test_every_response_is_json(api):
    author = api.create_author()
    for response in (api.get("/api/authors/"), api.get(f"/api/authors/{author['pk']}/"), api.get("/nope")):
        assert response["Content-Type"].startswith("application/json")
