#!/usr/bin/env bash
# Starts (or checks) the PostgreSQL server the distributed-catalog tests use: Debian's cluster, listening on
# 127.0.0.1:5432, with a superuser role `lineup` (password `lineup`) and a database `lineup`. Each test creates and
# drops a schema of its own in that database. Usage: scripts/postgres-test-server.sh start|status
set -euo pipefail
action="${1:-start}"

cluster=$(pg_lsclusters --no-header 2>/dev/null | awk 'NR==1 {print $1" "$2}')
if [ -z "$cluster" ]; then
  echo "No PostgreSQL cluster found (install Debian's postgresql package)." >&2
  exit 1
fi
read -r version name <<<"$cluster"

as_postgres() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$1"; else sh -c "$1"; fi; }
wait_ready() {
  for _ in $(seq 1 30); do
    as_postgres "pg_isready -q -h 127.0.0.1 -p 5432" && return 0
    sleep 1
  done
}

case "$action" in
  start)
    if ! pg_lsclusters --no-header | awk -v v="$version" -v n="$name" '$1==v && $2==n {print $4}' | grep -q online; then
      pg_ctlcluster "$version" "$name" start
    fi
    wait_ready
    # The test assemblies run side by side, each test with a connection pool of its own schema: the default 100
    # connections ran out in CI ("53300: sorry, too many clients already"). Raised once; it takes a restart.
    if [ "$(as_postgres "psql -qtAc 'SHOW max_connections'")" -lt 400 ]; then
      as_postgres "psql -qc 'ALTER SYSTEM SET max_connections = 400'"
      pg_ctlcluster "$version" "$name" restart
      wait_ready
    fi
    as_postgres "psql -qtAc \"SELECT 1 FROM pg_roles WHERE rolname = 'lineup'\"" | grep -q 1 \
      || as_postgres "psql -qc \"CREATE ROLE lineup LOGIN SUPERUSER PASSWORD 'lineup'\""
    as_postgres "psql -qtAc \"SELECT 1 FROM pg_database WHERE datname = 'lineup'\"" | grep -q 1 \
      || as_postgres "psql -qc 'CREATE DATABASE lineup OWNER lineup'"
    PGPASSWORD=lineup psql -h 127.0.0.1 -U lineup -d lineup -qtAc "SELECT 'PostgreSQL ' || current_setting('server_version') || ' ready on 127.0.0.1:5432'"
    ;;
  status)
    pg_lsclusters
    ;;
  *)
    echo "usage: $0 start|status" >&2
    exit 2
    ;;
esac
