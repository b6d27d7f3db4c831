#!/bin/sh
# labkit/postgres's entrypoint (docker/build-images.sh): PostgreSQL from Debian's package, run as
# the postgres user on the data directory PGDATA (a volume in docker/docker-compose.yml).
#
# On an empty data directory it first makes a cluster the way the official postgres image does:
# superuser POSTGRES_USER with password POSTGRES_PASSWORD, a database POSTGRES_DB, password
# (scram-sha-256) logins from any address of the compose network. Arguments are passed to
# `postgres` as extra settings, e.g. `-c max_connections=200`.
set -eu
: "${PGDATA:=/var/lib/postgresql/data}"
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
if [ -z "${POSTGRES_PASSWORD:-}" ]; then
  echo "postgres-entrypoint: set POSTGRES_PASSWORD (the password of $POSTGRES_USER)" >&2
  exit 2
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  pwfile="$(mktemp)"
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  initdb --pgdata="$PGDATA" --username="$POSTGRES_USER" --pwfile="$pwfile" --encoding=UTF8 \
    --locale=C.UTF-8 --auth-local=trust --auth-host=scram-sha-256 --no-instructions >/dev/null
  rm -f "$pwfile"
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  if [ "$POSTGRES_DB" != postgres ]; then
    # Single-user mode: the database exists before the server accepts its first connection.
    echo "CREATE DATABASE \"$POSTGRES_DB\"" | postgres --single -D "$PGDATA" postgres >/dev/null
  fi
  echo "postgres-entrypoint: initialized $PGDATA (user $POSTGRES_USER, database $POSTGRES_DB)"
fi

# jit=off: the JIT's LLVM libraries are left out of the image. The socket goes to /tmp, which the
# postgres user can write (Debian's /run/postgresql is made by its service scripts, not run here).
exec postgres -D "$PGDATA" -c listen_addresses='*' -c unix_socket_directories=/tmp -c jit=off "$@"
