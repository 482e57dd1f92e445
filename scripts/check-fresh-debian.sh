#!/usr/bin/env bash
# Prove the README's prerequisites on a fresh Debian 12: build a minbase chroot with
# debootstrap, install only the packages the README lists, put farmtel in it, run `make test`
# and `make run` there (the demo must answer /health and report every simulated device online,
# then stop cleanly on SIGTERM). Slow (tens of minutes), so not part of CI. Needs root.
#
#   sudo scripts/check-fresh-debian.sh [--keep] [--working-tree] [DIR]
#
#   DIR             where to build the chroot (default: a new folder under /var/tmp)
#   --keep          keep the chroot afterwards (its mounts are removed in any case)
#   --working-tree  copy the working tree with uncommitted changes (default: a clone of HEAD,
#                   as a fresh clone would be)
#
# The host's own configuration is reused so that the check works wherever the host can install
# packages: the Debian mirror of its apt sources (bookworm, -updates, -security), its DNS
# resolver, its proxy variables and its pip configuration (PIP_* variables, /etc/pip.conf,
# /etc/xdg/pip, ~/.config/pip, ~/.pip, with any local folders they name bind-mounted read-only
# and files they name copied). Services are kept from starting inside the chroot
# (policy-rc.d): the tests start their own servers on free loopback ports.
# Logs and a summary go to LOG_DIR (default: a new folder under /var/tmp); exit status 0 only
# if both `make test` and `make run` passed.
set -euo pipefail

SUITE=bookworm
KEEP=0
WORKING_TREE=0
DIR=""
for arg in "$@"; do
    case "$arg" in
        --keep) KEEP=1 ;;
        --working-tree) WORKING_TREE=1 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        -*) echo "unknown option $arg" >&2; exit 2 ;;
        *) DIR=$arg ;;
    esac
done
[ "$(id -u)" = 0 ] || { echo "run as root (debootstrap, chroot and mount need it)" >&2; exit 2; }
for tool in debootstrap chroot mount git; do
    command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install $tool)" >&2; exit 2; }
done
REPO=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
PREREQUISITES=$(sed -n 's/^sudo apt-get install \([^#]*\).*/\1/p' "$REPO/README.md" | head -n 1)
[ -n "$PREREQUISITES" ] || { echo "no 'sudo apt-get install ...' line in README.md" >&2; exit 2; }

# "URI SUITE COMPONENTS..." for each active deb source of the host (one-line and deb822 files).
host_sources() {
    local f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        awk '$1 == "deb" {
                i = 2
                if ($i ~ /^\[/) { while (i < NF && $i !~ /\]$/) i++; i++ }
                line = $i " " $(i + 1)
                for (j = i + 2; j <= NF && $j !~ /^#/; j++) line = line " " $j
                print line
             }' "$f"
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk 'function flush(   n, m, a, b, u, s) {
                if (types ~ /(^| )deb( |$)/ && tolower(enabled) != "no") {
                    n = split(uris, u, " "); m = split(suites, s, " ")
                    for (a = 1; a <= n; a++) for (b = 1; b <= m; b++) print u[a], s[b], comps
                }
                types = uris = suites = comps = enabled = ""
             }
             /^[ \t]*#/ || /^[ \t]+[^ \t]/ { next }
             /^[ \t]*$/ { flush(); next }
             { key = tolower($1); $1 = ""; sub(/^ +/, "") }
             key == "types:" { types = $0 } key == "uris:" { uris = $0 }
             key == "suites:" { suites = $0 } key == "components:" { comps = $0 }
             key == "enabled:" { enabled = $0 }
             END { flush() }' "$f"
    done
}
SOURCES=$(host_sources | awk -v suite="$SUITE" '$2 ~ "^" suite "(-updates|-security)?$"' | sort -u)
MIRROR=${MIRROR:-$(awk -v suite="$SUITE" '$2 == suite { print $1; exit }' <<<"$SOURCES")}
[ -n "$MIRROR" ] || { echo "no Debian $SUITE source in the host's apt sources; set MIRROR=<url>" >&2; exit 2; }

