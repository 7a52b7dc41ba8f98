"""Posts: /api/posts/ and /api/posts/<pk>/."""

from __future__ import annotations

import uuid

import pytest

from services.blog.models import Comment, Post

pytestmark = pytest.mark.usefixtures("blog_tables")


@pytest.fixture
def alice(api):
    return api.create_author("alice")


def test_create_post_returns_201_with_embedded_author(api, alice):
    response = api.post(
        "/api/posts/",
        {
            "title": "Hello DynamoDB",
            "slug": "hello-dynamodb",
            "author_pk": alice["pk"],
            "published": True,
            "tags": ["aws", "django"],
            "body": "Text",
        },
        as_=alice,
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["title"] == "Hello DynamoDB" and body["slug"] == "hello-dynamodb"
    assert body["published"] is True and body["tags"] == ["aws", "django"] and body["body"] == "Text"
    assert body["view_count"] == 0
    assert body["author"] == {"pk": alice["pk"], "username": "alice"}
    assert body["author_pk"] == alice["pk"]
    assert body["created_at"] and body["updated_at"]
    assert "feed" not in body
    assert response["Location"] == f"/api/posts/{body['pk']}/"


def test_create_post_defaults(api, alice):
    post = api.create_post(alice["pk"])
    assert post["published"] is False and post["tags"] == [] and post["body"] == "" and post["view_count"] == 0


def test_get_post_increments_view_count_and_shows_new_count(api, alice):
    post = api.create_post(alice["pk"])
    counts = [api.get(f"/api/posts/{post['pk']}/").json()["view_count"] for _ in range(3)]
    assert counts == [1, 2, 3]


def test_get_post_embeds_author_and_comments_oldest_first(api, alice):
    bob = api.create_author("bob")
    post = api.create_post(alice["pk"])
    first = api.create_comment(post["pk"], bob["pk"], "first")
    second = api.create_comment(post["pk"], alice["pk"], "second")
    third = api.create_comment(post["pk"], bob["pk"], "third")
    body = api.get(f"/api/posts/{post['pk']}/").json()
    assert body["author"] == {"pk": alice["pk"], "username": "alice"}
    assert [c["pk"] for c in body["comments"]] == [first["pk"], second["pk"], third["pk"]]
    assert [c["author"]["username"] for c in body["comments"]] == ["bob", "alice", "bob"]
    assert body["comments"][0] == {
        "pk": first["pk"],
        "post_pk": post["pk"],
        "author_pk": bob["pk"],
        "author": {"pk": bob["pk"], "username": "bob"},
        "body": "first",
        "created_at": first["created_at"],
    }
    assert body["comments_truncated"] is False


def test_get_missing_post_is_404_and_writes_nothing(api, assert_error):
    assert_error(api.get(f"/api/posts/{uuid.uuid4()}/"), 404, "not_found")
    assert Post.objects.count() == 0  # the view-count update did not upsert a ghost


def test_list_posts_newest_first_with_embedded_authors(api, alice):
    bob = api.create_author("bob")
    slugs = []
    for i in range(4):
        slugs.append(api.create_post((alice if i % 2 else bob)["pk"], f"p{i}")["slug"])
    body = api.get("/api/posts/").json()
    assert [p["slug"] for p in body["results"]] == list(reversed(slugs))
    assert body["next_cursor"] is None
    for p in body["results"]:
        assert set(p["author"]) == {"pk", "username"}
        assert p["author"]["username"] == ("alice" if p["author_pk"] == alice["pk"] else "bob")


def test_list_posts_filters_by_author(api, alice):
    bob = api.create_author("bob")
    mine = [api.create_post(alice["pk"], f"a{i}")["pk"] for i in range(3)]
    api.create_post(bob["pk"], "b0")
    body = api.get(f"/api/posts/?author_pk={alice['pk']}").json()
    assert [p["pk"] for p in body["results"]] == list(reversed(mine))


def test_list_posts_for_unknown_author_is_empty(api):
    assert api.get(f"/api/posts/?author_pk={uuid.uuid4()}").json() == {"results": [], "next_cursor": None}


def test_list_posts_bad_author_filter_is_400(api, assert_error):
    assert_error(api.get("/api/posts/?author_pk=nope"), 400, "validation_error", "author_pk")


def test_list_posts_paginates_newest_first(api, alice):
    pks = [api.create_post(alice["pk"], f"p{i}")["pk"] for i in range(5)]
    seen, cursor = [], None
    for _ in range(5):
        url = "/api/posts/?limit=2" + (f"&cursor={cursor}" if cursor else "")
        body = api.get(url).json()
        seen += [p["pk"] for p in body["results"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(pks))


def test_list_default_limit_is_20(api, alice):
    Post.objects.bulk_create([Post(title=f"t{i}", slug=f"s{i}", author_pk=alice["pk"]) for i in range(21)])
    body = api.get("/api/posts/").json()
    assert len(body["results"]) == 20 and body["next_cursor"]
    rest = api.get(f"/api/posts/?cursor={body['next_cursor']}").json()
    assert len(rest["results"]) == 1 and rest["next_cursor"] is None


def test_limit_100_is_allowed(api):
    assert api.get("/api/posts/?limit=100").status_code == 200


# "" (``?limit=``) found by the contract test: it was taken as no limit, though it is no integer.
@pytest.mark.parametrize("limit", ["0", "-1", "101", "abc", "1.5", ""])
def test_bad_limit_is_400(api, assert_error, limit):
    assert_error(api.get(f"/api/posts/?limit={limit}"), 400, "validation_error", "limit")


def test_an_empty_cursor_is_the_first_page(api, alice):
    api.create_post(alice["pk"], "only")
    assert [p["slug"] for p in api.get("/api/posts/?cursor=").json()["results"]] == ["only"]


def test_tampered_cursor_is_400(api, alice, assert_error):
    for i in range(3):
        api.create_post(alice["pk"], f"p{i}")
    cursor = api.get("/api/posts/?limit=1").json()["next_cursor"]
    tampered = cursor[:-2] + ("A" if cursor[-2] != "A" else "B") + cursor[-1]
    assert_error(api.get(f"/api/posts/?cursor={tampered}"), 400, "bad_request", "cursor")
    assert_error(api.get("/api/posts/?cursor=garbage"), 400, "bad_request", "cursor")


def test_cursor_from_another_list_is_400(api, alice, assert_error):
    for i in range(3):
        api.create_post(alice["pk"], f"p{i}")
    cursor = api.get("/api/posts/?limit=1").json()["next_cursor"]
    assert_error(api.get(f"/api/posts/?author_pk={alice['pk']}&cursor={cursor}"), 400, "bad_request")
    assert_error(api.get(f"/api/authors/?cursor={cursor}"), 400, "bad_request")


def test_duplicate_slug_is_409(api, alice, assert_error):
    api.create_post(alice["pk"], "same")
    error = assert_error(
        api.post("/api/posts/", {"title": "x", "slug": "same", "author_pk": alice["pk"]}, as_=alice), 409, "conflict"
    )
    assert "slug" in error["message"]
    assert Post.objects.count() == 1


def test_post_for_another_or_a_missing_author_is_403_naming_author_pk(api, alice, assert_error):
    bob = api.create_author("bob")
    for other in (bob["pk"], str(uuid.uuid4())):
        response = api.post("/api/posts/", {"title": "x", "slug": "x", "author_pk": other}, as_=alice)
        assert_error(response, 403, "forbidden", "author_pk")
    assert Post.objects.count() == 0


def test_post_without_author_pk_is_by_the_tokens_author(api, alice):
    response = api.post("/api/posts/", {"title": "x", "slug": "x"}, as_=alice)
    assert response.status_code == 201, response.content
    assert response.json()["author"] == {"pk": alice["pk"], "username": "alice"}


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"title": None}, "title"),
        ({"title": ""}, "title"),
        ({"title": 5}, "title"),
        ({"title": "t" * 201}, "title"),
        ({"slug": "Not A Slug"}, "slug"),
        ({"slug": "s" * 201}, "slug"),
        ({"author_pk": "not-a-uuid"}, "author_pk"),
        ({"author_pk": 7}, "author_pk"),
        ({"published": "yes"}, "published"),
        ({"published": 1}, "published"),
        ({"tags": "aws"}, "tags"),
        ({"tags": [1, 2]}, "tags"),
        ({"tags": ["t" * 51]}, "tags"),
        ({"body": {"text": "x"}}, "body"),
        ({"view_count": 5}, "view_count"),
        ({"created_at": "2020-01-01T00:00:00Z"}, "created_at"),
        ({"updated_at": "2020-01-01T00:00:00Z"}, "updated_at"),
        ({"pk": str(uuid.uuid4())}, "pk"),
        ({"feed": "other"}, "feed"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_invalid_post_is_400_and_writes_nothing(api, alice, assert_error, changes, field):
    payload = {"title": "t", "slug": "s", "author_pk": alice["pk"], **changes}
    assert_error(api.post("/api/posts/", payload, as_=alice), 400, "validation_error", field)
    assert Post.objects.count() == 0


def test_missing_required_post_fields_are_named(api, alice, assert_error):
    error = assert_error(api.post("/api/posts/", {}, as_=alice), 400, "validation_error")
    assert set(error["fields"]) == {"title", "slug"}  # author_pk: the token's author


def test_put_updates_only_given_fields_and_next_get_shows_it(api, alice):
    post = api.create_post(alice["pk"], tags=["a"])
    response = api.put(f"/api/posts/{post['pk']}/", {"title": "New title", "published": True}, as_=alice)
    assert response.status_code == 200
    updated = response.json()
    assert updated["title"] == "New title" and updated["published"] is True
    assert updated["slug"] == post["slug"] and updated["tags"] == ["a"]
    assert updated["updated_at"] >= post["updated_at"]
    fetched = api.get(f"/api/posts/{post['pk']}/").json()
    assert fetched["title"] == "New title" and fetched["published"] is True


def test_patch_updates_tags(api, alice):
    post = api.create_post(alice["pk"])
    assert api.patch(f"/api/posts/{post['pk']}/", {"tags": ["x", "y"]}, as_=alice).json()["tags"] == ["x", "y"]
    assert api.get(f"/api/posts/{post['pk']}/").json()["tags"] == ["x", "y"]


def test_put_change_slug_to_taken_one_is_409(api, alice, assert_error):
    api.create_post(alice["pk"], "taken")
    post = api.create_post(alice["pk"], "mine")
    assert_error(api.put(f"/api/posts/{post['pk']}/", {"slug": "taken"}, as_=alice), 409, "conflict")
    assert api.get(f"/api/posts/{post['pk']}/").json()["slug"] == "mine"


def test_put_change_slug_frees_the_old_one(api, alice):
    post = api.create_post(alice["pk"], "old")
    assert api.put(f"/api/posts/{post['pk']}/", {"slug": "new"}, as_=alice).status_code == 200
    api.create_post(alice["pk"], "old")


def test_put_cannot_give_a_post_to_another_or_a_missing_author(api, alice, assert_error):
    bob = api.create_author("bob")
    post = api.create_post(alice["pk"])
    for other in (bob["pk"], str(uuid.uuid4())):
        response = api.put(f"/api/posts/{post['pk']}/", {"author_pk": other}, as_=alice)
        assert_error(response, 403, "forbidden", "author_pk")
    assert api.get(f"/api/posts/?author_pk={bob['pk']}").json()["results"] == []


def test_put_may_repeat_the_posts_own_author(api, alice):
    post = api.create_post(alice["pk"])
    response = api.put(f"/api/posts/{post['pk']}/", {"author_pk": alice["pk"].upper(), "title": "t2"}, as_=alice)
    assert response.status_code == 200, response.content
    assert response.json()["author"] == {"pk": alice["pk"], "username": "alice"}


@pytest.mark.parametrize("field", ["view_count", "created_at", "updated_at", "pk"])
def test_put_read_only_field_is_400_and_changes_nothing(api, alice, assert_error, field):
    post = api.create_post(alice["pk"])
    value = 99 if field == "view_count" else post[field]
    assert_error(
        api.put(f"/api/posts/{post['pk']}/", {field: value, "title": "changed"}, as_=alice),
        400,
        "validation_error",
        field,
    )
    assert Post.objects.get(pk=post["pk"]).title == post["title"]


def test_put_missing_post_is_404(api, alice, assert_error):
    assert_error(api.put(f"/api/posts/{uuid.uuid4()}/", {"title": "x"}, as_=alice), 404, "not_found")
    assert Post.objects.count() == 0


def test_delete_post_cascades_comments(api, alice, assert_error):
    post = api.create_post(alice["pk"])
    comments = [api.create_comment(post["pk"], alice["pk"], f"c{i}") for i in range(30)]
    other = api.create_post(alice["pk"], "other")
    kept = api.create_comment(other["pk"], alice["pk"])
    response = api.delete(f"/api/posts/{post['pk']}/", as_=alice)
    assert response.status_code == 204 and response.content == b""
    assert_error(api.get(f"/api/posts/{post['pk']}/"), 404, "not_found")
    assert_error(api.get(f"/api/comments/{comments[0]['pk']}/"), 404, "not_found")
    assert Comment.objects.filter(post_pk=post["pk"]).count() == 0
    assert api.get(f"/api/comments/{kept['pk']}/").status_code == 200
    assert_error(api.delete(f"/api/posts/{post['pk']}/", as_=alice), 404, "not_found")


def test_delete_post_frees_the_slug(api, alice):
    post = api.create_post(alice["pk"], "reuse")
    api.delete(f"/api/posts/{post['pk']}/", as_=alice)
    api.create_post(alice["pk"], "reuse")


def test_delete_post_interrupted_half_way_finishes_on_retry(api, alice, monkeypatch, assert_error):
    from dynamo_backend import ServiceUnavailable

    post = api.create_post(alice["pk"])
    for i in range(5):
        api.create_comment(post["pk"], alice["pk"], f"c{i}")

    def fail(self, *args, **kwargs):
        raise ServiceUnavailable("simulated outage")

    monkeypatch.setattr(Post, "delete", fail)
    response = api.delete(f"/api/posts/{post['pk']}/", as_=alice)
    assert_error(response, 503, "service_unavailable")
    monkeypatch.undo()
    assert Post.objects.filter(pk=post["pk"]).first() is not None  # post still there

    assert api.delete(f"/api/posts/{post['pk']}/", as_=alice).status_code == 204
    assert Post.objects.filter(pk=post["pk"]).first() is None
    assert Comment.objects.filter(post_pk=post["pk"]).count() == 0


def test_deleting_a_post_through_the_library_takes_its_comments_too(api, alice, assert_error):
    post = api.create_post(alice["pk"])
    for i in range(3):
        api.create_comment(post["pk"], alice["pk"], f"c{i}")
    Post.objects.get(pk=post["pk"]).delete()  # on_delete=CASCADE, whoever deletes it
    assert Comment.objects.uncached().filter(post_pk=post["pk"]).count() == 0
    assert_error(api.delete(f"/api/posts/{post['pk']}/", as_=alice), 404, "not_found")


def test_delete_then_get_is_404_at_once(api, alice, assert_error):
    post = api.create_post(alice["pk"])
    api.get(f"/api/posts/{post['pk']}/")  # warm the caches
    api.delete(f"/api/posts/{post['pk']}/", as_=alice)
    assert_error(api.get(f"/api/posts/{post['pk']}/"), 404, "not_found")
    assert api.get("/api/posts/").json()["results"] == []


def test_post_detail_wrong_method_is_405_with_allow(api, alice, assert_error):
    post = api.create_post(alice["pk"])
    response = api.post(f"/api/posts/{post['pk']}/", {"title": "x"})
    assert_error(response, 405, "method_not_allowed")
    allowed = {m.strip() for m in response["Allow"].split(",")}
    assert {"GET", "PUT", "PATCH", "DELETE"} <= allowed and "POST" not in allowed


def _put_behind_the_caches(obj) -> None:
    """Write an item the way another gunicorn worker would (claims, parent counts), but no cache here hears of it."""
    from dynamo_backend import integrity, unique, writes

    model = type(obj)
    item = writes.prepare_insert(obj)
    unique.claim_new_values(model, obj.pk, item, previous={})
    put = {
        "TableName": model._meta.table_name,
        "Item": item,
        "ConditionExpression": "attribute_not_exists(#pk)",
        "ExpressionAttributeNames": {"#pk": "pk"},
    }
    integrity.put_child(model, item, put)


def test_delete_post_removes_comments_another_worker_just_wrote(api, alice):
    post = api.create_post(alice["pk"])
    api.create_comment(post["pk"], alice["pk"], "mine")
    assert len(list(Comment.objects.filter(post_pk=post["pk"]))) == 1  # query now cached here
    _put_behind_the_caches(Comment(post_pk=post["pk"], author_pk=alice["pk"], body="from elsewhere"))
    assert api.delete(f"/api/posts/{post['pk']}/", as_=alice).status_code == 204
    assert Comment.objects.uncached().filter(post_pk=post["pk"]).count() == 0


def test_author_delete_sees_a_post_another_worker_just_wrote(api, alice, assert_error):
    assert not Post.objects.filter(author_pk=alice["pk"]).exists()  # cached "no posts"
    _put_behind_the_caches(Post(title="t", slug="elsewhere", author_pk=alice["pk"]))
    assert_error(api.delete(f"/api/authors/{alice['pk']}/", as_=alice), 409, "conflict")
