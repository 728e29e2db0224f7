"""The ``batchdeck`` command: the app with no subcommand, a scriptable CLI with one.

The CLI uses the same engine and journal as the app. Errors exit non-zero with
one line on stderr, never a traceback. Textual is imported only to open the app.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from ..backends.engine import job_control, resubmit
from ..backends.engine.deck import CLEAN_AGE, Deck, lost_note, may_still_run, next_check, succeeded
from ..backends.engine.job_specs import JobSpecError, SpecText, build_spec, spec_changes, split_list
from ..backends.engine.script_directives import spec_with_script_directives
from ..backends.engine.session import Session
from ..backends.engine.templates import NO_TEMPLATE, JobTemplate
from ..backends.errors import BatchdeckError, ConfigError, RemoteFileNotFound
from ..backends.model import HistoryRecord, JobRecord, JobSpec, Outcome, counts_line
from ..backends.schedulers.base import NOT_WRITTEN, tag_of, task_ranges
from ..backends.task_array import parse_task_array
from ..backends.text import first_line, terminal_safe
from ..backends.transports.base import command_line
from ..backends.units import (
    format_exit,
    format_percent,
    format_walltime,
    format_when,
    parse_age,
    parse_walltime,
)

PROG = "batchdeck"
#: --verbose: messages in full, not reduced to their one meaningful line
_verbose = False


class CliError(BatchdeckError):
    """Bad command-line usage."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise CliError(f"{message} (see '{self.prog} --help')")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Jobs on HPC batch clusters, from the terminal.")
    parser.add_argument("--config", metavar="PATH", help="configuration file (default: $BATCHDECK_CONFIG or the user config dir)")
    parser.add_argument("-v", "--verbose", action="store_true", help="error messages in full (a scheduler's whole answer)")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    p = sub.add_parser("submit", help="submit a job; prints its batchdeck id")
    p.add_argument("--cluster", help="cluster name (default: localhost or the first configured)")
    p.add_argument("--name", default=None, help="job name")
    p.add_argument("--cores", type=int, default=None, help="cores (default: the script's directive, else 1)")
    p.add_argument("--memory", help="memory per core, e.g. 500M, 2G")
    p.add_argument("--walltime", help="e.g. 1:30:00, 90m, 2h")
    p.add_argument("--queue", help="queue / partition")
    p.add_argument("--architecture", help="CPU architecture the job needs, e.g. x86_64 (the cluster must declare it)")
    p.add_argument("--input", action="append", default=[], metavar="FILE", help="copy FILE into the sandbox")
    p.add_argument("--output", action="append", default=[], metavar="NAME", help="result file to fetch")
    p.add_argument("--script", metavar="FILE", help="run this script file (its text is copied)")
    p.add_argument("--stdout", default=None, help="stdout file name in the sandbox (default stdout.txt)")
    p.add_argument("--stderr", default=None, help="stderr file name in the sandbox (default stderr.txt)")
    p.add_argument("--dry-run", action="store_true", help="print the job script as it would be submitted, submit nothing")
    p.add_argument("--after", action="append", default=[], metavar="ID[:ok|any|notok]",
                   help="start only after that job (batchdeck id or CLUSTER:JOBID) ended ok (default), any way, or failed")  # fmt: skip
    p.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="environment variable")
    p.add_argument("--account", default="", help="account to charge (the cluster's scheduler must honour it)")
    p.add_argument("--qos", default="", help="QOS (SLURM) or project (Grid Engine, LSF)")
    p.add_argument("--gpus", default="", metavar="N", help="GPUs (SLURM)")
    p.add_argument("--nodes", default="", metavar="N", help="nodes (SLURM)")
    p.add_argument("--constraint", default="", help="node features (SLURM) or a resource string (Grid Engine -l, LSF -R)")
    p.add_argument("--array", default="", metavar="IDS",
                   help="a job array: task ids like 1-100%%10 (at most 10 at once), 1,3,5 or 1-9:2")  # fmt: skip
    p.add_argument("--extra", default="", metavar="WORDS", help="more scheduler arguments, as shell words, e.g. --extra='--exclusive'")
    p.add_argument("--template", metavar="NAME", help="start from the config's [templates.NAME]; options given here win")
    p.add_argument("argv", nargs=argparse.REMAINDER, help="-- COMMAND ARGS...")

    p = sub.add_parser("resubmit", help="submit a job again, with changes (GC3Pie's gresub); prints the new id")
    p.add_argument("id", help="a batchdeck id, or CLUSTER:JOBID (SLURM: from the scheduler's copy of the script)")
    p.add_argument("--cores", type=int)
    p.add_argument("--memory", help="memory per core, e.g. 500M, 2G")
    p.add_argument("--walltime", help="e.g. 1:30:00, 90m, 2h")
    p.add_argument("--queue", help="queue / partition")
    p.add_argument("--name")
    p.add_argument("--failed-only", action="store_true",
                   help="an array job (CLUSTER:JOBID): submit only its failed tasks again, as the scheduler ran them")  # fmt: skip
    p.add_argument("--dry-run", action="store_true", help="print the job script as it would be submitted, submit nothing")

    p = sub.add_parser("list", help="batchdeck's jobs")
    p.add_argument("--cluster")
    p.add_argument("--json", action="store_true")
    p.add_argument("--no-refresh", action="store_true", help="show the journal without asking the clusters")

    p = sub.add_parser("status", help="one job's state")
    p.add_argument("id")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("peek", help="print a job's output (ID, or CLUSTER:JOBID for any of your jobs)")
    p.add_argument("id")
    p.add_argument("--stderr", action="store_true", help="stderr instead of stdout")
    p.add_argument("--bytes", type=int, default=65536, metavar="N", help="last N bytes (0: the whole file)")
    p.add_argument("--follow", action="store_true", help="keep printing new output until the job ends")
    p.add_argument("--task", metavar="N", help="an array job's task N (its own stdout/stderr)")

    p = sub.add_parser("get", help="download a job's results into DIR")
    p.add_argument("id")
    p.add_argument("dir")
    p.add_argument("--overwrite", action="store_true", help="replace existing files (changed ones only, unless --all)")
    p.add_argument("--all", action="store_true", help="with --overwrite, copy every file unconditionally")

    p = sub.add_parser("cancel", help="cancel a job (a batchdeck id, or CLUSTER:JOBID for any of your jobs)")
    p.add_argument("id")

    p = sub.add_parser("show", help="everything the scheduler says about a job (ID or CLUSTER:JOBID)")
    p.add_argument("id")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("signal", help="send a signal to a job (ID or CLUSTER:JOBID)")
    p.add_argument("id")
    p.add_argument("signal", type=str.upper, help="TERM, INT, HUP, USR1, USR2, KILL (STOP, CONT)")

    for name, text in (("hold", "hold a pending job"), ("release", "release a held job")):
        p = sub.add_parser(name, help=f"{text} (ID or CLUSTER:JOBID)")
        p.add_argument("id")

    p = sub.add_parser("timelimit", help="give a job a new time limit, where the scheduler allows it")
    p.add_argument("id")
    p.add_argument("walltime", help="e.g. 1:30:00, 90m, 2h")

    p = sub.add_parser("free", help="delete a TERMINATED job's sandbox on the cluster")
    p.add_argument("id")
    p.add_argument("--force", action="store_true", help="also when result files have no local copy (they are lost)")

    p = sub.add_parser("history", help="your finished jobs from the clusters' accounting (not only batchdeck's)")
    p.add_argument("--cluster", help="one cluster (default: every cluster with a scheduler)")
    p.add_argument("--since", default="7d", metavar="AGE", help="how far back, e.g. 12h, 7d, 2w (default 7d)")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="at most N jobs per cluster (newest first)")
    p.add_argument("--offset", type=int, default=0, metavar="N", help="skip the N newest (with --limit: paging)")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("forget", help="remove jobs from the journal (their sandboxes stay until freed)")
    p.add_argument("ids", nargs="+", metavar="ID")
    p.add_argument("--force", action="store_true", help="also forget jobs the scheduler may still run")

    p = sub.add_parser("clean", help="forget finished jobs older than an age (GC3Pie's gclean)")
    p.add_argument("--older-than", default=CLEAN_AGE, metavar="AGE", help=f"e.g. 30d, 12h, 2w (default {CLEAN_AGE})")
    p.add_argument("--cluster")
    p.add_argument(
        "--outcome", action="append", metavar="OUTCOME",
        help=f"only jobs that ended so (repeat or comma-separate: {', '.join(o.value for o in Outcome)})",
    )
    p.add_argument("--dry-run", action="store_true", help="list what would be forgotten, forget nothing")

    p = sub.add_parser("wait", help="wait until every job named has finished; exit 1 if one did not succeed")
    p.add_argument("ids", nargs="+", metavar="ID")
    p.add_argument("--notify", action="store_true", help="ring the bell and raise a desktop notification (OSC 9/777) as each ends")
    p.add_argument("--timeout", type=float, default=None, metavar="SECONDS", help="give up after this long (exit 124)")

    p = sub.add_parser("clusters", help="configured clusters")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("queues", help="a cluster's queues")
    p.add_argument("--cluster")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("jobs", help="every job the cluster's scheduler lists for you (not only batchdeck's)")
    p.add_argument("--cluster")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("import-gc3pie", help="print a GC3Pie configuration's resources as batchdeck clusters")
    p.add_argument("path", nargs="?", help="GC3Pie configuration (default: ~/.gc3/gc3pie.conf)")
    p.add_argument("--write", action="store_true", help="merge them into batchdeck's configuration file")

    p = sub.add_parser("config", help="the configuration file: where it is, a commented one, whether it loads")
    actions = p.add_subparsers(dest="action", metavar="{path,init,check}", parser_class=_Parser)
    actions.required = True
    config_parsers = [
        actions.add_parser("path", help="print the configuration file batchdeck reads and whether it exists"),
        actions.add_parser("init", help="write a commented configuration naming every key (built-in localhost only)"),
        actions.add_parser("check", help="load the configuration as the app does: one line per cluster, then ok"),
    ]
    config_parsers[1].add_argument("path", nargs="?", help="where to write it (default: the file batchdeck reads)")
    config_parsers[1].add_argument("--force", action="store_true", help="replace the file if it exists")
    config_parsers[2].add_argument("path", nargs="?", help="the file to check (default: the file batchdeck reads)")
    config_parsers[2].add_argument("--connect", action="store_true", help="also log in to every cluster and ask its scheduler")

    p = sub.add_parser("serve", help="the app in a browser, behind a secret token (needs batchdeck[serve])")
    p.add_argument("--port", type=int, default=8000, help="TCP port (default 8000; 0 picks a free one)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--allow-remote", action="store_true", help="allow a --host other than loopback")

    for each in [*sub.choices.values(), *config_parsers]:
        # also after the subcommand; SUPPRESS keeps it from resetting one given before it
        each.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="messages in full")
    return parser


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=True))


