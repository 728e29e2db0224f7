"""``batchdeck import-gc3pie``: GC3Pie's published configurations and hostile files.

The samples in tests/samples/gc3pie/ are GC3Pie's own files (see their PROVENANCE.md).
The command runs as a user runs it, in a separate process, so a traceback would show.
"""

from __future__ import annotations

import configparser
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batchdeck.backends.engine.config import load_config
from batchdeck.backends.engine.gc3pie_import import (
    Gc3pieImportError,
    convert_gc3pie,
    parse_gc3pie_duration,
    parse_gc3pie_memory,
    render_toml,
)
from batchdeck.backends.engine.settings import ClusterSettings, cluster_keys, settings_class_of

from helpers import damaged

BATCHDECK = [sys.executable, "-m", "batchdeck.tui.cli"]
SAMPLES = Path(__file__).parent / "samples" / "gc3pie"
SAMPLE_FILES = sorted(p for p in SAMPLES.iterdir() if p.name != "PROVENANCE.md")
# GC3Pie keys that become batchdeck keys (the rest must be explained in a comment)
MAPPED = {
    "type", "transport", "frontend", "port", "max_cores", "max_cores_per_job", "max_memory_per_core",
    "max_walltime", "architecture", "accounting_delay", "ssh_config", "keyfile", "ssh_timeout",
    "ignore_ssh_host_keys", "large_file_threshold", "large_file_chunk_size", "spooldir", "auth", "enabled",
    "prologue", "epilogue", "prologue_content", "epilogue_content",
}


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BATCHDECK, *args], capture_output=True, text=True, timeout=60, env=env)


def load_toml_text(tmp_path: Path, text: str) -> dict[str, ClusterSettings]:
    path = tmp_path / "imported.toml"
    path.write_text(text)
    config = load_config(path)
    assert not config.broken, {name: str(error) for name, error in config.broken.items()}
    # the built-in localhost is batchdeck's, not the import's
    return {name: c for name, c in config.clusters.items() if not (config.builtin_localhost and name == "localhost")}


@pytest.mark.parametrize("sample", SAMPLE_FILES, ids=lambda p: p.name)
def test_every_resource_of_a_published_configuration_is_converted_or_explained(sample: Path, tmp_path: Path) -> None:
    proc = run("import-gc3pie", str(sample))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    loaded = load_toml_text(tmp_path, proc.stdout)

    ini = configparser.RawConfigParser(strict=False, default_section="\x00", interpolation=None)
    ini.read_string(sample.read_text())
    result = convert_gc3pie(sample.read_text(), str(sample))
    converted = {c.name: c for c in result.clusters}
    skipped = {section for section, _ in result.skipped}
    for section in ini.sections():
        if not section.startswith("resource/"):
            continue
        name = section.split("/", 1)[1]
        assert name in converted or section in skipped, f"{section} neither converted nor explained"
        if section in skipped:
            assert f"# [{section}] not imported: " in proc.stdout
            continue
        cluster = converted[name]
        # a resource disabled in GC3Pie is written with enabled = false, which batchdeck leaves out
        assert (name in loaded) == (cluster.settings.get("enabled", True) is True)
        assert f"[clusters.{name}]" in proc.stdout
        notes = "\n".join(cluster.notes)
        for key in ini.options(section):
            assert key in MAPPED or f"{key} = " in notes, f"{section} key {key!r} dropped without a reason"


def test_the_example_gc3pie_installs(tmp_path: Path) -> None:
    sample = SAMPLES / "gc3libs_etc_gc3pie.conf.example"
    proc = run("import-gc3pie", str(sample))
    assert proc.returncode == 0, proc.stderr
    localhost = load_toml_text(tmp_path, proc.stdout)["localhost"]
    assert (localhost.type, localhost.transport) == ("local", "local")
    assert localhost.limits.max_cores == 2
    assert localhost.limits.max_cores_per_job == 2
    # '2 GB' is decimal in GC3Pie: 2e9 bytes, 1907 MiB, never rounded up past the limit
    assert localhost.limits.max_memory_per_core == 1907
    assert "2,000,000,000 bytes" in proc.stdout
    assert localhost.limits.max_walltime == 2 * 3600
    # GC3Pie reads the example's 'x64_64' as x86_64, and so does the import, saying so
    assert localhost.architecture == ("x86_64",)
    assert "'x64_64' written as 'x86_64'" in proc.stdout
    assert "# not mapped: [DEFAULT] debug = '0': " in proc.stdout
    # auth = none needs no [auth.NAME] table
    assert "[auth." not in proc.stdout


