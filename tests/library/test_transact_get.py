"""transact_get(): up to 100 items of several models in one TransactGetItems (not on dynalite: no transactions)."""

from __future__ import annotations

import datetime as dt

import botocore.exceptions
import pytest
from django.test import override_settings

from dynamo_backend import TransactionCanceled, cache, connection
from dynamo_backend.stats import count_calls
from dynamo_backend.transactions import MAX_GET_ITEMS, transact_get
from tests.fixtures import backend_settings, reset_library

from .conftest import ClientSpy
from .models import Article, Message, Post, Thread


@pytest.fixture
def stored(engine):
    engine.create_tables(Article, Post, Thread, Message)
    article = Article.objects.create(title="a")
    post = Post.objects.create(title="p", slug="p")
    thread = Thread.objects.create(title="t")
    message = Message.objects.create(thread_pk=thread.pk, sent=dt.datetime(2025, 1, 1, tzinfo=dt.UTC), body="m")
    cache.reset()
    return article, post, message


@pytest.mark.transactions
def test_items_of_several_models_come_back_in_order_with_none_for_missing(stored):
    article, post, message = stored

    got = transact_get([post, (Article, article.pk), (Article, "no-such-pk"), (Message, message.pk)])

    assert [type(o).__name__ if o else None for o in got] == ["Post", "Article", None, "Message"]
    assert got[0].slug == "p" and got[1].title == "a" and got[3].body == "m"
    assert got[0] is not post  # fresh instances


@pytest.mark.transactions
def test_it_is_one_consistent_call_and_fills_the_caches(stored):
    article, post, _ = stored
    spy = ClientSpy(connection.get_client())

    with connection.use_client(spy), count_calls() as calls:
        transact_get([article, post, article])
        Article.objects.get(pk=article.pk)

    (request,) = spy.of("transact_get_items")
    assert len(request["TransactItems"]) == 2  # the same item asked twice is read once
    assert calls.by_operation() == {"TransactGetItems": 1}


@pytest.mark.transactions
def test_it_sees_the_latest_write(stored):
    article, _, _ = stored
    Article.objects.filter(pk=article.pk).update(title="new")

    (got,) = transact_get([(Article, article.pk)])

    assert got.title == "new"


def test_more_than_100_items_are_refused_before_anything_is_sent(no_dynamodb):
    with pytest.raises(ValueError, match=f"at most {MAX_GET_ITEMS}"):
        transact_get([(Article, f"pk{i}") for i in range(MAX_GET_ITEMS + 1)])


def test_nothing_to_read_is_no_call(no_dynamodb):
    assert transact_get([]) == []


def test_anything_but_instances_and_pairs_is_refused(no_dynamodb):
    with pytest.raises(TypeError, match="instances and"):
        transact_get(["just-a-pk"])


class Conflicted:
    """A client whose first TransactGetItems is cancelled by a conflicting transaction."""

    def __init__(self, reasons: list[dict]):
        self.reasons = reasons
        self.calls = 0

    def transact_get_items(self, **params):
        self.calls += 1
        if self.calls == 1:
            error = {"Code": "TransactionCanceledException", "Message": "cancelled"}
            raise botocore.exceptions.ClientError(
                {"Error": error, "CancellationReasons": self.reasons}, "TransactGetItems"
            )
        return {"Responses": [{"Item": {"pk": {"S": "p1"}, "title": {"S": "t"}}}]}


@pytest.fixture
def quick_retries():
    with override_settings(DYNAMO_BACKEND=backend_settings("http://ddb", "q_", BATCH_BASE_DELAY=0)):
        reset_library()
        yield
    reset_library()


def test_a_read_cancelled_by_a_conflicting_transaction_is_retried(quick_retries):
    client = Conflicted([{"Code": "TransactionConflict"}])

    with connection.use_client(client):
        (got,) = transact_get([(Article, "p1")])

    assert client.calls == 2 and got.title == "t"


def test_a_read_cancelled_for_another_reason_is_not_retried(quick_retries):
    client = Conflicted([{"Code": "ValidationError"}])

    with connection.use_client(client), pytest.raises(TransactionCanceled):
        transact_get([(Article, "p1")])

    assert client.calls == 1
