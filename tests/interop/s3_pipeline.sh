#!/usr/bin/env bash
# coffer interop: the backup pipeline into a real S3-compatible service. coffer encrypt
# writes a zstd-compressed, encrypted stream through the s3 backend (multipart) into a
# bucket configured in a TOML file that points at moto_server; the aws CLI, which we did
# not write, lists and downloads the object (an AWS Encryption SDK message); coffer
# decrypt reads it back from the bucket; coffer s3 ls/rm work on the configured bucket. A
# coffer server started with the same file runs a backup task into that bucket and a restore
# task from it.
#
# Usage: s3_pipeline.sh COFFER_BIN ENDPOINT ROOT_CREDENTIALS WORK_DIR
# Prints "ok - …" / "not ok - …"; appends "P F S s3-pipeline: …" to $COFFER_INTEROP_RESULTS.
set -uo pipefail
bin=$1 endpoint=$2 creds=$3 work=$4
mkdir -p "$work"
# shellcheck source=suite.sh
source "$(dirname "$0")/suite.sh"
suite="s3-pipeline (coffer encrypt/decrypt/s3 against moto_server, aws s3)"

moto=$(command -v moto_server || true)
if [[ -z $moto ]]; then
  if [[ -n ${CI:-} ]]; then not_ok "moto_server is not installed"; finish; fi
  echo "SKIP s3-pipeline: moto_server is not installed"
  finish 1
fi
aws=$(command -v aws || true)

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$moto" -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
moto_pid=$!
trap 'kill $moto_pid 2>/dev/null; wait $moto_pid 2>/dev/null' EXIT
s3=http://127.0.0.1:$port
# wait_http URL: until URL answers 2xx (at most 30 s).
wait_http() {
  python3 - "$1" <<'PY'
import sys, time, urllib.request
for _ in range(300):
    try:
        urllib.request.urlopen(sys.argv[1], timeout=1)
        break
    except OSError:
        time.sleep(0.1)
PY
}
wait_http "$s3/moto-api/"

cat >"$work/coffer.toml" <<TOML
[buckets.offsite]
type = "s3"
endpoint = "$s3"
region = "us-east-1"
bucket = "acme-offsite-backups"
access_key_id = "AKIAMOTOEXAMPLE"
secret_access_key = "moto-secret"
part_size_mib = 5
TOML
chmod 600 "$work/coffer.toml"
export AWS_SHARED_CREDENTIALS_FILE=$creds COFFER_ENDPOINT_URL=$endpoint
c=("$bin")
bucket_args=(--config "$work/coffer.toml" --data-dir "$work/data")
aws_moto() {
  AWS_ACCESS_KEY_ID=AKIAMOTOEXAMPLE AWS_SECRET_ACCESS_KEY=moto-secret AWS_SHARED_CREDENTIALS_FILE=/dev/null \
    "$aws" --endpoint-url "$s3" --region us-east-1 "$@"
}

