#!/usr/bin/env bash
# Stop all test clusters (sge, slurm, sshd).  Extra arguments go to each stop script:
#   --keep-jobs  keep SLURM/SGE jobs;  --purge  wipe their state (and the sshd state dir)
# Exit status: non-zero if any stop script failed.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KEEP="" PURGE=""
for a in "$@"; do
    case $a in
        --keep-jobs) KEEP=--keep-jobs ;;
        --purge) PURGE=--purge ;;
        *) echo "down: ERROR: unknown argument $a" >&2; exit 2 ;;
    esac
done

# in parallel: sge_qmaster alone takes ~9 s to exit on SIGTERM
"$HERE/sge-stop.sh" $KEEP $PURGE & sge=$!
"$HERE/slurm-stop.sh" $KEEP $PURGE & slurm=$!
"$HERE/sshd-stop.sh" --all $PURGE & sshd=$!
rc=0
wait $sge || { echo "down: ERROR: sge-stop.sh failed (exit $?)" >&2; rc=1; }
wait $slurm || { echo "down: ERROR: slurm-stop.sh failed (exit $?)" >&2; rc=1; }
wait $sshd || { echo "down: ERROR: sshd-stop.sh failed (exit $?)" >&2; rc=1; }
exit $rc
