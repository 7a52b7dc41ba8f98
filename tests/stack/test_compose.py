"""docker-compose.yml and the Dockerfile are wired as documented.

Docker cannot run here, so these read the files: images and tags, ports,
healthchecks, depends_on conditions, environment, the load profile, and that
the container runs exactly the gunicorn command `make run` runs.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def load_devstack():
    spec = importlib.util.spec_from_file_location("devstack", ROOT / "scripts" / "devstack.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_INTERPOLATION = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")


def interpolate(value):
    """Resolve compose's ${VAR:-default} to its default, as with an empty shell."""
    if isinstance(value, str):
        return _INTERPOLATION.sub(lambda m: m.group(2) or "", value)
    if isinstance(value, list):
        return [interpolate(v) for v in value]
    if isinstance(value, dict):
        return {k: interpolate(v) for k, v in value.items()}
    return value


@pytest.fixture(scope="module")
def compose() -> dict:
    return interpolate(yaml.safe_load((ROOT / "docker-compose.yml").read_text()))


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def healthcheck_command(service: dict) -> list[str]:
    test = service["healthcheck"]["test"]
    if isinstance(test, str):
        return ["CMD-SHELL", test]
    return test


def python_snippet(command: list[str]) -> str:
    """The code of a ["CMD", "python", "-c", code] healthcheck."""
    assert command[0] == "CMD", command
    assert Path(command[1]).name.startswith("python"), command
    assert command[2] == "-c", command
    return command[3]


# --- compose ------------------------------------------------------------------


def test_services_are_localstack_web_and_locust(services):
    assert set(services) == {"localstack", "web", "locust"}


def test_localstack_is_pinned_to_the_last_tokenless_release(services):
    assert services["localstack"]["image"] == "localstack/localstack:4.14.0"


def test_localstack_runs_only_dynamodb_on_4566(services):
    localstack = services["localstack"]
    assert environment(localstack)["SERVICES"] == "dynamodb"
    assert any(str(p).endswith("4566:4566") for p in localstack["ports"])


def test_localstack_healthcheck_asks_its_health_endpoint_for_dynamodb(services):
    code = python_snippet(healthcheck_command(services["localstack"]))
    compile(code, "<localstack healthcheck>", "exec")
    assert "http://localhost:4566/_localstack/health" in code
    assert "dynamodb" in code


def test_web_is_built_from_the_dockerfile_and_published_on_8000(services):
    web = services["web"]
    assert web["build"]["context"] == "."
    assert web["build"].get("target", "web") == "web"
    assert "8000:8000" in [str(p) for p in web["ports"]]


def test_web_points_at_localstack_with_dummy_credentials(services):
    env = environment(services["web"])
    assert env["AWS_ENDPOINT_URL_DYNAMODB"] == "http://localstack:4566"
    assert env["AWS_REGION"]
    assert env["AWS_ACCESS_KEY_ID"] and env["AWS_SECRET_ACCESS_KEY"]
    assert env["DYNAMO_CREATE_TABLES_ON_STARTUP"].lower() in {"1", "true", "yes", "on"}


def test_web_runs_with_a_secret_key_and_accepts_its_service_name(services):
    env = environment(services["web"])
    assert env["DJANGO_SECRET_KEY"]
    assert env.get("DJANGO_DEBUG", "0").lower() in {"0", "false", "no", "off", ""}
    hosts = [h.strip() for h in env["DJANGO_ALLOWED_HOSTS"].split(",")]
    assert {"localhost", "127.0.0.1", "web"} <= set(hosts)


def test_web_starts_only_once_localstack_is_healthy(services):
    assert services["web"]["depends_on"] == {"localstack": {"condition": "service_healthy"}}


def test_web_healthcheck_asks_healthz(services):
    code = python_snippet(healthcheck_command(services["web"]))
    compile(code, "<web healthcheck>", "exec")
    assert "http://127.0.0.1:8000/healthz" in code


def test_locust_runs_only_under_the_load_profile(services):
    assert services["locust"]["profiles"] == ["load"]


def test_locust_runs_the_locustfile_headless_against_web(services):
    locust = services["locust"]
    command = locust["command"]
    command = shlex.split(command) if isinstance(command, str) else [str(c) for c in command]
    assert command[0] == "locust"
    assert command[command.index("-f") + 1] == "loadtests/locustfile.py"
    assert "--headless" in command
    assert command[command.index("--host") + 1] == "http://web:8000"
    assert locust["depends_on"] == {"web": {"condition": "service_healthy"}}


def test_the_locustfile_compose_runs_exists(services):
    assert (ROOT / "loadtests" / "locustfile.py").is_file()


