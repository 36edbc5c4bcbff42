#!/usr/bin/env bash
# A 3-node RabbitMQ cluster on this machine, beside the default node (which it leaves alone), for trying
# Taskcast on a cluster and for the cluster test. As root (Debian's rabbitmq-server runs as the rabbitmq user).
#   bash scripts/rabbitmq-cluster.sh start     start the nodes (ports 5681-5683) and join them; prints RABBITMQ_URL
#   bash scripts/rabbitmq-cluster.sh kill N    SIGKILL node N (1-3), as a crash would
#   bash scripts/rabbitmq-cluster.sh restart N start node N again; it rejoins the cluster
#   bash scripts/rabbitmq-cluster.sh stop      stop every node and delete their data
source "$(dirname "$0")/lib.sh"

BASE=/var/lib/rabbitmq/taskcast-cluster
HOST="$(hostname -s)"
node_name() { echo "tc$1@$HOST"; }
amqp_port() { echo $((5680 + $1)); }
dist_port() { echo $((25680 + $1)); }

urls() {
  local list=()
  for n in 1 2 3; do list+=("amqp://guest:guest@127.0.0.1:$(amqp_port "$n")"); done
  (IFS=,; echo "${list[*]}")
}

require_root() {
  [ "$(id -u)" = 0 ] || die "The cluster script runs RabbitMQ nodes as the rabbitmq user: run it as root."
  command -v rabbitmq-server >/dev/null || apt_install rabbitmq-server
}

start_node() {
  local n=$1 dir="$BASE/tc$1"
  mkdir -p "$dir/mnesia" "$dir/log"
  [ -f "$dir/enabled_plugins" ] || echo "[]." > "$dir/enabled_plugins"
  chown -R rabbitmq:rabbitmq "$BASE"
  if rabbitmqctl -q -n "$(node_name "$n")" status >/dev/null 2>&1; then return; fi
  env RABBITMQ_NODENAME="$(node_name "$n")" RABBITMQ_NODE_PORT="$(amqp_port "$n")" RABBITMQ_DIST_PORT="$(dist_port "$n")" \
    RABBITMQ_MNESIA_BASE="$dir/mnesia" RABBITMQ_LOG_BASE="$dir/log" RABBITMQ_PID_FILE="$dir/pid" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins" rabbitmq-server -detached >/dev/null 2>&1 || true
}

wait_node() {
  local n=$1
  for _ in $(seq 1 120); do
    if rabbitmqctl -q -n "$(node_name "$n")" await_startup >/dev/null 2>&1 && port_open 127.0.0.1 "$(amqp_port "$n")"; then return; fi
    sleep 1
  done
  die "RabbitMQ node $(node_name "$n") did not start within 120 s; see $BASE/tc$n/log/"
}

in_cluster() { rabbitmqctl -q -n "$(node_name 1)" cluster_status --formatter json 2>/dev/null | grep -q "\"$(node_name "$1")\""; }

case "${1:-}" in
  start)
    require_root
    for n in 1 2 3; do start_node "$n"; done
    for n in 1 2 3; do wait_node "$n"; done
    for n in 2 3; do
      if ! in_cluster "$n"; then
        rabbitmqctl -q -n "$(node_name "$n")" stop_app
        rabbitmqctl -q -n "$(node_name "$n")" join_cluster "$(node_name 1)"
        rabbitmqctl -q -n "$(node_name "$n")" start_app
      fi
    done
    # Every node sees all three running before anyone declares a quorum queue (else it gets fewer members).
    for n in 1 2 3; do rabbitmqctl -q -n "$(node_name "$n")" await_online_nodes 3 --timeout 60 >/dev/null; done
    log "3-node cluster up: RABBITMQ_URL=$(urls)"
    urls
    ;;
  kill)
    require_root
    [ -n "${2:-}" ] || die "usage: $0 kill N"
    pid="$(cat "$BASE/tc$2/pid" 2>/dev/null || true)"
    [ -n "$pid" ] || die "node $2 has no pid file; is it running?"
    kill -9 "$pid" 2>/dev/null || true
    log "killed $(node_name "$2") (pid $pid)"
    ;;
  restart)
    require_root
    [ -n "${2:-}" ] || die "usage: $0 restart N"
    start_node "$2"
    wait_node "$2"
    for n in 1 2 3; do rabbitmqctl -q -n "$(node_name "$n")" await_online_nodes 3 --timeout 60 >/dev/null; done
    log "$(node_name "$2") is back"
    ;;
  stop)
    require_root
    for n in 1 2 3; do rabbitmqctl -q -n "$(node_name "$n")" stop >/dev/null 2>&1 || true; done
    rm -rf "$BASE"
    log "cluster stopped and its data deleted"
    ;;
  urls) urls ;;
  *) die "usage: $0 start | kill N | restart N | stop | urls" ;;
esac