def _elapsed(job: JobRecord) -> str:
    if not job.started:
        return "-"
    end = job.finished or time.time()
    return format_walltime(max(0, end - job.started))


def _print_jobs(jobs: Sequence[JobRecord]) -> None:
    rows = [("ID", "NAME", "CLUSTER", "JOBID", "STATE", "OUTCOME", "ELAPSED", "EXIT", "REASON")]
    for job in jobs:
        exit_text = "-"
        if job.signal is not None:
            exit_text = f"sig {job.signal}"
        elif job.exitcode is not None:
            exit_text = str(job.exitcode)
        state = job.state.value + (" (stale)" if job.stale else "")
        if job.spec.array:
            state += f" [{counts_line(job.task_counts())}]"  # an array: its tasks counted by state
        reason = " · ".join(part for part in (job.reason, next_check(job)) if part)
        rows.append(
            (job.id, job.name, job.cluster, job.jobid or "-", state, str(job.outcome or "-"), _elapsed(job), exit_text,
             reason)
        )
    _print_table(rows)


def _print_table(rows: Sequence[Sequence[str]]) -> None:
    rows = [[terminal_safe(cell) for cell in row] for row in rows]
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


#: how the CLI names the fields a job-spec message names
CLI_LABELS = {
    "command": "-- COMMAND ARGS...",
    "script": "--script FILE",
    "cores": "--cores",
    "memory": "--memory",
    "walltime": "--walltime",
    "env": "--env",
    "account": "--account",
    "qos": "--qos",
    "gpus": "--gpus",
    "nodes": "--nodes",
    "constraint": "--constraint",
    "array": "--array",
}
#: fields whose errors are bad usage of the command line (the others are bad files)
USAGE_FIELDS = frozenset(
    {"command", "cores", "memory", "walltime", "env", "account", "qos", "gpus", "nodes", "constraint", "array"}
)