DIR=${DIR:-$(mktemp -d /var/tmp/farmtel-fresh-debian.XXXXXX)}
mkdir -p "$DIR"
DIR=$(realpath "$DIR")
[ -z "$(ls -A "$DIR")" ] || { echo "$DIR is not empty" >&2; exit 2; }
# The root of a system is 755; mktemp -d makes 700, and then every process that drops root
# (exim4-config's postinst check as Debian-exim, PostgreSQL's initdb as its own user) finds
# nothing: "user mail was not found", dpkg error, `make test` stops installing its servers.
chmod 755 "$DIR"
LOG_DIR=${LOG_DIR:-$(mktemp -d /var/tmp/farmtel-fresh-debian-logs.XXXXXX)}
mkdir -p "$LOG_DIR"
SUMMARY=$LOG_DIR/summary.txt
MOUNTS=()

note() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$SUMMARY"; }

in_chroot() {  # in_chroot [VAR=value...] command...: a clean environment, as a fresh login has
    chroot "$DIR" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb DEBIAN_FRONTEND=noninteractive \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "${HOST_ENV[@]}" "$@"
}

pids_in_chroot() {
    local p
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/root" 2>/dev/null)" = "$DIR" ] && echo "${p#/proc/}"
    done
    return 0
}

cleanup() {
    local status=$? pids i
    # apt's own log of what dpkg printed (make test installs the servers with -qq >/dev/null)
    [ ! -f "$DIR/var/log/apt/term.log" ] || cp "$DIR/var/log/apt/term.log" "$LOG_DIR/apt-term.log"
    pids=$(pids_in_chroot)
    if [ -n "$pids" ]; then
        note "stopping processes left in the chroot: $(echo $pids)"
        kill -TERM $pids 2>/dev/null || true
        sleep 3
        pids=$(pids_in_chroot)
        [ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
        sleep 1
    fi
    for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
        umount "${MOUNTS[i]}" 2>/dev/null || umount -l "${MOUNTS[i]}" || true
    done
    if grep -q " $DIR[/ ]" /proc/self/mounts; then
        echo "mounts left under $DIR; not removing it:" >&2
        grep " $DIR[/ ]" /proc/self/mounts >&2
    elif [ "$KEEP" = 1 ]; then
        echo "chroot kept in $DIR"
    else
        rm -rf --one-file-system "$DIR"
    fi
    echo "logs in $LOG_DIR"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

bind() {  # bind SOURCE TARGET [ro]
    mkdir -p "$2"
    mount --bind "$1" "$2"
    MOUNTS+=("$2")
    [ "${3:-}" != ro ] || mount -o remount,bind,ro "$2" || note "could not make $2 read-only"
}

note "chroot $DIR; mirror $MIRROR; logs $LOG_DIR"
SECONDS=0
debootstrap --variant=minbase "$SUITE" "$DIR" "$MIRROR" >"$LOG_DIR/debootstrap.log" 2>&1 \
    || { note "debootstrap failed (see debootstrap.log)"; exit 1; }
note "debootstrap --variant=minbase $SUITE: ${SECONDS} s"

awk '{ print "deb " $0 }' <<<"$SOURCES" >"$DIR/etc/apt/sources.list"
cat /etc/resolv.conf >"$DIR/etc/resolv.conf"
# What Debian's installer writes (no package owns /etc/hosts; debootstrap leaves none).
printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >"$DIR/etc/hosts"
printf '#!/bin/sh\nexit 101\n' >"$DIR/usr/sbin/policy-rc.d"
chmod 755 "$DIR/usr/sbin/policy-rc.d"
mount -t proc proc "$DIR/proc" && MOUNTS+=("$DIR/proc")
mount -t sysfs sysfs "$DIR/sys" && MOUNTS+=("$DIR/sys")
bind /dev "$DIR/dev"
bind /dev/pts "$DIR/dev/pts"
mount -t tmpfs -o mode=1777 shm "$DIR/dev/shm" && MOUNTS+=("$DIR/dev/shm")

HOST_ENV=()
for name in $(compgen -e); do
    case "$name" in
        PIP_*|http_proxy|https_proxy|no_proxy|HTTP_PROXY|HTTPS_PROXY|NO_PROXY) HOST_ENV+=("$name=${!name}") ;;
    esac
done

if [ "$WORKING_TREE" = 1 ]; then
    mkdir -p "$DIR/root/farmtel"
    (cd "$REPO" && git ls-files -z --cached --others --exclude-standard \
        | xargs -0 -I{} sh -c '[ -e "$1" ] && printf "%s\0" "$1"' _ {} \
        | tar --null -T - -cf -) | tar -C "$DIR/root/farmtel" -xf -
    cp -a "$REPO/.git" "$DIR/root/farmtel/.git"
    note "farmtel: working tree of $REPO ($(git -C "$REPO" rev-parse --short HEAD) + uncommitted changes)"
else
    git clone --quiet --no-hardlinks "$REPO" "$DIR/root/farmtel"
    note "farmtel: clone of $REPO at $(git -C "$DIR/root/farmtel" rev-parse --short HEAD)"
fi

# Without python3-venv, `make` must fail with a hint and leave no half-made .venv behind.
SECONDS=0
in_chroot apt-get update -qq >>"$LOG_DIR/prerequisites.log" 2>&1 &&
    in_chroot apt-get install -y -qq python3 make >>"$LOG_DIR/prerequisites.log" 2>&1 \
    || { note "installing python3 make failed (see prerequisites.log)"; exit 1; }
venv_status=0
in_chroot make -C /root/farmtel run >"$LOG_DIR/make-without-venv.log" 2>&1 || venv_status=$?
if [ "$venv_status" != 0 ] && [ ! -e "$DIR/root/farmtel/.venv" ] \
        && grep -q "install python3-venv" "$LOG_DIR/make-without-venv.log"; then
    note "without python3-venv: make fails with the hint and leaves no .venv (${SECONDS} s)"
else
    note "without python3-venv: make exit $venv_status, .venv $( [ -e "$DIR/root/farmtel/.venv" ] && echo left behind || echo absent) (see make-without-venv.log)"
    exit 1
fi

SECONDS=0
in_chroot apt-get update -qq >>"$LOG_DIR/prerequisites.log" 2>&1 &&
    in_chroot apt-get install -y -qq $PREREQUISITES >>"$LOG_DIR/prerequisites.log" 2>&1 \
    || { note "installing the prerequisites failed (see prerequisites.log)"; exit 1; }
note "apt-get install $PREREQUISITES: ${SECONDS} s"

# The host's pip configuration, and the local folders and files it names (after the
# prerequisites: their ca-certificates would overwrite a copied certificate bundle).
pip_configs=()
copy_config() {  # copy_config HOST_FILE CHROOT_PATH
    [ -f "$1" ] || return 0
    pip_configs+=("$1")
    mkdir -p "$DIR$(dirname "$2")"
    cp -L "$1" "$DIR$2"
}
copy_config /etc/pip.conf /etc/pip.conf
for f in /etc/xdg/pip/*; do copy_config "$f" "$f"; done
copy_config "$HOME/.config/pip/pip.conf" /root/.config/pip/pip.conf
copy_config "$HOME/.pip/pip.conf" /root/.pip/pip.conf
[ -z "${PIP_CONFIG_FILE:-}" ] || copy_config "$PIP_CONFIG_FILE" "$PIP_CONFIG_FILE"
for path in $( { cat "${pip_configs[@]}" /dev/null | grep -v '^[[:space:]]*[#;]';
                 printf '%s\n' "${HOST_ENV[@]}"; } | grep -oE '(file://)?/[^[:space:]"'\'',;]+' | sed 's|^file://||' | sort -u); do
    path=${path%/}
    [ -e "$path" ] && [ -n "$path" ] || continue
    if [ -d "$path" ]; then
        # The topmost folder a fresh system lacks: an index's pages link to files beside it.
        while [ "$(dirname "$path")" != / ] && [ ! -e "$DIR$(dirname "$path")" ]; do
            path=$(dirname "$path")
        done
        [ -e "$DIR$path" ] || bind "$path" "$DIR$path" ro
    else
        mkdir -p "$DIR$(dirname "$path")"
        cp -L "$path" "$DIR$path"
    fi
done

SECONDS=0
test_status=0
# In the background and waited for, so that a signal to this script is handled at once.
in_chroot make -C /root/farmtel test >"$LOG_DIR/make-test.log" 2>&1 &
wait $! || test_status=$?
note "make test: exit $test_status in ${SECONDS} s; $(grep -E '^(=+ )?[0-9]+ (passed|failed)|^=+ .*(passed|failed|error).* =+$' "$LOG_DIR/make-test.log" | tail -n 1)"

free_port() {
    in_chroot python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
farmtel_up_pid() {  # the `farmtel up` process `make run` started in the chroot
    local p
    for p in $(pids_in_chroot); do
        { tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null | grep -q 'bin/farmtel up' && echo "$p"
    done
    return 0
}
SECONDS=0
run_status=0
api_port=$(free_port)
mqtt_port=$(free_port)
token=ft_check_$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
in_chroot FARMTEL_API_PORT="$api_port" FARMTEL_MQTT_PORT="$mqtt_port" FARMTEL_ADMIN_TOKEN="$token" \
    make -C /root/farmtel run >"$LOG_DIR/make-run.log" 2>&1 &
make_pid=$!  # a subshell running chroot -> env -> make; `wait` gives make's exit status
# The demo answers /health, then reports every simulated device online (make installs the
# venv first if `make test` did not).
in_chroot python3 - "$api_port" "$token" >"$LOG_DIR/make-run-check.log" 2>&1 <<'PY' || run_status=$?
import json
import sys
import time
import urllib.request

port, token = sys.argv[1], sys.argv[2]
base, started, deadline = f"http://127.0.0.1:{port}/api/v1", time.monotonic(), time.monotonic() + 900
online = total = 0
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(f"{base}/health", timeout=5) as answer:
            if answer.status == 200:
                break
    except OSError:
        pass
    time.sleep(1)
else:
    sys.exit("/health did not answer 200 in 900 s")
print(f"/health 200 after {time.monotonic() - started:.0f} s", flush=True)
healthy = time.monotonic()
request = urllib.request.Request(f"{base}/devices", headers={"Authorization": f"Bearer {token}"})
while time.monotonic() < healthy + 180:
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            devices = json.load(answer)
    except OSError as exc:
        print(f"GET /devices: {exc}", flush=True)
        devices = []
    total, online = len(devices), sum(d["online"] for d in devices)
    if total and online == total:
        print(f"{online}/{total} devices online {time.monotonic() - healthy:.0f} s after /health")
        sys.exit(0)
    time.sleep(2)
sys.exit(f"only {online}/{total} devices online 180 s after /health")
PY
note "make run: $(tail -n 1 "$LOG_DIR/make-run-check.log")"
farmtel_pid=$(farmtel_up_pid | head -n 1)
if [ -n "$farmtel_pid" ]; then
    kill -TERM "$farmtel_pid"
else
    note "make run: no \`farmtel up\` process (see make-run.log)"
    run_status=1
    kill -TERM $(pids_in_chroot) 2>/dev/null || true
fi
stop_status=0
for _ in $(seq 60); do
    kill -0 "$make_pid" 2>/dev/null || break
    sleep 1
done
if kill -0 "$make_pid" 2>/dev/null; then
    note "make run: farmtel up did not stop within 60 s of SIGTERM"
    run_status=1
else
    wait "$make_pid" || stop_status=$?
    if [ "$stop_status" != 0 ] || ! grep -q 'farmtel up: stopped$' "$LOG_DIR/make-run.log" \
        || grep -q Traceback "$LOG_DIR/make-run.log"; then
        note "make run: SIGTERM did not stop it cleanly (exit $stop_status; see make-run.log)"
        run_status=1
    else
        note "make run: clean stop on SIGTERM ($(grep -o 'ingest drained; .*' "$LOG_DIR/make-run.log"))"
    fi
fi
note "make run check: exit $run_status in ${SECONDS} s"
[ "$test_status" = 0 ] && [ "$run_status" = 0 ]
