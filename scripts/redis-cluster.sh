#!/usr/bin/env bash
# A throwaway 3-master Redis Cluster on loopback, for the tests and for developers.
#
#   scripts/redis-cluster.sh start [BASE_PORT]   # nodes on BASE..BASE+2 (default 17000)
#   scripts/redis-cluster.sh stop  [BASE_PORT]   # kill the nodes, remove their directory
#
# `start` returns once every node reports cluster_state:ok and prints the URL
# to give the store (redis+cluster://127.0.0.1:BASE). A cluster this script
# already runs on those ports is reused. The cluster bus uses ports BASE+10000..
# Data lives in ${AGENTSESSION_CLUSTER_DIR:-$TMPDIR/agentsession-redis-cluster-BASE}.
set -euo pipefail

cmd="${1:-}"
base="${2:-${AGENTSESSION_CLUSTER_PORT:-17000}}"
dir="${AGENTSESSION_CLUSTER_DIR:-${TMPDIR:-/tmp}/agentsession-redis-cluster-$base}"
ports=("$base" "$((base + 1))" "$((base + 2))")

cli() { redis-cli -h 127.0.0.1 -p "$1" "${@:2}"; }

state_ok() {
    local port
    for port in "${ports[@]}"; do
        cli "$port" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || return 1
    done
}

stop() {
    local port pid
    for port in "${ports[@]}"; do
        if [[ -f "$dir/$port.pid" ]]; then
            pid="$(cat "$dir/$port.pid")"
            kill "$pid" 2>/dev/null || true
            for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -9 "$pid" 2>/dev/null || true
        fi
    done
    rm -rf "$dir"
}

start() {
    command -v redis-server >/dev/null || { echo "redis-server is not installed" >&2; exit 2; }
    if [[ -d "$dir" ]] && state_ok; then
        echo "redis+cluster://127.0.0.1:$base"
        return
    fi
    stop
    local port
    for port in "${ports[@]}"; do
        mkdir -p "$dir/$port"
        redis-server --port "$port" --bind 127.0.0.1 --protected-mode no \
            --cluster-enabled yes --cluster-config-file "$dir/$port/nodes.conf" \
            --cluster-node-timeout 5000 --dir "$dir/$port" --save "" --appendonly no \
            --daemonize yes --pidfile "$dir/$port.pid" --logfile "$dir/$port.log"
    done
    for port in "${ports[@]}"; do
        for _ in $(seq 1 100); do cli "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
        cli "$port" ping >/dev/null || { echo "node $port did not start" >&2; exit 1; }
    done
    redis-cli --cluster create "${ports[@]/#/127.0.0.1:}" --cluster-replicas 0 --cluster-yes \
        >"$dir/create.log" 2>&1 || { cat "$dir/create.log" >&2; exit 1; }
    for _ in $(seq 1 300); do
        if state_ok; then
            echo "redis+cluster://127.0.0.1:$base"
            return
        fi
        sleep 0.1
    done
    echo "the cluster did not reach cluster_state:ok" >&2
    exit 1
}

case "$cmd" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop [BASE_PORT]" >&2; exit 2 ;;
esac
