"""Writes and lost answers: creates are exactly-once, counters at-most-once, saves never trust a cached copy."""

from __future__ import annotations

import botocore.exceptions
import pytest

from dynamo_backend import (
    Coalesce,
    F,
    ItemAlreadyExists,
    ServiceUnavailable,
    UniqueConstraintError,
    connection,
    integrity,
)

from .models import INTEGRITY_MODELS, Blob, Book, Post, Shelf


class LoseAnswers:
    """Wrap the library's client: the named operations are applied, then their answer is lost (a read timeout)."""

    def __init__(self, client, *methods, times=1):
        self._client = client
        self.methods = set(methods)
        self.left = times
        self.calls: list[str] = []

    def __getattr__(self, name):
        attr = getattr(self._client, name)
        if name.startswith("_") or not callable(attr):
            return attr

        def call(*args, **params):
            self.calls.append(name)
            response = attr(*args, **params)
            if name in self.methods and self.left > 0:
                self.left -= 1
                raise botocore.exceptions.ReadTimeoutError(endpoint_url="http://lost")
            return response

        return call


@pytest.fixture
def lossy(engine):
    def wrap(*methods, times=1):
        return connection.use_client(LoseAnswers(connection.get_client(), *methods, times=times))

    return wrap


@pytest.mark.models("Post")
def test_a_create_whose_answer_was_lost_succeeds_once(tables, lossy, engine):
    with lossy("put_item") as client:
        post = Post.objects.create(title="t", slug="once")
    assert client.calls.count("put_item") >= 3  # the claim, the item, the retry of the item
    assert [p["pk"]["S"] for p in engine.raw_scan(Post)] == [post.pk]
    with pytest.raises(UniqueConstraintError):
        Post.objects.create(title="t", slug="once")  # the claim is still held by the stored post


@pytest.mark.models("Post")
def test_a_real_collision_is_item_already_exists_and_frees_the_new_claims(tables):
    first = Post.objects.create(title="t", slug="first")
    second = Post(pk=first.pk, title="other", slug="second")
    with pytest.raises(ItemAlreadyExists):
        second.save()
    Post.objects.create(title="t", slug="second")  # "second" was released


@pytest.mark.models("Blob")
def test_a_second_create_of_an_equal_item_is_item_already_exists(tables):
    """Two creators of equal items (same pk, same values) race: only one may win, even though the items match."""
    first = Blob.objects.create(group="g", payload="same")
    with pytest.raises(ItemAlreadyExists):
        Blob.objects.create(pk=first.pk, group="g", payload="same")


def test_a_second_guarded_create_of_an_equal_item_is_item_already_exists_and_counts_once(engine):
    engine.create_tables(*INTEGRITY_MODELS)
    shelf = Shelf.objects.create(name="s")
    book = Book.objects.create(shelf_pk=shelf.pk, title="b")
    with pytest.raises(ItemAlreadyExists):
        Book.objects.create(pk=book.pk, shelf_pk=shelf.pk, title="b")
    (relation,) = integrity.incoming(Shelf)
    assert engine.raw_get(Shelf, shelf.pk)[relation.counter] == {"N": "1"}


@pytest.mark.models("Blob")
def test_a_delete_whose_answer_was_lost_reports_the_item_deleted(tables, lossy, engine):
    blob = Blob.objects.create(group="g", payload="p")
    with lossy("delete_item") as client:
        assert blob.delete()[0] == 1  # the retry finds nothing because the first attempt deleted it
    assert client.calls.count("delete_item") == 2
    assert engine.raw_get(Blob, blob.pk) is None
    assert Blob.objects.filter(pk=blob.pk).first() is None


def test_a_guarded_delete_whose_answer_was_lost_reports_the_item_deleted(engine, lossy):
    engine.create_tables(*INTEGRITY_MODELS)
    shelf = Shelf.objects.create(name="s")
    book = Book.objects.create(shelf_pk=shelf.pk, title="b")
    child_write = "transact_write_items" if engine.supports_transactions else "delete_item"
    with lossy(child_write):
        assert book.delete()[0] == 1
    assert engine.raw_get(Book, book.pk) is None
    (relation,) = integrity.incoming(Shelf)
    assert engine.raw_get(Shelf, shelf.pk)[relation.counter] == {"N": "0"}


def test_a_guarded_create_whose_answer_was_lost_succeeds_once(engine, lossy):
    engine.create_tables(*INTEGRITY_MODELS)
    shelf = Shelf.objects.create(name="s")
    # The child and its count move in one transaction; without transactions (dynalite) the child's own put.
    child_write = "transact_write_items" if engine.supports_transactions else "put_item"
    with lossy(child_write):
        book = Book.objects.create(shelf_pk=shelf.pk, title="b")
    assert [b["pk"]["S"] for b in engine.raw_scan(Book)] == [book.pk]
    (relation,) = integrity.incoming(Shelf)
    assert engine.raw_get(Shelf, shelf.pk)[relation.counter] == {"N": "1"}


