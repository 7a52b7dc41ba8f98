"""Field lookups and Q objects select exactly the matching items; mistakes fail at filter()."""

from __future__ import annotations

import pytest
from django.core import exceptions as django_exceptions

from dynamo_backend import FieldError, Q

from .models import Post

pytestmark = pytest.mark.models("Post")

AUTHOR = "author-1"

# slug -> fields; view counts, titles, tags and ratings chosen so every lookup
# below selects a different subset.
ROWS = {
    "a": dict(title="Intro to DynamoDB", view_count=0, tags=["aws", "db"], rating=1.5, author_pk=AUTHOR),
    "b": dict(title="Django tips", view_count=5, tags=["python"], rating=None, author_pk=AUTHOR),
    "c": dict(title="Intro to Django", view_count=10, tags=[], rating=4.0, author_pk="author-2"),
    "d": dict(title="Scaling reads", view_count=100, tags=["aws"], rating=None, author_pk=None),
    "e": dict(title="Batch writes", view_count=150, tags=None, rating=2.5, author_pk=AUTHOR),
}


@pytest.fixture
def rows(engine, tables):
    Post.objects.bulk_create([Post(slug=slug, **fields) for slug, fields in ROWS.items()])


def slugs(qs) -> list[str]:
    return sorted(post.slug for post in qs)


@pytest.mark.parametrize(
    ("lookups", "expected"),
    [
        pytest.param({"view_count": 10}, ["c"], id="implicit-exact"),
        pytest.param({"view_count__exact": 10}, ["c"], id="exact"),
        pytest.param({"view_count__gt": 10}, ["d", "e"], id="gt"),
        pytest.param({"view_count__gte": 10}, ["c", "d", "e"], id="gte"),
        pytest.param({"view_count__lt": 10}, ["a", "b"], id="lt"),
        pytest.param({"view_count__lte": 10}, ["a", "b", "c"], id="lte"),
        pytest.param({"view_count__in": [0, 100, 7]}, ["a", "d"], id="in"),
        pytest.param({"title__contains": "Django"}, ["b", "c"], id="contains-string"),
        pytest.param({"tags__contains": "aws"}, ["a", "d"], id="contains-list-element"),
        pytest.param({"title__startswith": "Intro"}, ["a", "c"], id="startswith"),
        pytest.param({"view_count__range": (5, 100)}, ["b", "c", "d"], id="range-inclusive"),
        pytest.param({"rating__isnull": True}, ["b", "d"], id="isnull-true"),
        pytest.param({"rating__isnull": False}, ["a", "c", "e"], id="isnull-false"),
        pytest.param({"rating__gt": 2.0}, ["c", "e"], id="float-gt"),
        pytest.param({"title__startswith": "Intro", "view_count__gt": 0}, ["c"], id="two-lookups-and"),
    ],
)
def test_lookup_selects_matching_items(rows, lookups, expected):
    assert slugs(Post.objects.filter(**lookups)) == expected


@pytest.mark.parametrize(
    ("lookups", "expected"),
    [
        pytest.param({"author_pk": AUTHOR}, ["a", "b", "e"], id="index-equality"),
        pytest.param({"author_pk": AUTHOR, "view_count__gte": 5}, ["b", "e"], id="index-plus-filter"),
        pytest.param({"author_pk__startswith": "author-"}, ["a", "b", "c", "e"], id="index-field-startswith"),
        pytest.param({"author_pk__isnull": True}, ["d"], id="index-field-isnull"),
    ],
)
def test_lookup_on_an_indexed_field(rows, lookups, expected):
    assert slugs(Post.objects.filter(**lookups)) == expected


def test_in_with_more_than_100_values(rows):
    assert slugs(Post.objects.filter(view_count__in=list(range(1000, 1150)) + [5, 150])) == ["b", "e"]


def test_pk_equality_with_a_failing_extra_condition_finds_nothing(rows):
    pk = Post.objects.get(slug="a").pk

    assert list(Post.objects.filter(pk=pk, view_count__gt=0)) == []
    assert slugs(Post.objects.filter(pk=pk, view_count=0)) == ["a"]


def test_pk_in_with_an_extra_condition(rows):
    pks = [p.pk for p in Post.objects.all()]

    assert slugs(Post.objects.filter(pk__in=pks, view_count__gte=100)) == ["d", "e"]


def test_exclude_keeps_items_where_the_field_is_absent(rows):
    assert slugs(Post.objects.exclude(rating__gt=2.0)) == ["a", "b", "d"]


def test_exclude_drops_matching_items(rows):
    assert slugs(Post.objects.exclude(view_count__gte=100)) == ["a", "b", "c"]


def test_q_or_selects_either_side(rows):
    assert slugs(Post.objects.filter(Q(view_count=0) | Q(view_count=150))) == ["a", "e"]


def test_q_and_selects_both_sides(rows):
    assert slugs(Post.objects.filter(Q(view_count__gte=5) & Q(view_count__lte=10))) == ["b", "c"]


def test_q_invert_negates(rows):
    assert slugs(Post.objects.filter(~Q(view_count__gte=10))) == ["a", "b"]


def test_q_nested_and_or_not_with_keyword_filters(rows):
    condition = (Q(title__startswith="Intro") | Q(tags__contains="aws")) & ~Q(view_count=100)
    assert slugs(Post.objects.filter(condition, view_count__lt=150)) == ["a", "c"]


def test_q_or_on_an_indexed_field(rows):
    assert slugs(Post.objects.filter(Q(author_pk="author-2") | Q(view_count=100))) == ["c", "d"]


def test_chained_filters_and(rows):
    assert slugs(Post.objects.filter(view_count__gte=5).filter(view_count__lte=100).exclude(slug="c")) == ["b", "d"]


def test_filter_by_pk_in(rows):
    pks = {p.slug: p.pk for p in Post.objects.all()}
    assert slugs(Post.objects.filter(pk__in=[pks["a"], pks["e"]])) == ["a", "e"]


# -- mistakes are reported when the call is made, before any evaluation --------


def test_unknown_field_raises_field_error_at_filter():
    with pytest.raises(FieldError, match="nope"):
        Post.objects.filter(nope=1)


def test_unknown_lookup_raises_field_error_at_filter():
    with pytest.raises(FieldError, match="bogus"):
        Post.objects.filter(view_count__bogus=1)


def test_unknown_field_in_exclude_raises_field_error():
    with pytest.raises(FieldError):
        Post.objects.exclude(nope__gt=1)


def test_unknown_field_inside_q_raises_field_error():
    with pytest.raises(FieldError):
        Post.objects.filter(Q(title="x") | Q(nope=1))


def test_field_error_is_djangos_field_error():
    with pytest.raises(django_exceptions.FieldError):
        Post.objects.filter(nope=1)
