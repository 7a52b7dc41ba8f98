"""Every error in the JSON shape (whatever produced it), JSON bodies only, forged cursors, response headers."""

from __future__ import annotations

import json
import uuid

import botocore.exceptions
import pytest
from django.core import signing
from django.test import Client, RequestFactory, override_settings

import dynamo_backend
from dynamo_backend import connection
from services.blog import errors, pagination
from services.blog.models import Author, Comment, Post
from services.blog.security import JSON_CSP

# --- Django's own refusals, in the JSON shape --------------------------------------------


@pytest.mark.parametrize("debug", [False, True])
def test_a_disallowed_host_is_a_json_400_with_debug_on_or_off(debug, assert_error, no_dynamodb):
    with override_settings(DEBUG=debug):
        response = Client(HTTP_HOST="evil.example").get("/api/posts/")
    error = assert_error(response, 400, "bad_request")
    assert "evil.example" not in error["message"]
    assert response["Cache-Control"] == "no-store" and response["X-Frame-Options"] == "DENY"


def test_too_many_query_fields_is_a_json_400(api, assert_error, no_dynamodb):
    query = "&".join(f"f{i}=1" for i in range(1001))
    assert_error(api.get(f"/api/posts/?{query}"), 400, "bad_request")


@pytest.mark.parametrize("debug", [False, True])
def test_the_debug_page_is_never_served_even_for_a_crash_outside_the_views(debug, monkeypatch, assert_error):
    def boom(log):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr("dynamo_backend.middleware.server_timing", boom)
    with override_settings(DEBUG=debug, DYNAMO_SERVER_TIMING=True):
        response = Client(raise_request_exception=False).get("/healthz/extra")
    assert_error(response, 500, "internal_error")
    assert b"secret internal detail" not in response.content and b"Traceback" not in response.content


def test_handlers_answer_json():
    request = RequestFactory().get("/x")
    for handler, status, code in [
        (lambda r: errors.bad_request(r, Exception("x")), 400, "bad_request"),
        (lambda r: errors.permission_denied(r, Exception("x")), 403, "forbidden"),
        (lambda r: errors.csrf_failure(r, reason="CSRF cookie not set."), 403, "forbidden"),
        (errors.server_error, 500, "internal_error"),
    ]:
        response = handler(request)
        assert response.status_code == status
        assert json.loads(response.content)["error"]["code"] == code


def test_the_handlers_are_the_urlconfs():
    from config import urls

    assert urls.handler400 == "services.blog.errors.bad_request"
    assert urls.handler403 == "services.blog.errors.permission_denied"
    assert urls.handler404 == "services.blog.errors.not_found"
    assert urls.handler500 == "services.blog.errors.server_error"


# --- JSON bodies only: 415 ------------------------------------------------------------------


@pytest.mark.usefixtures("blog_tables")
class TestMediaType:
    @pytest.mark.parametrize(
        "content_type",
        ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "", "text/json"],
    )
    def test_a_body_that_is_not_declared_json_is_415_and_writes_nothing(self, api, assert_error, content_type):
        alice = api.create_author("alice")
        post = api.create_post(alice["pk"])
        body = json.dumps({"username": "mallory", "email": "m@example.com", "title": "t", "slug": "s", "body": "x"})
        for method, url, kw in [
            ("POST", "/api/authors/", {}),
            ("POST", "/api/posts/", {"as_": alice}),
            ("PATCH", f"/api/posts/{post['pk']}/", {"as_": alice}),
            ("PATCH", f"/api/authors/{alice['pk']}/", {"as_": alice}),
            ("POST", f"/api/posts/{post['pk']}/comments/", {"as_": alice}),
        ]:
            response = api.request(method, url, raw=body, content_type=content_type, **kw)
            assert_error(response, 415, "unsupported_media_type")
        assert Author.objects.uncached().count() == 1 and Post.objects.uncached().count() == 1
        assert Comment.objects.uncached().count() == 0
        assert api.get(f"/api/posts/{post['pk']}/").json()["title"] == post["title"]

    @pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "application/merge-patch+json"])
    def test_json_media_types_are_accepted(self, api, content_type):
        body = json.dumps({"username": "alice", "email": "a@example.com"})
        assert api.post("/api/authors/", raw=body, content_type=content_type).status_code == 201


# --- forged cursors ---------------------------------------------------------------------------


def forged(scope: str, key) -> str:
    """A cursor signed with the real key (as anyone who knows it could), holding ``key``."""
    return signing.dumps({"s": scope, "k": key}, salt=pagination._SALT, compress=True)


