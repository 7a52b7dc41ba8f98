"""The blog mix: readers (weight 9, ~90%) and writers (weight 1, ~10%).

    locust -f loadtests/locustfile.py --host http://127.0.0.1:8000
    make load                      # headless, CSV + HTML report in reports/

Before the first user starts, each locust process makes sure there is data to
read (seeding through the API if there are fewer than ``LOADTEST_MIN_POSTS``
posts) and loads the pool of posts and authors the readers pick from. Knobs:
``LOADTEST_*`` in loadtests/data.py. Run it from the repository root: locust
puts the working directory on ``sys.path``, so ``loadtests`` imports as a package.
"""

from loadtests.tasks import BlogReader, BlogWriter

__all__ = ["BlogReader", "BlogWriter"]  # the User classes locust collects
