#!/usr/bin/env bash
# Start a throw-away single-node OpenStack Swift on 127.0.0.1 for the Swift
# integration stage (tests/swift). Each run gets a private state directory and
# free ports, so it runs beside anything else on the machine (another Swift, a
# service on 18080). Debian packages and the Swift venv are installed only when
# missing; the venv is kept as a cache (like .venv), nothing else outlives
# scripts/swift/stop.sh, and nothing is written outside the state directory.
# Object data lives on a loop-mounted XFS image when the machine allows it (Swift
# stores metadata in xattrs, and ext4 refuses the larger ones), else in a plain
# directory.
#
# Prints shell assignments on stdout (eval-able):
#   PITHOSFS_SWIFT_AUTH=http://127.0.0.1:PORT/auth/v1.0  PITHOSFS_SWIFT_USER  PITHOSFS_SWIFT_KEY
#   PITHOSFS_SWIFT_STORAGE_URL  PITHOSFS_SWIFT_TOKEN  PITHOSFS_SWIFT_MEMCACHED_PORT
#   PITHOSFS_SWIFT_DIR (the state directory: what stop.sh removes)
# Knobs (env): PITHOSFS_SWIFT_DIR (reuse or create that state directory instead of a
#   new one under $TMPDIR), PITHOSFS_SWIFT_PORT (proxy port; the backends then use the
#   next 3 ports, memcached the 4th; default: free ports), PITHOSFS_SWIFT_VENV (default
#   ~/.cache/pithosfs/swift-venv), PITHOSFS_SWIFT_STORAGE=xfs|dir, PITHOSFS_SWIFT_IMG_SIZE (4G).
# On failure it stops what it started, removes the state and names the copy of the
# logs it keeps. Stop with scripts/swift/stop.sh (by PID files only).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
STATE=${PITHOSFS_SWIFT_DIR:-}
STORAGE=${PITHOSFS_SWIFT_STORAGE:-xfs}
IMG_SIZE=${PITHOSFS_SWIFT_IMG_SIZE:-4G}
ADDR=127.0.0.1
VENV=${PITHOSFS_SWIFT_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/pithosfs/swift-venv}
SERVICES="memcached account container object proxy container-updater"
PORT_TRIES=3

say() { echo "swift-start: $*" >&2; }
die() { say "ERROR: $*"; exit 1; }

