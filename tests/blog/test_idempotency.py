"""Idempotency-Key on POST, and request bodies sent chunked."""

from __future__ import annotations

import io
import json

import pytest
from django.test import RequestFactory, override_settings

from services.blog import idempotency
from services.blog.bodies import ChunkedBodyMiddleware
from services.blog.models import Author, Comment, IdempotencyRecord, Post

pytestmark = pytest.mark.usefixtures("blog_tables")


@pytest.fixture
def alice(api):
    return api.create_author("alice")


def post_with_key(api, url, data, key, **kw):
    return api.post(url, data, HTTP_IDEMPOTENCY_KEY=key, **kw)


def test_a_refused_write_is_not_kept_so_its_retry_runs_and_says_why(api, alice, assert_error):
    """Found by the contract test: a 401 was kept, and its replay lost WWW-Authenticate."""
    data = {"title": "T", "slug": "kept-401"}
    for _ in range(2):  # no token: refused before it ran, each time with the challenge
        response = post_with_key(api, "/api/posts/", data, "k-401")
        assert_error(response, 401, "unauthorized")
        assert response["WWW-Authenticate"].startswith("Bearer") and not response.has_header("Idempotent-Replayed")


def test_a_rate_limited_create_runs_when_retried_with_its_key(api, alice, monkeypatch, assert_error):
    """A 429 is not the key's answer: after the window the same key creates the post (once)."""
    from services.blog import ratelimit

    now = [1_800_000_000.0 - 1_800_000_000.0 % 60 + 1]
    monkeypatch.setattr(ratelimit, "clock", lambda: now[0])
    data = {"title": "T", "slug": "after-429"}
    with override_settings(BLOG_RATE_LIMIT_TOKEN=(1, 60)):
        assert api.patch(f"/api/authors/{alice['pk']}/", {"bio": "x"}, as_=alice).status_code == 200
        assert_error(post_with_key(api, "/api/posts/", data, "k-429", as_=alice), 429, "rate_limited")
        now[0] += 60
        created = post_with_key(api, "/api/posts/", data, "k-429", as_=alice)
        replay = post_with_key(api, "/api/posts/", data, "k-429", as_=alice)
    assert created.status_code == 201, created.content
    assert replay["Idempotent-Replayed"] == "true" and replay.json()["pk"] == created.json()["pk"]


def test_a_replayed_create_returns_the_first_answer_and_writes_nothing(api):
    first = post_with_key(api, "/api/authors/", {"username": "ann", "email": "ann@example.com"}, "k-1")
    again = post_with_key(api, "/api/authors/", {"username": "ann", "email": "ann@example.com"}, "k-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["pk"] == first.json()["pk"] and again["Location"] == first["Location"]
    assert Author.objects.consistent().filter(username="ann").count() == 1


def test_the_same_key_with_another_body_is_422(api, assert_error):
    post_with_key(api, "/api/authors/", {"username": "bob", "email": "bob@example.com"}, "k-2")
    response = post_with_key(api, "/api/authors/", {"username": "bo", "email": "bob@example.com"}, "k-2")
    assert_error(response, 422, "idempotency_key_reused")
    assert not Author.objects.consistent().filter(username="bo").exists()


def test_a_key_still_in_flight_is_409_with_retry_after(api, assert_error):
    request = RequestFactory().post("/api/authors/", data=b"{}", content_type="application/json")
    pk = idempotency._record_pk(request, "k-3")
    IdempotencyRecord(
        pk=pk,
        fingerprint=idempotency._fingerprint(request),
        resource_pk="00000000-0000-4000-8000-000000000003",
        state="in_flight",
        lease_until=2**40,
    ).save()
    response = api.request("POST", "/api/authors/", raw=b"{}", HTTP_IDEMPOTENCY_KEY="k-3")
    assert_error(response, 409, "idempotency_key_in_flight")
    assert int(response["Retry-After"]) >= 1


def test_a_validation_error_is_remembered_too(api, assert_error):
    bad = {"username": "no spaces allowed", "email": "x@example.com"}
    assert_error(post_with_key(api, "/api/authors/", bad, "k-4"), 400, "validation_error")
    replay = post_with_key(api, "/api/authors/", bad, "k-4")
    assert replay.status_code == 400 and replay["Idempotent-Replayed"] == "true"


def test_a_retry_after_a_failed_attempt_finds_the_resource_that_attempt_stored(api, alice):
    # The first attempt stored the post, then failed (5xx): the key is released with its resource pk.
    url, data = "/api/posts/", {"title": "t", "slug": "retry-me", "author_pk": alice["pk"]}
    authorization = {"HTTP_AUTHORIZATION": f"Bearer {api.token_of(alice)}"}
    request = RequestFactory().post(url, data=json.dumps(data), content_type="application/json", **authorization)
    pinned = "00000000-0000-4000-8000-000000000005"
    IdempotencyRecord(
        pk=idempotency._record_pk(request, "k-5"),
        fingerprint=idempotency._fingerprint(request),
        resource_pk=pinned,
        state="in_flight",
        lease_until=0,
    ).save()
    Post.objects.create(pk=pinned, **data)
    response = post_with_key(api, url, data, "k-5", as_=alice)
    assert response.status_code == 201 and response.json()["pk"] == pinned
    assert Post.objects.consistent().filter(slug="retry-me").count() == 1


def test_comments_are_created_once_per_key(api, alice):
    post = api.create_post(alice["pk"])
    url = f"/api/posts/{post['pk']}/comments/"
    for _ in range(3):
        answer = post_with_key(api, url, {"author_pk": alice["pk"], "body": "hi"}, "k-6", as_=alice)
        assert answer.status_code == 201
    assert Comment.objects.uncached().filter(post_pk=post["pk"]).count() == 1


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there"])
def test_a_malformed_key_is_400(api, assert_error, key):
    response = post_with_key(api, "/api/authors/", {"username": "c", "email": "c@example.com"}, key)
    assert_error(response, 400, "invalid_idempotency_key")


def test_signup_secrets_are_not_stored_for_a_replay():
    response = idempotency.JsonResponse({"pk": "p", "token": "secret"}, status=201)
    assert json.loads(idempotency._stored_body(response)) == {"pk": "p"}


# -- chunked bodies (no engine: the middleware alone) ----------------------------------------


def chunked_request(body: bytes):
    request = RequestFactory().generic("POST", "/api/authors/", content_type="application/json")
    request.META.pop("CONTENT_LENGTH", None)
    request.META["HTTP_TRANSFER_ENCODING"] = "chunked"
    request.META["wsgi.input"] = io.BytesIO(body)
    return request


def test_a_chunked_body_is_read():
    seen = {}
    middleware = ChunkedBodyMiddleware(lambda request: seen.setdefault("body", request.body) and None)
    middleware(chunked_request(b'{"username": "chunky"}'))
    assert seen["body"] == b'{"username": "chunky"}'


def test_a_chunked_body_over_the_limit_is_413():
    with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=10):
        response = ChunkedBodyMiddleware(lambda request: None)(chunked_request(b"x" * 11))
    assert response.status_code == 413
    assert json.loads(response.content)["error"]["code"] == "payload_too_large"
