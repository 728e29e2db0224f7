#!/usr/bin/env bash
# Start a single-node SLURM 22.05 (Debian packages) on this machine for the tests.
#
# Idempotent: installs munge, slurmctld, slurmd, slurm-client (+ slurmdbd, mariadb-server) if
# missing; writes /etc/slurm/{slurm,cgroup,slurmdbd}.conf; starts munged -> mariadbd -> slurmdbd ->
# slurmctld -> slurmd (each only if not already running; slurmctld/slurmd/slurmdbd are restarted
# when their config changed); waits until the node is idle and a smoke job has COMPLETED.
# Quiet on success except the final `SLURM READY in N s` line.
#
# Knobs: SLURM_ACCOUNTING=1|0   slurmdbd + MariaDB for sacct (default 1); 0 = accounting_storage/none
#        SLURM_CGROUP=auto|yes|no  cgroup v1 proctrack/task plugins (auto: when usable, else fall back)
#        SLURM_SMOKE=1|0        run the smoke job (default 1)
#        BATCHDECK_CLUSTER_STATE (/var/tmp/batchdeck-clusters): state dir (logs of this script)
set -Eeuo pipefail
trap 'echo "slurm-start: ERROR: unexpected failure (exit $?) at line $LINENO: $BASH_COMMAND" >&2' ERR

T0=$(date +%s.%N)
STATE=${BATCHDECK_CLUSTER_STATE:-/var/tmp/batchdeck-clusters}
D=$STATE/slurm
ACCOUNTING=${SLURM_ACCOUNTING:-1}
CGROUP=${SLURM_CGROUP:-auto}
SMOKE=${SLURM_SMOKE:-1}
CLUSTER=ci
DBPASS=batchdeck-slurm
NODE_TIMEOUT=30     # s to wait for the node to become idle
SMOKE_TIMEOUT=45    # s to wait for the smoke job to complete

PROG=slurm-start
# shellcheck source=tests/clusters/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[ "$(id -u)" = 0 ] || die "must run as root"
case $ACCOUNTING in 0|1) ;; *) die "SLURM_ACCOUNTING must be 0 or 1" ;; esac
case $CGROUP in auto|yes|no) ;; *) die "SLURM_CGROUP must be auto, yes or no" ;; esac
mkdir -p "$D"

# ---- helpers -------------------------------------------------------------------------------
running() { alive "$(pid_of "$1")" "$2"; }                         # running PIDFILE COMM
stop_daemon() {                                                    # stop_daemon PIDFILE COMM
    local pid; pid=$(pid_of "$1")
    alive "$pid" "$2" || { rm -f "$1"; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 150); do alive "$pid" || break; sleep 0.1; done
    if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; sleep 0.2; fi
    rm -f "$1"
}
# alive PID [COMM]: process exists, is not a zombie (PID 1 reaps orphans late) and has that comm
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_for() {           # wait_for SECONDS WHAT CMD...: poll every 0.1 s
    local secs=$1 end; shift 2   # $2 only names what we wait for
    end=$(( $(date +%s) + secs ))
    until "$@" >/dev/null 2>&1; do
        [ "$(date +%s)" -lt "$end" ] || return 1
        sleep 0.1
    done
}
logtail() { [ -r "$1" ] && { echo "--- last lines of $1:" >&2; tail -n "${2:-15}" "$1" >&2; } || true; }

# ---- packages ------------------------------------------------------------------------------
PKGS=(munge slurmctld slurmd slurm-client)
[ "$ACCOUNTING" = 1 ] && PKGS+=(slurmdbd mariadb-server)
need_pkgs "${PKGS[@]}"

# ---- host name -----------------------------------------------------------------------------
HOST=$(hostname -s)
[ -n "$HOST" ] || die "hostname -s is empty"
if ! getent hosts "$HOST" >/dev/null; then
    echo "127.0.0.1 $HOST" >>/etc/hosts
fi

# ---- directories ---------------------------------------------------------------------------
install -d -o slurm -g slurm -m 755 /var/log/slurm /var/spool/slurmctld
install -d -o root -g root -m 755 /var/spool/slurmd /etc/slurm

