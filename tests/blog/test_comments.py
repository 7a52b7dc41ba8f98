"""Comments: /api/posts/<pk>/comments/ and /api/comments/<pk>/."""

from __future__ import annotations

import uuid

import pytest

from services.blog.models import Comment

pytestmark = pytest.mark.usefixtures("blog_tables")


@pytest.fixture
def setup(api):
    alice = api.create_author("alice")
    bob = api.create_author("bob")
    post = api.create_post(alice["pk"])
    return alice, bob, post


def test_create_comment_returns_201_with_embedded_author(api, setup):
    alice, bob, post = setup
    response = api.post(f"/api/posts/{post['pk']}/comments/", {"author_pk": bob["pk"], "body": "Great!"}, as_=bob)
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"pk", "post_pk", "author_pk", "author", "body", "created_at"}
    assert body["post_pk"] == post["pk"] and body["body"] == "Great!"
    assert body["author"] == {"pk": bob["pk"], "username": "bob"}
    assert response["Location"] == f"/api/comments/{body['pk']}/"


def test_new_comment_shows_in_the_post_page_at_once(api, setup):
    alice, bob, post = setup
    api.get(f"/api/posts/{post['pk']}/")  # cache the page's query
    comment = api.create_comment(post["pk"], bob["pk"], "fresh")
    page = api.get(f"/api/posts/{post['pk']}/").json()
    assert [c["pk"] for c in page["comments"]] == [comment["pk"]]


def test_comment_on_missing_post_is_404_and_writes_nothing(api, setup, assert_error):
    alice, bob, post = setup
    response = api.post(f"/api/posts/{uuid.uuid4()}/comments/", {"author_pk": bob["pk"], "body": "x"}, as_=bob)
    assert_error(response, 404, "not_found")
    assert Comment.objects.count() == 0


def test_comment_as_another_author_is_403_naming_author_pk(api, setup, assert_error):
    alice, bob, post = setup
    for other in (alice["pk"], str(uuid.uuid4())):
        response = api.post(f"/api/posts/{post['pk']}/comments/", {"author_pk": other, "body": "x"}, as_=bob)
        assert_error(response, 403, "forbidden", "author_pk")
    assert Comment.objects.count() == 0


def test_comment_without_author_pk_is_by_the_tokens_author(api, setup):
    alice, bob, post = setup
    response = api.post(f"/api/posts/{post['pk']}/comments/", {"body": "mine"}, as_=bob)
    assert response.status_code == 201, response.content
    assert response.json()["author"] == {"pk": bob["pk"], "username": "bob"}


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"author_pk": "AUTHOR"}, "body"),
        ({"author_pk": "AUTHOR", "body": ""}, "body"),
        ({"author_pk": "AUTHOR", "body": "   "}, "body"),
        ({"author_pk": "AUTHOR", "body": "x" * 5001}, "body"),
        ({"author_pk": "AUTHOR", "body": 12}, "body"),
        ({"author_pk": "nope", "body": "x"}, "author_pk"),
        ({"author_pk": "AUTHOR", "body": "x", "post_pk": "POST"}, "post_pk"),
        ({"author_pk": "AUTHOR", "body": "x", "created_at": "2020-01-01"}, "created_at"),
        ({"author_pk": "AUTHOR", "body": "x", "rating": 5}, "rating"),
    ],
)
def test_invalid_comment_is_400_and_writes_nothing(api, setup, assert_error, payload, field):
    alice, bob, post = setup
    payload = {k: (bob["pk"] if v == "AUTHOR" else post["pk"] if v == "POST" else v) for k, v in payload.items()}
    response = api.post(f"/api/posts/{post['pk']}/comments/", payload, as_=bob)
    assert_error(response, 400, "validation_error", field)
    assert Comment.objects.count() == 0


def test_comment_body_of_5000_chars_is_fine(api, setup):
    alice, bob, post = setup
    assert api.create_comment(post["pk"], bob["pk"], "x" * 5000)["body"] == "x" * 5000


def test_list_comments_oldest_first_paginated(api, setup):
    alice, bob, post = setup
    pks = [api.create_comment(post["pk"], (alice, bob)[i % 2]["pk"], f"c{i}")["pk"] for i in range(5)]
    seen, cursor = [], None
    for _ in range(5):
        url = f"/api/posts/{post['pk']}/comments/?limit=2" + (f"&cursor={cursor}" if cursor else "")
        body = api.get(url).json()
        assert all(set(c["author"]) == {"pk", "username"} for c in body["results"])
        seen += [c["pk"] for c in body["results"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == pks


def test_list_comments_of_missing_post_is_404(api, assert_error):
    assert_error(api.get(f"/api/posts/{uuid.uuid4()}/comments/"), 404, "not_found")


def test_get_comment(api, setup):
    alice, bob, post = setup
    comment = api.create_comment(post["pk"], bob["pk"])
    assert api.get(f"/api/comments/{comment['pk']}/").json() == comment


def test_delete_comment_is_204_then_404(api, setup, assert_error):
    alice, bob, post = setup
    comment = api.create_comment(post["pk"], bob["pk"])
    response = api.delete(f"/api/comments/{comment['pk']}/", as_=bob)
    assert response.status_code == 204 and response.content == b""
    assert_error(api.get(f"/api/comments/{comment['pk']}/"), 404, "not_found")
    assert_error(api.delete(f"/api/comments/{comment['pk']}/", as_=bob), 404, "not_found")
    assert api.get(f"/api/posts/{post['pk']}/").json()["comments"] == []


def test_delete_missing_comment_is_404(api, setup, assert_error):
    alice, bob, post = setup
    assert_error(api.delete(f"/api/comments/{uuid.uuid4()}/", as_=bob), 404, "not_found")


def test_deleting_last_comment_lets_the_author_be_deleted(api, setup):
    alice, bob, post = setup
    comment = api.create_comment(post["pk"], bob["pk"])
    assert api.delete(f"/api/authors/{bob['pk']}/", as_=bob).status_code == 409
    api.delete(f"/api/comments/{comment['pk']}/", as_=bob)
    assert api.delete(f"/api/authors/{bob['pk']}/", as_=bob).status_code == 204


def test_comment_detail_wrong_method_is_405(api, setup, assert_error):
    alice, bob, post = setup
    comment = api.create_comment(post["pk"], bob["pk"])
    response = api.put(f"/api/comments/{comment['pk']}/", {"body": "x"})
    assert_error(response, 405, "method_not_allowed")
    assert "DELETE" in response["Allow"]
