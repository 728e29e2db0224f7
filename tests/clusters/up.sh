#!/usr/bin/env bash
# Start the test clusters named as arguments (default: ssh slurm sge browser), one after the other.
# Each start script's output goes to $STATE/<name>-start.log; one summary line per component.
# Exit status: non-zero if any component failed.
#   usage: tests/clusters/up.sh [--installed-only] [ssh] [slurm] [sge] [browser]
#   --installed-only  never apt-install: start only the components whose packages are already
#                     installed (SLURM without slurmdbd/mariadb-server runs with SLURM_ACCOUNTING=0),
#                     report the others as "skipped"; skips do not fail.  Used by `make test`.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STATE=${BATCHDECK_CLUSTER_STATE:-/var/tmp/batchdeck-clusters}
INSTALLED_ONLY=0
names=()
for a in "$@"; do
    case $a in
        --installed-only) INSTALLED_ONLY=1 ;;
        -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
        *) names+=("$a") ;;
    esac
done
[ ${#names[@]} -gt 0 ] || names=(ssh slurm sge browser)

installed() {
    local p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || return 1
    done
}

if [ "$(id -u)" != 0 ]; then
    echo "up: ERROR: must run as root (the start scripts install packages and start daemons)" >&2
    exit 1
fi
mkdir -p "$STATE" || { echo "up: ERROR: cannot create $STATE" >&2; exit 1; }

rc=0
for name in "${names[@]}"; do
    extra_env=()
    case $name in
        ssh|sshd) name=ssh; script=sshd-start.sh; pkgs=(openssh-server) ;;
        slurm) script=slurm-start.sh; pkgs=(munge slurmctld slurmd slurm-client) ;;
        sge) script=sge-start.sh; pkgs=(gridengine-master gridengine-exec gridengine-client) ;;
        browser) script=browser-start.sh; pkgs=(chromium chromium-driver) ;;
        *) echo "up: ERROR: unknown component '$name' (want ssh, slurm, sge, browser)" >&2; rc=1; continue ;;
    esac
    if [ $INSTALLED_ONLY = 1 ]; then
        if ! installed "${pkgs[@]}"; then
            printf '%-7s skipped          not installed (%s)\n' "$name" "${pkgs[*]}"
            continue
        fi
        if [ "$name" = slurm ] && [ "${SLURM_ACCOUNTING:-1}" = 1 ] && ! installed slurmdbd mariadb-server; then
            extra_env=(SLURM_ACCOUNTING=0)
        fi
    fi
    log=$STATE/$name-start.log
    t0=$(date +%s.%N)
    if env "${extra_env[@]}" "$HERE/$script" >"$log" 2>&1; then
        status=OK
    else
        status=FAILED; rc=1
    fi
    secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')
    if [ $status = OK ]; then
        printf '%-7s OK      %5s s  %s\n' "$name" "$secs" "$(grep -E 'READY' "$log" | tail -n1)"
    else
        printf '%-7s FAILED  %5s s  %s (log: %s)\n' "$name" "$secs" \
            "$(grep -E 'ERROR' "$log" | tail -n1 || true)" "$log"
    fi
done
exit $rc
