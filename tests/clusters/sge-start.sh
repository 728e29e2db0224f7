#!/usr/bin/env bash
# Start a single-node Son of Grid Engine 8.1.9 (Debian gridengine-* packages) for the tests.
#
# Idempotent: preseeds debconf and installs gridengine-master, -exec, -client if missing; writes
# act_qmaster and host_aliases; starts sge_qmaster; adds admin/submit/exec host, @allhosts,
# PE `smp` and queue `all.q`; sets min_uid/min_gid 0, a 1 s scheduling interval and 1 s accounting
# flush; starts sge_execd; waits until all.q@host has a load value; runs a `qsub -sync y` smoke
# job.  Quiet on success except the final `SGE READY in N s` line.
#
# Knobs: SGE_SMOKE=1|0 (smoke job), BATCHDECK_CLUSTER_STATE (/var/tmp/batchdeck-clusters)
set -Eeuo pipefail
trap 'echo "sge-start: ERROR: unexpected failure (exit $?) at line $LINENO: $BASH_COMMAND" >&2' ERR

T0=$(date +%s.%N)
STATE=${BATCHDECK_CLUSTER_STATE:-/var/tmp/batchdeck-clusters}
D=$STATE/sge
SMOKE=${SGE_SMOKE:-1}
SGE_ROOT=/var/lib/gridengine
SGE_CELL=default
COMMON=$SGE_ROOT/$SGE_CELL/common
SPOOL=/var/spool/gridengine
QMASTER_PIDFILE=$SPOOL/qmaster/qmaster.pid
export SGE_ROOT SGE_CELL

PROG=sge-start
# shellcheck source=tests/clusters/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[ "$(id -u)" = 0 ] || die "must run as root"
mkdir -p "$D"

# ---- helpers -------------------------------------------------------------------------------
execd_pidfile() { compgen -G "$SPOOL/execd/*/execd.pid" | head -n1 || true; }
qmaster_running() { alive "$(pid_of "$QMASTER_PIDFILE")" sge_qmaster; }
execd_running() { local f; f=$(execd_pidfile); [ -n "$f" ] && alive "$(pid_of "$f")" sge_execd; }
stop_daemon() {        # stop_daemon PIDFILE COMM
    local pid; pid=$(pid_of "$1")
    alive "$pid" "$2" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 300); do alive "$pid" || break; sleep 0.1; done
    if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; sleep 0.3; fi
}
wait_for() {           # wait_for SECONDS CMD...: poll every 0.1 s
    local end=$(( $(date +%s) + $1 )); shift
    until "$@" >/dev/null 2>&1; do
        [ "$(date +%s)" -lt "$end" ] || return 1
        sleep 0.1
    done
}
logtail() { [ -r "$1" ] && { echo "--- last lines of $1:" >&2; tail -n "${2:-15}" "$1" >&2; } || true; }
qc() {                 # qconf with its output captured; error lines shown on failure
    local out
    if ! out=$(qconf "$@" 2>&1); then
        echo "$out" >&2
        die "qconf $* failed"
    fi
}

# ---- host name -----------------------------------------------------------------------------
HOST=$(hostname -s)
[ -n "$HOST" ] || die "hostname -s is empty"
if ! getent hosts "$HOST" >/dev/null; then
    echo "127.0.0.1 $HOST" >>/etc/hosts
fi
NPROC=$(nproc)

# ---- packages (debconf preseed first: configure a cell `default` with this host as master) ---
if ! dpkg-query -W -f='${Status}' gridengine-master gridengine-exec gridengine-client 2>/dev/null |
        grep -c 'install ok installed' | grep -qx 3; then
    debconf-set-selections <<EOF
gridengine-common shared/gridengineconfig boolean true
gridengine-common shared/gridenginecell string $SGE_CELL
gridengine-common shared/gridenginemaster string $HOST
EOF
    need_pkgs gridengine-master gridengine-exec gridengine-client
fi
id sgeadmin >/dev/null 2>&1 || die "user sgeadmin missing (gridengine-common postinst did not run?)"

