"""A TEST DOUBLE of the PBS Pro / TORQUE and LSF command-line tools.

No PBS or LSF server can run on the test machine, so this one script stands in for
``qsub qstat qdel tracejob`` and ``bsub bjobs bkill bacct bhist bqueues``. It is
installed under those names (small wrapper scripts, see ``install``) in a
temporary directory put first on PATH. It really runs each job script locally in
the background (its own session, so qdel/bkill can kill the whole process group)
and answers in the formats of the captured real outputs in
``tests/samples/pbspro``, ``tests/samples/torque`` and ``tests/samples/lsf``.
batchdeck's real parsers read its answers; nothing here is imported by batchdeck.

Simplifications, on purpose: jobs start at once (no scheduling, so no ``Q`` /
``PEND`` phase), resource requests are recorded but not enforced, and LSF's job
report is not appended to the output file.

Behaviour that matters to the backends and is imitated:
- PBS Pro: ``qstat -x -f -F json`` lists finished jobs (``F``, ``Exit_status``,
  substate 92; substate 91 after ``qdel``); an empty listing has no ``Jobs`` key.
- TORQUE: ``qstat -f`` shows a completed job as ``C`` for ``KEEP_COMPLETED`` calls
  then forgets it; ``tracejob`` then knows it from the "logs". Signal deaths are
  ``256 + N`` (``271`` after qdel's SIGTERM).
- LSF: ``bsub`` reads the script on stdin; ``bjobs -a`` keeps finished jobs for
  ``KEEP_COMPLETED`` calls (CLEAN_PERIOD), then only ``bacct -l`` / ``bhist -l``
  know them; ``bkill`` gives ``EXIT`` with ``TERM_OWNER``.

State lives in ``$BATCHDECK_SIM_STATE`` (one JSON file per job).
"""

from __future__ import annotations

import fcntl
import getpass
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

KEEP_COMPLETED = 2  # status calls a finished job stays listed
PBS_SERVER = "pbs-sim.example.org"
QUEUES = {"workq": 3600 * 24, "short": 3600}
LSF_QUEUES = ("normal", "short")



def run_job(script: str, out: str, err: str, rcfile: str) -> int:
    """The job's runner (``batchsim.py runner``): runs the script, then records its exit status and
    the CPU time and peak memory the kernel measured, as a MoM or sbatchd would for accounting."""
    import resource

    for number in (signal.SIGHUP, signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2, signal.SIGTERM):
        # qsig / bkill -s signal the job's whole session: the signal is for the script, not for us
        # (a handler, unlike SIG_IGN, is not inherited by the script)
        signal.signal(number, lambda *_: None)
    with open(out, "wb") as stdout, (open(err, "wb") if err else open(os.devnull, "wb")) as stderr:
        proc = subprocess.Popen(["bash", script], stdin=subprocess.DEVNULL, stdout=stdout,
                                stderr=stderr if err else subprocess.STDOUT)
        while True:
            try:
                rc = proc.wait()
                break
            except InterruptedError:
                continue
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    rc = rc if rc >= 0 else 128 - rc  # a signal death as the shell reports it
    Path(rcfile + ".usage").write_text(json.dumps({"cpu": usage.ru_utime + usage.ru_stime, "maxrss_kb": usage.ru_maxrss}))
    Path(rcfile + ".tmp").write_text(str(rc))
    os.replace(rcfile + ".tmp", rcfile)
    return 0


def install(bin_dir: str | os.PathLike[str], state_dir: str | os.PathLike[str], pbs_flavour: str = "pro") -> None:
    """Write the command wrappers into ``bin_dir`` (to be put first on PATH)."""
    bin_path = Path(bin_dir)
    bin_path.mkdir(parents=True, exist_ok=True)
    Path(state_dir).mkdir(parents=True, exist_ok=True)
    names = ["qsub", "qstat", "qdel", "tracejob", "qsig", "qhold", "qrls", "qalter",
             "bsub", "bjobs", "bkill", "bacct", "bhist", "bqueues", "bstop", "bresume", "bmod"]
    for name in names:
        wrapper = bin_path / name
        wrapper.write_text(
            "#!/bin/sh\n"
            f"BATCHDECK_SIM_STATE='{state_dir}' BATCHDECK_SIM_PBS_FLAVOUR='{pbs_flavour}' "
            f"exec '{sys.executable}' '{Path(__file__).resolve()}' {name} \"$@\"\n"
        )
        wrapper.chmod(0o755)


# ---------------------------------------------------------------------------- job store


