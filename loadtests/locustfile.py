"""The blog mix: readers (weight 9, ~90%) and writers (weight 1, ~10%).

    locust -f loadtests/locustfile.py --host http://127.0.0.1:8000
    make load                      # headless, CSV + HTML report in reports/

Before the first user starts, each locust process makes sure there is data to
read (seeding authors, posts and comments through the API if there are fewer
than ``LOADTEST_MIN_POSTS`` posts) and loads the pool of posts and authors the
readers pick from. Knobs: ``LOADTEST_*`` in loadtests/common.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

if str(Path(__file__).resolve().parents[1]) not in sys.path:  # `loadtests` as a package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from loadtests.readers import BlogReader  # noqa: E402,F401 - locust collects the User classes
from loadtests.writers import BlogWriter  # noqa: E402,F401
