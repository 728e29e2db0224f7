"""One job-spec builder for the CLI and the form: the same rules, the same messages."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from batchdeck.backends.engine.deck import Deck
from batchdeck.backends.engine.job_specs import JobSpecError, SpecText, build_spec, check_for_cluster
from batchdeck.backends.model import JobSpec
from batchdeck.backends.transports.ssh import SshTransport
from batchdeck.tui.cli import CliError, _spec_from_args, build_parser
from batchdeck.tui.submit_screen import check_form


@pytest.fixture
def deck(tmp_path: Path) -> Deck:
    config = Path(os.environ["BATCHDECK_CONFIG"])
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        f'[clusters.c]\ntype = "local"\nsandbox_root = "{tmp_path / "sb"}"\nmax_cores = 4\n'
        '\n[clusters.far]\ntype = "local"\nfrontend = "127.0.0.1"\nport = 1\nmax_cores = 2\n'
    )
    return Deck.open()


def cli_spec(*argv: str) -> JobSpec:
    return _spec_from_args(build_parser().parse_args(["submit", *argv]))


def test_the_cli_and_the_form_build_the_same_spec(deck: Deck, tmp_path: Path) -> None:
    data = tmp_path / "data.csv"
    data.write_text("1,2\n")
    from_cli = cli_spec("--cores", "2", "--memory", "1G", "--walltime", "90m", "--queue", "q", "--input",
                        f"{data}=in.csv", "--output", "out.txt", "--", "python", "run.py")
    check = check_form({"command": "python run.py", "cores": "2", "memory": "1G", "walltime": "90m",
                        "queue": "q", "inputs": f"{data}=in.csv", "outputs": "out.txt"}, "c", deck)
    assert check.errors == {}
    assert check.spec == from_cli
    assert from_cli.name == "python" and from_cli.inputs == {str(data): "in.csv"}

    script = tmp_path / "job.sh"
    script.write_text("echo hi\n")
    from_cli = cli_spec("--script", str(script))
    from_form = check_form({"script": str(script)}, "c", deck).spec
    assert from_form == from_cli and from_cli.script == "echo hi\n" and from_cli.name == "job.sh"


def test_the_same_mistakes_give_the_same_messages(deck: Deck, tmp_path: Path) -> None:
    missing = str(tmp_path / "nope")
    with pytest.raises(JobSpecError) as caught:
        cli_spec("--input", missing, "--", "true")
    form = check_form({"command": "true", "inputs": missing}, "c", deck)
    assert form.errors["inputs"] == str(caught.value) == f"input file {missing!r} does not exist"

    with pytest.raises(CliError) as usage:
        cli_spec("--memory", "lots", "--", "true")
    assert str(usage.value) == "--memory: " + check_form({"command": "true", "memory": "lots"}, "c", deck).errors["memory"]

    with pytest.raises(CliError) as zero:
        cli_spec("--cores", "0", "--", "true")
    assert str(zero.value) == check_form({"command": "true", "cores": "0"}, "c", deck).errors["cores"]

    assert build_spec(SpecText()).errors == {"command": "nothing to run: give a command or a script file"}


def test_the_live_checks_never_connect(deck: Deck) -> None:
    # port 1 refuses every connection: a check that connected would fail.
    spec = JobSpec(command=["true"], cores=1)
    assert check_for_cluster(deck, "far", spec) == {}
    assert "max_cores" in check_for_cluster(deck, "far", JobSpec(command=["true"], cores=3))["cores"]
    assert isinstance(deck.backend("far").transport, SshTransport)  # so it really is remote


async def test_a_submit_validates_once(deck: Deck) -> None:
    backend = deck.backend("c")
    calls: list[JobSpec] = []
    real = backend.validate_spec

    def counting(spec: JobSpec) -> None:
        calls.append(spec)
        real(spec)

    backend.validate_spec = counting  # type: ignore[method-assign]
    try:
        job = await deck.submit("c", JobSpec(command=["true"], name="once"))
        assert len(calls) == 1
        assert job.jobid is not None
    finally:
        await deck.close()