def test_the_course_configuration_keeps_the_ssh_login_and_the_prologue(tmp_path: Path) -> None:
    sample = SAMPLES / "docs_users_tutorial_setup_files_gc3pie.conf"
    result = convert_gc3pie(sample.read_text(), str(sample))
    hydra = next(c for c in result.clusters if c.name == "hydra")
    assert hydra.settings["type"] == "slurm"
    assert hydra.settings["transport"] == "ssh"
    assert hydra.settings["frontend"] == "login.s3it.uzh.ch"
    # [auth/ssh_user_account] becomes [auth.ssh_user_account], which hydra names, as in GC3Pie
    assert hydra.settings["auth"] == "ssh_user_account"
    assert result.auths["ssh_user_account"].settings == {"username": "uzh-shortname"}
    assert hydra.settings["max_memory_per_core"] == "1024G"  # 1 TiB
    assert hydra.settings["max_walltime"] == "1-00:00:00"
    assert hydra.settings["max_cores"] == 96
    assert hydra.settings["prologue"] == "module load cluster/largemem"
    # disabled in GC3Pie: never an enabled batchdeck cluster
    assert hydra.settings["enabled"] is False
    text = render_toml(result)
    assert "hydra" not in load_toml_text(tmp_path, text)
    assert '[auth.ssh_user_account]\ntype = "ssh"\nusername = "uzh-shortname"\n' in text
    # the cloud VM's login is no cluster's: not written
    assert "[auth.ssh_user_ubuntu]" not in text
    assert hydra.settings["prologue"] == "module load cluster/largemem"
    assert [s for s, _ in result.skipped] == ["resource/sciencecloud"]
    assert "virtual machines" in result.skipped[0][1]


GC3_FILE = """\
[DEFAULT]
me = alice
site = example.org
walltime = 3 days

[auth/ssh_alice]
type = ssh
username = %(me)s
port = 2200
keyfile = ~/.ssh/id_site
timeout = 12

[auth/noauth]
type = none

[resource/hpc]
type = slurm
transport = ssh
frontend = login.%(site)s
auth = ssh_alice
# GC3Pie connects on the auth's port, not this one
port = 22
max_cores = 512
max_cores_per_job = 64
max_memory_per_core = 4 GiB
max_walltime = %(walltime)s
architecture = 64-bit x86
spooldir = $HOME/gc3jobs
prologue = prologue.sh
epilogue_content = echo done
sbatch = /usr/local/bin/sbatch --exclusive
gamess_prologue = module load gamess

[resource/grid]
type = ssh
transport = ssh
frontend = sge.%(site)s
auth = ssh_alice
sge_accounting_delay = 30
max_walltime = 72 hours
max_memory_per_core = 3

[resource/torque]
type = pbs
transport = local
auth = noauth
max_walltime = 4days 3hrs
large_file_threshold = 10

[resource/lsf]
type = lsf
transport = ssh
frontend = lsf.%(site)s
auth = ssh_alice
ssh_config = ~/.ssh/config.site
ignore_ssh_host_keys = no
max_walltime = 1:30:00

[resource/old]
type = subprocess
transport = local
ncores = 4
max_walltime = 8
override = yes
time_cmd = /usr/bin/time
"""


