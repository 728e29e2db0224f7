#!/usr/bin/env bash
# Start a private OpenSSH server on 127.0.0.1:${BATCHDECK_SSHD_PORT:-2222} for the tests.
#
# Idempotent: installs openssh-server if missing, creates the test user `batchtest`, generates keys
# once (they are kept across restarts), (re)writes the configs and starts sshd unless it is already
# running with the same config.  Restarting after a kill takes well under a second.
# Quiet on success except the final READY line.  Writes $STATE/sshd/env (KEY=VALUE lines).
#
# Knobs: BATCHDECK_CLUSTER_STATE (/var/tmp/batchdeck-clusters), BATCHDECK_SSHD_PORT (2222),
#        SSHD_MAX_SESSIONS (10).
set -Eeuo pipefail
trap 'echo "sshd-start: ERROR: unexpected failure (exit $?) at line $LINENO: $BASH_COMMAND" >&2' ERR

T0=$(date +%s.%N)
STATE=${BATCHDECK_CLUSTER_STATE:-/var/tmp/batchdeck-clusters}
D=$STATE/sshd
PORT=${BATCHDECK_SSHD_PORT:-2222}
MAX_SESSIONS=${SSHD_MAX_SESSIONS:-10}
TEST_USER=batchtest

die() { echo "sshd-start: ERROR: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root"
[[ $PORT =~ ^[0-9]+$ ]] || die "BATCHDECK_SSHD_PORT must be a number, got '$PORT'"
case $STATE in *' '*) die "BATCHDECK_CLUSTER_STATE must not contain spaces" ;; esac

# ---- helpers -------------------------------------------------------------------------------
# alive PID: true if the process exists and is not a zombie (PID 1 here reaps orphans late,
# so a dead daemon can still pass `kill -0` for a few seconds).
alive() {
    local st
    [ -n "${1:-}" ] && [ -r "/proc/$1/stat" ] || return 1
    st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    st=${st##*) }
    [ "${st%% *}" != Z ]
}
# our_sshd PID: alive and really our listener (cmdline names our config file)
our_sshd() {
    alive "${1:-}" || return 1
    tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "-f $D/sshd_config"
}
need_pkgs() {   # install the packages that are not installed yet
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    export DEBIAN_FRONTEND=noninteractive
    if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
        apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null || die "apt-get update failed"
    fi
    if ! apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${missing[@]}" >"$D/apt.log" 2>&1; then
        apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null 2>&1 || true
        apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${missing[@]}" >"$D/apt.log" 2>&1 ||
            { tail -n 20 "$D/apt.log" >&2; die "apt-get install ${missing[*]} failed (log: $D/apt.log)"; }
    fi
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

mkdir -p "$D/authorized_keys"
chmod 755 "$STATE" "$D" 2>/dev/null || true

# ---- packages, user ------------------------------------------------------------------------
[ -x /usr/sbin/sshd ] && [ -x /usr/bin/ssh ] && [ -x /usr/lib/openssh/sftp-server ] ||
    need_pkgs openssh-server openssh-client openssh-sftp-server

if ! getent passwd "$TEST_USER" >/dev/null; then
    useradd -m -s /bin/bash "$TEST_USER" || die "useradd $TEST_USER failed"
fi
# With `UsePAM no` a password field starting with `!` counts as a locked account and sshd refuses
# even public-key logins; `*` means "no password" but not locked.
case "$(getent shadow "$TEST_USER" | cut -d: -f2)" in
    '*') ;;
    *) usermod -p '*' "$TEST_USER" ;;
esac
HOME_DIR=$(getent passwd "$TEST_USER" | cut -d: -f6)
if [ ! -d "$HOME_DIR" ]; then
    install -d -m 755 -o "$TEST_USER" -g "$(id -gn "$TEST_USER")" "$HOME_DIR"
fi
[ "$(stat -c %U "$HOME_DIR")" = "$TEST_USER" ] || chown "$TEST_USER:" "$HOME_DIR"

# ---- keys (generated once, kept across restarts) -------------------------------------------
genkey() { [ -s "$1" ] && [ -s "$1.pub" ] || { rm -f "$1" "$1.pub"; ssh-keygen -q -t ed25519 -N '' -C "$2" -f "$1"; }; }
genkey "$D/ssh_host_ed25519_key" "batchdeck-test-host"
genkey "$D/ssh_host_wrong_ed25519_key" "batchdeck-wrong-host"      # never used by the server
genkey "$D/id_ed25519" "batchdeck-test-client"
genkey "$D/wrong_key" "batchdeck-unauthorized-client"               # never authorized
chmod 600 "$D/ssh_host_ed25519_key" "$D/ssh_host_wrong_ed25519_key" "$D/id_ed25519" "$D/wrong_key"

# write_if_changed FILE: stdin -> FILE, only when the content differs; returns 0 if it changed
write_if_changed() {
    local tmp="$1.tmp.$$"
    cat >"$tmp"
    if [ -f "$1" ] && cmp -s "$tmp" "$1"; then rm -f "$tmp"; return 1; fi
    mv -f "$tmp" "$1"
}

