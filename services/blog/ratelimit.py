"""Write limits per API token and per client address, shared by every worker and host.

Each limit counts in fixed windows (``BLOG_RATE_LIMIT_*`` settings:
``(requests, seconds)`` or None). A window's count is one ``RateCounter`` item
keyed ``<limit>:<who>:<window start>``, incremented atomically in DynamoDB
(``UpdateItem`` with ``if_not_exists(n, 0) + 1``), so two workers or two hosts
never both get the last request of a window. The first request of a window
costs an UpdateItem that finds nothing and a PutItem; every later one a single
UpdateItem. DynamoDB's Time to Live removes a counter after its window.

Only writes are counted here: a counter per read would double what a read
costs. Floods of any request, too many connections and slow clients belong to
the edge (nginx's ``limit_req``/``limit_conn`` and timeouts, deploy/nginx).
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable

from django.conf import settings

from dynamo_backend import Coalesce, F, ItemAlreadyExists

from .errors import RateLimited
from .models import RateCounter

# The clock windows are cut from; tests replace it.
clock: Callable[[], float] = time.time

# A counter outlives its window a little, so a read at the window's last
# instant never finds it expired.
_EXPIRY_SLACK_SECONDS = 60


def client_address(request) -> str:
    """The client's address: the proxy's X-Real-IP / X-Forwarded-For when one is trusted, else the peer's.

    An IPv6 client is counted by its /64, the block one subscriber usually holds.
    """
    address = request.META.get("REMOTE_ADDR") or ""
    if getattr(settings, "BLOG_TRUSTED_PROXY", False):
        forwarded = request.META.get("HTTP_X_REAL_IP") or request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")[-1]
        address = forwarded.strip() or address
    try:
        ip = ipaddress.ip_address(address.strip().strip("[]"))
    except ValueError:
        return "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def _increment(pk: str, expires_at: int) -> int:
    """Add one to the counter ``pk`` (creating it at 1); return its new value."""
    counter = RateCounter.objects.filter(pk=pk)
    for _attempt in range(2):
        if counter.update(n=Coalesce(F("n"), 0) + 1):
            break
        try:
            RateCounter.objects.create(pk=pk, n=1, expires_at=expires_at)
            return 1
        except ItemAlreadyExists:
            continue  # another process opened the window first: count on its item
    # The update kept the new item in this request's identity map: no extra call.
    current = counter.first()
    return current.n if current is not None and current.n else 1


def hit(limit: str, who: str, setting: str) -> None:
    """Count one request of ``who`` against the limit in ``settings.<setting>``; RateLimited beyond it."""
    rule = getattr(settings, setting, None)
    if not rule:
        return
    allowed, seconds = rule
    now = clock()
    start = int(now // seconds) * seconds
    count = _increment(f"{limit}:{who}:{start}", start + seconds + _EXPIRY_SLACK_SECONDS)
    if count > allowed:
        retry_after = int(start + seconds - now) + 1
        raise RateLimited(
            f"Too many {_WHAT[limit]} (at most {allowed} in {seconds} s); retry in {retry_after} s.",
            retry_after=retry_after,
        )


_WHAT = {
    "address": "writes from this address",
    "signup": "sign-ups from this address",
    "token": "writes with this token",
}


def check_address(request) -> None:
    """Count a write from the request's client address (before its token is even looked at)."""
    hit("address", client_address(request), "BLOG_RATE_LIMIT_ADDRESS")


def check_signup(request) -> None:
    """Count a sign-up (author creation) from the request's client address."""
    hit("signup", client_address(request), "BLOG_RATE_LIMIT_SIGNUP")


def check_token(token_id: str) -> None:
    """Count a write made with one API token."""
    hit("token", token_id, "BLOG_RATE_LIMIT_TOKEN")
