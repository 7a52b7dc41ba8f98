"""Write limits per token, per client address and for sign-ups: DynamoDB counters every worker shares."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.test import RequestFactory, override_settings
from moto.dynamodb.responses import DynamoHandler

from dynamo_backend.stats import count_calls
from services.blog import ratelimit
from services.blog.models import RateCounter

WINDOW = 60


@pytest.fixture
def frozen_clock(monkeypatch):
    """The limiter's clock, at the start of a window; ``frozen_clock.now`` moves it."""

    class Clock:
        now = 1_800_000_000.0 - 1_800_000_000.0 % WINDOW + 1

        def __call__(self) -> float:
            return self.now

    clock = Clock()
    monkeypatch.setattr(ratelimit, "clock", clock)
    return clock


def limits(token=None, address=None, signup=None):
    return override_settings(
        BLOG_RATE_LIMIT_TOKEN=token, BLOG_RATE_LIMIT_ADDRESS=address, BLOG_RATE_LIMIT_SIGNUP=signup
    )


def author(api, name: str) -> dict:
    """Sign up from an address of its own, so the test's writes from 127.0.0.1 start counting at 0."""
    response = api.post("/api/authors/", {"username": name, "email": f"{name}@example.com"}, REMOTE_ADDR="192.0.2.250")
    assert response.status_code == 201, response.content
    created = response.json()
    api.tokens[created["pk"]] = created["token"]
    return created


def edit(api, author, i: int, **extra):
    return api.patch(f"/api/authors/{author['pk']}/", {"bio": f"v{i}"}, as_=author, **extra)


def assert_rate_limited(assert_error, response, max_retry_after: int = WINDOW) -> None:
    assert_error(response, 429, "rate_limited")
    assert 1 <= int(response["Retry-After"]) <= max_retry_after