def _template(deck: Deck, args: argparse.Namespace) -> JobTemplate:
    """The ``--template`` named (an empty one without it)."""
    if not args.template:
        return NO_TEMPLATE
    try:
        return deck.config.templates[args.template]
    except KeyError:
        known = ", ".join(deck.config.templates) or "none"
        raise CliError(f"--template {args.template!r}: the configuration has no [templates.{args.template}] (templates: {known})") from None


def _spec_from_args(args: argparse.Namespace, template: JobTemplate = NO_TEMPLATE) -> JobSpec:
    argv = list(args.argv)
    if argv and argv[0] == "--":
        argv = argv[1:]
    # What the command line gives wins; a template fills in the rest. Its command (or script)
    # is used when the command line names neither; a script's arguments may still follow.
    script = args.script or ("" if argv and not template.script else template.script)
    command = argv if not script else []
    if not script and not command:
        command = list(template.command)
    cores = args.cores if args.cores is not None else template.cores
    try:
        extra = split_list(args.extra)
    except ValueError as exc:
        raise CliError(f"--extra: {exc}") from None
    text = SpecText(
        command=command,
        script=script,
        arguments=argv if script else [],
        name=args.name or template.job_name,
        queue=args.queue or template.queue,
        cores="1" if cores is None else str(cores),
        memory=args.memory or template.memory,
        walltime=args.walltime or template.walltime,
        inputs=[*template.inputs, *args.input],
        outputs=[*template.outputs, *args.output],
        env=[*template.env, *args.env],
        stdout=args.stdout or "stdout.txt",
        stderr=args.stderr or "stderr.txt",
        architecture=args.architecture or template.architecture,
        account=args.account,
        qos=args.qos,
        gpus=args.gpus,
        nodes=args.nodes,
        constraint=args.constraint,
        extra_args=extra,
        array=args.array,
    )
    try:
        return build_spec(text, CLI_LABELS).raise_first()
    except JobSpecError as exc:
        if exc.field in USAGE_FIELDS:
            raise CliError(str(exc)) from None
        raise


async def _refresh(session: Session, clusters: Sequence[str], due_only: bool = False) -> list[str]:
    """Poll these clusters once through the session (all at the same time, each at most once at a
    time); return one warning line per cluster that failed."""
    errors = await session.refresh(clusters, due_only)
    return [f"warning: cluster {cluster!r} could not be refreshed: {why}" for cluster, why in errors.items()]


def _shown(message: object) -> str:
    """A message for the terminal: escaped, and one line unless --verbose."""
    if _verbose:
        return "\n  ".join(terminal_safe(line) for line in str(message).splitlines() or [""])
    line, more = first_line(message)
    suffix = f" [{more} more line{'s' if more > 1 else ''}: --verbose]" if more else ""
    return terminal_safe(line) + suffix


def _warn(lines: Sequence[str]) -> None:
    for line in lines:
        print(f"{PROG}: {_shown(line)}", file=sys.stderr)


def _warn_about_malformed(deck: Deck) -> None:
    _warn([f"warning: {why}: skipped" for why in deck.journal.malformed.values()])


def _non_utf8_argument(argv: Sequence[str]) -> str | None:
    """The first argument that is not valid UTF-8 (Python keeps its bytes as surrogates), if any."""
    for arg in argv:
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            return arg
    return None


def _warn_about_clusters(deck: Deck, clusters: Sequence[str]) -> None:
    _warn([f"warning: cluster {c!r}: {deck.status[c].warning}" for c in clusters if deck.status.get(c) and deck.status[c].warning])