def test_gc3pie_keys_become_batchdeck_keys_in_batchdeck_units(tmp_path: Path) -> None:
    source = tmp_path / "gc3pie.conf"
    source.write_text(GC3_FILE)
    (tmp_path / "prologue.sh").write_text("module load site\n")
    result = convert_gc3pie(GC3_FILE, str(source))
    assert result.problems == []
    clusters = {c.name: c.settings for c in result.clusters}
    hpc = clusters["hpc"]
    assert hpc["frontend"] == "login.example.org"  # [DEFAULT] interpolation
    assert hpc["auth"] == "ssh_alice"
    assert result.auths["ssh_alice"].settings == {
        "username": "alice", "port": 2200, "keyfile": "~/.ssh/id_site", "ssh_timeout": 12.0
    }
    # GC3Pie connects on the auth's port: the resource's is left out, saying so
    assert "port" not in hpc
    assert hpc["max_memory_per_core"] == "4G"
    assert hpc["max_walltime"] == "3-00:00:00"
    assert hpc["architecture"] == "x86_64"
    assert hpc["sandbox_root"] == "~/gc3jobs"
    # GC3Pie resolves a relative prologue against the configuration's folder
    assert hpc["prologue"] == str(tmp_path / "prologue.sh")
    assert hpc["epilogue"] == "echo done"
    hpc_notes = "\n".join(next(c for c in result.clusters if c.name == "hpc").notes)
    assert "not mapped: port = 22: GC3Pie connects on [auth/ssh_alice]'s port 2200" in hpc_notes
    assert "sbatch = " in hpc_notes and "standard command" in hpc_notes
    assert "gamess_prologue = " in hpc_notes and "per-application" in hpc_notes
    assert clusters["grid"]["type"] == "sge"  # GC3Pie's old name for sge
    assert clusters["grid"]["accounting_delay"] == 30.0
    assert clusters["grid"]["max_memory_per_core"] == "2861M"  # a bare 3 is 3 GB (decimal) in GC3Pie
    assert clusters["torque"]["type"] == "pbs"
    assert clusters["torque"]["max_walltime"] == "4-03:00:00"
    assert clusters["torque"]["large_file_threshold"] == 10_000_000  # a bare number is MB here
    assert clusters["lsf"]["ssh_config"] == "~/.ssh/config.site"
    assert clusters["lsf"]["ignore_ssh_host_keys"] is False
    assert clusters["lsf"]["max_walltime"] == "01:30:00"
    old = clusters["old"]
    assert (old["type"], old["max_cores"], old["max_walltime"]) == ("local", 4, "08:00:00")  # bare walltime: hours
    old_notes = "\n".join(next(c for c in result.clusters if c.name == "old").notes)
    assert "override = 'yes'" in old_notes and "time_cmd = " in old_notes
    # and what comes out is a configuration batchdeck itself loads
    loaded = load_toml_text(tmp_path, render_toml(result))
    assert set(loaded) == {"hpc", "grid", "torque", "lsf", "old"}
    assert loaded["hpc"].prologue == "module load site\n"
    assert (loaded["hpc"].ssh.username, loaded["hpc"].ssh.port, loaded["hpc"].ssh.command_limit) == ("alice", 2200, 12.0)
    assert loaded["grid"].ssh.username == "alice"
    # the local PBS's auth (type none) is no login: no auth key, no table
    assert "auth" not in clusters["torque"] and set(result.auths) == {"ssh_alice"}
    # every key written is one batchdeck declares for the cluster's type
    for cluster in result.clusters:
        declared = cluster_keys(settings_class_of(cluster.settings["type"]))
        assert set(cluster.settings) <= set(declared), cluster.name


def test_gc3pie_quantities() -> None:
    assert parse_gc3pie_memory("2GiB", 1) == 2 * 1024**3
    assert parse_gc3pie_memory("1 TiB", 1) == 1024**4
    assert parse_gc3pie_memory("512 MB", 1) == 512 * 1000**2
    assert parse_gc3pie_duration("12 hours") == 12 * 3600
    assert parse_gc3pie_duration("1 day") == 86400
    assert parse_gc3pie_duration("1d 2h 4m") == 86400 + 2 * 3600 + 240
    assert parse_gc3pie_duration("2:00:00:00") == 2 * 86400
    for bad in ("12:30", "soon", "3 fortnights", "0 hours"):
        with pytest.raises(ValueError):
            parse_gc3pie_duration(bad)
    with pytest.raises(ValueError):
        parse_gc3pie_memory("2 GiBs", 1)


