"""One read endpoint at a time, for throughput ceilings: ``LOADTEST_ENDPOINT`` names it.

    LOADTEST_ENDPOINT=author_detail LOADTEST_WAIT=0 locust -f loadtests/endpoint.py ...

Endpoints: the keys of ``READS`` in loadtests/tasks.py; ``bare`` asks
``GET /api/authors/<uuid>/`` of bench/bare_app.py, which has no data and needs no pool.
"""

from loadtests.data import SETTINGS
from loadtests.tasks import READS, BlogUser

if SETTINGS.endpoint not in READS:
    raise SystemExit(f"LOADTEST_ENDPOINT={SETTINGS.endpoint!r}: choose one of {', '.join(READS)}")


class EndpointUser(BlogUser):
    """Hits the one endpoint named by ``LOADTEST_ENDPOINT``, checking every answer."""

    tasks = [READS[SETTINGS.endpoint][1]]

    def on_start(self) -> None:
        if SETTINGS.endpoint != "bare":
            super().on_start()
