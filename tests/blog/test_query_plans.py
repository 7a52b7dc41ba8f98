"""Every list the API serves is a Query on a GSI, never a Scan (pure: explain() makes no call)."""

from __future__ import annotations

import uuid

from services.blog.models import Comment, Post


def test_posts_of_an_author_is_a_query():
    plan = Post.objects.filter(author_pk=str(uuid.uuid4())).order_by("-created_at").explain()
    assert plan["operation"] == "Query"
    assert plan["index"] and "author_pk" in plan["index"]
    assert plan["scan_index_forward"] is False


def test_post_feed_is_a_query_newest_first():
    plan = Post.objects.filter(feed="post").order_by("-created_at").explain()
    assert plan["operation"] == "Query"
    assert plan["index"] and "feed" in plan["index"]
    assert plan["scan_index_forward"] is False


def test_comments_of_a_post_are_one_base_table_query_oldest_first():
    plan = Comment.objects.consistent().filter(post_pk=str(uuid.uuid4())).order_by("sk").explain()
    assert (plan["operation"], plan["index"], plan["consistent"]) == ("Query", None, True)
    assert plan["scan_index_forward"] is True


def test_comments_of_an_author_is_a_query():
    plan = Comment.objects.filter(author_pk=str(uuid.uuid4())).explain()
    assert plan["operation"] == "Query"
