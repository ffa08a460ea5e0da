#!/usr/bin/env bash
# Installs the Debian 12 packages coffer needs to build and test. Idempotent:
# prints nothing and changes nothing when everything is already installed.
set -euo pipefail

packages=(
  # toolchain
  cmake ninja-build g++ ccache pkg-config lld
  # libraries (see the Dependencies section of README.md)
  libssl-dev libsqlite3-dev libspdlog-dev libfmt-dev nlohmann-json3-dev libcli11-dev
  libboost-dev libtomlplusplus-dev
  libcurl4-openssl-dev libzstd-dev libpq-dev libgoogle-perftools-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev
  # interop test peers (never linked): aws CLI v2, boto3, jq, libfaketime, the zstd CLI
  awscli python3-boto3 jq faketime zstd
  # the postgres engine: the client tools it runs (pg_dump, pg_restore) and the server
  # its tests and the interop suite run against (scripts/pg-test-server.sh)
  postgresql postgresql-client
)
# Node.js with npm runs the AWS Encryption SDK for JavaScript in the interop suite. Some
# machines have Node.js from elsewhere, with npm inside (Debian's npm then conflicts).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [[ ${#missing[@]} -gt 0 ]]; then
  sudo=()
  if [[ $(id -u) -ne 0 ]]; then sudo=(sudo); fi
  echo "install-deps: installing ${missing[*]}" >&2
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

# s3rver, an S3-compatible server the object store's s3 backend is tested against
# (tests/objstore/node, versions pinned by its package-lock.json). moto_server, the
# other one, comes with the machine's Python (pip's moto).
objstore_node=tests/objstore/node
if [[ ! -f $objstore_node/node_modules/s3rver/package.json ]]; then
  echo "install-deps: npm ci in $objstore_node" >&2
  (cd "$objstore_node" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