# ---- cell / spool initialisation (postinst does it on first install; again after --purge) ----
install -d -o sgeadmin -g sgeadmin -m 755 "$SGE_ROOT/$SGE_CELL" "$COMMON" \
    "$SPOOL/qmaster" "$SPOOL/qmaster/job_scripts" "$SPOOL/spooldb" "$SPOOL/execd"
[ -s "$COMMON/bootstrap" ] ||
    install -m 644 -o sgeadmin -g sgeadmin /usr/share/gridengine/default-bootstrap "$COMMON/bootstrap"
if [ ! -e "$SPOOL/spooldb/sge" ]; then
    stop_daemon "$QMASTER_PIDFILE" sge_qmaster
    su -s /bin/sh -c "/usr/share/gridengine/scripts/init_cluster $SGE_ROOT $SGE_CELL $SPOOL/spooldb sgeadmin" \
        sgeadmin >"$D/init_cluster.log" 2>&1 || { logtail "$D/init_cluster.log"; die "init_cluster failed"; }
fi

# act_qmaster names this host; host_aliases maps `localhost` (the reverse lookup of 127.0.0.1)
# to it, otherwise every client fails with "access denied (client IP resolved to host name
# "localhost". This is not identical to clients host name ...)".
RESTART_QMASTER=0
echo "$HOST" | write_if_changed "$COMMON/act_qmaster" && RESTART_QMASTER=1
ALIASES="$HOST"
[ "$HOST" = localhost ] || ALIASES="$HOST localhost"
echo "$ALIASES" | write_if_changed "$COMMON/host_aliases" && RESTART_QMASTER=1
chown sgeadmin:sgeadmin "$COMMON/act_qmaster" "$COMMON/host_aliases"
chmod 644 "$COMMON/act_qmaster" "$COMMON/host_aliases"

# ---- sge_qmaster ---------------------------------------------------------------------------
if [ $RESTART_QMASTER = 1 ] && qmaster_running; then
    stop_daemon "$QMASTER_PIDFILE" sge_qmaster
fi
REPORTING="accounting=true reporting=false flush_time=00:00:01 joblog=false sharelog=00:00:00"
if ! qmaster_running; then
    # Write the global configuration into the spool *before* qmaster starts: a flush_time changed
    # later with `qconf -mconf` only takes effect after the first flush at the old 15 s interval,
    # so qacct would miss the first jobs for up to 15 s.  (Resets the global config to the
    # package defaults plus these values on every qmaster start.)
    sed -e 's/^min_uid .*/min_uid                0/' -e 's/^min_gid .*/min_gid                0/' \
        -e "s/^reporting_params .*/reporting_params       $REPORTING/" \
        /usr/share/gridengine/default-configuration >"$D/global-configuration"
    chmod 644 "$D/global-configuration"
    su -s /bin/sh -c "SGE_ROOT=$SGE_ROOT SGE_CELL=$SGE_CELL /usr/lib/gridengine/spooldefaults configuration $D/global-configuration" \
        sgeadmin >"$D/spooldefaults.log" 2>&1 ||
        { logtail "$D/spooldefaults.log"; die "spooldefaults configuration failed"; }
    /usr/sbin/sge_qmaster >"$D/sge_qmaster.out" 2>&1 ||
        { cat "$D/sge_qmaster.out" >&2; logtail "$SPOOL/qmaster/messages"; die "sge_qmaster failed to start"; }
fi
wait_for 30 qconf -sh || { qconf -sh >&2 || true; logtail "$SPOOL/qmaster/messages"; die "qmaster does not answer (qconf -sh) within 30 s"; }

# ---- configuration -------------------------------------------------------------------------
qconf -sh 2>/dev/null | grep -qx "$HOST" || qc -ah "$HOST"
qconf -ss 2>/dev/null | grep -qx "$HOST" || qc -as "$HOST"