if out=$("${c[@]}" s3 mb s3://offsite "${bucket_args[@]}" 2>&1) && [[ $out == "make_bucket: offsite" ]]; then
  ok "coffer s3 mb on a configured bucket creates it at the service (under its real name)"
else
  not_ok "coffer s3 mb s3://offsite" "$out"
fi

key=$("${c[@]}" kms create-key --yes --description "offsite backups" 2>/dev/null |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["KeyMetadata"]["Arn"])')
# 18 MiB: random bytes and text, so the compressed stream still takes several 5 MiB parts.
python3 - "$work/customers.db" <<'PY'
import os, random, sys
r = random.Random(7)
with open(sys.argv[1], "wb") as f:
    for i in range(6):
        f.write(os.urandom(2 << 20))
        f.write(("".join(f"{r.randrange(10**9)},customer-{i},{r.random():.6f}\n" for _ in range(20000))).encode())
PY
size=$(stat -c %s "$work/customers.db")

if out=$("${c[@]}" encrypt --key-id "$key" --compression zstd --encryption-context db=customers \
    --in "$work/customers.db" --out s3://offsite/backups/customers.bak "${bucket_args[@]}" 2>&1); then
  ok "coffer encrypt --out s3://offsite/… ($size bytes, zstd, multipart through the s3 backend)"
else
  not_ok "coffer encrypt to the configured bucket" "$out"
fi

if [[ -n $aws ]]; then
  listing=$(aws_moto s3 ls s3://acme-offsite-backups/backups/ 2>&1)
  if [[ $listing == *customers.bak* ]]; then
    ok "aws s3 ls sees the object at the service"
  else
    not_ok "aws s3 ls s3://acme-offsite-backups/backups/" "$listing"
  fi
  rm -f "$work/downloaded.bak"
  if aws_moto s3 cp s3://acme-offsite-backups/backups/customers.bak "$work/downloaded.bak" >/dev/null 2>&1 &&
     [[ $(head -c 3 "$work/downloaded.bak" | od -An -tx1 | tr -d ' \n') == 020478 ]]; then
    ok "aws s3 cp downloads it: an AWS Encryption SDK message (version 2, suite 0x0478)"
  else
    not_ok "aws s3 cp of the object" "$(head -c 16 "$work/downloaded.bak" 2>/dev/null | od -An -tx1)"
  fi
  if ! grep -qa "customer-3" "$work/downloaded.bak" 2>/dev/null; then
    ok "the stored object holds none of the database's text"
  else
    not_ok "the stored object holds plaintext"
  fi
else
  not_ok "the aws CLI is not installed"
fi

rm -f "$work/restored.db"
if out=$("${c[@]}" decrypt --in s3://offsite/backups/customers.bak --out "$work/restored.db" \
    --encryption-context db=customers "${bucket_args[@]}" 2>&1) && cmp -s "$work/customers.db" "$work/restored.db"; then
  ok "coffer decrypt --in s3://offsite/… gives the database back, byte for byte"
else
  not_ok "coffer decrypt from the configured bucket" "$out"
fi

listing=$("${c[@]}" s3 ls s3://offsite/backups/ "${bucket_args[@]}" 2>&1)
if [[ $listing =~ [0-9]{4}-[0-9]{2}-[0-9]{2}\ [0-9:]{8}\ +[0-9]+\ customers.bak ]]; then
  ok "coffer s3 ls lists it as aws s3 ls does"
else
  not_ok "coffer s3 ls s3://offsite/backups/" "$listing"
fi

rm -f "$work/missing.out"
if out=$("${c[@]}" decrypt --in s3://offsite/backups/nothing.bak --out "$work/missing.out" "${bucket_args[@]}" 2>&1); then
  not_ok "decrypt of a missing object succeeded" "$out"
elif [[ $out == *NoSuchKey* && ! -e $work/missing.out ]]; then
  ok "a missing object: NoSuchKey, and no output file"
else
  not_ok "decrypt of a missing object" "$out"
fi

if "${c[@]}" s3 rm s3://offsite/backups/customers.bak "${bucket_args[@]}" >/dev/null 2>&1 &&
   [[ -z $("${c[@]}" s3 ls s3://offsite/backups/ "${bucket_args[@]}" 2>/dev/null) ]]; then
  ok "coffer s3 rm removes it"
else
  not_ok "coffer s3 rm"
fi

# ---- a server started with the same file: its backup tasks use the configured bucket ----------
server_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
server_url=http://127.0.0.1:$server_port
"$bin" server --config "$work/coffer.toml" --data-dir "$work/server" --listen "127.0.0.1:$server_port" \
  >"$work/server.log" 2>&1 &
server_pid=$!
trap 'kill $moto_pid $server_pid 2>/dev/null; wait $moto_pid $server_pid 2>/dev/null' EXIT
wait_http "$server_url/health"
srv=(env AWS_SHARED_CREDENTIALS_FILE="$work/server/root-credentials" COFFER_ENDPOINT_URL="$server_url")
trust='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"rds.amazonaws.com"},"Action":"sts:AssumeRole"}]}'
s3_policy='{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Action":["s3:ListBucket","s3:GetBucketLocation"],"Resource":"arn:aws:s3:::offsite"},
 {"Effect":"Allow","Action":["s3:GetObject","s3:PutObject","s3:ListMultipartUploadParts","s3:AbortMultipartUpload"],"Resource":"arn:aws:s3:::offsite/*"}]}'
role_arn=$("${srv[@]}" "$aws" --endpoint-url "$server_url" --region us-east-1 iam create-role --role-name offsite-backup \
  --assume-role-policy-document "$trust" --query Role.Arn --output text 2>"$work/setup.err")
"${srv[@]}" "$aws" --endpoint-url "$server_url" --region us-east-1 iam put-role-policy --role-name offsite-backup \
  --policy-name s3 --policy-document "$s3_policy" 2>>"$work/setup.err"
server_key=$("${srv[@]}" "$bin" kms create-key --yes --description "offsite backups" --user "$role_arn" 2>>"$work/setup.err" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["KeyMetadata"]["Arn"])' 2>>"$work/setup.err")
mkdir -p "$work/instance"
python3 - "$work/instance/shop.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("create table orders (id integer primary key, customer text, total real)")
db.executemany("insert into orders values (?, ?, ?)", [(i, f"customer-{i}", i * 1.25) for i in range(5000)])
db.commit()
PY
"${srv[@]}" "$bin" instance create shop --engine sqlite --path "$work/instance" --role-arn "$role_arn" \
  >/dev/null 2>>"$work/setup.err"
if out=$("${srv[@]}" "$bin" sql --instance shop --wait "exec msdb.dbo.rds_backup_database @source_db_name='shop', @s3_arn_to_backup_to='arn:aws:s3:::offsite/tasks/shop.bak', @kms_master_key_arn='$server_key'" 2>&1); then
  ok "coffer server --config: a backup task into the configured bucket ends SUCCESS"
else
  not_ok "coffer server --config: backup task into s3://offsite" "$out" "$(cat "$work/setup.err")"
fi
listing=$(aws_moto s3 ls s3://acme-offsite-backups/tasks/ 2>&1)
if [[ $listing == *shop.bak* && ! -e $work/server/buckets/offsite ]]; then
  ok "the task's backup is at the S3-compatible service, and nothing under the data directory's buckets"
else
  not_ok "the task's backup at the service" "$listing" "$(ls -R "$work/server/buckets" 2>&1)"
fi
if out=$("${srv[@]}" "$bin" sql --instance shop --wait "exec msdb.dbo.rds_restore_database @restore_db_name='shop_copy', @s3_arn_to_restore_from='arn:aws:s3:::offsite/tasks/shop.bak', @kms_master_key_arn='$server_key'" 2>&1) &&
   [[ $(python3 -c 'import sqlite3,sys; print(list(sqlite3.connect(sys.argv[1]).iterdump()) == list(sqlite3.connect(sys.argv[2]).iterdump()))' \
        "$work/instance/shop.db" "$work/instance/shop_copy.db" 2>&1) == True ]]; then
  ok "a restore task from the configured bucket gives the same database"
else
  not_ok "restore task from s3://offsite" "$out"
fi
finish
