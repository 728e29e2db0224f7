"""Configuration: the built-in default, every key, and one clear message per mistake."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from batchdeck.backends.engine.config import load_config
from batchdeck.backends.engine.deck import Deck
from batchdeck.backends.engine.journal import Journal
from batchdeck.backends.engine.settings import (
    ClusterSettings,
    SshSettings,
    build_cluster,
    cluster_keys,
    markdown_key_table,
    settings_class_of,
)
from batchdeck.backends.errors import ConfigError, ConnectionFailed, InvalidJobSpec, LimitExceeded
from batchdeck.backends.model import JobSpec
from batchdeck.backends.schedulers.local import LocalBatchSystem
from batchdeck.backends.schedulers.pbs import PbsBatchSystem
from batchdeck.backends.schedulers.registry import BACKENDS
from batchdeck.backends.schedulers.sge import SgeBatchSystem
from batchdeck.backends.transports.factory import make_transport
from batchdeck.backends.units import format_walltime, parse_memory, parse_walltime


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "batchdeck.toml"
    path.write_text(text)
    return path


def test_no_file_gives_the_builtin_localhost_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BATCHDECK_CONFIG", str(tmp_path / "absent.toml"))
    config = load_config()
    assert config.names == ["localhost"]
    assert config.clusters["localhost"].type == "local"
    assert config.default_cluster == "localhost"


def test_a_full_cluster_table(tmp_path: Path) -> None:
    prologue = tmp_path / "pro.sh"
    prologue.write_text("module load foo\n")
    path = write(
        tmp_path,
        f"""
[clusters.hpc]
type = "slurm"
transport = "ssh"
frontend = "login.example.org"
port = 2222
username = "me"
architecture = "x86_64"
max_cores = 1000
max_cores_per_job = 64
max_memory_per_core = "4G"
max_walltime = "1-00:00:00"
auth = "ssh"
accounting_delay = 30
ssh_config = "~/.ssh/config"
keyfile = "~/.ssh/id_ed25519"
known_hosts = "~/.ssh/known_hosts"
ignore_ssh_host_keys = false
ssh_timeout = 20
large_file_threshold = "64M"
large_file_chunk_size = 1048576
sandbox_root = "~/bd"
poll_interval = 15
prologue = "{prologue}"
epilogue = "echo done"

[clusters.ge]
type = "sge"
parallel_environment = "mpi"

