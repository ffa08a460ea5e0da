#!/usr/bin/env bash
# Configures (once) and builds coffer in BUILD_DIR (default: build), one build
# at a time on this machine: concurrent callers wait on a lock.
# Usage: scripts/build.sh [--sanitize] [cmake --build args…, e.g. --target kms_test]
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}
extra=()
if [[ ${1:-} == --sanitize ]]; then
  shift
  build_dir=${BUILD_DIR:-build-asan}
  extra=(-DCOFFER_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug)
fi
exec 9>"/tmp/coffer-build.lock"
flock 9
if [[ ! -f $build_dir/build.ninja ]]; then
  cmake -S . -B "$build_dir" -G Ninja "${extra[@]}" >/dev/null
fi
jobs=$(nproc)
cmake --build "$build_dir" -j "$jobs" "$@"
