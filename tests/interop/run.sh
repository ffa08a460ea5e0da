#!/usr/bin/env bash
# coffer interop suite: real AWS clients against a real `coffer server`.
#
# Usage: tests/interop/run.sh [path/to/coffer]      (default: build/coffer of this checkout)
#
# Starts a fresh server (temporary data directory, ephemeral port), waits for /health, runs
#   - test_boto3.py under every python3 that has boto3 (Debian's, and pyenv's when present),
#   - test_awscli.sh under aws CLI v2 and v1 (each when present),
#   - js/esdk_roundtrip.mjs (AWS Encryption SDK for JavaScript; npm ci on first use),
#   - js/esdk_files.mjs (`coffer encrypt`/`decrypt` and that SDK, messages both ways),
#   - s3_pipeline.sh (coffer encrypt/decrypt/s3 through a bucket on moto_server, aws s3),
#   - backup_seed.sh (the seed story: encrypted backup and restore through coffer sql, aws
#     iam/kms/cloudtrail) on a server of its own, for sqlite and, when COFFER_TEST_PG_DSN is
#     set (scripts/pg-test-server.sh), for postgres,
#   - restart_check.py across a stop and a start on the same data directory,
# backup_kill.sh (SIGKILL during a backup and during a restore, restarts on the same data
# directory), and, when Debian's libfaketime is installed, a second server whose clock the
# boto3 suite moves (expired session tokens). A client that is absent is reported as SKIP with the
# reason. Exits non-zero if any check failed; the last line is
#   "interop: N passed, N failed, N skipped".
#
# Test peers (Debian 12 packages): awscli python3-boto3 nodejs npm jq faketime; the npm
# packages come from js/package-lock.json.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
bin=${1:-$repo/build/coffer}
[[ $bin == /* ]] || bin=$PWD/$bin
start_time=$SECONDS

tmp=$(mktemp -d "${TMPDIR:-/tmp}/coffer-interop.XXXXXX")
results=$tmp/results
: >"$results"
skips=()
own_passed=0 own_failed=0
server_pids=()

cleanup() {
  local pid
  for pid in "${server_pids[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null; fi
  done
  if [[ -z ${COFFER_INTEROP_KEEP:-} ]]; then rm -rf "$tmp"; else echo "kept $tmp"; fi
}
trap cleanup EXIT

ok() { own_passed=$((own_passed + 1)); echo "ok - $1"; }
not_ok() {
  own_failed=$((own_failed + 1)); echo "not ok - $1"
  shift; for line in "$@"; do printf '%s\n' "$line" | sed 's/^/    /'; done
}
skip() { skips+=("$1"); echo "SKIP $1"; }
die() { echo "interop: $*" >&2; echo "interop: 0 passed, 1 failed, 0 skipped"; exit 1; }

# ---- the server -----------------------------------------------------------------------------
[[ -x $bin ]] || die "no coffer binary at $bin (build it: scripts/build.sh --target coffer)"
"$bin" server --help >/dev/null 2>&1 || die "$bin server --help fails: this coffer has no server"
command -v python3 >/dev/null || die "python3 is required"
command -v jq >/dev/null || die "jq is required (Debian package jq)"

# A clean AWS environment for every client: nothing from the caller's profile or variables.
for v in $(env | sed -n 's/^\(AWS_[A-Z0-9_]*\)=.*/\1/p'); do unset "$v"; done
: >"$tmp/aws-config"
export AWS_CONFIG_FILE=$tmp/aws-config AWS_SHARED_CREDENTIALS_FILE=/dev/null
export AWS_EC2_METADATA_DISABLED=true AWS_PAGER="" PYTHONDONTWRITEBYTECODE=1
export COFFER_INTEROP_RESULTS=$results

# An invalid configuration: exit 253 (as the client commands and the aws CLI v2), the reason on
# stderr, and no data directory created.
"$bin" server --data-dir "$tmp/refused-data" --listen 0.0.0.0:0 >"$tmp/refused.out" 2>"$tmp/refused.err"
refused_rc=$?
if [[ $refused_rc -eq 253 && ! -e $tmp/refused-data ]] &&
  grep -q "refusing to listen on 0.0.0.0:0 without TLS" "$tmp/refused.err"; then
  ok "coffer server on 0.0.0.0 without TLS: exit 253, the reason given, nothing created"
else
  not_ok "coffer server on 0.0.0.0 without TLS: exit 253, the reason given, nothing created" \
    "exit status $refused_rc" "stderr: $(head -c 2000 "$tmp/refused.err")" \
    "data directory created: $([[ -e $tmp/refused-data ]] && echo yes || echo no)"
fi

# A flag's value that is not an integer is such an error too, named like the others.
"$bin" server --data-dir "$tmp/refused-data" --idle-timeout-seconds abc >"$tmp/refused.out" 2>"$tmp/refused.err"
refused_rc=$?
if [[ $refused_rc -eq 253 && ! -e $tmp/refused-data ]] &&
  grep -qF "coffer server: --idle-timeout-seconds: 'abc' is not an integer" "$tmp/refused.err"; then
  ok "coffer server --idle-timeout-seconds abc: exit 253, the flag and the value named, nothing created"
else
  not_ok "coffer server --idle-timeout-seconds abc: exit 253, the flag and the value named, nothing created" \
    "exit status $refused_rc" "stderr: $(head -c 2000 "$tmp/refused.err")"
fi

# start_server NAME DATA_DIR [COMMAND PREFIX…]: starts coffer, sets $server_pid and $server_url.
# start_server NAME DATA_DIR [COMMAND PREFIX…]: the server's own flags beyond these come from
# the array server_args.
server_args=()
start_server() {
  local name=$1 dir=$2; shift 2
  local out=$tmp/$name.out err=$tmp/$name.err
  : >"$out"
  "$@" "$bin" server --data-dir "$dir" --listen 127.0.0.1:0 "${server_args[@]}" >"$out" 2>"$err" &
  server_pid=$!
  server_pids+=("$server_pid")
  server_url=
  local deadline=$((SECONDS + 30))
  while ((SECONDS < deadline)); do
    server_url=$(sed -n 's|^coffer listening on \(http://[^ ]*\).*$|\1|p' "$out" | head -1)
    [[ -n $server_url ]] && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [[ -z $server_url ]]; then
    not_ok "$name: server prints 'coffer listening on http://HOST:PORT'" \
      "stdout: $(head -c 2000 "$out")" "stderr: $(tail -c 2000 "$err")"
    return 1
  fi
  ok "$name: server listening on $server_url"
  # A hint printed on first start must name the address actually bound, not the port 0 asked for.
  local hint
  hint=$(grep -o -- '--endpoint-url [^ ]*' "$out" | head -1)
  if [[ -n $hint ]]; then
    if [[ $hint == "--endpoint-url $server_url" ]]; then ok "$name: the printed hint names $server_url"
    else not_ok "$name: the printed hint names the bound address" "printed: $hint" "bound: $server_url"; fi
  fi
  local status
  status=$(python3 - "$server_url/health" <<'EOF'
import sys, time, urllib.request, urllib.error
deadline = time.time() + 10
while True:
    try:
        print(urllib.request.urlopen(sys.argv[1], timeout=5).status)
        break
    except urllib.error.HTTPError as e:
        print(e.code)
        break
    except OSError:
        if time.time() > deadline:
            print("unreachable")
            break
        time.sleep(0.1)
EOF
)
  if [[ $status == 200 ]]; then ok "$name: GET /health answers 200"; else not_ok "$name: GET /health answers 200" "got $status"; return 1; fi
  # As load balancers probe: HEAD, the same status without a body.
  local head
  head=$(python3 - "$server_url/health" 2>&1 <<'EOF'
import sys, urllib.request
with urllib.request.urlopen(urllib.request.Request(sys.argv[1], method="HEAD"), timeout=5) as r:
    print(r.status, len(r.read()))
EOF
)
  if [[ $head == "200 0" ]]; then ok "$name: HEAD /health answers 200 without a body"; else not_ok "$name: HEAD /health answers 200 without a body" "got $head"; fi
}

# exits_within PID SECONDS: true once PID has exited, false if it still runs after SECONDS.
exits_within() {
  local deadline=$((SECONDS + $2))
  while kill -0 "$1" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
  ! kill -0 "$1" 2>/dev/null
}
# reap_within PID SECONDS: waits for PID to exit and sets REAPED_RC to its exit status; one
# still running after SECONDS is killed (SIGKILL), reaped, and the call returns 1.
reap_within() {
  if ! exits_within "$1" "$2"; then
    kill -KILL "$1"
    wait "$1" 2>/dev/null
    return 1
  fi
  wait "$1"
  REAPED_RC=$?
}

# stop_server NAME PID [SIGNAL]: SIGTERM (or SIGNAL: INT, HUP), then it must exit 0 within 15 s.
stop_server() {
  local name=$1 pid=$2 sig=${3:-TERM}
  if ! kill -0 "$pid" 2>/dev/null; then
    wait "$pid" 2>/dev/null
    not_ok "$name: the server was still running at the end of the suites" "exit status $?" \
      "stderr: $(tail -c 2000 "$tmp/$name.err")"
    return
  fi
  kill -"$sig" "$pid"
  if ! reap_within "$pid" 15; then
    not_ok "$name: SIG$sig stops the server within 15 s"
    return
  fi
  local rc=$REAPED_RC
  if [[ $rc -eq 0 ]]; then ok "$name: SIG$sig stops the server cleanly (exit 0)"; else not_ok "$name: SIG$sig stops the server cleanly" "exit status $rc" "stderr: $(tail -c 2000 "$tmp/$name.err")"; fi
  # Internal errors are logged (a 500 or worse); sanitizers report on stderr.
  local bad
  bad=$(grep -E ' (error|critical) |AddressSanitizer|LeakSanitizer|runtime error:' "$tmp/$name.err" | head -20)
  if [[ -z $bad ]]; then ok "$name: no error in the server's log"; else not_ok "$name: no error in the server's log" "$bad"; fi
}

data=$tmp/data
echo "== coffer: $bin"
if ! start_server main "$data"; then
  echo "interop: $own_passed passed, $((own_failed)) failed, 0 skipped"
  exit 1
fi
main_pid=$server_pid main_url=$server_url
export COFFER_ENDPOINT=$main_url COFFER_ROOT_CREDENTIALS=$data/root-credentials
# The audit suites search the data directory and the server's output for the secrets they used.
export COFFER_DATA_DIR=$data COFFER_SERVER_LOG=$tmp/main.err:$tmp/main.out

creds=$data/root-credentials
if [[ -f $creds ]]; then
  mode=$(stat -c %a "$creds")
  if [[ $mode == 600 ]]; then ok "root-credentials has mode 0600"; else not_ok "root-credentials has mode 0600" "mode $mode"; fi
  if python3 - "$creds" <<'EOF'
import configparser, re, sys
p = configparser.ConfigParser()
p.read(sys.argv[1])
d = p["default"]
assert re.fullmatch(r"AKIA[A-Z0-9]{16}", d["aws_access_key_id"]), d["aws_access_key_id"]
assert len(d["aws_secret_access_key"]) == 40
EOF
  then ok "root-credentials: [default] with an AKIA… key and a 40-character secret"
  else not_ok "root-credentials: [default] with an AKIA… key and a 40-character secret"; fi
  key_id=$(sed -n 's/^aws_access_key_id *= *//p' "$creds")
  secret=$(sed -n 's/^aws_secret_access_key *= *//p' "$creds")
  if [[ -n $secret ]] && grep -qF -- "$secret" "$tmp/main.err"; then
    not_ok "the root secret is not in the server's log (stderr)"
  else
    ok "the root secret is not in the server's log (stderr)"
  fi
else
  not_ok "first start writes DATA_DIR/root-credentials" "$(ls -la "$data" 2>&1)"
  echo "interop: $own_passed passed, $own_failed failed, 0 skipped"
  exit 1
fi

# ---- a second server whose clock the boto3 suite moves (libfaketime) -------------------------
faketime_lib=
for f in /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 /usr/lib/*/faketime/libfaketime.so.1; do
  [[ -f $f ]] && { faketime_lib=$f; break; }
done
clock_pid=
if [[ -n $faketime_lib ]]; then
  echo "+0" >"$tmp/clock"
  # SIGHUP at its default (the suite may run under nohup): it is stopped with SIGHUP.
  if start_server clock "$tmp/clock-data" env --default-signal=HUP LD_PRELOAD="$faketime_lib" \
      FAKETIME_TIMESTAMP_FILE="$tmp/clock" FAKETIME_NO_CACHE=1 FAKETIME_DONT_FAKE_MONOTONIC=1; then
    clock_pid=$server_pid
    export COFFER_CLOCK_ENDPOINT=$server_url COFFER_CLOCK_FILE=$tmp/clock
    export COFFER_CLOCK_ROOT_CREDENTIALS=$tmp/clock-data/root-credentials
  fi
else
  skip "expired session tokens: Debian's libfaketime is not installed (apt-get install faketime)"
fi

# ---- the suites ---------------------------------------------------------------------------------
# The two CLI suites (slow: one process per call) run in the background, each into its own
# log; boto3 and the Encryption SDK run meanwhile in the foreground, one after the other (the
# boto3 suites share the clock server). Every suite uses names of its own.

# suite_done NAME RC RESULTS_PATTERN: a suite that failed without its summary line counts as failed.
suite_done() {
  local name=$1 rc=$2 pattern=$3
  if [[ $rc -ne 0 ]] && ! grep -qF -- "$pattern" "$results"; then
    echo "0 1 0 $name: exited $rc without a summary (crashed or timed out)" >>"$results"
  fi
}

# pyenv's shims cost ~0.1 s per call: use the binary they resolve to.
pyenv_aws=
[[ -x /root/.pyenv/bin/pyenv ]] && pyenv_aws=$(/root/.pyenv/bin/pyenv which aws 2>/dev/null)
cli_v2= cli_v1=
for a in /usr/bin/aws "$pyenv_aws" "$(command -v aws)" /usr/local/bin/aws /root/.pyenv/shims/aws; do
  [[ -n $a && -x $a ]] || continue
  case $("$a" --version 2>&1) in
    aws-cli/2.*) [[ -z $cli_v2 ]] && cli_v2=$a ;;
    aws-cli/1.*) [[ -z $cli_v1 ]] && cli_v1=$a ;;
  esac
done
# The server of the digest-chain checks (after the suites): one call, signed within a period.
# wait_for_line NAME FILE PATTERN SECONDS: a line matching PATTERN appears in FILE in time.
wait_for_line() {
  local deadline=$((SECONDS + $4))
  while ((SECONDS < deadline)); do
    grep -q -- "$3" "$2" && { ok "$1"; return 0; }
    sleep 0.2
  done
  not_ok "$1" "no line matching '$3' in $2" "$(tail -c 2000 "$2")"
  return 1
}
chain_pid= chain_data=$tmp/chain-data
if [[ -z ${cli_v2:-$cli_v1} ]]; then
  skip "a new digest chain: no aws CLI (Debian: awscli)"
else
  server_args=(--audit-digest-period-seconds 60)
  if start_server chain-signed "$chain_data"; then
    chain_pid=$server_pid
    if AWS_SHARED_CREDENTIALS_FILE=$chain_data/root-credentials AWS_DEFAULT_REGION=us-east-1 \
      "${cli_v2:-$cli_v1}" --endpoint-url "$server_url" kms list-keys >/dev/null; then
      ok "chain-signed: a call"
    else
      not_ok "chain-signed: a call"
    fi
  fi
  server_args=()
fi

cli_jobs=()
for v in 2 1; do
  cli_var=cli_v$v
  a=${!cli_var}
  if [[ -z $a ]]; then
    if [[ $v == 2 ]]; then skip "aws CLI v2: not installed (Debian: awscli)"
    else skip "aws CLI v1: not installed (pyenv's awscli, on the development image only)"; fi
    continue
  fi
  # A guard against a hang, not a time limit: each suite takes about 170 s on an
  # idle machine of two cores, and both run beside the boto3 suites.
  (t0=$SECONDS; timeout 600 "$here/test_awscli.sh" "$a" >"$tmp/awscli-v$v.log" 2>&1
   echo $? >"$tmp/awscli-v$v.rc"; echo "(awscli v$v took $((SECONDS - t0)) s)" >>"$tmp/awscli-v$v.log") &
  cli_jobs+=("$v:$a:$!")
done

pythons=()
declare -A seen_python=()
for py in /usr/bin/python3 "$(command -v python3)" /root/.pyenv/shims/python3; do
  [[ -n $py && -x $py ]] || continue
  real=$("$py" -c 'import sys; print(sys.executable)' 2>/dev/null) || continue
  [[ -n ${seen_python[$real]:-} ]] && continue
  seen_python[$real]=1
  if "$py" -c 'import boto3' 2>/dev/null; then pythons+=("$py")
  else skip "boto3 under $real: no boto3 module (Debian: python3-boto3)"; fi
done
[[ -e /root/.pyenv/shims/python3 ]] ||
  skip "boto3 under pyenv's python3 (boto3 1.43): no pyenv python on this machine"
[[ ${#pythons[@]} -gt 0 ]] || skip "boto3: no python3 with boto3 (Debian: python3-boto3)"
first_python=
for py in "${pythons[@]}"; do
  [[ -z $first_python ]] && first_python=$py
  echo
  t0=$SECONDS
  (cd "$here" && timeout 300 "$py" test_boto3.py -v 2>&1)
  rc=$?
  echo "(boto3 under $py took $((SECONDS - t0)) s)"
  suite_done "boto3 under $py" $rc "($("$py" -c 'import sys; print(sys.executable)'))"
done

echo
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  skip "AWS Encryption SDK for JavaScript: node/npm not installed (Debian: nodejs npm)"
elif ((node_major < 20)); then
  skip "AWS Encryption SDK for JavaScript: @aws-sdk/client-kms $(sed -n 's/.*"@aws-sdk\/client-kms": "\(.*\)".*/\1/p' "$here/js/package.json") needs Node.js >= 20, this is $(node --version)"
else
  if [[ ! -f $here/js/node_modules/@aws-crypto/client-node/package.json ||
        ! -f $here/js/node_modules/@aws-sdk/client-kms/package.json ]]; then
    echo "== npm ci (tests/interop/js)"
    (cd "$here/js" && npm ci --no-audit --no-fund --loglevel=error) ||
      echo "0 1 0 esdk-js: npm ci failed in tests/interop/js" >>"$results"
  fi
  if [[ -f $here/js/node_modules/@aws-crypto/client-node/package.json ]]; then
    echo "== AWS Encryption SDK for JavaScript"
    (cd "$here/js" && timeout 120 node --no-warnings esdk_roundtrip.mjs 2>&1)
    suite_done "esdk-js" $? "esdk-js"
    echo "== coffer encrypt/decrypt with the AWS Encryption SDK for JavaScript"
    (cd "$here/js" && COFFER_BIN=$bin timeout 180 node --no-warnings esdk_files.mjs 2>&1)
    suite_done "esdk-files" $? "esdk-files"
  fi
fi

echo
echo "== the backup pipeline into an S3-compatible service (moto_server)"
"$here/s3_pipeline.sh" "$bin" "$main_url" "$data/root-credentials" "$tmp/s3-pipeline"
suite_done "s3-pipeline" $? "s3-pipeline"

for job in "${cli_jobs[@]}"; do
  IFS=: read -r v a pid <<<"$job"
  wait "$pid"
  echo
  cat "$tmp/awscli-v$v.log"
  suite_done "awscli v$v ($a)" "$(cat "$tmp/awscli-v$v.rc" 2>/dev/null || echo 1)" "awscli v$v "
done

# The seed story, each engine on a fresh server of its own (it uses the seed's names); after
# the CLI suites, not beside them: on 2 cores they would all slow down.
echo
echo "== the seed story: encrypted backup and restore (backup_seed.sh)"
seed_aws=${cli_v2:-$cli_v1}
for engine in sqlite postgres; do
  if [[ -z $seed_aws ]]; then
    skip "backup-seed ($engine): no aws CLI (Debian: awscli)"
    continue
  fi
  if [[ $engine == postgres && -z ${COFFER_TEST_PG_DSN:-} ]]; then
    if [[ -n ${CI:-} ]]; then
      echo "not ok - backup-seed (postgres): COFFER_TEST_PG_DSN is not set"
      echo "0 1 0 backup-seed (postgres): COFFER_TEST_PG_DSN is not set (CI runs eval \"\$(scripts/pg-test-server.sh start)\" first)" >>"$results"
    else
      skip "backup-seed (postgres): COFFER_TEST_PG_DSN is not set (eval \"\$(scripts/pg-test-server.sh start)\")"
    fi
    continue
  fi
  start_server "seed-$engine" "$tmp/seed-$engine-data" || continue
  seed_pid=$server_pid
  COFFER_AWS_CLI=$seed_aws timeout 300 "$here/backup_seed.sh" "$bin" "$server_url" \
    "$tmp/seed-$engine-data/root-credentials" "$tmp/seed-$engine" "$tmp/seed-$engine-data" "$engine"
  suite_done "backup-seed ($engine)" $? "backup-seed ($engine"
  stop_server "seed-$engine" "$seed_pid"
done

# ---- restart on the same data directory ----------------------------------------------------------
echo
echo "== restart"
restart_python=${first_python:-}
if [[ -n $restart_python ]]; then
  (cd "$here" && "$restart_python" restart_check.py prepare "$tmp/restart.json")
fi
stop_server main "$main_pid"
if start_server main-restarted "$data"; then
  restarted_pid=$server_pid
  if [[ -n $restart_python ]]; then
    (cd "$here" && COFFER_ENDPOINT=$server_url "$restart_python" restart_check.py verify "$tmp/restart.json")
  else
    skip "restart checks: no python3 with boto3"
  fi
  stop_server main-restarted "$restarted_pid"
fi
# SIGHUP (the terminal closed) stops it as cleanly (started with SIGHUP at its default).
[[ -n $clock_pid ]] && stop_server clock "$clock_pid" HUP

# A second SIGTERM while a request in flight holds the shutdown: coffer exits at once.
server_args=(--shutdown-timeout-seconds 60)
if start_server twice "$tmp/twice-data"; then
  twice_pid=$server_pid
  exec {held}<>"/dev/tcp/127.0.0.1/${server_url##*:}"
  printf 'POST / HTTP/1.1\r\nHost: x\r\n' >&"$held" # a head begun: a request in flight
  sleep 0.5
  kill -TERM "$twice_pid"
  sleep 1
  if kill -0 "$twice_pid" 2>/dev/null; then
    ok "twice: the first SIGTERM waits for the request in flight"
    kill -TERM "$twice_pid"
    if ! reap_within "$twice_pid" 5; then
      not_ok "twice: a second SIGTERM makes it exit at once"
    else
      twice_rc=$REAPED_RC
      if [[ $twice_rc -eq 1 ]] && grep -q "received SIGTERM again; exiting now" "$tmp/twice.err"; then
        ok "twice: a second SIGTERM makes it exit at once (status 1, said in the log)"
      else
        not_ok "twice: a second SIGTERM makes it exit at once (status 1, said in the log)" \
          "exit status $twice_rc" "stderr: $(tail -c 2000 "$tmp/twice.err")"
      fi
    fi
  else
    wait "$twice_pid" 2>/dev/null
    not_ok "twice: the first SIGTERM waits for the request in flight" "stderr: $(tail -c 2000 "$tmp/twice.err")"
  fi
  exec {held}>&-
fi
server_args=()

# ---- SIGKILL under concurrent load ---------------------------------------------------------------
# Every call answered before the kill must have its record (issue: a call is answered only once
# its record is durable); the journal must verify offline afterwards (a torn tail is allowed).
echo
echo "== SIGKILL under load"
if [[ -n ${first_python:-} ]]; then
  kill_data=$tmp/kill-data
  if start_server killed "$kill_data"; then
    killed_pid=$server_pid
    (cd "$here" && COFFER_ENDPOINT=$server_url COFFER_ROOT_CREDENTIALS=$kill_data/root-credentials \
      "$first_python" kill_check.py load "$tmp/kill.json" "$killed_pid")
    wait "$killed_pid" 2>/dev/null
    kill_rc=$?
    if [[ $kill_rc -eq 137 ]]; then ok "killed: the server died of SIGKILL"; else not_ok "killed: the server died of SIGKILL" "exit status $kill_rc"; fi
    if verify_out=$("$bin" audit verify --data-dir "$kill_data" 2>&1); then
      ok "killed: coffer audit verify accepts the journal left by SIGKILL"
    else
      not_ok "killed: coffer audit verify accepts the journal left by SIGKILL" "$verify_out"
    fi
    if start_server killed-restarted "$kill_data"; then
      (cd "$here" && COFFER_ENDPOINT=$server_url COFFER_ROOT_CREDENTIALS=$kill_data/root-credentials \
        "$first_python" kill_check.py verify "$tmp/kill.json")
      stop_server killed-restarted "$server_pid"
    fi
  fi
else
  skip "SIGKILL under load: no python3 with boto3"
fi

# ---- a damaged journal: every call is refused, and /health says so ----------------------------
# Load balancers ask /health: a server that refuses every call while its journal is damaged
# must not answer it 200.
echo
echo "== a damaged audit journal: calls and /health answer 503"
damaged_data=$tmp/damaged
if start_server damaged "$damaged_data"; then
  for _ in 1 2 3; do
    AWS_SHARED_CREDENTIALS_FILE=$damaged_data/root-credentials aws --endpoint-url "$server_url" \
      --region us-east-1 kms list-keys >/dev/null 2>&1
  done
  stop_server damaged "$server_pid"
  # A byte of the first record's payload (after the 24-byte segment header and the 52-byte
  # record header), with records after it: damage, not a torn tail.
  python3 - "$(ls "$damaged_data"/audit/*.journal | head -1)" <<'EOF'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(24 + 52 + 10)
    b = f.read(1)
    f.seek(24 + 52 + 10)
    f.write(bytes([b[0] ^ 0xFF]))
EOF
  "$bin" server --data-dir "$damaged_data" --listen 127.0.0.1:0 "${server_args[@]}" \
    >"$tmp/damaged-restarted.out" 2>"$tmp/damaged-restarted.err" &
  damaged_pid=$!
  server_pids+=("$damaged_pid")
  damaged_url=
  for _ in $(seq 300); do
    damaged_url=$(sed -n 's|^coffer listening on \(http://[^ ]*\).*$|\1|p' "$tmp/damaged-restarted.out")
    [[ -n $damaged_url ]] && break
    kill -0 "$damaged_pid" 2>/dev/null || break
    sleep 0.1
  done
  health=$(python3 - "$damaged_url/health" 2>&1 <<'EOF'
import sys, urllib.request, urllib.error
try:
    r = urllib.request.urlopen(sys.argv[1], timeout=5)
    print(r.status, r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode())
EOF
)
  if [[ $health == '503 {"status":"unavailable"}' ]]; then ok "damaged: GET /health answers 503 unavailable"
  else not_ok "damaged: GET /health answers 503 unavailable" "got: $health" "$(tail -c 1000 "$tmp/damaged-restarted.err")"; fi
  out=$(AWS_MAX_ATTEMPTS=1 AWS_SHARED_CREDENTIALS_FILE=$damaged_data/root-credentials aws \
    --endpoint-url "$damaged_url" --region us-east-1 kms list-keys 2>&1)
  if [[ $out == *ServiceUnavailable* ]]; then ok "damaged: a call is refused (ServiceUnavailable)"
  else not_ok "damaged: a call is refused (ServiceUnavailable)" "$out"; fi
  kill -TERM "$damaged_pid"
  if reap_within "$damaged_pid" 15; then ok "damaged: SIGTERM stops the server"
  else not_ok "damaged: SIGTERM stops the server within 15 s"; fi
fi

# ---- a new digest chain after signed records were moved out -----------------------------------
# The documented recovery of a damaged journal moves segments out; the digest signer then refuses
# (services_test) until a start with --restart-digest-chain, whose new chain `coffer audit verify`
# accepts while naming the records the old chain signed and the journal no longer holds. The
# first server (started before the suites, as a digest takes a period of at least 60 s) signed
# one call.
echo
echo "== a new digest chain after signed records were moved out"
if [[ -n $chain_pid ]]; then
  wait_for_line "chain-signed: a digest signs the call" "$tmp/chain-signed.err" \
    'audit digest .*: [1-9][0-9]* records' 90
  stop_server chain-signed "$chain_pid"
  mkdir -p "$tmp/chain-moved"
  mv "$chain_data"/audit/*.journal "$tmp/chain-moved/"
  server_args=(--restart-digest-chain)
  if start_server chain-restarted "$chain_data"; then
    wait_for_line "chain-restarted: the first digest of a new chain is written at start" \
      "$tmp/chain-restarted.err" 'audit digest .* starts a new chain: 0 records (after record 0' 30
    stop_server chain-restarted "$server_pid"
  fi
  server_args=()
  # Exit status 3: the digests verify, but records they signed are gone.
  verify_out=$("$bin" audit verify --data-dir "$chain_data" 2>&1)
  verify_rc=$?
  if [[ $verify_rc -eq 3 ]] &&
    grep -q "new chain from digest .*, after record 0: records 1 to [1-9][0-9]*, signed by the chain before it, are no longer in the journal as signed" <<<"$verify_out" &&
    grep -q "^LOST: [1-9][0-9]* signed records\? \(is\|are\) no longer in the journal as signed" <<<"$verify_out"; then
    ok "chain: coffer audit verify checks the new chain and reports the lost records (exit 3)"
  else
    not_ok "chain: coffer audit verify checks the new chain and reports the lost records (exit 3)" \
      "exit status $verify_rc" "$verify_out"
  fi
fi

# ---- SIGKILL during a backup and a restore ---------------------------------------------------------
# Three servers, one after the other, on one data directory: the first is killed in the middle
# of a backup, the second (after checking what the first left) in the middle of a restore, the
# third checks that and stops cleanly.
echo
echo "== SIGKILL during a backup and a restore (backup_kill.sh)"
if [[ -n ${cli_v2:-$cli_v1} ]]; then
  bkill_data=$tmp/bkill-data
  for phase in backup restore verify; do
    start_server "bkill-$phase" "$bkill_data" || break
    bkill_pid=$server_pid
    COFFER_AWS_CLI=${cli_v2:-$cli_v1} timeout 300 "$here/backup_kill.sh" "$bin" "$server_url" \
      "$bkill_data/root-credentials" "$tmp/bkill" "$bkill_data" "$phase" "$bkill_pid"
    suite_done "backup-kill ($phase)" $? "backup-kill ($phase"
    if [[ $phase == verify ]]; then
      stop_server "bkill-$phase" "$bkill_pid"
    elif kill -0 "$bkill_pid" 2>/dev/null; then
      # The phase did not get to its kill (it reported why): the later phases would mean nothing.
      kill -KILL "$bkill_pid"
      wait "$bkill_pid" 2>/dev/null
      break
    else
      wait "$bkill_pid" 2>/dev/null
      kill_rc=$?
      if [[ $kill_rc -eq 137 ]]; then ok "bkill-$phase: the server died of SIGKILL"
      else not_ok "bkill-$phase: the server died of SIGKILL" "exit status $kill_rc" "stderr: $(tail -c 2000 "$tmp/bkill-$phase.err")"; fi
    fi
  done
else
  skip "SIGKILL during a backup and a restore: no aws CLI (Debian: awscli)"
fi

# ---- summary ---------------------------------------------------------------------------------------
echo
echo "== summary ($((SECONDS - start_time)) s)"
total_passed=$own_passed total_failed=$own_failed total_skipped=${#skips[@]}
echo "run.sh (server start, /health, root-credentials, SIGTERM): $own_passed passed, $own_failed failed"
while read -r p f s line; do
  echo "$line"
  total_passed=$((total_passed + p)) total_failed=$((total_failed + f)) total_skipped=$((total_skipped + s))
done <"$results"
for s in "${skips[@]}"; do echo "SKIP $s"; done
echo "interop: $total_passed passed, $total_failed failed, $total_skipped skipped"
[[ $total_failed -eq 0 && $total_passed -gt 0 ]]