# qconf runs $EDITOR without a shell, so the editor must be a script file that edits "$1".
EDITOR_SCRIPT=$D/qconf-editor.sh
cat >"$EDITOR_SCRIPT" <<'EOF'
#!/bin/sh
# used as EDITOR for `qconf -mconf`: sets the values passed in BD_SET ("key value" per line)
f=$1
# join continuation lines ("key value \\<newline>   more") first
sed -i -e ':a' -e '/\\$/{N;s/[[:space:]]*\\\n[[:space:]]*/ /;ba' -e '}' "$f"
# drop stray lines whose "key" contains '=' (left by an editor that ignored continuations)
sed -i '/^[^[:space:]#][^[:space:]]*=/d' "$f"
printf '%s\n' "$BD_SET" | while read -r key value; do
    [ -n "$key" ] || continue
    if grep -q "^$key[[:space:]]" "$f"; then
        sed -i "s|^$key[[:space:]].*|$key $value|" "$f"
    else
        echo "$key $value" >>"$f"
    fi
done
EOF
chmod 755 "$EDITOR_SCRIPT"

# global cluster configuration (only differs here if qmaster was already running)
CONF=$(qconf -sconf global 2>/dev/null | sed -e ':a' -e '/\\$/{N;s/[[:space:]]*\\\n[[:space:]]*/ /;ba' -e '}')
want_conf() { echo "$CONF" | awk -v k="$1" '$1 == k { $1 = ""; sub(/^ /, ""); print; exit }'; }
BD_SET=""
[ "$(want_conf min_uid)" = 0 ] || BD_SET+="min_uid 0"$'\n'
[ "$(want_conf min_gid)" = 0 ] || BD_SET+="min_gid 0"$'\n'
[ "$(want_conf reporting_params)" = "$REPORTING" ] || BD_SET+="reporting_params $REPORTING"$'\n'
echo "$CONF" | grep -q '^[^[:space:]#][^[:space:]]*=' && BD_SET+="min_uid 0"$'\n'
if [ -n "$BD_SET" ]; then
    export BD_SET
    EDITOR=$EDITOR_SCRIPT qc -mconf
    unset BD_SET
fi

# scheduler: run every second, and right after submits/finishes
SCONF=$(qconf -ssconf)
if ! { echo "$SCONF" | grep -Eq '^schedule_interval[[:space:]]+0:0:1$' &&
       echo "$SCONF" | grep -Eq '^flush_submit_sec[[:space:]]+1$' &&
       echo "$SCONF" | grep -Eq '^flush_finish_sec[[:space:]]+1$'; }; then
    echo "$SCONF" | sed -e 's/^schedule_interval .*/schedule_interval                 0:0:1/' \
                        -e 's/^flush_submit_sec .*/flush_submit_sec                  1/' \
                        -e 's/^flush_finish_sec .*/flush_finish_sec                  1/' >"$D/sconf"
    qc -Msconf "$D/sconf"
fi

# execution host
if ! qconf -sel 2>/dev/null | grep -qx "$HOST"; then
    cat >"$D/exechost" <<EOF
hostname              $HOST
load_scaling          NONE
complex_values        NONE
user_lists            NONE
xuser_lists           NONE
projects              NONE
xprojects             NONE
usage_scaling         NONE
report_variables      NONE
EOF
    qc -Ae "$D/exechost"
fi

# host group @allhosts
printf 'group_name @allhosts\nhostlist %s\n' "$HOST" >"$D/allhosts"
if ! qconf -shgrpl 2>/dev/null | grep -qx '@allhosts'; then
    qc -Ahgrp "$D/allhosts"
elif ! qconf -shgrp @allhosts 2>/dev/null | grep -Eq "^hostlist[[:space:]]+$HOST\$"; then
    qc -Mhgrp "$D/allhosts"
fi

# parallel environment smp
cat >"$D/pe-smp" <<EOF
pe_name            smp
slots              $NPROC
user_lists         NONE
xuser_lists        NONE
start_proc_args    NONE
stop_proc_args     NONE
allocation_rule    \$pe_slots
control_slaves     FALSE
job_is_first_task  TRUE
urgency_slots      min
accounting_summary FALSE
qsort_args         NONE
EOF
if ! qconf -spl 2>/dev/null | grep -qx smp; then
    qc -Ap "$D/pe-smp"
elif ! diff -q <(qconf -sp smp | awk '{$1=$1; print}') <(awk '{$1=$1; print}' "$D/pe-smp") >/dev/null; then
    qc -Mp "$D/pe-smp"
fi