[auth.ssh]
type = "ssh"
""",
    )
    config = load_config(path)
    hpc = config.clusters["hpc"]
    assert (hpc.type, hpc.transport, hpc.poll_interval) == ("slurm", "ssh", 15.0)
    s = hpc.flat()
    assert s["max_memory_per_core"] == 4096
    assert s["max_walltime"] == 86400
    assert s["large_file_threshold"] == 64 * 1024 * 1024
    assert s["prologue"] == "module load foo\n"
    assert s["epilogue"] == "echo done"
    assert config.clusters["ge"].value("parallel_environment") == "mpi"
    # the same values, typed, in their sections
    assert (hpc.limits.max_memory_per_core, hpc.limits.max_walltime) == (4096, 86400)
    assert (hpc.ssh.frontend, hpc.ssh.port, hpc.ssh.username) == ("login.example.org", 2222, "me")
    assert (hpc.ssh.connect_limit, hpc.ssh.command_limit) == (20.0, 20.0)  # GC3Pie's ssh_timeout bounds both
    assert hpc.architecture == ("x86_64",)
    assert hpc.prologue == "module load foo\n"
    assert config.clusters["ge"].transport == "local"


@pytest.mark.parametrize(
    ("table", "key", "expected"),
    [
        ('type = "condor"', "type", "expected one of 'local', 'lsf', 'pbs', 'sge', 'slurm', got 'condor'"),
        ('transport = "telnet"', "transport", "expected one of 'local', 'ssh', got 'telnet'"),
        ("port = 70000", "port", "expected a port number from 1 to 65535, got 70000"),
        ('port = "22"', "port", "expected a port number from 1 to 65535, got '22'"),
        ("max_cores = 0", "max_cores", "expected a positive whole number, got 0"),
        ("max_cores_per_job = 2.5", "max_cores_per_job", "expected a positive whole number, got 2.5"),
        ('max_memory_per_core = "lots"', "max_memory_per_core", "expected a memory size like '500M', '4G' or '2GiB', got 'lots'"),
        ('max_walltime = "soon"', "max_walltime", "expected a duration like '1:30:00', '2-00:00:00', '90m' or '2h', got 'soon'"),
        ('accounting_delay = "x"', "accounting_delay", "expected a number of seconds >= 0, got 'x'"),
        ('ignore_ssh_host_keys = "yes"', "ignore_ssh_host_keys", "expected true or false, got 'yes'"),
        ("ssh_timeout = 0", "ssh_timeout", "expected a number of seconds > 0, got 0"),
        ("poll_interval = -1", "poll_interval", "expected a number of seconds > 0, got -1"),
        ('sandbox_root = ""', "sandbox_root", "expected a non-empty string, got ''"),
        ('sandbox_root = "jobs"', "sandbox_root", "expected an absolute path or one starting with '~/', got 'jobs'"),
        ('sandbox_root = "./jobs"', "sandbox_root", "expected an absolute path or one starting with '~/', got './jobs'"),
        ('sandbox_root = "~bob/jobs"', "sandbox_root", "expected an absolute path or one starting with '~/', got '~bob/jobs'"),
        ("connect_timeout = 0", "connect_timeout", "expected a number of seconds > 0, got 0"),
        ('command_timeout = "1m"', "command_timeout", "expected a number of seconds > 0, got '1m'"),
        ('enabled = "no"', "enabled", "expected true or false, got 'no'"),
        ('architecture = "sparc"', "architecture", "expected an architecture (aarch64, i686, ppc64le, x86_64 or a synonym), got 'sparc'"),
        ('auth = "nobody"', "auth", "no [auth.nobody] table (defined: none)"),
        ("auth = 3", "auth", "expected the name of an [auth.NAME] table, got 3"),
        ('parallel_environment = "mpi"', "parallel_environment", "unknown key; expected one of:"),
        ('flavour = "pro"', "flavour", "unknown key; expected one of:"),
        ('colour = "red"', "colour", "unknown key; expected one of:"),
    ],
)
def test_every_bad_value_names_file_cluster_key_and_expectation(
    tmp_path: Path, table: str, key: str, expected: str
) -> None:
    path = write(tmp_path, f"[clusters.bad]\n{table}\n\n[clusters.good]\ntype = \"local\"\n")
    config = load_config(path)
    assert "good" in config.clusters  # a broken cluster does not hide the good ones
    error = config.broken["bad"]
    assert isinstance(error, ConfigError)
    message = str(error)
    assert message.startswith(f"{path}, cluster 'bad', key '{key}': ")
    assert expected in message
    with pytest.raises(ConfigError, match="cluster 'bad'"):
        config.check()
    with pytest.raises(ConfigError, match="cluster 'bad'"):
        config.cluster("bad")


def test_ssh_without_frontend(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[clusters.x]\ntransport = "ssh"\n'))
    assert str(config.broken["x"]).endswith("key 'frontend': transport 'ssh' needs a frontend host name")


def test_file_level_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"batchdeck.toml: not valid TOML: "):
        load_config(write(tmp_path, "[clusters.x\n"))
    with pytest.raises(ConfigError, match=r"unknown top-level key\(s\) cluster; expected \[clusters.NAME\] tables"):
        load_config(write(tmp_path, "[cluster.x]\n"))
    with pytest.raises(ConfigError, match=r"key 'clusters': expected \[clusters.NAME\] tables"):
        load_config(write(tmp_path, 'clusters = "x"\n'))
    with pytest.raises(ConfigError, match=r"cluster 'x': expected a table of settings"):
        load_config(write(tmp_path, "[clusters]\nx = 3\n")).check()
    with pytest.raises(ConfigError, match="file does not exist"):
        load_config(tmp_path / "nope.toml")
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_config(binary)


def test_unknown_cluster_name(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "[clusters.a]\n"))
    with pytest.raises(ConfigError, match=r"no cluster named 'b' \(configured: a\)"):
        config.cluster("b")


def test_deck_shows_a_broken_cluster_as_an_error(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[clusters.bad]\nport = "x"\n[clusters.ok]\n'))
    deck = Deck(config, Journal(tmp_path / "j.sqlite"))
    assert deck.status["bad"].state == "error"
    assert "key 'port'" in deck.status["bad"].error
    assert deck.status["ok"].state == "idle"
    deck.journal.close()


@pytest.mark.parametrize(
    ("text", "mib"),
    [("500M", 500), ("4G", 4096), ("2GiB", 2048), ("1.5G", 1536), ("1024K", 1), ("100", 100), (256, 256), ("1T", 1048576)],
)
def test_parse_memory(text: str | int, mib: int) -> None:
    assert parse_memory(text) == mib


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1:30:00", 5400), ("2-00:00:00", 172800), ("90m", 5400), ("2h", 7200), ("45", 2700), ("10:00", 600), (120, 120), ("1d", 86400), ("30s", 30)],
)
def test_parse_walltime(text: str | int, seconds: int) -> None:
    assert parse_walltime(text) == seconds


@pytest.mark.parametrize("bad", ["", "0", "-5", "abc", "1:2:3:4", True, 0])
def test_bad_walltimes(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_walltime(bad)  # type: ignore[arg-type]


def test_format_walltime() -> None:
    assert format_walltime(5400) == "01:30:00"
    assert format_walltime(90061) == "1-01:01:01"
    assert format_walltime(None) == "-"


# ---------------------------------------------------------------------- the built-in localhost, enabled


def test_the_builtin_localhost_is_kept_beside_a_config_file(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[clusters.hpc]\ntype = "slurm"\nfrontend = "login.example.org"\n'))
    assert config.names == ["hpc", "localhost"]
    assert config.clusters["localhost"] == ClusterSettings("localhost")
    assert config.default_cluster == "hpc"  # the file's first cluster, not the built-in one
    with pytest.raises(ConfigError, match=r"no cluster named 'b' \(configured: hpc\); 'localhost' is built in"):
        config.cluster("b")


def test_a_configured_localhost_replaces_the_builtin_one(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[clusters.big]\n[clusters.localhost]\nmax_cores = 3\n'))
    assert config.names == ["big", "localhost"]
    assert config.clusters["localhost"].limits.max_cores == 3
    assert config.default_cluster == "localhost"


def test_enabled_false_leaves_a_cluster_out(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "[clusters.localhost]\nenabled = false\n[clusters.a]\n[clusters.b]\nenabled = false\n"))
    assert config.names == ["a"]
    assert config.default_cluster == "a"
    config = load_config(write(tmp_path, "[clusters.localhost]\nenabled = false\n"))
    assert config.names == []
    with pytest.raises(ConfigError, match="no usable cluster is configured"):
        config.default_cluster  # noqa: B018 - the property raises


# ---------------------------------------------------------------------- [auth.NAME]


def test_auth_tables_are_merged_and_the_cluster_wins(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[auth.me]
type = "ssh"
username = "me"
port = 2222
keyfile = "~/.ssh/id_hpc"
connect_timeout = 5

[auth.noauth]
type = "none"

[clusters.hpc]
type = "slurm"
frontend = "login.example.org"
auth = "me"
port = 22

[clusters.mine]
auth = "noauth"
""",
    )
    config = load_config(path)
    config.check()
    hpc = config.clusters["hpc"]
    assert hpc.auth == "me"
    assert (hpc.ssh.username, hpc.ssh.port, hpc.ssh.keyfile) == ("me", 22, "~/.ssh/id_hpc")
    assert (hpc.ssh.connect_limit, hpc.ssh.command_limit) == (5.0, 120.0)
    mine = config.clusters["mine"]
    assert (mine.auth, mine.transport, mine.ssh) == ("noauth", "local", SshSettings())


