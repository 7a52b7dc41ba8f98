"""Readers only: the read mix that `make bench` runs with caches on and off.

    locust -f loadtests/read_mix.py --host http://127.0.0.1:8000

The only writes are the view-count increments of ``GET /api/posts/<pk>/``.
"""

from __future__ import annotations

import sys
from pathlib import Path

if str(Path(__file__).resolve().parents[1]) not in sys.path:  # `loadtests` as a package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from loadtests.readers import BlogReader  # noqa: E402,F401 - locust collects the User class
