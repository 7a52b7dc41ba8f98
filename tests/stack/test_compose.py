"""docker-compose.yml, the Dockerfile, .dockerignore and the lock files are wired together.

No Docker engine runs here, so these read the files and check how the pieces
refer to each other (which service a URL names, which stage a build targets,
which port each side uses), not values copied from the files.
"""

from __future__ import annotations

import json
import re
import tomllib
from fnmatch import fnmatch
from urllib.parse import urlsplit

import pytest
from packaging.requirements import Requirement

from scripts import devstack
from tests.stack.deployfiles import (
    ROOT,
    Dockerfile,
    MissingVariable,
    canonical,
    command_list,
    environment,
    interpolate,
    load_compose,
    port_mappings,
    read_lock,
)

# What an operator must export; everything else has a default.
REQUIRED = {"DJANGO_SECRET_KEY": "a-long-random-key-for-this-deployment"}


@pytest.fixture(scope="module")
def services() -> dict:
    return load_compose(REQUIRED)["services"]


@pytest.fixture(scope="module")
def dockerfile() -> Dockerfile:
    return Dockerfile.load()


def default_stack(services: dict) -> dict:
    """The services `docker compose up` starts (no profile needed)."""
    return {name: s for name, s in services.items() if not s.get("profiles")}


def built_stage(service: dict, dockerfile: Dockerfile) -> str | None:
    build = service.get("build")
    if build is None:
        return None
    build = {"context": build} if isinstance(build, str) else build
    assert (ROOT / build["context"]).resolve() == ROOT, "built from the repository root"
    assert build.get("dockerfile", "Dockerfile") == "Dockerfile"
    return build.get("target", dockerfile.final)


def web_service(services: dict, dockerfile: Dockerfile) -> str:
    """The one service that runs the API: built from the stage whose command is gunicorn."""
    names = [
        name
        for name, s in services.items()
        if (stage := built_stage(s, dockerfile)) and dockerfile.command(stage)[0] == "gunicorn"
    ]
    assert len(names) == 1, names
    return names[0]


def proxy_service(services: dict) -> str:
    names = [name for name, s in services.items() if s.get("image", "").startswith("nginx:")]
    assert len(names) == 1, names
    return names[0]


def image_port(dockerfile: Dockerfile, stage: str) -> int:
    """The port gunicorn binds in the image (PORT, read by config/gunicorn.conf.py)."""
    return int(dockerfile.env(stage)["PORT"])


# --- compose: secrets and interpolation ----------------------------------------------


def test_compose_refuses_to_start_without_a_secret_key():
    with pytest.raises(MissingVariable, match="DJANGO_SECRET_KEY"):
        load_compose({})


def test_compose_passes_the_operators_secret_key_through(services, dockerfile):
    env = environment(services[web_service(services, dockerfile)])
    assert env["DJANGO_SECRET_KEY"] == REQUIRED["DJANGO_SECRET_KEY"]


def test_compose_keeps_debug_off_unless_asked(services, dockerfile):
    web = web_service(services, dockerfile)
    assert environment(services[web]).get("DJANGO_DEBUG", "0").lower() in {"0", "false", "no", "off", ""}
    flipped = load_compose({**REQUIRED, "DJANGO_DEBUG": "1"})["services"][web]
    assert environment(flipped)["DJANGO_DEBUG"] == "1"


def test_the_api_trusts_its_proxy_for_client_addresses_and_takes_limits_and_admin_token(services, dockerfile):
    web = web_service(services, dockerfile)
    env = environment(services[web])
    assert env["DJANGO_TRUSTED_PROXY"] == "1"
    assert env["DJANGO_ADMIN_TOKEN"] == ""  # none unless the operator gives one
    assert "ports" not in services[web]  # only nginx reaches it, so X-Real-IP is nginx's
    given = {**REQUIRED, "DJANGO_ADMIN_TOKEN": "t" * 40, "DJANGO_RATE_LIMIT_ADDRESS": "0"}
    env = environment(load_compose(given)["services"][web])
    assert env["DJANGO_ADMIN_TOKEN"] == "t" * 40 and env["DJANGO_RATE_LIMIT_ADDRESS"] == "0"