@pytest.mark.models("Post")
def test_a_counter_increment_whose_answer_was_lost_is_not_applied_twice(tables, lossy, engine):
    post = Post.objects.create(title="t", slug="c", view_count=0)
    with lossy("update_item"), pytest.raises(ServiceUnavailable) as info:
        Post.objects.filter(pk=post.pk).update(view_count=Coalesce(F("view_count"), 0) + 1)
    assert info.value.maybe_applied
    assert engine.raw_get(Post, post.pk)["view_count"] == {"N": "1"}  # at most once: applied, not repeated


@pytest.mark.models("Post")
def test_save_with_update_fields_writes_a_value_equal_to_a_stale_cached_copy(tables, engine):
    post = Post.objects.create(title="t", slug="toggle", published=False)
    stale = Post.objects.get(pk=post.pk)  # a cached copy: published=False
    Post.objects.filter(pk=post.pk).update(published=True)  # another worker publishes
    stale.published = False
    stale.save(update_fields=["published"])
    assert engine.raw_get(Post, post.pk)["published"] == {"BOOL": False}


@pytest.mark.models("Post")
def test_save_writes_every_assigned_field_even_when_unchanged(tables, engine):
    post = Post.objects.create(title="t", slug="assign", published=False)
    stale = Post.objects.get(pk=post.pk)
    engine.client.update_item(
        TableName=Post._meta.table_name,
        Key={"pk": {"S": post.pk}},
        UpdateExpression="SET published = :t",
        ExpressionAttributeValues={":t": {"BOOL": True}},
    )
    stale.published = False  # equal to the stale copy, but assigned
    stale.save()
    assert engine.raw_get(Post, post.pk)["published"] == {"BOOL": False}


@pytest.mark.models("Post")
def test_save_leaves_unassigned_fields_alone(tables, engine):
    post = Post.objects.create(title="t", slug="alone", view_count=0)
    loaded = Post.objects.get(pk=post.pk)
    Post.objects.filter(pk=post.pk).update(view_count=F("view_count") + 5)  # a concurrent counter
    loaded.title = "new title"
    loaded.save()
    stored = engine.raw_get(Post, post.pk)
    assert (stored["title"], stored["view_count"]) == ({"S": "new title"}, {"N": "5"})


def test_without_transactions_a_lost_count_answer_fails_the_create_and_leaves_no_orphan(engine, lossy):
    engine.create_tables(*INTEGRITY_MODELS)
    shelf = Shelf.objects.create(name="s")
    if engine.supports_transactions:
        return  # the transaction path has no separate count write (covered above)
    with lossy("update_item"), pytest.raises(ServiceUnavailable):
        Book.objects.create(shelf_pk=shelf.pk, title="b")
    assert engine.raw_scan(Book) == []  # no child: the weaker fallback guarantee errs on the safe side


class LoseTheItemsPutThenReads:
    """Lose the answer of the first PutItem of an item (not a claim), then fail every GetItem (unreachable)."""

    def __init__(self, client):
        self._client = client
        self.lost = False
        self.calls: list[str] = []

    def put_item(self, **params):
        self.calls.append("put_item")
        response = self._client.put_item(**params)
        if not self.lost and not params["TableName"].endswith("__unique"):
            self.lost = True
            raise botocore.exceptions.ReadTimeoutError(endpoint_url="http://lost")
        return response

    def get_item(self, **params):
        self.calls.append("get_item")
        if self.lost:
            raise botocore.exceptions.EndpointConnectionError(endpoint_url="http://unreachable")
        return self._client.get_item(**params)

    def __getattr__(self, name):
        return getattr(self._client, name)


@pytest.mark.models("Post")
def test_a_create_that_cannot_tell_whether_its_write_landed_is_unknown_not_a_conflict(tables, engine):
    # The put landed, its answer was lost, the retry was refused (the item exists), and the read that would
    # say whose item it is failed: the outcome is unknown (503 in the API), never "already exists" (409).
    client = LoseTheItemsPutThenReads(connection.get_client())
    with connection.use_client(client), pytest.raises(ServiceUnavailable):
        Post.objects.create(title="t", slug="unknown")
    assert client.calls.count("put_item") >= 3 and "get_item" in client.calls  # claim, item, its retry; the check
    assert [p["slug"]["S"] for p in engine.raw_scan(Post)] == ["unknown"]
    with pytest.raises(UniqueConstraintError):  # its claim was kept: the slug stays taken by the stored post
        Post.objects.create(title="other", slug="unknown")