# ---- cgroup decision -----------------------------------------------------------------------
# cgroup v1 is used when the freezer, memory and cpuset v1 hierarchies are mounted and writable.
cgroup_v1_usable() {
    local c mp
    for c in freezer memory cpuset; do
        mp=$(awk -v c="$c" '$3 == "cgroup" { n = split($4, o, ","); for (i = 1; i <= n; i++) if (o[i] == c) { print $2; exit } }' /proc/mounts)
        [ -n "$mp" ] || return 1
        mkdir "$mp/.batchdeck-probe.$$" 2>/dev/null || return 1
        rmdir "$mp/.batchdeck-probe.$$" 2>/dev/null || true
    done
}
case $CGROUP in
    yes) USE_CGROUP=1 ;;
    no) USE_CGROUP=0 ;;
    auto) if cgroup_v1_usable; then USE_CGROUP=1; else USE_CGROUP=0; fi ;;
esac

# ---- configuration -------------------------------------------------------------------------
NPROC=$(nproc)
NODELINE=$(slurmd -C 2>/dev/null | sed -n 's/^\(NodeName=.*\)$/\1/p' | head -n1) || true
MEM_MB=$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)
REALMEM=$(( MEM_MB * 90 / 100 ))
# take sockets/cores/threads from slurmd -C (avoids "reconfigured socket/core boundaries"),
# but only if it agrees with nproc
TOPO=$(echo "$NODELINE" | grep -o 'Boards=[0-9]* SocketsPerBoard=[0-9]* CoresPerSocket=[0-9]* ThreadsPerCore=[0-9]*' || true)
CPUS_C=$(echo "$NODELINE" | sed -n 's/.* CPUs=\([0-9]*\).*/\1/p')
[ "$CPUS_C" = "$NPROC" ] || TOPO=""

write_slurm_conf() {
    local proctrack task acct
    if [ "$USE_CGROUP" = 1 ]; then
        proctrack=proctrack/cgroup; task=task/cgroup,task/affinity
    else
        proctrack=proctrack/linuxproc; task=task/none
    fi
    if [ "$ACCOUNTING" = 1 ]; then
        acct="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=6819"
    else
        acct="AccountingStorageType=accounting_storage/none"
    fi
    write_if_changed /etc/slurm/slurm.conf <<EOF
# generated by tests/clusters/slurm-start.sh — single-node test cluster
ClusterName=$CLUSTER
SlurmctldHost=$HOST
AuthType=auth/munge
CryptoType=crypto/munge
SlurmUser=slurm
SlurmdUser=root
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=$proctrack
TaskPlugin=$task
SwitchType=switch/none
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
SchedulerType=sched/backfill
# default batch_sched_delay=3 can hold a freshly submitted job PENDING for up to 3 s
SchedulerParameters=batch_sched_delay=0
# as production clusters do: a job over a partition's limits is refused at sbatch
EnforcePartLimits=ALL
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=500
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=2
$acct
JobCompType=jobcomp/filetxt
JobCompLoc=/var/log/slurm/jobcomp.log
# keep finished jobs visible to squeue -t all / scontrol show job for 5 minutes
MinJobAge=300
KillWait=5
InactiveLimit=0
OverTimeLimit=0
SlurmctldTimeout=30
SlurmdTimeout=60
NodeName=$HOST CPUs=$NPROC ${TOPO:+$TOPO }RealMemory=$REALMEM State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=01:00:00 State=UP
PartitionName=long Nodes=$HOST Default=NO MaxTime=INFINITE State=UP
EOF
}
SLURM_CONF_CHANGED=0
write_slurm_conf && SLURM_CONF_CHANGED=1
write_if_changed /etc/slurm/cgroup.conf <<EOF && SLURM_CONF_CHANGED=1
# generated by tests/clusters/slurm-start.sh
CgroupPlugin=cgroup/v1
ConstrainCores=yes
ConstrainRAMSpace=yes
EOF
chmod 644 /etc/slurm/slurm.conf /etc/slurm/cgroup.conf

DBD_CONF_CHANGED=0
if [ "$ACCOUNTING" = 1 ]; then
    write_if_changed /etc/slurm/slurmdbd.conf <<EOF && DBD_CONF_CHANGED=1
