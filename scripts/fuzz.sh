#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang (ASan + UBSan) in build-fuzz,
# through scripts/build.sh --fuzz (one build at a time on this machine), then runs a
# target, or each in turn, for SECONDS with its seed corpus (tests/fuzz/corpus/TARGET,
# read only) and a scratch corpus (build-fuzz/fuzz-corpus/TARGET, where new inputs go),
# and prints one summary line per target. Inputs that crash, leak or time out are saved
# in build-fuzz/fuzz-artifacts/TARGET/; the full log is build-fuzz/fuzz-logs/TARGET.log.
# Usage: scripts/fuzz.sh [TARGET|all] [SECONDS] [libFuzzer flags…]   (default: all 60)
# Exit status: 1 when a target had findings.
set -euo pipefail
cd "$(dirname "$0")/.."

all_targets=(sigv4_header_fuzz sigv4_query_fuzz policy_fuzz ciphertext_blob_fuzz kms_json_fuzz
  backup_stream_fuzz s3_xml_fuzz tsql_fuzz backup_json_fuzz sqlite_differential_fuzz)
target=${1:-all}
seconds=${2:-60}
shift $(($# < 2 ? $# : 2))
if [[ $target == all ]]; then
  targets=("${all_targets[@]}")
elif [[ " ${all_targets[*]} " == *" $target "* ]]; then
  targets=("$target")
else
  echo "fuzz.sh: unknown target '$target' (one of: ${all_targets[*]}, all)" >&2
  exit 2
fi

scripts/build.sh --fuzz --target "${targets[@]}"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
status=0
for t in "${targets[@]}"; do
  out=build-fuzz/fuzz-corpus/$t
  artifacts=build-fuzz/fuzz-artifacts/$t
  log=build-fuzz/fuzz-logs/$t.log
  mkdir -p "$out" "$artifacts" "$(dirname "$log")"
  marker=$(mktemp)
  flags=(-max_total_time="$seconds" -timeout=10 -print_final_stats=1
    -artifact_prefix="$artifacts/")
  [[ -f tests/fuzz/$t.dict ]] && flags+=(-dict="tests/fuzz/$t.dict")
  start=$(date +%s)
  set +e
  "build-fuzz/tests/fuzz/$t" "${flags[@]}" "$@" "$out" "tests/fuzz/corpus/$t" >"$log" 2>&1
  rc=$?
  set -e
  elapsed=$(($(date +%s) - start))
  # The last status line: "#N DONE cov: C ft: F corp: U/S lim: … exec/s: E rss: R".
  last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
  execs=$(grep -oE 'stat::number_of_executed_units: [0-9]+' "$log" | tail -n 1 |
    grep -oE '[0-9]+$' || sed -E 's/^#([0-9]+).*/\1/' <<<"$last")
  cov=$(grep -oE 'cov: [0-9]+' <<<"$last" | grep -oE '[0-9]+' || echo '?')
  ft=$(grep -oE 'ft: [0-9]+' <<<"$last" | grep -oE '[0-9]+' || echo '?')
  corp=$(grep -oE 'corp: [0-9]+/[0-9a-zA-Z]+' <<<"$last" | sed 's/corp: //' || echo '?')
  new_inputs=$(find "$out" -type f -newer "$marker" | wc -l)
  found=$(find "$artifacts" -type f -newer "$marker")
  findings=$(grep -c . <<<"$found" || true)
  rm -f "$marker"
  if ((rc != 0 && findings == 0)); then findings=1; fi  # e.g. a crash in initialisation
  echo "fuzz: $t ${elapsed}s execs=${execs:-?} cov=$cov ft=$ft corpus=$corp" \
    "new-inputs=$new_inputs findings=$findings (log: $log)"
  if ((findings > 0)); then
    status=1
    grep -E '^(==[0-9]+==ERROR|SUMMARY|.*fuzz property failed)' "$log" | head -n 5 || true
    head -n 5 <<<"$found"
  fi
done
exit $status
