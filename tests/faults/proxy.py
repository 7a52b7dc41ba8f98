"""A fault-injecting HTTP proxy between a DynamoDB client and an emulator, switched at runtime.

It speaks HTTP/1.1 with keep-alive on both sides (botocore reuses its
connections) and reads the DynamoDB operation from ``X-Amz-Target``. Each
request is matched against the current :class:`Fault` rules; a rule fires
with its probability, for its operations only, at most ``times`` times:

``delay``          wait ``seconds`` before forwarding (``when="before"``) or
                   before answering (``when="after"``); :meth:`FaultProxy.clear`
                   ends every wait in progress, and the request then goes on
``drop_request``   close the client connection without forwarding: the write
                   did NOT happen
``drop_response``  forward, let the emulator apply it, then close the client
                   connection without answering: the write DID happen and the
                   client cannot know
``throttle``       answer 400 ``ProvisionedThroughputExceededException`` (or
                   ``code=``, e.g. ``ThrottlingException``) without forwarding
``error_500``      answer 500 ``InternalServerError`` without forwarding

``match=`` narrows a rule to requests whose body holds a text (a table name,
quoted, picks one table). Delays add up; of the other modes the first rule
that fires wins. :meth:`FaultProxy.wait_idle` waits for the requests still on
their way (delayed, or retried by a client) to land. The proxy
counts what it did per (mode, operation), and every request and forward per
operation. It runs in the test process (threads, stdlib only)::

    with FaultProxy("http://127.0.0.1:4567") as proxy:
        proxy.set(Fault("drop_response", 0.3, operations=WRITES))
        ...  # point the app's AWS_ENDPOINT_URL_DYNAMODB at proxy.url
        proxy.counts()  # {("drop_response", "PutItem"): 4, ...}

``python -m tests.faults.proxy --upstream URL --port N --fault drop_response:0.3:PutItem,UpdateItem``
runs one by hand in front of `make run`'s emulator.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

MODES = ("delay", "drop_request", "drop_response", "throttle", "error_500")
# DynamoDB operations that change data.
WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems", "ExecuteStatement"})
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "content-length"}
)
JSON_TYPE = "application/x-amz-json-1.0"
CORAL = "com.amazon.coral.service"  # the __type namespace of DynamoDB's service errors


@dataclass(frozen=True)
class Fault:
    """One rule: ``mode`` with ``probability``, for ``operations`` (None: all), at most ``times`` times."""

    mode: str
    probability: float = 1.0
    operations: frozenset[str] | None = None
    seconds: float = 0.0  # delay only
    when: str = "before"  # delay only: "before" forwarding or "after" the emulator answered
    times: int | None = None
    code: str = ""  # throttle only: the error code (default ProvisionedThroughputExceededException)
    match: str | None = None  # only requests whose body holds this text, e.g. '"<prefix>blog_post"' (a table)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown fault mode {self.mode!r}; choose from {MODES}")
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"probability {self.probability} is not within [0, 1]")
        if self.when not in ("before", "after"):
            raise ValueError(f"when={self.when!r}: 'before' or 'after'")
        if self.operations is not None:
            object.__setattr__(self, "operations", frozenset(self.operations))

    def matches(self, operation: str, body: bytes) -> bool:
        if self.operations is not None and operation not in self.operations:
            return False
        return self.match is None or self.match.encode() in body


@dataclass
class _Decision:
    before: float = 0.0
    after: float = 0.0
    action: str = ""  # "" (forward and answer) or a terminal mode
    code: str = ""


@dataclass
class _Rule:
    fault: Fault
    left: int | None = field(default=None)


class FaultProxy:
    """The proxy: ``start()`` / ``stop()`` (or a ``with`` block), ``set()`` / ``clear()`` faults, ``counts()``."""

    def __init__(self, upstream: str, *, host: str = "127.0.0.1", port: int = 0, seed: int | None = None) -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname or not parts.port:
            raise ValueError(f"upstream must be http://host:port, not {upstream!r}")
        self.upstream = (parts.hostname, parts.port)
        self._bind = (host, port)
        self._lock = threading.Lock()
        self._random = random.Random(seed)
        self._rules: list[_Rule] = []
        self._release = threading.Event()  # set to end the delays in progress
        self._stopping = False
        self._counts: Counter[tuple[str, str]] = Counter()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._clients: set[socket.socket] = set()
        self.connections = 0  # client connections accepted so far
        self.faulted = False  # set() was given faults since the owner last reset this
        self._in_flight = 0
        self._last_done = 0.0

    # --- lifecycle ------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None, "the proxy is not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FaultProxy:
        handler = type("Handler", (_Handler,), {"proxy": self})
        self._server = ThreadingHTTPServer(self._bind, handler)
        self._server.daemon_threads = True
        serve = self._server.serve_forever
        self._thread = threading.Thread(target=serve, args=(0.05,), name="fault-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, end every delay, close every client connection."""
        server, self._server = self._server, None
        if server is None:
            return
        with self._lock:
            self._stopping = True
            self._release.set()
            clients = list(self._clients)
        server.shutdown()
        server.server_close()
        for sock in clients:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- faults ------------------------------------------------------------------

    def set(self, *faults: Fault) -> None:
        """Replace the rules (delays in progress go on waiting until clear())."""
        with self._lock:
            self._rules = [_Rule(f, f.times) for f in faults]
            self.faulted = self.faulted or bool(faults)

    def clear(self) -> None:
        """Remove every rule and end every delay in progress (those requests go on as if never delayed)."""
        with self._lock:
            self._rules = []
            self._release.set()
            self._release = threading.Event()

    @contextlib.contextmanager
    def faults(self, *faults: Fault):
        """Apply ``faults`` inside the block, clear them afterwards."""
        self.set(*faults)
        try:
            yield self
        finally:
            self.clear()

    def counts(self) -> Counter[tuple[str, str]]:
        """What the proxy did: (mode, operation) -> n, plus ("request", op) and ("forward", op)."""
        with self._lock:
            return Counter(self._counts)

    def count(self, mode: str, operations: Iterable[str] | None = None) -> int:
        """How often ``mode`` (or "request"/"forward") happened, for ``operations`` (None: any)."""
        wanted = None if operations is None else set(operations)
        return sum(n for (m, op), n in self.counts().items() if m == mode and (wanted is None or op in wanted))

    def reset_counts(self) -> None:
        with self._lock:
            self._counts.clear()

    # --- used by the handler ----------------------------------------------------------

    def _decide(self, operation: str, body: bytes, *, tracked: bool = True) -> tuple[_Decision, threading.Event]:
        decision = _Decision()
        with self._lock:
            self._counts["request", operation] += 1
            self._in_flight += tracked
            for rule in self._rules:
                fault = rule.fault
                if not fault.matches(operation, body) or rule.left == 0:
                    continue
                if fault.mode != "delay" and decision.action:
                    continue
                if self._random.random() >= fault.probability:
                    continue
                if rule.left is not None:
                    rule.left -= 1
                self._counts[fault.mode, operation] += 1
                if fault.mode == "delay":
                    if fault.when == "before":
                        decision.before += fault.seconds
                    else:
                        decision.after += fault.seconds
                else:
                    decision.action, decision.code = fault.mode, fault.code
            return decision, self._release

    def _done(self, *, tracked: bool = True) -> None:
        if not tracked:
            return
        with self._lock:
            self._in_flight -= 1
            self._last_done = time.monotonic()

    def wait_idle(self, quiet: float = 0.5, timeout: float = 30.0) -> None:
        """Return once no DynamoDB request has been in flight for ``quiet`` seconds; TimeoutError after ``timeout``.

        After :meth:`clear`, this lets the writes still on their way (delayed,
        or retried by a client) land before the emulator is read. DynamoDB
        Streams requests (the workers' stream reader polls every half second)
        pass through and are counted, but never keep the proxy from idling.
        """
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                idle = self._in_flight == 0 and time.monotonic() - self._last_done >= quiet
            if idle:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"the proxy still had {self._in_flight} request(s) in flight after {timeout}s")
            time.sleep(0.05)

    def _count(self, what: str, operation: str) -> None:
        with self._lock:
            self._counts[what, operation] += 1

    def _track(self, sock: socket.socket, add: bool) -> None:
        with self._lock:
            if add:
                self._clients.add(sock)
                self.connections += 1
            else:
                self._clients.discard(sock)


