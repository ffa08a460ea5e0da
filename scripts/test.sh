#!/usr/bin/env bash
# Builds coffer and runs every test: the unit tests (with the fuzz corpora replayed),
# the interop suite (real AWS clients against a fresh coffer server), then the unit
# tests again built with AddressSanitizer + UndefinedBehaviorSanitizer.
# Usage: scripts/test.sh [--no-sanitize]
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== build (RelWithDebInfo)"
scripts/build.sh
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