def test_interpolation_follows_compose_rules():
    env = {"SET": "x", "EMPTY": ""}
    assert interpolate("${SET:-d} ${EMPTY:-d} ${EMPTY-d} ${UNSET-d} $$SET $SET", env) == "x d  d $SET x"
    with pytest.raises(MissingVariable):
        interpolate("${EMPTY:?needed}", env)


# --- compose: wiring -------------------------------------------------------------------


def test_every_service_of_the_default_stack_has_a_healthcheck(services):
    for name, service in default_stack(services).items():
        test = command_list(service.get("healthcheck", {}).get("test", []))
        assert test and test[0] != "NONE", f"{name} has no healthcheck"


def test_every_dependency_waits_for_a_healthy_service(services):
    for name, service in services.items():
        for dependency, condition in (service.get("depends_on") or {}).items():
            assert condition == {"condition": "service_healthy"}, (name, dependency)
            assert "healthcheck" in services[dependency], f"{name} waits for {dependency}, which has no healthcheck"


def test_the_api_is_built_from_the_dockerfile_and_talks_to_localstack(services, dockerfile):
    web = services[web_service(services, dockerfile)]
    endpoint = urlsplit(environment(web)["AWS_ENDPOINT_URL_DYNAMODB"])
    assert endpoint.hostname in services, "the endpoint names a compose service"
    localstack = services[endpoint.hostname]
    assert localstack["image"].startswith("localstack/localstack:")
    assert endpoint.port == 4566  # LocalStack's edge port
    assert "dynamodb" in environment(localstack)["SERVICES"].split(",")
    assert endpoint.hostname in web["depends_on"]


def test_localstack_is_the_last_tokenless_release_and_takes_a_token_when_given(services):
    (name,) = [n for n, s in services.items() if s.get("image", "").startswith("localstack/")]
    assert services[name]["image"] == "localstack/localstack:4.14.0"
    with_token = load_compose({**REQUIRED, "LOCALSTACK_AUTH_TOKEN": "tok"})["services"][name]
    assert environment(with_token)["LOCALSTACK_AUTH_TOKEN"] == "tok"


def test_only_the_proxy_publishes_a_port_and_on_loopback_by_default(services):
    publishing = {name for name, s in services.items() if s.get("ports")}
    assert publishing == {proxy_service(services)}
    (mapping,) = port_mappings(services[proxy_service(services)])
    assert mapping.host_ip == "127.0.0.1"


def test_the_published_address_is_configurable(services):
    proxy = proxy_service(services)
    opened = load_compose({**REQUIRED, "WEB_BIND": "0.0.0.0", "WEB_PORT": "9000"})["services"][proxy]
    (mapping,) = port_mappings(opened)
    assert (mapping.host_ip, mapping.host_port) == ("0.0.0.0", "9000")


def test_the_proxy_is_pinned_and_forwards_to_gunicorns_port(services, dockerfile):
    proxy = services[proxy_service(services)]
    assert re.fullmatch(r"nginx:\d+\.\d+\.\d+(-[a-z0-9.]+)?@sha256:[0-9a-f]{64}", proxy["image"])
    env = environment(proxy)
    web = web_service(services, dockerfile)
    host, port = env["PROXY_UPSTREAM"].rsplit(":", 1)
    assert host == web
    assert int(port) == int(
        environment(services[web]).get("PORT", image_port(dockerfile, services[web]["build"]["target"]))
    )
    (mapping,) = port_mappings(proxy)
    assert mapping.container_port == env["PROXY_LISTEN"]
    assert web in proxy["depends_on"]


def test_the_proxy_mounts_the_repositorys_nginx_config_as_its_template(services):
    mounts = [v.split(":") for v in services[proxy_service(services)]["volumes"]]
    assert all(mode == "ro" for _src, _dst, mode in mounts), "the proxy cannot change its config"
    templates = [(src, dst) for src, dst, _mode in mounts if dst.startswith("/etc/nginx/templates/")]
    assert templates, "the nginx config is rendered from /etc/nginx/templates/"
    for src, dst in templates:
        assert (ROOT / src).is_file() and dst.endswith(".conf.template")
    assert (ROOT / "deploy/nginx/errors").resolve() in {(ROOT / src).resolve() for src, _dst, _mode in mounts}


