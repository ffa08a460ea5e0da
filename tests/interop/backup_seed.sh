#!/usr/bin/env bash
# coffer interop: the seed story (shared/seed/encrypted-backup-and-restore-in-aws-rds-sql-server.txt)
# played end to end against a fresh `coffer server`, every step checked:
#   1. a database "customers" (customers with names and card numbers, orders, documents);
#   2. the role rdstestrole (trusting rds.amazonaws.com) with its S3 policy (aws iam), a key
#      made with `coffer kms create-key` (alias, description, tag, an administrator, no key
#      users), its policy reviewed first with --dry-run;
#   3. the encrypted backup through `coffer sql` fails with the seed's AccessDenied sentence
#      (kms:DescribeKey), and leaves no object in the bucket rdstestsql;
#   4. the role added as a key user (coffer kms edit-key-policy --add-user, reviewed first with
#      --dry-run; aws kms get-key-policy shows the result): the backup
#      succeeds, rds_task_status shows SUCCESS and 100;
#   5. the object a bucket user downloads is an AWS Encryption SDK message with no card number;
#   6. a restore without the key fails, naming the key; 7. with the key it restores every row;
#   8. rejections (existing name, also by case; damaged and truncated objects; another key; a
#      role without kms:Decrypt; a role that is no key user; an existing object without
#      @overwrite_s3_backup_file), each leaving the target name untouched;
#   9. @number_of_files=3 and a restore from the prefix*;
#  10. sqlite: a FULL → DIFFERENTIAL chain (@with_norecovery); postgres refuses DIFFERENTIAL;
#  11. the audit trail through `aws cloudtrail lookup-events`.
# The aws CLI (Debian's v2 at /usr/bin/aws by preference; COFFER_AWS_CLI overrides) does the
# IAM, KMS key policy and CloudTrail steps; the coffer client the key, instance, bucket and
# T-SQL steps.
#
# Usage: backup_seed.sh COFFER_BIN ENDPOINT ROOT_CREDENTIALS WORK_DIR DATA_DIR ENGINE
#   ENDPOINT/ROOT_CREDENTIALS/DATA_DIR: a server of its own (the story uses the seed's names:
#   rdstestrole, rdstestsql, myrdsinstance); WORK_DIR: scratch space (the sqlite instance's
#   directory is WORK_DIR/instance); ENGINE: sqlite, or postgres (needs COFFER_TEST_PG_DSN,
#   see scripts/pg-test-server.sh; database names then end in _SUFFIX, as the cluster may be
#   shared, and they are dropped at the end).
# Prints "ok - …" / "not ok - …"; appends "P F S backup-seed (ENGINE): …" to $COFFER_INTEROP_RESULTS.
set -uo pipefail
bin=${1:?usage: backup_seed.sh COFFER_BIN ENDPOINT ROOT_CREDENTIALS WORK_DIR DATA_DIR ENGINE}
endpoint=${2:?} creds=${3:?} work=${4:?} data=${5:?} engine=${6:?}
[[ $bin == /* ]] || bin=$PWD/$bin
# shellcheck source=suite.sh
source "$(dirname "$0")/suite.sh"
suite="backup-seed ($engine: the seed story through coffer sql, aws iam/kms/cloudtrail)"
t_start=$SECONDS t_epoch=$(($(date +%s) - 5))

case $engine in
  sqlite) ;;
  postgres)
    if [[ -z ${COFFER_TEST_PG_DSN:-} ]]; then
      if [[ -n ${CI:-} ]]; then not_ok "postgres: COFFER_TEST_PG_DSN is not set (eval \"\$(scripts/pg-test-server.sh start)\")"; finish; fi
      echo "SKIP backup-seed (postgres): COFFER_TEST_PG_DSN is not set (eval \"\$(scripts/pg-test-server.sh start)\")"
      finish 1
    fi
    command -v psql >/dev/null || { not_ok "postgres: psql is not installed (Debian: postgresql-client)"; finish; }
    ;;
  *) echo "backup_seed.sh: ENGINE must be sqlite or postgres, not '$engine'" >&2; exit 2 ;;
esac
aws=$(find_aws)
if [[ -z $aws ]]; then not_ok "the aws CLI is not installed (Debian: awscli)"; finish; fi
command -v jq >/dev/null || { not_ok "jq is not installed"; finish; }

mkdir -p "$work"
clean_aws_env "$creds"
echo "== backup-seed ($engine) against $endpoint, aws CLI $aws ($("$aws" --version 2>&1 | cut -d' ' -f1))"

# sql INSTANCE STATEMENT: `coffer sql --wait --output json`; sets RC, OUT, ERR and, from the
# task's row, LC (lifecycle), INFO (task_info), TID (task_id), TTYPE (task_type).
sql() {
  OUT=$("$bin" sql --endpoint-url "$endpoint" --instance "$1" --wait --output json "$2" 2>"$work/sql.err")
  RC=$?
  ERR=$(cat "$work/sql.err")
  LC=$(jq -r 'if type == "array" then .[-1].lifecycle // "" else "" end' <<<"$OUT" 2>/dev/null)
  INFO=$(jq -r 'if type == "array" then .[-1].task_info // "" else "" end' <<<"$OUT" 2>/dev/null)
  TID=$(jq -r 'if type == "array" then .[-1].task_id // "" else "" end' <<<"$OUT" 2>/dev/null)
  TTYPE=$(jq -r 'if type == "array" then .[-1].task_type // "" else "" end' <<<"$OUT" 2>/dev/null)
}
task_detail() { printf '%s\n' "exit $RC, task $TID $TTYPE $LC" "task_info: $INFO" "stderr: $ERR" "stdout: $(head -c 1500 <<<"$OUT")"; }
# expect_success DESC: the last sql call's task ended SUCCESS (and --wait exited 0).
expect_success() {
  if [[ $RC -eq 0 && $LC == SUCCESS ]]; then ok "$1"; else not_ok "$1" "$(task_detail)"; return 1; fi
}
# expect_error DESC ERE [TEXT…]: the task ended ERROR (exit 1) and its task_info matches ERE
# (grep -E -i) and holds every TEXT as it is.
expect_error() {
  local desc=$1 ere=$2 text missing=
  shift 2
  for text in "Task has been aborted" "$@"; do grep -qF -- "$text" <<<"$INFO" || missing+="[$text] "; done
  if [[ $RC -eq 1 && $LC == ERROR && -z $missing ]] && grep -Eqi -- "$ere" <<<"$INFO"; then
    ok "$desc"
  else
    not_ok "$desc" "expected ERROR matching /$ere/${missing:+ and holding $missing}" "$(task_detail)"
    return 1
  fi
}
has() { grep -qF -- "$2" <<<"$1"; }
sha() { sha256sum "$1" 2>/dev/null | cut -c1-64; }
hex3() { head -c 3 "$1" 2>/dev/null | od -An -tx1 | tr -d ' \n'; }

# ---- names (the account's come with the role) -------------------------------------------------
# (Each aws CLI v2 call costs 0.5-2 s of start-up on a busy 2-core machine: the script makes
# few, and reads with the coffer client what the aws CLI need not show.)
role=rdstestrole bucket=rdstestsql instance=myrdsinstance
bucket_dir=$data/buckets/$bucket
s3=arn:aws:s3:::$bucket
sfx=
[[ $engine == postgres ]] && sfx=_$(head -c 4 /dev/urandom | od -An -tx1 | tr -d ' \n')
db=customers$sfx

# ---- the engine: databases as the test sees them, without coffer -----------------------------
inst_dir=$work/instance
pg_dsn_for() { # DATABASE: COFFER_TEST_PG_DSN with dbname replaced
  python3 - "$COFFER_TEST_PG_DSN" "$1" <<'PY'
import sys, urllib.parse
dsn, db = sys.argv[1], sys.argv[2]
if dsn.startswith(("postgres://", "postgresql://")):
    u = urllib.parse.urlsplit(dsn)
    print(urllib.parse.urlunsplit((u.scheme, u.netloc, "/" + db, u.query, u.fragment)))
else:
    print(dsn + " dbname=" + db)  # the last dbname= wins
PY
}
psql_on() { # DATABASE ARGS…
  local target=$1; shift
  PGCONNECT_TIMEOUT=10 psql -X -q -At -v ON_ERROR_STOP=1 "$(pg_dsn_for "$target")" "$@"
}
# The seed's data: 3000 customers (names, 16-digit card numbers, SSNs), 5000 orders, 300
# documents of 40 KiB of random bytes (so a backup spans several 4 MiB stripes). Deterministic.
# Writes the card numbers to CARDS; sqlite: into PATH, postgres: SQL for psql on stdout.
generate() { # sqlite PATH CARDS | postgres - CARDS
  python3 - "$@" <<'PY'
import random, sqlite3, sys
kind, path, cards_path = sys.argv[1:4]
r = random.Random(20191004)
first = ["Rajendra", "Ana", "Wei", "Olga", "Kwame", "Sofia", "Liam", "Aiko", "Omar", "Priya"]
last = ["Gupta", "Silva", "Zhang", "Ivanova", "Mensah", "Rossi", "Murphy", "Sato", "Haddad", "Nair"]
customers = []
for i in range(1, 3001):
    name = f"{r.choice(first)} {r.choice(last)}"
    card = "4" + "".join(str(r.randrange(10)) for _ in range(15))
    ssn = f"{r.randrange(100, 900):03d}-{r.randrange(1, 100):02d}-{r.randrange(1, 10000):04d}"
    customers.append((i, name, f"c{i}@example.com", card, f"{r.randrange(1, 13):02d}/{r.randrange(27, 33)}", ssn))
orders = [(i, r.randrange(1, 3001), r.randrange(100, 500000), f"2019-09-{r.randrange(1, 31):02d}") for i in range(1, 5001)]
documents = [(i, r.randrange(1, 3001), r.randbytes(40 << 10)) for i in range(1, 301)]
with open(cards_path, "w") as f:
    f.writelines(c[3] + "\n" for c in customers)
ddl = ["create table customers (id integer primary key, name text not null, email text not null,"
       " card_number text not null, card_expiry text not null, ssn text not null)",
       "create table orders (id integer primary key, customer_id integer not null references customers(id),"
       " amount_cents integer not null, placed_on text not null)",
       "create table documents (id integer primary key, customer_id integer not null, body %s not null)"]
if kind == "sqlite":
    c = sqlite3.connect(path)
    for s in ddl:
        c.execute(s.replace("%s", "blob"))
    c.executemany("insert into customers values (?,?,?,?,?,?)", customers)
    c.executemany("insert into orders values (?,?,?,?)", orders)
    c.executemany("insert into documents values (?,?,?)", documents)
    c.commit()
    c.close()
else:
    out = sys.stdout
    for s in ddl:
        out.write(s.replace("%s", "bytea") + ";\n")
    out.write("copy customers from stdin;\n")
    out.writelines("\t".join(map(str, row)) + "\n" for row in customers)
    out.write("\\.\ncopy orders from stdin;\n")
    out.writelines("\t".join(map(str, row)) + "\n" for row in orders)
    out.write("\\.\ncopy documents from stdin;\n")
    out.writelines(f"{i}\t{cid}\t\\\\x{body.hex()}\n" for i, cid, body in documents)
    out.write("\\.\nanalyze;\n")
PY
}
# checksum DATABASE: one line per table, "table rows digest" (ordered by key), in name order;
# sqlite adds "integrity_check ok". Empty output when the database cannot be read.
checksum() {
  if [[ $engine == sqlite ]]; then
    [[ -f $inst_dir/$1.db ]] || return 1
    python3 "$interop_dir/sqlite_digest.py" "$inst_dir/$1.db" integrity_check
  else
    psql_on "$1" -F ' ' <<'SQL'
select table_name::text, null::bigint, null::text from information_schema.tables where table_schema = 'public' and table_name not in ('customers', 'documents', 'orders')
union all select 'customers', count(*), left(md5(coalesce(string_agg(t::text, E'\n' order by t.id), '')), 20) from customers t
union all select 'documents', count(*), left(md5(coalesce(string_agg(t::text, E'\n' order by t.id), '')), 20) from documents t
union all select 'orders', count(*), left(md5(coalesce(string_agg(t::text, E'\n' order by t.id), '')), 20) from orders t;
SQL
  fi
}
# traces NAME: what exists under NAME (any case) and temporary files of restores, one per line:
# sqlite: NAME.db, .NAME.* and .restore-* in the instance directory; postgres: a database
# NAME, or a staging database (coffer_restoring_…) whose comment names NAME.
traces() {
  if [[ $engine == sqlite ]]; then
    (cd "$inst_dir" && find . -maxdepth 1 \( -iname "$1.db" -o -iname "$1.db-*" -o -iname ".$1.*" -o -name '.restore-*' \) -printf '%f\n')
  else
    psql_on postgres -c "select datname || ' ' || coalesce(shobj_description(oid, 'pg_database'), '')
      from pg_database where lower(datname) = lower('$1')
         or (datname like 'coffer_restoring_%' and lower(coalesce(shobj_description(oid, 'pg_database'), '')) like '%' || lower('$1'))"
  fi
}
# postgres: the databases of this run (names ending in $sfx) are dropped at the end.
drop_databases() {
  local d
  for d in $(psql_on postgres -c "select datname from pg_database where right(datname, ${#sfx}) = '$sfx'" 2>/dev/null); do
    psql_on postgres -c "drop database if exists \"$d\" with (force)" >/dev/null 2>&1
  done
}
[[ $engine == postgres ]] && trap drop_databases EXIT
# expect_no_target DESC NAME: nothing of NAME exists.
expect_no_target() {
  local t
  t=$(traces "$2")
  if [[ -z $t ]]; then ok "$1"; else not_ok "$1" "found: $t"; fi
}
list_bucket() { "$bin" s3 ls "s3://$bucket/" --data-dir "$data" 2>&1; }
bucket_files() { (cd "$bucket_dir" 2>/dev/null && find . -type f -printf '%P %s\n' | sort); }

# ---- 1. the database --------------------------------------------------------------------------
echo "-- 1. the database"
if [[ $engine == sqlite ]]; then
  rm -rf "$inst_dir"
  mkdir -p "$inst_dir"
  gen_out=$(generate sqlite "$inst_dir/$db.db" "$work/cards.txt" 2>&1)
else
  gen_out=$(psql_on postgres -c "create database $db" 2>&1 &&
    generate postgres - "$work/cards.txt" 2>&1 | psql_on "$db" 2>&1)
fi
source_sum=$(checksum "$db" 2>&1)
if [[ $source_sum == *"customers 3000 "* && $source_sum == *"orders 5000 "* && $source_sum == *"documents 300 "* ]]; then
  ok "database $db ($engine): customers 3000 rows with card numbers, orders 5000, documents 300 (12 MiB)"
else
  not_ok "database $db ($engine) created" "$gen_out" "$source_sum"
  finish
fi
if [[ $engine == sqlite ]]; then
  grep -aqF "$(head -1 "$work/cards.txt")" "$inst_dir/$db.db" && card_visible=yes || card_visible=no
else
  [[ $(psql_on "$db" -c "select count(*) from customers where card_number = '$(head -1 "$work/cards.txt")'") == 1 ]] &&
    card_visible=yes || card_visible=no
fi
if [[ $card_visible == yes ]]; then ok "the card numbers are readable in the database itself"
else not_ok "the card numbers are readable in the database itself"; fi

# ---- 2. the role, its S3 policy, the key --------------------------------------------------------
echo "-- 2. role, policy, key"
trust='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"rds.amazonaws.com"},"Action":"sts:AssumeRole"}]}'
s3_policy='{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Action":["s3:ListBucket","s3:GetBucketLocation"],"Resource":"arn:aws:s3:::rdstestsql"},
 {"Effect":"Allow","Action":["s3:GetObject","s3:PutObject","s3:ListMultipartUploadParts","s3:AbortMultipartUpload"],"Resource":"arn:aws:s3:::rdstestsql/*"}]}'
awsc iam create-role --role-name "$role" --assume-role-policy-document "$trust" --description "RDS native backup and restore"
role_arn=$(jq -r '.Role.Arn // empty' <<<"$OUT" 2>/dev/null)
if [[ $RC -eq 0 && $role_arn =~ ^arn:aws:iam::([0-9]{12}):role/$role$ ]] &&
   jq -e '.Role.AssumeRolePolicyDocument.Statement[0].Principal.Service == "rds.amazonaws.com"' <<<"$OUT" >/dev/null; then
  ok "aws iam create-role $role (trust: rds.amazonaws.com)"
elif [[ $ERR == *EntityAlreadyExists* ]]; then
  not_ok "the account already has a role $role: backup_seed.sh plays the seed's names and needs a server of its own"
  finish
else not_ok "aws iam create-role $role" "$ERR" "$OUT"; finish; fi
acct=${BASH_REMATCH[1]}
session_arn=arn:aws:sts::$acct:assumed-role/$role/RDS-SqlServerBackupRestore
admin_arn=arn:aws:iam::$acct:user/keyadmin
# As AWS's guide to native backup makes the role by hand: a customer managed policy,
# attached to the role (the restore role below takes the same policy inline).
awsc iam create-policy --policy-name rds-backup-s3 --policy-document "$s3_policy"
s3_policy_arn=$(jq -r '.Policy.Arn // empty' <<<"$OUT" 2>/dev/null)
if [[ $RC -eq 0 && $s3_policy_arn == "arn:aws:iam::$acct:policy/rds-backup-s3" ]]; then
  ok "aws iam create-policy: the role's S3 policy on $bucket (List/GetBucketLocation, Get/PutObject)"
else not_ok "aws iam create-policy" "$ERR" "$OUT"; fi
awsc iam attach-role-policy --role-name "$role" --policy-arn "$s3_policy_arn"
if [[ $RC -eq 0 ]]; then ok "aws iam attach-role-policy: the S3 policy on $role"
else not_ok "aws iam attach-role-policy" "$ERR"; fi
awsc iam create-user --user-name keyadmin
[[ $RC -eq 0 && $(jq -r .User.Arn <<<"$OUT") == "$admin_arn" ]] || not_ok "aws iam create-user keyadmin" "$ERR" "$OUT"

if out=$("$bin" s3 mb "s3://$bucket" --data-dir "$data" 2>&1) && [[ $out == "make_bucket: $bucket" && -d $bucket_dir ]]; then
  ok "coffer s3 mb s3://$bucket (an empty bucket)"
else not_ok "coffer s3 mb s3://$bucket --data-dir $data" "$out"; fi

key_args=(--alias rds-backup-key --description "Key for RDS SQL Server backup encryption" --tag Purpose=RDSBackup --admin "$admin_arn")
kms_state() { # the number of keys and the aliases
  "$bin" kms list-keys --endpoint-url "$endpoint" 2>&1 | jq -c '.Keys | length' 2>&1
  "$bin" kms list-aliases --endpoint-url "$endpoint" 2>&1 | jq -c '[.Aliases[].AliasName]' 2>&1
}
keys_before=$(kms_state)
# A usage error changes nothing and exits as the aws CLI v2 does for one (252).
"$bin" kms create-key --endpoint-url "$endpoint" "${key_args[@]}" --no-such-option >"$work/usage.out" 2>"$work/usage.err"
usage_rc=$?
if [[ $usage_rc -eq 252 && ! -s $work/usage.out ]] && grep -q -- '--no-such-option' "$work/usage.err" &&
   [[ $keys_before == [0-9]* && $(kms_state) == "$keys_before" ]]; then
  ok "coffer kms create-key with an unknown option: exit 252 (the aws CLI's), the option named, nothing created"
else
  not_ok "coffer kms create-key --no-such-option" "exit $usage_rc" "$(cat "$work/usage.out" "$work/usage.err")"
fi
"$bin" kms create-key --endpoint-url "$endpoint" "${key_args[@]}" --dry-run >"$work/dry.json" 2>"$work/dry.err"
dry_rc=$?
keys_after=$(kms_state)
if [[ $dry_rc -eq 0 ]] && jq -e --arg admin "$admin_arn" --arg role "$role_arn" '
    (.Statement | map(select(.Sid == "Allow access for Key Administrators")) | .[0].Principal.AWS | tostring | contains($admin))
    and (.Statement | map(select(.Sid == "Enable IAM User Permissions")) | length == 1)
    and (.Statement | map(select(.Sid == "Allow use of the key")) | length == 0)
    and (tostring | contains($role) | not)' "$work/dry.json" >/dev/null &&
   grep -q "nothing was sent" "$work/dry.err" && [[ $keys_before == [0-9]* && $keys_before == "$keys_after" ]]; then
  ok "coffer kms create-key --dry-run shows the console's policy for review (root, administrator keyadmin, no key users) and creates nothing"
else
  not_ok "coffer kms create-key --dry-run" "exit $dry_rc, keys before/after: $keys_before/$keys_after" "$(cat "$work/dry.json")" "$(cat "$work/dry.err")"
fi
cof kms create-key "${key_args[@]}" --yes
key=$(jq -r .KeyMetadata.Arn <<<"$OUT" 2>/dev/null)
if [[ $RC -eq 0 && $key == arn:aws:kms:us-east-1:$acct:key/* ]]; then ok "coffer kms create-key: $key"
else not_ok "coffer kms create-key" "$ERR" "$OUT"; finish; fi
cof kms describe-key --key-id alias/rds-backup-key
d_out=$OUT
awsc kms list-resource-tags --key-id "$key"
t_out=$OUT
awsc kms get-key-policy --key-id "$key" --policy-name default --output text
applied_policy=$OUT
if [[ $(jq -r .KeyMetadata.Arn <<<"$d_out") == "$key" &&
      $(jq -r .KeyMetadata.Description <<<"$d_out") == "Key for RDS SQL Server backup encryption" ]] &&
   jq -e '.Tags | any(.TagKey == "Purpose" and .TagValue == "RDSBackup")' <<<"$t_out" >/dev/null; then
  ok "the key has the alias alias/rds-backup-key, the description and the tag Purpose=RDSBackup"
else not_ok "alias, description and tag of the key" "$d_out" "$t_out"; fi
if [[ -n $applied_policy ]] && [[ $(jq -S . <<<"$applied_policy") == "$(jq -S . "$work/dry.json")" ]]; then
  ok "the key policy applied is the one --dry-run showed (no key users: the role may not use the key)"
else not_ok "the applied key policy equals the reviewed one" "applied: $applied_policy" "reviewed: $(cat "$work/dry.json")"; fi

# A role rds.amazonaws.com cannot assume is refused at once, with RDS's message for an option's
# role, and nothing is kept (the same name is created next).
if [[ $engine == sqlite ]]; then engine_args=(--engine sqlite --path "$inst_dir")
else engine_args=(--engine postgres --dsn "$COFFER_TEST_PG_DSN"); fi
cof instance create "$instance" "${engine_args[@]}" --role-arn "${role_arn}-missing"
if [[ $RC -eq 254 && $ERR == *"InvalidParameterValue"*"IAM role ARN value is invalid or does not include the required permissions for: SQLSERVER_BACKUP_RESTORE."*"rds.amazonaws.com is not authorized to perform: sts:AssumeRole on resource: ${role_arn}-missing"* ]]; then
  ok "coffer instance create with a role rds.amazonaws.com cannot assume: InvalidParameterValue, RDS's message"
else not_ok "coffer instance create with a role rds.amazonaws.com cannot assume" "rc=$RC" "$ERR"; fi
cof instance create "$instance" "${engine_args[@]}" --role-arn "$role_arn"
if [[ $RC -eq 0 && $(jq -r .DBInstance.RoleArn <<<"$OUT") == "$role_arn" ]]; then ok "coffer instance create $instance --engine $engine --role-arn $role_arn"
else not_ok "coffer instance create $instance --engine $engine" "$ERR" "$OUT"; finish; fi

# Giving the role to an instance lets its tasks act as the role: a user allowed rds:* alone
# may not, until it is allowed iam:PassRole on the role for rds.amazonaws.com.
awsc iam create-user --user-name dba
awsc iam put-user-policy --user-name dba --policy-name rds --policy-document \
  '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"rds:*","Resource":"*"}]}'
awsc iam create-access-key --user-name dba
dba=(env AWS_ACCESS_KEY_ID="$(jq -r .AccessKey.AccessKeyId <<<"$OUT")"
     AWS_SECRET_ACCESS_KEY="$(jq -r .AccessKey.SecretAccessKey <<<"$OUT")" AWS_SHARED_CREDENTIALS_FILE=/dev/null)
"${dba[@]}" "$bin" instance create dbainstance "${engine_args[@]}" --role-arn "$role_arn" \
  --endpoint-url "$endpoint" >/dev/null 2>"$work/dba.err"
RC=$?
if [[ $RC -eq 254 && $(cat "$work/dba.err") == *"AccessDeniedException"*"User: arn:aws:iam::$acct:user/dba is not authorized to perform: iam:PassRole on resource: $role_arn because no identity-based policy allows the iam:PassRole action"* ]]; then
  ok "a user allowed rds:* alone may not give the role to an instance: AccessDenied on iam:PassRole"
else not_ok "instance create by a user without iam:PassRole" "rc=$RC" "$(cat "$work/dba.err")"; fi
awsc iam put-user-policy --user-name dba --policy-name pass-role --policy-document \
  '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:PassRole","Resource":"'"$role_arn"'","Condition":{"StringEquals":{"iam:PassedToService":"rds.amazonaws.com"}}}]}'
"${dba[@]}" "$bin" instance create dbainstance "${engine_args[@]}" --role-arn "$role_arn" \
  --endpoint-url "$endpoint" >/dev/null 2>"$work/dba.err"
RC=$?
if [[ $RC -eq 0 ]]; then ok "allowed iam:PassRole on the role for rds.amazonaws.com, it may"
else not_ok "instance create by a user allowed iam:PassRole" "rc=$RC" "$(cat "$work/dba.err")"; fi
cof instance delete dbainstance
[[ $RC -eq 0 ]] || not_ok "coffer instance delete dbainstance" "$ERR"
# A DSN may hold a password: the state store keeps it sealed.
if [[ $engine == postgres && -n ${COFFER_TEST_PG_PASSWORD_DSN:-} ]]; then
  pg_password=${COFFER_TEST_PG_PASSWORD_DSN##*password=}
  pg_password=${pg_password%% *}
  cof instance create pwinstance --engine postgres --dsn "$COFFER_TEST_PG_PASSWORD_DSN" --role-arn "$role_arn"
  if [[ $RC -eq 0 ]] && ! cat "$data"/state.db* | grep -aqF "$pg_password"; then
    ok "an instance whose DSN holds a password: the password is nowhere in the state store's files"
  else not_ok "the DSN's password in the state store" "rc=$RC" "$ERR"; fi
  cof instance delete pwinstance
fi

# ---- 3. the backup the seed saw fail -----------------------------------------------------------
echo "-- 3. the backup without permission to use the key"
# A key given as '' (an unset shell variable, say) is refused, never taken for "no key".
sql "$instance" "exec msdb.dbo.rds_backup_database @source_db_name='$db', @s3_arn_to_backup_to='$s3/empty-key.bak', @kms_master_key_arn=''"
if [[ $RC -eq 254 && $ERR == *"Value '' at 'KmsMasterKeyArn' failed to satisfy constraint"* && -z $TID ]] &&
   ! bucket_files | grep -q empty-key; then
  ok "rds_backup_database with @kms_master_key_arn='': refused (exit 254), no task, no object"
else not_ok "rds_backup_database with @kms_master_key_arn=''" "$(task_detail)" "$(bucket_files)"; fi
backup_stmt="exec msdb.dbo.rds_backup_database @source_db_name='$db', @s3_arn_to_backup_to='$s3/customers.bak', @kms_master_key_arn='$key'"
sql "$instance" "$backup_stmt"
seed_sentence="User: $session_arn is not authorized to perform: kms:DescribeKey on resource: $key"
expect_error "the encrypted backup fails: ERROR, the seed's 'Aborted the task …' and 'User: …/RDS-SqlServerBackupRestore is not authorized to perform: kms:DescribeKey on resource: KEY'" \
  "kms:DescribeKey" \
  "Aborted the task because of a task failure or an overlap with your preferred backup window for RDS automated backup." \
  "$seed_sentence"
first_task=$TID
if [[ $TTYPE == BACKUP_DB && $INFO =~ ^\[[0-9]{4}-[0-9]{2}-[0-9]{2}\ [0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}\]\  ]]; then
  ok "task $TID: task_type BACKUP_DB, task_info lines '[YYYY-MM-DD hh:mm:ss.mmm] …'"
else not_ok "task_type and task_info format" "$(task_detail)"; fi
if [[ -z $(list_bucket) && -z $(bucket_files) ]]; then ok "the failed backup left no object in $bucket"
else not_ok "the failed backup left no object" "$(list_bucket)" "$(bucket_files)"; fi

# ---- 4. the role becomes a key user ------------------------------------------------------------
echo "-- 4. the fix: rdstestrole as a key user"
# The console's key page, "Key users", Add: reviewed with --dry-run, then applied.
cof kms edit-key-policy --key-id "$key" --add-user "$role_arn" --dry-run
dry_rc=$RC dry_policy=$OUT
awsc kms get-key-policy --key-id "$key" --policy-name default --output text
if [[ $dry_rc -eq 0 && $OUT == "$applied_policy" ]] && jq -e --arg role "$role_arn" '
     [.Statement[] | select(.Sid == "Allow use of the key" or .Sid == "Allow attachment of persistent resources")
      | .Principal.AWS == [$role]] == [true, true]' <<<"$dry_policy" >/dev/null; then
  ok "coffer kms edit-key-policy --add-user --dry-run: the console's two key-user statements for $role, nothing changed"
else not_ok "coffer kms edit-key-policy --add-user --dry-run" "exit $dry_rc" "$dry_policy"; fi
cof kms edit-key-policy --key-id "$key" --add-user "$role_arn" --yes
put_rc=$RC put_err=$ERR
awsc kms get-key-policy --key-id "$key" --policy-name default --output text
if [[ $put_rc -eq 0 ]] && jq -e --argjson want "$dry_policy" '. == $want' <<<"$OUT" >/dev/null; then
  ok "coffer kms edit-key-policy --add-user: $role is a key user; the policy in force is the one reviewed"
else not_ok "coffer kms edit-key-policy --add-user $role_arn" "$put_err" "$OUT"; fi
sql "$instance" "$backup_stmt"
expect_success "the same backup now succeeds (coffer sql --wait exits 0)"
backup_task=$TID
OUT=$("$bin" sql --endpoint-url "$endpoint" --instance "$instance" --output json "exec msdb.dbo.rds_task_status @db_name='$db'" 2>&1)
if jq -e --arg id "$backup_task" --arg key "$key" --arg s3 "$s3/customers.bak" --arg first "$first_task" '
    (map(select(.task_id == $id)) | .[0] | .lifecycle == "SUCCESS" and .["% complete"] == "100"
       and .task_type == "BACKUP_DB" and .KMS_master_key_arn == $key and .S3_object_arn == $s3)
    and (map(select(.task_id == $first)) | .[0].lifecycle == "ERROR")' <<<"$OUT" >/dev/null; then
  ok "exec msdb.dbo.rds_task_status @db_name='$db': the failed task ERROR, the new one SUCCESS, 100 % complete, with S3_object_arn and KMS_master_key_arn"
else not_ok "rds_task_status after the backup" "$OUT"; fi
# The task's session used the role: aws iam get-role shows it (RoleLastUsed).
awsc iam get-role --role-name "$role"
if [[ $RC -eq 0 ]] && jq -e '.Role.RoleLastUsed.Region != null and .Role.RoleLastUsed.LastUsedDate != null' <<<"$OUT" >/dev/null; then
  ok "aws iam get-role: RoleLastUsed shows the backup task's use of $role"
else not_ok "aws iam get-role: RoleLastUsed after the backup" "$ERR" "$OUT"; fi
# A task id below 0 is refused, not read as "every task".
OUT=$("$bin" task-status --endpoint-url "$endpoint" --instance "$instance" --task-id -1 2>&1)
rc=$?
if [[ $rc -ne 0 ]] && grep -q "TaskId -1 is not valid" <<<"$OUT"; then
  ok "coffer task-status --task-id -1 is refused (InvalidParameterValue)"
else not_ok "coffer task-status --task-id -1 is refused" "exit $rc: $OUT"; fi
OUT=$("$bin" sql --endpoint-url "$endpoint" --instance "$instance" "exec msdb.dbo.rds_task_status @task_id=-1" 2>&1)
rc=$?
if [[ $rc -ne 0 ]] && grep -q "TaskId -1 is not valid" <<<"$OUT"; then
  ok "exec msdb.dbo.rds_task_status @task_id=-1 is refused (InvalidParameterValue)"
else not_ok "rds_task_status @task_id=-1 is refused" "exit $rc: $OUT"; fi

# ---- 5. what a bucket user downloads -----------------------------------------------------------
echo "-- 5. the object in the bucket"
listing=$(list_bucket)
if [[ $listing =~ [0-9]{4}-[0-9]{2}-[0-9]{2}\ [0-9:]{8}\ +[0-9]+\ customers\.bak ]]; then ok "coffer s3 ls s3://$bucket/ lists customers.bak"
else not_ok "coffer s3 ls s3://$bucket/" "$listing"; fi
rm -f "$work/downloaded.bak"
if out=$("$bin" s3 cp "s3://$bucket/customers.bak" "$work/downloaded.bak" --data-dir "$data" 2>&1) && [[ -s $work/downloaded.bak ]]; then
  ok "a bucket user downloads it (coffer s3 cp, $(stat -c %s "$work/downloaded.bak") bytes)"
else not_ok "coffer s3 cp s3://$bucket/customers.bak ." "$out"; fi
if [[ $(hex3 "$work/downloaded.bak") == 020478 ]]; then ok "it starts with 02 04 78: an AWS Encryption SDK message, version 2, suite 0x0478"
else not_ok "the object starts with 02 04 78" "$(head -c 16 "$work/downloaded.bak" | od -An -tx1)"; fi
found=$(grep -aoF -f "$work/cards.txt" "$work/downloaded.bak" | head -3)
other=$(grep -aoE 'Rajendra|Gupta|example\.com' "$work/downloaded.bak" | head -3)
if [[ -z $found && -z $other ]]; then ok "none of the 3000 card numbers (nor names, e-mail addresses) is in the object"
else not_ok "the object holds plaintext" "$found" "$other"; fi
if grep -aqF "$key" "$work/downloaded.bak"; then ok "the object names the key ARN in its header (provider info)"
else not_ok "the object names the key ARN in its header"; fi
backup_sha=$(sha "$bucket_dir/customers.bak%o")

# ---- 6. restore without the key ----------------------------------------------------------------
echo "-- 6. restore without the key"
copy1=copy1$sfx
sql "$instance" "exec msdb.dbo.rds_restore_database @restore_db_name='$copy1', @s3_arn_to_restore_from='$s3/customers.bak'"
expect_error "a restore without @kms_master_key_arn fails: ERROR saying the backup is encrypted, naming the key" "encrypted" "$key"
[[ $TTYPE == RESTORE_DB ]] || not_ok "task_type RESTORE_DB" "$TTYPE"
expect_no_target "no database $copy1 after the failed restore" "$copy1"

# ---- 7. restore with the key -------------------------------------------------------------------
echo "-- 7. restore with the key"
sql "$instance" "exec msdb.dbo.rds_restore_database @restore_db_name='$copy1', @s3_arn_to_restore_from='$s3/customers.bak', @kms_master_key_arn='$key'"
expect_success "the restore with @kms_master_key_arn succeeds"
copy_sum=$(checksum "$copy1" 2>&1)
if [[ -n $copy_sum && $copy_sum == "$source_sum" ]]; then
  ok "$copy1 has the rows of $db: $(grep -v integrity <<<"$copy_sum" | awk '{printf "%s%s %s", sep, $1, $2; sep=", "}'), same checksum over every table"
else not_ok "$copy1 equals $db" "source: $source_sum" "restored: $copy_sum"; fi
if [[ $engine == sqlite ]]; then
  mode=$(stat -c %a "$inst_dir/$copy1.db" 2>/dev/null)
  [[ $mode == 600 ]] && ok "the restored database file has mode 0600" || not_ok "the restored database file has mode 0600" "mode $mode"
fi

# ---- 8. rejections -----------------------------------------------------------------------------
echo "-- 8. rejections"
restore() { # TARGET OBJECT [KEY] [INSTANCE]
  local k=${3:-}
  sql "${4:-$instance}" "exec msdb.dbo.rds_restore_database @restore_db_name='$1', @s3_arn_to_restore_from='$s3/$2'${k:+, @kms_master_key_arn='$k'}"
}
for target in "$db" "${db^^}"; do
  restore "$target" customers.bak "$key"
  expect_error "a restore to the existing name '$target' fails" "already exists"
  now=$(checksum "$db" 2>&1)
  if [[ $now == "$source_sum" ]]; then ok "'$db' is unchanged (checksum)"; else not_ok "'$db' is unchanged" "$now"; fi
done
if [[ $engine == sqlite ]]; then
  extra=$(cd "$inst_dir" && find . -mindepth 1 -maxdepth 1 ! -name "$db.db" ! -name "$copy1.db" ! -name ".$db.base" -printf '%f\n')
else
  extra=$(psql_on postgres -c "select datname from pg_database where datname = '${db^^}' or datname like 'coffer_restoring_%'")
fi
if [[ -z $extra ]]; then ok "no database '${db^^}' (nor any other file or database) appeared"
else not_ok "nothing appeared after the rejected restores" "$extra"; fi

python3 - "$work/downloaded.bak" "$work/corrupt.bak" "$work/truncated.bak" <<'PY'
import sys
src, corrupt, truncated = sys.argv[1:4]
b = bytearray(open(src, "rb").read())
for at in (len(b) // 3, len(b) // 2, len(b) * 2 // 3):  # in the frames' ciphertext
    b[at] ^= 0x5A
open(corrupt, "wb").write(b)
open(truncated, "wb").write(open(src, "rb").read()[: len(b) * 3 // 5])
PY
for f in corrupt truncated; do
  out=$("$bin" s3 cp "$work/$f.bak" "s3://$bucket/$f.bak" --data-dir "$data" 2>&1) ||
    not_ok "coffer s3 cp $f.bak to the bucket" "$out"
done
restore "damaged$sfx" corrupt.bak "$key"
expect_error "a damaged object (3 bytes flipped, put with coffer s3 cp): ERROR" "authenticat|damaged|corrupt|tamper"
expect_no_target "no database damaged$sfx, no temporary file" "damaged$sfx"
restore "truncated$sfx" truncated.bak "$key"
expect_error "a truncated object (first 60 %): ERROR" "truncat|ends inside|end of|incomplete|short"
expect_no_target "no database truncated$sfx, no temporary file" "truncated$sfx"

cof kms create-key --description "another key the role may use" --user "$role_arn" --yes
key2=$(jq -r .KeyMetadata.Arn <<<"$OUT" 2>/dev/null)
[[ $RC -eq 0 && $key2 == arn:aws:kms:* ]] || not_ok "coffer kms create-key --user $role_arn" "$ERR"
restore "wrongkey$sfx" customers.bak "$key2"
expect_error "a restore with another key (one the role may use): ERROR naming the backup's key" "." "$key"
expect_no_target "no database wrongkey$sfx" "wrongkey$sfx"

cat >"$work/encrypt-only.json" <<EOF
{"Version":"2012-10-17","Statement":[
 {"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::$acct:root"},"Action":"kms:*","Resource":"*"},
 {"Sid":"Backups only","Effect":"Allow","Principal":{"AWS":"$role_arn"},"Action":["kms:DescribeKey","kms:GenerateDataKey*","kms:Encrypt"],"Resource":"*"}]}
EOF
cof kms create-key --description "the role may back up with this key, not restore" --policy-file "$work/encrypt-only.json" --yes
key3=$(jq -r .KeyMetadata.Arn <<<"$OUT" 2>/dev/null)
[[ $RC -eq 0 && $key3 == arn:aws:kms:* ]] || not_ok "coffer kms create-key --policy-file (no kms:Decrypt for the role)" "$ERR"
sql "$instance" "exec msdb.dbo.rds_backup_database @source_db_name='$db', @s3_arn_to_backup_to='$s3/encrypt-only.bak', @kms_master_key_arn='$key3'"
expect_success "a backup with a key whose policy allows the role DescribeKey and GenerateDataKey but not Decrypt"
restore "nodecrypt$sfx" encrypt-only.bak "$key3"
expect_error "its restore fails: ERROR 'User: …/RDS-SqlServerBackupRestore is not authorized to perform: kms:Decrypt on resource: KEY3'" \
  "kms:Decrypt" "User: $session_arn is not authorized to perform: kms:Decrypt on resource: $key3"
expect_no_target "no database nodecrypt$sfx" "nodecrypt$sfx"

# The seed: "if we are using a different user or role for restoration, we should provide access
# to that user or role" — an instance whose role is no key user.
awsc iam create-role --role-name rdsrestorerole --assume-role-policy-document "$trust"
awsc iam put-role-policy --role-name rdsrestorerole --policy-name rds-backup-s3 --policy-document "$s3_policy"
cof instance create myrdsinstance2 "${engine_args[@]}" --role-arn "arn:aws:iam::$acct:role/rdsrestorerole"
[[ $RC -eq 0 ]] || not_ok "coffer instance create myrdsinstance2 (role rdsrestorerole)" "$ERR"
restore "otherrole$sfx" customers.bak "$key" myrdsinstance2
expect_error "a restore by an instance whose role is no key user: ERROR, the seed's 'not authorized to perform: kms:DescribeKey'" \
  "kms:DescribeKey" "User: arn:aws:sts::$acct:assumed-role/rdsrestorerole/RDS-SqlServerBackupRestore is not authorized to perform: kms:DescribeKey on resource: $key"
expect_no_target "no database otherrole$sfx" "otherrole$sfx"

sql "$instance" "$backup_stmt"
expect_error "a backup to the existing customers.bak without @overwrite_s3_backup_file: ERROR" \
  "already exists" "Please reissue task with correct type and overwrite property"
if [[ $(sha "$bucket_dir/customers.bak%o") == "$backup_sha" ]]; then ok "customers.bak is unchanged"
else not_ok "customers.bak is unchanged after the refused backup"; fi
sql "$instance" "$backup_stmt, @overwrite_s3_backup_file=1"
expect_success "the same with @overwrite_s3_backup_file=1 succeeds"
new_sha=$(sha "$bucket_dir/customers.bak%o")
if [[ -n $new_sha && $new_sha != "$backup_sha" && $(hex3 "$bucket_dir/customers.bak%o") == 020478 ]]; then
  ok "customers.bak was replaced (another data key, another message)"
else not_ok "customers.bak was replaced" "before $backup_sha" "after $new_sha"; fi

# ---- 9. several files --------------------------------------------------------------------------
echo "-- 9. @number_of_files=3"
sql "$instance" "exec msdb.dbo.rds_backup_database @source_db_name='$db', @s3_arn_to_backup_to='$s3/multi*.bak', @kms_master_key_arn='$key', @number_of_files=3"
expect_success "a backup to 'multi*.bak' with @number_of_files=3"
files=$(list_bucket | awk '{print $4}' | grep '^multi' | tr '\n' ' ')
if [[ $files == "multi1-of-3.bak multi2-of-3.bak multi3-of-3.bak " ]]; then ok "it made multi1-of-3.bak, multi2-of-3.bak, multi3-of-3.bak"
else not_ok "the files of the 3-file backup" "$(list_bucket)"; fi
bad=
for i in 1 2 3; do
  f=$bucket_dir/multi$i-of-3.bak%o
  [[ $(hex3 "$f") == 020478 && $(stat -c %s "$f" 2>/dev/null || echo 0) -gt 65536 ]] || bad+="multi$i-of-3.bak: $(hex3 "$f") $(stat -c %s "$f" 2>&1); "
  grep -aqF -f "$work/cards.txt" "$f" && bad+="multi$i-of-3.bak holds a card number; "
done
if [[ -z $bad ]]; then ok "each file is an encrypted message holding a part of the backup (> 64 KiB), no card number in any"
else not_ok "the three files" "$bad"; fi
multi=multi$sfx
restore "$multi" 'multi*' "$key"
if expect_success "a restore from 'arn:aws:s3:::$bucket/multi*' (RDS's form: prefix*)"; then
  sum=$(checksum "$multi" 2>&1)
  [[ $sum == "$source_sum" ]] && ok "$multi has the rows of $db" || not_ok "$multi equals $db" "$sum"
else
  expect_no_target "(the failed restore left no database $multi)" "$multi"
fi
restore "multib$sfx" 'multi*.bak' "$key"
if expect_success "a restore from 'arn:aws:s3:::$bucket/multi*.bak' (the backup's own pattern)"; then
  sum=$(checksum "multib$sfx" 2>&1)
  [[ $sum == "$source_sum" ]] && ok "multib$sfx has the rows of $db (three files joined)" || not_ok "multib$sfx equals $db" "$sum"
fi

# ---- 10. DIFFERENTIAL --------------------------------------------------------------------------
echo "-- 10. DIFFERENTIAL"
diff_stmt="exec msdb.dbo.rds_backup_database @source_db_name='$db', @s3_arn_to_backup_to='$s3/diff.bak', @kms_master_key_arn='$key', @type='DIFFERENTIAL'"
if [[ $engine == sqlite ]]; then
  sql "$instance" "exec msdb.dbo.rds_backup_database @source_db_name='$db', @s3_arn_to_backup_to='$s3/full.bak', @kms_master_key_arn='$key'"
  expect_success "FULL backup full.bak (the base)"
  python3 - "$inst_dir/$db.db" <<'PY'
import random, sqlite3, sys
c = sqlite3.connect(sys.argv[1])
r = random.Random(7)
c.execute("update customers set name = name || ' (moved)', card_expiry = '01/35' where id % 11 = 0")
c.execute("delete from orders where id % 17 = 0")
c.executemany("insert into customers values (?,?,?,?,?,?)",
              [(i, f"New Customer {i}", f"n{i}@example.com", "4" + "".join(str(r.randrange(10)) for _ in range(15)), "02/30", "123-45-6789")
               for i in range(3001, 3051)])
c.execute("update documents set body = ? where id = 150", (r.randbytes(40 << 10),))
c.commit()
PY
  changed_sum=$(checksum "$db" 2>&1)
  [[ $changed_sum != "$source_sum" && $changed_sum == *"customers 3050 "* ]] ||
    not_ok "the rows of $db changed" "$changed_sum"
  sql "$instance" "$diff_stmt"
  expect_success "DIFFERENTIAL backup diff.bak after changing rows (task_type BACKUP_DB_DIFFERENTIAL)" &&
    { [[ $TTYPE == BACKUP_DB_DIFFERENTIAL ]] || not_ok "task_type BACKUP_DB_DIFFERENTIAL" "$TTYPE"; }
  full_size=$(stat -c %s "$bucket_dir/full.bak%o" 2>/dev/null || echo 0)
  diff_size=$(stat -c %s "$bucket_dir/diff.bak%o" 2>/dev/null || echo 0)
  if ((diff_size > 0 && diff_size < full_size / 2)); then ok "diff.bak ($diff_size bytes) holds only the changes (full.bak: $full_size)"
  else not_ok "diff.bak is smaller than half of full.bak" "diff $diff_size, full $full_size"; fi
  sql "$instance" "exec msdb.dbo.rds_restore_database @restore_db_name='chain', @s3_arn_to_restore_from='$s3/full.bak', @kms_master_key_arn='$key', @with_norecovery=1"
  expect_success "restore full.bak into chain with @with_norecovery=1 (task_type RESTORE_DB_NORECOVERY)" &&
    { [[ $TTYPE == RESTORE_DB_NORECOVERY ]] || not_ok "task_type RESTORE_DB_NORECOVERY" "$TTYPE"; }
  if [[ ! -e $inst_dir/chain.db ]]; then ok "chain is RESTORING, not online (no chain.db)"
  else not_ok "chain is not online before the DIFFERENTIAL restore" "$(ls -A "$inst_dir")"; fi
  sql "$instance" "exec msdb.dbo.rds_restore_database @restore_db_name='chain', @s3_arn_to_restore_from='$s3/diff.bak', @kms_master_key_arn='$key', @type='DIFFERENTIAL', @with_norecovery=0"
  expect_success "restore diff.bak into chain with @type='DIFFERENTIAL', @with_norecovery=0 (task_type RESTORE_DB_DIFFERENTIAL)" &&
    { [[ $TTYPE == RESTORE_DB_DIFFERENTIAL ]] || not_ok "task_type RESTORE_DB_DIFFERENTIAL" "$TTYPE"; }
  chain_sum=$(checksum chain 2>&1)
  if [[ -n $chain_sum && $chain_sum == "$changed_sum" ]]; then ok "chain has the changed rows of $db (customers 3050, orders $(awk '$1 == "orders" {print $2}' <<<"$changed_sum"), same checksums)"
  else not_ok "chain equals the changed $db" "source: $changed_sum" "chain: $chain_sum"; fi
else
  sql "$instance" "$diff_stmt"
  expect_error "postgres refuses a DIFFERENTIAL backup: ERROR saying it has none" "does not support DIFFERENTIAL|DIFFERENTIAL.*not supported"
  if [[ -z $(list_bucket | grep ' diff\.bak$') ]]; then ok "no diff.bak in the bucket"
  else not_ok "the refused DIFFERENTIAL backup left diff.bak" "$(list_bucket)"; fi
fi

# ---- 10b. rds_drop_database --------------------------------------------------------------------
echo "-- 10b. rds_drop_database"
before=$(checksum "$db" 2>&1)
drop_out=$("$bin" sql --endpoint-url "$endpoint" --instance "$instance" "exec msdb.dbo.rds_drop_database @db_name='${copy1^^}'" 2>&1)
drop_rc=$?
if [[ $drop_rc -eq 0 && $drop_out == "Database $copy1 was dropped." ]]; then
  ok "rds_drop_database of '${copy1^^}' (another case of $copy1): exit 0, 'Database $copy1 was dropped.'"
else not_ok "rds_drop_database of ${copy1^^}" "exit $drop_rc" "$drop_out"; fi
expect_no_target "nothing of $copy1 is left" "$copy1"
now=$(checksum "$db" 2>&1)
if [[ -n $before && $now == "$before" ]]; then ok "'$db' is unchanged (checksum)"; else not_ok "'$db' is unchanged after the drop" "before: $before" "now: $now"; fi
drop_out=$("$bin" sql --endpoint-url "$endpoint" --instance "$instance" "exec msdb.dbo.rds_drop_database @db_name='$copy1'" 2>&1)
drop_rc=$?
if [[ $drop_rc -eq 254 ]] && has "$drop_out" "Database $copy1 does not exist"; then
  ok "dropping it again: exit 254, 'Database $copy1 does not exist'"
else not_ok "dropping $copy1 again fails" "exit $drop_rc" "$drop_out"; fi
sql "$instance" "exec msdb.dbo.rds_restore_database @restore_db_name='$copy1', @s3_arn_to_restore_from='$s3/customers.bak', @kms_master_key_arn='$key'"
expect_success "the dropped name takes a restore again"

# ---- 11. the audit trail -----------------------------------------------------------------------
echo "-- 11. CloudTrail"
# One call, every page (the CLI follows NextToken): the server is this script's alone.
awsc cloudtrail lookup-events --start-time "$(date -u -d "@$t_epoch" +%Y-%m-%dT%H:%M:%SZ)"
if [[ $RC -eq 0 ]]; then
  printf '%s' "$OUT" >"$work/lookup-events.json"
  jq '[.Events[].CloudTrailEvent | fromjson]' <<<"$OUT" >"$work/events.json"
else
  not_ok "aws cloudtrail lookup-events --start-time (the script's start)" "$ERR"
  echo '[]' >"$work/events.json"
fi
jq --arg key "$key" '[.[] | select(.resources // [] | any(.ARN == $key))]' "$work/events.json" >"$work/key-events.json"
jq '[.[] | select(.eventSource == "rds.amazonaws.com")]' "$work/events.json" >"$work/rds-events.json"
jq '[.[] | select(.eventName == "AssumeRole")]' "$work/events.json" >"$work/assume-events.json"
ev() { # DESC FILE JQ (true on success)
  if jq -e --arg key "$key" --arg session "$session_arn" --arg root "arn:aws:iam::$acct:root" \
       --arg role "$role_arn" --arg sentence "$seed_sentence" "$3" "$2" >/dev/null 2>&1; then ok "$1"
  else not_ok "$1" "$(jq -c "map({eventName, u: .userIdentity.arn, errorCode, errorMessage})[:12]" "$2" 2>&1)"; fi
}
ev "lookup-events: CreateKey by the root user, with the key's ARN" "$work/key-events.json" \
  'any(.eventName == "CreateKey" and .userIdentity.arn == $root and .responseElements.keyMetadata.arn == $key)'
ev "lookup-events: PutKeyPolicy by the root user (the fix)" "$work/key-events.json" \
  'any(.eventName == "PutKeyPolicy" and .userIdentity.arn == $root and .errorCode == null)'
ev "lookup-events: the failed DescribeKey by $session_arn, errorCode AccessDeniedException, the seed's sentence as errorMessage" "$work/key-events.json" \
  'any(.eventName == "DescribeKey" and .userIdentity.arn == $session and .userIdentity.type == "AssumedRole"
       and .errorCode == "AccessDeniedException" and (.errorMessage | contains($sentence)))'
ev "lookup-events: GenerateDataKey by the role session (backup), no error, sourceIPAddress rds.amazonaws.com" "$work/key-events.json" \
  'any(.eventName == "GenerateDataKey" and .userIdentity.arn == $session and .errorCode == null and .sourceIPAddress == "rds.amazonaws.com")'
ev "lookup-events: Decrypt by the role session (restore), no error" "$work/key-events.json" \
  'any(.eventName == "Decrypt" and .userIdentity.arn == $session and .errorCode == null)'
ev "lookup-events: DropDatabase by the root user, with the database's name and the instance" "$work/rds-events.json" \
  "any(.eventName == \"DropDatabase\" and .userIdentity.arn == \$root and .errorCode == null
       and .requestParameters.dbName == \"${copy1^^}\" and .responseElements.dbName == \"$copy1\"
       and (.resources // [] | any(.ARN | endswith(\":db:$instance\"))))"
jq '[.[] | select(.eventSource == "s3.amazonaws.com")]' "$work/events.json" >"$work/s3-events.json"
ev "lookup-events: PutObject by the role session, naming the object, then its bucket with the account (as CloudTrail's S3 records)" "$work/s3-events.json" \
  "any(.eventName == \"PutObject\" and .userIdentity.arn == \$session and .errorCode == null
       and (.resources | length == 2 and (.[0].type == \"AWS::S3::Object\") and (.[0].ARN | startswith(\"arn:aws:s3:::\"))
            and .[1].type == \"AWS::S3::Bucket\" and .[1].accountId == \"$acct\"))"
ev "lookup-events: rds.amazonaws.com assumed $role as RDS-SqlServerBackupRestore, readOnly, with the session's key and its expiry as CloudTrail writes dates" "$work/assume-events.json" \
  'any(.userIdentity.type == "AWSService" and .userIdentity.invokedBy == "rds.amazonaws.com"
       and .requestParameters.roleArn == $role and .requestParameters.roleSessionName == "RDS-SqlServerBackupRestore"
       and .readOnly == true and (.responseElements.credentials.accessKeyId | startswith("ASIA"))
       and (.responseElements.credentials.expiration | test("^[A-Z][a-z]{2} [0-9]{1,2}, [0-9]{4}, [0-9]{1,2}:[0-9]{2}:[0-9]{2} [AP]M$")))'
# The role session's calls carry the access key that its AssumeRole issued, so that
# a lookup by AccessKeyId finds what the session did.
if jq -e --slurpfile k "$work/key-events.json" '
     [.[] | select(.userIdentity.type == "AWSService") | .responseElements.credentials.accessKeyId] as $issued
     | [$k[0][] | select(.userIdentity.arn | startswith("arn:aws:sts::")) | .userIdentity.accessKeyId] as $used
     | ($used | length) > 0 and all($used[]; . as $u | any($issued[]; . == $u))' "$work/assume-events.json" >/dev/null; then
  ok "lookup-events: the role session's KMS calls carry the access key id its AssumeRole issued"
else
  not_ok "lookup-events: the role session's KMS calls carry the access key id its AssumeRole issued" \
    "$(jq -c 'map(select(.userIdentity.arn | startswith("arn:aws:sts::"))) | map({eventName, k: .userIdentity.accessKeyId})[:6]' "$work/key-events.json")"
fi
tasks=$("$bin" task-status --endpoint-url "$endpoint" --instance "$instance" 2>/dev/null | jq -c '[.Tasks[].TaskId]')
tasks2=$("$bin" task-status --endpoint-url "$endpoint" --instance myrdsinstance2 2>/dev/null | jq -c '[.Tasks[].TaskId]')
all_tasks=$(jq -cn --argjson a "${tasks:-[]}" --argjson b "${tasks2:-[]}" '$a + $b | sort')
if jq -e --argjson ids "$all_tasks" '
    ($ids | length) > 10
    and ([.[] | select(.eventName == "BackupRestoreTaskStarted") | .requestParameters.taskId] | sort) == $ids
    and ([.[] | select(.eventName == "BackupRestoreTaskEnded") | .requestParameters.taskId] | sort) == $ids' \
    "$work/rds-events.json" >/dev/null 2>&1; then
  ok "lookup-events: one BackupRestoreTaskStarted and one BackupRestoreTaskEnded for each of the $(jq length <<<"$all_tasks") tasks"
else
  not_ok "BackupRestoreTaskStarted/Ended for every task" "tasks: $all_tasks" \
    "$(jq -c '[.[] | select(.eventName | startswith("BackupRestoreTask")) | [.eventName, .requestParameters.taskId]]' "$work/rds-events.json" 2>&1)"
fi
ev "lookup-events: the seed's failed backup ended with errorCode TaskFailed and the AccessDenied sentence" "$work/rds-events.json" \
  "any(.eventName == \"BackupRestoreTaskEnded\" and .requestParameters.taskId == $first_task and .errorCode == \"TaskFailed\"
       and (.errorMessage | contains(\$sentence)) and (.responseElements == null or .responseElements.lifecycle == \"ERROR\"))"
ev "lookup-events: the fixed backup ended SUCCESS, run as the role session, with the key and the object" "$work/rds-events.json" \
  "any(.eventName == \"BackupRestoreTaskEnded\" and .requestParameters.taskId == $backup_task and .errorCode == null
       and .responseElements.lifecycle == \"SUCCESS\" and .requestParameters.roleSessionArn == \$session
       and .requestParameters.kmsMasterKeyArn == \$key)"
if [[ $engine == postgres ]]; then
  if ! grep -qF -- "$COFFER_TEST_PG_DSN" "$work/lookup-events.json" && grep -q CreateDBInstance "$work/lookup-events.json"; then
    ok "no audit record holds the instance's DSN"
  else not_ok "no audit record holds the instance's DSN"; fi
fi

# ---- the end ----------------------------------------------------------------------------------
echo "(backup-seed $engine took $((SECONDS - t_start)) s)"
finish
