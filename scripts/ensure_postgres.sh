#!/usr/bin/env bash
# Makes sure the local PostgreSQL (127.0.0.1:5432) answers; starts the cluster if it is installed but down.
set -u
ready() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
if ! command -v pg_isready >/dev/null 2>&1; then
  echo "ensure_postgres: no PostgreSQL client tools here; PostgreSQL tests will skip (or fail under CI=true)." >&2
  exit 0
fi
ready && exit 0
if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  echo "ensure_postgres: starting PostgreSQL $version ..." >&2
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 30); do ready && exit 0; sleep 1; done
fi
echo "ensure_postgres: PostgreSQL is not reachable on 127.0.0.1:5432." >&2
exit 0