def test_the_proxy_healthcheck_asks_its_own_health_location(services):
    proxy = services[proxy_service(services)]
    url = next(arg for arg in command_list(proxy["healthcheck"]["test"]) if arg.startswith("http"))
    assert urlsplit(url).port == int(environment(proxy)["PROXY_LISTEN"])
    site = (ROOT / "deploy/nginx/ddbdjango.conf").read_text()
    assert f"location = {urlsplit(url).path} " in site


def test_the_api_healthcheck_asks_healthz_on_gunicorns_port_with_an_allowed_host(services, dockerfile):
    name = web_service(services, dockerfile)
    web = services[name]
    code = command_list(web["healthcheck"]["test"])[-1]
    compile(code, "<web healthcheck>", "exec")
    url = urlsplit(re.search(r"http://[^'\"]+", code).group(0))
    assert url.path == "/healthz"
    assert url.port == image_port(dockerfile, web["build"]["target"])
    hosts = environment(web)["DJANGO_ALLOWED_HOSTS"].split(",")
    assert url.hostname in hosts
    # Overriding the public names keeps what the healthcheck needs.
    custom = load_compose({**REQUIRED, "DJANGO_ALLOWED_HOSTS": "api.example.com"})["services"][name]
    assert {"api.example.com", url.hostname} <= set(environment(custom)["DJANGO_ALLOWED_HOSTS"].split(","))


def test_locust_runs_only_under_the_load_profile_against_the_api(services, dockerfile):
    locust = services["locust"]
    assert locust["profiles"] == ["load"]
    assert built_stage(locust, dockerfile) in dockerfile.stages
    command = [str(c) for c in locust["command"]]
    target = urlsplit(command[command.index("--host") + 1])
    web = web_service(services, dockerfile)
    assert target.hostname == web
    assert target.port == image_port(dockerfile, services[web]["build"]["target"])
    assert (ROOT / command[command.index("-f") + 1]).is_file()
    assert target.hostname in environment(services[web])["DJANGO_ALLOWED_HOSTS"].split(",")


# --- Dockerfile -------------------------------------------------------------------------


def test_the_image_runs_exactly_the_make_run_gunicorn_command(dockerfile):
    command = dockerfile.command(dockerfile.final)
    assert command == devstack.GUNICORN_CMD
    assert (ROOT / command[command.index("-c") + 1]).is_file()


def test_every_base_image_is_pinned_by_version_and_digest(dockerfile):
    for stage in dockerfile.order:
        base = dockerfile.base_image(stage)
        assert re.fullmatch(r"python:3\.11\.\d+-slim-[a-z]+@sha256:[0-9a-f]{64}", base), (stage, base)


def test_the_dockerfile_says_how_to_refresh_the_digest():
    assert "docker buildx imagetools inspect" in (ROOT / "Dockerfile").read_text()


def test_pip_installs_only_hashed_locks_or_the_projects_own_wheel(dockerfile):
    runs = [args for stage in dockerfile.order for kw, args in dockerfile.stages[stage] if kw == "RUN"]
    installs = [cmd for run in runs for cmd in re.split(r"&&|;", run) if re.search(r"\bpip (install|wheel)\b", cmd)]
    assert installs
    for cmd in installs:
        assert "--no-deps" in cmd, cmd
        if "--require-hashes" in cmd:
            lock = re.search(r"-r\s+(\S+)", cmd).group(1)
            assert (ROOT / "requirements" / lock.rsplit("/", 1)[-1]).is_file(), cmd
        else:  # the project itself, built here from the copied source
            assert "/wheels" in cmd or re.search(r"pip wheel .*--no-build-isolation.* \.$", cmd.strip()), cmd


def test_the_web_image_runs_as_an_unprivileged_user_that_owns_no_code(dockerfile):
    user = dockerfile.effective(dockerfile.final, "USER")[-1].split(":")[0]
    assert user not in {"root", "0"}
    for sources, _destination, flags in dockerfile.copies(dockerfile.final):
        assert "chown" not in flags, f"COPY {sources} hands files to a non-root owner"
    run_lines = " ".join(dockerfile.effective(dockerfile.final, "RUN"))
    assert "chown" not in run_lines and "chmod" not in run_lines