class Store:
    def __init__(self) -> None:
        self.root = Path(os.environ["BATCHDECK_SIM_STATE"])
        self.jobs_dir = self.root / "jobs"
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        self._lock = open(self.root / "lock", "a+")  # noqa: SIM115 - held for the process's life
        fcntl.flock(self._lock, fcntl.LOCK_EX)

    def next_id(self) -> int:
        counter = self.root / "counter"
        value = int(counter.read_text()) + 1 if counter.exists() else 1001
        counter.write_text(str(value))
        return value

    def save(self, job: dict[str, Any]) -> None:
        path = self.jobs_dir / f"{job['seq']}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(job))
        tmp.replace(path)

    def all(self) -> list[dict[str, Any]]:
        jobs = [json.loads(p.read_text()) for p in self.jobs_dir.glob("*.json")]
        for job in jobs:
            refresh(job)
            self.save(job)
        return sorted(jobs, key=lambda j: j["seq"])

    def find(self, jobid: str) -> dict[str, Any] | None:
        match = re.match(r"^(\d+)", jobid)
        if not match:
            return None
        path = self.jobs_dir / f"{match.group(1)}.json"
        if not path.exists():
            return None
        job = json.loads(path.read_text())
        refresh(job)
        return job


def refresh(job: dict[str, Any]) -> None:
    """Pick up the exit status the runner left when the job script ended."""
    if job["status"] in ("running", "suspended") and os.path.exists(job["rcfile"]):
        job["status"] = "done"
        job["rc"] = int(Path(job["rcfile"]).read_text().strip() or 0)
        job["end"] = os.path.getmtime(job["rcfile"])
        usage = Path(job["rcfile"] + ".usage")
        if usage.exists():
            job.update(json.loads(usage.read_text()))


def start(store: Store, script_path: str, directives: dict[str, Any], kind: str, held: bool = False) -> dict[str, Any]:
    """A new job: running at once (no scheduling here), or held when submitted so (qsub -h, bsub -H)."""
    seq = store.next_id()
    rcfile = str(store.root / f"{seq}.rc")
    out = directives.get("o") or str(Path.cwd() / f"{directives.get('name', 'STDIN')}.o{seq}")
    out = out.replace("%J", str(seq)).replace("%I", "0")
    err = "" if directives.get("join") else directives.get("e") or str(Path.cwd() / f"{directives.get('name', 'STDIN')}.e{seq}")
    err = err.replace("%J", str(seq)).replace("%I", "0")
    now = time.time()
    job = {
        "seq": seq,
        "kind": kind,
        "name": directives.get("name") or "STDIN",
        "queue": directives.get("queue") or ("workq" if kind == "pbs" else "normal"),
        "default_queue": not directives.get("queue"),
        "cores": int(directives.get("cores") or 1),
        "walltime": directives.get("walltime"),
        "mem": directives.get("mem"),
        "out": out,
        "err": err,
        "pid": None,
        "script": script_path,
        "rcfile": rcfile,
        "status": "held",
        "rc": None,
        "deleted": False,
        "submit": now,
        "start": None,
        "end": None,
        "listed_done": 0,
        "cwd": os.getcwd(),
        "cpu": None,
        "maxrss_kb": None,
    }
    if not held:
        launch(job)
    store.save(job)
    return job


def launch(job: dict[str, Any]) -> None:
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "runner", job["script"], job["out"], job["err"], job["rcfile"]],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    job.update(pid=proc.pid, status="running", start=time.time())


def signal_job(job: dict[str, Any], number: int) -> None:
    try:
        os.killpg(job["pid"], number)
    except (ProcessLookupError, TypeError):
        pass


def kill(store: Store, job: dict[str, Any]) -> None:
    signal_job(job, signal.SIGTERM)
    if job["status"] == "suspended":
        signal_job(job, signal.SIGCONT)  # a stopped process acts on SIGTERM only once continued
    job["deleted"] = True
    job["status"] = "done"
    job["rc"] = None
    job["end"] = time.time()
    store.save(job)


def fail(message: str, status: int) -> int:
    sys.stderr.write(message + "\n")
    return status


def ctime(when: float | None) -> str:
    return time.strftime("%a %b %d %H:%M:%S %Y", time.localtime(when or time.time()))


def user() -> str:
    return getpass.getuser()


# ---------------------------------------------------------------------------- PBS


def flavour() -> str:
    return os.environ.get("BATCHDECK_SIM_PBS_FLAVOUR", "pro")


def pbs_id(job: dict[str, Any]) -> str:
    return f"{job['seq']}.{PBS_SERVER}"


def directives(script: str, prefix: str, keys: dict[str, str]) -> dict[str, Any]:
    """The ``prefix -FLAG value`` lines of a job script, by the names ``keys`` gives their flags."""
    found: dict[str, Any] = {}
    for line in script.splitlines():
        match = re.match(rf"^{prefix}\s+-(\w+)\s*(.*)$", line)
        if match and match.group(1) in keys:
            found[keys[match.group(1)]] = match.group(2).strip()
    return found


