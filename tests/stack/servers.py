"""gunicorn and nginx as the deployment runs them, started here for the stack tests.

gunicorn runs the Docker image's command with the project's config on a free
port; nginx runs deploy/nginx/ddbdjango.conf rendered the way the nginx image
renders it. Requests go over raw sockets, so a test can send half a request
and stall, as a slow client does.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.engines import free_port, in_ci

ROOT = Path(__file__).resolve().parents[2]
GUNICORN_CMD = ["gunicorn", "-c", "config/gunicorn.conf.py", "config.wsgi:application"]
NGINX_DIR = ROOT / "deploy" / "nginx"
NGINX_SITE = NGINX_DIR / "ddbdjango.conf"
START_TIMEOUT = 30.0


@dataclass
class Server:
    proc: subprocess.Popen
    port: int
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def _wait_for_port(server: Server, name: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            pytest.fail(f"{name} exited with {server.proc.returncode}:\n{server.output()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", server.port), timeout=0.5):
            return
        time.sleep(0.05)
    pytest.fail(f"{name} did not listen on {server.port} within {START_TIMEOUT:.0f}s:\n{server.output()}")


def _stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(15)
    # Whatever is left of the group (workers) goes too.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def production_env(**overrides: str) -> dict[str, str]:
    """A shell with production settings: debug off, a strong key, no real AWS."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DYNAMO_", "AWS_", "GUNICORN_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="localhost,127.0.0.1",
        # Nothing listens there: the requests these tests send never reach DynamoDB.
        AWS_ENDPOINT_URL_DYNAMODB=f"http://127.0.0.1:{free_port()}",
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY="test",
        AWS_REGION="us-east-1",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        PYTHONUNBUFFERED="1",
    )
    env.update(overrides)
    return env


@contextlib.contextmanager
def gunicorn(tmp_path: Path, **env: str) -> Iterator[Server]:
    """The image's gunicorn command, on a free port, with production settings."""
    port = free_port()
    log = tmp_path / f"gunicorn-{port}.log"
    cmd = [str(Path(sys.executable).parent / GUNICORN_CMD[0]), *GUNICORN_CMD[1:]]
    full_env = production_env(HOST="127.0.0.1", PORT=str(port), **env)
    with open(log, "wb") as output:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=full_env, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    server = Server(proc, port, log)
    try:
        _wait_for_port(server, "gunicorn")
        yield server
    finally:
        _stop(proc)


# --- nginx ----------------------------------------------------------------------


def nginx_binary() -> str:
    """The nginx executable; a skip here, a failure in CI (.ci/run installs it)."""
    found = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)
    if found:
        return found
    if in_ci():
        pytest.fail("nginx is not installed (apt-get install nginx)", pytrace=False)
    pytest.skip("nginx is not installed (apt-get install nginx)")


def render_site(upstream: str, listen: str) -> str:
    """deploy/nginx/ddbdjango.conf with its PROXY_* variables set, as the nginx image renders it."""
    values = {"PROXY_UPSTREAM": upstream, "PROXY_LISTEN": listen}
    text = NGINX_SITE.read_text()
    names = set(re.findall(r"\$\{(PROXY_\w+)\}", text))
    assert names == set(values), f"template variables {sorted(names)} != {sorted(values)}"
    return re.sub(r"\$\{(PROXY_\w+)\}", lambda m: values[m.group(1)], text)


def nginx_main_conf(prefix: Path, site: Path) -> str:
    """A main nginx.conf like the image's, with every path under ``prefix``."""
    # As root, nginx's workers would run as "nobody", who cannot read pytest's
    # private tmp directory; the image runs them as its own nginx user.
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = prefix / "temp"
    return (
        f"{user}worker_processes 1;\ndaemon off;\npid {prefix / 'nginx.pid'};\nerror_log {prefix / 'error.log'} info;\n"
        "events { worker_connections 256; }\n"
        "http {\n"
        f"    access_log {prefix / 'access.log'};\n"
        f"    client_body_temp_path {temp / 'body'};\n"
        f"    proxy_temp_path {temp / 'proxy'};\n"
        f"    fastcgi_temp_path {temp / 'fastcgi'};\n"
        f"    uwsgi_temp_path {temp / 'uwsgi'};\n"
        f"    scgi_temp_path {temp / 'scgi'};\n"
        f"    include {site};\n"
        "}\n"
    )


def nginx_prefix(tmp_path: Path, upstream: str, listen: str) -> Path:
    """Lay out a prefix like the image's /etc/nginx/: the rendered site and errors/."""
    prefix = tmp_path / f"nginx-{listen.rsplit(':', 1)[-1]}"
    (prefix / "temp").mkdir(parents=True)
    (prefix / "errors").symlink_to(NGINX_DIR / "errors", target_is_directory=True)
    site = prefix / "ddbdjango.conf"
    site.write_text(render_site(upstream, listen))
    (prefix / "nginx.conf").write_text(nginx_main_conf(prefix, site))
    return prefix


def nginx_command(binary: str, prefix: Path, *args: str) -> list[str]:
    return [binary, "-p", f"{prefix}/", "-e", str(prefix / "error.log"), "-c", str(prefix / "nginx.conf"), *args]


@contextlib.contextmanager
def nginx(tmp_path: Path, upstream_port: int) -> Iterator[Server]:
    """deploy/nginx in front of 127.0.0.1:upstream_port, on a free port."""
    binary = nginx_binary()
    port = free_port()
    prefix = nginx_prefix(tmp_path, f"127.0.0.1:{upstream_port}", f"127.0.0.1:{port}")
    log = prefix / "error.log"
    log.touch()
    proc = subprocess.Popen(
        nginx_command(binary, prefix), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    server = Server(proc, port, log)
    try:
        _wait_for_port(server, "nginx")
        yield server
    finally:
        _stop(proc, signal.SIGQUIT)


# --- raw HTTP ---------------------------------------------------------------------


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


def read_until_closed(sock: socket.socket, timeout: float) -> bytes:
    """Everything the server sends until it closes (or resets) the connection."""
    sock.settimeout(timeout)
    data = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            data += chunk
    return data


def parse(raw: bytes) -> Response:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Response(status, headers, body)


def read_response(sock: socket.socket, timeout: float) -> bytes:
    """One answer: up to the end of its Content-Length body, or until the server closes."""
    sock.settimeout(timeout)
    data = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            data += chunk
            head, found, body = data.partition(b"\r\n\r\n")
            length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
            if found and length and len(body) >= int(length.group(1)):
                break
    return data


def request(port: int, raw: bytes, timeout: float = 10.0) -> Response:
    """Send raw bytes (a whole request, or its headers) and parse the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(raw)
        return parse(read_response(sock, timeout))


def get(port: int, path: str, *headers: str, timeout: float = 10.0) -> Response:
    lines = [f"GET {path} HTTP/1.1", "Host: localhost", "Connection: close", *headers]
    return request(port, ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"), timeout)


def send_partial(port: int, raw: bytes) -> socket.socket:
    """Open a connection, send part of a request, then stall (the caller closes it)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(raw)
    return sock


def stalled_post(port: int, path: str = "/api/authors/", declared: int = 1000) -> socket.socket:
    """Send a POST's headers and the start of its body, then stall."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        f"Content-Length: {declared}\r\n\r\n"
    )
    return send_partial(port, head.encode("latin-1") + b'{"username": "slow')