@pytest.mark.usefixtures("blog_tables")
class TestLimits:
    def test_a_token_gets_its_limit_per_window_then_429_with_retry_after(self, api, frozen_clock, assert_error):
        alice = api.create_author("alice")
        with limits(token=(3, WINDOW)):
            assert [edit(api, alice, i).status_code for i in range(3)] == [200, 200, 200]
            frozen_clock.now += 15
            response = edit(api, alice, 3)
            assert_rate_limited(assert_error, response)
            assert int(response["Retry-After"]) == WINDOW - 16 + 1
            assert "token" in response.json()["error"]["message"]
            assert api.get(f"/api/authors/{alice['pk']}/").json()["bio"] == "v2"  # the refused write wrote nothing

            frozen_clock.now += WINDOW  # the next window
            assert edit(api, alice, 4).status_code == 200

    def test_each_token_has_its_own_count(self, api, frozen_clock, assert_error):
        alice, bob = api.create_author("alice"), api.create_author("bob")
        with limits(token=(2, WINDOW)):
            assert [edit(api, alice, i).status_code for i in range(3)] == [200, 200, 429]
            assert [edit(api, bob, i).status_code for i in range(2)] == [200, 200]

    def test_the_moderator_is_not_limited_per_token(self, api, admin_token, frozen_clock):
        alice = api.create_author("alice")
        with limits(token=(1, WINDOW)):
            url = f"/api/authors/{alice['pk']}/"
            assert [api.patch(url, {"bio": "m"}, token=admin_token).status_code for _ in range(3)] == [200] * 3

    def test_an_address_is_limited_whatever_tokens_it_uses(self, api, frozen_clock, assert_error):
        alice, bob = author(api, "alice"), author(api, "bob")
        with limits(address=(3, WINDOW)):
            assert [edit(api, a, 0).status_code for a in (alice, bob, alice)] == [200, 200, 200]
            assert_rate_limited(assert_error, edit(api, bob, 1))
            # Another client address has its own count.
            assert edit(api, bob, 2, REMOTE_ADDR="192.0.2.7").status_code == 200

    def test_signups_are_limited_per_address(self, api, frozen_clock, assert_error):
        with limits(signup=(2, 3600)):
            api.create_author("a1")
            api.create_author("a2")
            response = api.post("/api/authors/", {"username": "a3", "email": "a3@example.com"})
            assert_rate_limited(assert_error, response, 3600)
            assert "sign-ups" in response.json()["error"]["message"]
            other = api.post("/api/authors/", {"username": "a4", "email": "a4@example.com"}, REMOTE_ADDR="192.0.2.8")
            assert other.status_code == 201

    def test_a_spoofed_forwarded_address_is_ignored_without_a_trusted_proxy(self, api, frozen_clock):
        alice = author(api, "alice")
        with limits(address=(2, WINDOW)):
            codes = [edit(api, alice, i, HTTP_X_REAL_IP=f"198.51.100.{i}").status_code for i in range(3)]
        assert codes == [200, 200, 429]

    def test_behind_a_trusted_proxy_its_address_header_names_the_client(self, api, frozen_clock):
        alice = author(api, "alice")
        with limits(address=(1, WINDOW)), override_settings(BLOG_TRUSTED_PROXY=True):
            codes = [edit(api, alice, i, HTTP_X_REAL_IP=f"198.51.100.{i}").status_code for i in range(3)]
            again = edit(api, alice, 9, HTTP_X_REAL_IP="198.51.100.0").status_code
        assert codes == [200, 200, 200] and again == 429

    def test_a_write_without_a_token_is_refused_without_counting(self, api, frozen_clock):
        alice = author(api, "alice")
        with limits(address=(1, WINDOW)), count_calls() as calls:
            for _ in range(3):
                assert api.patch(f"/api/authors/{alice['pk']}/", {"bio": "x"}).status_code == 401
        assert calls.total == 0
        assert edit(api, alice, 0).status_code == 200

    def test_bad_tokens_count_against_the_address(self, api, frozen_clock, assert_error):
        alice = author(api, "alice")
        with limits(address=(2, WINDOW)):
            url = f"/api/authors/{alice['pk']}/"
            bad = [api.patch(url, {"bio": "x"}, token="guess.ing").status_code for _ in range(2)]
            assert bad == [401, 401]
            assert_rate_limited(assert_error, edit(api, alice, 0))

    def test_counters_live_in_dynamodb_with_an_expiry(self, api, frozen_clock, blog_tables):
        alice = author(api, "alice")
        with limits(token=(10, WINDOW), address=(10, WINDOW)):
            for i in range(3):
                edit(api, alice, i)
        start = int(frozen_clock.now // WINDOW * WINDOW)
        counters = {item["pk"]["S"]: item for item in blog_tables.raw_scan(RateCounter)}
        token_id = alice["token"].split(".")[0]
        assert counters[f"token:{token_id}:{start}"]["n"] == {"N": "3"}
        assert counters[f"address:127.0.0.1:{start}"]["n"] == {"N": "3"}
        expires = int(counters[f"token:{token_id}:{start}"]["expires_at"]["N"])
        assert start + WINDOW <= expires <= start + 2 * WINDOW


@pytest.mark.usefixtures("blog_tables")
def test_concurrent_writes_get_exactly_the_limit(api, new_api, frozen_clock, monkeypatch):
    """The counter is atomic in DynamoDB: of 12 simultaneous writes with one token, exactly 5 pass."""
    lock = threading.Lock()  # moto's handler made atomic per request, as DynamoDB is
    original = DynamoHandler.call_action

    def call_action(self):
        with lock:
            return original(self)

    monkeypatch.setattr(DynamoHandler, "call_action", call_action)
    alice = api.create_author("alice")
    barrier = threading.Barrier(12)

    def write(i):
        barrier.wait()
        return new_api().patch(f"/api/authors/{alice['pk']}/", {"bio": f"b{i}"}, token=alice["token"]).status_code

    with limits(token=(5, WINDOW)), ThreadPoolExecutor(max_workers=12) as pool:
        statuses = Counter(pool.map(write, range(12)))
    assert statuses == Counter({200: 5, 429: 7})


# --- the client address (pure) -------------------------------------------------------------


@pytest.mark.parametrize(
    "meta, trusted, expected",
    [
        ({"REMOTE_ADDR": "203.0.113.9"}, False, "203.0.113.9"),
        ({"REMOTE_ADDR": "10.0.0.2", "HTTP_X_REAL_IP": "203.0.113.9"}, False, "10.0.0.2"),
        ({"REMOTE_ADDR": "10.0.0.2", "HTTP_X_REAL_IP": "203.0.113.9"}, True, "203.0.113.9"),
        ({"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "1.2.3.4, 203.0.113.9"}, True, "203.0.113.9"),
        ({"REMOTE_ADDR": "10.0.0.2"}, True, "10.0.0.2"),
        ({"REMOTE_ADDR": "2001:db8:1:2:3:4:5:6"}, False, "2001:db8:1:2::/64"),
        ({"REMOTE_ADDR": "::ffff:203.0.113.9"}, False, "203.0.113.9"),
        ({"REMOTE_ADDR": "10.0.0.2", "HTTP_X_REAL_IP": "not an address"}, True, "unknown"),
        ({"REMOTE_ADDR": ""}, False, "unknown"),
    ],
)
def test_client_address(meta, trusted, expected):
    request = RequestFactory().post("/api/posts/", **meta)
    with override_settings(BLOG_TRUSTED_PROXY=trusted):
        assert ratelimit.client_address(request) == expected


def test_no_limit_configured_costs_no_call(no_dynamodb):
    with limits():
        ratelimit.check_token("t")
        ratelimit.check_address(RequestFactory().post("/"))
        ratelimit.check_signup(RequestFactory().post("/"))