async def _run(args: argparse.Namespace, deck: Deck) -> int:
    command = args.command
    cluster_arg = getattr(args, "cluster", None)
    if command in ("submit", "queues", "jobs") or cluster_arg:
        _warn_about_clusters(deck, [cluster_arg or deck.config.default_cluster])
    elif getattr(args, "id", None):
        try:
            _warn_about_clusters(deck, [deck.job(args.id).cluster])
        except BatchdeckError:
            pass
    if command == "submit":
        template = _template(deck, args)
        spec = _spec_from_args(args, template)
        cluster = args.cluster or template.cluster or deck.config.default_cluster
        # a template's values were given too: they win over the script's own directives
        given = {"name": args.name or template.job_name or None,
                 "cores": args.cores if args.cores is not None else template.cores,
                 "walltime": args.walltime or template.walltime or None,
                 "memory_per_core": args.memory or template.memory or None,
                 "queue": args.queue or template.queue or None, "stdout": args.stdout, "stderr": args.stderr,
                 "array": args.array or None}  # fmt: skip
        explicit = {key for key, value in given.items() if value is not None}
        scheduler = deck.scheduler(cluster)
        spec, notes = spec_with_script_directives(spec, scheduler, explicit)
        _warn([f"note: {note}" for note in notes])
        if args.after:
            conditions = [_dependency(deck, cluster, text) for text in args.after]
            spec.directives = [*spec.directives, *scheduler.dependency_directives(conditions)]
        return await _submit_or_show(deck, cluster, spec, args.dry_run)
    if command == "resubmit":
        return await _resubmit(deck, args)
    if command == "list":
        if args.cluster:
            deck.config.cluster(args.cluster)
        session = Session(deck)
        jobs = session.track_cluster(args.cluster)
        failed: list[str] = []
        if not args.no_refresh:
            # a submit still unresolved is asked about too, even as its cluster's only such job
            active = sorted({j.cluster for j in jobs if may_still_run(j)})
            failed = await _refresh(session, active)
            _warn(failed)
            jobs = sorted(
                (j for j in session.jobs.values() if args.cluster in (None, j.cluster)), key=lambda j: j.created
            )
        _warn_about_malformed(deck)
        if args.json:
            _print_json([j.summary() for j in jobs])
        else:
            _print_jobs(jobs)
        # the table is there, but not up to date: a script must be able to tell
        return 1 if failed else 0
    if command == "status":
        session = Session(deck)
        [job] = session.track([args.id])
        if may_still_run(job):
            _warn(await _refresh(session, [job.cluster]))
            job = session.current(job.id)
        if args.json:
            _print_json(job.summary())
        else:
            _print_jobs([job])
        return 0
    if command == "peek":
        return await _peek(deck, args)
    if command == "get":
        session = Session(deck)
        [job] = session.track([args.id])
        if may_still_run(job):
            _warn(await _refresh(session, [job.cluster]))
        report = await deck.get_results(args.id, args.dir, overwrite=args.overwrite, changed_only=not args.all)
        for name in report.copied:
            print(f"copied   {terminal_safe(name)}")
        for name in report.skipped:
            print(f"skipped  {terminal_safe(name)}")
        for name, why in report.failed.items():
            print(f"failed   {terminal_safe(name)}: {_shown(why)}")
        for name in report.missing:
            print(f"missing  {terminal_safe(name)}: {NOT_WRITTEN}")
        print(
            f"{len(report.copied)} copied, {len(report.skipped)} skipped, {len(report.failed)} failed"
            + (f", {len(report.missing)} missing" if report.missing else "")
        )
        if report.missing and not report.failed:
            _warn([f"{len(report.missing)} declared output(s) missing: {', '.join(map(terminal_safe, report.missing))}"])
        if report.skipped and not args.overwrite:
            _warn([
                f"note: {len(report.skipped)} file(s) skipped because {args.dir} already has files of those names; "
                "a skipped file counts as fetched only if batchdeck copied it there before (--overwrite fetches them)"
            ])
        return 0 if report.ok else 1
    if command == "show":
        return await _show(deck, args)
    if command in ("signal", "hold", "release", "timelimit"):
        return await _control(deck, args)
    if command == "cancel" and _is_target(deck, args.id):
        cluster, jobid, _record = _target(deck, args.id)
        answer = await job_control.control(deck.backend(cluster), "cancel", jobid)
        print(f"{cluster}:{jobid} cancel requested{': ' + answer if answer else ''}")
        return 0
    if command == "cancel":
        job = await deck.cancel(args.id)
        print(terminal_safe(f"{job.id} {job.state.value}{' (' + job.reason + ')' if job.reason else ''}"))
        return 0
    if command == "free":
        job = await deck.free(args.id, force=args.force)
        print(f"{terminal_safe(job.id)} sandbox freed")
        return 0
    if command == "wait":
        return await _wait(deck, args)
    if command == "history":
        return await _history(deck, args)
    if command == "forget":
        return _forget(deck, [deck.job(ident) for ident in args.ids], force=args.force)
    if command == "clean":
        return _clean(deck, args)
    if command == "clusters":
        records = []
        for name in deck.cluster_names:
            record: dict[str, Any] = {"name": name}
            if name in deck.config.broken:
                record.update(type=None, transport=None, frontend=None, error=str(deck.config.broken[name]))
            else:
                conf = deck.config.clusters[name]
                record.update(type=conf.type, transport=conf.transport, frontend=conf.frontend, error=None)
                if deck.status[name].warning:
                    record["warning"] = deck.status[name].warning
            record["jobs"] = len(deck.jobs(name))
            records.append(record)
        _warn_about_malformed(deck)
        if args.json:
            _print_json(records)
        else:
            rows: list[tuple[str, ...]] = [("NAME", "TYPE", "TRANSPORT", "FRONTEND", "JOBS", "NOTE")]
            for r in records:
                note = r.get("error") or r.get("warning") or ""
                rows.append((r["name"], r["type"] or "-", r["transport"] or "-", r["frontend"] or "-", str(r["jobs"]), note))
            _print_table(rows)
        return 0
    if command == "queues":
        cluster = args.cluster or deck.config.default_cluster
        queues = await deck.queues(cluster)
        if args.json:
            _print_json([q.to_dict() for q in queues])
        else:
            rows = [("QUEUE", "STATE", "FREE/TOTAL CORES", "RUNNING", "PENDING", "MAX WALLTIME")]
            for q in queues:
                cores = f"{'-' if q.free_cores is None else q.free_cores}/{'-' if q.total_cores is None else q.total_cores}"
                name = q.name + ("*" if q.is_default else "")
                rows.append((name, q.state, cores, str(q.running), str(q.pending), format_walltime(q.max_walltime)))
            _print_table(rows)
        return 0
    if command == "jobs":
        cluster = args.cluster or deck.config.default_cluster
        listed = await deck.list_jobs(cluster)
        if args.json:
            _print_json([{**j.to_dict(), "batchdeck_id": tag_of(j.name)} for j in listed])
        else:
            rows = [("JOBID", "NAME", "USER", "QUEUE", "STATE", "RAW", "REASON")]
            for j in listed:
                jobid = j.jobid if j.array_task is None else f"{j.array_id or j.jobid}_{j.array_task}"
                rows.append((jobid, j.name, j.user, j.queue, j.state.value, j.raw_state, j.reason))
            _print_table(rows)
        return 0
    raise CliError(f"unknown command {command!r}")


