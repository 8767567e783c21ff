#!/usr/bin/env bash
# A team tracking server: PostgreSQL (Debian's package) as MLflow's backend store, with its data in
# a folder of this checkout, and `mlflow server` in front of it with proxied artifact storage.
# Both listen on 127.0.0.1 only.
#
#   bash scripts/tracking_server.sh start    # initialise on first use, start both, print the URI to export
#   bash scripts/tracking_server.sh stop
#   bash scripts/tracking_server.sh status
#
# STANCE_TRACKING_DIR (default var/tracking): PostgreSQL's data, the artifacts, logs and pid files.
# STANCE_PG_PORT (default 5433), STANCE_TRACKING_PORT (default 5001).
# PostgreSQL refuses to run as root: run as root, the script runs it as the `postgres` user that
# Debian's package creates, and gives that user the data folder.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DIR="$(realpath -m "${STANCE_TRACKING_DIR:-$ROOT/var/tracking}")"
PG_PORT="${STANCE_PG_PORT:-5433}"
PORT="${STANCE_TRACKING_PORT:-5001}"
DATA="$DIR/postgres"
ARTIFACTS="$DIR/artifacts"
MLFLOW="$ROOT/.venv/bin/mlflow"
PGBIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"

die() { echo "tracking server: $*" >&2; exit 2; }
as_pg() { if [ "$(id -u)" = "0" ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
uri() { echo "http://127.0.0.1:$PORT"; }
pg_running() { [ -f "$DATA/postmaster.pid" ] && as_pg "$PGBIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }
mlflow_running() { [ -f "$DIR/mlflow.pid" ] && kill -0 "$(cat "$DIR/mlflow.pid")" 2>/dev/null; }

start() {
  [ -n "$PGBIN" ] || die "PostgreSQL is not installed (bash scripts/setup.sh --postgres, or sudo apt-get install postgresql)"
  [ -x "$MLFLOW" ] || die "no $MLFLOW: run bash scripts/setup.sh first"
  mkdir -p "$DIR" "$ARTIFACTS" "$DIR/socket"
  if [ ! -f "$DATA/PG_VERSION" ]; then
    echo "==> initialising PostgreSQL in $DATA"
    head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' > "$DIR/password"
    chmod 600 "$DIR/password"
    mkdir -p "$DATA"
    if [ "$(id -u)" = "0" ]; then chown postgres: "$DATA" "$DIR/socket"; cp "$DIR/password" "$DIR/.pwfile"; chown postgres: "$DIR/.pwfile"; fi
    as_pg "$PGBIN/initdb" -D "$DATA" -U mlflow --pwfile="$([ "$(id -u)" = "0" ] && echo "$DIR/.pwfile" || echo "$DIR/password")" \
      --auth=scram-sha-256 -E UTF8 >"$DIR/initdb.log" 2>&1 || die "initdb failed: see $DIR/initdb.log"
    rm -f "$DIR/.pwfile"
  fi
  local password
  password="$(cat "$DIR/password")"
  if ! pg_running; then
    echo "==> starting PostgreSQL on 127.0.0.1:$PG_PORT"
    as_pg "$PGBIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w -t 60 \
      -o "-p $PG_PORT -k $DIR/socket -c listen_addresses=127.0.0.1" start >/dev/null || die "PostgreSQL did not start: see $DATA/server.log"
  fi
  PGPASSWORD="$password" "$PGBIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U mlflow -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = 'mlflow'" | grep -q 1 \
    || PGPASSWORD="$password" "$PGBIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U mlflow mlflow
  if ! mlflow_running; then
    echo "==> starting mlflow server on $(uri) (backend: PostgreSQL, artifacts: $ARTIFACTS)"
    nohup "$MLFLOW" server --backend-store-uri "postgresql+psycopg2://mlflow:$password@127.0.0.1:$PG_PORT/mlflow" \
      --serve-artifacts --artifacts-destination "$ARTIFACTS" --host 127.0.0.1 --port "$PORT" --workers 2 \
      >"$DIR/mlflow.log" 2>&1 &
    echo $! > "$DIR/mlflow.pid"
    for _ in $(seq 1 120); do
      curl -sf "$(uri)/health" >/dev/null 2>&1 && break
      mlflow_running || die "mlflow server exited: see $DIR/mlflow.log"
      sleep 1
    done
    curl -sf "$(uri)/health" >/dev/null 2>&1 || die "mlflow server did not answer within 120 s: see $DIR/mlflow.log"
  fi
  echo "tracking server ready; use it with:"
  echo "  export MLFLOW_TRACKING_URI=$(uri)"
}

stop() {
  if mlflow_running; then
    local pid
    pid="$(cat "$DIR/mlflow.pid")"
    pkill -TERM -P "$pid" 2>/dev/null || true
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  fi
  rm -f "$DIR/mlflow.pid"
  if [ -n "$PGBIN" ] && pg_running; then as_pg "$PGBIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null; fi
  echo "tracking server stopped"
}

status() {
  if pg_running; then echo "PostgreSQL: running on 127.0.0.1:$PG_PORT ($DATA)"; else echo "PostgreSQL: stopped"; fi
  if mlflow_running; then echo "mlflow server: running at $(uri)"; else echo "mlflow server: stopped"; fi
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) die "usage: bash scripts/tracking_server.sh [start|stop|status]" ;;
esac
