"""Issue 10 from outside: the blog through gunicorn (two workers), a fault proxy in front of DynamoDB.

Modules:

* ``proxy.py``: the fault-injecting DynamoDB proxy (also ``python -m tests.faults.proxy``)
* ``stack.py``: emulator -> proxy -> gunicorn, connections pinned to workers by ``X-Worker``
* ``accounting.py``: what the emulator holds, read around the proxy and every cache
* ``test_proxy.py``: the proxy itself, with pure boto3 calls against a moto server;
  ``test_worker_header.py``: the X-Worker switch (pure)
* ``test_stale_cache.py``, ``test_races.py``, ``test_retries.py``, ``test_idempotency.py``,
  ``test_deadline.py``, ``test_bad_input.py``: issue 10's numbered problems

Run them with ``make test PYTEST_ARGS=tests/faults`` (part of every `make test`; about
a minute and a half). Environment:

* ``FAULT_ROUNDS``: multiply the rounds of the race and fault tests (``FAULT_ROUNDS=10``
  for a long run); default 1. It multiplies each test's pytest-timeout limit too
* ``FAULT_SEED``: the proxies' random seed (the run's header prints the one it used)
* ``FAULT_DEADLINE``: the stack's ``DYNAMO_REQUEST_DEADLINE`` in seconds (default 3);
  time limits in the tests derive from it
"""