def pbs_directives(script: str) -> dict[str, Any]:
    found = directives(script, "#PBS", {"N": "name", "q": "queue", "o": "o", "e": "e", "j": "j", "l": "l", "h": "hold"})
    found["join"] = found.pop("j", None) == "oe"
    resources = " ".join(re.findall(r"^#PBS\s+-l\s*(.*)$", script, re.M))
    if m := re.search(r"ncpus=(\d+)|ppn=(\d+)", resources):
        found["cores"] = m.group(1) or m.group(2)
    if m := re.search(r"walltime=([^,\s]+)", resources):
        found["walltime"] = m.group(1)
    if m := re.search(r"\bmem=(\w+)", resources):
        found["mem"] = m.group(1)
    found.pop("l", None)
    return found


def pbs_letter(job: dict[str, Any]) -> str:
    if job["status"] in ("running", "held", "suspended"):
        return {"running": "R", "held": "H", "suspended": "S"}[job["status"]]
    return "F" if flavour() == "pro" else "C"


def pbs_exit_status(job: dict[str, Any]) -> int | None:
    if job["deleted"]:
        return 271  # 256 + SIGTERM, as the MoM reports a qdel'd running job
    return job["rc"]


def pbs_attrs(job: dict[str, Any]) -> dict[str, Any]:
    letter = pbs_letter(job)
    attrs: dict[str, Any] = {
        "Job_Name": job["name"],
        "Job_Owner": f"{user()}@{PBS_SERVER}",
        "job_state": letter,
        "queue": job["queue"],
        "server": PBS_SERVER,
        "ctime": ctime(job["submit"]),
        "Error_Path": f"{PBS_SERVER}:{job['err'] or job['out']}",
        "Join_Path": "oe" if not job["err"] else "n",
        "Output_Path": f"{PBS_SERVER}:{job['out']}",
        "qtime": ctime(job["submit"]),
        "Resource_List": {"ncpus": job["cores"], "nodect": 1, "walltime": job["walltime"] or "01:00:00"},
        "Hold_Types": "u" if letter == "H" else "n",
        "substate": 20 if letter == "H" else 42,
        "Variable_List": {"PBS_O_HOME": os.path.expanduser("~"), "PBS_O_WORKDIR": job["cwd"], "PBS_O_QUEUE": job["queue"]},
        "Submit_arguments": job["script"],
    }
    if job["start"]:
        attrs["stime" if flavour() == "pro" else "start_time"] = ctime(job["start"])
        attrs["exec_host"] = f"localhost/0*{job['cores']}" if flavour() == "pro" else f"localhost/0-{job['cores'] - 1}"
    if job.get("mem"):
        attrs["Resource_List"]["mem"] = job["mem"]
    if letter in ("F", "C") and job["start"]:
        walltime = max(0, int((job["end"] or time.time()) - job["start"]))
        cput = int(job["cpu"] or 0)
        attrs["resources_used"] = {
            "cput": f"{cput // 3600:02d}:{cput // 60 % 60:02d}:{cput % 60:02d}",
            "mem": f"{job['maxrss_kb'] or 0}kb",
            "walltime": f"{walltime // 3600:02d}:{walltime // 60 % 60:02d}:{walltime % 60:02d}",
        }
        if flavour() == "pro":
            attrs["resources_used"]["ncpus"] = job["cores"]
    if letter in ("F", "C"):
        attrs["substate"] = 91 if job["deleted"] and flavour() == "pro" else 92
        status = pbs_exit_status(job)
        if status is not None:
            attrs["Exit_status" if flavour() == "pro" else "exit_status"] = status
        attrs["obittime" if flavour() == "pro" else "comp_time"] = ctime(job["end"])
        attrs["comment"] = f"Job run at {ctime(job['start'])} and finished"
    return attrs


def pbs_text_block(jobid: str, attrs: dict[str, Any]) -> str:
    lines = [f"Job Id: {jobid}"]
    for key, value in attrs.items():
        if key == "Variable_List":
            lines += wrap(f"    {key} = " + ",".join(f"{k}={v}" for k, v in value.items()))
        elif isinstance(value, dict):
            for sub, subvalue in value.items():
                lines += wrap(f"    {key}.{sub} = {subvalue}")
        else:
            lines += wrap(f"    {key} = {value}")
    return "\n".join(lines) + "\n"


def wrap(line: str, width: int = 79) -> list[str]:
    """qstat -f wraps long values, cutting words, and indents the rest with a TAB."""
    if len(line) <= width:
        return [line]
    pieces = [line[:width]]
    rest = line[width:]
    while rest:
        pieces.append("\t" + rest[: width - 8])
        rest = rest[width - 8 :]
    return pieces


