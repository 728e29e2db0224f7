#!/usr/bin/env bash
# Provide headless Chromium and chromedriver for the browser tests (`batchdeck serve`).
#
# Idempotent: installs Debian's chromium and chromium-driver if missing, checks that both report a
# version, then loads a page in headless Chromium with the flags the tests use (root needs
# --no-sandbox; with no network, Chromium's background connections must be switched off).
# Nothing keeps running: the tests start their own browser.  Quiet on success except the READY line.
#
# Knobs: BATCHDECK_CLUSTER_STATE (/var/tmp/batchdeck-clusters).
set -Eeuo pipefail
trap 'echo "browser-start: ERROR: unexpected failure (exit $?) at line $LINENO: $BASH_COMMAND" >&2' ERR

T0=$(date +%s.%N)
STATE=${BATCHDECK_CLUSTER_STATE:-/var/tmp/batchdeck-clusters}
D=$STATE/browser

PROG=browser-start
# shellcheck source=tests/clusters/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[ "$(id -u)" = 0 ] || die "must run as root"
mkdir -p "$D"

need_pkgs chromium chromium-driver

# Debian's /usr/bin/chromium wrapper prints a harmless shell warning on stderr: keep stdout only
chromium_version=$(chromium --version 2>/dev/null) || die "chromium --version failed"
driver_version=$(chromedriver --version 2>/dev/null) || die "chromedriver --version failed"
[[ $chromium_version == Chromium\ * ]] || die "chromium --version printed '$chromium_version'"
[[ $driver_version == ChromeDriver\ * ]] || die "chromedriver --version printed '$driver_version'"
# the two must be the same major version or chromedriver refuses the browser
c_major=${chromium_version#Chromium }; c_major=${c_major%%.*}
d_major=${driver_version#ChromeDriver }; d_major=${d_major%%.*}
[ "$c_major" = "$d_major" ] || die "chromium $c_major and chromedriver $d_major differ (upgrade both)"

profile=$(mktemp -d "$D/profile.XXXXXX")
trap 'rm -rf "$profile"' EXIT
if ! dom=$(timeout 60 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$profile" --dump-dom 'data:text/html,<p id=x>batchdeck-browser-smoke</p>' \
        2>"$D/smoke.log"); then
    tail -n 20 "$D/smoke.log" >&2
    die "headless chromium could not load a page (log: $D/smoke.log)"
fi
[[ $dom == *batchdeck-browser-smoke* ]] || die "headless chromium loaded no page (log: $D/smoke.log)"

echo "browser READY: ${chromium_version%% built*}, ${driver_version%% (*} ($(elapsed) s)"
