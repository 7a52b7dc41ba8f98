"""The connection seam: lazy client, error translation keeping AWS codes, unreachable endpoints."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid

import pytest
from django.core import exceptions as django_exceptions
from django.test import override_settings

from dynamo_backend import (
    ConditionalCheckFailed,
    DynamoBackendError,
    RequestValidationError,
    ServiceUnavailable,
    TableDoesNotExist,
    TransactionCanceled,
    connection,
)
from dynamo_backend.table import wait_for_active
from tests import engines
from tests.engines import REPO_ROOT

from .conftest import backend_settings, reset_library
from .models import Article, Post

NO_NETWORK_AT_IMPORT = r"""
import socket

def refuse(*args, **kwargs):
    raise AssertionError("network used at import time")

socket.socket.connect = refuse
socket.socket.connect_ex = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse

import django
django.setup()
import dynamo_backend
from dynamo_backend import connection, table, query, models, cache, batch  # noqa: F401
import tests.library.models  # defines models with indexes and unique fields
print("imported")
"""


def test_importing_the_library_and_models_makes_no_network_call():
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_DEBUG": "1",
        "AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:9",
        "PYTHONPATH": str(REPO_ROOT),
    }
    env.pop("DYNAMO_CREATE_TABLES_ON_STARTUP", None)

    proc = subprocess.run(
        [sys.executable, "-c", NO_NETWORK_AT_IMPORT], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60
    )

    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "imported" in proc.stdout


def test_one_client_is_shared_across_threads():
    with override_settings(DYNAMO_BACKEND=backend_settings("http://127.0.0.1:9", "x_")):
        reset_library()
        seen = []
        threads = [threading.Thread(target=lambda: seen.append(connection.get_client())) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        reset_library()

    assert len(seen) == 8 and all(client is seen[0] for client in seen)


def test_per_model_does_not_exist_subclasses_djangos():
    assert issubclass(Post.DoesNotExist, django_exceptions.ObjectDoesNotExist)
    assert issubclass(Post.MultipleObjectsReturned, django_exceptions.MultipleObjectsReturned)
    assert Post.DoesNotExist is not Article.DoesNotExist


# -- error translation --------------------------------------------------------------


def test_missing_table_raises_table_does_not_exist_with_the_aws_code(engine):
    with pytest.raises(TableDoesNotExist) as info:
        Article.objects.get(pk=str(uuid.uuid4()))

    assert info.value.code == "ResourceNotFoundException"
    assert isinstance(info.value, DynamoBackendError)
    assert info.value.__cause__ is not None  # raised "from" the botocore error


def test_a_missing_table_error_names_the_table_and_the_command_that_creates_it(engine):
    with pytest.raises(TableDoesNotExist) as info:
        Article.objects.create(title="nowhere")

    assert info.value.tables == (Article._meta.table_name,)
    assert f"table '{Article._meta.table_name}' does not exist" in str(info.value)
    assert "python manage.py dynamo_tables create" in str(info.value)


def test_a_query_of_a_missing_index_names_the_table_and_the_index(engine):
    engine.client.create_table(
        TableName=Post._meta.table_name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    wait_for_active(Post._meta.table_name)

    with pytest.raises(TableDoesNotExist) as info:
        list(Post.objects.filter(author_pk="a"))

    assert info.value.index == "author_pk-index"
    assert "or its index 'author_pk-index' does not exist" in str(info.value)


def test_scan_of_a_missing_table_raises_table_does_not_exist(engine):
    with pytest.raises(TableDoesNotExist):
        list(Article.objects.filter(view_count__gt=1))


def test_write_to_a_missing_table_raises_table_does_not_exist(engine):
    with pytest.raises(TableDoesNotExist):
        Article.objects.create(title="nowhere")


@pytest.mark.usefixtures("tables")
@pytest.mark.models("Article")
def test_malformed_request_raises_request_validation_error_with_the_aws_code(engine):
    with pytest.raises(RequestValidationError) as info:
        connection.call("GetItem", TableName=Article._meta.table_name, Key={"not_the_key": {"S": "x"}})

    assert info.value.code == "ValidationException"


@pytest.mark.usefixtures("tables")
@pytest.mark.models("Article")
def test_failed_condition_raises_conditional_check_failed_with_the_aws_code(engine):
    with pytest.raises(ConditionalCheckFailed) as info:
        connection.call(
            "PutItem",
            TableName=Article._meta.table_name,
            Item={"pk": {"S": str(uuid.uuid4())}},
            ConditionExpression="attribute_exists(#pk)",
            ExpressionAttributeNames={"#pk": "pk"},
        )

    assert info.value.code == "ConditionalCheckFailedException"


@pytest.mark.transactions
@pytest.mark.usefixtures("tables")
@pytest.mark.models("Article")
def test_cancelled_transaction_raises_transaction_canceled(engine):
    with pytest.raises(TransactionCanceled) as info:
        connection.call(
            "TransactWriteItems",
            TransactItems=[
                {
                    "ConditionCheck": {
                        "TableName": Article._meta.table_name,
                        "Key": {"pk": {"S": str(uuid.uuid4())}},
                        "ConditionExpression": "attribute_exists(#pk)",
                        "ExpressionAttributeNames": {"#pk": "pk"},
                    }
                }
            ],
        )

    assert info.value.code == "TransactionCanceledException"


def test_endpoint_nobody_listens_on_raises_service_unavailable_quickly():
    dead = f"http://127.0.0.1:{engines.free_port()}"
    settings = backend_settings(dead, "dead_", CONNECT_TIMEOUT=0.5, READ_TIMEOUT=0.5, MAX_ATTEMPTS=1)
    with override_settings(DYNAMO_BACKEND=settings):
        reset_library()
        started = time.monotonic()
        try:
            with pytest.raises(ServiceUnavailable) as info:
                Article.objects.get(pk=str(uuid.uuid4()))
        finally:
            reset_library()

    assert time.monotonic() - started < 10
    assert isinstance(info.value, DynamoBackendError)
