"""Authentication and ownership: tokens for writes, each author changes only their own, the moderator's token."""

from __future__ import annotations

import hashlib
import uuid

import pytest

from services.blog.models import ApiToken, Author, Comment, Post
from tests.blog.conftest import ADMIN_TOKEN, bearer, public

pytestmark = pytest.mark.usefixtures("blog_tables")


@pytest.fixture
def world(api):
    """alice wrote a post; bob commented on it."""
    alice = api.create_author("alice")
    bob = api.create_author("bob")
    post = api.create_post(alice["pk"])
    comment = api.create_comment(post["pk"], bob["pk"])
    return alice, bob, post, comment


def assert_unauthorized(assert_error, response, *, invalid_token: bool) -> None:
    assert_error(response, 401, "unauthorized")
    challenge = response["WWW-Authenticate"]
    assert challenge.startswith("Bearer realm=")
    assert ('error="invalid_token"' in challenge) is invalid_token


def assert_forbidden(assert_error, response, *fields: str) -> None:
    assert_error(response, 403, "forbidden", *fields)
    assert response["WWW-Authenticate"].startswith("Bearer realm=")
    assert 'error="insufficient_scope"' in response["WWW-Authenticate"]


# --- tokens at sign-up ---------------------------------------------------------------


def test_signup_answers_a_token_once_and_stores_only_a_salted_hash(api, blog_tables):
    created = api.create_author("alice")
    token_id, _, secret = created["token"].partition(".")
    assert str(uuid.UUID(token_id)) == token_id and len(secret) >= 43  # 256 random bits

    [item] = blog_tables.raw_scan(ApiToken)
    assert item["pk"]["S"] == token_id and item["author_pk"]["S"] == created["pk"]
    stored = {name: next(iter(value.values())) for name, value in item.items()}
    assert not any(secret in str(value) for value in stored.values())
    assert stored["digest"] == hashlib.sha256(bytes.fromhex(stored["salt"]) + secret.encode()).hexdigest()
    # The token is never shown again, not even to its author.
    assert "token" not in api.get(f"/api/authors/{created['pk']}/", as_=created).json()


def test_two_signups_get_different_tokens_and_salts(api, blog_tables):
    tokens = {api.create_author(name)["token"] for name in ("alice", "bob")}
    assert len(tokens) == 2
    assert len({item["salt"]["S"] for item in blog_tables.raw_scan(ApiToken)}) == 2


def test_a_signup_whose_token_cannot_be_stored_leaves_no_author(api, monkeypatch, assert_error):
    from dynamo_backend import ServiceUnavailable

    def fail(**kwargs):
        raise ServiceUnavailable("simulated outage")

    monkeypatch.setattr(ApiToken.objects, "create", fail)
    assert_error(api.post("/api/authors/", {"username": "alice", "email": "a@example.com"}), 503, "service_unavailable")
    monkeypatch.undo()
    assert Author.objects.uncached().count() == 0
    api.create_author("alice")  # the username is free to try again


# --- 401: no usable token ---------------------------------------------------------------


def write_requests(world):
    alice, bob, post, comment = world
    return [
        ("PATCH", f"/api/authors/{alice['pk']}/", {"bio": "x"}),
        ("DELETE", f"/api/authors/{alice['pk']}/", None),
        ("POST", "/api/posts/", {"title": "t", "slug": "s", "author_pk": alice["pk"]}),
        ("PUT", f"/api/posts/{post['pk']}/", {"title": "x"}),
        ("DELETE", f"/api/posts/{post['pk']}/", None),
        ("POST", f"/api/posts/{post['pk']}/comments/", {"author_pk": alice["pk"], "body": "x"}),
        ("DELETE", f"/api/comments/{comment['pk']}/", None),
        ("POST", f"/api/authors/{alice['pk']}/tokens/", None),
        ("DELETE", f"/api/authors/{alice['pk']}/tokens/{alice['token'].split('.')[0]}/", None),
    ]


def snapshot(blog_tables) -> list:
    return [sorted(map(str, blog_tables.raw_scan(model))) for model in (Author, Post, Comment, ApiToken)]