@pytest.mark.parametrize(
    "key",
    [
        {"pk": {"S": 5}},
        {"pk": "x"},
        {"pk": {"S": "x", "N": "1"}},
        {"pk": {"B": "eA=="}},
        {"pk": None},
        {},
        {"pk": {"L": []}},
    ],
)
def test_a_forged_cursor_of_the_wrong_shape_is_400_before_any_call(api, assert_error, key, no_dynamodb):
    assert_error(api.get(f"/api/posts/?cursor={forged('posts', key)}"), 400, "bad_request", "cursor")


@pytest.mark.usefixtures("blog_tables")
@pytest.mark.parametrize(
    "key",
    [
        {"pk": {"S": "x"}},
        {"pk": {"N": "1"}, "feed": {"N": "2"}, "created_at": {"N": "3"}},
        {"nope": {"S": "x"}},
        {"pk": {"N": "not-a-number"}},
    ],
)
def test_a_forged_cursor_dynamodb_refuses_is_400_never_500(api, key):
    response = api.get(f"/api/posts/?cursor={forged('posts', key)}")
    assert response.status_code in (200, 400), response.content  # an engine may accept it; never a 500
    assert response["Content-Type"] == "application/json"


def test_a_start_key_dynamodb_refuses_is_a_400_cursor_error():
    rf = RequestFactory()

    class Refusing:
        def paginate(self, limit, start_key=None):
            raise dynamo_backend.RequestValidationError("Query: ValidationException: bad start key")

    request = rf.get("/api/posts/", {"cursor": forged("posts", {"pk": {"S": "x"}})})
    with pytest.raises(errors.BadRequest) as info:
        pagination.paginate(request, Refusing(), "posts")
    assert "cursor" in info.value.fields
    with pytest.raises(dynamo_backend.RequestValidationError):  # no cursor: our own bug, a 500
        pagination.paginate(rf.get("/api/posts/"), Refusing(), "posts")


def test_botocore_parameter_validation_is_a_request_validation_error():
    """dynamo_backend.connection.translate_error: a value of the wrong type refused before sending."""
    error = botocore.exceptions.ParamValidationError(report="Invalid type for parameter ExclusiveStartKey.pk")
    translated = connection.translate_error(error, "Query")
    assert isinstance(translated, dynamo_backend.RequestValidationError)
    assert translated.code == "ParamValidationError" and "ExclusiveStartKey" in str(translated)


# --- headers ----------------------------------------------------------------------------------


@pytest.mark.usefixtures("blog_tables")
class TestHeaders:
    def test_a_public_read_may_be_kept_but_must_be_revalidated(self, api):
        response = api.get("/api/posts/")
        assert response["Cache-Control"] == "no-cache"
        assert "Authorization" in response["Vary"]

    def test_writes_errors_and_health_are_never_stored(self, api):
        alice = api.create_author("alice")
        for response in (
            api.post("/api/authors/", {"username": "bob", "email": "b@example.com"}),
            api.patch(f"/api/authors/{alice['pk']}/", {"bio": "x"}, as_=alice),
            api.get(f"/api/posts/{uuid.uuid4()}/"),
            api.get("/nope"),
            api.get("/healthz"),
            api.get("/api/posts/", as_=alice),
        ):
            assert response["Cache-Control"] == "no-store", response

    def test_json_answers_carry_a_strict_csp_and_no_framing(self, api):
        for response in (api.get("/api/posts/"), api.get("/nope"), api.delete("/api/posts/")):
            assert response["Content-Security-Policy"] == JSON_CSP
            assert response["X-Frame-Options"] == "DENY"
            assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.usefixtures("blog_tables")
class TestServerTiming:
    def test_off_by_setting_no_header(self, api):
        with override_settings(DYNAMO_SERVER_TIMING=False):
            assert "Server-Timing" not in api.get("/api/posts/")

    def test_on_by_setting_the_header(self, api):
        with override_settings(DYNAMO_SERVER_TIMING=True):
            assert api.get("/api/posts/")["Server-Timing"].startswith("ddb;dur=")

    def test_off_by_setting_the_moderator_still_gets_it_an_author_does_not(self, api, admin_token):
        alice = api.create_author("alice")
        with override_settings(DYNAMO_SERVER_TIMING=False):
            assert api.get("/api/posts/", token=admin_token)["Server-Timing"].startswith("ddb;dur=")
            assert "Server-Timing" not in api.get("/api/posts/", as_=alice)
            assert "Server-Timing" not in api.get("/api/posts/", token=admin_token + "x")
