"""Gunicorn settings, read from the environment.

Used verbatim by `make run` (scripts/devstack.py) and by the Docker image:
``gunicorn -c config/gunicorn.conf.py config.wsgi:application``.
"""

import os


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
timeout = _int("GUNICORN_TIMEOUT", 30)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 10)
keepalive = _int("GUNICORN_KEEPALIVE", 5)

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