def test_every_write_without_a_token_is_401_and_changes_nothing(api, world, blog_tables, assert_error):
    before = snapshot(blog_tables)
    for method, url, data in write_requests(world):
        assert_unauthorized(assert_error, api.request(method, url, data), invalid_token=False)
    assert snapshot(blog_tables) == before


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer ",
        "Bearer not-a-token",
        "Bearer {id}",
        "Bearer {id}.",
        "Bearer {id}.wrong-secret",
        "Bearer {other}.{secret}",
        "Bearer {secret}",
        "bearer {id}.{secret}x",
    ],
)
def test_a_malformed_unknown_or_wrong_token_is_401_invalid_token(api, world, blog_tables, assert_error, header):
    alice = world[0]
    token_id, _, secret = alice["token"].partition(".")
    value = header.format(id=token_id, secret=secret, other=uuid.uuid4())
    before = snapshot(blog_tables)
    for method, url, data in write_requests(world):
        response = api.request(method, url, data, HTTP_AUTHORIZATION=value)
        assert_unauthorized(assert_error, response, invalid_token=True)
    assert snapshot(blog_tables) == before


def test_another_scheme_is_401_asking_for_bearer(api, world, assert_error):
    alice = world[0]
    response = api.patch(f"/api/authors/{alice['pk']}/", {"bio": "x"}, HTTP_AUTHORIZATION="Basic YWxpY2U6cHc=")
    assert_unauthorized(assert_error, response, invalid_token=False)


def test_the_scheme_is_case_insensitive(api, world):
    alice = world[0]
    header = {"HTTP_AUTHORIZATION": f"bEaReR {alice['token']}"}
    assert api.patch(f"/api/authors/{alice['pk']}/", {"bio": "x"}, **header).status_code == 200


def test_a_bad_token_on_an_author_read_is_401_not_silently_anonymous(api, world, assert_error):
    response = api.get("/api/authors/", HTTP_AUTHORIZATION="Bearer nope")
    assert_unauthorized(assert_error, response, invalid_token=True)


# --- 403: a valid token without the right ---------------------------------------------------


def test_an_author_cannot_change_or_delete_what_another_owns(api, world, blog_tables, assert_error):
    alice, bob, post, comment = world
    carol = api.create_author("carol")
    before = snapshot(blog_tables)
    for method, url, data in [
        ("PATCH", f"/api/authors/{alice['pk']}/", {"bio": "x"}),
        ("PUT", f"/api/authors/{alice['pk']}/", {"bio": "x"}),
        ("DELETE", f"/api/authors/{alice['pk']}/", None),
        ("PATCH", f"/api/posts/{post['pk']}/", {"title": "x"}),
        ("DELETE", f"/api/posts/{post['pk']}/", None),
        ("DELETE", f"/api/comments/{comment['pk']}/", None),
        ("GET", f"/api/authors/{alice['pk']}/tokens/", None),
        ("POST", f"/api/authors/{alice['pk']}/tokens/", None),
        ("DELETE", f"/api/authors/{alice['pk']}/tokens/{alice['token'].split('.')[0]}/", None),
    ]:
        assert_forbidden(assert_error, api.request(method, url, data, as_=carol))
    assert snapshot(blog_tables) == before


def test_the_posts_author_may_delete_comments_on_it(api, world):
    alice, bob, post, comment = world
    assert api.delete(f"/api/comments/{comment['pk']}/", as_=alice).status_code == 204


def test_a_comments_author_may_delete_it_but_not_the_post(api, world, assert_error):
    alice, bob, post, comment = world
    assert_forbidden(assert_error, api.delete(f"/api/posts/{post['pk']}/", as_=bob))
    assert api.delete(f"/api/comments/{comment['pk']}/", as_=bob).status_code == 204


def test_a_post_author_cannot_delete_comments_on_other_posts(api, world, assert_error):
    alice, bob, post, comment = world
    bobs_post = api.create_post(bob["pk"], "bobs")
    theirs = api.create_comment(bobs_post["pk"], bob["pk"])
    assert_forbidden(assert_error, api.delete(f"/api/comments/{theirs['pk']}/", as_=alice))