def pbs_xml(jobs: list[dict[str, Any]]) -> str:
    """TORQUE's ``qstat -x``: one line of XML, times as epoch seconds, no wrapping."""
    from xml.sax.saxutils import escape

    def element(tag: str, value: Any) -> str:
        if isinstance(value, dict):
            if tag == "Variable_List":
                return f"<{tag}>{escape(','.join(f'{k}={v}' for k, v in value.items()))}</{tag}>"
            return f"<{tag}>" + "".join(element(k, v) for k, v in value.items()) + f"</{tag}>"
        text = str(value)
        if tag in ("ctime", "qtime", "start_time", "comp_time", "mtime"):
            text = str(int(time.mktime(time.strptime(text, "%a %b %d %H:%M:%S %Y"))))
        return f"<{tag}>{escape(text)}</{tag}>"

    body = "".join(
        "<Job>" + element("Job_Id", pbs_id(j)) + "".join(element(k, v) for k, v in pbs_attrs(j).items()) + "</Job>"
        for j in jobs
    )
    return f"<Data>{body}</Data>"


def visible_pbs_jobs(store: Store) -> list[dict[str, Any]]:
    shown = []
    for job in store.all():
        if job["kind"] != "pbs":
            continue
        if job["status"] == "done" and flavour() == "torque":
            # keep_completed: listed as C a few times, then gone from qstat.
            if job["listed_done"] >= KEEP_COMPLETED:
                continue
            job["listed_done"] += 1
            store.save(job)
        shown.append(job)
    return shown


def qsub(store: Store, args: list[str]) -> int:
    if not args:
        return fail("usage: qsub [options] script", 2)
    script_path = args[-1]
    try:
        script = Path(script_path).read_text()
    except OSError:
        return fail(f"qsub: script file {script_path}: No such file or directory", 2)
    directives = pbs_directives(script)
    if directives.get("queue") and directives["queue"] not in QUEUES:
        return fail("qsub: Unknown queue", 170)
    job = start(store, script_path, directives, "pbs", held="-h" in args[:-1] or directives.get("hold") == "")
    print(pbs_id(job))
    return 0


def qstat(store: Store, args: list[str]) -> int:
    if "--version" in args:
        print("pbs_version = 20.0.1" if flavour() == "pro" else "Version: 6.1.3\nCommit: 0123abcd")
        return 0
    if "-Q" in args:
        return qstat_queues(store, args)
    if "-F" in args and flavour() != "pro":
        return fail("qstat: invalid option -- 'F'\nusage: qstat [-f] [-x] ...", 2)
    ids = [a for a in args if not a.startswith("-") and a not in ("json", "dsv")]
    if ids:
        # asking for a job by id does not age it (keep_completed is time, not listings)
        found = [store.find(i) for i in ids]
        jobs = [j for j in found if j is not None and j["kind"] == "pbs" and (
            j["status"] != "done" or ("-x" in args and flavour() == "pro")
            or (flavour() == "torque" and j["listed_done"] < KEEP_COMPLETED))]
        if not jobs:
            return fail(f"qstat: Unknown Job Id {ids[0]}", 153)
    elif "-x" in args and flavour() == "pro":
        jobs = [j for j in store.all() if j["kind"] == "pbs"]
    else:
        jobs = [j for j in visible_pbs_jobs(store) if j["status"] != "done" or flavour() == "torque"]
    if "-x" in args and flavour() == "torque":
        print(pbs_xml(jobs))
        return 0
    if "-F" in args:
        data: dict[str, Any] = {"timestamp": int(time.time()), "pbs_version": "20.0.1", "pbs_server": PBS_SERVER}
        if jobs:
            data["Jobs"] = {pbs_id(j): pbs_attrs(j) for j in jobs}
        print(json.dumps(data, indent=4).replace("/", "\\/"))
        return 0
    print("\n".join(pbs_text_block(pbs_id(j), pbs_attrs(j)) for j in jobs), end="")
    return 0


def qstat_queues(store: Store, args: list[str]) -> int:
    jobs = [j for j in store.all() if j["kind"] == "pbs" and j["status"] == "running"]
    queues = {}
    for name, wall in QUEUES.items():
        running = sum(1 for j in jobs if j["queue"] == name)
        hours = wall // 3600
        queues[name] = {
            "queue_type": "Execution",
            "total_jobs": running,
            "state_count": f"Transit:0 Queued:0 Held:0 Waiting:0 Running:{running} Exiting:0 Begun:0 ",
            "resources_max": {"walltime": f"{hours:02d}:00:00"},
            "resources_available": {"ncpus": 2, "nodect": 1},
            "resources_assigned": {"ncpus": sum(j["cores"] for j in jobs if j["queue"] == name), "nodect": 0},
            "enabled": "True",
            "started": "True",
        }
    if "-F" in args:
        if flavour() != "pro":
            return fail("qstat: invalid option -- 'F'", 2)
        print(json.dumps({"timestamp": int(time.time()), "pbs_version": "20.0.1", "pbs_server": PBS_SERVER,
                          "Queue": queues}, indent=4))
        return 0
    out = []
    for name, attrs in queues.items():
        block = [f"Queue: {name}"]
        for key, value in attrs.items():
            if isinstance(value, dict):
                block += [f"    {key}.{sub} = {v}" for sub, v in value.items()]
            else:
                block.append(f"    {key} = {value}")
        out.append("\n".join(block) + "\n")
    print("\n".join(out))
    return 0


