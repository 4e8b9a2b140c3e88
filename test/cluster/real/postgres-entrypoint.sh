#!/bin/sh
# docker-entrypoint.sh of the real test world's postgres:15 image (busybox
# sh). What the official image's entrypoint does for the variables a
# manifest may set — PGDATA, POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB,
# POSTGRES_HOST_AUTH_METHOD, POSTGRES_INITDB_ARGS: as root, own the data
# directory and re-run as postgres; initdb into an empty PGDATA; listen on
# every address; `host all all all <method>` in pg_hba.conf; then exec the
# server. Not supported: /docker-entrypoint-initdb.d and the *_FILE secrets.
set -eu

# `docker run postgres -c x=y`: options alone mean the server
case "${1:-}" in -*) set -- postgres "$@" ;; esac
if [ "${1:-}" != postgres ]; then exec "$@"; fi
for arg; do
  case "$arg" in -'?' | --help | --describe-config | -V | --version) exec "$@" ;; esac
done

export PGDATA="${PGDATA:-/var/lib/postgresql/data}"
POSTGRES_USER="${POSTGRES_USER:-postgres}"
POSTGRES_DB="${POSTGRES_DB:-$POSTGRES_USER}"
POSTGRES_PASSWORD="${POSTGRES_PASSWORD:-}"
POSTGRES_HOST_AUTH_METHOD="${POSTGRES_HOST_AUTH_METHOD:-}"
POSTGRES_INITDB_ARGS="${POSTGRES_INITDB_ARGS:-}"

if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chmod 00700 "$PGDATA"
  chmod 03775 /var/run/postgresql
  chown -R postgres:postgres "$PGDATA" /var/run/postgresql
  # busybox su execs `sh -c CMD ARG0 ARGS…` without forking: the server stays PID 1
  exec su -s /bin/sh postgres -c 'exec "$0" "$@"' "$0" "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "$POSTGRES_PASSWORD" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != trust ]; then
    echo 'Error: Database is uninitialized and superuser password is not specified.' >&2
    echo '  Set POSTGRES_PASSWORD, or POSTGRES_HOST_AUTH_METHOD=trust to allow all connections without one.' >&2
    exit 1
  fi
  mkdir -p "$PGDATA"
  chmod 00700 "$PGDATA"
  pwfile=''
  if [ -n "$POSTGRES_PASSWORD" ]; then
    pwfile="$(mktemp)"
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  fi
  # the official image also word-splits POSTGRES_INITDB_ARGS through eval
  eval 'initdb --username="$POSTGRES_USER" ${pwfile:+--pwfile="$pwfile"} '"$POSTGRES_INITDB_ARGS"
  [ -z "$pwfile" ] || rm -f "$pwfile"
  # default since PostgreSQL 14, as in the official image
  method="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"
  printf '\nhost all all all %s\n' "$method" >>"$PGDATA/pg_hba.conf"
  printf "\nlisten_addresses = '*'\n" >>"$PGDATA/postgresql.conf"
  if [ "$POSTGRES_DB" != postgres ]; then
    printf 'CREATE DATABASE "%s";\n' "$POSTGRES_DB" | postgres --single -j -D "$PGDATA" postgres >/dev/null
  fi
  echo 'PostgreSQL init process complete; ready for start up.'
fi

exec "$@"