for u in "$TEST_USER" root; do
    write_if_changed "$D/authorized_keys/$u" <"$D/id_ed25519.pub" || true
done
chmod 644 "$D/authorized_keys/"*

write_if_changed "$D/known_hosts" <<EOF || true
[127.0.0.1]:$PORT $(cut -d' ' -f1,2 "$D/ssh_host_ed25519_key.pub")
EOF
write_if_changed "$D/known_hosts.wrong" <<EOF || true
[127.0.0.1]:$PORT $(cut -d' ' -f1,2 "$D/ssh_host_wrong_ed25519_key.pub")
EOF

write_if_changed "$D/ssh_config" <<EOF || true
# generated by tests/clusters/sshd-start.sh
Host bd-test
    HostName 127.0.0.1
    Port $PORT
    User $TEST_USER
    IdentityFile $D/id_ed25519
    IdentitiesOnly yes
    UserKnownHostsFile $D/known_hosts
    StrictHostKeyChecking yes
    BatchMode yes
    ConnectTimeout 5

Host bd-root
    HostName 127.0.0.1
    Port $PORT
    User root
    IdentityFile $D/id_ed25519
    IdentitiesOnly yes
    UserKnownHostsFile $D/known_hosts
    StrictHostKeyChecking yes
    BatchMode yes
    ConnectTimeout 5
EOF

CONFIG_CHANGED=0
write_if_changed "$D/sshd_config" <<EOF && CONFIG_CHANGED=1
# generated by tests/clusters/sshd-start.sh — private test sshd, loopback only
Port $PORT
ListenAddress 127.0.0.1
HostKey $D/ssh_host_ed25519_key
PidFile $D/sshd.pid
AuthorizedKeysFile $D/authorized_keys/%u
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitEmptyPasswords no
UsePAM no
PermitRootLogin prohibit-password
AllowUsers $TEST_USER root
StrictModes no
MaxSessions $MAX_SESSIONS
MaxStartups 64:30:128
PrintMotd no
PrintLastLog no
X11Forwarding no
AllowTcpForwarding yes
LogLevel INFO
Subsystem sftp /usr/lib/openssh/sftp-server
EOF

mkdir -p /run/sshd
chmod 755 /run/sshd
/usr/sbin/sshd -t -f "$D/sshd_config" 2>"$D/sshd-t.err" || { cat "$D/sshd-t.err" >&2; die "sshd -t rejected $D/sshd_config"; }

# ---- env file -------------------------------------------------------------------------------
write_if_changed "$D/env" <<EOF || true
SSHD_PORT=$PORT
SSHD_HOST=127.0.0.1
SSHD_USER=$TEST_USER
SSHD_KEY=$D/id_ed25519
SSHD_WRONG_KEY=$D/wrong_key
SSHD_KNOWN_HOSTS=$D/known_hosts
SSHD_KNOWN_HOSTS_WRONG=$D/known_hosts.wrong
SSHD_CONFIG_CLIENT=$D/ssh_config
SSHD_ALIAS=bd-test
SSHD_ROOT_ALIAS=bd-root
SSHD_PIDFILE=$D/sshd.pid
SSHD_SERVER_CONFIG=$D/sshd_config
SSHD_LOG=$D/sshd.log
SSHD_HOST_KEY_PUB=$D/ssh_host_ed25519_key.pub
EOF

# ---- start ---------------------------------------------------------------------------------
PID=$(cat "$D/sshd.pid" 2>/dev/null || true)
if our_sshd "$PID" && [ $CONFIG_CHANGED = 1 ]; then
    kill -TERM "$PID" 2>/dev/null || true
    for _ in $(seq 50); do alive "$PID" || break; sleep 0.1; done
    alive "$PID" && kill -KILL "$PID" 2>/dev/null || true
fi
STARTED=0
if ! our_sshd "$PID"; then
    rm -f "$D/sshd.pid"
    /usr/sbin/sshd -f "$D/sshd_config" -E "$D/sshd.log" ||
        { tail -n 5 "$D/sshd.log" >&2 2>/dev/null; die "sshd failed to start (log: $D/sshd.log)"; }
    STARTED=1
fi

ok=0
for _ in $(seq 200); do          # up to ~10 s
    if ssh -F "$D/ssh_config" bd-test true 2>"$D/probe.err" </dev/null; then ok=1; break; fi
    sleep 0.05
done
if [ $ok != 1 ]; then
    cat "$D/probe.err" >&2 2>/dev/null || true
    tail -n 5 "$D/sshd.log" >&2 2>/dev/null || true
    PID=$(cat "$D/sshd.pid" 2>/dev/null || true)
    if ! our_sshd "$PID" && port_open; then
        die "port $PORT is taken by another process (not our sshd)"
    fi
    die "ssh -F $D/ssh_config bd-test true did not succeed within 10 s"
fi
PID=$(cat "$D/sshd.pid")
printf 'SSHD READY in %s s: 127.0.0.1:%s pid %s (%s), env %s\n' \
    "$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')" "$PORT" "$PID" \
    "$([ $STARTED = 1 ] && echo started || echo already running)" "$D/env"