def _is_target(deck: Deck, text: str) -> bool:
    """``CLUSTER:JOBID``: any of the user's jobs on a configured cluster."""
    cluster, sep, _ = text.partition(":")
    return bool(sep) and cluster in deck.cluster_names


def _target(deck: Deck, text: str) -> tuple[str, str, JobRecord | None]:
    """(cluster, scheduler job id, batchdeck's record if it is one of batchdeck's jobs)."""
    if _is_target(deck, text):
        cluster, _, jobid = text.partition(":")
        if not jobid or not jobid.isprintable() or jobid.strip() != jobid:
            raise CliError(f"{text!r}: expected CLUSTER:JOBID with a scheduler job id after the colon")
        job_control.checked_job_id(jobid)  # never an option or a wildcard of qdel / scancel
        deck.config.cluster(cluster)
        mine = [j for j in deck.jobs(cluster) if j.jobid == jobid]
        return cluster, jobid, mine[0] if mine else None
    job = deck.job(text)
    if not job.jobid:
        raise CliError(f"job {job.id} has no scheduler job id yet ({job.state.value}{': ' + job.reason if job.reason else ''})")
    return job.cluster, job.jobid, job


async def _resubmit(deck: Deck, args: argparse.Namespace) -> int:
    cluster, jobid, record = _target(deck, args.id) if _is_target(deck, args.id) else (None, None, deck.job(args.id))
    try:
        changes = spec_changes(
            cores=None if args.cores is None else str(args.cores),
            memory=args.memory or None,
            walltime=args.walltime or None,
            queue=args.queue,
            name=args.name,
            labels=CLI_LABELS,
        )
    except JobSpecError as exc:
        raise CliError(str(exc)) from None
    if args.failed_only:
        return await _resubmit_failed_tasks(deck, args, cluster, jobid, record, changes)
    notes: list[str] = []
    if record is not None:
        cluster = record.cluster
        # the stored spec, with its directives as they were: only what is asked changes
        spec = dataclasses.replace(record.spec, **changes)
    else:
        assert cluster is not None and jobid is not None
        script = await job_control.batch_script(deck.backend(cluster), jobid)
        details = await job_control.job_details(deck.backend(cluster), jobid)
        base = JobSpec(script=script, name=details.name or "job")
        spec, notes = spec_with_script_directives(
            dataclasses.replace(base, **changes), deck.scheduler(cluster), set(changes)
        )
    _warn([f"note: {note}" for note in notes])
    return await _submit_or_show(deck, cluster, spec, args.dry_run)


async def _resubmit_failed_tasks(
    deck: Deck, args: argparse.Namespace, cluster: str | None, jobid: str | None, record: JobRecord | None,
    changes: dict[str, Any],
) -> int:  # fmt: skip
    """``--failed-only``: the array's failed task ids, submitted again by the scheduler itself, in the
    job's own directory: the new array is one of the user's jobs batchdeck did not submit, CLUSTER:JOBID,
    as the old one. One of batchdeck's own arrays is submitted again from its stored spec."""
    if record is not None:
        # one of batchdeck's own arrays: its stored spec again, with just the failed task ids
        if not record.spec.array:
            raise CliError(f"--failed-only: job {record.id} is not an array job")
        if record.state.is_active:
            raise CliError(f"--failed-only: array job {record.id} is still {record.state}; wait until its tasks have ended")
        failed = record.failed_tasks()
        if not failed:
            raise CliError(f"--failed-only: no task of array job {record.id} failed")
        # the same throttle (%N) as the first time
        again = dataclasses.replace(parse_task_array(task_ranges([int(t) for t in failed])),
                                    throttle=parse_task_array(record.spec.array).throttle)  # fmt: skip
        spec = dataclasses.replace(record.spec, **changes, array=again.text())
        return await _submit_or_show(deck, record.cluster, spec, args.dry_run)
    if cluster is None or jobid is None:
        raise CliError(f"--failed-only: give a batchdeck array job or CLUSTER:JOBID of an array job, not {args.id}")
    backend = deck.backend(cluster)
    plan = await resubmit.plan_failed_tasks(backend, jobid, changes)
    tasks = task_ranges(plan.tasks)
    if args.dry_run:
        print("# " + command_line(plan.argv) + " < (the scheduler's copy of the script, below)")
        sys.stdout.write(plan.script)
        return 0
    new = await resubmit.submit_tasks(backend, plan)
    _warn([f"note: resubmitted tasks {tasks} ({len(plan.tasks)} of the {plan.known} tasks accounting knows)"])
    print(f"{cluster}:{new}")
    return 0


async def _submit_or_show(deck: Deck, cluster: str, spec: JobSpec, dry_run: bool) -> int:
    """Submit and print the new id; or, dry, print the job script exactly as it would be submitted."""
    if dry_run:
        sys.stdout.write(await deck.job_script(cluster, spec))
        return 0
    job = await deck.submit(cluster, spec)
    print(job.id)
    return 0


