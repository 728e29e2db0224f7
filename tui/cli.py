"""The ``batchdeck`` command: the app with no subcommand, a scriptable CLI with one.

The CLI uses the same engine and journal as the app. Errors exit non-zero with
one line on stderr, never a traceback. Textual is imported only to open the app.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

from ..backends.engine.deck import Deck
from ..backends.errors import BatchdeckError, InvalidJobSpec
from ..backends.model import JobRecord, JobSpec
from ..backends.schedulers.base import tag_of
from ..backends.units import format_walltime, parse_memory, parse_walltime

PROG = "batchdeck"


class CliError(BatchdeckError):
    """Bad command-line usage."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise CliError(f"{message} (see '{self.prog} --help')")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Jobs on HPC batch clusters, from the terminal.")
    parser.add_argument("--config", metavar="PATH", help="configuration file (default: $BATCHDECK_CONFIG or the user config dir)")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    p = sub.add_parser("submit", help="submit a job; prints its batchdeck id")
    p.add_argument("--cluster", help="cluster name (default: localhost or the first configured)")
    p.add_argument("--name", default=None, help="job name")
    p.add_argument("--cores", type=int, default=1)
    p.add_argument("--memory", help="memory per core, e.g. 500M, 2G")
    p.add_argument("--walltime", help="e.g. 1:30:00, 90m, 2h")
    p.add_argument("--queue", help="queue / partition")
    p.add_argument("--input", action="append", default=[], metavar="FILE", help="copy FILE into the sandbox")
    p.add_argument("--output", action="append", default=[], metavar="NAME", help="result file to fetch")
    p.add_argument("--script", metavar="FILE", help="run this script file (its text is copied)")
    p.add_argument("--stdout", default="stdout.txt", help="stdout file name in the sandbox")
    p.add_argument("--stderr", default="stderr.txt", help="stderr file name in the sandbox")
    p.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="environment variable")
    p.add_argument("argv", nargs=argparse.REMAINDER, help="-- COMMAND ARGS...")

    p = sub.add_parser("list", help="batchdeck's jobs")
    p.add_argument("--cluster")
    p.add_argument("--json", action="store_true")
    p.add_argument("--no-refresh", action="store_true", help="show the journal without asking the clusters")

    p = sub.add_parser("status", help="one job's state")
    p.add_argument("id")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("peek", help="print a job's output")
    p.add_argument("id")
    p.add_argument("--stderr", action="store_true", help="stderr instead of stdout")
    p.add_argument("--bytes", type=int, default=65536, metavar="N", help="last N bytes (0: the whole file)")
    p.add_argument("--follow", action="store_true", help="keep printing new output until the job ends")

    p = sub.add_parser("get", help="download a job's results into DIR")
    p.add_argument("id")
    p.add_argument("dir")
    p.add_argument("--overwrite", action="store_true", help="replace existing files (changed ones only, unless --all)")
    p.add_argument("--all", action="store_true", help="with --overwrite, copy every file unconditionally")

    p = sub.add_parser("cancel", help="cancel a job")
    p.add_argument("id")

    p = sub.add_parser("free", help="delete a TERMINATED job's sandbox on the cluster")
    p.add_argument("id")

    p = sub.add_parser("clusters", help="configured clusters")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("queues", help="a cluster's queues")
    p.add_argument("--cluster")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("jobs", help="every job the cluster's scheduler lists for you (not only batchdeck's)")
    p.add_argument("--cluster")
    p.add_argument("--json", action="store_true")
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
        rows.append(
            (job.id, job.name, job.cluster, job.jobid or "-", state, str(job.outcome or "-"), _elapsed(job), exit_text,
             job.reason or "")
        )
    _print_table(rows)


