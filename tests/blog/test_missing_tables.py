"""A missing table: 503 in the error shape for API clients, the table and the command in the log and in /healthz."""

from __future__ import annotations

import logging

import pytest

from services.blog.models import Comment, Post

pytestmark = pytest.mark.usefixtures("blog_tables")


def test_a_request_needing_a_missing_table_is_503_and_the_log_names_table_and_command(
    api, blog_tables, assert_error, caplog
):
    blog_tables.client.delete_table(TableName=Post._meta.table_name)

    with caplog.at_level(logging.ERROR, logger="services.blog"):
        response = api.get("/api/posts/")

    error = assert_error(response, 503, "service_unavailable")
    assert error["message"] == "The service is not fully set up: a database table it needs does not exist."
    assert Post._meta.table_name not in response.content.decode()  # the detail is the operator's
    assert response["Retry-After"] == "1"
    assert f"table '{Post._meta.table_name}'" in caplog.text and "does not exist" in caplog.text
    assert "python manage.py dynamo_tables create" in caplog.text


def test_healthz_names_the_missing_tables_and_the_command(api, blog_tables, assert_error):
    blog_tables.client.delete_table(TableName=Comment._meta.table_name)

    response = api.get("/healthz")

    error = assert_error(response, 503, "service_unavailable")
    assert error["message"].startswith(f"DynamoDB tables missing: {Comment._meta.table_name}. ")
    assert "python manage.py dynamo_tables create" in error["message"]
    assert Post._meta.table_name not in error["message"]  # only what is missing


def test_healthz_is_ok_once_the_tables_exist_again(api, blog_tables):
    blog_tables.client.delete_table(TableName=Comment._meta.table_name)
    assert api.get("/healthz").status_code == 503

    blog_tables.create_tables(Comment)

    assert api.get("/healthz").status_code == 200
