# The blog API served by gunicorn, with the same command `make run` uses.
#   docker build -t ddbdjango .                     -> the web image (last stage)
#   docker build --target load -t ddbdjango-load .  -> locust (compose `load` profile)
#
# The base image is pinned by version AND digest (the multi-architecture index),
# so a re-pushed tag cannot change what is built. To move to a newer patch
# release, read the new index digest and update both parts together:
#   docker buildx imagetools inspect python:3.11.X-slim-bookworm   # "Digest: sha256:..."
# Dependencies come from the hashed lock files in requirements/ (`make lock`
# regenerates them from pyproject.toml); pip refuses anything not in them.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d

FROM ${PYTHON_IMAGE} AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1


# Build stage: the locked dependencies and the project's own wheel go into
# /opt/venv; the build tools stay in this stage.
FROM base AS build
WORKDIR /src
RUN python -m venv /opt/build && python -m venv /opt/venv
COPY requirements/build.txt requirements/prod.txt requirements/
RUN /opt/build/bin/pip install --require-hashes --no-deps -r requirements/build.txt \
    && /opt/venv/bin/pip install --require-hashes --no-deps -r requirements/prod.txt
# Only what the wheel is made of: no tests, bench, loadtests, docs or scripts.
COPY pyproject.toml README.md ./
COPY dynamo_backend/ dynamo_backend/
COPY services/ services/
COPY config/ config/
RUN /opt/build/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /wheels . \
    && /opt/venv/bin/pip install --no-deps /wheels/ddbdjango-*.whl


# Load generator: locust from its own lock and the locust scenarios, nothing else.
FROM base AS load
COPY requirements/load.txt /tmp/requirements/load.txt
RUN pip install --require-hashes --no-deps -r /tmp/requirements/load.txt \
    && useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin app
WORKDIR /app
COPY loadtests/ loadtests/
USER 10001:10001
EXPOSE 8089
CMD ["locust", "-f", "loadtests/locustfile.py"]


# The default image: the web service.
FROM base AS web
RUN useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin app
# Code and dependencies are owned by root and only readable by the app user,
# which therefore cannot change what it serves.
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY manage.py ./
COPY config/gunicorn.conf.py config/gunicorn.conf.py

ENV PATH=/opt/venv/bin:$PATH \
    HOST=0.0.0.0 \
    PORT=8000 \
    DJANGO_SETTINGS_MODULE=config.settings

USER 10001:10001
EXPOSE 8000

# No curl in slim images: ask /healthz with the standard library.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status == 200 else 1)"]

CMD ["gunicorn", "-c", "config/gunicorn.conf.py", "config.wsgi:application"]