def qdel(store: Store, args: list[str]) -> int:
    status = 0
    for jobid in [a for a in args if not a.startswith("-")]:
        job = store.find(jobid)
        if job is None or job["kind"] != "pbs":
            status = fail(f"qdel: Unknown Job Id {jobid}", 153)
        elif job["status"] == "done":
            status = fail(f"qdel: Request invalid for state of job {jobid}", 168)
        else:
            kill(store, job)
    return status


def _pbs_job(store: Store, command: str, jobid: str) -> tuple[dict[str, Any] | None, int]:
    job = store.find(jobid)
    if job is None or job["kind"] != "pbs":
        return None, fail(f"{command}: Unknown Job Id {jobid}", 153)
    if job["status"] == "done":
        return None, fail(f"{command}: Request invalid for state of job {jobid}", 168)
    return job, 0


def qsig(store: Store, args: list[str]) -> int:
    name = args[args.index("-s") + 1] if "-s" in args else "SIGTERM"
    number = getattr(signal, name if name.startswith("SIG") else f"SIG{name}", None)
    if number is None:
        return fail(f"qsig: Unknown signal {name}", 15023)
    job, status = _pbs_job(store, "qsig", args[-1])
    if job is not None:
        signal_job(job, number)
    return status


def qhold(store: Store, args: list[str]) -> int:
    job, status = _pbs_job(store, "qhold", args[-1])
    if job is not None and job["status"] != "held":
        # PBS holds a running job only by checkpointing it, which nothing here can do
        return fail(f"qhold: Request invalid for state of job {args[-1]}", 168)
    return status


def qrls(store: Store, args: list[str]) -> int:
    job, status = _pbs_job(store, "qrls", args[-1])
    if job is not None and job["status"] == "held":
        launch(job)
        store.save(job)
    return status


def qalter(store: Store, args: list[str]) -> int:
    job, status = _pbs_job(store, "qalter", args[-1])
    if job is not None:
        for value in (args[i + 1] for i, a in enumerate(args[:-1]) if a == "-l"):
            if value.startswith("walltime="):
                job["walltime"] = value.partition("=")[2]
        store.save(job)
    return status


def tracejob(store: Store, args: list[str]) -> int:
    day = time.strftime("%Y%m%d")
    for name in ("server_priv/accounting", "mom_logs", "sched_logs"):
        sys.stderr.write(f"/var/spool/torque/{name}/{day}: No such file or directory\n")
    ids = [a for a in args if not a.startswith("-")]
    if not ids:
        return 0
    job = store.find(ids[0])
    if job is None or job["kind"] != "pbs":
        return 0
    stamp = lambda when: time.strftime("%m/%d/%Y %H:%M:%S", time.localtime(when))  # noqa: E731
    owner = f"{user()}@{PBS_SERVER}"
    lines = [
        "",
        f"Job: {pbs_id(job)}",
        "",
        f"{stamp(job['submit'])}  S    enqueuing into {job['queue']}, state 1 hop 1",
        f"{stamp(job['submit'])}  S    Job Queued at request of {owner}, owner = {owner}, "
        f"job name = {job['name']}, queue = {job['queue']}",
        f"{stamp(job['start'])}  S    Job Run at request of root@{PBS_SERVER}",
    ]
    if job["status"] == "done":
        if job["deleted"]:
            lines.append(f"{stamp(job['end'])}  S    Job deleted at request of {owner}")
        lines.append(
            f"{stamp(job['end'])}  S    Exit_status={pbs_exit_status(job)} resources_used.cput=00:00:00 "
            f"resources_used.mem=2364kb resources_used.vmem=190944kb resources_used.walltime=00:00:01"
        )
        lines.append(f"{stamp(job['end'])}  S    dequeuing from {job['queue']}, state COMPLETE")
    print("\n".join(lines))
    return 0


# ---------------------------------------------------------------------------- LSF


def lsf_directives(script: str) -> dict[str, Any]:
    found = directives(
        script, "#BSUB", {"J": "name", "q": "queue", "n": "cores", "o": "o", "e": "e", "W": "walltime", "R": "resreq"}
    )
    if "resreq" in found:
        found["resreq"] = found["resreq"].strip("\"'")
    if "o" in found and "e" not in found:
        found["join"] = True  # LSF writes stderr into the -o file when -e is not given
    return found


