"""Past DynamoDB's limits: 1 MB pages for Query/Scan, 100 keys per BatchGetItem."""

from __future__ import annotations

import random

import pytest

from dynamo_backend import cache
from dynamo_backend.stats import count_calls

from .models import Article, Blob

pytestmark = [pytest.mark.usefixtures("tables"), pytest.mark.models("Blob")]

ITEMS = 150
PAYLOAD = 10_000  # 150 x ~10 KB = ~1.5 MB: more than one 1 MB page


@pytest.fixture
def blobs(engine):
    """150 items of ~10 KB in group "g"; three of them have a payload starting with "y"."""
    rare = {17, 88, 149}
    objs = Blob.objects.bulk_create(
        [Blob(group="g", payload=("y" if n in rare else "x") * PAYLOAD) for n in range(ITEMS)]
    )
    cache.reset()
    return {"pks": {obj.pk for obj in objs}, "rare": {objs[n].pk for n in rare}}


def test_scan_over_one_megabyte_returns_every_item(blobs):
    with count_calls() as log:
        items = list(Blob.objects.all())

    assert {b.pk for b in items} == blobs["pks"] and len(items) == ITEMS
    assert log.count("Scan") >= 2  # proves the result really spanned pages


def test_query_over_one_megabyte_returns_every_item(blobs):
    with count_calls() as log:
        items = list(Blob.objects.filter(group="g"))

    assert {b.pk for b in items} == blobs["pks"] and len(items) == ITEMS
    assert log.count("Query") >= 2 and log.count("Scan") == 0


def test_count_over_one_megabyte_counts_every_item(blobs):
    assert Blob.objects.count() == ITEMS


def test_count_of_a_query_over_one_megabyte_counts_every_item(blobs):
    assert Blob.objects.filter(group="g").count() == ITEMS


def test_scan_filter_finds_matches_on_every_page(blobs):
    found = list(Blob.objects.filter(payload__startswith="y"))

    assert {b.pk for b in found} == blobs["rare"]


def test_sliced_scan_keeps_reading_past_pages_without_matches(blobs):
    found = list(Blob.objects.filter(payload__startswith="y")[:3])

    assert {b.pk for b in found} == blobs["rare"]


def test_iterator_over_one_megabyte_yields_every_item(blobs):
    assert sum(1 for _ in Blob.objects.iterator()) == ITEMS


# -- BatchGetItem: 100 keys a call, no duplicates, order kept ----------------------------


@pytest.fixture
def requested(engine):
    """250 keys: 125 distinct articles, each asked twice, shuffled, plus the first-seen order."""
    objs = Article.objects.bulk_create([Article(title=f"a{n}") for n in range(125)])
    keys = [obj.pk for obj in objs] * 2
    random.Random(7).shuffle(keys)
    first_seen = list(dict.fromkeys(keys))
    cache.reset()
    return keys, first_seen, {obj.pk: obj.title for obj in objs}


@pytest.mark.models("Article")
def test_filter_pk_in_250_keys_with_duplicates_returns_each_once_in_request_order(requested):
    keys, first_seen, _ = requested

    found = list(Article.objects.filter(pk__in=keys))

    assert [a.pk for a in found] == first_seen


@pytest.mark.models("Article")
def test_in_bulk_250_keys_with_duplicates_returns_each_once_in_request_order(requested):
    keys, first_seen, titles = requested

    found = Article.objects.in_bulk(keys)

    assert list(found) == first_seen
    assert all(found[pk].title == titles[pk] for pk in first_seen)


@pytest.mark.models("Article")
def test_batch_get_sends_at_most_100_distinct_keys_a_call(requested, spy):
    keys, first_seen, _ = requested

    list(Article.objects.filter(pk__in=keys))

    asked = []
    for params in spy.of("batch_get_item"):
        for table_request in params["RequestItems"].values():
            batch = [key["pk"]["S"] for key in table_request["Keys"]]
            assert len(batch) <= 100
            assert len(batch) == len(set(batch))
            asked += batch
    assert sorted(asked) == sorted(first_seen)


@pytest.mark.models("Article")
def test_pk_in_skips_missing_keys(requested):
    keys, first_seen, _ = requested
    missing = "00000000-0000-4000-8000-000000000000"

    found = list(Article.objects.filter(pk__in=[missing, *keys[:3], missing]))

    assert [a.pk for a in found] == list(dict.fromkeys(keys[:3]))


# -- a match only the last page holds: nothing may stop at an empty page ----------------


def mark_last(engine, pages):
    """Give the last plain ("x") item of the last page a payload starting with "z"; return its pk."""
    last = None
    for page in pages:
        plain = [item["pk"]["S"] for item in page["Items"] if item["payload"]["S"].startswith("x")]
        if page["Items"]:
            last = plain[-1] if plain else None
    assert last is not None, "the last page holds no plain item to mark"
    engine.client.update_item(
        TableName=Blob._meta.table_name,
        Key={"pk": {"S": last}},
        UpdateExpression="SET #p = :p",
        ExpressionAttributeNames={"#p": "payload"},
        ExpressionAttributeValues={":p": {"S": "z" * PAYLOAD}},
    )
    cache.reset()
    return last


def raw_pages(engine, operation, **params):
    call = getattr(engine.client, operation)
    while True:
        page = call(TableName=Blob._meta.table_name, **params)
        yield page
        if "LastEvaluatedKey" not in page:
            return
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]


@pytest.fixture
def last_scanned(engine, blobs):
    return mark_last(engine, raw_pages(engine, "scan"))


@pytest.fixture
def last_queried(engine, blobs):
    pages = raw_pages(
        engine,
        "query",
        IndexName="group-index",
        KeyConditionExpression="#g = :g",
        ExpressionAttributeNames={"#g": "group"},
        ExpressionAttributeValues={":g": {"S": "g"}},
    )
    return mark_last(engine, pages)


def test_exists_finds_a_match_only_the_last_scan_page_holds(last_scanned):
    assert Blob.objects.filter(payload__startswith="z").exists() is True


def test_first_finds_a_match_only_the_last_scan_page_holds(last_scanned):
    assert Blob.objects.filter(payload__startswith="z").first().pk == last_scanned


def test_get_finds_a_match_only_the_last_scan_page_holds(last_scanned):
    assert Blob.objects.get(payload__startswith="z").pk == last_scanned


def test_count_of_a_filter_counts_matches_on_every_page(last_scanned):
    assert Blob.objects.filter(payload__startswith="y").count() == 3
    assert Blob.objects.filter(payload__startswith="z").count() == 1


def test_query_with_filter_finds_a_match_only_the_last_page_holds(last_queried):
    qs = Blob.objects.filter(group="g", payload__startswith="z")

    assert qs.exists() is True
    assert [b.pk for b in qs[:1]] == [last_queried]
