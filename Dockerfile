# The blog API served by gunicorn, with the same command `make run` uses.
#   docker build -t ddbdjango .              -> the web image (last stage)
#   docker build --target load -t ddbdjango-load .   -> adds locust (compose `load` profile)

FROM python:3.11-slim AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, in their own layer: rebuilt only when pyproject.toml
# changes, not on every source edit.
COPY pyproject.toml ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; print('\n'.join(p['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && groupadd --gid 10001 app \
    && useradd --create-home --uid 10001 --gid 10001 --shell /usr/sbin/nologin app

# Then the source, owned by the unprivileged user (uid 10001, "app").
# gunicorn and manage.py import it from /app.
COPY --chown=10001:10001 . .

USER 10001:10001

ENV HOST=0.0.0.0 \
    PORT=8000 \
    DJANGO_SETTINGS_MODULE=config.settings

EXPOSE 8000

# No curl in slim images: ask /healthz with the standard library.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status == 200 else 1)"]

CMD ["gunicorn", "-c", "config/gunicorn.conf.py", "config.wsgi:application"]


# Load generator: the web image plus locust (version range from pyproject's dev extra).
FROM runtime AS load
USER 0:0
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; print('\n'.join(d for d in p['optional-dependencies']['dev'] if d.startswith('locust')))" \
        > /tmp/requirements-load.txt \
    && pip install -r /tmp/requirements-load.txt
USER 10001:10001
HEALTHCHECK NONE
EXPOSE 8089
CMD ["locust", "-f", "loadtests/locustfile.py"]


# The default image: the web service.
FROM runtime AS web
