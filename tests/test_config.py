"""Configuration: the built-in default, every key, and one clear message per mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from batchdeck.backends.engine.config import load_config
from batchdeck.backends.engine.deck import Deck
from batchdeck.backends.engine.journal import Journal
from batchdeck.backends.errors import ConfigError
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