def test_the_web_image_ships_only_what_the_service_needs(dockerfile):
    shipped = {
        source.rstrip("/")
        for sources, _destination, flags in dockerfile.copies(dockerfile.final)
        if "from" not in flags
        for source in sources
    }
    assert shipped <= {"manage.py", "config/gunicorn.conf.py"}, shipped
    # Everything else comes from the build stage, which copies only the packages the wheel holds.
    build_sources = {s.rstrip("/") for sources, _, flags in dockerfile.copies("build") for s in sources}
    for unwanted in ("tests", "bench", "loadtests", "docs", "scripts", "."):
        assert unwanted not in build_sources | shipped


def test_dockerignore_is_an_allowlist_that_covers_every_copy(dockerfile):
    lines = [ln.strip() for ln in (ROOT / ".dockerignore").read_text().splitlines()]
    rules = [ln for ln in lines if ln and not ln.startswith("#")]
    assert rules[0] == "*", "start from nothing, then allow"
    allowed = [r[1:].rstrip("/") for r in rules if r.startswith("!")]
    for unwanted in ("tests", "bench", "docs", "scripts", ".git", ".venv", ".env", "node_modules"):
        assert not any(a == unwanted or a.startswith(unwanted + "/") for a in allowed), unwanted
    for stage in dockerfile.order:
        for sources, _destination, flags in dockerfile.copies(stage):
            if "from" in flags:
                continue
            for source in sources:
                path = source.rstrip("/")
                covered = (path == a or path.startswith(a + "/") or fnmatch(path, a) for a in allowed)
                assert any(covered), f"COPY {source} is not in .dockerignore's allowlist"
                assert (ROOT / path).exists(), source


def test_the_image_healthcheck_asks_healthz_with_the_standard_library(dockerfile):
    healthcheck = dockerfile.effective(dockerfile.final, "HEALTHCHECK")[-1]
    command = json.loads(healthcheck[healthcheck.index("CMD") + len("CMD") :].strip())
    code = command[-1]
    compile(code, "<docker healthcheck>", "exec")
    assert "urllib" in code
    url = urlsplit(re.search(r"http://[^'\"]+", code).group(0))
    assert (url.path, url.port) == ("/healthz", image_port(dockerfile, dockerfile.final))


# --- lock files -------------------------------------------------------------------------


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


LOCKS = {
    "prod.txt": lambda p: p["project"]["dependencies"],
    "build.txt": lambda p: p["build-system"]["requires"],
    "load.txt": lambda p: [r for r in p["project"]["optional-dependencies"]["dev"] if r.startswith("locust")],
}


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_lock_pins_every_package_with_hashes(lock):
    pins = read_lock(ROOT / "requirements" / lock)
    assert pins
    for pin in pins.values():
        assert re.fullmatch(r"[\w.!+]+", pin.version), f"{pin.name} is not pinned with =="
        assert pin.hashes and all(re.fullmatch(r"[0-9a-f]{64}", h) for h in pin.hashes), pin.name


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_lock_satisfies_pyproject(lock):
    """A stale lock (pyproject changed, `make lock` not run) fails here."""
    pins = read_lock(ROOT / "requirements" / lock)
    for spec in LOCKS[lock](pyproject()):
        requirement = Requirement(spec)
        pin = pins.get(canonical(requirement.name))
        assert pin, f"{requirement.name} is missing from requirements/{lock}; run `make lock`"
        assert requirement.specifier.contains(pin.version, prereleases=True), (
            f"requirements/{lock} pins {pin.name}=={pin.version}, pyproject wants {requirement}; run `make lock`"
        )


def test_make_lock_regenerates_the_locks_with_hashes():
    text = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^lock:[^\n]*\n((?:\t[^\n]*\n)+)", text, re.MULTILINE)
    assert recipe, "no lock target"
    assert "--generate-hashes" in text and "pip-compile" in text
    for lock in LOCKS:
        assert f"requirements/{lock}" in recipe.group(1)


def test_make_run_launches_devstack_and_make_test_runs_pytest():
    text = (ROOT / "Makefile").read_text()
    assert re.search(r"^run:.*\n\t.*-m scripts\.devstack", text, re.MULTILINE)
    assert re.search(r"^test:.*\n\t.*pytest", text, re.MULTILINE)
