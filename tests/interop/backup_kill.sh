#!/usr/bin/env bash
# coffer interop: SIGKILL of the server in the middle of a backup and of a restore (sqlite).
# docs/api.md: "a task that was running when the server stopped (or was killed) ends in ERROR
# with a line saying so at the next start"; "Objects appear only once complete"; "after any
# failure no database of the target name exists". The server is killed while bytes are
# flowing (a backup's upload, a restore's temporary database, each past 32 MiB), restarted
# on the same data directory, and what it left is checked.
#
# run.sh drives three phases, one server each, on one data directory:
#   backup   a fresh server: role, key (coffer kms create-key --user ROLE), bucket, instance, a
#            sqlite database of COFFER_KILL_DB_MIB MiB (default 384) of random blobs plus
#            customers; a complete backup big.bak; then a backup to killed.bak, and SIGKILL
#            of SERVER_PID while that task is IN_PROGRESS and its upload under way.
#   restore  the restarted server: the killed backup reads ERROR with the "interrupted" line,
#            its audit record too; no killed.bak (no object); the restart removed the temporary
#            files the backup left (its task_info says so) and none is left, in the instance
#            directory (snapshot, manifest) or the bucket (partial upload); the source database
#            and big.bak unchanged; then a restore of big.bak into bigcopy, and SIGKILL while it
#            writes.
#   verify   the restarted server: the killed restore reads ERROR, interrupted; no bigcopy (in
#            any case); the restart removed its temporary files and none is left; a restore from
#            killed.bak fails cleanly (NoSuchKey); bigcopy can then be restored, with every row
#            of the source.
#
# Usage: backup_kill.sh COFFER_BIN ENDPOINT ROOT_CREDENTIALS WORK_DIR DATA_DIR PHASE [SERVER_PID]
# WORK_DIR must be the same for the three phases (it keeps their state). Prints "ok - …" /
# "not ok - …"; appends "P F S backup-kill (PHASE): …" to $COFFER_INTEROP_RESULTS.
# shellcheck disable=SC2154  # backup_task, source_sum, restore_task… come from the state file
set -uo pipefail
bin=${1:?usage: backup_kill.sh COFFER_BIN ENDPOINT ROOT_CREDENTIALS WORK_DIR DATA_DIR PHASE [SERVER_PID]}
endpoint=${2:?} creds=${3:?} work=${4:?} data=${5:?} phase=${6:?} server_pid=${7:-}
[[ $bin == /* ]] || bin=$PWD/$bin
# shellcheck source=suite.sh
source "$(dirname "$0")/suite.sh"
suite="backup-kill ($phase: SIGKILL of the server during a backup/restore, sqlite)"
aws=$(find_aws)
[[ -n $aws ]] || { not_ok "the aws CLI is not installed (Debian: awscli)"; finish; }

mkdir -p "$work"
clean_aws_env "$creds"

state=$work/state
role=rdskillrole bucket=rdskilltest instance=killinstance db=bigdb
inst_dir=$work/instance
bucket_dir=$data/buckets/$bucket
s3=arn:aws:s3:::$bucket
mib=${COFFER_KILL_DB_MIB:-384}
threshold=$((32 << 20))

# task ID: sets LC, PCT, INFO of the task.
task() {
  local json
  json=$("$bin" task-status --endpoint-url "$endpoint" --instance "$instance" --task-id "$1" 2>&1)
  LC=$(jq -r '.Tasks[0].Lifecycle // ""' <<<"$json" 2>/dev/null)
  PCT=$(jq -r '.Tasks[0].PercentComplete // ""' <<<"$json" 2>/dev/null)
  INFO=$(jq -r '.Tasks[0].TaskInfo // ""' <<<"$json" 2>/dev/null)
  [[ -n $LC ]] || INFO=$json
}
# checksum PATH: "table rows digest" per table, and quick_check.
checksum() { python3 "$interop_dir/sqlite_digest.py" "$1" quick_check; }
# largest FIND-ARGS…: the size of the largest file find DIR … prints (0 when none).
largest() { find "$@" -type f -printf '%s\n' 2>/dev/null | sort -n | tail -1 | grep . || echo 0; }
# kill_during ID DESC DIR FIND-ARGS…: waits for the task to be IN_PROGRESS, then watches the
# files alone (a few ms per look) and SIGKILLs the server as soon as one reaches $threshold
# bytes: far from the end of the task, which the next phase confirms (ERROR, interrupted,
# not SUCCESS).
kill_during() {
  local id=$1 desc=$2 dir=$3
  shift 3
  local deadline=$((SECONDS + 120)) size=0 n=0
  while ((SECONDS < deadline)); do
    task "$id"
    [[ $LC == IN_PROGRESS ]] && break
    if [[ $LC != CREATED ]]; then
      not_ok "$desc: SIGKILL while the task is IN_PROGRESS" "the task ended ($LC) first" "$INFO"
      return 1
    fi
    sleep 0.02
  done
  while ((SECONDS < deadline)); do
    size=$(largest "$dir" "$@")
    if ((size >= threshold)); then
      kill -KILL "$server_pid"
      local _
      for _ in $(seq 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.05; done
      if kill -0 "$server_pid" 2>/dev/null; then
        not_ok "$desc: the server is gone after SIGKILL"
        return 1
      fi
      ok "$desc: SIGKILL of the server while task $id was IN_PROGRESS ($PCT % complete), $((size >> 20)) MiB written"
      return 0
    fi
    if ((++n % 50 == 0)); then
      task "$id"
      if [[ $LC != IN_PROGRESS ]]; then
        not_ok "$desc: SIGKILL while the task is IN_PROGRESS" \
          "the task ended ($LC) before a file of ${threshold} bytes was seen; make COFFER_KILL_DB_MIB larger" "$INFO"
        return 1
      fi
    fi
    sleep 0.005
  done
  not_ok "$desc: SIGKILL while the task is IN_PROGRESS" "timed out: lifecycle $LC, largest file $size bytes"
  return 1
}
# interrupted DESC ID: the task reads ERROR, its reason (the line after "Task has been aborted",
# the last) saying it was interrupted.
interrupted() {
  task "$2"
  local reason
  reason=$(grep -F "Task has been aborted" <<<"$INFO" | sed 's/.*Task has been aborted[^]]*\] *//')
  if [[ $LC == ERROR ]] && grep -qi "interrupted" <<<"$reason"; then
    ok "$1: task $2 reads ERROR, '$reason'"
  else
    not_ok "$1: task $2 reads ERROR with a line saying it was interrupted" "lifecycle $LC" "$INFO"
  fi
}
# Temporary files, and their sizes: every file of the instance directory that is the engine's
# own (a name starting with '.') but the base manifests of $db, which a backup keeps (the sqlite
# engine's temporary files, their -journal/-wal/-shm, manifests being written, restores'
# files); every name starting with '.' in the bucket (uploads being written) and any directory
# left empty. None may be left: the task_info of a killed task says it left nothing behind.
leftovers() {
  (cd "$inst_dir" && find . -mindepth 1 -maxdepth 1 -name '.*' ! -name ".$db.base" ! -name ".$db.base.pending" \
    -printf 'INSTANCE_DIR/%f %s bytes\n')
  (cd "$bucket_dir" && find . -mindepth 1 \( -name '.*' -o -type d -empty \) -printf "DATA_DIR/buckets/$bucket/%P %s bytes\n")
}
# cleaned DESC: the task last looked at (task) says the restart removed its temporary files.
cleaned() {
  local line
  line=$(grep -o 'Removed [0-9]* temporary files\{0,1\} left by [^.]*\.' <<<"$INFO" | head -1)
  if [[ -n $line ]]; then ok "$1: the restart removed what it left: '$line'"
  else not_ok "$1: its task_info says the restart removed the temporary files it left" "$INFO"; fi
}
audit_interrupted() { # DESC ID: BackupRestoreTaskEnded of the task carries TaskFailed, "interrupted"
  awsc cloudtrail lookup-events --lookup-attributes AttributeKey=EventName,AttributeValue=BackupRestoreTaskEnded
  if [[ $RC -eq 0 ]] && jq -e --argjson id "$2" '[.Events[].CloudTrailEvent | fromjson
       | select(.requestParameters.taskId == $id)] | length == 1 and (.[0].errorCode == "TaskFailed")
       and (.[0].errorMessage | test("interrupted"))' <<<"$OUT" >/dev/null 2>&1; then
    ok "$1: one BackupRestoreTaskEnded record for task $2, errorCode TaskFailed, 'interrupted' (aws cloudtrail lookup-events)"
  else
    not_ok "$1: the BackupRestoreTaskEnded record of task $2" "$ERR" \
      "$(jq -c --argjson id "$2" '[.Events[].CloudTrailEvent | fromjson | select(.requestParameters.taskId == $id) | {errorCode, errorMessage}]' <<<"$OUT" 2>&1)"
  fi
}