def lsf_stat(job: dict[str, Any]) -> str:
    if job["status"] in ("running", "held", "suspended"):
        return {"running": "RUN", "held": "PSUSP", "suspended": "USUSP"}[job["status"]]
    return "DONE" if job["rc"] == 0 and not job["deleted"] else "EXIT"


def lsf_time(when: float | None) -> str:
    return time.strftime("%b %d %H:%M", time.localtime(when)) if when else "-"


def lsf_limit(walltime: str | None) -> str:
    """bsub/bmod -W [HH:]MM as bjobs' RUNTIMELIMIT shows it (HH:MM:SS)."""
    hours, _, minutes = (walltime or "").rpartition(":")
    if not minutes.isdecimal() or not (hours or "0").isdecimal():
        return ""
    total = int(hours or 0) * 60 + int(minutes)
    return f"{total // 60:02d}:{total % 60:02d}:00"


def lsf_record(job: dict[str, Any]) -> dict[str, str]:
    stat = lsf_stat(job)
    exit_code = ""
    reason = ""
    if stat == "EXIT":
        if job["deleted"]:
            exit_code, reason = "130", "TERM_OWNER: job killed by owner"
        else:
            exit_code = str(job["rc"])
    return {
        "JOBID": str(job["seq"]),
        "STAT": stat,
        "JOB_NAME": job["name"],
        "USER": user(),
        "QUEUE": job["queue"],
        "EXIT_CODE": exit_code,
        "EXIT_REASON": reason,
        "SLOTS": str(job["cores"]),
        "SUBMIT_TIME": lsf_time(job["submit"]),
        "START_TIME": lsf_time(job["start"]),
        "FINISH_TIME": lsf_time(job["end"]),
        "PEND_REASON": "The job was suspended by the user while pending" if job["status"] == "held" else "",
        "EXEC_HOST": "localhost" if job["start"] else "",
        "SUB_CWD": job["cwd"],
        "EXEC_CWD": job["cwd"] if job["start"] else "",
        "EXEC_HOME": os.path.expanduser("~"),
        # the -o / -e paths as given (%J kept): bjobs shows the request, not the file
        "OUTPUT_FILE": job.get("o_given") or "",
        "ERROR_FILE": job.get("e_given") or "",
        "COMMAND": job["name"],
        "DEPENDENCY": "",
        "RUNTIMELIMIT": lsf_limit(job["walltime"]),
        "RUN_TIME": f"{int((job['end'] or time.time()) - job['start'])} second(s)" if job["start"] else "",
        "CPU_USED": "",
        "MAX_MEM": "",
        "EFFECTIVE_RESREQ": "select[type == local] order[r15s:pg] ",
        "PROJ_NAME": "default",
    }


def bsub(store: Store, args: list[str]) -> int:
    script = sys.stdin.read()
    directives = lsf_directives(script)
    if directives.get("queue") and directives["queue"] not in LSF_QUEUES:
        return fail(f"{directives['queue']}: No such queue. Job not submitted.", 255)
    path = store.root / f"script-{time.time_ns()}.sh"
    path.write_text(script)
    job = start(store, str(path), directives, "lsf", held="-H" in args)
    job.update(o_given=directives.get("o"), e_given=directives.get("e"), resreq=directives.get("resreq"))
    store.save(job)
    where = f"default queue <{job['queue']}>" if job["default_queue"] else f"queue <{job['queue']}>"
    print(f"Job <{job['seq']}> is submitted to {where}.")
    return 0


def visible_lsf_jobs(store: Store) -> list[dict[str, Any]]:
    shown = []
    for job in store.all():
        if job["kind"] != "lsf":
            continue
        if job["status"] == "done":
            # CLEAN_PERIOD: finished jobs stay in bjobs -a for a while, then only accounting has them.
            if job["listed_done"] >= KEEP_COMPLETED:
                continue
            job["listed_done"] += 1
            store.save(job)
        shown.append(job)
    return shown


