#!/usr/bin/env bash
# Make and start a streaming replica of PRIMARY_HOST in PGDATA (empty), as the postgres user.
#   PRIMARY_HOST=10.0.0.11 REPLICATION_USER=replicator PGPASSWORD=... PGDATA=/var/lib/postgresql/18/replica \
#     deploy/postgres/replica.sh
# -R writes standby.signal and primary_conninfo (postgresql.auto.conf); -X stream copies the WAL made
# during the copy; -C -S makes a replication slot, so the primary keeps WAL the replica still needs.
set -euo pipefail
: "${PRIMARY_HOST:?}" "${PGDATA:?}"
pg_basebackup -h "$PRIMARY_HOST" -p "${PRIMARY_PORT:-5432}" -U "${REPLICATION_USER:-replicator}" \
  -D "$PGDATA" -R -X stream -C -S "${REPLICATION_SLOT:-replica1}" --checkpoint=fast --progress
echo "include = '$(cd "$(dirname "$0")" && pwd)/replica.conf'" >> "$PGDATA/postgresql.conf"
exec pg_ctl -D "$PGDATA" -l "$PGDATA/server.log" start