install_packages() {
    local need=() pkg
    for pkg in memcached xfsprogs liberasurecode-dev libxml2-dev libxslt1-dev curl python3-venv; do
        dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
    done
    [ ${#need[@]} -eq 0 ] && return 0
    say "installing Debian packages: ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >&2 \
        || { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
             --no-install-recommends "${need[@]}" >&2; } || die "apt-get install ${need[*]} failed"
}

install_swift() {
    [ -x "$VENV/bin/swift-proxy-server" ] && return 0
    say "installing OpenStack Swift from PyPI into $VENV (kept for the next runs)"
    mkdir -p "$(dirname "$VENV")"
    python3 -m venv "$VENV" || die "cannot create $VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check swift >&2 || die "pip install swift failed"
}

paths() {  # the state directory's layout
    CONF=$STATE/conf PIDS=$STATE/pids LOGS=$STATE/logs DEVICES=$STATE/devices
}

pick_ports() {  # PORT (proxy), backends, memcached: given, or free now
    local ports
    if [ -n "${PITHOSFS_SWIFT_PORT:-}" ]; then
        ports="$PITHOSFS_SWIFT_PORT $((PITHOSFS_SWIFT_PORT + 1)) $((PITHOSFS_SWIFT_PORT + 2)) $((PITHOSFS_SWIFT_PORT + 3)) $((PITHOSFS_SWIFT_PORT + 4))"
    else
        ports=$(python3 -c 'import socket
socks = [socket.socket() for _ in range(5)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))')
    fi
    read -r PORT object_port container_port account_port MEMCACHED_PORT <<<"$ports"
    declare -gA BACKEND_PORT=([account]=$account_port [container]=$container_port [object]=$object_port)
}

running() { [ -s "$PIDS/$1.pid" ] && kill -0 "$(cat "$PIDS/$1.pid")" 2>/dev/null; }

prepare_storage() {
    mkdir -p "$DEVICES/d1"
    mountpoint -q "$DEVICES/d1" && return 0
    if [ "$STORAGE" = xfs ]; then
        [ -f "$STATE/xfs.img" ] || { truncate -s "$IMG_SIZE" "$STATE/xfs.img" && mkfs.xfs -q "$STATE/xfs.img"; } \
            || { say "no XFS image (mkfs failed); using a plain directory"; return 0; }
        mount -o loop,noatime "$STATE/xfs.img" "$DEVICES/d1" 2>/dev/null \
            || say "loop mount not allowed here; using a plain directory (large metadata may fail)"
    fi
}

write_configs() {
    mkdir -p "$CONF" "$PIDS" "$LOGS" "$STATE/recon"
    printf '[swift-hash]\nswift_hash_path_suffix = pithosfs-ci\nswift_hash_path_prefix = pithosfs\n\n[storage-policy:0]\nname = gold\ndefault = yes\n' \
        > "$CONF/swift.conf"
    local kind
    for kind in account container object; do
        cat > "$CONF/$kind-server.conf" <<CONF
[DEFAULT]
bind_ip = $ADDR
bind_port = ${BACKEND_PORT[$kind]}
workers = 0
user = $(id -un)
swift_dir = $CONF
devices = $DEVICES
mount_check = false
disable_fallocate = true
log_udp_host = 127.0.0.1
log_udp_port = 9

[pipeline:main]
pipeline = $kind-server

[app:$kind-server]
use = egg:swift#$kind

[$kind-updater]
interval = 2
recon_cache_path = $STATE/recon
CONF
    done
    cat > "$CONF/proxy-server.conf" <<CONF
[DEFAULT]
bind_ip = $ADDR
bind_port = $PORT
workers = 0
user = $(id -un)
swift_dir = $CONF
log_udp_host = 127.0.0.1
log_udp_port = 9

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck cache listing_formats bulk tempauth copy slo dlo versioned_writes symlink proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true

[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = testing .admin
user_test2_tester2 = testing2 .admin

[filter:cache]
use = egg:swift#memcache
memcache_servers = $ADDR:$MEMCACHED_PORT

[filter:versioned_writes]
use = egg:swift#versioned_writes
allow_versioned_writes = true
allow_object_versioning = true

[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:bulk]
use = egg:swift#bulk
[filter:copy]
use = egg:swift#copy
[filter:slo]
use = egg:swift#slo
[filter:dlo]
use = egg:swift#dlo
[filter:symlink]
use = egg:swift#symlink
CONF
}

build_rings() {  # again for each set of ports: the rings name the backends' ports
    local kind
    for kind in account container object; do
        rm -f "$CONF/$kind.builder" "$CONF/$kind.ring.gz"
        "$VENV/bin/swift-ring-builder" "$CONF/$kind.builder" create 8 1 1 >/dev/null
        "$VENV/bin/swift-ring-builder" "$CONF/$kind.builder" add \
            "r1z1-$ADDR:${BACKEND_PORT[$kind]}/d1" 1 >/dev/null
        "$VENV/bin/swift-ring-builder" "$CONF/$kind.builder" rebalance >/dev/null || true
    done
}

launch() {  # name command...
    local name=$1; shift
    setsid "$@" >"$LOGS/$name.log" 2>&1 </dev/null &
    echo $! > "$PIDS/$name.pid"
}

start_services() {
    launch memcached memcached -l "$ADDR" -p "$MEMCACHED_PORT" -U 0 -m 32 -u "$(id -un)"
    local kind
    for kind in account container object proxy; do
        launch "$kind" "$VENV/bin/swift-$kind-server" "$CONF/$kind-server.conf" -v
    done
    # Swift's daemons (unlike its servers) read swift.conf from /etc/swift whatever
    # swift_dir says; pointing them at ours leaves /etc alone.
    launch container-updater "$VENV/bin/python" -c 'import sys
from swift.common.utils import set_swift_dir
set_swift_dir(sys.argv.pop(1))
from swift.common.storage_policy import reload_storage_policies
reload_storage_policies()
from swift.container.updater import main
sys.exit(main())' "$CONF" "$CONF/container-server.conf" -v
}

wait_healthy() {  # 0 once the proxy answers; 2 if a port was taken meanwhile; 1 otherwise
    local i
    for i in $(seq 1 120); do
        curl -sf "http://$ADDR:$PORT/healthcheck" >/dev/null 2>&1 && \
            curl -sf -o /dev/null -H 'X-Auth-User: test:tester' -H 'X-Auth-Key: testing' \
                "http://$ADDR:$PORT/auth/v1.0" && return 0
        grep -qs "Address already in use" "$LOGS"/*.log && return 2
        sleep 0.5
    done
    return 1
}

fail_keeping_logs() {  # stop what was started, keep a copy of the logs, remove the state
    local kept
    kept=$(mktemp -d "${TMPDIR:-/tmp}/pithosfs-swift-logs.XXXXXX")
    cp -r "$LOGS"/. "$kept"/ 2>/dev/null || true
    tail -n 30 "$kept"/*.log >&2 2>/dev/null || true
    PITHOSFS_SWIFT_DIR=$STATE bash "$HERE/stop.sh" >&2 || true
    die "$* (the logs above are kept in $kept)"
}

print_credentials() {
    local headers url token
    headers=$(curl -sf -D - -o /dev/null -H 'X-Auth-User: test:tester' -H 'X-Auth-Key: testing' \
        "http://$ADDR:$PORT/auth/v1.0" | tr -d '\r')
    url=$(awk -F': ' 'tolower($1)=="x-storage-url" {print $2}' <<<"$headers")
    token=$(awk -F': ' 'tolower($1)=="x-auth-token" {print $2}' <<<"$headers")
    [ -n "$token" ] || fail_keeping_logs "tempauth gave no token"
    cat <<OUT
PITHOSFS_SWIFT_DIR=$STATE
PITHOSFS_SWIFT_AUTH=http://$ADDR:$PORT/auth/v1.0
PITHOSFS_SWIFT_USER=test:tester
PITHOSFS_SWIFT_KEY=testing
PITHOSFS_SWIFT_STORAGE_URL=$url
PITHOSFS_SWIFT_TOKEN=$token
PITHOSFS_SWIFT_MEMCACHED_PORT=$MEMCACHED_PORT
OUT
}

reuse_running() {  # a given state directory whose services all run: print its credentials
    local s
    [ -n "$STATE" ] && [ -f "$STATE/ports" ] || return 1
    paths
    for s in $SERVICES; do running "$s" || return 1; done
    read -r PORT MEMCACHED_PORT <"$STATE/ports"
    print_credentials
}

CREATED=""
cleanup_on_failure() {  # a start that died early leaves no state directory behind
    local status=$1
    if [ "$status" != 0 ] && [ -n "$CREATED" ] && [ -d "$STATE" ]; then
        PITHOSFS_SWIFT_DIR=$STATE bash "$HERE/stop.sh" >&2 || true
    fi
}

main() {
    reuse_running && return 0
    if [ -n "$STATE" ]; then
        mkdir -p "$STATE"
        PITHOSFS_SWIFT_DIR=$STATE bash "$HERE/stop.sh" --keep-storage >&2 || true
    else
        STATE=$(mktemp -d "${TMPDIR:-/tmp}/pithosfs-swift.XXXXXX")
        CREATED=1
        trap 'cleanup_on_failure $?' EXIT
    fi
    paths
    install_packages
    install_swift
    prepare_storage
    local try result
    for try in $(seq 1 $PORT_TRIES); do
        pick_ports
        write_configs
        build_rings
        start_services
        result=0
        wait_healthy || result=$?
        [ $result = 0 ] && break
        [ $result = 2 ] && [ "$try" -lt $PORT_TRIES ] && [ -z "${PITHOSFS_SWIFT_PORT:-}" ] || \
            fail_keeping_logs "Swift did not answer on port $PORT within 60 s"
        say "a port was taken while Swift started: again with other ports"
        PITHOSFS_SWIFT_DIR=$STATE bash "$HERE/stop.sh" --keep-storage >&2 || true
        rm -f "$LOGS"/*.log
    done
    echo "$PORT $MEMCACHED_PORT" >"$STATE/ports"
    print_credentials
}

main "$@"
