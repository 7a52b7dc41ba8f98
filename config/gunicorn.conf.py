"""Gunicorn settings, read from the environment.

Used verbatim by `make run` (scripts/devstack.py) and by the Docker image:
``gunicorn -c config/gunicorn.conf.py config.wsgi:application``.

In compose, nginx sits in front and buffers every request and answer, so a
slow client never reaches gunicorn. Without it (`make run`, or a deployment
that skips the proxy) these settings still keep one stalled client from
holding a worker thread for ever: ``client_timeout`` bounds every read and
write on a client socket.
"""

import json
import os
import socket
import struct

import gunicorn.util


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


_host = os.environ.get("HOST", "127.0.0.1").strip() or "127.0.0.1"
_port = _int("PORT", 8000)
# An IPv6 literal needs brackets in a bind address.
bind = [f"[{_host}]:{_port}" if ":" in _host and not _host.startswith("[") else f"{_host}:{_port}"]

workers = _int("WEB_CONCURRENCY", 2)
threads = _int("GUNICORN_THREADS", 4)
worker_class = "gthread"
# A worker whose main loop is silent this long is killed and replaced.
timeout = _int("GUNICORN_TIMEOUT", 30)
# On SIGTERM, requests in flight get this long to finish (devstack waits 20s).
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 10)
# An idle keep-alive connection is closed after this many seconds.
keepalive = _int("GUNICORN_KEEPALIVE", 5)
# Seconds a client may leave a read (request line, headers, body) or a write
# (the answer) waiting before its connection is dropped and the thread freed.
client_timeout = _int("GUNICORN_CLIENT_TIMEOUT", 10)

# Request limits. nginx's are tighter (4k a line), so behind it nginx answers
# first; gunicorn's own answer is JSON too (see post_fork).
limit_request_line = _int("GUNICORN_LIMIT_REQUEST_LINE", 8190)
limit_request_fields = _int("GUNICORN_LIMIT_REQUEST_FIELDS", 100)
limit_request_field_size = _int("GUNICORN_LIMIT_REQUEST_FIELD_SIZE", 8190)

# Each worker imports the app itself: boto3 clients, caches and threads are
# per process, never shared across a fork.
preload_app = False

# Both logs to stdout/stderr so containers and `make run` show them.
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# %(M)s is the request duration in milliseconds.
access_log_format = '%(h)s "%(r)s" %(s)s %(B)s %(M)sms %(p)s "%(a)s"'

proc_name = "ddbdjango"

# Recent gunicorn opens a control socket at one fixed path per user, which
# clashes when two stacks run side by side (tests, `make run`); not needed here.
control_socket_disable = True


# --- client timeouts and JSON errors, installed in each worker -------------------

# Codes in the API's error shape for the statuses gunicorn answers itself.
ERROR_CODES = {
    400: "bad_request",
    403: "forbidden",
    414: "uri_too_long",
    417: "expectation_failed",
    431: "request_header_fields_too_large",
    500: "internal_error",
    501: "not_implemented",
}


def json_error(status: int, reason: str) -> bytes:
    """Build gunicorn's own error answer (malformed HTTP) in the API's JSON shape."""
    code = ERROR_CODES.get(status, "bad_request" if status < 500 else "internal_error")
    # The reason only: gunicorn's detail message echoes what the client sent.
    body = json.dumps({"error": {"code": code, "message": f"{reason or 'Error'}."}}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


def _write_json_error(sock, status_int, reason, mesg):
    gunicorn.util.write_nonblock(sock, json_error(status_int, reason))


def socket_timeout(seconds: int) -> bytes:
    """A struct timeval for SO_RCVTIMEO / SO_SNDTIMEO."""
    return struct.pack("ll", seconds, 0)


def post_fork(server, worker):
    """Bound client reads and writes, and answer malformed HTTP in JSON."""
    # gthread sets client sockets to blocking mode with no Python timeout, so a
    # client that sends headers and stalls its body would hold a thread for
    # ever. A kernel timeout on the listening socket is inherited by every
    # accepted connection (Linux, BSD); a stalled recv/send then fails with
    # EAGAIN, which gunicorn and Django treat as a broken client connection.
    if client_timeout > 0:
        for listener in worker.sockets:
            if listener.family in (socket.AF_INET, socket.AF_INET6):
                listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, socket_timeout(client_timeout))
                listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, socket_timeout(client_timeout))
    # gunicorn writes its own HTML page for requests it cannot parse (a bad
    # request line, too many or too long headers); the API speaks only JSON.
    # write_error(sock, status_int, reason, mesg) has kept this signature
    # since gunicorn 0.x; if it ever goes away, the HTML page is the fallback.
    if callable(getattr(gunicorn.util, "write_error", None)):
        gunicorn.util.write_error = _write_json_error


# --- coherence across workers: one DynamoDB Streams reader per host ----------------


def post_worker_init(worker):
    """Join the host's stream coherence once the app is loaded (dynamo_backend.streams).

    Every worker listens for the changes; the worker holding the host's lock
    reads the streams and passes them on. Apps without dynamo_backend (the
    benchmark's bare view) are left alone.
    """
    from django.conf import settings

    if "dynamo_backend" in getattr(settings, "INSTALLED_APPS", ()):
        from dynamo_backend import streams

        streams.start()


def worker_exit(server, worker):
    """Leave it: the lock goes to another worker, which resumes from the checkpoint."""
    from django.conf import settings

    if settings.configured and "dynamo_backend" in getattr(settings, "INSTALLED_APPS", ()):
        from dynamo_backend import streams

        streams.stop()
