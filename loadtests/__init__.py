"""Locust scenarios for the blog API, and the harness `make load` and `make bench` run them with.

Scenarios (run from the repository root: ``locust -f loadtests/<file>.py``):

- ``locustfile.py``  the blog mix: readers (~90%) and writers (~10%)
- ``read_mix.py``    readers only (what ``make bench`` compares caches on/off with)
- ``endpoint.py``    one endpoint at a time, chosen by ``LOADTEST_ENDPOINT``

``tasks.py`` holds the users (one table of read endpoints) and imports locust;
``checks.py``, ``data.py``, ``records.py`` and ``harness.py`` do not, so
``make load`` and ``make bench`` use them without gevent's monkey-patching.
"""