def bjobs(store: Store, args: list[str]) -> int:
    fields = None
    if "-o" in args:
        fields = args[args.index("-o") + 1].split()
    ids = [a for i, a in enumerate(args) if not a.startswith("-") and (i == 0 or args[i - 1] != "-o")]
    records: list[dict[str, str]] = []
    if ids:
        # by id, a finished job stays until CLEAN_PERIOD, which only listings count down here
        jobs = []
        for jobid in ids:
            job = store.find(jobid)
            if job is None or job["kind"] != "lsf" or (job["status"] == "done" and job["listed_done"] >= KEEP_COMPLETED):
                records.append({"JOBID": jobid, "ERROR": f"Job <{jobid}> is not found"})
            else:
                jobs.append(job)
    else:
        jobs = visible_lsf_jobs(store)
        if "-a" not in args:
            jobs = [j for j in jobs if j["status"] != "done"]
        if not jobs:
            return fail("No job found" if "-a" in args else "No unfinished job found", 255)
    for job in jobs:
        full = lsf_record(job)
        records.append({f.upper(): full.get(f.upper(), "") for f in fields} if fields else full)
    if "-json" in args:
        print(json.dumps({"COMMAND": "bjobs", "JOBS": len(records), "RECORDS": records}, indent=2).replace("/", "\\/"))
        return 255 if any("ERROR" in r for r in records) else 0
    print("JOBID   USER    STAT  QUEUE      FROM_HOST   EXEC_HOST   JOB_NAME   SUBMIT_TIME")
    for job in jobs:
        print(f"{job['seq']:<7} {user():<7} {lsf_stat(job):<5} {job['queue']:<10} localhost   localhost   "
              f"{job['name']} {lsf_time(job['submit'])}")
    return 0


def _lsf_jobs(store: Store, args: list[str], with_value: tuple[str, ...] = ()) -> list[tuple[str, dict[str, Any] | None]]:
    """The ids an LSF command names (options in ``with_value`` take a value), each with its live job."""
    ids = [a for i, a in enumerate(args) if not a.startswith("-") and (i == 0 or args[i - 1] not in with_value)]
    found = []
    for jobid in ids:
        job = store.find(jobid)
        if job is None or job["kind"] != "lsf":
            fail(f"Job <{jobid}>: No matching job found", 255)
        elif job["status"] == "done":
            fail(f"Job <{jobid}>: Job has already finished", 255)
        found.append((jobid, job if job is not None and job["kind"] == "lsf" and job["status"] != "done" else None))
    return found


def bkill(store: Store, args: list[str]) -> int:
    status = 0
    name = args[args.index("-s") + 1] if "-s" in args else None
    for jobid, job in _lsf_jobs(store, args, ("-s",)):
        if job is None:
            status = 255
        elif name is not None:
            number = getattr(signal, name if name.startswith("SIG") else f"SIG{name}")
            signal_job(job, number)
            print(f"Job <{jobid}> is being signaled")
        else:
            kill(store, job)
            print(f"Job <{jobid}> is being terminated")
    return status


def bstop(store: Store, args: list[str]) -> int:
    """A running job is suspended (SIGSTOP, USUSP); a pending one stays held (PSUSP)."""
    status = 0
    for jobid, job in _lsf_jobs(store, args):
        if job is None:
            status = 255
            continue
        if job["status"] == "running":
            signal_job(job, signal.SIGSTOP)
            job["status"] = "suspended"
            store.save(job)
        print(f"Job <{jobid}> is being stopped")
    return status


def bresume(store: Store, args: list[str]) -> int:
    status = 0
    for jobid, job in _lsf_jobs(store, args):
        if job is None:
            status = 255
            continue
        if job["status"] == "held":
            launch(job)
        elif job["status"] == "suspended":
            signal_job(job, signal.SIGCONT)
            job["status"] = "running"
        store.save(job)
        print(f"Job <{jobid}> is being resumed")
    return status


def bmod(store: Store, args: list[str]) -> int:
    status = 0
    for jobid, job in _lsf_jobs(store, args, ("-W",)):
        if job is None:
            status = 255
            continue
        if "-W" in args:
            job["walltime"] = args[args.index("-W") + 1]
        store.save(job)
        print(f"Parameters of job <{jobid}> are being changed")
    return status


def _long_lines(job: dict[str, Any]) -> tuple[str, list[str]]:
    stat = lsf_stat(job)
    header = (f"Job <{job['seq']}>, Job Name <{job['name']}>, User <{user()}>, Project <default>, "
              f"Status <{stat}>, Queue <{job['queue']}>, Command <{job['name']}>")
    stamp = lambda when: time.strftime("%a %b %d %H:%M:%S", time.localtime(when))  # noqa: E731
    events = [
        f"{stamp(job['submit'])}: Submitted from host <localhost>, CWD <{job['cwd']}>"
        + (f", Output File <{job['o_given']}>" if job.get("o_given") else "")
        + (f", Requested Resources <{job['resreq']}>" if job.get("resreq") else "") + ";",
        f"{stamp(job['start'])}: Dispatched to <localhost>;",
    ]
    if stat == "DONE":
        events.append(f"{stamp(job['end'])}: Completed <done>.")
    elif job["deleted"]:
        events.append(f"{stamp(job['end'])}: Completed <exit>; TERM_OWNER: job killed by owner.")
    else:
        events.append(f"{stamp(job['end'])}: Exited with exit code {job['rc']}. The CPU time used is 0.0 seconds.")
        events.append(f"{stamp(job['end'])}: Completed <exit>.")
    return header, events