def test_a_missing_target_is_404_for_any_valid_token(api, world, assert_error):
    alice = world[0]
    for method, url, data in [
        ("PATCH", f"/api/authors/{uuid.uuid4()}/", {"bio": "x"}),
        ("PATCH", f"/api/posts/{uuid.uuid4()}/", {"title": "x"}),
        ("DELETE", f"/api/posts/{uuid.uuid4()}/", None),
        ("DELETE", f"/api/comments/{uuid.uuid4()}/", None),
        ("POST", f"/api/posts/{uuid.uuid4()}/comments/", {"body": "x"}),
    ]:
        assert_error(api.request(method, url, data, as_=alice), 404, "not_found")


# --- tokens: rotate, revoke ------------------------------------------------------------------


def test_rotating_a_token_creates_a_new_one_and_revokes_the_old(api, world, assert_error):
    alice = world[0]
    old_id = alice["token"].split(".")[0]
    response = api.post(f"/api/authors/{alice['pk']}/tokens/", as_=alice)
    assert response.status_code == 201, response.content
    new = response.json()
    assert set(new) == {"id", "author_pk", "created_at", "revoked", "revoked_at", "token"}
    assert new["token"].split(".")[0] == new["id"] and new["revoked"] is False
    assert response["Location"] == f"/api/authors/{alice['pk']}/tokens/{new['id']}/"
    assert response["Cache-Control"] == "no-store"

    listed = api.get(f"/api/authors/{alice['pk']}/tokens/", token=new["token"]).json()
    assert {t["id"] for t in listed["results"]} == {old_id, new["id"]}
    assert all("token" not in t and "digest" not in t and "salt" not in t for t in listed["results"])

    url = f"/api/authors/{alice['pk']}/tokens/{old_id}/"
    assert api.delete(url, token=new["token"]).status_code == 204
    assert api.delete(url, token=new["token"]).status_code == 204  # again: still revoked
    detail = api.get(url, token=new["token"]).json()
    assert detail["revoked"] is True and detail["revoked_at"]
    assert_unauthorized(
        assert_error, api.patch(f"/api/authors/{alice['pk']}/", {"bio": "x"}, as_=alice), invalid_token=True
    )
    assert api.patch(f"/api/authors/{alice['pk']}/", {"bio": "x"}, token=new["token"]).status_code == 200


def test_revoking_the_token_in_use_is_allowed_and_takes_effect_at_once(api, world, assert_error):
    alice = world[0]
    token_id = alice["token"].split(".")[0]
    assert api.delete(f"/api/authors/{alice['pk']}/tokens/{token_id}/", as_=alice).status_code == 204
    response = api.post("/api/posts/", {"title": "t", "slug": "late"}, as_=alice)
    assert_unauthorized(assert_error, response, invalid_token=True)


def test_a_revocation_by_another_worker_holds_here_at_once(api, world, blog_tables, assert_error):
    """Token reads bypass every cache: a write made behind this process's caches is seen."""
    alice = world[0]
    url = f"/api/authors/{alice['pk']}/"
    assert api.patch(url, {"bio": "warm"}, as_=alice).status_code == 200
    blog_tables.client.update_item(
        TableName=ApiToken._meta.table_name,
        Key={"pk": {"S": alice["token"].split(".")[0]}},
        UpdateExpression="SET revoked = :t",
        ExpressionAttributeValues={":t": {"BOOL": True}},
    )
    assert_unauthorized(assert_error, api.patch(url, {"bio": "x"}, as_=alice), invalid_token=True)


def test_revoking_an_unknown_token_or_another_authors_is_404(api, world, assert_error):
    alice, bob = world[0], world[1]
    for token_id in (uuid.uuid4(), bob["token"].split(".")[0]):
        assert_error(api.delete(f"/api/authors/{alice['pk']}/tokens/{token_id}/", as_=alice), 404, "not_found")
    assert api.patch(f"/api/authors/{bob['pk']}/", {"bio": "still mine"}, as_=bob).status_code == 200


def test_token_list_needs_a_token(api, world, assert_error):
    alice = world[0]
    assert_unauthorized(assert_error, api.get(f"/api/authors/{alice['pk']}/tokens/"), invalid_token=False)


def test_deleting_an_author_deletes_their_tokens(api, blog_tables, assert_error):
    carol = api.create_author("carol")
    api.post(f"/api/authors/{carol['pk']}/tokens/", as_=carol)
    assert len(blog_tables.raw_scan(ApiToken)) == 2
    assert api.delete(f"/api/authors/{carol['pk']}/", as_=carol).status_code == 204
    assert blog_tables.raw_scan(ApiToken) == []