def _dependency(deck: Deck, cluster: str, text: str) -> tuple[str, str]:
    """``ID[:ok|any|notok]`` / ``CLUSTER:JOBID[:kind]`` -> (kind, the scheduler's job id on ``cluster``)."""
    target, sep, kind = text.rpartition(":")
    if not sep or kind not in ("ok", "any", "notok"):
        target, kind = text, "ok"
    on, jobid, _record = _target(deck, target)
    if on != cluster:
        raise CliError(f"--after {text}: that job runs on {on!r}; a job can only wait for jobs of its own cluster ({cluster!r})")
    return kind, jobid


def _when(epoch: float | None) -> str:
    return format_when(epoch, time.time())


async def _show(deck: Deck, args: argparse.Namespace) -> int:
    cluster, jobid, record = _target(deck, args.id)
    now = time.time()
    lost = lost_note(record, now) if record is not None else ""
    details = await job_control.details_of(deck.backend(cluster), jobid, record, now)
    if args.json:
        data = details.to_dict()
        if lost and record is not None:
            data.update(lost=lost, recheck_at=record.recheck_at)
        _print_json(data)
        return 0
    rows = job_control.details_rows(details, now, lost)
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    return 0


async def _control(deck: Deck, args: argparse.Namespace) -> int:
    cluster, jobid, _record = _target(deck, args.id)
    action, value = args.command, None
    if action == "signal":
        value = args.signal.removeprefix("SIG")
    elif action == "timelimit":
        action = "time_limit"
        try:
            value = str(parse_walltime(args.walltime))
        except ValueError as exc:
            raise CliError(f"walltime: {exc}") from None
    answer = await job_control.control(deck.backend(cluster), action, jobid, value)
    done = {"signal": f"sent SIG{value}", "hold": "held", "release": "released", "time_limit": "new time limit set"}
    print(f"{cluster}:{jobid} {done[action]}{': ' + answer if answer else ''}")
    return 0


async def _history(deck: Deck, args: argparse.Namespace) -> int:
    try:
        since = time.time() - parse_age(args.since)
    except ValueError as exc:
        raise CliError(f"--since: {exc}") from None
    if args.limit is not None and args.limit < 1 or args.offset < 0:
        raise CliError("--limit must be >= 1 and --offset >= 0")
    if args.cluster:
        deck.config.cluster(args.cluster)
        clusters = [args.cluster]
    else:
        clusters = [n for n in deck.config.clusters if deck.scheduler(n).keeps_accounting]
        if not clusters:
            raise CliError("no cluster with a scheduler is configured (local clusters keep no accounting)")

    async def one(cluster: str) -> list[HistoryRecord] | BatchdeckError:
        try:
            return await deck.history(cluster, since)
        except BatchdeckError as exc:
            return exc

    answers = await asyncio.gather(*(one(c) for c in clusters))
    failed = 0
    rows: list[tuple[str, HistoryRecord]] = []
    for cluster, answer in zip(clusters, answers, strict=True):
        if isinstance(answer, BatchdeckError):
            failed += 1
            print(f"{PROG}: {answer}", file=sys.stderr)
            continue
        end = None if args.limit is None else args.offset + args.limit
        rows.extend((cluster, record) for record in answer[args.offset : end])
    if args.json:
        _print_json([{"cluster": cluster, **record.to_dict()} for cluster, record in rows])
    else:
        table: list[tuple[str, ...]] = [("CLUSTER", "JOBID", "NAME", "OUTCOME", "EXIT", "ELAPSED", "CORES", "CPU", "MEM", "ENDED")]
        for cluster, r in rows:
            ended = time.strftime("%Y-%m-%d %H:%M", time.localtime(r.end_time)) if r.end_time else "-"
            table.append((cluster, r.jobid, r.name, r.outcome or r.state, format_exit(r.exitcode, r.signal), format_walltime(r.elapsed),
                          str(r.cores or "-"), format_percent(r.cpu_efficiency), format_percent(r.memory_efficiency), ended))  # fmt: skip
        _print_table(table)
    return 1 if failed else 0


def _forget(deck: Deck, jobs: Sequence[JobRecord], force: bool, dry_run: bool = False) -> int:
    """Forget the jobs; refuse (all of them) if one may still run, unless forced."""
    running = [job for job in jobs if not _finished(job)]
    if running and not force:
        names = ", ".join(f"{job.id} ({job.state.value} on {job.cluster})" for job in running)
        raise CliError(f"not forgetting jobs the scheduler may still run: {names}; cancel them first, or --force")
    kept = [job for job in jobs if job.sandbox]
    if not dry_run:
        deck.journal.forget(job.id for job in jobs)
    verb = "would forget" if dry_run else "forgot"
    for job in jobs:
        print(f"{verb} {job.id} {job.name} ({job.state.value} on {job.cluster})")
    for job in kept:
        print(f"{PROG}: note: {job.id}: its sandbox {job.sandbox} on {job.cluster} was not freed", file=sys.stderr)
    return 0


def _clean(deck: Deck, args: argparse.Namespace) -> int:
    try:
        age = parse_age(args.older_than)
    except ValueError as exc:
        raise CliError(f"--older-than: {exc}") from None
    if args.cluster:
        deck.config.cluster(args.cluster)
    outcomes: set[Outcome] | None = None
    if args.outcome:
        words = [w.strip() for text in args.outcome for w in text.split(",") if w.strip()]
        unknown = [w for w in words if Outcome.parse(w) is None]
        if unknown or not words:
            raise CliError(
                f"--outcome: {', '.join(map(repr, unknown)) or 'nothing given'} is not an outcome; "
                f"expected {', '.join(o.value for o in Outcome)}"
            )
        outcomes = {o for o in map(Outcome.parse, words) if o is not None}
    old = deck.clean_candidates(age, args.cluster, outcomes)
    if not old:
        which = f" with outcome {', '.join(sorted(o.value for o in outcomes))}" if outcomes else ""
        print(f"no finished job{which} older than {args.older_than}")
        return 0
    return _forget(deck, old, force=False, dry_run=args.dry_run)


