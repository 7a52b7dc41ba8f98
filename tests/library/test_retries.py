"""connection.call() retries what may be retried, within MAX_ATTEMPTS and the request deadline (no engine)."""

from __future__ import annotations

import botocore.exceptions
import pytest
from django.test import override_settings

from dynamo_backend import DeadlineExceeded, ServiceUnavailable, Throttled, connection
from tests.fixtures import backend_settings, reset_library


class FakeClient:
    """Answers each call with the next programmed outcome (an exception to raise, or a response)."""

    def __init__(self, *outcomes):
        self.outcomes = list(outcomes)
        self.calls = []

    def __getattr__(self, method):
        def call(**params):
            self.calls.append(method)
            outcome = self.outcomes.pop(0) if self.outcomes else {}
            if isinstance(outcome, Exception):
                raise outcome
            return outcome

        return call


def throttled():
    return botocore.exceptions.ClientError(
        {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}, "UpdateItem"
    )


def server_error():
    return botocore.exceptions.ClientError(
        {"Error": {"Code": "InternalServerError", "Message": "oops"}, "ResponseMetadata": {"HTTPStatusCode": 500}},
        "PutItem",
    )


def read_timeout():
    return botocore.exceptions.ReadTimeoutError(endpoint_url="http://ddb")


def never_connected():
    return botocore.exceptions.ConnectTimeoutError(endpoint_url="http://ddb")


@pytest.fixture
def settings(monkeypatch):
    now = {"t": 0.0}
    slept = []
    monkeypatch.setattr(connection, "clock", lambda: now["t"])

    def fake_sleep(seconds):
        slept.append(seconds)
        now["t"] += seconds

    monkeypatch.setattr(connection, "sleep", fake_sleep)
    with override_settings(DYNAMO_BACKEND=backend_settings("http://ddb", "r_", MAX_ATTEMPTS=3)):
        reset_library()
        yield {"now": now, "slept": slept}
    reset_library()


def run(client, operation, **params):
    with connection.use_client(client):
        return connection.call(operation, TableName="t", **params)


def test_max_attempts_counts_every_attempt(settings):
    client = FakeClient(throttled(), throttled(), throttled(), {"ok": 1})
    with pytest.raises(Throttled):
        run(client, "UpdateItem")
    assert client.calls == ["update_item"] * 3


def test_throttling_is_retried_even_for_a_counter_update(settings):
    client = FakeClient(throttled(), {"Attributes": {}})
    assert run(client, "UpdateItem") == {"Attributes": {}}
    assert len(client.calls) == 2


def test_a_lost_answer_to_an_update_is_not_retried(settings):
    client = FakeClient(read_timeout(), {"Attributes": {}})
    with pytest.raises(ServiceUnavailable) as info:
        run(client, "UpdateItem")
    assert info.value.maybe_applied is True
    assert client.calls == ["update_item"]


def test_a_lost_answer_to_an_update_the_caller_calls_idempotent_is_retried(settings):
    client = FakeClient(read_timeout(), {"Attributes": {}})
    with connection.use_client(client):
        connection.call("UpdateItem", idempotent=True, TableName="t")
    assert len(client.calls) == 2


@pytest.mark.parametrize("outcome", [read_timeout, server_error])
def test_reads_and_puts_are_retried_after_an_unknown_outcome(settings, outcome):
    for operation in ("GetItem", "PutItem", "Query"):
        client = FakeClient(outcome(), {"done": operation})
        response = run(client, operation)
        assert response["done"] == operation and len(client.calls) == 2
        assert connection.after_unknown(response)  # the first attempt may have been applied too


def test_a_request_that_never_connected_is_retried_even_for_an_update(settings):
    client = FakeClient(never_connected(), {"Attributes": {}})
    response = run(client, "UpdateItem")
    assert len(client.calls) == 2
    assert not connection.after_unknown(response)  # nothing was sent the first time


def test_a_transaction_is_retried_only_with_a_client_request_token(settings):
    client = FakeClient(read_timeout(), {})
    with pytest.raises(ServiceUnavailable):
        run(client, "TransactWriteItems", TransactItems=[])
    client = FakeClient(read_timeout(), {})
    run(client, "TransactWriteItems", TransactItems=[], ClientRequestToken="t-1")
    assert len(client.calls) == 2


def test_a_spent_deadline_makes_no_call(settings):
    client = FakeClient({})
    with connection.deadline(1.0):
        settings["now"]["t"] += 1.5
        with pytest.raises(DeadlineExceeded, match="before it was sent"):
            run(client, "GetItem")
    assert client.calls == []


def test_retries_stop_at_the_deadline(settings, monkeypatch):
    monkeypatch.setattr(connection, "_backoff", lambda attempt: 0.01)  # jitter could pick a pause under 1 ms
    client = FakeClient(*[throttled() for _ in range(10)])
    with connection.deadline(0.001), pytest.raises(DeadlineExceeded) as info:
        run(client, "GetItem")
    assert len(client.calls) == 1
    assert isinstance(info.value, ServiceUnavailable)  # the API maps it to 503 + Retry-After


def test_nested_deadlines_keep_the_sooner(settings):
    with connection.deadline(10):
        with connection.deadline(2):
            assert connection.remaining() == 2
        with connection.deadline(20):
            assert connection.remaining() == 10
    assert connection.remaining() is None


def test_a_wrongly_typed_parameter_is_a_request_validation_error(settings):
    from dynamo_backend import RequestValidationError

    error = botocore.exceptions.ParamValidationError(report="Invalid type for parameter Key")
    with pytest.raises(RequestValidationError):
        run(FakeClient(error), "GetItem")
