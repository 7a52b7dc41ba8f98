"""Start-up behaviour: tables created by the first request a server handles, racing workers, client settings."""

from __future__ import annotations

import logging
import threading

import pytest
from django.apps import apps
from django.test import Client, override_settings

from dynamo_backend import apps as backend_apps
from dynamo_backend import connection
from dynamo_backend.table import describe, ensure_table

from .conftest import backend_settings, reset_library
from .models import Post


def test_the_first_request_creates_every_models_tables(engine):
    with override_settings(DYNAMO_BACKEND={**engine.settings, "CREATE_TABLES_ON_STARTUP": True}):
        response = Client().get("/healthz")
        from services.blog.models import Author, Comment
        from services.blog.models import Post as BlogPost

        for model in (Author, BlogPost, Comment, Post):
            table = describe(model._meta.table_name)
            assert table is not None and table["TableStatus"] == "ACTIVE", model
        assert response.status_code == 200, response.content  # the request that created them is served


def test_startup_creates_tables_once_per_process_and_settings(engine):
    with override_settings(DYNAMO_BACKEND={**engine.settings, "CREATE_TABLES_ON_STARTUP": True}):
        assert backend_apps.create_tables_once() is not None
        assert backend_apps.create_tables_once() is None  # done: a request costs no DescribeTable


def test_neither_django_setup_nor_a_command_creates_tables(engine):
    with override_settings(DYNAMO_BACKEND={**engine.settings, "CREATE_TABLES_ON_STARTUP": True}):
        apps.get_app_config("dynamo_backend").ready()  # what every manage.py command runs
        assert engine.table_names() == []


def test_startup_without_the_setting_creates_nothing(engine):
    Client().get("/healthz")
    assert engine.table_names() == []


def test_an_unreachable_dynamodb_at_startup_is_logged_with_the_command_and_tried_again_later(caplog):
    dead = backend_settings("http://127.0.0.1:9", "dead_", CONNECT_TIMEOUT=0.5, MAX_ATTEMPTS=1)
    now = {"t": 1000.0}
    with override_settings(DYNAMO_BACKEND={**dead, "CREATE_TABLES_ON_STARTUP": True}):
        reset_library()
        with caplog.at_level(logging.ERROR, logger="dynamo_backend"):
            assert backend_apps.create_tables_once(clock=lambda: now["t"]) is None
        assert "python manage.py dynamo_tables create" in caplog.text
        caplog.clear()
        now["t"] += backend_apps.RETRY_SECONDS / 2
        assert backend_apps.create_tables_once(clock=lambda: now["t"]) is None
        assert caplog.text == ""  # too soon: not tried again
        now["t"] += backend_apps.RETRY_SECONDS
        with caplog.at_level(logging.ERROR, logger="dynamo_backend"):
            backend_apps.create_tables_once(clock=lambda: now["t"])
        assert "Could not create the DynamoDB tables" in caplog.text
    reset_library()


def test_workers_racing_to_create_one_table_all_succeed(engine):
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def worker() -> None:
        try:
            barrier.wait()
            ensure_table(Post)
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert describe(Post._meta.table_name)["TableStatus"] == "ACTIVE"
    assert Post._meta.table_name in engine.table_names()


def test_endpoint_and_region_fall_back_to_the_aws_variables(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:4999")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    settings = backend_settings(None, "t_")
    del settings["ENDPOINT_URL"], settings["REGION"]
    with override_settings(DYNAMO_BACKEND=settings):
        reset_library()
        client = connection.get_client()
        assert client.meta.endpoint_url == "http://127.0.0.1:4999"
        assert client.meta.region_name == "eu-west-1"
    reset_library()


def test_client_leaves_retries_to_the_library_and_uses_the_configured_timeouts():
    settings = {
        **backend_settings("http://127.0.0.1:4999", "t_"),
        "CONNECT_TIMEOUT": 1.5,
        "READ_TIMEOUT": 3,
        "REQUEST_DEADLINE": 0,
    }
    with override_settings(DYNAMO_BACKEND=settings):
        reset_library()
        config = connection.get_client().meta.config
        assert config.retries["total_max_attempts"] == 1  # connection.call() decides what is retried
        assert config.connect_timeout == 1.5 and config.read_timeout == 3
    reset_library()


def test_each_attempts_timeouts_fit_the_request_deadline():
    settings = {
        **backend_settings("http://127.0.0.1:4999", "t_"),
        "CONNECT_TIMEOUT": 2,
        "READ_TIMEOUT": 5,
        "REQUEST_DEADLINE": 3,
        "MAX_ATTEMPTS": 3,
    }
    with override_settings(DYNAMO_BACKEND=settings):
        reset_library()
        config = connection.get_client().meta.config
        assert config.connect_timeout == 1 and config.read_timeout == 1
    reset_library()


@pytest.mark.parametrize("key", ["CACHE_TTL", "READ_TIMEOUT"])
def test_a_negative_number_setting_is_check_e002(key):
    from django.core.checks import run_checks

    with override_settings(DYNAMO_BACKEND={key: -1}):
        ids = [m.id for m in run_checks(tags=["dynamo_backend"])]
    assert "dynamo_backend.E002" in ids
