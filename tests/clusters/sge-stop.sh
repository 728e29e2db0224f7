#!/usr/bin/env bash
# Stop the single-node Grid Engine started by sge-start.sh.
# Runs `qdel -f` on all jobs, then stops sge_execd and sge_qmaster by pidfile.
#   --keep-jobs  do not delete jobs (they are spooled and come back with the next start)
#   --purge      also wipe the spool, job ids and accounting (the next start re-runs init_cluster)
set -Eeuo pipefail
trap 'echo "sge-stop: ERROR: unexpected failure (exit $?) at line $LINENO: $BASH_COMMAND" >&2' ERR

KEEP=0 PURGE=0
for a in "$@"; do
    case $a in
        --keep-jobs) KEEP=1 ;;
        --purge) PURGE=1 ;;
        -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
        *) echo "sge-stop: ERROR: unknown argument $a" >&2; exit 2 ;;
    esac
done
PROG=sge-stop
# shellcheck source=tests/clusters/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[ "$(id -u)" = 0 ] || die "must run as root"
T0=$(date +%s.%N)
SGE_ROOT=/var/lib/gridengine
SGE_CELL=default
SPOOL=/var/spool/gridengine
QMASTER_PIDFILE=$SPOOL/qmaster/qmaster.pid
export SGE_ROOT SGE_CELL

FAILED=""
wait_gone() {          # wait_gone PID COMM SECONDS: zombie-aware wait, then SIGKILL
    local pid=$1 comm=$2 n=$(( $3 * 10 ))
    for _ in $(seq "$n"); do alive "$pid" "$comm" || return 0; sleep 0.1; done
    echo "sge-stop: $comm (pid $pid) still running after $3 s, sending SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.3
    alive "$pid" "$comm" && FAILED="$FAILED $comm"
    return 0
}

QPID=$(pid_of "$QMASTER_PIDFILE")
EPIDFILE=$(compgen -G "$SPOOL/execd/*/execd.pid" | head -n1 || true)
EPID=$([ -n "$EPIDFILE" ] && pid_of "$EPIDFILE" || true)

if [ $KEEP = 0 ] && alive "$QPID" sge_qmaster && command -v qdel >/dev/null; then
    ids=$(qstat -u '*' 2>/dev/null | awk 'NR > 2 {print $1}' | sort -u | tr '\n' ' ' || true)
    if [ -n "${ids// /}" ]; then
        # shellcheck disable=SC2086
        qdel -f $ids >/dev/null 2>&1 || true
        for _ in $(seq 100); do
            [ -z "$(qstat -u '*' 2>/dev/null)" ] && break
            sleep 0.1
        done
    fi
fi

# execd first (running jobs' shepherds are left alone with --keep-jobs), then qmaster.
if alive "$EPID" sge_execd; then
    kill -TERM "$EPID" 2>/dev/null || true
    wait_gone "$EPID" sge_execd 15
fi
if alive "$QPID" sge_qmaster; then
    kill -TERM "$QPID" 2>/dev/null || true
    wait_gone "$QPID" sge_qmaster 30
fi
rm -f "$QMASTER_PIDFILE" ${EPIDFILE:+"$EPIDFILE"}

if [ $PURGE = 1 ]; then
    # spool (job ids, jobs, config db), execd spool and accounting; act_qmaster, host_aliases
    # and bootstrap stay, sge-start.sh re-runs init_cluster when spooldb/sge is missing
    rm -rf "$SPOOL/spooldb/"* "$SPOOL/qmaster/"* "$SPOOL/execd/"* \
        "$SGE_ROOT/$SGE_CELL/common/accounting" "$SGE_ROOT/$SGE_CELL/common/reporting"
fi

[ -z "$FAILED" ] || die "could not stop:$FAILED"
echo "SGE STOPPED in $(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s$([ $KEEP = 1 ] && echo ' (jobs kept)')$([ $PURGE = 1 ] && echo ' (purged)')"
