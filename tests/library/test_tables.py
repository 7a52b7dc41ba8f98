"""Table management: ensure_table / delete_table, the dynamo_tables command, system checks."""

from __future__ import annotations

import io

import pytest
from django.core import checks
from django.core.management import call_command
from django.test import override_settings

from dynamo_backend.table import delete_table, ensure_table

from .models import Article, Blob, Comment, Post


def describe(engine, name: str) -> dict:
    return engine.client.describe_table(TableName=name)["Table"]


def gsis(table: dict) -> dict[str, dict]:
    return {index["IndexName"]: index for index in table.get("GlobalSecondaryIndexes", [])}


def key_schema(schema: list[dict]) -> dict[str, str]:
    return {part["KeyType"]: part["AttributeName"] for part in schema}


def test_ensure_table_creates_a_pay_per_request_table_keyed_by_pk(engine):
    ensure_table(Article)

    table = describe(engine, f"{engine.prefix}articles")
    assert table["TableStatus"] == "ACTIVE"
    assert key_schema(table["KeySchema"]) == {"HASH": "pk"}
    assert {"AttributeName": "pk", "AttributeType": "S"} in table["AttributeDefinitions"]
    assert table.get("BillingModeSummary", {}).get("BillingMode", "PAY_PER_REQUEST") == "PAY_PER_REQUEST"


def test_ensure_table_is_idempotent(engine):
    ensure_table(Post)
    ensure_table(Post)

    assert f"{engine.prefix}libtests_post" in engine.table_names()


def test_ensure_table_creates_a_gsi_for_an_index_true_field(engine):
    ensure_table(Post)

    index = gsis(describe(engine, Post._meta.table_name))["author_pk-index"]
    assert key_schema(index["KeySchema"]) == {"HASH": "author_pk"}
    assert index["Projection"]["ProjectionType"] == "ALL"


def test_ensure_table_creates_a_gsi_with_a_sort_key_from_meta_indexes(engine):
    ensure_table(Comment)

    table = describe(engine, Comment._meta.table_name)
    index = gsis(table)["post_pk-created_at-index"]
    assert key_schema(index["KeySchema"]) == {"HASH": "post_pk", "RANGE": "created_at"}
    types = {d["AttributeName"]: d["AttributeType"] for d in table["AttributeDefinitions"]}
    assert types["post_pk"] == "S" and types["created_at"] == "S"


def test_ensure_table_creates_the_unique_claims_table(engine):
    ensure_table(Post)

    table = describe(engine, f"{Post._meta.table_name}__unique")
    assert key_schema(table["KeySchema"]) == {"HASH": "pk"}


def test_model_without_indexes_gets_no_gsi(engine):
    ensure_table(Article)

    assert gsis(describe(engine, Article._meta.table_name)) == {}


def test_delete_table_drops_the_table_and_its_claims(engine):
    ensure_table(Post)
    ensure_table(Blob)

    delete_table(Post)

    assert engine.table_names() == [Blob._meta.table_name]


def test_table_prefix_applies_to_every_table(engine):
    ensure_table(Article)
    ensure_table(Post)

    assert all(name.startswith(engine.prefix) for name in engine.table_names())
    assert len(engine.table_names()) == 3  # articles, posts, posts' unique claims


# -- python manage.py dynamo_tables create|delete|describe|list -----------------------


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("dynamo_tables", *args, stdout=out, stderr=out)
    return out.getvalue()


def test_command_create_creates_the_models_tables(engine):
    run("create")

    names = engine.table_names()
    assert {Article._meta.table_name, Post._meta.table_name, Comment._meta.table_name} <= set(names)
    assert "author_pk-index" in gsis(describe(engine, Post._meta.table_name))


def test_command_create_twice_is_fine(engine):
    run("create")
    before = engine.table_names()

    run("create")

    assert engine.table_names() == before


def test_command_list_names_the_tables(engine):
    run("create")

    output = run("list")

    assert Article._meta.table_name in output and Post._meta.table_name in output


def test_command_describe_shows_table_and_indexes(engine):
    run("create")

    output = run("describe")

    assert Post._meta.table_name in output
    assert "author_pk-index" in output


def test_command_delete_drops_the_tables(engine):
    run("create")

    run("delete")

    remaining = set(engine.table_names())
    assert not remaining & {Article._meta.table_name, Post._meta.table_name, Comment._meta.table_name}


# -- system checks ------------------------------------------------------------------------


def dynamo_messages() -> list[checks.CheckMessage]:
    return [m for m in checks.run_checks() if (m.id or "").startswith("dynamo_backend.")]


def test_unknown_dynamo_backend_key_is_check_e001():
    with override_settings(DYNAMO_BACKEND={"REGION": "us-east-1", "ENDPIONT_URL": "http://x"}):
        messages = dynamo_messages()

    (e001,) = [m for m in messages if m.id == "dynamo_backend.E001"]
    assert e001.level >= checks.ERROR
    assert "ENDPIONT_URL" in e001.msg
    assert e001.hint


def test_valid_settings_raise_no_dynamo_check_errors():
    with override_settings(DYNAMO_BACKEND={"REGION": "us-east-1", "TABLE_PREFIX": "ok_"}):
        errors = [m for m in dynamo_messages() if m.level >= checks.ERROR]

    assert errors == []


def test_unknown_key_fails_at_first_use():
    from dynamo_backend import ConfigurationError
    from dynamo_backend.conf import get_setting

    with (
        override_settings(DYNAMO_BACKEND={"TABEL_PREFIX": "x"}),
        pytest.raises(ConfigurationError, match="TABEL_PREFIX"),
    ):
        get_setting("TABLE_PREFIX")
