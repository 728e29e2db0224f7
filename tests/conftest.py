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
from collections.abc import Iterator
from pathlib import Path

import pytest

STATE_DIR = Path(os.environ.get("BATCHDECK_CLUSTER_STATE", "/var/tmp/batchdeck-clusters"))
SAMPLES = Path(__file__).parent / "samples"


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
    yield str(root)
    # The sshd's host is this machine: the test may clean up what its jobs left directly.
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never let a test touch the real user's journal or configuration."""
    base = tmp_path_factory.mktemp("userdirs")
    monkeypatch.setenv("BATCHDECK_DATA_DIR", str(base / "data"))
    monkeypatch.setenv("BATCHDECK_CONFIG", str(base / "config" / "batchdeck.toml"))


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
