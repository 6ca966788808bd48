#!/usr/bin/env bash
# Runs kiln's tests against a real PostgreSQL and a real Docker engine.
#
# It starts what the tests need when it is not running yet: a PostgreSQL
# server for the tests (the system cluster when run as root, else a private
# one under target/), and the busybox test image. Then it checks the code
# with `cargo fmt --check` and `cargo clippy --all-targets -- -D warnings`
# (the `[lints]` of Cargo.toml). Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "scripts/test.sh: $*" >&2; exit 1; }

pg_bindir() {
    if command -v pg_config >/dev/null && [ -x "$(pg_config --bindir)/pg_ctl" ]; then
        pg_config --bindir; return
    fi
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [ -n "$d" ] && { echo "$d"; return; }
    fail "no PostgreSQL server binaries found: install them (apt-get install postgresql)"
}

# --- PostgreSQL -------------------------------------------------------------
if [ -z "${KILN_TEST_DATABASE_URL:-}" ]; then
    if [ "$(id -u)" = 0 ] && command -v pg_lsclusters >/dev/null; then
        # The system cluster, with a superuser role for root.
        read -r ver name _ < <(pg_lsclusters -h | sort -V | tail -n 1) || fail "no PostgreSQL cluster: install postgresql"
        pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start 2>/dev/null || true
        for _ in $(seq 1 30); do
            su postgres -c "psql -qAtc 'select 1'" >/dev/null 2>&1 && break
            sleep 0.5
        done
        su postgres -c "psql -qAtc \"select 1 from pg_roles where rolname = 'root'\"" | grep -q 1 \
            || su postgres -c "psql -qc 'CREATE ROLE root SUPERUSER LOGIN'"
        export KILN_TEST_DATABASE_URL="postgres:///postgres?host=/var/run/postgresql"
    else
        # A private cluster for an ordinary user, listening on a socket under target/.
        dir="$PWD/target/test-postgres"
        bindir=$(pg_bindir)
        if [ ! -f "$dir/data/PG_VERSION" ]; then
            mkdir -p "$dir"
            "$bindir/initdb" -D "$dir/data" -A trust -U postgres >/dev/null
        fi
        if ! "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
            "$bindir/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
                -o "-c listen_addresses='' -c unix_socket_directories='$dir' -c max_connections=200" start >/dev/null
        fi
        export KILN_TEST_DATABASE_URL="postgres://postgres@/postgres?host=$dir"
    fi
fi

# --- Docker and the test image ---------------------------------------------
if docker info >/dev/null 2>&1; then
    scripts/make-test-image.sh
elif [ "${CI:-}" = true ]; then
    fail "the Docker engine is not reachable (docker info failed)"
else
    echo "scripts/test.sh: Docker is not reachable; tests that need it will be skipped" >&2
fi

# --- Lints -------------------------------------------------------------------
# The `[lints]` of Cargo.toml and rustfmt, before any test runs.
cargo fmt --check || fail "cargo fmt --check found unformatted code: run cargo fmt"
cargo clippy --locked --all-targets -- -D warnings || fail "cargo clippy found warnings"

exec cargo test --locked "$@"