# generated by tests/clusters/slurm-start.sh
AuthType=auth/munge
DbdHost=localhost
DbdPort=6819
SlurmUser=slurm
PidFile=/run/slurmdbd.pid
LogFile=/var/log/slurm/slurmdbd.log
DebugLevel=info
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=$DBPASS
StorageLoc=slurm_acct_db
EOF
    chown slurm:slurm /etc/slurm/slurmdbd.conf
    chmod 600 /etc/slurm/slurmdbd.conf
fi

# ---- munged --------------------------------------------------------------------------------
if [ ! -s /etc/munge/munge.key ]; then
    install -d -o munge -g munge -m 700 /etc/munge
    mungekey --create --keyfile=/etc/munge/munge.key 2>/dev/null ||
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    chown munge:munge /etc/munge/munge.key
    chmod 400 /etc/munge/munge.key
fi
if ! running /run/munge/munged.pid munged; then
    install -d -o munge -g munge -m 755 /run/munge /var/log/munge /var/lib/munge
    runuser -u munge -- /usr/sbin/munged 2>"$D/munged.err" || { cat "$D/munged.err" >&2; die "munged failed to start"; }
fi
wait_for 10 munge bash -c 'munge -n | unmunge' || { logtail /var/log/munge/munged.log; die "munge does not work"; }

# ---- mariadbd + slurmdbd -------------------------------------------------------------------
if [ "$ACCOUNTING" = 1 ]; then
    if ! running /run/mysqld/mysqld.pid mariadbd; then
        install -d -o mysql -g mysql -m 755 /var/log/mysql /run/mysqld
        if [ ! -d /var/lib/mysql/mysql ]; then
            mariadb-install-db --user=mysql --datadir=/var/lib/mysql >"$D/mariadb-install-db.log" 2>&1 ||
                { logtail "$D/mariadb-install-db.log"; die "mariadb-install-db failed"; }
        fi
        setsid nohup /usr/sbin/mariadbd --user=mysql --pid-file=/run/mysqld/mysqld.pid \
            --socket=/run/mysqld/mysqld.sock --log-error=/var/log/mysql/error.log \
            --innodb-buffer-pool-size=512M --innodb-lock-wait-timeout=900 \
            </dev/null >"$D/mariadbd.out" 2>&1 &
    fi
    wait_for 60 mariadb mariadb-admin --socket=/run/mysqld/mysqld.sock ping ||
        { logtail /var/log/mysql/error.log; die "mariadbd did not come up within 60 s"; }
    mariadb --socket=/run/mysqld/mysqld.sock -e "
        CREATE DATABASE IF NOT EXISTS slurm_acct_db;
        CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DBPASS';
        ALTER USER 'slurm'@'localhost' IDENTIFIED BY '$DBPASS';
        GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';" 2>"$D/mariadb.err" ||
        { cat "$D/mariadb.err" >&2; die "could not create the slurm database/user"; }

    if [ "$DBD_CONF_CHANGED" = 1 ]; then stop_daemon /run/slurmdbd.pid slurmdbd; fi
    if ! running /run/slurmdbd.pid slurmdbd; then
        /usr/sbin/slurmdbd 2>"$D/slurmdbd.err" || { cat "$D/slurmdbd.err" >&2; logtail /var/log/slurm/slurmdbd.log; die "slurmdbd failed to start"; }
    fi
    wait_for 30 slurmdbd port_open 6819 || { logtail /var/log/slurm/slurmdbd.log; die "slurmdbd not listening on 6819 within 30 s"; }
fi

