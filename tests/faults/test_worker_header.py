"""The test-only ``X-Worker`` header: off unless DJANGO_EXPOSE_WORKER is set (pure, no DynamoDB)."""

from __future__ import annotations

import os

import pytest
from django.core.exceptions import MiddlewareNotUsed
from django.http import HttpResponse
from django.test import Client, RequestFactory

from services.blog.middleware import WorkerHeaderMiddleware


def test_answers_carry_no_worker_header_by_default():
    assert "DJANGO_EXPOSE_WORKER" not in os.environ
    response = Client().get("/no-such-route")
    assert response.status_code == 404
    assert "X-Worker" not in response.headers


@pytest.mark.parametrize("value", ["", "0", "off"])
def test_the_middleware_drops_out_unless_switched_on(monkeypatch, value):
    monkeypatch.setenv("DJANGO_EXPOSE_WORKER", value)
    with pytest.raises(MiddlewareNotUsed):
        WorkerHeaderMiddleware(lambda request: HttpResponse())


def test_switched_on_every_answer_names_the_process(monkeypatch):
    monkeypatch.setenv("DJANGO_EXPOSE_WORKER", "1")
    middleware = WorkerHeaderMiddleware(lambda request: HttpResponse(status=503))
    assert middleware(RequestFactory().get("/"))["X-Worker"] == str(os.getpid())
