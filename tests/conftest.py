"""Shared fixtures: real daemons when they are there, a visible skip when not.

``BATCHDECK_REQUIRE=ssh,slurm,sge`` (set by .ci/run) turns a missing daemon from a
skip into a failure, so CI can never pass by skipping what it should have run.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from contract import Deck

STATE_DIR = Path(os.environ.get("BATCHDECK_CLUSTER_STATE", "/var/tmp/batchdeck-clusters"))
SAMPLES = Path(__file__).parent / "samples"

# Every process this run starts inherits this mark (local runners, jobs, CLI
# processes); the ones started over SSH are known by the sandbox roots below.
# At the end of the run none may still be alive (tests/leftovers.py).
SESSION_MARK = f"BATCHDECK_TEST_SESSION={uuid.uuid4().hex}"
os.environ["BATCHDECK_TEST_SESSION"] = SESSION_MARK.partition("=")[2]
SESSION_ROOTS: set[str] = set()


def required_components() -> set[str]:
    return {c.strip() for c in os.environ.get("BATCHDECK_REQUIRE", "").split(",") if c.strip()}


def need(component: str, available: bool, why: str) -> None:
    """Skip (or, when CI requires the component, fail) a test whose daemon is missing."""
    if available:
        return
    if component in required_components():
        pytest.fail(f"{component} is required (BATCHDECK_REQUIRE) but not available: {why}", pytrace=False)
    pytest.skip(f"{component} not available: {why}")


def read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip().strip("'\"")
    return values


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _command_works(argv: list[str]) -> tuple[bool, str]:
    if shutil.which(argv[0]) is None:
        return False, f"{argv[0]} is not installed (run tests/clusters/up.sh)"
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"{' '.join(argv)} failed: {exc}"
    if proc.returncode != 0:
        return False, f"{' '.join(argv)} failed: {(proc.stderr or proc.stdout).strip()[:200]}"
    return True, ""


@pytest.fixture(scope="session")
def sshd_env() -> dict[str, str]:
    """The private sshd started by tests/clusters/sshd-start.sh (its env file)."""
    env_file = STATE_DIR / "sshd" / "env"
    if not env_file.exists():
        need("ssh", False, f"{env_file} missing (run tests/clusters/sshd-start.sh)")
    env = read_env_file(env_file)
    need(
        "ssh",
        _port_open(env.get("SSHD_HOST", "127.0.0.1"), int(env.get("SSHD_PORT", "2222"))),
        f"nothing listens on {env.get('SSHD_HOST')}:{env.get('SSHD_PORT')} (run tests/clusters/sshd-start.sh)",
    )
    return env


@pytest.fixture(scope="session")
def slurm_cluster() -> None:
    ok, why = _command_works(["sinfo", "-h", "-o", "%P"])
    need("slurm", ok, why)


@pytest.fixture(scope="session")
def sge_cluster() -> None:
    ok, why = _command_works(["qstat", "-g", "c"])
    need("sge", ok, why)


def make_ssh_transport(env: dict[str, str], **overrides: object):  # noqa: ANN201 - SshTransport
    try:
        from batchdeck.backends.transports.ssh import SshTransport
    except ImportError as exc:  # pragma: no cover - only while the SSH transport is missing
        need("ssh", False, f"SshTransport cannot be imported: {exc}")
    settings: dict[str, object] = {
        "host": env["SSHD_HOST"],
        "port": int(env["SSHD_PORT"]),
        "username": env["SSHD_USER"],
        "keyfile": env["SSHD_KEY"],
        "known_hosts": env["SSHD_KNOWN_HOSTS"],
        "ssh_config": None,
        "timeout": 30,
    }
    settings.update(overrides)
    return SshTransport(**settings)


@pytest.fixture(params=["local", "ssh"])
def transport_kind(request: pytest.FixtureRequest) -> str:
    """Run a test once on this machine and once through the real sshd."""
    return request.param


@pytest.fixture
def cluster_transport(transport_kind: str, request: pytest.FixtureRequest):  # noqa: ANN201
    """A Transport of the kind the test is parametrised with."""
    if transport_kind == "local":
        from batchdeck.backends.transports.local import LocalTransport

        return LocalTransport()
    env = request.getfixturevalue("sshd_env")
    return make_ssh_transport(env)


@pytest.fixture
def shared_sandbox_root(transport_kind: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh sandbox root both this process and the job (and the ssh test user) can use; removed after."""
    if transport_kind == "ssh":
        env = request.getfixturevalue("sshd_env")
        root = Path(f"/home/{env['SSHD_USER']}/batchdeck-test/{uuid.uuid4().hex[:8]}")
    else:
        root = Path("/var/tmp/batchdeck-test") / uuid.uuid4().hex[:8]
        root.mkdir(parents=True, exist_ok=True)
    SESSION_ROOTS.add(str(root))
    yield str(root)
    # The sshd's host is this machine: the test may clean up what its jobs left directly.
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never let a test touch the real user's journal or configuration."""
    base = tmp_path_factory.mktemp("userdirs")
    monkeypatch.setenv("BATCHDECK_DATA_DIR", str(base / "data"))
    monkeypatch.setenv("BATCHDECK_CONFIG", str(base / "config" / "batchdeck.toml"))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if a process it started (a local runner, a job) outlived it."""
    from leftovers import describe, leftover_processes

    roots = {*SESSION_ROOTS, str(session.config._tmp_path_factory.getbasetemp())}  # type: ignore[attr-defined]
    left = leftover_processes(SESSION_MARK, roots, wait=20)
    if left:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        lines = [f"{len(left)} process(es) started by this test run are still alive:", *map(describe, left)]
        if reporter is not None:
            reporter.write_line("")
            for line in lines:
                reporter.write_line(line, red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


# ---------------------------------------------------------------------------- the contract suite's backends


@pytest.fixture(
    params=[
        "local",
        pytest.param("local-ssh", marks=pytest.mark.ssh),
        pytest.param("slurm", marks=pytest.mark.slurm),
        pytest.param("slurm-ssh", marks=[pytest.mark.slurm, pytest.mark.ssh]),
        pytest.param("sge", marks=pytest.mark.sge),
        pytest.param("sge-ssh", marks=[pytest.mark.sge, pytest.mark.ssh]),
        "pbspro",
        "torque",
        "lsf",
    ]
)
def deck_kind(request: pytest.FixtureRequest) -> str:
    """Which backend a test runs on (tests/contract.py KINDS); a test file may narrow it by overriding this."""
    return request.param


@pytest.fixture
async def deck(
    deck_kind: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Deck]:
    """The backend of ``deck_kind`` with a fresh sandbox root and a recording transport.

    Skipped (failed under BATCHDECK_REQUIRE) when its daemon is missing; everything the
    test submitted is cancelled afterwards, also when it failed.
    """
    from batchdeck.backends.schedulers.local import LocalBatchSystem
    from batchdeck.backends.schedulers.lsf import LsfBatchSystem
    from batchdeck.backends.schedulers.pbs import PbsBatchSystem
    from batchdeck.backends.schedulers.sge import SgeBatchSystem
    from batchdeck.backends.schedulers.slurm import SlurmBatchSystem
    from batchdeck.backends.transports.base import Transport
    from batchdeck.backends.transports.local import LocalTransport

    from contract import Deck, DeckTransport, scheduler_of

    scheduler = scheduler_of(deck_kind)
    if scheduler in ("slurm", "sge"):
        request.getfixturevalue(f"{scheduler}_cluster")
    inner: Transport
    if deck_kind.endswith("-ssh"):
        env = request.getfixturevalue("sshd_env")
        inner = make_ssh_transport(env)
        root = f"/home/{env['SSHD_USER']}/batchdeck-test/{uuid.uuid4().hex[:8]}"
    else:
        inner = LocalTransport()
        # Readable by root, the ssh test user and the jobs alike (pytest's tmp_path is root-only).
        root = str(Path("/var/tmp/batchdeck-test") / uuid.uuid4().hex[:8])
    SESSION_ROOTS.add(root)
    if deck_kind in ("pbspro", "torque", "lsf"):
        from simulators import batchsim

        batchsim.install(tmp_path / "bin", tmp_path / "state", "torque" if deck_kind == "torque" else "pro")
        monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    transport = DeckTransport(inner)
    name = f"{deck_kind}-test"

    def build(**settings: object):  # noqa: ANN202 - BatchSystem
        common: dict[str, object] = {"transport": transport, "sandbox_root": root}
        if scheduler == "local":
            common["max_cores"] = 4
        elif scheduler in ("slurm", "sge"):
            # accounting lags behind the queue by up to a second: never let a slow CI box
            # turn that into UNKNOWN
            common["accounting_delay"] = 60
            common["ssh_timeout"] = 60
        common.update(settings)
        classes = {
            "local": LocalBatchSystem,
            "slurm": SlurmBatchSystem,
            "sge": SgeBatchSystem,
            "pbs": PbsBatchSystem,
            "lsf": LsfBatchSystem,
        }
        return classes[scheduler](name, **common)

    backend = build()
    harness = Deck(kind=deck_kind, backend=backend, transport=transport, sandbox_root=root, build=build)
    if deck_kind in ("pbspro", "torque", "lsf"):
        harness.simulator_state = tmp_path / "state"
    try:
        await backend.connect()
        yield harness
    finally:
        await harness.end()
        # The sshd's host is this machine: what the ssh user's jobs left can be removed directly.
        shutil.rmtree(root, ignore_errors=True)


# ---------------------------------------------------------------------------- the browser of tests/test_serve.py


@pytest.fixture
def browser(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201 - a selenium WebDriver
    """A real headless Chromium driven through chromedriver (tests/clusters/browser-start.sh); quit after."""
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    need("browser", chromium is not None and chromedriver is not None,
         "chromium or chromedriver is not installed (run tests/clusters/browser-start.sh)")
    try:
        from selenium import webdriver
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.chrome.service import Service
    except ImportError as exc:
        need("browser", False, f"selenium cannot be imported ({exc}); install the test extra")
    options = webdriver.ChromeOptions()
    options.binary_location = str(chromium)
    # As root Chromium needs --no-sandbox; with no network its background connections must be off.
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1280,800"):
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    try:
        driver = webdriver.Chrome(options=options, service=Service(executable_path=str(chromedriver)))
    except WebDriverException as exc:
        need("browser", False, f"headless chromium did not start: {exc.msg}")
    try:
        yield driver
    finally:
        driver.quit()
