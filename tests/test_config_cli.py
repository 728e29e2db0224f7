"""``batchdeck config path|init|check`` as a user runs them, the template they write, and the app's note."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from batchdeck.backends.engine.config import TABLES, builtin_config, load_config
from batchdeck.backends.engine.config_template import SECTIONS, render_template
from batchdeck.backends.engine.deck import Deck
from batchdeck.backends.engine.journal import Journal
from batchdeck.backends.engine.settings import auth_keys, cluster_keys, settings_class_of
from batchdeck.backends.schedulers.registry import BACKENDS
from batchdeck.tui.app import BatchdeckApp
from batchdeck.tui.rows import NO_CONFIG_NOTE, config_note

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

BATCHDECK = [sys.executable, "-m", "batchdeck.tui.cli"]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """BATCHDECK_CONFIG names a file (not there yet) in a folder that is not there yet."""
    return {
        **os.environ,
        "BATCHDECK_DATA_DIR": str(tmp_path / "data"),
        "BATCHDECK_CONFIG": str(tmp_path / "conf" / "batchdeck.toml"),
    }


def config_file(env: dict[str, str]) -> Path:
    return Path(env["BATCHDECK_CONFIG"])


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BATCHDECK, *args], env=env, capture_output=True, text=True, timeout=60)


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 1, proc
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("batchdeck: error: ")
    return lines[0]


def uncommented(template: str) -> str:
    """Every ``# `` line of the template made live; the ``##`` prose dropped."""
    return "\n".join(line[2:] for line in template.splitlines() if line.startswith("# ")) + "\n"


# ---------------------------------------------------------------------- path


def test_path_prints_the_file_batchdeck_reads_and_whether_it_exists(env: dict[str, str], tmp_path: Path) -> None:
    path = config_file(env)
    proc = run(env, "config", "path")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (
        f"{path} ($BATCHDECK_CONFIG): does not exist: built-in localhost only "
        "('batchdeck config init' writes one)\n"
    )
    path.parent.mkdir()
    path.write_text("")
    assert run(env, "config", "path").stdout == f"{path} ($BATCHDECK_CONFIG): exists\n"
    other = tmp_path / "other.toml"
    assert run(env, "--config", str(other), "config", "path").stdout == (
        f"{other} (--config): does not exist ('batchdeck config init' writes one)\n"
    )


# ---------------------------------------------------------------------- init


def test_init_writes_a_private_file_that_check_accepts_and_that_loads_to_the_builtin_localhost(
    env: dict[str, str],
) -> None:
    path = config_file(env)
    proc = run(env, "config", "init")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"wrote {path}: ")
    assert path.read_text() == render_template()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700  # the folder it had to make
    assert sorted(p.name for p in path.parent.iterdir()) == ["batchdeck.toml"]  # no temporary file left

    check = run(env, "config", "check")
    assert check.returncode == 0, check.stderr
    assert check.stdout.splitlines() == ["localhost  local  local  built in", f"ok ({path})"]
    assert check.stderr == ""

    loaded = load_config(path)
    assert loaded.path == path
    assert loaded.clusters == builtin_config().clusters
    assert loaded.builtin_localhost and not loaded.broken and not loaded.broken_auth


def test_init_refuses_to_overwrite_a_file_and_force_replaces_it(env: dict[str, str]) -> None:
    path = config_file(env)
    path.parent.mkdir()
    path.write_text('[clusters.mine]\ntype = "local"\n')
    path.chmod(0o644)
    line = one_error_line(run(env, "config", "init"))
    assert line == f"batchdeck: error: {path}: already exists; not overwritten (--force replaces it)"
    assert path.read_text() == '[clusters.mine]\ntype = "local"\n'

    proc = run(env, "config", "init", "--force")
    assert proc.returncode == 0, proc.stderr
    assert path.read_text() == render_template()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["batchdeck.toml"]


def test_init_to_another_path_says_how_to_use_it(env: dict[str, str], tmp_path: Path) -> None:
    target = tmp_path / "deep" / "er" / "b.toml"
    proc = run(env, "config", "init", str(target))
    assert proc.returncode == 0, proc.stderr
    assert target.read_text() == render_template()
    assert not config_file(env).exists()
    assert proc.stdout.splitlines()[1] == (
        f"note: batchdeck reads {config_file(env)}; give this file with $BATCHDECK_CONFIG or --config"
    )
    assert run(env, "config", "check", str(target)).returncode == 0


# ---------------------------------------------------------------------- check


def test_check_prints_one_line_per_cluster_then_ok(env: dict[str, str], tmp_path: Path) -> None:
    path = config_file(env)
    path.parent.mkdir()
    path.write_text(
        "[auth.me]\ntype = \"ssh\"\nusername = \"ada\"\n\n"
        "[clusters.hpc]\ntype = \"slurm\"\nfrontend = \"login.example.org\"\nauth = \"me\"\n\n"
        f"[clusters.localhost]\nsandbox_root = \"{tmp_path / 'sandboxes'}\"\n"
    )
    proc = run(env, "config", "check")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "hpc        slurm  ada@login.example.org",
        "localhost  local  local",
        f"ok ({path})",
    ]