def _error_body(code: str, message: str, namespace: str) -> bytes:
    return json.dumps({"__type": f"{namespace}#{code}", "message": message}).encode()


class _Handler(BaseHTTPRequestHandler):
    """One client connection: its requests in turn, over one upstream connection of its own."""

    proxy: FaultProxy
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall
    timeout = 120  # an idle keep-alive connection is closed after this long

    def setup(self) -> None:
        super().setup()
        self.proxy._track(self.connection, True)
        self.upstream: http.client.HTTPConnection | None = None

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        self.proxy._track(self.connection, False)
        if self.upstream is not None:
            self.upstream.close()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - BaseHTTPRequestHandler's signature
        pass  # one line per request would drown pytest's output

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self._serve()

    do_GET = do_PUT = do_DELETE = do_POST  # noqa: N815 - http.server's naming

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        target = self.headers.get("X-Amz-Target") or ""
        operation = target.rpartition(".")[2] or "-"
        tracked = not target.startswith("DynamoDBStreams")
        decision, release = self.proxy._decide(operation, body, tracked=tracked)
        try:
            self._apply(decision, release, operation, body)
        finally:
            self.proxy._done(tracked=tracked)

    def _apply(self, decision: _Decision, release: threading.Event, operation: str, body: bytes) -> None:
        if decision.before:
            release.wait(decision.before)
        if decision.action == "drop_request":
            self.close_connection = True
            return
        if decision.action == "throttle":
            code = decision.code or "ProvisionedThroughputExceededException"
            namespace = "com.amazonaws.dynamodb.v20120810"
            self._answer(400, "Bad Request", _error_body(code, "Rate exceeded (fault proxy)", namespace))
            return
        if decision.action == "error_500":
            message = "Internal server error (fault proxy)"
            self._answer(500, "Internal Server Error", _error_body("InternalServerError", message, CORAL))
            return
        try:
            status, reason, headers, answer = self._forward(body)
        except (OSError, http.client.HTTPException):
            self._count_and_close("upstream_error", operation)
            return
        self.proxy._count("forward", operation)
        if decision.action == "drop_response":
            self.close_connection = True
            return
        if decision.after:
            release.wait(decision.after)
        self._answer(status, reason, answer, headers)

    def _forward(self, body: bytes) -> tuple[int, str, list[tuple[str, str]], bytes]:
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        for attempt in (1, 2):
            if self.upstream is None:
                self.upstream = http.client.HTTPConnection(*self.proxy.upstream, timeout=60)
            try:
                self.upstream.request(self.command, self.path, body=body, headers=headers)
                response = self.upstream.getresponse()
                answer = response.read()
            except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected):
                # A kept-alive upstream connection the emulator had closed: open a fresh one once.
                self.upstream.close()
                self.upstream = None
                if attempt == 2:
                    raise
                continue
            if response.will_close:
                self.upstream.close()
                self.upstream = None
            kept = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP]
            return response.status, response.reason, kept, answer
        raise AssertionError("unreachable")

    def _answer(self, status: int, reason: str, body: bytes, headers: list[tuple[str, str]] | None = None) -> None:
        try:
            self.send_response_only(status, reason)
            if headers is None:
                headers = [("Content-Type", JSON_TYPE), ("x-amzn-RequestId", "fault-proxy")]
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        except OSError:  # the client gave up (a read timeout) while we waited
            self.close_connection = True

    def _count_and_close(self, what: str, operation: str) -> None:
        self.proxy._count(what, operation)
        self.close_connection = True


def parse_fault(text: str) -> Fault:
    """``mode[:probability[:Op,Op[:seconds]]]``, e.g. ``drop_response:0.3:PutItem,UpdateItem``."""
    mode, probability, operations, seconds = ([*text.split(":"), "", "", ""])[:4]
    return Fault(
        mode,
        float(probability or 1.0),
        frozenset(operations.split(",")) if operations else None,
        seconds=float(seconds or 0),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--upstream", required=True, help="the emulator, e.g. http://127.0.0.1:4567")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4568)
    parser.add_argument("--fault", action="append", default=[], type=parse_fault, help=parse_fault.__doc__)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    proxy = FaultProxy(args.upstream, host=args.host, port=args.port, seed=args.seed).start()
    proxy.set(*args.fault)
    print(f"fault proxy at {proxy.url} -> {args.upstream}; faults: {args.fault or 'none'}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        proxy.stop()
        for (mode, operation), n in sorted(proxy.counts().items()):
            print(f"{mode:14} {operation:20} {n}")


if __name__ == "__main__":
    main()
