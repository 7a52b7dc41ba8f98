"""Conditional GET: ETags on the cached read endpoints, 304 for If-None-Match, a new tag after a change."""

from __future__ import annotations

import pytest

from dynamo_backend.stats import count_calls

pytestmark = pytest.mark.usefixtures("blog_tables")


def test_a_revalidated_author_is_a_304_without_a_body(api):
    author = api.create_author()
    first = api.get(f"/api/authors/{author['pk']}/")
    tag = first["ETag"]
    assert tag.startswith('W/"')
    with count_calls() as calls:
        again = api.get(f"/api/authors/{author['pk']}/", HTTP_IF_NONE_MATCH=tag)
    assert again.status_code == 304 and again.content == b"" and again["ETag"] == tag
    assert calls.total == 0  # answered from the cache, nothing serialised


def test_a_change_gives_a_new_tag_and_a_full_answer(api):
    author = api.create_author()
    tag = api.get(f"/api/authors/{author['pk']}/")["ETag"]
    assert api.patch(f"/api/authors/{author['pk']}/", {"bio": "new"}, as_=author).status_code == 200
    response = api.get(f"/api/authors/{author['pk']}/", HTTP_IF_NONE_MATCH=tag)
    assert response.status_code == 200 and response.json()["bio"] == "new"
    assert response["ETag"] != tag


@pytest.mark.parametrize("header", ["*", 'W/"other", {tag}', "{bare}"])
def test_if_none_match_compares_weakly_and_takes_lists_and_star(api, header):
    author = api.create_author()
    tag = api.get(f"/api/authors/{author['pk']}/")["ETag"]
    sent = header.format(tag=tag, bare=tag.removeprefix("W/"))
    assert api.get(f"/api/authors/{author['pk']}/", HTTP_IF_NONE_MATCH=sent).status_code == 304


def test_lists_are_tagged_and_revalidated(api):
    author = api.create_author()
    post = api.create_post(author["pk"])
    api.create_comment(post["pk"], author["pk"])
    urls = [
        "/api/authors/",
        "/api/posts/",
        f"/api/posts/?author_pk={author['pk']}",
        f"/api/posts/{post['pk']}/comments/",
    ]
    tags = {url: api.get(url)["ETag"] for url in urls}
    for url, tag in tags.items():
        assert api.get(url, HTTP_IF_NONE_MATCH=tag).status_code == 304, url
    renamed = api.patch(f"/api/authors/{author['pk']}/", {"username": "renamed"}, as_=author)
    assert renamed.status_code == 200  # the name is shown in every list above
    for url, tag in tags.items():
        assert api.get(url, HTTP_IF_NONE_MATCH=tag).status_code == 200, url


def test_the_post_page_is_never_a_304_since_each_view_counts(api):
    post = api.create_post(api.create_author()["pk"])
    response = api.get(f"/api/posts/{post['pk']}/")
    assert "ETag" not in response