# --- the moderator --------------------------------------------------------------------------


def test_the_moderator_may_change_and_delete_anything(api, world, admin_token):
    alice, bob, post, comment = world
    assert api.patch(f"/api/posts/{post['pk']}/", {"title": "Moderated"}, token=admin_token).status_code == 200
    assert api.patch(f"/api/authors/{bob['pk']}/", {"bio": "Moderated"}, token=admin_token).status_code == 200
    assert api.delete(f"/api/comments/{comment['pk']}/", token=admin_token).status_code == 204
    assert api.delete(f"/api/posts/{post['pk']}/", token=admin_token).status_code == 204
    assert api.delete(f"/api/authors/{alice['pk']}/", token=admin_token).status_code == 204


def test_the_moderator_lists_and_revokes_tokens_but_mints_none(api, world, admin_token, assert_error):
    alice = world[0]
    token_id = alice["token"].split(".")[0]
    listed = api.get(f"/api/authors/{alice['pk']}/tokens/", token=admin_token).json()["results"]
    assert [t["id"] for t in listed] == [token_id]
    assert_forbidden(assert_error, api.post(f"/api/authors/{alice['pk']}/tokens/", token=admin_token))
    assert api.delete(f"/api/authors/{alice['pk']}/tokens/{token_id}/", token=admin_token).status_code == 204
    assert api.patch(f"/api/authors/{alice['pk']}/", {"bio": "x"}, as_=alice).status_code == 401


def test_the_moderator_writes_as_no_author(api, world, admin_token, assert_error):
    alice, bob, post, comment = world
    for url, data in [
        ("/api/posts/", {"title": "t", "slug": "admin"}),
        ("/api/posts/", {"title": "t", "slug": "admin", "author_pk": alice["pk"]}),
        (f"/api/posts/{post['pk']}/comments/", {"body": "x", "author_pk": alice["pk"]}),
    ]:
        assert_forbidden(assert_error, api.post(url, data, token=admin_token))
    assert_forbidden(assert_error, api.patch(f"/api/posts/{post['pk']}/", {"author_pk": bob["pk"]}, token=admin_token))


def test_without_an_admin_token_configured_none_is_accepted(api, world, assert_error):
    alice = world[0]
    response = api.delete(f"/api/authors/{alice['pk']}/", token=ADMIN_TOKEN)
    assert_unauthorized(assert_error, response, invalid_token=True)


def test_a_wrong_admin_token_is_401(api, world, admin_token, assert_error):
    alice = world[0]
    response = api.delete(f"/api/authors/{alice['pk']}/", token=admin_token + "x")
    assert_unauthorized(assert_error, response, invalid_token=True)


# --- emails -----------------------------------------------------------------------------------


def test_an_email_is_shown_only_to_its_author_and_the_moderator(api, world, admin_token):
    alice, bob = world[0], world[1]
    url, listing = f"/api/authors/{alice['pk']}/", "/api/authors/"
    assert api.get(url).json() == public(alice)
    assert "email" not in api.get(url, as_=bob).json()
    assert api.get(url, as_=alice).json()["email"] == "alice@example.com"
    assert api.get(url, token=admin_token).json()["email"] == "alice@example.com"

    def emails(**kw) -> dict:
        return {a["username"]: a.get("email") for a in api.get(listing, **kw).json()["results"]}

    assert emails() == {"alice": None, "bob": None}
    assert emails(as_=alice) == {"alice": "alice@example.com", "bob": None}
    assert emails(token=admin_token) == {"alice": "alice@example.com", "bob": "bob@example.com"}
    # Posts and comments embed only {pk, username}.
    assert set(api.get(f"/api/posts/{world[2]['pk']}/").json()["author"]) == {"pk", "username"}
    assert b"@example.com" not in api.get("/api/posts/").content


def test_an_authenticated_answer_is_never_stored(api, world):
    alice = world[0]
    response = api.get(f"/api/authors/{alice['pk']}/", **bearer(alice["token"]))
    assert response["Cache-Control"] == "no-store"
    assert "Authorization" in response["Vary"]
