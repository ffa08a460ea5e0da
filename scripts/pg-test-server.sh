#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests of the postgres engine (and the interop
# suite): a fresh data directory under /tmp, listening on a unix socket in that
# directory and on 127.0.0.1 at a free port, nothing else. Tuned for speed, not
# durability (fsync off): never put data you want to keep in it.
#
# Usage:
#   eval "$(scripts/pg-test-server.sh start)"   # prints export lines, see below
#   scripts/pg-test-server.sh stop [DIR]        # stops it and removes DIR
#                                               #   (default: $COFFER_TEST_PG_DIR)
# `start` prints, for the shell to eval:
#   COFFER_TEST_PG_DSN           libpq DSN of the superuser role coffer_test over the
#                                unix socket (trust authentication)
#   COFFER_TEST_PG_PASSWORD_DSN  DSN of the superuser role coffer_pw over TCP on
#                                127.0.0.1, authenticated by password (scram-sha-256)
#   COFFER_TEST_PG_DIR           the cluster's directory, for `stop`
# Environment: PG_BIN (default: the newest of /usr/lib/postgresql/*/bin, preferring 15),
# PG_TEST_PORT (default: a free port).
#
# PostgreSQL refuses to run as root: as root the cluster belongs to the `postgres`
# account and its commands run through runuser.
set -euo pipefail

die() {
  echo "pg-test-server: $*" >&2
  exit 1
}

pick_bin() {
  if [[ -n ${PG_BIN:-} ]]; then
    echo "$PG_BIN"
  elif [[ -x /usr/lib/postgresql/15/bin/initdb ]]; then
    echo /usr/lib/postgresql/15/bin
  else
    local found
    found=$(printf '%s\n' /usr/lib/postgresql/*/bin | grep -v '\*' | sort -V | tail -n 1)
    [[ -n $found ]] || die "no PostgreSQL server binaries (apt-get install postgresql, or set PG_BIN)"
    echo "$found"
  fi
}

# Runs a command as the cluster's owner.
as_owner() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

free_port() {
  python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

start() {
  local bin dir port password
  bin=$(pick_bin)
  [[ -x $bin/initdb && -x $bin/pg_ctl ]] || die "no initdb/pg_ctl in $bin"
  if [[ $(id -u) -eq 0 ]]; then
    id -u postgres >/dev/null 2>&1 || die "running as root needs a 'postgres' account"
  fi
  dir=$(mktemp -d /tmp/coffer-pg.XXXXXX)
  mkdir "$dir/socket"
  if [[ $(id -u) -eq 0 ]]; then chown -R postgres: "$dir"; fi
  password=$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')

  # The bootstrap superuser is coffer_test; local (socket) connections are trusted.
  if ! as_owner "$bin/initdb" -D "$dir/data" -U coffer_test -E UTF8 --locale=C.UTF-8 \
    -A trust --no-sync >"$dir/initdb.log" 2>&1; then
    cat "$dir/initdb.log" >&2
    rm -rf "$dir"
    die "initdb failed"
  fi
  cat >"$dir/data/pg_hba.conf" <<'EOF'
# TYPE  DATABASE  USER         ADDRESS        METHOD
local   all       all                         trust
host    all       coffer_test  127.0.0.1/32   trust
host    all       coffer_pw    127.0.0.1/32   scram-sha-256
EOF
  cat >>"$dir/data/postgresql.conf" <<EOF
# pg-test-server.sh: a throwaway cluster
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir/socket'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 100
log_min_messages = warning
EOF

  local tries=0
  while :; do
    port=${PG_TEST_PORT:-$(free_port)}
    echo "port = $port" >>"$dir/data/postgresql.conf"
    if as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null; then
      break
    fi
    tries=$((tries + 1))
    if [[ -n ${PG_TEST_PORT:-} || $tries -ge 3 ]]; then
      cat "$dir/server.log" >&2 || true
      rm -rf "$dir"
      die "the server did not start"
    fi
  done

  as_owner "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir/socket" -p "$port" -U coffer_test \
    -d postgres -v pw="$password" >/dev/null <<'EOF'
CREATE ROLE coffer_pw LOGIN SUPERUSER PASSWORD :'pw';
EOF

  echo "export COFFER_TEST_PG_DSN='host=$dir/socket port=$port user=coffer_test dbname=postgres'"
  echo "export COFFER_TEST_PG_PASSWORD_DSN='host=127.0.0.1 port=$port user=coffer_pw password=$password dbname=postgres'"
  echo "export COFFER_TEST_PG_DIR='$dir'"
}

stop() {
  local dir=${1:-${COFFER_TEST_PG_DIR:-}}
  [[ -n $dir ]] || die "stop: which cluster? (stop DIR, or set COFFER_TEST_PG_DIR)"
  [[ $dir == /tmp/coffer-pg.* ]] || die "stop: $dir is not a cluster of this script"
  [[ -d $dir ]] || return 0
  if [[ -f $dir/data/postmaster.pid ]]; then
    local bin
    bin=$(pick_bin)
    as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
}

case ${1:-} in
  start) start ;;
  stop) stop "${2:-}" ;;
  *)
    echo "usage: $0 start | stop [DIR]" >&2
    exit 2
    ;;
esac
