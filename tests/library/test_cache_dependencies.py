"""Which writes drop which cached queries: the dependency rules, pure (planned queries, no engine)."""

from __future__ import annotations

import pytest

from dynamo_backend.cache import Change, Dependency, affects
from dynamo_backend.execution import dependency_of

from .models import Comment, Post


def depends(queryset) -> Dependency:
    return dependency_of(queryset.model._meta, queryset._plan())


def post(pk: str = "p1", author: str = "a1", **attributes: dict) -> dict:
    return {"pk": {"S": pk}, "author_pk": {"S": author}, "title": {"S": "t"}, **attributes}


def comment(pk: str = "c1", post_pk: str = "p1") -> dict:
    return {"pk": {"S": pk}, "post_pk": {"S": post_pk}, "created_at": {"S": "2024-05-01T12:00:00+00:00"}}


AUTHORS_POSTS = Post.objects.filter(author_pk="a1")
PUBLISHED_BY_AUTHOR = Post.objects.filter(author_pk="a1", published=True)
ALL_POSTS_SCAN = Post.objects.all()
PUBLISHED_SCAN = Post.objects.filter(published=True)
COMMENTS_OF_P1 = Comment.objects.filter(post_pk="p1").order_by("created_at")


def test_a_query_depends_on_its_key_condition_filter_and_index_keys():
    assert depends(PUBLISHED_BY_AUTHOR) == Dependency(frozenset({"author_pk", "published"}), ("author_pk", {"S": "a1"}))
    assert depends(COMMENTS_OF_P1).attributes == {"post_pk", "created_at"}


def test_a_scan_depends_on_its_filter_and_no_partition():
    assert depends(PUBLISHED_SCAN) == Dependency(frozenset({"published"}))
    assert depends(ALL_POSTS_SCAN) == Dependency(frozenset())


def test_a_projection_depends_on_the_attributes_it_reads():
    assert depends(Post.objects.filter(author_pk="a1").values_list("title", flat=True)).attributes >= {"title"}


def test_conditions_checked_in_python_count_as_read():
    # A second condition on the index's own key is a residual: DynamoDB forbids it in the filter.
    residual = Comment.objects.filter(post_pk="p1", created_at__isnull=False, body__startswith="x")
    assert {"created_at", "body"} <= depends(residual).attributes


@pytest.mark.parametrize(
    ("queryset", "change", "dropped"),
    [
        # A view-count increment reads nothing a post list reads: every list stays.
        (AUTHORS_POSTS, Change.modified(post(), ["view_count"]), False),
        (PUBLISHED_SCAN, Change.modified(post(), ["view_count"]), False),
        (ALL_POSTS_SCAN, Change.modified(post(), ["view_count", "title"]), False),
        # Changing what the filter reads drops the query, in the item's partition only.
        (PUBLISHED_BY_AUTHOR, Change.modified(post(), ["published"]), True),
        (PUBLISHED_BY_AUTHOR, Change.modified(post(author="a2"), ["published"]), False),
        (PUBLISHED_SCAN, Change.modified(post(author="a2"), ["published"]), True),
        # Moving an item to another partition drops the lists of every partition (the old one is unknown).
        (AUTHORS_POSTS, Change.modified(post(author="a2"), ["author_pk"]), True),
        # The sort key orders and (sparse index) admits: changing it drops the list.
        (COMMENTS_OF_P1, Change.modified(comment(), ["created_at"]), True),
        (COMMENTS_OF_P1, Change.modified(comment(), ["body"]), False),
        # Membership: a create or delete drops the queries whose partition holds the item.
        (COMMENTS_OF_P1, Change.created(comment()), True),
        (COMMENTS_OF_P1, Change.created(comment(post_pk="p2")), False),
        (COMMENTS_OF_P1, Change.deleted(comment()), True),
        (COMMENTS_OF_P1, Change.deleted(comment(post_pk="p2")), False),
        (ALL_POSTS_SCAN, Change.created(post()), True),
        (ALL_POSTS_SCAN, Change.deleted(post()), True),
        # A write whose effect is unknown drops everything.
        (AUTHORS_POSTS, Change.modified(None, ["view_count"]), True),
        (AUTHORS_POSTS, Change.deleted(None), True),
    ],
)
def test_which_writes_drop_which_queries(queryset, change, dropped):
    assert affects(depends(queryset), change) is dropped


def test_a_stream_record_counts_the_attributes_whose_values_differ():
    old, new = post(view_count={"N": "1"}), post(view_count={"N": "2"})
    assert Change.from_images(old, new) == Change.modified(new, ["view_count"])
    assert Change.from_images(post(), post(published={"BOOL": True})).changed == {"published"}
    assert Change.from_images(None, new) == Change.created(new)
    assert Change.from_images(old, None) == Change.deleted(old)


def test_numeric_partition_keys_compare_by_value():
    dependency = Dependency(frozenset({"n"}), ("n", {"N": "1.5"}))
    assert affects(dependency, Change.created({"pk": {"S": "x"}, "n": {"N": "1.50"}}))
    assert not affects(dependency, Change.created({"pk": {"S": "x"}, "n": {"N": "2"}}))