def _finished(job: JobRecord) -> bool:
    return not may_still_run(job)


async def _wait(deck: Deck, args: argparse.Namespace) -> int:
    """Poll each cluster of the named jobs at its own interval until all have finished."""
    if args.timeout is not None and args.timeout <= 0:
        raise CliError("--timeout must be > 0")
    session = Session(deck)
    waiting = {job.id for job in session.track(args.ids)}
    deadline = None if args.timeout is None else session.monotonic() + args.timeout
    all_ok = True

    def report_finished() -> None:
        nonlocal all_ok
        for job_id in sorted(waiting):
            job = session.current(job_id)
            if not _finished(job):
                continue
            waiting.discard(job_id)
            ok = succeeded(job)
            all_ok = all_ok and ok
            line = f"{job.id} {job.name}: {job.state.value}{' (' + job.reason + ')' if job.reason else ''}"
            print(line, flush=True)
            if args.notify:
                _notify("batchdeck: job " + ("done" if ok else "did not succeed"), line)

    while True:
        report_finished()
        if not waiting:
            return 0 if all_ok else 1
        clusters = sorted({session.current(j).cluster for j in waiting})
        # each cluster at its own interval (a failing one backs off), one status query each
        _warn(await _refresh(session, clusters, due_only=True))
        report_finished()
        if not waiting:
            return 0 if all_ok else 1
        if deadline is not None and session.monotonic() >= deadline:
            print(f"{PROG}: still running after {args.timeout:g} s: {' '.join(sorted(waiting))}", file=sys.stderr)
            return 124
        await session.wait_before_next(clusters, deadline)


def _notify(title: str, body: str) -> None:
    from .terminal_notify import send

    send(title, body)


#: bytes per read when peek streams a file: memory stays about one chunk, and no
#: single remote command runs long enough to meet the SSH timeout, whatever the size
PEEK_CHUNK = 4 * 1024 * 1024


#: seconds between two reads of a followed file (tail -f's pace); whether the job still runs is
#: asked of the session, which polls its cluster only at the cluster's poll interval
FOLLOW_READ_EVERY = 1.0


#: reads ``size`` bytes (None: to the end) at ``offset`` (< 0: from the end): the bytes and the file's size
Reader = Callable[[int, int | None], Awaitable[tuple[bytes, int]]]


async def _peek(deck: Deck, args: argparse.Namespace) -> int:
    if args.bytes < 0:
        raise CliError("--bytes must be >= 0")
    if _is_target(deck, args.id):
        cluster, jobid, record = _target(deck, args.id)
        if record is None:
            if args.task is not None:
                if not args.task.isdecimal():
                    raise CliError(f"--task expects a task id (a whole number), got {args.task!r}")
                jobid = deck.backend(cluster).task_jobid(jobid, int(args.task))
            return await _peek_any(deck, cluster, jobid, args)
        job = record
    else:
        job = deck.job(args.id)
    session = Session(deck)
    session.track([job.id])

    async def refreshed() -> JobRecord:
        """The job as the session has it, its cluster polled first when its poll is due."""
        if may_still_run(session.current(job.id)):
            await _refresh_or_fail(session, session.current(job.id).cluster)
        return session.current(job.id)

    job.output_name(args.stderr, args.task)  # an array needs its task, a plain job has none
    job, first, size = await _peek_first(deck, job, args, refreshed)

    def read(offset: int, size: int | None) -> Awaitable[tuple[bytes, int]]:
        return deck.peek(job.id, args.stderr, offset=offset, size=size, task=args.task)

    async def running() -> bool:
        return (await refreshed()).state.is_active

    return await _stream(read, running, first, size, args, _output_name(job, args))


async def _refresh_or_fail(session: Session, cluster: str) -> None:
    """Poll the cluster through the session if its poll is due; a failed poll ends the peek (exit 1)."""
    errors = await session.refresh([cluster], due_only=True)
    if cluster in errors:
        raise BatchdeckError(errors[cluster])


async def _peek_any(deck: Deck, cluster: str, jobid: str, args: argparse.Namespace) -> int:
    """Peek at any of the user's jobs (plain sbatch / qsub): the output file the scheduler names, read
    where it is, with the same bounded reads as a batchdeck job's."""
    backend = deck.backend(cluster)
    which = "stderr" if args.stderr else "stdout"
    details = await job_control.job_details(backend, jobid)
    path = details.stderr if args.stderr else details.stdout
    if not path:
        ended = "" if details.state.is_active else " (for a finished job the accounting keeps no output path)"
        raise CliError(f"{cluster}:{jobid}: the scheduler does not say where its {which} goes{ended}")
    name = f"{cluster}:{jobid}'s {which} {path}"
    session = Session(deck)

    def read(offset: int, size: int | None) -> Awaitable[tuple[bytes, int]]:
        return backend.transport.read_range(path, offset, size)

    async def running() -> bool:
        # The cluster's status listing, through the session at the cluster's poll interval (the
        # same one query per refresh that covers batchdeck's jobs). Listed when the peek began,
        # so gone means ended: Grid Engine forgets a finished job before qacct has it.
        await _refresh_or_fail(session, cluster)
        info = session.listed(cluster, jobid)
        return info is not None and info.state.is_active

    offset = 0 if args.bytes == 0 else -args.bytes
    said = False
    while True:
        try:
            first, size = await read(offset, PEEK_CHUNK if args.bytes == 0 else min(PEEK_CHUNK, args.bytes))
            break
        except RemoteFileNotFound:
            # a pending job has not opened its output yet: with --follow, wait for it as for our own jobs
            if not (args.follow and await running()):
                raise CliError(f"{terminal_safe(name)} does not exist (yet)") from None
        if not said:
            print(f"{PROG}: waiting for {terminal_safe(name)}", file=sys.stderr)
            said = True
        await asyncio.sleep(FOLLOW_READ_EVERY)
    return await _stream(read, running, first, size, args, name)


