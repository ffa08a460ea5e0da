# Sourced by the interop suites: counting and reporting checks, finding the aws CLI, and
# running a client. The suite sets `suite` (its name as run.sh reports it) before finish,
# and `aws`, `bin` (the coffer binary), `endpoint` and `work` before awsc/cof.
# shellcheck shell=bash
interop_dir=$(cd "$(dirname "$0")" && pwd)  # the suites' own directory, whatever the cwd
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok - $1"; }
# not_ok WHAT [DETAIL…]: each detail (stderr, stdout…) indented, at most 3000 bytes.
not_ok() {
  failed=$((failed + 1)); echo "not ok - $1"
  shift; for line in "$@"; do printf '%s\n' "$line" | head -c 3000 | sed 's/^/    /'; echo; done
}
# finish [SKIPPED]: prints the suite's line, appends "P F S line" to $COFFER_INTEROP_RESULTS,
# exits 1 when a check failed.
finish() {
  local line="$suite: $passed passed, $failed failed"
  echo "$line"
  [[ -n ${COFFER_INTEROP_RESULTS:-} ]] && echo "$passed $failed ${1:-0} $line" >>"$COFFER_INTEROP_RESULTS"
  exit $((failed > 0))
}
# The aws CLI to use: $COFFER_AWS_CLI, else Debian's, else the first on PATH ("" when none).
find_aws() {
  local a=${COFFER_AWS_CLI:-}
  [[ -z $a && -x /usr/bin/aws ]] && a=/usr/bin/aws
  [[ -z $a ]] && a=$(command -v aws || true)
  echo "$a"
}
# awsc ARGS…: the aws CLI against coffer; stdout in $OUT, stderr in $ERR, status in $RC.
awsc() {
  OUT=$("$aws" --endpoint-url "$endpoint" --output json "$@" 2>"$work/aws.err")
  RC=$?
  ERR=$(cat "$work/aws.err")
}
# cof ARGS…: the coffer client against the server (same variables).
cof() {
  OUT=$("$bin" "$@" --endpoint-url "$endpoint" 2>"$work/coffer.err")
  RC=$?
  ERR=$(cat "$work/coffer.err")
}
# clean_aws_env CREDENTIALS_FILE: no AWS_* variable or configuration of the user; the
# given credentials file (the server's root key), us-east-1, no pager; no COFFER_ENDPOINT_URL.
clean_aws_env() {
  local v
  for v in $(env | sed -n 's/^\(AWS_[A-Z0-9_]*\)=.*/\1/p'); do unset "$v"; done
  : >"$work/aws-config"
  export AWS_CONFIG_FILE=$work/aws-config AWS_SHARED_CREDENTIALS_FILE=$1
  export AWS_DEFAULT_REGION=us-east-1 AWS_PAGER="" AWS_EC2_METADATA_DISABLED=true
  unset COFFER_ENDPOINT_URL
}
