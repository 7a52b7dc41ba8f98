"""Fixtures of the fault tests: one stack per emulator for the session, faults cleared around each test.

``stack`` is the moto-server stack (transactions, what `make run` serves);
``@pytest.mark.parametrize("stack", ["dynalite"], indirect=True)`` picks
dynalite for a test about something dynalite can do. Stacks start on first
use and stop at the end of the session (every process, see stack.py). The
emulators are this folder's own, never the suite's shared engines.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.processes import Process, ProcessError
from tests import engines
from tests.faults.stack import DEADLINE, BlogStack, fault_rounds_scale, fault_seed, start_emulator

# One seed for the proxies' dice in this run: FAULT_SEED repeats a run's faults
# (not its thread interleavings).
SEED = fault_seed()


def pytest_report_header(config: pytest.Config) -> str:
    return f"faults: FAULT_SEED={SEED} FAULT_ROUNDS={fault_rounds_scale():g} (x default rounds), deadline {DEADLINE:g}s"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """FAULT_ROUNDS multiplies the rounds, so it multiplies pytest-timeout's limit (pyproject's ``timeout``) too."""
    scale = fault_rounds_scale()
    limit = float(config.getini("timeout") or 0)
    if scale <= 1 or not limit:
        return
    for item in items:
        if item.path.is_relative_to(Path(__file__).parent) and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(limit * scale))


class Stacks:
    """The session's emulators and stacks by engine, started lazily; a broken engine fails fast after once."""

    def __init__(self, log_root: Path) -> None:
        self.log_root = log_root
        self.emulators: dict[str, Process] = {}
        self.started: dict[str, BlogStack] = {}
        self.broken: dict[str, str] = {}  # emulators that cannot run here
        self.failed: dict[str, str] = {}  # stacks that did not start

    def _log_dir(self, engine: str) -> Path:
        path = self.log_root / engine
        path.mkdir(parents=True, exist_ok=True)
        return path

    def emulator(self, engine: str) -> Process:
        """The emulator; a missing one (no Node.js for dynalite) is a skip, or a failure under CI=true."""
        if engine in self.broken:
            engines.unavailable(self.broken[engine])
        if engine not in self.emulators:
            try:
                self.emulators[engine] = start_emulator(engine, self._log_dir(engine))
            except ProcessError as exc:
                self.broken[engine] = f"{engine} did not start: {exc}"
                engines.unavailable(self.broken[engine])
        return self.emulators[engine]

    def get(self, engine: str) -> BlogStack:
        """The stack on that emulator; one that cannot start (gunicorn, tables) fails its tests."""
        if engine not in self.started:
            emulator = self.emulator(engine)
            if engine in self.failed:
                pytest.fail(self.failed[engine], pytrace=False)
            try:
                stack = BlogStack(engine, log_dir=self._log_dir(engine), emulator=emulator, seed=SEED)
                self.started[engine] = stack.start()
            except ProcessError as exc:
                self.failed[engine] = f"the {engine} stack did not start: {exc}"
                pytest.fail(self.failed[engine], pytrace=False)
        return self.started[engine]

    def stop(self) -> None:
        for stack in self.started.values():
            stack.stop()
        self.started.clear()
        for process in self.emulators.values():
            process.stop()
        self.emulators.clear()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """A failed test's report ends with the tail of its stack's gunicorn log (warnings and errors)."""
    outcome = yield
    report = outcome.get_result()
    stack = getattr(item, "funcargs", {}).get("stack")
    if report.when == "call" and report.failed and isinstance(stack, BlogStack):
        report.sections.append((f"gunicorn log ({stack.engine} stack, tail)", stack.log_tail()))


@pytest.fixture(scope="session")
def _stacks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stacks]:
    stacks = Stacks(tmp_path_factory.mktemp("fault-stacks"))
    try:
        yield stacks
    finally:
        stacks.stop()


@pytest.fixture
def stack(request: pytest.FixtureRequest, _stacks: Stacks) -> Iterator[BlogStack]:
    """The running stack of this test's engine (moto_server unless parametrized), with no faults set."""
    running = _stacks.get(getattr(request, "param", "moto_server"))
    assert running.proxy is not None
    running.proxy.reset_counts()
    try:
        yield running
    finally:
        running.settle()


@pytest.fixture
def emulator(_stacks: Stacks) -> str:
    """The session's moto server (the stack's too), for the proxy's own tests: pure boto3 through a proxy."""
    return _stacks.emulator("moto_server").url