# ---- slurmctld + slurmd --------------------------------------------------------------------
ctld_up() { scontrol ping 2>/dev/null | grep -q 'is UP'; }
start_slurm() {
    if [ "$SLURM_CONF_CHANGED" = 1 ]; then
        stop_daemon /run/slurmd.pid slurmd
        stop_daemon /run/slurmctld.pid slurmctld
        SLURM_CONF_CHANGED=0
    fi
    if ! running /run/slurmctld.pid slurmctld; then
        /usr/sbin/slurmctld 2>"$D/slurmctld.err" || { cat "$D/slurmctld.err" >&2; logtail /var/log/slurm/slurmctld.log; die "slurmctld failed to start"; }
    fi
    wait_for 30 slurmctld ctld_up || { logtail /var/log/slurm/slurmctld.log; die "slurmctld does not answer scontrol ping within 30 s"; }
    if [ "$ACCOUNTING" = 1 ] && ! sacctmgr -n -P list cluster format=cluster 2>/dev/null | grep -qx "$CLUSTER"; then
        sacctmgr -i add cluster "$CLUSTER" >/dev/null 2>&1 || true
    fi
    if ! running /run/slurmd.pid slurmd; then
        /usr/sbin/slurmd 2>"$D/slurmd.err" || { cat "$D/slurmd.err" >&2; logtail /var/log/slurm/slurmd.log; die "slurmd failed to start"; }
    fi
}
node_state() { { sinfo -h -N -n "$HOST" -o %T 2>/dev/null || true; } | head -n1; }
wait_node_idle() {     # returns 0 when idle/mixed/alloc, 1 on timeout
    local end=$(( $(date +%s) + NODE_TIMEOUT )) st resumed=0
    while :; do
        st=$(node_state)
        case $st in
            idle|idle\*|mixed|allocated|alloc|completing) [ "${st%\*}" = "$st" ] && return 0 ;;
            drain*|down*|fail*)
                # ReturnToService=2 normally clears this; resume once if it does not
                if [ $resumed = 0 ] && running /run/slurmd.pid slurmd; then
                    sleep 1
                    scontrol update NodeName="$HOST" State=RESUME >/dev/null 2>&1 || true
                    resumed=1
                fi ;;
        esac
        [ "$(date +%s)" -lt "$end" ] || return 1
        sleep 0.1
    done
}
sacct_has() { [ "$(sacct -n -X -P -j "$1" -o State 2>/dev/null | head -n1)" = COMPLETED ]; }
smoke() {              # returns 0 when the smoke job COMPLETED
    local id st end
    id=$(sbatch --parsable -J smoke -o /dev/null -e /dev/null --chdir=/tmp -t 1 --wrap true 2>"$D/smoke.err") ||
        { cat "$D/smoke.err" >&2; return 1; }
    id=${id%%;*}
    end=$(( $(date +%s) + SMOKE_TIMEOUT ))
    while :; do
        st=$({ squeue -h -t all -j "$id" -o %T 2>/dev/null || true; } | head -n1)
        case $st in
            COMPLETED)
                SMOKE_ID=$id
                # accounting lags squeue by ~0.1 s: READY also means sacct knows the job
                [ "$ACCOUNTING" = 1 ] || return 0
                wait_for 15 sacct sacct_has "$id" && return 0
                echo "slurm-start: smoke job $id COMPLETED but sacct does not show it after 15 s" >&2
                return 1 ;;
            FAILED|CANCELLED*|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|BOOT_FAIL|DEADLINE)
                echo "slurm-start: smoke job $id ended $st" >&2; return 1 ;;
        esac
        if [ "$(date +%s)" -ge "$end" ]; then
            echo "slurm-start: smoke job $id still '$st' after ${SMOKE_TIMEOUT} s" >&2
            scancel "$id" 2>/dev/null || true
            return 1
        fi
        sleep 0.1
    done
}
SMOKE_ID=""
check_up() { wait_node_idle || { echo "slurm-start: node $HOST is '$(node_state)', not idle, after ${NODE_TIMEOUT} s" >&2; return 1; }
             [ "$SMOKE" = 0 ] || smoke; }

start_slurm
if ! check_up; then
    if [ "$CGROUP" = auto ] && [ "$USE_CGROUP" = 1 ]; then
        echo "slurm-start: cgroup setup did not work, falling back to proctrack/linuxproc + task/none" >&2
        USE_CGROUP=0
        write_slurm_conf || true
        SLURM_CONF_CHANGED=1
        start_slurm
        check_up || { logtail /var/log/slurm/slurmctld.log; logtail /var/log/slurm/slurmd.log; die "SLURM did not come up"; }
    else
        logtail /var/log/slurm/slurmctld.log; logtail /var/log/slurm/slurmd.log
        die "SLURM did not come up"
    fi
fi

echo "SLURM READY in $(elapsed) s: cluster $CLUSTER, node $HOST ($NPROC cpus, ${REALMEM} MB), partitions debug* long," \
     "$([ "$USE_CGROUP" = 1 ] && echo cgroup-v1 || echo linuxproc), accounting $([ "$ACCOUNTING" = 1 ] && echo slurmdbd || echo none)${SMOKE_ID:+, smoke job $SMOKE_ID COMPLETED}"