@pytest.mark.parametrize(
    ("table", "key", "expected"),
    [
        ('username = "me"', "auth.me.type", "expected one of 'ssh', 'none', got None"),
        ('type = "kerberos"', "auth.me.type", "expected one of 'ssh', 'none', got 'kerberos'"),
        ('type = "ssh"\nport = "x"', "auth.me.port", "expected a port number from 1 to 65535, got 'x'"),
        ('type = "ssh"\nfrontend = "h"', "auth.me.frontend", "unknown key; expected one of: type, command_timeout,"),
        ('type = "none"\nusername = "me"', "auth.me.username", "unknown key; expected one of: type"),
    ],
)
def test_a_broken_auth_table_is_one_line_on_the_clusters_that_use_it(
    tmp_path: Path, table: str, key: str, expected: str
) -> None:
    path = write(tmp_path, f'[auth.me]\n{table}\n\n[clusters.a]\nauth = "me"\n\n[clusters.b]\n')
    config = load_config(path)
    message = str(config.broken["a"])
    assert message.startswith(f"{path}, key '{key}': ")
    assert expected in message
    assert str(config.broken_auth["me"]) == message
    assert "b" in config.clusters
    with pytest.raises(ConfigError, match=re.escape(f"key '{key}'")):
        config.check()


def test_an_unknown_auth_name_lists_the_defined_ones(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[auth.me]\ntype = "ssh"\n[clusters.a]\nauth = "you"\n'))
    assert str(config.broken["a"]) == f"{tmp_path / 'batchdeck.toml'}, cluster 'a', key 'auth': no [auth.you] table (defined: me)"
    with pytest.raises(ConfigError, match=r"key 'auth': expected \[auth.NAME\] tables"):
        load_config(write(tmp_path, 'auth = "x"\n'))


# ---------------------------------------------------------------------- BatchSystem construction


def test_keywords_and_the_settings_object_build_the_same_backend() -> None:
    keys = {
        "sandbox_root": "/scratch/jobs",
        "max_cores": 2,
        "max_walltime": "1:00:00",
        "accounting_delay": 0,
        "username": "me",
        "port": 2200,
        "known_hosts": "~/kh",
        "prologue": "echo pro",
        "poll_interval": 3,
        "command_timeout": 40,
    }
    from_keys = LocalBatchSystem("x", **keys)
    from_settings = LocalBatchSystem(build_cluster("x", keys))
    assert from_keys.settings == from_settings.settings
    for backend in (from_keys, from_settings):
        got = (
            backend.max_cores, backend.max_walltime, backend.accounting_delay, backend.sandbox_root_setting,
            backend.username, backend.port, backend.known_hosts, backend.prologue, backend.poll_interval,
            backend.ssh_timeout,
        )  # fmt: skip
        assert got == (2, 3600, 0.0, "/scratch/jobs", "me", 2200, "~/kh", "echo pro", 3.0, 40.0)
    with pytest.raises(TypeError, match="either a ClusterSettings or keys"):
        LocalBatchSystem(build_cluster("x", {}), max_cores=1)


def test_backend_defaults() -> None:
    local, sge = LocalBatchSystem("l"), SgeBatchSystem("g")
    assert (local.accounting_delay, sge.accounting_delay) == (5, 15)  # a local job has no accounting lag
    assert (local.ssh_timeout, local.sandbox_root_setting, local.poll_interval) == (120.0, "~/.batchdeck/jobs", 10.0)
    assert sge.parallel_environment == "smp" and sge.settings.type == "sge"
    assert PbsBatchSystem("p").flavour is None
    assert PbsBatchSystem("p", flavour="torque").flavour == "torque"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: LocalBatchSystem("x", max_cores=0), "cluster 'x', key 'max_cores': expected a positive whole number, got 0"),
        (lambda: LocalBatchSystem("x", colour="red"), "cluster 'x', key 'colour': unknown key; expected one of: "),
        (lambda: LocalBatchSystem("x", sandbox_root="jobs"), "cluster 'x', key 'sandbox_root': expected an absolute path or one starting with '~/', got 'jobs'"),
        (lambda: PbsBatchSystem("c", flavour="vanilla"), "cluster 'c', key 'flavour': expected one of 'pro', 'torque', got 'vanilla'"),
        (lambda: SgeBatchSystem("g", flavour="pro"), "cluster 'g', key 'flavour': unknown key; expected one of: "),
        (lambda: SgeBatchSystem("g", type="slurm"), "cluster 'g', key 'type': expected 'sge' (the backend's own type), got 'slurm'"),
        (lambda: LocalBatchSystem("x", transport="ssh"), "cluster 'x', key 'frontend': transport 'ssh' needs a frontend host name"),
        # no config file, no [auth.NAME] tables: the name cannot be honoured, so it is refused
        (lambda: LocalBatchSystem("x", auth="me"), "cluster 'x', key 'auth': no [auth.me] table (defined: none)"),
    ],
)
def test_a_wrong_keyword_is_the_same_one_line_error(make: object, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        make()  # type: ignore[operator]
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_the_deck_builds_each_backend_from_its_settings(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[clusters.ge]
type = "sge"
parallel_environment = "mpi"
sandbox_root = "/scratch/ge"

[clusters.pro]
type = "pbs"
flavour = "pro"
max_cores_per_job = 8
""",
    )
    deck = Deck(load_config(path), Journal(tmp_path / "j.sqlite"))
    ge, pro = deck.backend("ge"), deck.backend("pro")
    assert isinstance(ge, SgeBatchSystem) and ge.parallel_environment == "mpi" and ge.sandbox_root_setting == "/scratch/ge"
    assert isinstance(pro, PbsBatchSystem) and pro.flavour == "pro" and pro.max_cores_per_job == 8
    assert ge.settings is deck.config.clusters["ge"]
    deck.journal.close()


# ---------------------------------------------------------------------- timeouts


def test_default_and_configured_timeouts() -> None:
    assert (SshSettings().connect_limit, SshSettings().command_limit) == (15.0, 120.0)
    ssh = make_transport("ssh", frontend="login.example.org")
    assert (ssh.connect_timeout, ssh.timeout) == (15.0, 120.0)  # type: ignore[attr-defined]
    assert make_transport("local").timeout == 120.0  # type: ignore[attr-defined]
    ssh = make_transport("ssh", frontend="h", ssh_timeout=20, connect_timeout=3)
    assert (ssh.connect_timeout, ssh.timeout) == (3.0, 20.0)  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="key 'connect_timeout': expected a number of seconds > 0, got -1"):
        make_transport("ssh", frontend="h", connect_timeout=-1)


async def test_a_server_that_never_answers_fails_within_connect_timeout() -> None:
    """A hung sshd: the TCP connection is accepted, and no SSH banner ever comes."""
    accepted: list[asyncio.StreamWriter] = []

    async def silent(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport = make_transport("ssh", frontend="127.0.0.1", port=port, connect_timeout=1, ignore_ssh_host_keys=True)
    try:
        with pytest.raises(ConnectionFailed, match=rf"cannot connect to .*127\.0\.0\.1:{port}: no answer within 1 s"):
            await transport.run(["true"])
        assert accepted  # it did connect, and then waited for nothing
    finally:
        await transport.close()
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()


# ---------------------------------------------------------------------- architecture


def test_architecture_is_matched_as_gc3pie_does() -> None:
    backend = LocalBatchSystem("x", architecture="amd64, i386")
    assert backend.architecture == ("x86_64", "i686")
    backend.check_limits(JobSpec(command=["true"], architecture="x86_64"))
    backend.check_limits(JobSpec(command=["true"], architecture="x64"))
    backend.check_limits(JobSpec(command=["true"]))  # a job asking for none runs anywhere
    with pytest.raises(LimitExceeded, match=r"^job asks for architecture aarch64 but cluster 'x' has x86_64, i686 \(architecture\)$"):
        backend.check_limits(JobSpec(command=["true"], architecture="arm64"))
    with pytest.raises(LimitExceeded, match=r"^job asks for architecture x86_64 but cluster 'y' declares none \(architecture\)$"):
        LocalBatchSystem("y").check_limits(JobSpec(command=["true"], architecture="x86_64"))
    with pytest.raises(InvalidJobSpec, match=r"^architecture: expected an architecture .* got 'sparc'$"):
        backend.check_limits(JobSpec(command=["true"], architecture="sparc"))
    assert build_cluster("z", {"architecture": ["x86_64", "amd64"]}).architecture == ("x86_64",)


async def test_submit_refuses_a_job_for_another_architecture(tmp_path: Path) -> None:
    path = write(tmp_path, f'[clusters.a]\narchitecture = "x86_64"\nsandbox_root = "{tmp_path / "sb"}"\n')
    deck = Deck(load_config(path), Journal(tmp_path / "j.sqlite"))
    try:
        with pytest.raises(LimitExceeded, match="job asks for architecture aarch64 but cluster 'a' has x86_64"):
            await deck.submit("a", JobSpec(command=["true"], architecture="aarch64"))
        assert not (tmp_path / "sb").exists()  # refused before anything was sent
    finally:
        await deck.close()


def test_the_cli_refuses_another_architecture_in_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, f'[clusters.a]\narchitecture = "x86_64"\nsandbox_root = "{tmp_path / "sb"}"\n')
    env = {**os.environ, "BATCHDECK_CONFIG": str(path), "BATCHDECK_DATA_DIR": str(tmp_path / "data")}
    proc = subprocess.run(
        [sys.executable, "-m", "batchdeck.tui.cli", "submit", "--architecture", "arm64", "--", "true"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr.strip() == "batchdeck: error: job asks for architecture aarch64 but cluster 'a' has x86_64 (architecture)"


# ---------------------------------------------------------------------- the README's key table


def _readme_rows() -> dict[str, tuple[str, ...]]:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    block = readme.split("<!-- keys:start -->", 1)[1].split("<!-- keys:end -->", 1)[0]
    rows: dict[str, tuple[str, ...]] = {}
    for line in block.strip().splitlines()[2:]:
        cells = tuple(cell.strip() for cell in line.strip().strip("|").split("|"))
        key = cells[0].strip("`")
        assert key not in rows, f"README lists {key!r} twice"
        rows[key] = cells[1:]
    return rows


def test_the_readme_key_table_matches_the_settings_fields() -> None:
    rows = _readme_rows()
    fields_by_key = {}
    for type_name in BACKENDS:
        fields_by_key.update({k: f for k, (_cls, f) in cluster_keys(settings_class_of(type_name)).items()})
    assert set(rows) - set(fields_by_key) == set(), "README lists keys no settings class declares"
    assert set(fields_by_key) - set(rows) == set(), "settings fields missing from the README's table"
    for key, (_section, _default, doc) in rows.items():
        assert doc == fields_by_key[key].metadata["doc"], key
    # and the table is exactly the generated one (sections and defaults too)
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    assert markdown_key_table() in readme
