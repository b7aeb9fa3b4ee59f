#!/usr/bin/env bash
# PostgreSQL's server for the test that runs the embedded job with Dagster's storage in
# PostgreSQL (tests/e2e/test_postgres_storage.py). The test starts its own throw-away cluster on
# loopback; this only makes sure Debian's package is there (as root, with apt-get), and otherwise
# stops with how to get it.
set -euo pipefail

if command -v initdb >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
    exit 0
fi
source "$(dirname "$0")/apt_install.sh"
if apt_install postgresql; then
    compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || { echo "error: apt-get installed postgresql but initdb is missing" >&2; exit 1; }
    exit 0
fi
cat >&2 <<MSG
error: the PostgreSQL storage test needs PostgreSQL's server (initdb, pg_ctl) and none is installed.
  Debian/Ubuntu:  sudo apt-get install postgresql     (then rerun: make test)
  macOS:          brew install postgresql              (initdb on PATH)
MSG
exit 1
