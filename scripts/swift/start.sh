#!/usr/bin/env bash
# Start a throw-away single-node OpenStack Swift on 127.0.0.1 for the Swift
# integration stage (tests/swift). Idempotent: Debian packages and the Swift venv
# are installed only when missing; configs are rewritten each time; rings are
# built once (one device, one replica). Object data lives on a loop-mounted XFS
# image when the machine allows it (Swift stores metadata in xattrs, and ext4
# refuses the larger ones), else in a plain directory.
#
# Prints shell assignments on stdout (eval-able):
#   PITHOSFS_SWIFT_AUTH=http://127.0.0.1:PORT/auth/v1.0  PITHOSFS_SWIFT_USER  PITHOSFS_SWIFT_KEY
#   PITHOSFS_SWIFT_STORAGE_URL  PITHOSFS_SWIFT_TOKEN
# Knobs (env): PITHOSFS_SWIFT_DIR (state, default /var/tmp/pithosfs-swift),
#   PITHOSFS_SWIFT_PORT (proxy, default 18080; the backends use the next 3 ports,
#   memcached the 4th), PITHOSFS_SWIFT_STORAGE=xfs|dir, PITHOSFS_SWIFT_IMG_SIZE (4G).
# Stop with scripts/swift/stop.sh (by PID files only).
set -euo pipefail

STATE=${PITHOSFS_SWIFT_DIR:-/var/tmp/pithosfs-swift}
PORT=${PITHOSFS_SWIFT_PORT:-18080}
STORAGE=${PITHOSFS_SWIFT_STORAGE:-xfs}
IMG_SIZE=${PITHOSFS_SWIFT_IMG_SIZE:-4G}
ADDR=127.0.0.1
VENV=$STATE/venv
CONF=$STATE/conf
PIDS=$STATE/pids
LOGS=$STATE/logs
DEVICES=$STATE/devices
declare -A BACKEND_PORT=([account]=$((PORT + 3)) [container]=$((PORT + 2)) [object]=$((PORT + 1)))
MEMCACHED_PORT=$((PORT + 4))
SERVICES="memcached account container object proxy container-updater"

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
    say "installing OpenStack Swift from PyPI into $VENV"
    python3 -m venv "$VENV" || die "cannot create $VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check swift >&2 || die "pip install swift failed"
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
    # The container updater looks for swift.conf in /etc/swift regardless of swift_dir.
    mkdir -p /etc/swift
    [ -e /etc/swift/swift.conf ] || cp "$CONF/swift.conf" /etc/swift/swift.conf
}

build_rings() {
    local kind
    for kind in account container object; do
        [ -f "$CONF/$kind.ring.gz" ] && continue
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
    launch container-updater "$VENV/bin/swift-container-updater" "$CONF/container-server.conf" -v
}

wait_healthy() {
    local i
    for i in $(seq 1 120); do
        curl -sf "http://$ADDR:$PORT/healthcheck" >/dev/null 2>&1 && \
            curl -sf -o /dev/null -H 'X-Auth-User: test:tester' -H 'X-Auth-Key: testing' \
                "http://$ADDR:$PORT/auth/v1.0" && return 0
        sleep 0.5
    done
    tail -n 30 "$LOGS"/*.log >&2
    die "Swift did not answer on port $PORT within 60 s (logs above, in $LOGS)"
}

print_credentials() {
    local headers url token
    headers=$(curl -sf -D - -o /dev/null -H 'X-Auth-User: test:tester' -H 'X-Auth-Key: testing' \
        "http://$ADDR:$PORT/auth/v1.0" | tr -d '\r')
    url=$(awk -F': ' 'tolower($1)=="x-storage-url" {print $2}' <<<"$headers")
    token=$(awk -F': ' 'tolower($1)=="x-auth-token" {print $2}' <<<"$headers")
    [ -n "$token" ] || die "tempauth gave no token"
    cat <<OUT
PITHOSFS_SWIFT_AUTH=http://$ADDR:$PORT/auth/v1.0
PITHOSFS_SWIFT_USER=test:tester
PITHOSFS_SWIFT_KEY=testing
PITHOSFS_SWIFT_STORAGE_URL=$url
PITHOSFS_SWIFT_TOKEN=$token
OUT
}

main() {
    mkdir -p "$STATE"
    local all=1 s
    for s in $SERVICES; do running "$s" || all=0; done
    if [ $all = 0 ]; then
        bash "$(dirname "$0")/stop.sh" --keep-storage >&2 || true
        install_packages
        install_swift
        prepare_storage
        write_configs
        build_rings
        start_services
    fi
    wait_healthy
    print_credentials
}

main "$@"