def _print_table(rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def _spec_from_args(args: argparse.Namespace) -> JobSpec:
    argv = list(args.argv)
    if argv and argv[0] == "--":
        argv = argv[1:]
    script = None
    if args.script:
        try:
            with open(args.script, encoding="utf-8") as handle:
                script = handle.read()
        except OSError as exc:
            raise InvalidJobSpec(f"cannot read script {args.script!r}: {exc.strerror}") from None
    elif not argv:
        raise CliError("nothing to run: give -- COMMAND ARGS... or --script FILE")
    environment = {}
    for item in args.env:
        key, sep, value = item.partition("=")
        if not sep:
            raise CliError(f"--env expects NAME=VALUE, got {item!r}")
        environment[key] = value
    try:
        memory = parse_memory(args.memory) if args.memory else None
    except ValueError as exc:
        raise CliError(f"--memory: {exc}") from None
    try:
        walltime = parse_walltime(args.walltime) if args.walltime else None
    except ValueError as exc:
        raise CliError(f"--walltime: {exc}") from None
    inputs = {}
    for path in args.input:
        if not os.path.exists(path):
            raise InvalidJobSpec(f"input file {path!r} does not exist")
        inputs[os.path.abspath(path)] = os.path.basename(os.path.normpath(path))
    name = args.name
    if name is None:
        name = os.path.basename(args.script) if args.script else os.path.basename(argv[0])
    return JobSpec(
        command=[] if script is not None else argv,
        script=script,
        arguments=argv if script is not None else [],
        name=name,
        inputs=inputs,
        outputs=list(args.output),
        stdout=args.stdout,
        stderr=args.stderr,
        cores=args.cores,
        memory_per_core=memory,
        walltime=walltime,
        queue=args.queue,
        environment=environment,
    )


async def _refresh(deck: Deck, clusters: Sequence[str]) -> list[str]:
    """Poll each cluster once; return one warning line per cluster that failed."""
    warnings = []
    for cluster in clusters:
        try:
            await deck.poll(cluster)
        except BatchdeckError as exc:
            warnings.append(f"warning: cluster {cluster!r} could not be refreshed: {exc}")
    return warnings


def _warn(lines: Sequence[str]) -> None:
    for line in lines:
        print(f"{PROG}: {line}", file=sys.stderr)


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
        spec = _spec_from_args(args)
        cluster = args.cluster or deck.config.default_cluster
        job = await deck.submit(cluster, spec)
        print(job.id)
        return 0
    if command == "list":
        if args.cluster:
            deck.config.cluster(args.cluster)
        jobs = deck.jobs(args.cluster)
        if not args.no_refresh:
            active = sorted({j.cluster for j in jobs if j.state.is_active})
            _warn(await _refresh(deck, active))
            jobs = deck.jobs(args.cluster)
        if args.json:
            _print_json([j.summary() for j in jobs])
        else:
            _print_jobs(jobs)
        return 0
    if command == "status":
        job = deck.job(args.id)
        if job.state.is_active:
            _warn(await _refresh(deck, [job.cluster]))
            job = deck.job(job.id)
        if args.json:
            _print_json(job.summary())
        else:
            _print_jobs([job])
        return 0
    if command == "peek":
        return await _peek(deck, args)
    if command == "get":
        job = deck.job(args.id)
        if job.state.is_active:
            _warn(await _refresh(deck, [job.cluster]))
        report = await deck.get_results(args.id, args.dir, overwrite=args.overwrite, changed_only=not args.all)
        for name in report.copied:
            print(f"copied   {name}")
        for name in report.skipped:
            print(f"skipped  {name}")
        for name, why in report.failed.items():
            print(f"failed   {name}: {why}")
        print(f"{len(report.copied)} copied, {len(report.skipped)} skipped, {len(report.failed)} failed")
        return 0 if report.ok else 1
    if command == "cancel":
        job = await deck.cancel(args.id)
        print(f"{job.id} {job.state.value}{' (' + job.reason + ')' if job.reason else ''}")
        return 0
    if command == "free":
        job = await deck.free(args.id)
        print(f"{job.id} sandbox freed")
        return 0
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


async def _peek(deck: Deck, args: argparse.Namespace) -> int:
    job = deck.job(args.id)
    if args.bytes < 0:
        raise CliError("--bytes must be >= 0")
    offset = 0 if args.bytes == 0 else -args.bytes
    data, size = await deck.peek(job.id, stderr=args.stderr, offset=offset)
    out = sys.stdout.buffer
    out.write(data)
    out.flush()
    if not args.follow:
        return 0
    position = size
    while True:
        job = await deck.refresh_job(job.id)
        data, size = await deck.peek(job.id, stderr=args.stderr, offset=position)
        if data:
            out.write(data)
            out.flush()
            position += len(data)
        elif not job.state.is_active:
            return 0
        else:
            await asyncio.sleep(1)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            try:
                from .app import run_app
            except ImportError as exc:
                raise CliError(f"the app cannot start: {exc}") from None
            return run_app(args.config)
        deck = Deck.open(args.config)
    except BatchdeckError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_with_deck(args, deck))
    except BatchdeckError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # noqa: BLE001 - a bug must still end in one line, not a traceback
        if os.environ.get("BATCHDECK_DEBUG"):
            raise
        print(f"{PROG}: internal error: {type(exc).__name__}: {exc} (set BATCHDECK_DEBUG=1 for details)", file=sys.stderr)
        return 3


async def _with_deck(args: argparse.Namespace, deck: Deck) -> int:
    try:
        return await _run(args, deck)
    finally:
        await deck.close()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
