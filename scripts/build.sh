#!/usr/bin/env bash
# Configures (once) and builds coffer in BUILD_DIR (default: build), one build
# at a time on this machine: concurrent callers wait on a lock.
# Usage: scripts/build.sh [--sanitize|--fuzz] [cmake --build args…, e.g. --target kms_test]
#   --sanitize  ASan + UBSan, Debug, in build-asan
#   --fuzz      the libFuzzer targets of tests/fuzz, clang, in build-fuzz (scripts/fuzz.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}
extra=()
if [[ ${1:-} == --sanitize ]]; then
  shift
  build_dir=${BUILD_DIR:-build-asan}
  extra=(-DCOFFER_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug)
elif [[ ${1:-} == --fuzz ]]; then
  shift
  build_dir=${BUILD_DIR:-build-fuzz}
  extra=(-DCMAKE_CXX_COMPILER=clang++ -DCOFFER_FUZZ=ON
    -DCOFFER_BENCH=OFF -DBUILD_TESTING=OFF)
fi
# ccache: hits across checkouts at different paths (a fresh clone reuses what
# another one compiled), and compiles that use the tests' precompiled header.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD} CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}
export CCACHE_SLOPPINESS=${CCACHE_SLOPPINESS:-pch_defines,time_macros}
exec 9>"/tmp/coffer-build.lock"
flock 9
if [[ ! -f $build_dir/build.ninja ]]; then
  cmake -S . -B "$build_dir" -G Ninja "${extra[@]}" >/dev/null
fi
jobs=$(nproc)
cmake --build "$build_dir" -j "$jobs" "$@"
