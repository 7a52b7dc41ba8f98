"""Coherence across processes: DynamoDB Streams read once per host, changes applied to every process's caches.

- reader.py: :class:`StreamReader` reads each table's stream, shard by shard, into messages.
- host.py: :func:`start` joins the host (a socket per process, one elected reader holding a lock).

gunicorn's ``post_worker_init`` hook calls :func:`start` in every worker
(config/gunicorn.conf.py); ``stats.stream_status()`` and ``/healthz`` show
the reader's lag. Without streams (dynalite) or a reader, the caches keep
their TTLs.
"""

from .host import Host, host_dir, start, stop
from .reader import StreamReader

__all__ = ["Host", "StreamReader", "host_dir", "start", "stop"]