def test_locust_image_is_a_stage_of_the_dockerfile(services, dockerfile):
    build = services["locust"].get("build")
    if build is None:
        assert services["locust"]["image"].startswith("locustio/locust:")
    else:
        assert build["context"] == "."
        assert build["target"] in dockerfile.stages


# --- Dockerfile ---------------------------------------------------------------


class Dockerfile:
    """Just enough of a Dockerfile parser: instructions grouped into stages."""

    def __init__(self, text: str) -> None:
        joined = re.sub(r"\\\n", " ", "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("#")))
        self.stages: dict[str, list[tuple[str, str]]] = {}
        self.bases: dict[str, str] = {}
        self.order: list[str] = []
        current = None
        for line in joined.splitlines():
            if not line.strip():
                continue
            keyword, _, args = line.strip().partition(" ")
            keyword, args = keyword.upper(), args.strip()
            if keyword == "FROM":
                parts = args.split()
                current = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else f"stage{len(self.order)}"
                self.stages[current], self.bases[current] = [], parts[0]
                self.order.append(current)
            else:
                self.stages[current].append((keyword, args))

    def chain(self, stage: str) -> list[str]:
        """The stage and the stages it builds FROM, innermost first."""
        names = [stage]
        while self.bases[names[-1]] in self.stages:
            names.append(self.bases[names[-1]])
        return list(reversed(names))

    def effective(self, stage: str, keyword: str) -> list[str]:
        return [args for name in self.chain(stage) for kw, args in self.stages[name] if kw == keyword]

    @property
    def final(self) -> str:
        return self.order[-1]


@pytest.fixture(scope="module")
def dockerfile() -> Dockerfile:
    return Dockerfile((ROOT / "Dockerfile").read_text())


def test_docker_image_runs_exactly_the_make_run_gunicorn_command(dockerfile):
    devstack = load_devstack()
    cmd = json.loads(dockerfile.effective(dockerfile.final, "CMD")[-1])
    assert cmd == devstack.GUNICORN_CMD
    assert cmd == ["gunicorn", "-c", "config/gunicorn.conf.py", "config.wsgi:application"]
    assert (ROOT / cmd[2]).is_file()


def test_docker_image_is_slim_python_311(dockerfile):
    base = dockerfile.bases[dockerfile.chain(dockerfile.final)[0]]
    assert base.startswith("python:3.11-slim")


def test_docker_image_runs_as_a_non_root_user(dockerfile):
    user = dockerfile.effective(dockerfile.final, "USER")[-1]
    assert user.split(":")[0] not in {"root", "0"}


def test_docker_dependencies_are_installed_before_the_source_is_copied(dockerfile):
    steps = [(kw, args) for name in dockerfile.chain(dockerfile.final) for kw, args in dockerfile.stages[name]]
    copy_project = next(i for i, (kw, a) in enumerate(steps) if kw == "COPY" and "pyproject.toml" in a)
    install = next(i for i, (kw, a) in enumerate(steps) if kw == "RUN" and "pip install" in a)
    copy_all = next(i for i, (kw, a) in enumerate(steps) if kw == "COPY" and re.search(r"(^|\s)\.\s+\.$", a))
    assert copy_project < install < copy_all


def test_docker_image_listens_on_all_interfaces_port_8000(dockerfile):
    env = " ".join(dockerfile.effective(dockerfile.final, "ENV"))
    assert "HOST=0.0.0.0" in env and "PORT=8000" in env
    assert "8000" in dockerfile.effective(dockerfile.final, "EXPOSE")


def test_docker_healthcheck_asks_healthz_with_the_standard_library(dockerfile):
    healthcheck = dockerfile.effective(dockerfile.final, "HEALTHCHECK")[-1]
    command = json.loads(healthcheck[healthcheck.index("CMD") + len("CMD") :].strip())
    code = python_snippet(["CMD", *command])
    compile(code, "<docker healthcheck>", "exec")
    assert "urllib" in code and "http://127.0.0.1:8000/healthz" in code


def test_dockerignore_keeps_local_state_out_of_the_build_context():
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {".git", ".venv", "node_modules"} <= ignored


# --- Makefile -----------------------------------------------------------------


def make_recipe(target: str) -> str:
    text = (ROOT / "Makefile").read_text()
    match = re.search(rf"^{target}:[^\n]*\n((?:\t[^\n]*\n)+)", text, re.MULTILINE)
    assert match, f"no {target} target"
    return match.group(1)


def test_make_run_launches_devstack_and_make_test_runs_pytest():
    assert "scripts/devstack.py" in make_recipe("run")
    assert "pytest" in make_recipe("test")
