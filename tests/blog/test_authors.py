"""Authors: /api/authors/ and /api/authors/<pk>/."""

from __future__ import annotations

import uuid

import pytest

from services.blog.models import Author
from tests.blog.conftest import own, public

pytestmark = pytest.mark.usefixtures("blog_tables")


def test_create_author_returns_201_with_the_author(api):
    response = api.post("/api/authors/", {"username": "alice", "email": "alice@example.com", "bio": "Writer"})
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"pk", "username", "email", "bio", "created_at", "token"}
    assert body["username"] == "alice" and body["email"] == "alice@example.com" and body["bio"] == "Writer"
    uuid.UUID(body["pk"])
    assert response["Location"] == f"/api/authors/{body['pk']}/"


def test_create_author_defaults_bio_to_empty(api):
    assert api.create_author("bob")["bio"] == ""


def test_get_author(api):
    created = api.create_author()
    response = api.get(f"/api/authors/{created['pk']}/")
    assert response.status_code == 200
    assert response.json() == public(created)


def test_get_author_accepts_uppercase_uuid(api):
    created = api.create_author()
    assert api.get(f"/api/authors/{created['pk'].upper()}/").json()["pk"] == created["pk"]


def test_get_missing_author_is_404(api, assert_error):
    assert_error(api.get(f"/api/authors/{uuid.uuid4()}/"), 404, "not_found")


def test_list_authors(api):
    names = {api.create_author(f"user{i}")["username"] for i in range(3)}
    response = api.get("/api/authors/")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"results", "next_cursor"}
    assert {a["username"] for a in body["results"]} == names
    assert body["next_cursor"] is None


def test_list_authors_paginates_with_cursor(api):
    pks = {api.create_author(f"user{i}")["pk"] for i in range(5)}
    seen, cursor, pages = [], None, 0
    while True:
        url = "/api/authors/?limit=2" + (f"&cursor={cursor}" if cursor else "")
        body = api.get(url).json()
        assert len(body["results"]) <= 2
        seen += [a["pk"] for a in body["results"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert pages < 10
    assert sorted(seen) == sorted(pks)  # every author exactly once


def test_put_updates_only_given_fields(api):
    created = api.create_author(bio="old")
    response = api.put(f"/api/authors/{created['pk']}/", {"bio": "new"}, as_=created)
    assert response.status_code == 200
    assert response.json() == {**own(created), "bio": "new"}
    assert api.get(f"/api/authors/{created['pk']}/").json()["bio"] == "new"


def test_patch_is_the_same_as_put(api):
    created = api.create_author()
    response = api.patch(f"/api/authors/{created['pk']}/", {"email": "x@example.org"}, as_=created)
    assert response.status_code == 200
    assert api.get(f"/api/authors/{created['pk']}/", as_=created).json()["email"] == "x@example.org"


def test_put_with_empty_object_changes_nothing(api):
    created = api.create_author()
    response = api.put(f"/api/authors/{created['pk']}/", {}, as_=created)
    assert response.status_code == 200 and response.json() == own(created)


def test_put_can_rename_and_frees_the_old_username(api):
    created = api.create_author("alice")
    assert api.put(f"/api/authors/{created['pk']}/", {"username": "alicia"}, as_=created).status_code == 200
    assert api.get(f"/api/authors/{created['pk']}/").json()["username"] == "alicia"
    api.create_author("alice")  # the old name is free again


def test_put_missing_author_is_404(api, assert_error):
    alice = api.create_author()
    assert_error(api.put(f"/api/authors/{uuid.uuid4()}/", {"bio": "x"}, as_=alice), 404, "not_found")


@pytest.mark.parametrize("field", ["pk", "created_at"])
def test_put_read_only_field_is_400(api, assert_error, field):
    created = api.create_author()
    error = assert_error(
        api.put(f"/api/authors/{created['pk']}/", {field: created[field]}, as_=created), 400, "validation_error", field
    )
    assert "read-only" in error["fields"][field][0]


def test_duplicate_username_is_409(api, assert_error):
    api.create_author("alice")
    response = api.post("/api/authors/", {"username": "alice", "email": "other@example.com"})
    error = assert_error(response, 409, "conflict")
    assert "username" in error["message"]
    assert Author.objects.count() == 1


def test_rename_to_taken_username_is_409(api, assert_error):
    api.create_author("alice")
    bob = api.create_author("bob")
    assert_error(api.put(f"/api/authors/{bob['pk']}/", {"username": "alice"}, as_=bob), 409, "conflict")
    assert api.get(f"/api/authors/{bob['pk']}/").json()["username"] == "bob"


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"email": "a@example.com"}, "username"),
        ({"username": "alice"}, "email"),
        ({"username": "alice", "email": "not-an-email"}, "email"),
        ({"username": "a" * 51, "email": "a@example.com"}, "username"),
        ({"username": "has space", "email": "a@example.com"}, "username"),
        ({"username": "", "email": "a@example.com"}, "username"),
        ({"username": 42, "email": "a@example.com"}, "username"),
        ({"username": None, "email": "a@example.com"}, "username"),
        ({"username": "alice", "email": "a@example.com", "bio": "x" * 2001}, "bio"),
        ({"username": "alice", "email": "a@example.com", "bio": ["x"]}, "bio"),
        ({"username": "alice", "email": "a@example.com", "website": "x"}, "website"),
        ({"username": "alice", "email": "a@example.com", "pk": str(uuid.uuid4())}, "pk"),
    ],
)
def test_invalid_author_is_400_and_writes_nothing(api, assert_error, payload, field):
    assert_error(api.post("/api/authors/", payload), 400, "validation_error", field)
    assert Author.objects.count() == 0


def test_all_field_errors_are_reported_together(api, assert_error):
    error = assert_error(api.post("/api/authors/", {"email": "bad", "nope": 1}), 400, "validation_error")
    assert set(error["fields"]) == {"username", "email", "nope"}


def test_delete_author_without_content_is_204(api, assert_error):
    created = api.create_author()
    response = api.delete(f"/api/authors/{created['pk']}/", as_=created)
    assert response.status_code == 204 and response.content == b""
    assert_error(api.get(f"/api/authors/{created['pk']}/"), 404, "not_found")
    # Its tokens went with it.
    assert_error(api.delete(f"/api/authors/{created['pk']}/", as_=created), 401, "unauthorized")


def test_delete_author_frees_the_username(api):
    created = api.create_author("alice")
    api.delete(f"/api/authors/{created['pk']}/", as_=created)
    api.create_author("alice")


def test_delete_author_with_posts_is_409(api, assert_error):
    author = api.create_author()
    api.create_post(author["pk"])
    error = assert_error(api.delete(f"/api/authors/{author['pk']}/", as_=author), 409, "conflict")
    assert "1 Post" in error["message"]
    assert api.get(f"/api/authors/{author['pk']}/").status_code == 200


def test_delete_author_with_only_comments_is_409(api, assert_error):
    owner = api.create_author("owner")
    commenter = api.create_author("commenter")
    post = api.create_post(owner["pk"])
    api.create_comment(post["pk"], commenter["pk"])
    error = assert_error(api.delete(f"/api/authors/{commenter['pk']}/", as_=commenter), 409, "conflict")
    assert "1 Comment" in error["message"] and "Post" not in error["message"]


def test_author_list_wrong_method_is_405(api, assert_error):
    response = api.delete("/api/authors/")
    assert_error(response, 405, "method_not_allowed")
    allowed = {m.strip() for m in response["Allow"].split(",")}
    assert {"GET", "POST"} <= allowed and "DELETE" not in allowed
