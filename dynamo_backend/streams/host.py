"""One stream reader per host, passing every change on to each process of the host that caches.

Every caching process (each gunicorn worker) calls :func:`start`. It binds a
Unix datagram socket in the host's rendezvous directory (``STREAM_DIR``, by
default one per user, endpoint, region and table prefix under the temp
directory, mode 0700) and applies what arrives there to its caches. It also
tries, once a second, to take the directory's lock (``fcntl.flock``). The
process that holds it runs the :class:`~.reader.StreamReader` and sends each
batch of changes, then a heartbeat, to every socket in the directory, its own
included. The lock belongs to the kernel: when the reader's process dies, the
lock goes with it and another process takes over within a second, resuming
from the checkpoint the reader keeps in the directory.

A receiver whose queue is full, or that cannot be reached, misses messages:
it is sent a flush (drop every cache) before anything else, so a missed
change can never leave an old item cached. A change too large for one
datagram travels without its images (the receiver drops the item and the
table's cached queries). Whatever happens to the reader, the caches keep
their TTLs: nothing is ever served older than CACHE_TTL.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import marshal
import os
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from .. import cache, stats
from ..conf import get_setting
from ..options import all_models
from .reader import StreamReader

__all__ = ["Host", "start", "stop", "host_dir"]

logger = logging.getLogger("dynamo_backend.streams")

# How often a process that does not read tries to take the lock.
ELECTION_INTERVAL = 1.0
# Largest datagram sent; larger changes go without their images.
MAX_DATAGRAM = 60_000


def host_dir() -> Path:
    """Return this host's rendezvous directory for the configured endpoint, region and table prefix."""
    configured = get_setting("STREAM_DIR")
    if configured:
        return Path(configured)
    scope = "|".join(str(get_setting(n) or "") for n in ("ENDPOINT_URL", "REGION", "TABLE_PREFIX"))
    digest = hashlib.sha256(scope.encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"ddbdjango-{os.getuid()}-{digest}"


def _private_dir(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.stat()
    if info.st_uid != os.getuid() or info.st_mode & 0o077:
        # Anyone else who can write here could feed our caches: refuse it.
        raise PermissionError(f"{path} must belong to uid {os.getuid()} with mode 0700")
    return path


def _encode(messages: list[tuple]) -> list[bytes]:
    """Pack messages into datagrams of at most MAX_DATAGRAM bytes (a too-large change loses its images)."""
    out: list[bytes] = []
    batch: list[tuple] = []
    size = 0
    for message in messages:
        one = marshal.dumps(message)
        if len(one) > MAX_DATAGRAM and message[0] == "c":
            message = (*message[:3], None, None, False)
            one = marshal.dumps(message)
        if batch and size + len(one) > MAX_DATAGRAM:
            out.append(marshal.dumps(batch))
            batch, size = [], 0
        batch.append(message)
        size += len(one) + 8
    if batch:
        out.append(marshal.dumps(batch))
    return out


def apply(messages: list[tuple], status: stats.StreamStatus) -> None:
    """Apply a batch of messages from the reader to this process's caches and stream status.

    Consecutive changes are applied together (cache.apply_changes: one net
    change per item), in order with the flushes between them.
    """
    changes: list[tuple] = []
    for message in messages:
        kind = message[0]
        if kind == "c":
            changes.append(message[1:])
            status.applied += 1
            continue
        if changes:
            cache.apply_changes(changes)
            changes = []
        if kind == "f":
            cache.flush(message[1])
            status.flushes += 1
        elif kind == "b":
            beat = message[1]
            status.reader_pid = beat["pid"]
            status.watermark = beat["watermark"]
            status.tables = beat["tables"]
            status.reader = beat["reader"]
            status.stale_after = beat["stale_after"]
            status.heard = time.monotonic()
    if changes:
        cache.apply_changes(changes)


class Host:
    """This process's part: a listening socket, and the reader when it holds the lock."""

    def __init__(self, directory: Path, *, name: str | None = None, interval: float | None = None) -> None:
        self.dir = _private_dir(directory)
        self.name = name or f"w{os.getpid()}"
        self.interval = float(get_setting("STREAM_POLL_INTERVAL")) if interval is None else interval
        self.status = stats.stream_status()
        self.stopping = threading.Event()
        self.reader: StreamReader | None = None
        self._lock_file: Any = None
        self._missed: set[str] = set()  # receivers that missed messages: a flush goes first
        self.path = self.dir / f"{self.name}.sock"
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self.inbox = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.inbox.bind(str(self.path))
        with contextlib.suppress(OSError):
            self.inbox.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.inbox.settimeout(0.5)
        self.outbox = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.outbox.setblocking(False)  # a receiver that is not keeping up must never hold the reader
        self.threads = [
            threading.Thread(target=self._listen, name="ddb-stream-listener", daemon=True),
            threading.Thread(target=self._elect, name="ddb-stream-reader", daemon=True),
        ]
        self.status.role = "listener"

    def start(self) -> Host:
        for thread in self.threads:
            thread.start()
        return self

    def stop(self) -> None:
        """Stop both threads, leave the directory and free the lock (another process takes over)."""
        self.stopping.set()
        for thread in self.threads:
            if thread is not threading.current_thread() and thread.is_alive():
                thread.join(timeout=5)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self.inbox.close()
        self.outbox.close()
        if self._lock_file is not None:
            self._lock_file.close()  # closing the file releases the flock
            self._lock_file = None
        self.status.role = "off"

    # --- every process: listen -------------------------------------------------------

    def _listen(self) -> None:
        while not self.stopping.is_set():
            try:
                data = self.inbox.recv(1 << 20)
            except TimeoutError:
                continue
            except OSError:
                if self.stopping.is_set():
                    return
                logger.exception("stream listener: receive failed")
                self.stopping.wait(ELECTION_INTERVAL)
                continue
            try:
                apply(marshal.loads(data), self.status)
            except Exception:  # a bad datagram must not stop coherence; drop everything to be safe
                logger.exception("stream listener: could not apply a message; flushing the caches")
                cache.flush()

    # --- the elected process: read and fan out --------------------------------------

    def _take_lock(self) -> bool:
        handle = open(self.dir / "reader.lock", "a+")  # noqa: SIM115 (held open for as long as we read)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._lock_file = handle
        return True

    def _elect(self) -> None:
        while not self.stopping.is_set():
            if self._take_lock():
                self.status.role = "reader"
                logger.info("stream reader: this process (%s) reads the streams for the host", os.getpid())
                try:
                    self._read()
                except Exception:  # let another process (or this one, later) take over
                    logger.exception("stream reader: stopped; the lock is free again")
                finally:
                    if self._lock_file is not None:
                        self._lock_file.close()
                        self._lock_file = None
                    self.status.role = "listener" if not self.stopping.is_set() else "off"
            self.stopping.wait(ELECTION_INTERVAL)

    def _tables(self) -> list[str]:
        return sorted({m._meta.table_name for m in all_models() if m._meta.effective_cache_ttl()})

    def _read(self) -> None:
        # What one poll delivers goes out in one broadcast with its heartbeat: few datagrams, since
        # a receiver's queue is short (net.unix.max_dgram_qlen, 10 on some kernels).
        pending: list[tuple] = []
        self.reader = reader = StreamReader(self._tables(), pending.extend, checkpoint=self._load_checkpoint())
        saved: dict | None = None
        backoff = self.interval
        while not self.stopping.is_set():
            started, errors = time.monotonic(), reader.counters["errors"]
            try:
                drained = reader.poll()
            except Exception:  # the loop must outlive any failure; the TTLs cover the gap
                logger.exception("stream reader: poll failed")
                drained = False
                reader.counters["errors"] += 1
            self.broadcast([*pending, ("b", self._beat(reader))])
            pending.clear()
            positions = reader.positions()
            if positions != saved:
                self._save_checkpoint(positions)
                saved = positions
            if reader.counters["errors"] > errors:
                backoff = min(backoff * 2, 10.0)  # DynamoDB refuses or is away: back off
                self.stopping.wait(backoff)
            elif drained:
                backoff = self.interval
                self.stopping.wait(max(0.0, self.interval - (time.monotonic() - started)))
            # else: records are still waiting, or a shard just ended: read again at once

    def _beat(self, reader: StreamReader) -> dict:
        counters = {**reader.counters, "record_age_seconds": reader.record_age, "interval": self.interval}
        return {
            "pid": os.getpid(),
            "watermark": reader.watermark,
            "tables": reader.tables(),
            "reader": counters,
            "stale_after": max(5.0, 10 * self.interval),
        }

    def broadcast(self, messages: list[tuple]) -> None:
        """Send messages to every process of the host (this one included)."""
        datagrams = _encode(messages)
        flush = marshal.dumps([("f", None)])
        for path in self.dir.glob("*.sock"):
            target = str(path)
            try:
                if target in self._missed:
                    self.outbox.sendto(flush, target)
                    self._missed.discard(target)
                for datagram in datagrams:
                    self.outbox.sendto(datagram, target)
            except BlockingIOError:
                self._missed.add(target)  # its queue is full: it gets a flush before anything else
            except (ConnectionRefusedError, FileNotFoundError):
                self._missed.discard(target)
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()  # its process is gone
            except OSError:
                logger.exception("stream reader: could not send to %s", target)
                self._missed.add(target)

    def _load_checkpoint(self) -> dict:
        with contextlib.suppress(OSError, ValueError):
            return json.loads((self.dir / "checkpoint.json").read_text())
        return {}

    def _save_checkpoint(self, positions: dict) -> None:
        temporary = self.dir / f"checkpoint.{self.name}.tmp"
        try:
            temporary.write_text(json.dumps(positions))
            os.replace(temporary, self.dir / "checkpoint.json")
        except OSError:
            logger.exception("stream reader: could not save its checkpoint")


_host: Host | None = None
_host_pid: int | None = None
_lock = threading.Lock()


def start() -> Host | None:
    """Join the host's coherence (see the module docstring); None when the caches or STREAMS are off.

    Called once per process, after Django is set up (gunicorn's post_worker_init hook).
    """
    global _host, _host_pid
    if not get_setting("STREAMS") or not get_setting("CACHE_TTL"):
        return None
    with _lock:
        if _host is not None and _host_pid == os.getpid():
            return _host
        try:
            _host, _host_pid = Host(host_dir()).start(), os.getpid()
        except OSError:
            logger.exception("stream listener: cannot join the host's directory; caches rely on their TTLs")
            return None
        return _host


def stop() -> None:
    """Leave the host's coherence (gunicorn's worker_exit hook)."""
    global _host
    with _lock:
        if _host is not None and _host_pid == os.getpid():
            _host.stop()
        _host = None