async def _stream(
    read: Reader, running: Callable[[], Awaitable[bool]], first: bytes, size: int, args: argparse.Namespace, name: str
) -> int:
    """Print the rest of the window ``first`` began, then with --follow what is appended until the job ends."""
    out = sys.stdout.buffer
    # The start of what is printed: the last --bytes of the file at the first read.
    position = (0 if args.bytes == 0 else max(0, size - args.bytes)) + len(first)
    out.write(first)
    out.flush()
    while position < size:
        data, _total = await read(position, min(PEEK_CHUNK, size - position))
        if not data:
            break  # truncated while it was read
        out.write(data)
        out.flush()
        position += len(data)
    if not args.follow:
        return 0
    finished = False
    while True:
        data, size = await read(position, PEEK_CHUNK)
        if size < position:
            # Truncated or replaced: as tail -F does, start again from its beginning.
            print(f"{PROG}: {terminal_safe(name)} was truncated; following it from its start", file=sys.stderr)
            position = 0
            continue
        if data:
            out.write(data)
            out.flush()
            position += len(data)
            continue
        if finished:
            return 0
        if not await running():
            finished = True  # one more read: what the job wrote before it ended
            continue
        await asyncio.sleep(FOLLOW_READ_EVERY)


async def _peek_first(
    deck: Deck, job: JobRecord, args: argparse.Namespace, refreshed: Callable[[], Awaitable[JobRecord]]
) -> tuple[JobRecord, bytes, int]:
    """The first chunk to print and the file's size; with --follow, waits for a pending job's output."""
    offset = 0 if args.bytes == 0 else -args.bytes
    size = PEEK_CHUNK if args.bytes == 0 else min(PEEK_CHUNK, args.bytes)
    said = False
    while True:
        waiting = args.follow and job.state.is_active
        if not job.sandbox and not waiting:
            await deck.peek(job.id, args.stderr, task=args.task)  # raises the reason: freed, or no sandbox yet
        if job.sandbox:
            try:
                data, total = await deck.peek(job.id, args.stderr, offset=offset, size=size, task=args.task)
                return job, data, total
            except RemoteFileNotFound:
                if not waiting:
                    raise
        if not said:
            print(f"{PROG}: waiting for {job.id}'s {terminal_safe(_output_name(job, args))} ({job.state.value})", file=sys.stderr)
            said = True
        await asyncio.sleep(FOLLOW_READ_EVERY)
        job = await refreshed()


def _output_name(job: JobRecord, args: argparse.Namespace) -> str:
    return job.output_name(args.stderr, args.task)


def main(argv: Sequence[str] | None = None) -> int:
    global _verbose
    parser = build_parser()
    _verbose = False
    try:
        bad = _non_utf8_argument(sys.argv[1:] if argv is None else argv)
        if bad is not None:
            # the journal, the scheduler and the job script all need text; refuse rather than guess
            raise CliError(f"argument '{terminal_safe(bad)}' is not valid UTF-8: batchdeck takes names and paths in UTF-8")
        args = parser.parse_args(argv)
        _verbose = bool(args.verbose)
        if args.command is None:
            try:
                from .app import run_app
            except ImportError as exc:
                raise CliError(f"the app cannot start: {exc}") from None
            return run_app(args.config)
        if args.command == "import-gc3pie":
            from .gc3pie_cli import run_import

            try:
                return run_import(args.path, args.write, args.config)
            except BatchdeckError as exc:
                print(f"{PROG}: error: {_shown(exc)}", file=sys.stderr)
                return 1
        if args.command == "config":
            return _config(args)
        if args.command == "serve":
            from .serve import ServeUsageError, run_serve

            try:
                return run_serve(args.host, args.port, args.allow_remote, args.config)
            except ServeUsageError:
                raise
            except BatchdeckError as exc:
                print(f"{PROG}: error: {_shown(exc)}", file=sys.stderr)
                return 1
        deck = Deck.open(args.config)
    except BatchdeckError as exc:
        print(f"{PROG}: error: {_shown(exc)}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_with_deck(args, deck))
    except CliError as exc:
        # usage, whichever option was wrong: always 2
        print(f"{PROG}: error: {_shown(exc)}", file=sys.stderr)
        return 2
    except BatchdeckError as exc:
        print(f"{PROG}: error: {_shown(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # noqa: BLE001 - a bug must still end in one line, not a traceback
        if os.environ.get("BATCHDECK_DEBUG"):
            raise
        print(f"{PROG}: internal error: {type(exc).__name__}: {_shown(exc)} (set BATCHDECK_DEBUG=1 for details)", file=sys.stderr)
        return 3


def _config(args: argparse.Namespace) -> int:
    """``config path|init|check``: no Deck, no journal; every problem is one line, exit 1."""
    from .config_cli import ConfigCheckFailed, run_check, run_init, run_path

    try:
        if args.action == "path":
            return run_path(args.config)
        if args.action == "init":
            return run_init(args.path, args.force, args.config)
        return run_check(args.path, args.config, args.connect)
    except ConfigCheckFailed as failed:
        for error in failed.errors:
            print(f"{PROG}: error: {_shown(error)}", file=sys.stderr)
        return 1
    except BatchdeckError as exc:
        print(f"{PROG}: error: {_shown(exc)}", file=sys.stderr)
        return 1


async def _with_deck(args: argparse.Namespace, deck: Deck) -> int:
    try:
        name = getattr(args, "cluster", None)
        if name and name not in deck.cluster_names:
            # a --cluster naming no cluster is a usage error, like any other wrong option: exit 2
            try:
                deck.config.cluster(name)
            except ConfigError as exc:
                raise CliError(f"--cluster: {exc}") from None
        return await _run(args, deck)
    finally:
        await deck.close()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
