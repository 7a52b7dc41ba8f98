"""End to end: the real stack as `make run` starts it, driven over HTTP.

``python -m scripts.devstack`` starts one moto server, creates the tables and runs
gunicorn with two workers; the test runs the README's curl flow with
`requests`, then sends SIGINT (a terminal's Ctrl-C) and checks that gunicorn,
its workers and the emulator are all gone.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests

from scripts.processes import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 90.0
STOP_TIMEOUT = 30.0


def children_of(pid: int) -> list[int]:
    """Direct children of pid, from /proc (Linux)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces, so split after ')'.
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def is_running(pid: int) -> bool:
    """True while pid exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


class Stack:
    """``python -m scripts.devstack`` (what `make run` runs) in a subprocess, its output collected in a thread."""

    def __init__(self, tmp_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            k: v
            for k, v in os.environ.items()
            # A fresh shell: no endpoint, no Django or DynamoDB settings from the test run.
            if not k.startswith(("DJANGO_", "DYNAMO_", "AWS_ENDPOINT_URL"))
        }
        env.update(
            PORT=str(self.port),
            DYNAMO_EMULATOR_PORT=str(free_port()),
            DEVSTACK_STATE_DIR=str(tmp_path / "run"),
            WEB_CONCURRENCY="2",
            GUNICORN_THREADS="4",
            PYTHONUNBUFFERED="1",
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "scripts.devstack"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines[-80:])

    def pid_of(self, pattern: str) -> int:
        for line in self.lines:
            match = re.search(pattern, line)
            if match:
                return int(match.group(1))
        raise AssertionError(f"no line matching {pattern!r} in devstack output:\n{self.output}")

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"devstack exited with {self.proc.returncode}:\n{self.output}")
            try:
                if requests.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        pytest.fail(f"/healthz did not answer 200 within {START_TIMEOUT:.0f}s:\n{self.output}")

    def interrupt(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(STOP_TIMEOUT)

    def kill_everything(self, pids: list[int]) -> None:
        for pid in [self.proc.pid, *pids]:
            if pid == self.proc.pid and self.proc.poll() is not None:
                continue  # reaped: its pid may belong to someone else now
            if pid != self.proc.pid and not is_running(pid):
                continue
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        self.proc.wait(10)


@pytest.fixture
def stack(tmp_path):
    stack = Stack(tmp_path)
    started: list[int] = []
    stack.started = started
    try:
        yield stack
    finally:
        if stack.proc.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                stack.interrupt()  # let devstack clean up after itself first
        stack.kill_everything(started)


def assert_json_error(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] and error["message"]
    return error


def test_make_run_stack_serves_the_readme_flow_and_stops_cleanly(stack):
    stack.wait_healthy()
    emulator_pid = stack.pid_of(r"emulator ready \(pid (\d+)\)")
    gunicorn_pid = stack.pid_of(r"gunicorn started \(pid (\d+)\)")
    workers = children_of(gunicorn_pid)
    stack.started.extend([emulator_pid, gunicorn_pid, *workers])
    assert len(workers) == 2, f"expected 2 gunicorn workers, found {workers}"
    assert f"serving the API at {stack.url}" in stack.output

    # One keep-alive session: each worker has its own item cache, and the
    # README's flow is one client's view of its own writes.
    http = requests.Session()
    api = f"{stack.url}/api"
    suffix = uuid.uuid4().hex[:8]

    health = http.get(f"{stack.url}/healthz", timeout=5)
    assert health.status_code == 200 and health.json()["status"] == "ok"

    # Create an author.
    response = http.post(
        f"{api}/authors/",
        json={"username": f"alice-{suffix}", "email": "alice@example.com", "bio": "Writer"},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    author = response.json()
    assert author["username"] == f"alice-{suffix}"
    assert author["email"] == "alice@example.com"
    assert uuid.UUID(author["pk"])
    # Sign-up answers the author's API token, once; writes send it.
    auth = {"Authorization": f"Bearer {author['token']}"}
    assert "email" not in http.get(f"{api}/authors/{author['pk']}/", timeout=10).json()

    # Without the token a write is refused.
    payload = {"title": "Hello DynamoDB", "slug": f"hello-dynamodb-{suffix}", "published": True}
    response = http.post(f"{api}/posts/", json=payload, timeout=10)
    assert_json_error(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")

    # Create a post.
    response = http.post(f"{api}/posts/", json={**payload, "author_pk": author["pk"]}, headers=auth, timeout=10)
    assert response.status_code == 201, response.text
    post = response.json()
    assert post["title"] == "Hello DynamoDB"
    assert post["author_pk"] == author["pk"]
    assert post["published"] is True

    # A duplicate slug is a conflict.
    response = http.post(
        f"{api}/posts/",
        json={"title": "Again", "slug": f"hello-dynamodb-{suffix}"},
        headers=auth,
        timeout=10,
    )
    assert_json_error(response, 409)

    # List posts: the new post, with its author embedded.
    response = http.get(f"{api}/posts/", timeout=10)
    assert response.status_code == 200, response.text
    assert "Server-Timing" in response.headers
    listing = response.json()
    assert "next_cursor" in listing
    listed = {p["pk"]: p for p in listing["results"]}
    assert post["pk"] in listed
    assert listed[post["pk"]]["author"]["pk"] == author["pk"]
    assert listed[post["pk"]]["author"]["username"] == author["username"]

    # Posts of this author.
    response = http.get(f"{api}/posts/", params={"author_pk": author["pk"]}, timeout=10)
    assert response.status_code == 200, response.text
    assert [p["pk"] for p in response.json()["results"]] == [post["pk"]]

    # Get the post: comments (none yet) and an incremented view count.
    response = http.get(f"{api}/posts/{post['pk']}/", timeout=10)
    assert response.status_code == 200, response.text
    detail = response.json()
    assert detail["pk"] == post["pk"]
    assert detail["view_count"] == 1
    assert detail["comments"] == []
    # Each view is counted once, in DynamoDB (a shard of the sharded counter);
    # a worker shows its own views at once and the other worker's once its
    # caches expire (README, "Hot keys"), so across workers counts need not climb by one.
    views = [requests.get(f"{api}/posts/{post['pk']}/", timeout=10).json()["view_count"] for _ in range(4)]
    assert all(2 <= count <= 5 for count in views), views

    # Comment on it.
    response = http.post(f"{api}/posts/{post['pk']}/comments/", json={"body": "First!"}, headers=auth, timeout=10)
    assert response.status_code == 201, response.text
    comment = response.json()
    assert comment["body"] == "First!"

    response = http.get(f"{api}/posts/{post['pk']}/", timeout=10)
    assert response.status_code == 200, response.text
    comments = response.json()["comments"]
    assert [c["pk"] for c in comments] == [comment["pk"]]
    assert comments[0]["author"]["username"] == author["username"]

    # The author still has a post and a comment: deleting them is refused.
    assert_json_error(http.delete(f"{api}/authors/{author['pk']}/", headers=auth, timeout=10), 409)

    # Update the post.
    response = http.put(f"{api}/posts/{post['pk']}/", json={"title": "Updated"}, headers=auth, timeout=10)
    assert response.status_code == 200, response.text
    assert response.json()["title"] == "Updated"

    # Delete the comment, then the post; both are gone afterwards.
    response = http.delete(f"{api}/comments/{comment['pk']}/", headers=auth, timeout=10)
    assert response.status_code in (200, 204), response.text
    response = http.delete(f"{api}/posts/{post['pk']}/", headers=auth, timeout=10)
    assert response.status_code in (200, 204), response.text
    assert_json_error(http.get(f"{api}/posts/{post['pk']}/", timeout=10), 404)
    response = http.delete(f"{api}/authors/{author['pk']}/", headers=auth, timeout=10)
    assert response.status_code in (200, 204), response.text
    # The author's token went with the author, on every worker.
    assert_json_error(requests.post(f"{api}/posts/", json=payload, headers=auth, timeout=10), 401)

    # Errors stay JSON, even for routes that do not exist.
    assert_json_error(http.get(f"{api}/no-such-thing/", timeout=10), 404)
    malformed = http.post(f"{api}/authors/", data="{not json", headers={"Content-Type": "application/json"}, timeout=10)
    assert_json_error(malformed, 400)
    # A body that is not declared JSON (a cross-site form post) is refused.
    text = http.post(f"{api}/authors/", data='{"username": "x", "email": "x@example.com"}', timeout=10)
    assert_json_error(text, 415)
    # A Host the stack does not serve: JSON even with DEBUG on.
    assert_json_error(http.get(f"{api}/posts/", headers={"Host": "evil.example"}, timeout=10), 400)
    http.close()

    # Ctrl-C stops everything devstack started.
    assert stack.interrupt() == 0, stack.output
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(is_running(p) for p in stack.started):
        time.sleep(0.1)
    left = [p for p in stack.started if is_running(p)]
    assert not left, f"still running after Ctrl-C: {left}\n{stack.output}"
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", stack.port), timeout=1).close()
    assert "devstack: stopped" in stack.output


def readme_curl_block() -> str:
    """The bash block under "Try the API" in README.md, exactly as a user copies it."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Try the API") :]
    match = re.search(r"```bash\n(.*?)```", section, re.DOTALL)
    assert match, "README.md has no bash block under 'Try the API'"
    return match.group(1)


def test_readme_curl_examples_run_as_written_against_make_run(stack):
    stack.wait_healthy()
    stack.started.extend(
        [stack.pid_of(r"emulator ready \(pid (\d+)\)"), stack.pid_of(r"gunicorn started \(pid (\d+)\)")]
    )
    script = readme_curl_block().replace("127.0.0.1:8000", f"127.0.0.1:{stack.port}")
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = done.stdout
    assert done.returncode == 0, f"README block failed ({done.returncode}):\n{out}\n{done.stderr}"
    assert '"body": "First!"' in out  # the comment
    assert '"title": "Hello DynamoDB"' in out and '"username": "alice"' in out  # list with author
    assert re.search(r"HTTP/1\.1 200 OK", out) and "Server-Timing: ddb;dur=" in out  # curl -si
    assert '"view_count": 1' in out and '"comments": [' in out
    assert '"title": "Hello again"' in out  # PATCH
    assert '"code": "conflict"' in out  # duplicate slug
    assert "\n204\n" in f"\n{out}"  # DELETE
    assert out.rstrip().splitlines()[-1].startswith('{"status": "ok"')  # healthz
