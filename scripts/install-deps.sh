#!/usr/bin/env bash
# Installs the Debian 12 packages coffer needs to build and test. Idempotent:
# prints nothing and changes nothing when everything is already installed.
set -euo pipefail

packages=(
  # toolchain
  cmake ninja-build g++ ccache pkg-config
  # libraries (see the Dependencies section of README.md)
  libssl-dev libsqlite3-dev libspdlog-dev libfmt-dev nlohmann-json3-dev libcli11-dev
  libboost-dev libtomlplusplus-dev
  libcurl4-openssl-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev
  # interop test peers (never linked): aws CLI v2, boto3, jq, libfaketime
  awscli python3-boto3 jq faketime
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
[[ ${#missing[@]} -eq 0 ]] && exit 0

sudo=()
if [[ $(id -u) -ne 0 ]]; then sudo=(sudo); fi
echo "install-deps: installing ${missing[*]}" >&2
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
  "${missing[@]}" >/dev/null
