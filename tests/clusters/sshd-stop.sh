#!/usr/bin/env bash
# Stop the private test sshd started by sshd-start.sh (by its pidfile).
#   --all    also kill the per-connection sshd processes (and what runs under them): every
#            process holding a TCP socket whose local end is 127.0.0.1:PORT, plus descendants.
#   --purge  also delete the state dir ($STATE/sshd: keys, configs, log, env).
set -Eeuo pipefail
trap 'echo "sshd-stop: ERROR: unexpected failure (exit $?) at line $LINENO: $BASH_COMMAND" >&2' ERR

STATE=${BATCHDECK_CLUSTER_STATE:-/var/tmp/batchdeck-clusters}
D=$STATE/sshd
PORT=${BATCHDECK_SSHD_PORT:-2222}
if [ -r "$D/env" ]; then PORT=$(sed -n 's/^SSHD_PORT=//p' "$D/env"); fi
ALL=0 PURGE=0
for a in "$@"; do
    case $a in
        --all) ALL=1 ;;
        --purge) PURGE=1; ALL=1 ;;
        -h|--help) sed -n '2,5p' "$0"; exit 0 ;;
        *) echo "sshd-stop: ERROR: unknown argument $a" >&2; exit 2 ;;
    esac
done
PROG=sshd-stop
# shellcheck source=tests/clusters/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[ "$(id -u)" = 0 ] || die "must run as root"

# stop_pids SIG PID...: signal, wait up to 5 s (zombie-aware), then SIGKILL the rest
stop_pids() {
    local sig=$1 p left
    shift
    [ $# -gt 0 ] || return 0
    kill "-$sig" "$@" 2>/dev/null || true
    for _ in $(seq 50); do
        left=0
        for p in "$@"; do alive "$p" && left=1; done
        [ $left = 0 ] && return 0
        sleep 0.1
    done
    for p in "$@"; do alive "$p" && kill -KILL "$p" 2>/dev/null || true; done
    sleep 0.1
}
# pids of processes holding a TCP socket with local address 127.0.0.1:PORT
port_pids() {
    local hex inode
    hex=$(printf '0100007F:%04X' "$PORT")
    for inode in $(awk -v h="$hex" '$2 == h {print $10}' /proc/net/tcp 2>/dev/null | sort -u); do
        [ "$inode" != 0 ] || continue
        { find /proc/[0-9]*/fd -maxdepth 1 -lname "socket:\\[$inode\\]" 2>/dev/null || true; } | cut -d/ -f3
    done | sort -u
}
descendants() {  # all descendants of the given pids (one pass over /proc/*/stat)
    { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v roots="$*" '
        { pid = $1; sub(/.*\) /, ""); parent[pid] = $2 }
        END {
            n = split(roots, r, " "); for (i = 1; i <= n; i++) want[r[i]] = 1
            do { added = 0
                 for (p in parent) if (!(p in want) && (parent[p] in want)) { want[p] = 1; out = out " " p; added = 1 }
            } while (added)
            print out
        }'
}

PID=$(cat "$D/sshd.pid" 2>/dev/null || true)
if alive "$PID" && tr '\0' ' ' <"/proc/$PID/cmdline" 2>/dev/null | grep -qF -- "-f $D/sshd_config"; then
    if [ $ALL = 1 ]; then
        conn=$(port_pids | grep -vx "$PID" || true)
        # shellcheck disable=SC2086
        kids=$(descendants $PID $conn)
        stop_pids TERM "$PID"
        # shellcheck disable=SC2086
        stop_pids TERM $conn $kids
    else
        stop_pids TERM "$PID"
    fi
elif [ $ALL = 1 ]; then
    conn=$(port_pids || true)
    if [ -n "$conn" ]; then
        # shellcheck disable=SC2086
        kids=$(descendants $conn)
        # shellcheck disable=SC2086
        stop_pids TERM $conn $kids
    fi
fi
rm -f "$D/sshd.pid"
if [ $PURGE = 1 ]; then rm -rf "$D"; fi
echo "SSHD STOPPED$([ $PURGE = 1 ] && echo ' (purged)')"
