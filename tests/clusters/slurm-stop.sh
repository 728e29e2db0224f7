#!/usr/bin/env bash
# Stop the single-node SLURM started by slurm-start.sh.
# Cancels all jobs, then stops slurmd, slurmctld, slurmdbd, mariadbd and munged by pidfile.
#   --keep-jobs  do not scancel (jobs survive a stop/start; their state is in StateSaveLocation)
#   --purge      also drop the accounting DB and wipe controller state, spool and logs
#                (job ids restart at 1)
set -Eeuo pipefail
trap 'echo "slurm-stop: ERROR: unexpected failure (exit $?) at line $LINENO: $BASH_COMMAND" >&2' ERR

KEEP=0 PURGE=0
for a in "$@"; do
    case $a in
        --keep-jobs) KEEP=1 ;;
        --purge) PURGE=1 ;;
        -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
        *) echo "slurm-stop: ERROR: unknown argument $a" >&2; exit 2 ;;
    esac
done
PROG=slurm-stop
# shellcheck source=tests/clusters/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[ "$(id -u)" = 0 ] || die "must run as root"
T0=$(date +%s.%N)

running() { alive "$(pid_of "$1")" "$2"; }
FAILED=""
stop_daemon() {        # stop_daemon PIDFILE COMM [TIMEOUT_S]: TERM, wait (zombie-aware), KILL
    local pid n=$(( ${3:-15} * 10 )); pid=$(pid_of "$1")
    if alive "$pid" "$2"; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq "$n"); do alive "$pid" || break; sleep 0.1; done
        if alive "$pid"; then
            echo "slurm-stop: $2 (pid $pid) ignored SIGTERM, sending SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null || true
            sleep 0.3
            alive "$pid" && FAILED="$FAILED $2"
        fi
    fi
    rm -f "$1"
}

if [ $KEEP = 0 ] && command -v squeue >/dev/null && running /run/slurmctld.pid slurmctld; then
    ids=$(squeue -h -o %A 2>/dev/null | sort -u | tr '\n' ' ' || true)
    if [ -n "${ids// /}" ]; then
        # shellcheck disable=SC2086
        scancel $ids 2>/dev/null || true
        # wait (bounded) until the jobs have left RUNNING/COMPLETING so no job steps outlive slurmd
        for _ in $(seq 150); do
            [ -z "$(squeue -h -t R,CG,S,CF -o %A 2>/dev/null)" ] && break
            sleep 0.1
        done
    fi
fi

stop_daemon /run/slurmd.pid slurmd
stop_daemon /run/slurmctld.pid slurmctld
stop_daemon /run/slurmdbd.pid slurmdbd
if [ $PURGE = 1 ] && running /run/mysqld/mysqld.pid mariadbd; then
    mariadb --socket=/run/mysqld/mysqld.sock -e 'DROP DATABASE IF EXISTS slurm_acct_db' ||
        echo "slurm-stop: could not drop slurm_acct_db" >&2
fi
stop_daemon /run/mysqld/mysqld.pid mariadbd 60
stop_daemon /run/munge/munged.pid munged

if [ $PURGE = 1 ]; then
    if [ -d /var/lib/mysql/slurm_acct_db ]; then
        # mariadbd was not running: start it briefly to drop the DB cleanly
        install -d -o mysql -g mysql -m 755 /run/mysqld /var/log/mysql
        setsid nohup /usr/sbin/mariadbd --user=mysql --pid-file=/run/mysqld/mysqld.pid \
            --socket=/run/mysqld/mysqld.sock --log-error=/var/log/mysql/error.log \
            </dev/null >/dev/null 2>&1 &
        for _ in $(seq 300); do mariadb-admin --socket=/run/mysqld/mysqld.sock ping >/dev/null 2>&1 && break; sleep 0.1; done
        mariadb --socket=/run/mysqld/mysqld.sock -e 'DROP DATABASE IF EXISTS slurm_acct_db' ||
            echo "slurm-stop: could not drop slurm_acct_db" >&2
        stop_daemon /run/mysqld/mysqld.pid mariadbd 60
    fi
    rm -rf /var/spool/slurmctld/* /var/spool/slurmd/* /var/log/slurm/*
fi

[ -z "$FAILED" ] || die "could not stop:$FAILED"
echo "SLURM STOPPED in $(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s$([ $KEEP = 1 ] && echo ' (jobs kept)')$([ $PURGE = 1 ] && echo ' (purged)')"
