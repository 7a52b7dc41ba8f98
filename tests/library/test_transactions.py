"""transact_write: all-or-nothing writes with TransactWriteItems (not on dynalite)."""

from __future__ import annotations

import pytest

from dynamo_backend import F, Q, TransactionCanceled
from dynamo_backend.transactions import MAX_ACTIONS, TransactionWriter, transact_write

from .models import Article, Post

pytestmark = [pytest.mark.usefixtures("tables"), pytest.mark.models("Article", "Post")]


@pytest.mark.transactions
def test_transaction_commits_every_action(engine):
    kept = Article.objects.create(title="kept", view_count=1)
    gone = Article.objects.create(title="gone")

    with transact_write() as tx:
        new = tx.create(Article(title="new"))
        tx.update(Article, kept.pk, view_count=F("view_count") + 5)
        tx.delete(gone)

    assert Article.objects.get(pk=new.pk).title == "new"
    assert Article.objects.get(pk=kept.pk).view_count == 6
    assert not Article.objects.filter(pk=gone.pk).exists()


@pytest.mark.transactions
def test_failed_condition_cancels_the_whole_transaction(engine):
    article = Article.objects.create(title="draft", published=False)

    with pytest.raises(TransactionCanceled), transact_write() as tx:
        tx.create(Article(title="should not exist"))
        tx.check(Article, article.pk, condition=Q(published=True))

    assert [a.title for a in Article.objects.all()] == ["draft"]


@pytest.mark.transactions
def test_transactional_create_claims_unique_values(engine):
    Post.objects.create(title="first", slug="taken")

    with pytest.raises(TransactionCanceled), transact_write() as tx:
        tx.create(Post(title="second", slug="taken"))

    assert Post.objects.count() == 1


def test_more_than_100_actions_are_refused_before_any_call(engine):
    writer = TransactionWriter()
    for _ in range(MAX_ACTIONS):
        writer.create(Article(title="x"))
    with pytest.raises(ValueError, match="at most 100"):
        writer.create(Article(title="one too many"))
    assert Article.objects.count() == 0


def test_two_actions_on_one_item_are_refused(engine):
    article = Article.objects.create(title="once")
    writer = TransactionWriter()
    writer.update(Article, article.pk, title="twice?")
    with pytest.raises(ValueError, match="one item twice"):
        writer.delete(article)
