#!/usr/bin/env bash
# The local Garnet cluster the distributed-index tests run against (the lead's .ci/run calls it):
#   scripts/garnet-cluster.sh start|stop|status DATA_DIR
# Six garnet-server nodes on 127.0.0.1:7000-7005: 7000-7002 are primaries (a third of the 16384 hash slots each),
# 7003-7005 replicate 7000-7002. Start is idempotent: nodes already running are kept, missing ones started, and the
# cluster formed only where it is not yet (slots, meet, replicate). It returns once every node reports
# cluster_state:ok and every replica's link to its primary is up.
#
# The binary: $LINEUP_GARNET_SERVER, else <repo>/.cache/garnet/garnet-server, installed there with
# `dotnet tool install` (version pinned: vector sets are a preview feature) when missing.
set -euo pipefail

GARNET_VERSION=2.2.8
BASE_PORT=${LINEUP_GARNET_BASE_PORT:-7000}
PRIMARIES=3
HOST=127.0.0.1

usage() {
  echo "usage: $0 start|stop|status DATA_DIR" >&2
  exit 2
}

[ $# -eq 2 ] || usage
action=$1
data_dir=$2
repo_root=$(cd "$(dirname "$0")/.." && pwd)

ports=()
for ((i = 0; i < 2 * PRIMARIES; i++)); do ports+=($((BASE_PORT + i))); done

cli() {
  local port=$1
  shift
  redis-cli -h "$HOST" -p "$port" --no-raw "$@" 2>/dev/null
}

raw() {
  local port=$1
  shift
  redis-cli -h "$HOST" -p "$port" --raw "$@" 2>/dev/null
}

alive() {
  [ "$(raw "$1" PING || true)" = "PONG" ]
}

node_id() {
  raw "$1" CLUSTER MYID | tr -d '\r'
}

garnet_binary() {
  if [ -n "${LINEUP_GARNET_SERVER:-}" ]; then
    echo "$LINEUP_GARNET_SERVER"
    return
  fi

  local dir="$repo_root/.cache/garnet"
  if [ ! -x "$dir/garnet-server" ]; then
    echo "installing garnet-server $GARNET_VERSION into $dir" >&2
    mkdir -p "$dir"
    dotnet tool install --tool-path "$dir" garnet-server --version "$GARNET_VERSION" >&2
  fi

  echo "$dir/garnet-server"
}

start_node() {
  local port=$1 binary=$2
  local dir="$data_dir/node-$port"
  mkdir -p "$dir/checkpoints"
  # RandomAccess: the default native device needs glibc 2.38 and liburing (docs: /work/shared/engines.md).
  # Lua off: the index never runs scripts, and it is one less surface.
  # replica-sync-delay 100 ms: at the default (5 ms) a primary's replication loop kept about 12% of a core busy while
  # idle (measured here: 27 → 9 CPU ticks per 4 s at 50 ms); replicas only serve reads when a primary fails.
  nohup "$binary" --bind "$HOST" --port "$port" --cluster --enable-vector-set-preview \
    --device-type RandomAccess --checkpointdir "$dir/checkpoints" --aof --lua false --replica-sync-delay 100 \
    >"$dir/garnet.log" 2>&1 &
  echo $! >"$dir/garnet.pid"
}

wait_until() {
  local what=$1 seconds=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@"; do
    if ((SECONDS >= deadline)); then
      echo "garnet-cluster: timed out after ${seconds}s waiting for $what" >&2
      return 1
    fi
    sleep 0.5
  done
}

all_alive() {
  local port
  for port in "${ports[@]}"; do alive "$port" || return 1; done
}

all_know_each_other() {
  local port
  for port in "${ports[@]}"; do
    [ "$(raw "$port" CLUSTER NODES | grep -c .)" -ge ${#ports[@]} ] || return 1
  done
}

primary_ready() {
  # A primary owns its slot range and agrees the cluster is ok.
  raw "$1" CLUSTER INFO | tr -d '\r' | grep -q '^cluster_state:ok$'
}

all_ok() {
  local port
  for port in "${ports[@]}"; do
    raw "$port" CLUSTER INFO | tr -d '\r' | grep -q '^cluster_state:ok$' || return 1
  done
}

replicas_in_sync() {
  local i port info
  for ((i = PRIMARIES; i < 2 * PRIMARIES; i++)); do
    port=${ports[$i]}
    info=$(raw "$port" INFO replication | tr -d '\r')
    echo "$info" | grep -q '^role:slave$' || return 1
    echo "$info" | grep -q '^master_link_status:up$' || return 1
  done
}

is_replica_of() {
  local port=$1 primary_id=$2
  raw "$port" CLUSTER NODES | tr -d '\r' | awk -v id="$primary_id" '$3 ~ /myself/ && $3 ~ /slave|replica/ && $4 == id { found = 1 } END { exit !found }'
}

start() {
  command -v redis-cli >/dev/null || { echo "garnet-cluster: redis-cli is required (apt-get install redis-tools)" >&2; exit 1; }
  local binary port i
  # Installed even when a cluster already runs: the fault tests start garnet-server processes of their own from it.
  binary=$(garnet_binary)
  if all_alive && all_ok && replicas_in_sync 2>/dev/null; then
    echo "garnet cluster already running on $HOST:${ports[0]}-${ports[-1]}"
    return 0
  fi

  mkdir -p "$data_dir"
  for port in "${ports[@]}"; do
    if ! alive "$port"; then
      start_node "$port" "$binary"
    fi
  done

  wait_until "nodes to answer PING" 90 all_alive

  # Slots: primary i owns [i * 16384 / n, (i + 1) * 16384 / n - 1]; only a primary with no slots gets its range.
  for ((i = 0; i < PRIMARIES; i++)); do
    port=${ports[$i]}
    local first=$((i * 16384 / PRIMARIES)) last=$(((i + 1) * 16384 / PRIMARIES - 1))
    if ! raw "$port" CLUSTER NODES | tr -d '\r' | awk '$3 ~ /myself/ && NF > 8 { found = 1 } END { exit !found }'; then
      cli "$port" CLUSTER ADDSLOTSRANGE "$first" "$last" >/dev/null
    fi
  done

  for port in "${ports[@]:1}"; do
    cli "$port" CLUSTER MEET "$HOST" "${ports[0]}" >/dev/null
  done

  wait_until "the nodes to meet" 60 all_know_each_other

  for ((i = 0; i < PRIMARIES; i++)); do
    local primary_id replica_port
    primary_id=$(node_id "${ports[$i]}")
    replica_port=${ports[$((i + PRIMARIES))]}
    if ! is_replica_of "$replica_port" "$primary_id"; then
      local reply
      reply=$(raw "$replica_port" CLUSTER REPLICATE "$primary_id" | tr -d '\r')
      if [ "$reply" != "OK" ]; then
        echo "garnet-cluster: CLUSTER REPLICATE on $replica_port answered: $reply" >&2
        exit 1
      fi
    fi
  done

  wait_until "cluster_state:ok on every node" 90 all_ok
  wait_until "replicas to sync" 90 replicas_in_sync
  echo "garnet cluster running on $HOST:${ports[0]}-${ports[-1]} (data in $data_dir)"
}

stop() {
  local port pid_file pid
  for port in "${ports[@]}"; do
    pid_file="$data_dir/node-$port/garnet.pid"
    if [ -f "$pid_file" ]; then
      pid=$(cat "$pid_file")
      if kill -0 "$pid" 2>/dev/null; then
        kill "$pid"
        for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
      fi
      rm -f "$pid_file"
    fi
  done
  echo "garnet cluster stopped"
}

status() {
  local port state role failed=0
  for port in "${ports[@]}"; do
    if alive "$port"; then
      state=$(raw "$port" CLUSTER INFO | tr -d '\r' | awk -F: '$1 == "cluster_state" { print $2 }')
      role=$(raw "$port" INFO replication | tr -d '\r' | awk -F: '$1 == "role" { print $2 }')
      echo "$HOST:$port up role=$role cluster_state=$state"
      [ "$state" = "ok" ] || failed=1
    else
      echo "$HOST:$port down"
      failed=1
    fi
  done
  return $failed
}

case $action in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) usage ;;
esac