# queue all.q (load_thresholds NONE: a busy 2-core CI box must not put the queue in alarm state)
cat >"$D/all.q" <<EOF
qname                 all.q
hostlist              @allhosts
seq_no                0
load_thresholds       NONE
suspend_thresholds    NONE
nsuspend              1
suspend_interval      00:05:00
priority              0
min_cpu_interval      00:05:00
processors            UNDEFINED
qtype                 BATCH INTERACTIVE
ckpt_list             NONE
pe_list               smp
rerun                 FALSE
slots                 $NPROC
tmpdir                /tmp
shell                 /bin/bash
prolog                NONE
epilog                NONE
shell_start_mode      unix_behavior
starter_method        NONE
suspend_method        NONE
resume_method         NONE
terminate_method      NONE
notify                00:00:60
owner_list            NONE
user_lists            NONE
xuser_lists           NONE
subordinate_list      NONE
complex_values        NONE
projects              NONE
xprojects             NONE
calendar              NONE
initial_state         default
s_rt                  INFINITY
h_rt                  INFINITY
s_cpu                 INFINITY
h_cpu                 INFINITY
s_fsize               INFINITY
h_fsize               INFINITY
s_data                INFINITY
h_data                INFINITY
s_stack               INFINITY
h_stack               INFINITY
s_core                INFINITY
h_core                INFINITY
s_rss                 INFINITY
h_rss                 INFINITY
s_vmem                INFINITY
h_vmem                INFINITY
EOF
if ! qconf -sql 2>/dev/null | grep -qx all.q; then
    qc -Aq "$D/all.q"
elif ! diff -q <(qconf -sq all.q | awk '{$1=$1; print}') <(awk '{$1=$1; print}' "$D/all.q") >/dev/null; then
    qc -Mq "$D/all.q"
fi

# ---- sge_execd -----------------------------------------------------------------------------
if ! execd_running; then
    /usr/sbin/sge_execd >"$D/sge_execd.out" 2>&1 ||
        { cat "$D/sge_execd.out" >&2; die "sge_execd failed to start"; }
fi

# wait until all.q@HOST reports a load value and is not in an unknown/alarm/error/disabled state
queue_line() { { qstat -f -q "all.q@$HOST" 2>/dev/null || true; } | awk -v q="all.q@$HOST" '$1 == q'; }
queue_ready() {
    local l; l=$(queue_line)
    [ -n "$l" ] || return 1
    set -- $l
    [ "${4:-}" != "-NA-" ] && [[ ${4:-} =~ ^[0-9.]+$ ]] || return 1
    [ -z "${6:-}" ]
}
end=$(( $(date +%s) + 60 )); cleared=0
until queue_ready; do
    st=$(queue_line | awk '{print $6}' || true)
    if [ $cleared = 0 ] && [[ ${st:-} =~ [EdD] ]]; then
        qmod -c "all.q@$HOST" >/dev/null 2>&1 || true
        qmod -e "all.q@$HOST" >/dev/null 2>&1 || true
        cleared=1
    fi
    if [ "$(date +%s)" -ge "$end" ]; then
        qstat -f >&2 || true
        logtail "$SPOOL/qmaster/messages"
        f=$(execd_pidfile); [ -n "$f" ] && logtail "$(dirname "$f")/messages"
        die "all.q@$HOST has no load value / is not usable after 60 s (states: '${st:-}')"
    fi
    sleep 0.1
done

SMOKE_MSG=""
if [ "$SMOKE" = 1 ]; then
    if ! out=$(cd /tmp && timeout 60 qsub -sync y -b y -N smoke -o /dev/null -e /dev/null -wd /tmp true 2>&1); then
        echo "$out" >&2
        die "smoke job (qsub -sync y) failed"
    fi
    sid=$(echo "$out" | sed -n 's/^Job \([0-9]*\) exited.*/\1/p')
    # READY also means accounting works: qacct sees a finished job ~1 s later (flush_time)
    if [ -n "$sid" ] && ! wait_for 20 qacct -j "$sid"; then
        die "smoke job $sid finished but qacct does not show it after 20 s"
    fi
    SMOKE_MSG=", smoke job $sid done (in qacct)"
fi
echo "SGE READY in $(elapsed) s: cell $SGE_CELL, master $HOST, queue all.q ($NPROC slots), pe smp$SMOKE_MSG"