case $phase in
backup)
  echo "== backup-kill: set-up, then SIGKILL during a backup ($endpoint)"
  [[ -n $server_pid ]] || { echo "backup_kill.sh backup needs SERVER_PID" >&2; exit 2; }
  rm -rf "$inst_dir" "$state"
  mkdir -p "$inst_dir"
  awsc sts get-caller-identity
  acct=$(jq -r .Account <<<"$OUT" 2>/dev/null)
  role_arn=arn:aws:iam::$acct:role/$role
  awsc iam create-role --role-name "$role" --assume-role-policy-document \
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"rds.amazonaws.com"},"Action":"sts:AssumeRole"}]}'
  r1=$RC e1=$ERR
  awsc iam put-role-policy --role-name "$role" --policy-name s3 --policy-document "{\"Version\":\"2012-10-17\",\"Statement\":[
    {\"Effect\":\"Allow\",\"Action\":[\"s3:ListBucket\",\"s3:GetBucketLocation\"],\"Resource\":\"$s3\"},
    {\"Effect\":\"Allow\",\"Action\":[\"s3:GetObject\",\"s3:PutObject\",\"s3:ListMultipartUploadParts\",\"s3:AbortMultipartUpload\"],\"Resource\":\"$s3/*\"}]}"
  r2=$RC e2=$ERR
  cof kms create-key --description "backup-kill" --user "$role_arn" --yes
  key=$(jq -r .KeyMetadata.Arn <<<"$OUT" 2>/dev/null)
  r3=$RC e3=$ERR
  out=$("$bin" s3 mb "s3://$bucket" --data-dir "$data" 2>&1)
  r4=$?
  cof instance create "$instance" --engine sqlite --path "$inst_dir" --role-arn "$role_arn"
  r5=$RC e5=$ERR
  if ((r1 + r2 + r3 + r4 + r5 == 0)); then ok "set-up: role $role, its S3 policy, a key it may use, bucket $bucket, instance $instance"
  else not_ok "set-up" "$e1" "$e2" "$e3" "$out" "$e5"; finish; fi
  t0=$SECONDS
  gen=$(python3 - "$inst_dir/$db.db" "$mib" <<'PY' 2>&1
import os, sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("pragma journal_mode = off")
c.execute("pragma synchronous = off")
c.execute("create table customers (id integer primary key, name text, card_number text)")
c.executemany("insert into customers values (?,?,?)", ((i, f"Customer {i}", f"5{i * 7919:015d}") for i in range(1, 2001)))
c.execute("create table blobs (id integer primary key, data blob)")
c.executemany("insert into blobs (data) values (?)", ((os.urandom(1 << 20),) for _ in range(int(sys.argv[2]))))
c.commit()
PY
)
  size=$(stat -c %s "$inst_dir/$db.db" 2>/dev/null || echo 0)
  if ((size >= mib << 20)); then ok "database $db: $((size >> 20)) MiB of random blobs and 2000 customers ($((SECONDS - t0)) s)"
  else not_ok "database $db generated" "$gen"; finish; fi
  sum=$(checksum "$inst_dir/$db.db" 2>&1)
  t0=$SECONDS
  out=$("$bin" backup-database --endpoint-url "$endpoint" --instance "$instance" --source-db-name "$db" \
    --s3-arn "$s3/big.bak" --kms-key-arn "$key" --wait 2>&1)
  if [[ $? -eq 0 ]]; then ok "a complete backup big.bak ($((SECONDS - t0)) s)"
  else not_ok "backup to big.bak" "$out"; finish; fi
  big_stat=$(stat -c '%s %Y %i' "$bucket_dir/big.bak%o" 2>&1)
  cof backup-database --instance "$instance" --source-db-name "$db" --s3-arn "$s3/killed.bak" --kms-key-arn "$key"
  id=$(jq -r .Task.TaskId <<<"$OUT" 2>/dev/null)
  if [[ $RC -ne 0 || -z $id ]]; then not_ok "backup-database to killed.bak" "$ERR" "$OUT"; finish; fi
  kill_during "$id" "backup to killed.bak" "$bucket_dir" -name '.tmp-*'
  {
    printf 'key=%q\nbackup_task=%q\n' "$key" "$id"
    printf 'source_sum=%q\nbig_stat=%q\n' "$sum" "$big_stat"
  } >"$state"
  finish
  ;;

restore)
  echo "== backup-kill: after the restart, the killed backup; then SIGKILL during a restore ($endpoint)"
  [[ -n $server_pid && -f $state ]] || { echo "backup_kill.sh restore needs SERVER_PID and the backup phase's state" >&2; exit 2; }
  # shellcheck disable=SC1090
  source "$state"
  interrupted "the killed backup" "$backup_task"
  cleaned "the killed backup"
  audit_interrupted "the killed backup" "$backup_task"
  listing=$("$bin" s3 ls "s3://$bucket/" --data-dir "$data" 2>&1)
  got=$("$bin" s3 cp "s3://$bucket/killed.bak" "$work/killed.out" --data-dir "$data" 2>&1)
  if [[ $listing != *killed.bak* && $got == *NoSuchKey* && ! -e "$bucket_dir/killed.bak%o" ]]; then
    ok "no object killed.bak (coffer s3 ls, coffer s3 cp: NoSuchKey)"
  else not_ok "no object killed.bak" "$listing" "$got"; fi
  left=$(leftovers)
  if [[ -z $left ]]; then ok "the killed backup left no temporary file: none in the instance directory (snapshot, manifest), none in the bucket (partial upload)"
  else not_ok "the killed backup left nothing behind (its task_info says so)" "$left"; fi
  now=$(checksum "$inst_dir/$db.db" 2>&1)
  if [[ $now == "$source_sum" && $now == *"quick_check ok"* ]]; then ok "the source database $db is intact (same rows, quick_check ok)"
  else not_ok "the source database $db is intact" "before: $source_sum" "after: $now"; fi
  if [[ $(stat -c '%s %Y %i' "$bucket_dir/big.bak%o" 2>&1) == "$big_stat" ]]; then ok "big.bak, complete before, is untouched"
  else not_ok "big.bak is untouched" "before: $big_stat" "after: $(stat -c '%s %Y %i' "$bucket_dir/big.bak%o" 2>&1)"; fi
  cof restore-database --instance "$instance" --restore-db-name bigcopy --s3-arn "$s3/big.bak" --kms-key-arn "$key"
  id=$(jq -r .Task.TaskId <<<"$OUT" 2>/dev/null)
  if [[ $RC -ne 0 || -z $id ]]; then not_ok "restore-database of big.bak" "$ERR" "$OUT"; finish; fi
  kill_during "$id" "restore of big.bak into bigcopy" "$inst_dir" -maxdepth 1 -name '.restore-*'
  printf 'restore_task=%q\n' "$id" >>"$state"
  finish
  ;;

verify)
  echo "== backup-kill: after the second restart, the killed restore ($endpoint)"
  [[ -f $state ]] || { echo "backup_kill.sh verify needs the earlier phases' state" >&2; exit 2; }
  # shellcheck disable=SC1090
  source "$state"
  interrupted "the killed restore" "$restore_task"
  cleaned "the killed restore"
  audit_interrupted "the killed restore" "$restore_task"
  found=$(cd "$inst_dir" && find . -maxdepth 1 \( -iname 'bigcopy.db' -o -iname 'bigcopy.db-*' -o -iname '.bigcopy.*' \) -printf '%f\n')
  if [[ -z $found ]]; then ok "no database bigcopy (no bigcopy.db in any case, no .bigcopy.*)"
  else not_ok "no database bigcopy after the killed restore" "$found"; fi
  left=$(leftovers)
  if [[ -z $left ]]; then ok "the killed restore left no temporary file in the instance directory or the bucket"
  else not_ok "the killed restore left nothing behind (its task_info says so)" "$left"; fi
  out=$("$bin" restore-database --endpoint-url "$endpoint" --instance "$instance" --restore-db-name killedcopy \
    --s3-arn "$s3/killed.bak" --kms-key-arn "$key" --wait --output json 2>"$work/err")
  rc=$?
  task "$(jq -r .Task.TaskId <<<"$out" 2>/dev/null || echo 0)"
  if [[ $rc -eq 1 && $LC == ERROR ]] && grep -Eqi 'does not exist|NoSuchKey|not found' <<<"$INFO" &&
     [[ -z $(cd "$inst_dir" && find . -maxdepth 1 -iname '*killedcopy*') ]]; then
    ok "a restore from killed.bak fails cleanly: ERROR '$(sed 's/.*Task has been aborted[^]]*\] *//' <<<"$INFO")', no database killedcopy"
  else not_ok "a restore from killed.bak fails cleanly" "exit $rc, $LC" "$INFO" "$(cat "$work/err")"; fi
  t0=$SECONDS
  out=$("$bin" restore-database --endpoint-url "$endpoint" --instance "$instance" --restore-db-name bigcopy \
    --s3-arn "$s3/big.bak" --kms-key-arn "$key" --wait 2>&1)
  rc=$?
  got=$(checksum "$inst_dir/bigcopy.db" 2>&1)
  if [[ $rc -eq 0 && $got == "$source_sum" ]]; then ok "bigcopy can be restored after all, with every row of $db ($((SECONDS - t0)) s)"
  else not_ok "a restore into bigcopy after the restart" "$out" "source: $source_sum" "bigcopy: $got"; fi
  rm -f "$inst_dir/bigcopy.db" "$inst_dir/$db.db" "$bucket_dir"/*.bak%o
  finish
  ;;
*) echo "backup_kill.sh: PHASE must be backup, restore or verify" >&2; exit 2 ;;
esac