def test_write_merges_into_the_config_and_never_overwrites_a_cluster(tmp_path: Path) -> None:
    source = tmp_path / "gc3pie.conf"
    source.write_text(GC3_FILE.replace("prologue = prologue.sh\n", ""))
    config = tmp_path / "batchdeck.toml"
    original = '# my clusters\n[clusters.hpc]\ntype = "local"\nmax_cores = 1\n'
    config.write_text(original)
    config.chmod(0o640)
    proc = run("--config", str(config), "import-gc3pie", str(source), "--write")
    assert proc.returncode == 0, proc.stderr
    assert f"skipped cluster 'hpc': {config} already has it (not overwritten)" in proc.stdout.splitlines()
    for name in ("grid", "torque", "lsf", "old"):
        assert f"added cluster '{name}' to {config}" in proc.stdout
    text = config.read_text()
    assert text.startswith(original)  # the user's own text, comments included, is untouched
    assert stat.S_IMODE(config.stat().st_mode) == 0o640
    assert f"added login [auth.ssh_alice] to {config}" in proc.stdout
    # what was not mapped is said on the terminal too, one line each
    assert "[resource/old] not mapped: time_cmd = '/usr/bin/time': " in proc.stdout
    loaded = load_config(config)
    loaded.check()
    assert loaded.clusters["hpc"].type == "local" and loaded.clusters["hpc"].limits.max_cores == 1
    assert loaded.clusters["grid"].type == "sge"
    assert (loaded.clusters["grid"].auth, loaded.clusters["grid"].ssh.port) == ("ssh_alice", 2200)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    # a second import adds nothing and says so
    again = run("--config", str(config), "import-gc3pie", str(source), "--write")
    assert again.returncode == 0, again.stderr
    assert config.read_text() == text
    assert "no new cluster" in again.stdout
    assert again.stdout.count("skipped cluster") == 5


def test_write_reuses_an_equal_auth_and_never_overwrites_another(tmp_path: Path) -> None:
    source = tmp_path / "gc3pie.conf"
    source.write_text(GC3_FILE.replace("prologue = prologue.sh\n", ""))
    same = tmp_path / "same.toml"
    same.write_text('[auth.ssh_alice]\ntype = "ssh"\nusername = "alice"\nport = 2200\nkeyfile = "~/.ssh/id_site"\nssh_timeout = 12\n')
    proc = run("--config", str(same), "import-gc3pie", str(source), "--write")
    assert proc.returncode == 0, proc.stderr
    assert f"reused login [auth.ssh_alice]: {same} already has it with the same keys" in proc.stdout
    assert same.read_text().splitlines().count("[auth.ssh_alice]") == 1
    assert load_config(same).clusters["hpc"].ssh.port == 2200

    other = tmp_path / "other.toml"
    mine = '[auth.ssh_alice]\ntype = "ssh"\nusername = "someone-else"\n'
    other.write_text(mine)
    proc = run("--config", str(other), "import-gc3pie", str(source), "--write")
    assert proc.returncode == 0, proc.stderr
    assert f"kept [auth.ssh_alice]: {other} already has one with other keys (not overwritten)" in proc.stdout
    text = other.read_text()
    assert text.startswith(mine) and text.splitlines().count("[auth.ssh_alice]") == 1
    loaded = load_config(other)
    loaded.check()
    # the new clusters behave as in GC3Pie: its login keys written into them, the user's table untouched
    hpc = loaded.clusters["hpc"]
    assert (hpc.auth, hpc.ssh.username, hpc.ssh.port, hpc.ssh.keyfile) == (None, "alice", 2200, "~/.ssh/id_site")


def test_a_key_batchdeck_cannot_take_is_reported_not_dropped(tmp_path: Path) -> None:
    path = tmp_path / "gc3pie.conf"
    path.write_text(
        "[auth/x]\ntype = ssh\nusername = me\npassword = hunter2\n"
        "[resource/a]\ntype = slurm\ntransport = ssh\nfrontend = h\nauth = x\narchitecture = sparc64\n"
        "spooldir = gc3jobs\nqueue = long\n"
    )
    proc = run("import-gc3pie", str(path))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    for expected in (
        "# not mapped: [auth/x] password = 'hunter2': not an SSH login setting batchdeck has",
        "# not mapped: architecture = 'sparc64': expected an architecture (",
        "# not mapped: spooldir = 'gc3jobs': expected an absolute path or one starting with '~/'",
        "# not mapped: queue = 'long': not a setting batchdeck knows",
    ):
        assert sum(line.startswith(expected) for line in lines) == 1, expected
    cluster = load_toml_text(tmp_path, proc.stdout)["a"]
    assert (cluster.architecture, cluster.sandbox_root, cluster.ssh.username) == ((), "~/.batchdeck/jobs", "me")


def test_a_resource_without_transport_on_a_remote_frontend_keeps_its_login(tmp_path: Path) -> None:
    text = "[auth/x]\ntype = ssh\nusername = me\n[resource/a]\ntype = sge\nfrontend = sge.example.org\nauth = x\n"
    result = convert_gc3pie(text, str(tmp_path / "gc3pie.conf"))
    cluster = load_toml_text(tmp_path, render_toml(result))["a"]
    assert (cluster.transport, cluster.auth, cluster.ssh.username) == ("ssh", "x", "me")


