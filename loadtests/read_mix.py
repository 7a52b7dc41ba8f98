"""Readers only: the read mix `make bench` runs with caches on and off.

    locust -f loadtests/read_mix.py --host http://127.0.0.1:8000

The only writes are the view-count increments of ``GET /api/posts/<pk>/``.
"""

from loadtests.tasks import BlogReader

__all__ = ["BlogReader"]  # the User class locust collects