def test_check_connect_logs_in_and_names_each_cluster_it_cannot_reach(env: dict[str, str], tmp_path: Path) -> None:
    path = config_file(env)
    path.parent.mkdir()
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    local = f"[clusters.localhost]\nsandbox_root = \"{tmp_path / 'sandboxes'}\"\n"
    path.write_text(local)
    proc = run(env, "config", "check", "--connect")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0].split() == ["localhost", "local", "local", "connected"]
    path.write_text(
        local + f'[clusters.away]\ntype = "slurm"\nfrontend = "127.0.0.1"\nport = {port}\nconnect_timeout = 5\n'
    )
    assert run(env, "config", "check").returncode == 0  # without --connect nothing is tried
    line = one_error_line(run(env, "config", "check", "--connect"))
    assert "cluster 'away'" in line and "cannot connect" in line and str(port) in line, line

@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[clusters.x\n", ": not valid TOML: "),
        ("[clusters.x]\nmax_cores = 0\n", ", cluster 'x', key 'max_cores': expected a positive whole number, got 0"),
        ("[clusters.x]\ncores = 2\n", ", cluster 'x', key 'cores': unknown key; expected one of: "),
        ("[cluster.x]\n", ": unknown top-level key(s) cluster; expected [clusters.NAME] tables"),
        ('[auth.a]\ntype = "kerberos"\n', ", key 'auth.a.type': expected one of 'ssh', 'none', got 'kerberos'"),
        ('[auth.a]\ntype = "x"\n[clusters.y]\nauth = "a"\n', ", key 'auth.a.type': expected one of"),
        (b"\xff\xfe".decode("latin-1"), ": cannot read the file: "),
    ],
)
def test_check_of_a_broken_file_prints_one_line_and_exits_1(
    env: dict[str, str], tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "broken.toml"
    path.write_text(text, encoding="latin-1")
    line = one_error_line(run(env, "config", "check", str(path)))
    assert line.startswith(f"batchdeck: error: {path}{expected}"), line


def test_check_of_a_missing_file_named_by_config_prints_one_line(env: dict[str, str], tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    line = one_error_line(run(env, "--config", str(missing), "config", "check"))
    assert line == f"batchdeck: error: {missing}: file does not exist"


def test_config_without_an_action_is_a_usage_error(env: dict[str, str]) -> None:
    proc = run(env, "config")
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "batchdeck: error: the following arguments are required: {path,init,check} (see 'batchdeck config --help')"
    ]


# ---------------------------------------------------------------------- the template


def test_the_template_names_every_table_and_every_key_the_loader_accepts() -> None:
    template = render_template()
    assert set(SECTIONS) == set(TABLES)  # a new top-level table needs its SECTIONS entry
    data = tomllib.loads(uncommented(template))
    assert set(data) == set(TABLES)
    auth_written = {key for table in data["auth"].values() for key in table}
    assert auth_written == {"type", *auth_keys()}
    cluster_written = {key for table in data["clusters"].values() for key in table}
    accepted = {key for name in BACKENDS for key in cluster_keys(settings_class_of(name))}
    assert cluster_written == accepted
    for key in accepted | auth_written:
        assert f"\n# {key} = " in template


def test_the_template_uncommented_is_a_valid_configuration(tmp_path: Path) -> None:
    path = tmp_path / "all.toml"
    path.write_text(uncommented(render_template()))
    loaded = load_config(path)
    loaded.check()
    assert {"hpc", "localhost"} <= set(loaded.clusters)
    assert {loaded.clusters[n].type for n in loaded.clusters} >= {"slurm", "local"}


# ---------------------------------------------------------------------- the app


def test_config_note_shortens_home_and_long_paths(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert config_note(None) == NO_CONFIG_NOTE
    assert config_note(tmp_path / ".config" / "batchdeck" / "batchdeck.toml") == "~/.config/batchdeck/batchdeck.toml"
    long = config_note(Path("/srv") / ("x" * 60) / "batchdeck.toml")
    assert len(long) == 34 and long.startswith("…") and long.endswith("x/batchdeck.toml")


@pytest.mark.parametrize("with_file", [False, True])
async def test_the_clusters_pane_says_where_the_configuration_is(tmp_path: Path, with_file: bool) -> None:
    path = tmp_path / "batchdeck.toml"
    if with_file:
        path.write_text(f'[clusters.localhost]\nsandbox_root = "{tmp_path / "sandboxes"}"\n')
    config = load_config(path) if with_file else builtin_config()
    app = BatchdeckApp(Deck(config, Journal(tmp_path / "j.sqlite")), auto_refresh=False, owns_deck=True)
    async with app.run_test(size=(140, 42)) as pilot:
        await pilot.pause()
        shown = app.export_screenshot().replace("&#160;", " ")
    expected = config_note(path) if with_file else NO_CONFIG_NOTE
    assert f" {expected} " in shown