def test_write_creates_a_missing_config_with_mode_0600(tmp_path: Path) -> None:
    config = tmp_path / "new" / "batchdeck.toml"
    proc = run("--config", str(config), "import-gc3pie", str(SAMPLES / "gc3libs_etc_gc3pie.conf.example"), "--write")
    assert proc.returncode == 0, proc.stderr
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert set(load_config(config).clusters) == {"localhost"}


def test_default_path_is_the_users_gc3pie_conf(tmp_path: Path) -> None:
    (tmp_path / ".gc3").mkdir()
    (tmp_path / ".gc3" / "gc3pie.conf").write_text((SAMPLES / "gc3libs_etc_gc3pie.conf.example").read_text())
    proc = run("import-gc3pie", env={**os.environ, "HOME": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    assert "[clusters.localhost]" in proc.stdout


HOSTILE = {
    "missing-interpolation": ("[resource/a]\ntype = slurm\nfrontend = %(nowhere)s\n", "%(nowhere)s refers to a key"),
    "bad-interpolation": ("[resource/a]\ntype = slurm\nfrontend = 100%sure\n", "bad %-interpolation"),
    "interpolation-loop": ("[DEFAULT]\na = %(b)s\nb = %(a)s\n[resource/a]\ntype = sge\nfrontend = %(a)s\n", "too deep"),
    "unknown-type": ("[resource/a]\ntype = condor\n", "unknown type 'condor'"),
    "no-type": ("[resource/a]\nfrontend = x\n", "has no 'type'"),
    "missing-auth-section": ("[resource/a]\ntype = slurm\ntransport = ssh\nfrontend = h\nauth = bob\n", "no [auth/bob] section"),
    "auth-without-type": ("[auth/bob]\nusername = bob\n[resource/a]\ntype = slurm\ntransport = ssh\nfrontend = h\nauth = bob\n", "[auth/bob] has no 'type'"),
    "no-resource-section": ("[auth/bob]\ntype = ssh\nusername = bob\n", "no [resource/NAME] section"),
    "empty-file": ("", "no [resource/NAME] section"),
    "not-ini": ("just some text\nwithout sections\n", "not a GC3Pie configuration (INI) file"),
    "json": ('{"resource": {"type": "slurm"}}\n', "not a GC3Pie configuration (INI) file"),
    "toml-like": ("[resource/a]\ntype = slurm\n  [[oops\nx\n", "cannot parse line"),
    "bad-number": ("[resource/a]\ntype = slurm\nmax_cores = lots\n", "key 'max_cores': expected a whole number"),
    "bad-walltime": ("[resource/a]\ntype = slurm\nmax_walltime = 12:30\n", "ambiguous"),
    "bad-memory": ("[resource/a]\ntype = slurm\nmax_memory_per_core = 4 bananas\n", "unknown memory unit"),
    "bad-transport": ("[resource/a]\ntype = slurm\ntransport = carrier-pigeon\n", "key 'transport'"),
    "ssh-without-frontend": ("[resource/a]\ntype = slurm\ntransport = ssh\n", "needs a frontend"),
    "bad-enabled": ("[resource/a]\ntype = slurm\nenabled = perhaps\n", "key 'enabled'"),
    "missing-prologue-file": ("[resource/a]\ntype = slurm\nprologue = /nonexistent/pro.sh\n", "does not exist"),
    # GC3Pie takes it, batchdeck's typed settings do not (a zero timeout would never connect)
    "zero-ssh-timeout": ("[resource/a]\ntype = slurm\nssh_timeout = 0\n", "does not make a valid batchdeck cluster"),
    "auth-bad-port": (
        "[auth/b]\ntype = ssh\nport = 70000\n[resource/a]\ntype = slurm\ntransport = ssh\nfrontend = h\nauth = b\n",
        "[auth/b] does not make a valid batchdeck [auth.b] table",
    ),
    "escape-in-type": ("[resource/a]\ntype = sl\x1b[2Jurm\n", "unknown type 'sl\\x1b[2Jurm'"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_file_gives_one_clear_line(case: str, tmp_path: Path) -> None:
    text, expected = HOSTILE[case]
    path = tmp_path / "gc3pie.conf"
    path.write_text(text)
    proc = run("import-gc3pie", str(path))
    assert proc.returncode in (1, 2)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("batchdeck: error: "), lines[0]
    assert expected in lines[0]
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "\x1b" not in proc.stderr + proc.stdout


def test_one_bad_resource_does_not_hide_the_good_ones(tmp_path: Path) -> None:
    path = tmp_path / "gc3pie.conf"
    path.write_text("[resource/bad]\ntype = condor\n[resource/good]\ntype = shellcmd\nmax_cores = 2\n")
    proc = run("import-gc3pie", str(path))
    assert proc.returncode == 1
    assert len(proc.stderr.splitlines()) == 1
    assert "[clusters.good]" in proc.stdout
    assert "# NOT IMPORTED: " in proc.stdout
    assert set(load_toml_text(tmp_path, proc.stdout)) == {"good"}


@pytest.mark.parametrize("case", ["missing", "directory", "binary"])
def test_an_unreadable_path_gives_one_clear_line(case: str, tmp_path: Path) -> None:
    path = tmp_path / "gc3pie.conf"
    if case == "directory":
        path.mkdir()
    elif case == "binary":
        path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe")
    proc = run("import-gc3pie", str(path))
    assert proc.returncode in (1, 2)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("batchdeck: error: "), proc.stderr
    assert str(path) in lines[0]
    assert "Traceback" not in proc.stderr


def test_write_into_a_broken_config_changes_nothing(tmp_path: Path) -> None:
    config = tmp_path / "batchdeck.toml"
    config.write_text("[clusters.a\ntype = 'local'\n")
    before = config.read_bytes()
    proc = run("--config", str(config), "import-gc3pie", str(SAMPLES / "gc3libs_etc_gc3pie.conf.example"), "--write")
    assert proc.returncode == 1
    assert len(proc.stderr.splitlines()) == 1 and "not valid TOML" in proc.stderr
    assert config.read_bytes() == before


def test_usage_error_exits_2() -> None:
    proc = run("import-gc3pie", "a", "b")
    assert proc.returncode == 2
    assert len(proc.stderr.splitlines()) == 1


# ------------------------------------------------------------------ any text, damaged samples

GC3_LINES = st.sampled_from(
    [
        "[DEFAULT]", "[resource/r]", "[resource/]", "[auth/a]", "[auth/none]", "[other]", "type = slurm",
        "type = sge", "type = shellcmd", "type = ssh", "type = none", "transport = ssh", "transport = local",
        "frontend = h", "frontend = %(x)s", "x = %(frontend)s", "auth = a", "auth = none", "port = 0",
        "max_cores = 4", "max_memory_per_core = 2 GB", "max_walltime = 1 day", "architecture = 64-bit x86",
        "spooldir = $HOME/x", "enabled = no", "prologue_content = echo", "timeout = 0", "username = %%me",
        "  continued", "# comment", "",
    ]
)


def _converts_or_refuses_in_one_line(text: str, tmp_path: Path) -> None:
    """A GC3Pie file converts into tables batchdeck loads, or is refused as a whole in one line."""
    try:
        result = convert_gc3pie(text, str(tmp_path / "gc3pie.conf"))
    except Gc3pieImportError as exc:
        assert "\n" not in str(exc)
        return
    assert all("\n" not in line for line in [*result.problems, *result.notes])
    path = tmp_path / "fuzzed.toml"
    path.write_text(render_toml(result))
    config = load_config(path)
    assert not config.broken, {name: str(error) for name, error in config.broken.items()}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(GC3_LINES, max_size=25), junk=st.lists(st.tuples(st.integers(0, 25), st.text(max_size=30)), max_size=2))
def test_any_gc3pie_text_converts_or_is_refused_in_one_line(
    lines: list[str], junk: list[tuple[int, str]], tmp_path: Path
) -> None:
    # mostly GC3Pie's own lines, so that many files get as far as converting resources; a little random text
    for where, text in junk:
        lines.insert(where, text)
    _converts_or_refuses_in_one_line("[resource/r]\n" + "\n".join(lines) + "\n", tmp_path)


@pytest.mark.parametrize("sample", SAMPLE_FILES, ids=lambda p: p.name)
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_damaged_sample_converts_or_is_refused_in_one_line(sample: Path, data: st.DataObject, tmp_path: Path) -> None:
    _converts_or_refuses_in_one_line(damaged(sample.read_text(), data.draw), tmp_path)
