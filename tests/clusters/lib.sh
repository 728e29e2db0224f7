# Helpers the test-cluster scripts share; sourced, not run.
# The caller sets PROG (its name, for messages), and before calling need_pkgs, D (its
# state directory, for the apt log) and, before calling elapsed, T0 (its start time).

# A daemon started here inherits every descriptor its caller holds open and outlives it:
# a test run's `flock LOCK make test` left munged, mariadbd and slurmdbd holding the lock
# for good, so every later run waited forever. Only stdin/out/err (and bash's own 255,
# the script being read) are kept.
for _fd in /proc/$$/fd/*; do
    _fd=${_fd##*/}
    case $_fd in 0 | 1 | 2 | 255) ;; *) eval "exec $_fd>&-" 2>/dev/null || true ;; esac
done
unset _fd

die() { echo "$PROG: ERROR: $*" >&2; exit 1; }

elapsed() { awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}'; }

alive() {   # alive PID [COMM]: exists, not a zombie (PID 1 reaps orphans late), comm matches
    local st
    [ -n "${1:-}" ] && [ -r "/proc/$1/stat" ] || return 1
    st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    if [ -n "${2:-}" ]; then
        local comm=${st#*(}; comm=${comm%)*}
        [ "$comm" = "$2" ] || return 1
    fi
    st=${st##*) }
    [ "${st%% *}" != Z ]
}

pid_of() { cat "$1" 2>/dev/null | tr -dc '0-9' || true; }   # pid_of PIDFILE

need_pkgs() {   # install the Debian packages that are not installed yet
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    export DEBIAN_FRONTEND=noninteractive
    local apt=(apt-get -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confold)
    if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
        "${apt[@]}" update -qq >/dev/null 2>&1 || die "apt-get update failed"
    fi
    if ! "${apt[@]}" install -y -qq --no-install-recommends "${missing[@]}" >"$D/apt.log" 2>&1; then
        "${apt[@]}" update -qq >/dev/null 2>&1 || true
        "${apt[@]}" install -y -qq --no-install-recommends "${missing[@]}" >"$D/apt.log" 2>&1 ||
            { tail -n 20 "$D/apt.log" >&2; die "apt-get install ${missing[*]} failed (log: $D/apt.log)"; }
    fi
}

write_if_changed() {   # stdin -> FILE only when different; returns 0 when it changed
    local tmp="$1.tmp.$$"
    cat >"$tmp"
    if [ -f "$1" ] && cmp -s "$tmp" "$1"; then rm -f "$tmp"; return 1; fi
    mv -f "$tmp" "$1"
}
