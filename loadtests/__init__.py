"""Locust scenarios for the blog API, and the helpers `make load` and `make bench` share.

Scenarios (one file each, run with ``locust -f loadtests/<file>.py``):

- ``locustfile.py``  the blog mix: readers (~90%) and writers (~10%)
- ``read_mix.py``    readers only (what ``make bench`` compares caches on/off with)
- ``endpoint.py``    one endpoint at a time, chosen by ``LOADTEST_ENDPOINT``

``common.py`` (configuration, data pool, response checks, Server-Timing tally)
and ``harness.py`` (starting the stack, running locust, reading its CSV) do not
import locust, so the benchmark can use them without gevent's monkey-patching.
"""
