"""Job templates (#13 item 5): ``[templates.NAME]`` checked at load in one line per mistake, and
``submit --template NAME`` running a real local job with the command line winning over the preset."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from batchdeck.backends.engine.config import load_config
from batchdeck.backends.errors import ConfigError

BATCHDECK = [sys.executable, "-m", "batchdeck.tui.cli"]


def config_with(tmp_path: Path, templates: str) -> Path:
    path = tmp_path / "batchdeck.toml"
    # the templates first: a bare top-level key after a table would belong to that table
    path.write_text(f'{templates}\n\n[clusters.c]\ntype = "local"\nsandbox_root = "{tmp_path / "sb"}"\n')
    return path


def cli(tmp_path: Path, config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BATCHDECK_DATA_DIR": str(tmp_path / "data"), "BATCHDECK_CONFIG": str(config)}
    return subprocess.run([*BATCHDECK, *args], env=env, capture_output=True, text=True, timeout=120)


GREET = """
[templates.greet]
cluster = "c"
name = "greeting"
cores = 2
walltime = "10m"
command = ["sh", "-c", "echo $GREETING from $0", "the-template"]
env = ["GREETING=hello"]
outputs = ["out"]
"""


def test_a_template_loads_with_every_value_checked(tmp_path: Path) -> None:
    template = load_config(config_with(tmp_path, GREET)).templates["greet"]
    assert (template.cluster, template.job_name, template.cores, template.walltime) == ("c", "greeting", 2, "10m")
    assert template.command == ("sh", "-c", "echo $GREETING from $0", "the-template")
    assert template.env == ("GREETING=hello",) and template.outputs == ("out",)


@pytest.mark.parametrize(
    ("table", "key", "words"),
    [
        ('[templates.t]\ncores = "4"', "templates.t.cores", "a whole number"),
        ("[templates.t]\ncores = 0", "templates.t.cores", "a whole number"),
        ('[templates.t]\nmemroy = "2G"', "templates.t.memroy", "unknown key"),
        ('[templates.t]\nscript = "a.sh"\ncommand = ["true"]', "templates.t.command", "not both"),
        ('[templates.t]\ncluster = "nosuch"', "templates.t.cluster", "no cluster named 'nosuch'"),
        ('[templates.t]\nmemory = "lots"', "templates.t.memory", "memory size"),
        ('[templates.t]\nwalltime = "soon"', "templates.t.walltime", "duration"),
        ('[templates.t]\nenv = ["NOEQUALS"]', "templates.t.env", "NAME=VALUE"),
        ('[templates.t]\ncommand = "echo hi"', "templates.t.command", "a list of strings"),
        ('templates = "x"', "templates", "expected [templates.NAME] tables"),
        ("[templates]\nt = 3", "templates.t", "expected a table"),
    ],
)
def test_each_mistake_is_one_line_naming_the_key(tmp_path: Path, table: str, key: str, words: str) -> None:
    path = config_with(tmp_path, table)
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    message = str(refused.value)
    assert key in message and words in message and "\n" not in message, message
    proc = cli(tmp_path, path, "list")
    assert proc.returncode != 0 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert key in proc.stderr and "Traceback" not in proc.stderr


def wait_and_status(tmp_path: Path, config: Path, job: str) -> dict[str, object]:
    done = cli(tmp_path, config, "wait", job, "--timeout", "60")
    assert done.returncode == 0, done.stderr
    return json.loads(cli(tmp_path, config, "status", job, "--json").stdout)  # type: ignore[no-any-return]


def test_submit_from_a_template_and_override_it(tmp_path: Path) -> None:
    config = config_with(tmp_path, GREET)
    first = cli(tmp_path, config, "submit", "--template", "greet")
    assert first.returncode == 0, first.stderr
    job = first.stdout.strip()
    status = wait_and_status(tmp_path, config, job)
    assert (status["name"], status["cluster"], status["outcome"]) == ("greeting", "c", "ok"), status
    assert cli(tmp_path, config, "peek", job).stdout == "hello from the-template\n"
    # the command line wins: its own name, environment and command
    second = cli(tmp_path, config, "submit", "--template", "greet", "--name", "mine", "--env", "GREETING=hi",
                 "--", "sh", "-c", "echo $GREETING")  # fmt: skip
    assert second.returncode == 0, second.stderr
    status = wait_and_status(tmp_path, config, second.stdout.strip())
    assert status["name"] == "mine"
    assert cli(tmp_path, config, "peek", second.stdout.strip()).stdout == "hi\n"


def test_an_unknown_template_is_one_line_naming_the_known_ones(tmp_path: Path) -> None:
    proc = cli(tmp_path, config_with(tmp_path, GREET), "submit", "--template", "gret")
    assert proc.returncode != 0 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        "batchdeck: error: --template 'gret': the configuration has no [templates.gret] (templates: greet)"
    ]
