#!/usr/bin/env bash
# Builds coffer and runs every test: the unit tests (with the fuzz corpora replayed),
# the interop suite (real AWS clients against a fresh coffer server), then the unit
# tests again built with AddressSanitizer + UndefinedBehaviorSanitizer.
# The postgres engine's tests (ctest label postgres) and the interop suite use a
# throwaway PostgreSQL server (scripts/pg-test-server.sh), started here and stopped
# at exit, unless COFFER_TEST_PG_DSN already names one.
# Usage: scripts/test.sh [--no-sanitize]
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== build (RelWithDebInfo)"
scripts/build.sh
if [[ -z ${COFFER_TEST_PG_DSN:-} ]]; then
  echo "== PostgreSQL test server"
  pg_env=$(scripts/pg-test-server.sh start)
  eval "$pg_env"
  # shellcheck disable=SC2153 # set by the eval
  trap 'scripts/pg-test-server.sh stop "$COFFER_TEST_PG_DIR"' EXIT
fi
echo "== unit tests (with the object store's S3 peers and its 1 GiB uploads)"
ctest --test-dir build --output-on-failure -j "$(nproc)" --timeout 300
echo "== interop (real AWS clients against coffer server)"
tests/interop/run.sh build/coffer

if [[ ${1:-} != --no-sanitize ]]; then
  echo "== build (ASan + UBSan)"
  scripts/build.sh --sanitize
  echo "== unit tests under ASan + UBSan (without the 1 GiB uploads: label objstore-large)"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j "$(nproc)" --timeout 600 -LE objstore-large
fi
