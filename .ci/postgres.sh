# Throw-away PostgreSQL server for the integration test (tests/test_postgres.py).
# Sourced by .ci/run (bash). Usage:
#   source .ci/postgres.sh
#   cx_pg_start   # sets CX_PG_URL, CX_PG_DIR, CX_PG_BIN; prints how long it took
#   cx_pg_stop    # stops the server and removes its folder (safe to call more than once)
# cx_pg_start never fails the caller: when PostgreSQL cannot be installed or started it says
# why, leaves CX_PG_URL unset (the test then skips with that reason) and returns 0.

cx_pg_find_bin() {
  # Debian puts the server binaries in /usr/lib/postgresql/<major>/bin (not on PATH).
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -n -r); do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then echo "$d"; return 0; fi
  done
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(command -v pg_ctl)"; return 0
  fi
  return 1
}

cx_pg_as() {
  # Run a command as the server's owner (PostgreSQL refuses to run as root).
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u "$CX_PG_USER" -- "$@"
  else
    "$@"
  fi
}

cx_pg_start() {
  local t0 t1 bin port
  t0=$(date +%s.%N)
  if ! bin=$(cx_pg_find_bin); then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "PostgreSQL: installing the Debian postgresql package ..."
      if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }; then
        echo "PostgreSQL: apt-get install postgresql failed; the PostgreSQL test will be skipped."
        return 0
      fi
      bin=$(cx_pg_find_bin) || { echo "PostgreSQL: installed but initdb/pg_ctl not found; test skipped."; return 0; }
    else
      echo "PostgreSQL: initdb/pg_ctl not found and apt-get unavailable (or not root); the PostgreSQL test will be skipped."
      return 0
    fi
  fi
  t1=$(date +%s.%N)
  CX_PG_BIN=$bin
  if [ "$(id -u)" -eq 0 ]; then
    CX_PG_USER=postgres
    if ! id "$CX_PG_USER" >/dev/null 2>&1; then
      useradd --system --no-create-home --shell /usr/sbin/nologin "$CX_PG_USER" || {
        echo "PostgreSQL: cannot create a non-root user to run the server; test skipped."; return 0; }
    fi
  else
    CX_PG_USER=$(id -un)
  fi
  CX_PG_DIR=$(mktemp -d /tmp/cx-pg.XXXXXX)
  chmod 700 "$CX_PG_DIR"
  [ "$(id -u)" -eq 0 ] && chown "$CX_PG_USER" "$CX_PG_DIR"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  if ! cx_pg_as "$bin/initdb" -D "$CX_PG_DIR/data" -U postgres --auth=trust -E UTF8 \
      --locale=C.UTF-8 >"$CX_PG_DIR/initdb.log" 2>&1; then
    echo "PostgreSQL: initdb failed (see below); the PostgreSQL test will be skipped."
    tail -5 "$CX_PG_DIR/initdb.log"
    cx_pg_stop; return 0
  fi
  if ! cx_pg_as "$bin/pg_ctl" -D "$CX_PG_DIR/data" -l "$CX_PG_DIR/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $CX_PG_DIR -c fsync=off" start >/dev/null; then
    echo "PostgreSQL: pg_ctl start failed (see below); the PostgreSQL test will be skipped."
    tail -5 "$CX_PG_DIR/server.log"
    cx_pg_stop; return 0
  fi
  CX_PG_URL="postgresql://postgres@127.0.0.1:$port/postgres"
  export CX_PG_URL CX_PG_DIR CX_PG_BIN
  python3 - "$t0" "$t1" <<'EOF'
import sys, time
t0, t1 = map(float, sys.argv[1:3])
print(f"PostgreSQL: install/lookup {t1 - t0:.1f} s, initdb+start {time.time() - t1:.1f} s")
EOF
  echo "PostgreSQL: $("$bin/postgres" --version) on 127.0.0.1:$port (CX_PG_URL=$CX_PG_URL)"
}

cx_pg_stop() {
  if [ -n "${CX_PG_DIR:-}" ] && [ -d "$CX_PG_DIR" ]; then
    if [ -f "$CX_PG_DIR/data/postmaster.pid" ]; then
      cx_pg_as "$CX_PG_BIN/pg_ctl" -D "$CX_PG_DIR/data" -m fast -w stop >/dev/null 2>&1 \
        && echo "PostgreSQL: stopped"
    fi
    rm -rf "$CX_PG_DIR"
  fi
  CX_PG_DIR=
}