def lsf_wrap(line: str) -> list[str]:
    """bacct/bhist wrap at 79 columns and indent the rest by 21, cutting words."""
    out = [line[:79]]
    rest = line[79:]
    while rest:
        out.append(" " * 21 + rest[:58])
        rest = rest[58:]
    return out


def bacct(store: Store, args: list[str]) -> int:
    if os.environ.get("BATCHDECK_SIM_NO_BACCT"):
        return fail("No matching job found", 0)
    ids = [a for i, a in enumerate(args) if not a.startswith("-") and (i == 0 or args[i - 1] != "-C")]
    if ids:
        jobs = [j for j in (store.find(i) for i in ids) if j and j["kind"] == "lsf" and j["status"] == "done"]
    else:
        # -C time0,: jobs that ended from time0 (yyyy/mm/dd/HH:MM) until now; bacct's own user's
        since = 0.0
        if "-C" in args:
            since = time.mktime(time.strptime(args[args.index("-C") + 1].split(",")[0], "%Y/%m/%d/%H:%M"))
        jobs = [j for j in store.all() if j["kind"] == "lsf" and j["status"] == "done" and (j["end"] or 0) >= since]
    if not jobs:
        return fail("No matching job found", 0)
    print("Accounting information about jobs that are:\n  - submitted by all users.\n  - accounted on all projects.\n"
          "  - completed normally or exited\n  - executed on all hosts.\n  - submitted to all queues.\n"
          "  - accounted on all service classes.\n" + "-" * 78 + "\n")
    for job in jobs:
        header, events = _long_lines(job)
        for line in [header, *events]:
            print("\n".join(lsf_wrap(line)))
        status = "done" if lsf_stat(job) == "DONE" else "exit"
        # the runner's measured CPU time and peak memory, as bacct prints them
        cpu = job["cpu"] or 0.0
        wait = int((job["start"] or job["submit"]) - job["submit"])
        turnaround = max(wait, int(round((job["end"] or job["submit"]) - job["submit"])))
        mem = f"{(job['maxrss_kb'] or 0) // 1024}M"
        hog = cpu / turnaround if turnaround else 0.0
        print("\nAccounting information about this job:\n     CPU_T     WAIT     TURNAROUND   STATUS     HOG_FACTOR"
              f"    MEM    SWAP\n {cpu:9.2f} {wait:8d} {turnaround:14d} {status:>8}   {hog:12.4f} {mem:>6}     0M\n"
              + "-" * 78 + "\n")
    print("SUMMARY:      ( time unit: second )")
    return 0


def bhist(store: Store, args: list[str]) -> int:
    ids = [a for a in args if not a.startswith("-")]
    jobs = [j for j in (store.find(i) for i in ids) if j and j["kind"] == "lsf"]
    if not jobs:
        return fail("No matching job found", 255)
    for job in jobs:
        header, events = _long_lines(job)
        header = header.replace(f", Status <{lsf_stat(job)}>", "")
        print()
        for line in [header, *events]:
            print("\n".join(lsf_wrap(line)))
        print("\nSummary of time in seconds spent in various states by  " + time.strftime("%a %b %d %H:%M:%S"))
        print("  PEND     PSUSP    RUN      USUSP    SSUSP    UNKWN    TOTAL")
        print("  0        0        1        0        0        0        1")
    return 0


def bqueues(store: Store, args: list[str]) -> int:
    jobs = [j for j in store.all() if j["kind"] == "lsf" and j["status"] == "running"]
    print("QUEUE_NAME   PRIO  STATUS       MAX JL/U JL/P JL/H NJOBS  PEND  RUN  SUSP")
    for prio, name in zip((30, 35), LSF_QUEUES, strict=True):
        run = sum(1 for j in jobs if j["queue"] == name)
        print(f"{name:<12} {prio:>4}  Open:Active   -  -    -    -    {run:>2}      0    {run:>2}    0")
    return 0


COMMANDS = {
    "qsub": qsub, "qstat": qstat, "qdel": qdel, "tracejob": tracejob,
    "qsig": qsig, "qhold": qhold, "qrls": qrls, "qalter": qalter,
    "bsub": bsub, "bjobs": bjobs, "bkill": bkill, "bacct": bacct, "bhist": bhist, "bqueues": bqueues,
    "bstop": bstop, "bresume": bresume, "bmod": bmod,
}


def main(argv: list[str]) -> int:
    if argv[:1] == ["runner"] and len(argv) == 5:
        return run_job(*argv[1:])  # the job's own process: never holds the store's lock
    if not argv or argv[0] not in COMMANDS:
        return fail(f"batchsim: unknown command {argv[:1]}", 2)
    store = Store()
    return COMMANDS[argv[0]](store, argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
