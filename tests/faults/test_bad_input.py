"""Issue 10, problem 5: bad input through gunicorn answered in the error shape, never 500, writing nothing.

* a lone UTF-16 surrogate (the JSON escape ``"\\ud800"``) in any free-text
  field of any endpoint: 400 ``validation_error`` naming the field;
* a chunked request body (``Transfer-Encoding: chunked``, no Content-Length):
  read like any other, with the same 1 MiB limit (413), or refused with
  411 Length Required; never taken for an empty body;
* a body whose Content-Type is not JSON (``text/plain`` and the other types a
  browser sends cross-site without a preflight): 415.
"""

from __future__ import annotations

import contextlib
import http.client
import json
from urllib.parse import urlsplit

import pytest
import requests

from tests.faults.accounting import AUTHORS, COMMENTS, POSTS
from tests.faults.api import error_of, new_author, new_post, post_body, unique
from tests.faults.stack import auth_headers

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SURROGATE = "x\ud800y"  # json.dumps writes it as the escape "x\\ud800y"
MAX_BODY = 1024 * 1024

# (method, endpoint, field): every free-text field a client may write.
TEXT_FIELDS = [
    *[("POST", "authors", f) for f in ("username", "email", "bio")],
    *[(m, "author", f) for m in ("PUT", "PATCH") for f in ("username", "email", "bio")],
    *[("POST", "posts", f) for f in ("title", "slug", "body", "tags")],
    *[(m, "post", f) for m in ("PUT", "PATCH") for f in ("title", "slug", "body", "tags")],
    ("POST", "comments", "body"),
]


@pytest.fixture
def blog(stack):
    """An author and a post of theirs, through the stack."""
    (client,) = stack.pinned(1)[:1]
    author = new_author(client)
    return {"author": author, "post": new_post(client, author["pk"])}


def valid_request(endpoint: str, blog: dict) -> tuple[str, dict, str, str | None]:
    """(path, a valid body, table, pk of the item a write would change or None for a create)."""
    author, post = blog["author"], blog["post"]
    if endpoint == "authors":
        name = unique("author")
        return "/api/authors/", {"username": name, "email": f"{name}@example.com", "bio": "b"}, AUTHORS, None
    if endpoint == "author":
        return f"/api/authors/{author['pk']}/", {"bio": "b"}, AUTHORS, author["pk"]
    if endpoint == "posts":
        return "/api/posts/", post_body(author["pk"], tags=["t"]), POSTS, None
    if endpoint == "post":
        return f"/api/posts/{post['pk']}/", {"title": "t"}, POSTS, post["pk"]
    return f"/api/posts/{post['pk']}/comments/", {"author_pk": author["pk"], "body": "c"}, COMMENTS, None


def items(stack, table: str) -> dict[str, dict]:
    return {item["pk"]: item for item in stack.store.scan(table)}


@pytest.mark.parametrize(("method", "endpoint", "field"), TEXT_FIELDS, ids=[f"{m}-{e}-{f}" for m, e, f in TEXT_FIELDS])
def test_a_lone_surrogate_in_a_text_field_is_a_400_naming_the_field(stack, blog, method, endpoint, field):
    path, body, table, _pk = valid_request(endpoint, blog)
    body[field] = [SURROGATE] if field == "tags" else SURROGATE
    raw = json.dumps(body)
    assert "\\ud800" in raw
    before = items(stack, table)
    headers = {"Content-Type": "application/json", **auth_headers(method, path, body)}
    response = requests.request(method, stack.url + path, data=raw.encode(), headers=headers, timeout=30)
    assert response.status_code == 400, f"{method} {path} {field}: {response.status_code} {response.text[:300]}"
    error = error_of(response)
    assert field in error.get("fields", {}), error
    assert items(stack, table) == before, "a refused write changed the table"


def send_chunked(url: str, path: str, chunks: list[bytes], content_type: str = "application/json"):
    """POST ``chunks`` with Transfer-Encoding: chunked and no Content-Length; (status, body, headers).

    A server that answers before it read the whole body may close the
    connection under the sender: the answer is read all the same, and a
    connection closed without one is reported as the status.
    """
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.putrequest("POST", path)
        connection.putheader("Content-Type", content_type)
        connection.putheader("Transfer-Encoding", "chunked")
        connection.endheaders()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            for chunk in chunks:
                connection.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            connection.send(b"0\r\n\r\n")
        try:
            response = connection.getresponse()
            return response.status, response.read(), dict(response.getheaders())
        except (OSError, http.client.HTTPException) as exc:
            return f"no answer ({exc!r})", b"", {}
    finally:
        connection.close()


def judged(status: int, body: bytes, headers: dict) -> dict:
    """The error object of an answer in the error shape (JSON, with code and message)."""
    assert headers.get("Content-Type", "").startswith("application/json"), (status, headers, body[:300])
    error = json.loads(body)["error"]
    assert error["code"] and error["message"], error
    return error


def test_a_chunked_body_is_read_or_refused_with_411(stack):
    name = unique("chunked")
    raw = json.dumps({"username": name, "email": f"{name}@example.com", "bio": "sent in chunks"}).encode()
    chunks = [raw[:10], raw[10:25], raw[25:]]
    status, body, headers = send_chunked(stack.url, "/api/authors/", chunks)
    stored = [a for a in stack.store.scan(AUTHORS) if a.get("username") == name]
    if status == 411:
        judged(status, body, headers)
        assert stored == []
    else:
        assert status == 201, f"{status} {body[:300]!r}"
        assert [a["pk"] for a in stored] == [json.loads(body)["pk"]]


def test_a_chunked_body_over_1_mib_is_a_413_or_refused_with_411(stack):
    name = unique("bigchunks")
    raw = json.dumps({"username": name, "email": f"{name}@example.com", "bio": "x" * MAX_BODY}).encode()
    chunks = [raw[i : i + 65536] for i in range(0, len(raw), 65536)]
    status, body, headers = send_chunked(stack.url, "/api/authors/", chunks)
    assert status in (411, 413), f"{status} {body[:300]!r}"
    error = judged(status, body, headers)
    if status == 413:
        assert error["code"] == "payload_too_large", error
    assert not [a for a in stack.store.scan(AUTHORS) if a.get("username") == name]


NOT_JSON = ["text/plain", "text/plain; charset=utf-8", "application/x-www-form-urlencoded", "multipart/form-data"]


@pytest.mark.parametrize("content_type", NOT_JSON)
@pytest.mark.parametrize(
    ("method", "endpoint"), [("POST", "authors"), ("POST", "posts"), ("POST", "comments"), ("PATCH", "post")]
)
def test_a_body_that_is_not_declared_json_is_a_415(stack, blog, method, endpoint, content_type):
    path, body, table, _pk = valid_request(endpoint, blog)
    before = items(stack, table)
    headers = {"Content-Type": content_type, **auth_headers(method, path, body)}
    response = requests.request(method, stack.url + path, data=json.dumps(body).encode(), headers=headers, timeout=30)
    assert response.status_code == 415, (
        f"{method} {path} as {content_type}: {response.status_code} {response.text[:300]}"
    )
    error_of(response)
    assert items(stack, table) == before, "a refused write changed the table"


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8", "APPLICATION/JSON"])
def test_json_with_or_without_a_charset_is_accepted(stack, content_type):
    name = unique("ctype")
    body = {"username": name, "email": f"{name}@example.com"}
    response = requests.post(
        f"{stack.url}/api/authors/", data=json.dumps(body).encode(), headers={"Content-Type": content_type}, timeout=30
    )
    assert response.status_code == 201, response.text
