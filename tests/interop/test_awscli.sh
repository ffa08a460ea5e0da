#!/usr/bin/env bash
# coffer interop suite: the seed's key story through the unmodified aws CLI (v2 or v1).
#
# Usage: COFFER_ENDPOINT=http://127.0.0.1:PORT COFFER_ROOT_CREDENTIALS=DATA_DIR/root-credentials \
#          tests/interop/test_awscli.sh /usr/bin/aws
# The CLI reads the root key from the shared-credentials file the server wrote
# (AWS_SHARED_CREDENTIALS_FILE); other principals get theirs through the environment.
# Prints "ok - …" / "not ok - …" per check and a closing "N passed, N failed" line (also
# appended to $COFFER_INTEROP_RESULTS when set). Needs jq and python3.
set -uo pipefail

AWS=${1:?usage: test_awscli.sh AWS_CLI_BINARY}
: "${COFFER_ENDPOINT:?COFFER_ENDPOINT must be set}"
: "${COFFER_ROOT_CREDENTIALS:?COFFER_ROOT_CREDENTIALS must be set}"
ACCOUNT=${COFFER_ACCOUNT:-111122223333}
REGION=${COFFER_REGION:-us-east-1}
SFX=$(head -c4 /dev/urandom | od -An -tx1 | tr -d ' \n')

version_line=$("$AWS" --version 2>&1 | head -1)
case $version_line in
  aws-cli/2.*) V=2 ;;
  aws-cli/1.*) V=1 ;;
  *) echo "cannot tell the aws CLI version of $AWS: $version_line" >&2; exit 2 ;;
esac
label="awscli v$V ($AWS, ${version_line%% *})"
echo "== $label; names end in -$SFX"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A clean CLI environment: root's key from the server's file, no user config.
for v in $(env | sed -n 's/^\(AWS_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done
: > "$work/config"
export AWS_CONFIG_FILE="$work/config"
export AWS_SHARED_CREDENTIALS_FILE="$COFFER_ROOT_CREDENTIALS"
export AWS_DEFAULT_REGION="$REGION" AWS_REGION="$REGION"
export AWS_PAGER="" AWS_EC2_METADATA_DISABLED=true

# Service errors exit 254 in v2, 255 in v1.
ERR_EXIT=$([[ $V == 2 ]] && echo 254 || echo 255)

passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok - $1"; }
not_ok() {
  failed=$((failed + 1)); echo "not ok - $1"
  shift; for line in "$@"; do printf '%s\n' "$line" | sed 's/^/    /'; done
}

# run ARGS… : the CLI against coffer; stdout in $OUT, stderr in $ERR, exit status in $RC.
run() {
  OUT=$("$AWS" --endpoint-url "$COFFER_ENDPOINT" --output json "$@" 2>"$work/stderr")
  RC=$?
  read_stderr
}
# The CLI's error line, without the "(reached max retries: N)" a retried call adds.
read_stderr() {
  ERR=$(sed -E 's/ operation \(reached max retries: [0-9]+\): / operation: /' "$work/stderr")
}
# as AK SK TOKEN ARGS… : the same with other credentials (TOKEN may be empty).
as() {
  local ak=$1 sk=$2 tok=$3; shift 3
  if [[ -n $tok ]]; then
    OUT=$(AWS_ACCESS_KEY_ID=$ak AWS_SECRET_ACCESS_KEY=$sk AWS_SESSION_TOKEN=$tok \
      "$AWS" --endpoint-url "$COFFER_ENDPOINT" --output json "$@" 2>"$work/stderr")
  else
    OUT=$(AWS_ACCESS_KEY_ID=$ak AWS_SECRET_ACCESS_KEY=$sk \
      "$AWS" --endpoint-url "$COFFER_ENDPOINT" --output json "$@" 2>"$work/stderr")
  fi
  RC=$?
  read_stderr
}

# expect_ok DESC ARGS… : the call succeeds.
expect_ok() {
  local desc=$1; shift
  run "$@"
  if [[ $RC -eq 0 ]]; then ok "$desc"; else not_ok "$desc" "exit $RC" "$ERR"; fi
}
# check DESC JQ_EXPR : $OUT satisfies the jq expression (which must yield true).
check() {
  local desc=$1 expr=$2
  if jq -e "$expr" >/dev/null 2>&1 <<<"$OUT"; then ok "$desc"; else not_ok "$desc" "jq: $expr" "output: ${OUT:0:600}"; fi
}
# expect_error DESC CODE OPERATION MESSAGE : the last call failed as a service error with
# exactly "An error occurred (CODE) when calling the OPERATION operation: MESSAGE".
expect_error() {
  local desc=$1 code=$2 op=$3 msg=$4
  local want="An error occurred ($code) when calling the $op operation: $msg"
  if [[ $RC -eq $ERR_EXIT ]] && grep -qxF -- "$want" <<<"$ERR"; then
    ok "$desc"
  else
    not_ok "$desc" "want exit $ERR_EXIT and: $want" "got exit $RC: ${ERR:0:600}"
  fi
}
# expect_error_prefix: the same, the message only starting with MESSAGE.
expect_error_prefix() {
  local desc=$1 code=$2 op=$3 msg=$4
  local want="An error occurred ($code) when calling the $op operation: $msg"
  if [[ $RC -eq $ERR_EXIT ]] && grep -qF -- "$want" <<<"$ERR"; then
    ok "$desc"
  else
    not_ok "$desc" "want exit $ERR_EXIT and: $want…" "got exit $RC: ${ERR:0:600}"
  fi
}
same_file() {
  local desc=$1 a=$2 b=$3
  if cmp -s "$a" "$b"; then ok "$desc"; else not_ok "$desc" "$(cmp "$a" "$b" 2>&1; od -An -c "$b" | head -3)"; fi
}
# about_now_plus DESC TIMESTAMP SECONDS : TIMESTAMP (ISO 8601 from v2, epoch seconds from v1)
# is within two minutes of now + SECONDS.
about_now_plus() {
  local desc=$1 ts=$2 secs=$3
  if python3 - "$ts" "$secs" <<'EOF'
import datetime, sys, time
ts, secs = sys.argv[1], float(sys.argv[2])
try:
    t = float(ts)
except ValueError:
    t = datetime.datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
sys.exit(0 if abs(t - (time.time() + secs)) < 120 else 1)
EOF
  then ok "$desc"; else not_ok "$desc" "timestamp $ts is not now + ${secs}s"; fi
}

ROOT_ARN="arn:aws:iam::$ACCOUNT:root"

# ---- who am I ---------------------------------------------------------------------------
expect_ok "sts get-caller-identity (root, from the shared-credentials file)" sts get-caller-identity
check "root identity" ".Arn == \"$ROOT_ARN\" and .Account == \"$ACCOUNT\" and .UserId == \"$ACCOUNT\""

# ---- IAM: the operator and the roles of the seed ------------------------------------------
OPERATOR="operator-$SFX"
expect_ok "iam create-user" iam create-user --user-name "$OPERATOR"
check "user ARN" ".User.Arn == \"arn:aws:iam::$ACCOUNT:user/$OPERATOR\" and (.User.UserId | startswith(\"AIDA\"))"
expect_ok "iam create-access-key" iam create-access-key --user-name "$OPERATOR"
check "access key" '.AccessKey.Status == "Active" and (.AccessKey.AccessKeyId | startswith("AKIA")) and (.AccessKey.SecretAccessKey | length) == 40'
OP_AK=$(jq -r .AccessKey.AccessKeyId <<<"$OUT")
OP_SK=$(jq -r .AccessKey.SecretAccessKey <<<"$OUT")
as "$OP_AK" "$OP_SK" "" sts get-caller-identity
if [[ $RC -eq 0 ]]; then ok "sts get-caller-identity as the user"; else not_ok "sts get-caller-identity as the user" "$ERR"; fi
check "user identity" ".Arn == \"arn:aws:iam::$ACCOUNT:user/$OPERATOR\""

cat >"$work/trust.json" <<EOF
{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::$ACCOUNT:user/$OPERATOR"},"Action":"sts:AssumeRole"}]}
EOF
ADMIN_ROLE="KMSAdminRole-$SFX" USER_ROLE="ExampleRole-$SFX" BACKUP_ROLE="rdstestrole-$SFX"
for role in "$ADMIN_ROLE" "$USER_ROLE" "$BACKUP_ROLE"; do
  expect_ok "iam create-role $role" iam create-role --role-name "$role" \
    --assume-role-policy-document "file://$work/trust.json"
  check "role $role" ".Role.Arn == \"arn:aws:iam::$ACCOUNT:role/$role\" and (.Role.RoleId | startswith(\"AROA\"))"
done
expect_ok "iam get-role" iam get-role --role-name "$BACKUP_ROLE"
check "the CLI decodes the trust policy" ".Role.AssumeRolePolicyDocument.Statement[0].Principal.AWS == \"arn:aws:iam::$ACCOUNT:user/$OPERATOR\""

# ---- KMS: create the key as the console wizard does (seed steps 1–5) ----------------------
cat >"$work/policy.json" <<EOF
{"Version":"2012-10-17","Id":"key-consolepolicy-3","Statement":[
 {"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"$ROOT_ARN"},"Action":"kms:*","Resource":"*"},
 {"Sid":"Allow access for Key Administrators","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::$ACCOUNT:role/$ADMIN_ROLE"]},
  "Action":["kms:Create*","kms:Describe*","kms:Enable*","kms:List*","kms:Put*","kms:Update*","kms:Revoke*","kms:Disable*","kms:Get*","kms:Delete*","kms:TagResource","kms:UntagResource","kms:ScheduleKeyDeletion","kms:CancelKeyDeletion"],"Resource":"*"},
 {"Sid":"Allow use of the key","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::$ACCOUNT:role/$USER_ROLE"]},
  "Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:DescribeKey"],"Resource":"*"},
 {"Sid":"Allow attachment of persistent resources","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::$ACCOUNT:role/$USER_ROLE"]},
  "Action":["kms:CreateGrant","kms:ListGrants","kms:RevokeGrant"],"Resource":"*","Condition":{"Bool":{"kms:GrantIsForAWSResource":true}}}]}
EOF
DESC="Key for SQL Server backup encryption"
expect_ok "kms create-key with description, tags and the console policy" kms create-key \
  --description "$DESC" --tags TagKey=Purpose,TagValue=RDSBackup --policy "file://$work/policy.json"
check "new key metadata" ".KeyMetadata.KeyState == \"Enabled\" and .KeyMetadata.Enabled == true and .KeyMetadata.Description == \"$DESC\" and .KeyMetadata.KeyUsage == \"ENCRYPT_DECRYPT\" and .KeyMetadata.AWSAccountId == \"$ACCOUNT\""
KEY_ID=$(jq -r .KeyMetadata.KeyId <<<"$OUT")
ARN="arn:aws:kms:$REGION:$ACCOUNT:key/$KEY_ID"
check "key ARN" ".KeyMetadata.Arn == \"$ARN\""
ALIAS="alias/rds-backup-$SFX"
expect_ok "kms create-alias" kms create-alias --alias-name "$ALIAS" --target-key-id "$KEY_ID"
expect_ok "kms list-aliases --key-id" kms list-aliases --key-id "$KEY_ID"
check "alias listed" ".Aliases == [.Aliases[] | select(.AliasName == \"$ALIAS\" and .TargetKeyId == \"$KEY_ID\" and .AliasArn == \"arn:aws:kms:$REGION:$ACCOUNT:$ALIAS\")] and (.Aliases | length) == 1"
expect_ok "kms describe-key by alias" kms describe-key --key-id "$ALIAS"
check "described by alias" ".KeyMetadata.Arn == \"$ARN\" and .KeyMetadata.Description == \"$DESC\""
run kms create-alias --alias-name "$ALIAS" --target-key-id "$KEY_ID"
expect_error "kms create-alias twice" AlreadyExistsException CreateAlias \
  "An alias with the name arn:aws:kms:$REGION:$ACCOUNT:$ALIAS already exists"

# Step 5: review the key policy.
run kms get-key-policy --key-id "$KEY_ID" --policy-name default --output text --query Policy
if [[ $RC -eq 0 ]] && cmp -s <(jq -S . <<<"$OUT") <(jq -S . "$work/policy.json"); then
  ok "get-key-policy --output text: the key policy is the one the wizard built"
else
  not_ok "get-key-policy --output text: the key policy is the one the wizard built" "rc=$RC $ERR ${OUT:0:300}"
fi
expect_ok "kms list-resource-tags" kms list-resource-tags --key-id "$KEY_ID"
check "the tag of step 2" '.Tags == [{"TagKey":"Purpose","TagValue":"RDSBackup"}]'
expect_ok "kms list-keys" kms list-keys
check "the key is listed" "[.Keys[] | select(.KeyId == \"$KEY_ID\" and .KeyArn == \"$ARN\")] | length == 1"

# ---- Encrypt/Decrypt: blob arguments in v1 and v2 ----------------------------------------
{ printf 'customer record\0\1\2\377\n'; head -c 300 /dev/urandom; } >"$work/plain.bin"
run kms encrypt --key-id "$ALIAS" --plaintext "fileb://$work/plain.bin" \
  --encryption-context purpose=backup,db=customers
if [[ $RC -eq 0 ]]; then ok "kms encrypt --plaintext fileb:// (raw bytes)"; else not_ok "kms encrypt --plaintext fileb://" "$ERR"; fi
check "Encrypt names the key ARN" ".KeyId == \"$ARN\" and .EncryptionAlgorithm == \"SYMMETRIC_DEFAULT\""
jq -r .CiphertextBlob <<<"$OUT" | base64 -d >"$work/ct.bin"
CT_B64=$(jq -r .CiphertextBlob <<<"$OUT")
run kms decrypt --ciphertext-blob "fileb://$work/ct.bin" \
  --encryption-context db=customers,purpose=backup --query Plaintext --output text
if [[ $RC -eq 0 ]]; then ok "kms decrypt --ciphertext-blob fileb://"; else not_ok "kms decrypt --ciphertext-blob fileb://" "$ERR"; fi
base64 -d <<<"$OUT" >"$work/plain.out" 2>/dev/null
same_file "decrypt gives the bytes back (fileb:// both ways)" "$work/plain.bin" "$work/plain.out"
run kms decrypt --ciphertext-blob "fileb://$work/ct.bin" --encryption-context db=other,purpose=backup
expect_error "decrypt with another encryption context" InvalidCiphertextException Decrypt ""
run kms decrypt --ciphertext-blob "fileb://$work/ct.bin"
expect_error "decrypt without the encryption context" InvalidCiphertextException Decrypt ""

if [[ $V == 2 ]]; then
  # v2: a blob given as a string is base64.
  run kms encrypt --key-id "$KEY_ID" --plaintext "$(printf 'hello v2' | base64)"
  jq -r .CiphertextBlob <<<"$OUT" | base64 -d >"$work/ct2.bin"
  run kms decrypt --ciphertext-blob "$(base64 -w0 "$work/ct2.bin")" --query Plaintext --output text
  if [[ $RC -eq 0 && $(base64 -d <<<"$OUT") == "hello v2" ]]; then ok "v2: --plaintext and --ciphertext-blob as base64 strings"; else not_ok "v2: base64 string blobs" "rc=$RC $ERR ${OUT:0:200}"; fi
  run kms encrypt --key-id "$KEY_ID" --plaintext "raw text in v2" --cli-binary-format raw-in-base64-out
  jq -r .CiphertextBlob <<<"$OUT" | base64 -d >"$work/ct3.bin"
  run kms decrypt --ciphertext-blob "fileb://$work/ct3.bin" --query Plaintext --output text
  if [[ $RC -eq 0 && $(base64 -d <<<"$OUT") == "raw text in v2" ]]; then ok "v2: --cli-binary-format raw-in-base64-out"; else not_ok "v2: raw-in-base64-out" "rc=$RC $ERR ${OUT:0:200}"; fi
else
  # v1: a blob given as a string is sent as its raw bytes (no base64 decoding).
  run kms encrypt --key-id "$KEY_ID" --plaintext "aGVsbG8="
  jq -r .CiphertextBlob <<<"$OUT" | base64 -d >"$work/ct2.bin"
  run kms decrypt --ciphertext-blob "fileb://$work/ct2.bin" --query Plaintext --output text
  if [[ $RC -eq 0 && $(base64 -d <<<"$OUT") == "aGVsbG8=" ]]; then ok "v1: --plaintext string sent as raw text"; else not_ok "v1: raw string blob" "rc=$RC $ERR ${OUT:0:200}"; fi
fi

run kms encrypt --key-id "$KEY_ID" --plaintext "fileb://$work/plain.bin" --query CiphertextBlob --output text
base64 -d <<<"$OUT" >"$work/ct4.bin"
head -c 4097 /dev/zero >"$work/big.bin"
run kms encrypt --key-id "$KEY_ID" --plaintext "fileb://$work/big.bin"
expect_error "encrypt 4097 bytes" ValidationException Encrypt \
  "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to 4096"

expect_ok "kms generate-data-key --key-spec AES_256" kms generate-data-key --key-id "$ALIAS" \
  --key-spec AES_256 --encryption-context task=backup
check "data key: 32 bytes, key ARN" ".KeyId == \"$ARN\" and (.Plaintext | length) == 44"
DK_PLAIN=$(jq -r .Plaintext <<<"$OUT")
jq -r .CiphertextBlob <<<"$OUT" | base64 -d >"$work/dk.bin"
run kms decrypt --ciphertext-blob "fileb://$work/dk.bin" --encryption-context task=backup
check "the encrypted data key decrypts to the data key" ".Plaintext == \"$DK_PLAIN\""
expect_ok "kms generate-random" kms generate-random --number-of-bytes 16
n=$(jq -r .Plaintext <<<"$OUT" | base64 -d | wc -c)
if [[ $n -eq 16 ]]; then ok "16 random bytes"; else not_ok "16 random bytes" "got $n: ${OUT:0:200}"; fi

expect_ok "kms create-key (a second key)" kms create-key --description "second"
KEY2=$(jq -r .KeyMetadata.KeyId <<<"$OUT")
expect_ok "kms re-encrypt" kms re-encrypt --ciphertext-blob "fileb://$work/ct.bin" \
  --source-encryption-context purpose=backup,db=customers --destination-key-id "$KEY2" \
  --destination-encryption-context moved=yes
check "re-encrypt names both keys" ".SourceKeyId == \"$ARN\" and .KeyId == \"arn:aws:kms:$REGION:$ACCOUNT:key/$KEY2\""
jq -r .CiphertextBlob <<<"$OUT" | base64 -d >"$work/ct5.bin"
run kms decrypt --ciphertext-blob "fileb://$work/ct5.bin" --encryption-context moved=yes --query Plaintext --output text
base64 -d <<<"$OUT" >"$work/plain5.out" 2>/dev/null
same_file "re-encrypted ciphertext decrypts under the second key" "$work/plain.bin" "$work/plain5.out"

# ---- the backup role is not a key user (the seed's failed backup) -------------------------
as "$OP_AK" "$OP_SK" "" sts assume-role --role-arn "arn:aws:iam::$ACCOUNT:role/$BACKUP_ROLE" \
  --role-session-name RDS-SqlServerBackupRestore
if [[ $RC -eq 0 ]]; then ok "sts assume-role (trust policy names the user)"; else not_ok "sts assume-role" "$ERR"; fi
check "assumed-role ARN" ".AssumedRoleUser.Arn == \"arn:aws:sts::$ACCOUNT:assumed-role/$BACKUP_ROLE/RDS-SqlServerBackupRestore\" and (.Credentials.AccessKeyId | startswith(\"ASIA\"))"
S_AK=$(jq -r .Credentials.AccessKeyId <<<"$OUT")
S_SK=$(jq -r .Credentials.SecretAccessKey <<<"$OUT")
S_TOK=$(jq -r .Credentials.SessionToken <<<"$OUT")
as "$S_AK" "$S_SK" "$S_TOK" sts get-caller-identity
check "session identity" ".Arn == \"arn:aws:sts::$ACCOUNT:assumed-role/$BACKUP_ROLE/RDS-SqlServerBackupRestore\""
WHO="arn:aws:sts::$ACCOUNT:assumed-role/$BACKUP_ROLE/RDS-SqlServerBackupRestore"
as "$S_AK" "$S_SK" "$S_TOK" kms describe-key --key-id "$KEY_ID"
expect_error "backup role: DescribeKey refused (the seed's error)" AccessDeniedException DescribeKey \
  "User: $WHO is not authorized to perform: kms:DescribeKey on resource: $ARN because no identity-based policy allows the kms:DescribeKey action"
as "$S_AK" "$S_SK" "$S_TOK" kms generate-data-key --key-id "$ALIAS" --key-spec AES_256
expect_error "backup role: GenerateDataKey refused" AccessDeniedException GenerateDataKey \
  "User: $WHO is not authorized to perform: kms:GenerateDataKey on resource: $ARN because no identity-based policy allows the kms:GenerateDataKey action"
# Add the role to the key users, as PutKeyPolicy.
jq --arg r "arn:aws:iam::$ACCOUNT:role/$BACKUP_ROLE" \
  '(.Statement[] | select(.Sid == "Allow use of the key" or .Sid == "Allow attachment of persistent resources") | .Principal.AWS) += [$r]' \
  "$work/policy.json" >"$work/policy2.json"
expect_ok "kms put-key-policy (add the backup role to the key users)" kms put-key-policy \
  --key-id "$KEY_ID" --policy-name default --policy "file://$work/policy2.json"
expect_ok "kms get-key-policy after the change" kms get-key-policy --key-id "$KEY_ID" --policy-name default
if jq -e --slurpfile want "$work/policy2.json" '(.Policy | fromjson) == $want[0]' >/dev/null <<<"$OUT"; then ok "the new policy is in force"; else not_ok "the new policy is in force" "${OUT:0:300}"; fi
as "$S_AK" "$S_SK" "$S_TOK" kms generate-data-key --key-id "$ALIAS" --key-spec AES_256
if [[ $RC -eq 0 ]]; then ok "backup role: GenerateDataKey allowed now"; else not_ok "backup role: GenerateDataKey allowed now" "$ERR"; fi
check "data key for the backup" ".KeyId == \"$ARN\" and (.Plaintext | length) == 44"
as "$S_AK" "$S_SK" "$S_TOK" kms disable-key --key-id "$KEY_ID"
expect_error "backup role cannot administer the key" AccessDeniedException DisableKey \
  "User: $WHO is not authorized to perform: kms:DisableKey on resource: $ARN because no identity-based policy allows the kms:DisableKey action"
as "$S_AK" "$S_SK" "${S_TOK}x" kms list-keys
expect_error "a forged session token" UnrecognizedClientException ListKeys \
  "The security token included in the request is invalid."
as "$S_AK" "$S_SK" "${S_TOK}x" sts get-caller-identity
expect_error "a forged session token (STS)" InvalidClientTokenId GetCallerIdentity \
  "The security token included in the request is invalid."

# ---- GetSessionToken: the operator's own temporary credentials ------------------------------
as "$OP_AK" "$OP_SK" "" sts get-session-token --duration-seconds 900
if [[ $RC -eq 0 ]]; then ok "sts get-session-token (an IAM user)"; else not_ok "sts get-session-token (an IAM user)" "$ERR"; fi
check "temporary credentials" '(.Credentials.AccessKeyId | startswith("ASIA")) and (.Credentials.SecretAccessKey | length) == 40 and (.Credentials.SessionToken | length) > 0'
about_now_plus "they expire when asked" "$(jq -r .Credentials.Expiration <<<"$OUT")" 900
T_AK=$(jq -r .Credentials.AccessKeyId <<<"$OUT")
T_SK=$(jq -r .Credentials.SecretAccessKey <<<"$OUT")
T_TOK=$(jq -r .Credentials.SessionToken <<<"$OUT")
as "$T_AK" "$T_SK" "$T_TOK" sts get-caller-identity
check "the session acts as the user" ".Arn == \"arn:aws:iam::$ACCOUNT:user/$OPERATOR\""
as "$T_AK" "$T_SK" "$T_TOK" iam list-users
expect_error "IAM refuses them (no MFA)" InvalidClientTokenId ListUsers \
  "The security token included in the request is invalid."
as "$T_AK" "$T_SK" "$T_TOK" sts get-session-token
expect_error "no session from a session" AccessDenied GetSessionToken \
  "Cannot call GetSessionToken with session credentials"

# ---- a grant: the backup role uses the second key without being in its policy --------------
ARN2="arn:aws:kms:$REGION:$ACCOUNT:key/$KEY2"
ROLE_ARN="arn:aws:iam::$ACCOUNT:role/$BACKUP_ROLE"
as "$S_AK" "$S_SK" "$S_TOK" kms encrypt --key-id "$KEY2" --plaintext fileb://"$work/plain.bin" \
  --encryption-context db=customers
expect_error "backup role: Encrypt under the second key refused (no grant yet)" AccessDeniedException Encrypt \
  "User: $WHO is not authorized to perform: kms:Encrypt on resource: $ARN2 because no identity-based policy allows the kms:Encrypt action"
expect_ok "kms create-grant (role, Encrypt+Decrypt, encryption context subset)" kms create-grant \
  --key-id "$KEY2" --grantee-principal "$ROLE_ARN" --operations Encrypt Decrypt \
  --constraints EncryptionContextSubset={db=customers} --retiring-principal "$ROLE_ARN" --name "backups-$SFX"
check "grant id and token" '(.GrantId | test("^[0-9a-f]{64}$")) and (.GrantToken | length) > 0'
GRANT_ID=$(jq -r .GrantId <<<"$OUT")
GRANT_TOKEN=$(jq -r .GrantToken <<<"$OUT")
expect_ok "kms list-grants" kms list-grants --key-id "$KEY2"
check "the grant as listed" ".Grants | length == 1 and .[0].GrantId == \"$GRANT_ID\" and .[0].KeyId == \"$ARN2\" and .[0].GranteePrincipal == \"$ROLE_ARN\" and .[0].RetiringPrincipal == \"$ROLE_ARN\" and .[0].Operations == [\"Encrypt\",\"Decrypt\"] and .[0].Constraints.EncryptionContextSubset.db == \"customers\" and .[0].IssuingAccount == \"$ROOT_ARN\" and .[0].Name == \"backups-$SFX\""
as "$S_AK" "$S_SK" "$S_TOK" kms encrypt --key-id "$KEY2" --plaintext fileb://"$work/plain.bin" \
  --encryption-context db=customers,part=1
if [[ $RC -eq 0 ]]; then ok "backup role: Encrypt allowed by the grant"; else not_ok "backup role: Encrypt allowed by the grant" "$ERR"; fi
jq -r .CiphertextBlob <<<"$OUT" | base64 -d >"$work/ct-grant.bin"
as "$S_AK" "$S_SK" "$S_TOK" kms decrypt --ciphertext-blob "fileb://$work/ct-grant.bin" \
  --encryption-context db=customers,part=1 --query Plaintext --output text
base64 -d <<<"$OUT" >"$work/plain-grant.out" 2>/dev/null
same_file "backup role: Decrypt allowed by the grant" "$work/plain.bin" "$work/plain-grant.out"
as "$S_AK" "$S_SK" "$S_TOK" kms encrypt --key-id "$KEY2" --plaintext fileb://"$work/plain.bin" \
  --encryption-context db=orders
expect_error "backup role: Encrypt outside the grant's constraint refused" AccessDeniedException Encrypt \
  "User: $WHO is not authorized to perform: kms:Encrypt on resource: $ARN2 because no identity-based policy allows the kms:Encrypt action"
run kms create-grant --key-id "$ALIAS" --grantee-principal "$ROLE_ARN" --operations Encrypt
expect_error "kms create-grant refuses an alias" InvalidArnException CreateGrant \
  "Key Aliases are not supported for this operation."
as "$S_AK" "$S_SK" "$S_TOK" kms retire-grant --grant-token "$GRANT_TOKEN"
if [[ $RC -eq 0 ]]; then ok "kms retire-grant by the retiring principal (token)"; else not_ok "kms retire-grant by the retiring principal (token)" "$ERR"; fi
as "$S_AK" "$S_SK" "$S_TOK" kms encrypt --key-id "$KEY2" --plaintext fileb://"$work/plain.bin" \
  --encryption-context db=customers
expect_error "backup role: Encrypt refused once the grant is retired" AccessDeniedException Encrypt \
  "User: $WHO is not authorized to perform: kms:Encrypt on resource: $ARN2 because no identity-based policy allows the kms:Encrypt action"
expect_ok "kms create-grant (DescribeKey)" kms create-grant --key-id "$KEY2" --grantee-principal "$ROLE_ARN" --operations DescribeKey
GRANT2=$(jq -r .GrantId <<<"$OUT")
expect_ok "kms revoke-grant" kms revoke-grant --key-id "$KEY2" --grant-id "$GRANT2"
run kms revoke-grant --key-id "$KEY2" --grant-id "$GRANT2"
expect_error "kms revoke-grant of a revoked grant" NotFoundException RevokeGrant "Grant ID $GRANT2 not found"
expect_ok "kms list-grants after retire and revoke" kms list-grants --key-id "$KEY2"
check "no grant left" '.Grants == []'

# ---- disable, schedule deletion, cancel (the seed's clean-up, then undone) ----------------
# These take a key id or key ARN (AWS's API reference), not an alias: refused, key untouched.
run kms disable-key --key-id "$ALIAS"
expect_error "kms disable-key by alias name refused" NotFoundException DisableKey \
  "Invalid keyId '$ALIAS'"
run kms schedule-key-deletion --key-id "arn:aws:kms:$REGION:$ACCOUNT:$ALIAS" --pending-window-in-days 7
expect_error "kms schedule-key-deletion by alias ARN refused" NotFoundException ScheduleKeyDeletion \
  "Invalid keyId 'arn:aws:kms:$REGION:$ACCOUNT:$ALIAS'"
expect_ok "kms describe-key by alias (still enabled)" kms describe-key --key-id "$ALIAS"
check "key still enabled after the refused calls" '.KeyMetadata.KeyState == "Enabled"'
expect_ok "kms disable-key" kms disable-key --key-id "$KEY_ID"
expect_ok "kms describe-key (disabled)" kms describe-key --key-id "$KEY_ID"
check "Disabled" '.KeyMetadata.KeyState == "Disabled" and .KeyMetadata.Enabled == false'
run kms encrypt --key-id "$KEY_ID" --plaintext "fileb://$work/plain.bin"
expect_error "encrypt under a disabled key" DisabledException Encrypt "$ARN is disabled."
expect_ok "kms schedule-key-deletion --pending-window-in-days 7" kms schedule-key-deletion \
  --key-id "$KEY_ID" --pending-window-in-days 7
check "deletion scheduled" ".KeyId == \"$ARN\""
about_now_plus "DeletionDate is 7 days ahead" "$(jq -r .DeletionDate <<<"$OUT")" $((7 * 86400))
expect_ok "kms describe-key (pending deletion)" kms describe-key --key-id "$ALIAS"
check "PendingDeletion" '.KeyMetadata.KeyState == "PendingDeletion" and (.KeyMetadata.DeletionDate != null)'
run kms decrypt --ciphertext-blob "fileb://$work/ct4.bin"
expect_error "decrypt under a key pending deletion" KMSInvalidStateException Decrypt "$ARN is pending deletion."
run kms enable-key --key-id "$KEY_ID"
expect_error "enable a key pending deletion" KMSInvalidStateException EnableKey "$ARN is pending deletion."
expect_ok "kms cancel-key-deletion" kms cancel-key-deletion --key-id "$KEY_ID"
check "cancelled" ".KeyId == \"$ARN\""
expect_ok "kms describe-key (after cancel)" kms describe-key --key-id "$KEY_ID"
check "a cancelled key comes back disabled" '.KeyMetadata.KeyState == "Disabled" and (.KeyMetadata.DeletionDate == null)'
run kms cancel-key-deletion --key-id "$KEY_ID"
expect_error "cancel twice" KMSInvalidStateException CancelKeyDeletion "$ARN is not pending deletion"
expect_ok "kms enable-key" kms enable-key --key-id "$KEY_ID"
run kms decrypt --ciphertext-blob "fileb://$work/ct4.bin" --query Plaintext --output text
base64 -d <<<"$OUT" >"$work/plain4.out" 2>/dev/null
same_file "the old ciphertext decrypts again" "$work/plain.bin" "$work/plain4.out"

# ---- rotation, description, tags ------------------------------------------------------------
expect_ok "kms enable-key-rotation" kms enable-key-rotation --key-id "$KEY_ID"
expect_ok "kms get-key-rotation-status" kms get-key-rotation-status --key-id "$KEY_ID"
check "rotation enabled" '.KeyRotationEnabled == true'
expect_ok "kms tag-resource" kms tag-resource --key-id "$KEY_ID" --tags TagKey=Env,TagValue=prod
expect_ok "kms untag-resource" kms untag-resource --key-id "$KEY_ID" --tag-keys Purpose
expect_ok "kms list-resource-tags" kms list-resource-tags --key-id "$KEY_ID"
check "tags after tag/untag" '.Tags == [{"TagKey":"Env","TagValue":"prod"}]'
ALIAS2="alias/rds-backup-moved-$SFX"
expect_ok "kms create-alias (second)" kms create-alias --alias-name "$ALIAS2" --target-key-id "$KEY_ID"
expect_ok "kms update-alias" kms update-alias --alias-name "$ALIAS2" --target-key-id "$KEY2"
expect_ok "kms describe-key by the moved alias" kms describe-key --key-id "$ALIAS2"
check "alias points at the second key" ".KeyMetadata.KeyId == \"$KEY2\""
expect_ok "kms delete-alias" kms delete-alias --alias-name "$ALIAS2"
run kms describe-key --key-id "$ALIAS2"
expect_error "describe a deleted alias" NotFoundException DescribeKey "Alias 'arn:aws:kms:$REGION:$ACCOUNT:$ALIAS2' is not found."

# ---- IAM users, keys and inline policies -------------------------------------------------
USER2="carol-$SFX"
expect_ok "iam create-user (carol)" iam create-user --user-name "$USER2"
run iam create-user --user-name "$USER2"
expect_error "iam create-user twice" EntityAlreadyExists CreateUser "User with name $USER2 already exists."
expect_ok "iam list-users" iam list-users
check "carol is listed" "[.Users[] | select(.UserName == \"$USER2\")] | length == 1"
cat >"$work/user-policy.json" <<EOF
{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt","kms:DescribeKey"],"Resource":"$ARN"}]}
EOF
expect_ok "iam put-user-policy" iam put-user-policy --user-name "$USER2" --policy-name use-key \
  --policy-document "file://$work/user-policy.json"
expect_ok "iam get-user-policy" iam get-user-policy --user-name "$USER2" --policy-name use-key
if jq -e --slurpfile want "$work/user-policy.json" '.PolicyDocument == $want[0]' >/dev/null <<<"$OUT"; then ok "the CLI decodes the policy document"; else not_ok "the CLI decodes the policy document" "${OUT:0:300}"; fi
expect_ok "iam create-access-key (carol)" iam create-access-key --user-name "$USER2"
C_AK=$(jq -r .AccessKey.AccessKeyId <<<"$OUT")
C_SK=$(jq -r .AccessKey.SecretAccessKey <<<"$OUT")
as "$C_AK" "$C_SK" "" kms encrypt --key-id "$KEY_ID" --plaintext "fileb://$work/plain.bin"
if [[ $RC -eq 0 ]]; then ok "carol encrypts: key policy names the account, her identity policy allows"; else not_ok "carol encrypts" "$ERR"; fi
as "$C_AK" "$C_SK" "" kms encrypt --key-id "$KEY2" --plaintext "fileb://$work/plain.bin"
expect_error "carol is refused another key" AccessDeniedException Encrypt \
  "User: arn:aws:iam::$ACCOUNT:user/$USER2 is not authorized to perform: kms:Encrypt on resource: arn:aws:kms:$REGION:$ACCOUNT:key/$KEY2 because no identity-based policy allows the kms:Encrypt action"
expect_ok "iam update-access-key --status Inactive" iam update-access-key --user-name "$USER2" \
  --access-key-id "$C_AK" --status Inactive
as "$C_AK" "$C_SK" "" sts get-caller-identity
expect_error "an inactive key is refused" InvalidClientTokenId GetCallerIdentity \
  "The security token included in the request is invalid."
as "$OP_AK" "wrong-secret-wrong-secret-wrong-secret-00" "" kms list-keys
expect_error_prefix "a wrong secret is refused (KMS)" InvalidSignatureException ListKeys \
  "The request signature we calculated does not match the signature you provided."
as "AKIA$(head -c8 /dev/urandom | od -An -tx1 | tr -d ' \n' | tr a-f A-F)" "x" "" kms list-keys
expect_error "an unknown access key is refused" UnrecognizedClientException ListKeys \
  "The security token included in the request is invalid."
run iam delete-user --user-name "$USER2"
expect_error_prefix "iam delete-user with keys and policies" DeleteConflict DeleteUser "Cannot delete entity, must delete"
expect_ok "iam delete-access-key" iam delete-access-key --user-name "$USER2" --access-key-id "$C_AK"
expect_ok "iam delete-user-policy" iam delete-user-policy --user-name "$USER2" --policy-name use-key
expect_ok "iam delete-user" iam delete-user --user-name "$USER2"
run iam get-user --user-name "$USER2"
expect_error "the user is gone" NoSuchEntity GetUser "The user with name $USER2 cannot be found."
# A key policy naming a user who is deleted, then created anew, shows the deleted user's
# unique id, as AWS does; saving that policy back is refused, not a grant to the new user.
USER3="dave-$SFX"
expect_ok "iam create-user (dave)" iam create-user --user-name "$USER3"
D_ID=$(jq -r .User.UserId <<<"$OUT") D_ARN=$(jq -r .User.Arn <<<"$OUT")
printf '{"Version":"2012-10-17","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:root"},"Action":"kms:*","Resource":"*"},{"Sid":"dave","Effect":"Allow","Principal":{"AWS":"%s"},"Action":"kms:Decrypt","Resource":"*"}]}' \
  "$ACCOUNT" "$D_ARN" >"$work/dave-policy.json"
expect_ok "kms create-key naming dave" kms create-key --policy "file://$work/dave-policy.json"
D_KEY=$(jq -r .KeyMetadata.KeyId <<<"$OUT")
expect_ok "iam delete-user (dave)" iam delete-user --user-name "$USER3"
expect_ok "iam create-user (dave again)" iam create-user --user-name "$USER3"
expect_ok "kms get-key-policy after dave was deleted" kms get-key-policy --key-id "$D_KEY" \
  --policy-name default
check "the policy shows the deleted dave's unique id, not his ARN" \
  "(.Policy | fromjson | .Statement[1].Principal.AWS) == \"$D_ID\" and (.Policy | contains(\"$D_ARN\") | not)"
jq -r .Policy <<<"$OUT" >"$work/dave-shown.json"
run kms put-key-policy --key-id "$D_KEY" --policy-name default --policy "file://$work/dave-shown.json"
if [[ $RC -eq $ERR_EXIT ]] && grep -qF "(MalformedPolicyDocumentException)" <<<"$ERR"; then
  ok "the shown policy saved back is refused"
else not_ok "the shown policy saved back is refused" "exit $RC: ${ERR:0:300}"; fi
expect_ok "iam delete-user (the new dave)" iam delete-user --user-name "$USER3"

# ---- IAM managed policies: create-policy and attach, as the RDS guide makes its role ----------
USER4="erin-$SFX" MPOL="key-use-$SFX"
MPOL_ARN="arn:aws:iam::$ACCOUNT:policy/backup/$MPOL"
cat >"$work/managed.json" <<EOF
{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:Encrypt","kms:DescribeKey"],"Resource":"arn:aws:kms:$REGION:$ACCOUNT:key/$KEY2"}]}
EOF
expect_ok "iam create-policy" iam create-policy --policy-name "$MPOL" --path /backup/ \
  --policy-document "file://$work/managed.json" --description "erin's key use"
check "the policy" ".Policy.Arn == \"$MPOL_ARN\" and .Policy.DefaultVersionId == \"v1\" and (.Policy.PolicyId | startswith(\"ANPA\"))"
run iam create-policy --policy-name "$MPOL" --policy-document "file://$work/managed.json"
expect_error "iam create-policy twice" EntityAlreadyExists CreatePolicy \
  "A policy called $MPOL already exists. Duplicate names are not allowed."
expect_ok "iam get-policy-version" iam get-policy-version --policy-arn "$MPOL_ARN" --version-id v1
if jq -e --slurpfile want "$work/managed.json" '.PolicyVersion.Document == $want[0]' >/dev/null <<<"$OUT"; then ok "the CLI decodes the version's document"; else not_ok "the CLI decodes the version's document" "${OUT:0:300}"; fi
expect_ok "iam create-user (erin)" iam create-user --user-name "$USER4"
expect_ok "iam create-access-key (erin)" iam create-access-key --user-name "$USER4"
E_AK=$(jq -r .AccessKey.AccessKeyId <<<"$OUT")
E_SK=$(jq -r .AccessKey.SecretAccessKey <<<"$OUT")
as "$E_AK" "$E_SK" "" kms encrypt --key-id "$KEY2" --plaintext "fileb://$work/plain.bin"
expect_error "erin is refused before the policy is attached" AccessDeniedException Encrypt \
  "User: arn:aws:iam::$ACCOUNT:user/$USER4 is not authorized to perform: kms:Encrypt on resource: arn:aws:kms:$REGION:$ACCOUNT:key/$KEY2 because no identity-based policy allows the kms:Encrypt action"
expect_ok "iam attach-user-policy" iam attach-user-policy --user-name "$USER4" --policy-arn "$MPOL_ARN"
as "$E_AK" "$E_SK" "" kms encrypt --key-id "$KEY2" --plaintext "fileb://$work/plain.bin"
if [[ $RC -eq 0 ]]; then ok "erin encrypts through the attached policy"; else not_ok "erin encrypts through the attached policy" "$ERR"; fi
expect_ok "iam get-access-key-last-used" iam get-access-key-last-used --access-key-id "$E_AK"
check "erin's key was last used for kms" ".UserName == \"$USER4\" and .AccessKeyLastUsed.ServiceName == \"kms\" and .AccessKeyLastUsed.Region == \"$REGION\" and (.AccessKeyLastUsed.LastUsedDate != null)"
expect_ok "iam list-attached-user-policies" iam list-attached-user-policies --user-name "$USER4"
check "the policy is attached" ".AttachedPolicies == [{\"PolicyName\": \"$MPOL\", \"PolicyArn\": \"$MPOL_ARN\"}]"
expect_ok "iam list-entities-for-policy" iam list-entities-for-policy --policy-arn "$MPOL_ARN"
check "erin is listed" "[.PolicyUsers[].UserName] == [\"$USER4\"]"
run iam attach-user-policy --user-name "$USER4" --policy-arn arn:aws:iam::aws:policy/AdministratorAccess
expect_error "an AWS managed policy is not attachable here" NoSuchEntity AttachUserPolicy \
  "Policy arn:aws:iam::aws:policy/AdministratorAccess does not exist or is not attachable."
run iam delete-policy --policy-arn "$MPOL_ARN"
expect_error "iam delete-policy while attached" DeleteConflict DeletePolicy \
  "Cannot delete a policy attached to entities."
expect_ok "iam delete-access-key (erin)" iam delete-access-key --user-name "$USER4" --access-key-id "$E_AK"
run iam delete-user --user-name "$USER4"
expect_error "iam delete-user with a policy attached" DeleteConflict DeleteUser \
  "Cannot delete entity, must detach all policies first."
expect_ok "iam detach-user-policy" iam detach-user-policy --user-name "$USER4" --policy-arn "$MPOL_ARN"
expect_ok "iam delete-user (erin)" iam delete-user --user-name "$USER4"
expect_ok "iam create-policy-version --set-as-default" iam create-policy-version \
  --policy-arn "$MPOL_ARN" --policy-document "file://$work/managed.json" --set-as-default
check "version 2, the default" '.PolicyVersion.VersionId == "v2" and .PolicyVersion.IsDefaultVersion == true'
run iam delete-policy-version --policy-arn "$MPOL_ARN" --version-id v2
expect_error "iam delete-policy-version of the default" DeleteConflict DeletePolicyVersion \
  "Cannot delete the default version of a policy."
expect_ok "iam delete-policy-version v1" iam delete-policy-version --policy-arn "$MPOL_ARN" --version-id v1
expect_ok "iam list-policies --scope Local" iam list-policies --scope Local --path-prefix /backup/
check "it is listed" "[.Policies[] | select(.Arn == \"$MPOL_ARN\")] | length == 1"
expect_ok "iam delete-policy" iam delete-policy --policy-arn "$MPOL_ARN"
run iam get-policy --policy-arn "$MPOL_ARN"
expect_error "the policy is gone" NoSuchEntity GetPolicy "Policy $MPOL_ARN was not found."

# ---- IAM groups: key use through a group's policies -------------------------------------------
USER5="frank-$SFX" GROUP="key-users-$SFX" DPOL="no-encrypt-$SFX"
GROUP_ARN="arn:aws:iam::$ACCOUNT:group/backup/$GROUP"
DPOL_ARN="arn:aws:iam::$ACCOUNT:policy/$DPOL"
F_DENIED="User: arn:aws:iam::$ACCOUNT:user/$USER5 is not authorized to perform: kms:Encrypt on resource: arn:aws:kms:$REGION:$ACCOUNT:key/$KEY2"
expect_ok "iam create-group" iam create-group --group-name "$GROUP" --path /backup/
check "the group" ".Group.Arn == \"$GROUP_ARN\" and .Group.Path == \"/backup/\" and (.Group.GroupId | startswith(\"AGPA\"))"
run iam create-group --group-name "$GROUP"
expect_error "iam create-group twice" EntityAlreadyExists CreateGroup "Group with name $GROUP already exists."
expect_ok "iam create-user (frank)" iam create-user --user-name "$USER5"
expect_ok "iam create-access-key (frank)" iam create-access-key --user-name "$USER5"
F_AK=$(jq -r .AccessKey.AccessKeyId <<<"$OUT")
F_SK=$(jq -r .AccessKey.SecretAccessKey <<<"$OUT")
expect_ok "iam put-group-policy" iam put-group-policy --group-name "$GROUP" --policy-name use-key \
  --policy-document "file://$work/managed.json"
as "$F_AK" "$F_SK" "" kms encrypt --key-id "$KEY2" --plaintext "fileb://$work/plain.bin"
expect_error "frank is refused before he is in the group" AccessDeniedException Encrypt \
  "$F_DENIED because no identity-based policy allows the kms:Encrypt action"
expect_ok "iam add-user-to-group" iam add-user-to-group --group-name "$GROUP" --user-name "$USER5"
as "$F_AK" "$F_SK" "" kms encrypt --key-id "$KEY2" --plaintext "fileb://$work/plain.bin"
if [[ $RC -eq 0 ]]; then ok "frank encrypts through his group's policy"; else not_ok "frank encrypts through his group's policy" "$ERR"; fi
expect_ok "iam get-group" iam get-group --group-name "$GROUP"
check "the group and its user" ".Group.Arn == \"$GROUP_ARN\" and [.Users[].UserName] == [\"$USER5\"]"
expect_ok "iam list-groups-for-user" iam list-groups-for-user --user-name "$USER5"
check "frank's groups" "[.Groups[].GroupName] == [\"$GROUP\"]"
expect_ok "iam list-groups --path-prefix" iam list-groups --path-prefix /backup/
check "the group is listed" "[.Groups[] | select(.GroupName == \"$GROUP\")] | length == 1"
expect_ok "iam get-group-policy" iam get-group-policy --group-name "$GROUP" --policy-name use-key
if jq -e --slurpfile want "$work/managed.json" '.PolicyDocument == $want[0]' >/dev/null <<<"$OUT"; then ok "the CLI decodes the group policy"; else not_ok "the CLI decodes the group policy" "${OUT:0:300}"; fi
expect_ok "iam list-group-policies" iam list-group-policies --group-name "$GROUP"
check "the group's policy names" '.PolicyNames == ["use-key"]'
expect_ok "iam update-group (a new name)" iam update-group --group-name "$GROUP" --new-group-name "$GROUP-x"
expect_ok "iam get-group (renamed)" iam get-group --group-name "$GROUP-x"
check "renamed, with its user" ".Group.Arn == \"arn:aws:iam::$ACCOUNT:group/backup/$GROUP-x\" and [.Users[].UserName] == [\"$USER5\"]"
as "$F_AK" "$F_SK" "" kms encrypt --key-id "$KEY2" --plaintext "fileb://$work/plain.bin"
if [[ $RC -eq 0 ]]; then ok "frank still encrypts through the renamed group"; else not_ok "frank still encrypts through the renamed group" "$ERR"; fi
run iam get-group --group-name "$GROUP"
expect_error "the old name is gone" NoSuchEntity GetGroup "The group with name $GROUP cannot be found."
expect_ok "iam update-group (the name back)" iam update-group --group-name "$GROUP-x" --new-group-name "$GROUP"
cat >"$work/no-encrypt.json" <<EOF
{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"kms:Encrypt","Resource":"*"}]}
EOF
expect_ok "iam create-policy (a deny)" iam create-policy --policy-name "$DPOL" \
  --policy-document "file://$work/no-encrypt.json"
expect_ok "iam attach-group-policy" iam attach-group-policy --group-name "$GROUP" --policy-arn "$DPOL_ARN"
as "$F_AK" "$F_SK" "" kms encrypt --key-id "$KEY2" --plaintext "fileb://$work/plain.bin"
expect_error "a deny attached to the group wins" AccessDeniedException Encrypt \
  "$F_DENIED with an explicit deny in an identity-based policy"
expect_ok "iam list-attached-group-policies" iam list-attached-group-policies --group-name "$GROUP"
check "the deny is attached" ".AttachedPolicies == [{\"PolicyName\": \"$DPOL\", \"PolicyArn\": \"$DPOL_ARN\"}]"
expect_ok "iam list-entities-for-policy (a group)" iam list-entities-for-policy --policy-arn "$DPOL_ARN"
check "the group is listed" "[.PolicyGroups[].GroupName] == [\"$GROUP\"] and .PolicyUsers == [] and .PolicyRoles == []"
expect_ok "iam detach-group-policy" iam detach-group-policy --group-name "$GROUP" --policy-arn "$DPOL_ARN"
expect_ok "iam delete-policy (the deny)" iam delete-policy --policy-arn "$DPOL_ARN"
run iam delete-group --group-name "$GROUP"
expect_error "iam delete-group with a user" DeleteConflict DeleteGroup \
  "Cannot delete entity, must remove users from group first."
expect_ok "iam delete-access-key (frank)" iam delete-access-key --user-name "$USER5" --access-key-id "$F_AK"
run iam delete-user --user-name "$USER5"
expect_error "iam delete-user while in a group" DeleteConflict DeleteUser \
  "Cannot delete entity, must remove users from group first."
expect_ok "iam remove-user-from-group" iam remove-user-from-group --group-name "$GROUP" --user-name "$USER5"
run iam remove-user-from-group --group-name "$GROUP" --user-name "$USER5"
expect_error "iam remove-user-from-group twice" NoSuchEntity RemoveUserFromGroup \
  "The user with name $USER5 cannot be found."
run iam delete-group --group-name "$GROUP"
expect_error "iam delete-group with a policy" DeleteConflict DeleteGroup \
  "Cannot delete entity, must delete policies first."
expect_ok "iam delete-group-policy" iam delete-group-policy --group-name "$GROUP" --policy-name use-key
expect_ok "iam delete-group" iam delete-group --group-name "$GROUP"
run iam get-group --group-name "$GROUP"
expect_error "the group is gone" NoSuchEntity GetGroup "The group with name $GROUP cannot be found."
expect_ok "iam delete-user (frank)" iam delete-user --user-name "$USER5"

# ---- IAM roles ------------------------------------------------------------------------------
expect_ok "iam list-roles" iam list-roles
check "the seed's roles are listed" "[.Roles[] | select(.RoleName == \"$BACKUP_ROLE\" or .RoleName == \"$ADMIN_ROLE\" or .RoleName == \"$USER_ROLE\")] | length == 3"
cat >"$work/role-policy.json" <<EOF
{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"kms:Decrypt","Resource":"*"}]}
EOF
expect_ok "iam put-role-policy (explicit deny on the backup role)" iam put-role-policy \
  --role-name "$BACKUP_ROLE" --policy-name no-decrypt --policy-document "file://$work/role-policy.json"
expect_ok "iam get-role-policy" iam get-role-policy --role-name "$BACKUP_ROLE" --policy-name no-decrypt
check "role policy" '.PolicyDocument.Statement[0].Effect == "Deny"'
as "$S_AK" "$S_SK" "$S_TOK" kms decrypt --ciphertext-blob "fileb://$work/ct4.bin"
expect_error "an explicit deny wins over the key policy" AccessDeniedException Decrypt \
  "User: $WHO is not authorized to perform: kms:Decrypt on resource: $ARN with an explicit deny in an identity-based policy"
expect_ok "iam delete-role-policy" iam delete-role-policy --role-name "$BACKUP_ROLE" --policy-name no-decrypt
# The console's "Revoke active sessions": sessions issued before now are denied everything.
cat >"$work/revoke.json" <<EOF
{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:TokenIssueTime":"$(date -u -d '+2 seconds' +%Y-%m-%dT%H:%M:%SZ)"}}}]}
EOF
expect_ok "iam put-role-policy (revoke active sessions)" iam put-role-policy \
  --role-name "$BACKUP_ROLE" --policy-name AWSRevokeOlderSessions --policy-document "file://$work/revoke.json"
as "$S_AK" "$S_SK" "$S_TOK" kms decrypt --ciphertext-blob "fileb://$work/ct4.bin"
expect_error "a revoked session is denied (aws:TokenIssueTime)" AccessDeniedException Decrypt \
  "User: $WHO is not authorized to perform: kms:Decrypt on resource: $ARN with an explicit deny in an identity-based policy"
expect_ok "iam delete-role-policy (revocation)" iam delete-role-policy --role-name "$BACKUP_ROLE" \
  --policy-name AWSRevokeOlderSessions
as "$S_AK" "$S_SK" "$S_TOK" kms decrypt --ciphertext-blob "fileb://$work/ct4.bin"
if [[ $RC -eq 0 ]]; then ok "decrypt allowed once the deny is gone"; else not_ok "decrypt allowed once the deny is gone" "$ERR"; fi
cat >"$work/trust2.json" <<EOF
{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"rds.amazonaws.com"},"Action":"sts:AssumeRole"}]}
EOF
expect_ok "iam update-assume-role-policy (RDS may assume it)" iam update-assume-role-policy \
  --role-name "$BACKUP_ROLE" --policy-document "file://$work/trust2.json"
as "$OP_AK" "$OP_SK" "" sts assume-role --role-arn "arn:aws:iam::$ACCOUNT:role/$BACKUP_ROLE" --role-session-name again
expect_error "the operator may no longer assume the role" AccessDenied AssumeRole \
  "User: arn:aws:iam::$ACCOUNT:user/$OPERATOR is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::$ACCOUNT:role/$BACKUP_ROLE"
expect_ok "iam update-role" iam update-role --role-name "$BACKUP_ROLE" \
  --description "nightly backups" --max-session-duration 7200
expect_ok "iam get-role after update-role" iam get-role --role-name "$BACKUP_ROLE"
check "update-role set both" '.Role.Description == "nightly backups" and .Role.MaxSessionDuration == 7200'
expect_ok "iam update-role-description" iam update-role-description --role-name "$BACKUP_ROLE" \
  --description weekly
check "update-role-description answers the role" \
  '.Role.Description == "weekly" and .Role.MaxSessionDuration == 7200 and .Role.RoleName == "'"$BACKUP_ROLE"'"'
run iam update-role --role-name "$BACKUP_ROLE" --description never --max-session-duration 50000
expect_error "update-role above 12 hours" ValidationError UpdateRole \
  "1 validation error detected: Value '50000' at 'maxSessionDuration' failed to satisfy constraint: Member must have value less than or equal to 43200"
expect_ok "iam get-role after a refused update-role" iam get-role --role-name "$BACKUP_ROLE"
check "a refused update-role changed nothing" '.Role.Description == "weekly" and .Role.MaxSessionDuration == 7200'
expect_ok "iam delete-role" iam delete-role --role-name "$ADMIN_ROLE"
run iam get-role --role-name "$ADMIN_ROLE"
expect_error "the role is gone" NoSuchEntity GetRole "The role with name $ADMIN_ROLE cannot be found."

# ---- audit: a scripted sequence, then `aws cloudtrail lookup-events` finds each call ------------
AUD_USER=audit-user-$SFX AUD_ALIAS=alias/audit-$SFX
T0=$(( $(date -u +%s) - 2 ))
expect_ok "audit: kms create-key" kms create-key --description "audit-$SFX"
AKEY_ID=$(jq -r .KeyMetadata.KeyId <<<"$OUT") AKEY_ARN=$(jq -r .KeyMetadata.Arn <<<"$OUT")
expect_ok "audit: kms create-alias" kms create-alias --alias-name "$AUD_ALIAS" --target-key-id "$AKEY_ID"
expect_ok "audit: kms update-key-description" kms update-key-description --key-id "$AKEY_ID" \
  --description "audit-2-$SFX"
printf '{"Version":"2012-10-17","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:root"},"Action":"kms:*","Resource":"*"}]}' \
  "$ACCOUNT" >"$work/audit-policy.json"
expect_ok "audit: kms put-key-policy" kms put-key-policy --key-id "$AKEY_ID" --policy-name default \
  --policy "file://$work/audit-policy.json"
printf 'audit plaintext %s' "$(head -c16 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$work/audit-plain.bin"
expect_ok "audit: kms encrypt" kms encrypt --key-id "$AUD_ALIAS" --plaintext "fileb://$work/audit-plain.bin" \
  --encryption-context purpose=audit
jq -r .CiphertextBlob <<<"$OUT" | base64 -d >"$work/audit-ct.bin"
expect_ok "audit: kms decrypt" kms decrypt --ciphertext-blob "fileb://$work/audit-ct.bin" \
  --encryption-context purpose=audit
expect_ok "audit: kms generate-data-key" kms generate-data-key --key-id "$AKEY_ID" --key-spec AES_256
AUD_DATA_KEY=$(jq -r .Plaintext <<<"$OUT")
expect_ok "audit: iam create-user" iam create-user --user-name "$AUD_USER"
expect_ok "audit: iam create-access-key" iam create-access-key --user-name "$AUD_USER"
AUD_AK=$(jq -r .AccessKey.AccessKeyId <<<"$OUT") AUD_SK=$(jq -r .AccessKey.SecretAccessKey <<<"$OUT")
as "$AUD_AK" "$AUD_SK" "" kms decrypt --ciphertext-blob "fileb://$work/audit-ct.bin" \
  --encryption-context purpose=audit
expect_error_prefix "audit: the user's decrypt is denied" AccessDeniedException Decrypt \
  "User: arn:aws:iam::$ACCOUNT:user/$AUD_USER is not authorized to perform: kms:Decrypt"
T1=$(( $(date -u +%s) + 2 ))

# lookup ATTRIBUTE VALUE [ARGS…]: every event (the CLI follows NextToken) into $OUT.
lookup() {
  local key=$1 value=$2; shift 2
  run cloudtrail lookup-events --lookup-attributes "AttributeKey=$key,AttributeValue=$value" "$@"
}
lookup ResourceName "$AKEY_ARN"
if [[ $RC -eq 0 ]]; then ok "audit: cloudtrail lookup-events by ResourceName"; else not_ok "audit: cloudtrail lookup-events by ResourceName" "exit $RC" "$ERR"; fi
BY_KEY=$OUT
for op in CreateKey CreateAlias UpdateKeyDescription PutKeyPolicy Encrypt GenerateDataKey; do
  check "audit: $op found by ResourceName" "[.Events[] | select(.EventName == \"$op\")] | length == 1"
done
check "audit: both Decrypts found by ResourceName (one denied)" \
  '[.Events[] | select(.EventName == "Decrypt")] | length == 2 and (map(.CloudTrailEvent | fromjson | .errorCode // "none") | sort == ["AccessDeniedException", "none"])'
check "audit: newest first" '[.Events[].EventTime] as $t | $t == ($t | sort | reverse)'
check "audit: CreateKey's record (Root, description, new key, not read-only)" \
  ".Events[] | select(.EventName == \"CreateKey\") | .CloudTrailEvent | fromjson | .userIdentity.type == \"Root\" and .requestParameters.description == \"audit-$SFX\" and .responseElements.keyMetadata.keyId == \"$AKEY_ID\" and .readOnly == false and .eventSource == \"kms.amazonaws.com\""
check "audit: CreateAlias's record" \
  ".Events[] | select(.EventName == \"CreateAlias\") | .CloudTrailEvent | fromjson | .requestParameters == {aliasName: \"$AUD_ALIAS\", targetKeyId: \"$AKEY_ID\"}"
check "audit: UpdateKeyDescription's record" \
  ".Events[] | select(.EventName == \"UpdateKeyDescription\") | .CloudTrailEvent | fromjson | .requestParameters.description == \"audit-2-$SFX\""
check "audit: PutKeyPolicy's record" \
  ".Events[] | select(.EventName == \"PutKeyPolicy\") | .CloudTrailEvent | fromjson | .requestParameters.policyName == \"default\" and .requestParameters.keyId == \"$AKEY_ID\""
check "audit: Encrypt's record (alias, context, read-only, no plaintext)" \
  ".Events[] | select(.EventName == \"Encrypt\") | (.ReadOnly == \"true\") and (.CloudTrailEvent | fromjson | .requestParameters.keyId == \"$AUD_ALIAS\" and .requestParameters.encryptionContext == {purpose: \"audit\"} and .responseElements == null and (.requestParameters | has(\"plaintext\") | not))"
check "audit: GenerateDataKey's record" \
  ".Events[] | select(.EventName == \"GenerateDataKey\") | .CloudTrailEvent | fromjson | .requestParameters.keySpec == \"AES_256\" and .responseElements == null"

lookup Username "$AUD_USER"
check "audit: the denied Decrypt found by Username, with the user's identity and AccessDenied" \
  "[.Events[] | select(.EventName == \"Decrypt\")] | length == 1 and (.[0].AccessKeyId == \"$AUD_AK\") and (.[0].CloudTrailEvent | fromjson | .errorCode == \"AccessDeniedException\" and .userIdentity.type == \"IAMUser\" and .userIdentity.userName == \"$AUD_USER\" and (.errorMessage | startswith(\"User: arn:aws:iam::$ACCOUNT:user/$AUD_USER is not authorized to perform: kms:Decrypt\")))"
lookup EventName CreateAccessKey --start-time "$T0" --end-time "$T1"
check "audit: CreateAccessKey found by EventName and time range, without the secret" \
  "[.Events[] | .CloudTrailEvent | fromjson | select(.requestParameters.userName == \"$AUD_USER\")] | length == 1 and (tostring | contains(\"$AUD_SK\") | not)"
lookup EventSource iam.amazonaws.com --start-time "$T0" --end-time "$T1"
check "audit: CreateUser found by EventSource" \
  "[.Events[] | select(.EventName == \"CreateUser\") | .CloudTrailEvent | fromjson | select(.requestParameters.userName == \"$AUD_USER\")] | length == 1"
lookup ResourceName "$AKEY_ARN" --start-time "$((T0 - 3600))" --end-time "$((T0 - 5))"
check "audit: nothing of the sequence before it began" '.Events | length == 0'
lookup ResourceName "$AKEY_ARN" --start-time "$T0" --end-time "$T1"
check "audit: the whole sequence within its time range" '.Events | length == 8'

# Paging: MaxResults 2 per page (the CLI follows NextToken), and the CLI's own
# --max-items/--starting-token over the service's NextToken.
lookup ResourceName "$AKEY_ARN" --page-size 2
check "audit: pages of 2 give the same events" "[.Events[].EventId] == $(jq -c '[.Events[].EventId]' <<<"$BY_KEY")"
lookup ResourceName "$AKEY_ARN" --max-items 3
FIRST=$OUT
check "audit: --max-items 3 gives 3 events and a NextToken" '(.Events | length == 3) and (.NextToken | length > 0)'
lookup ResourceName "$AKEY_ARN" --max-items 10 --starting-token "$(jq -r .NextToken <<<"$FIRST")"
check "audit: --starting-token continues where the first page ended" \
  "([$(jq -c '.Events[].EventId' <<<"$FIRST" | paste -sd,)] + [.Events[].EventId]) == $(jq -c '[.Events[].EventId]' <<<"$BY_KEY")"

# The digests' public key, as `aws cloudtrail validate-logs` fetches it.
expect_ok "audit: cloudtrail list-public-keys" cloudtrail list-public-keys
check "audit: list-public-keys gives the current key, its fingerprint the MD5 of its DER" \
  "(.PublicKeyList | length == 1) and (.PublicKeyList[0].Fingerprint == \"$(jq -r '.PublicKeyList[0].Value' <<<"$OUT" | base64 -d | md5sum | cut -d' ' -f1)\")"

# Nothing the sequence used in secret is in a file under the data directory or the log.
if [[ -n ${COFFER_DATA_DIR:-} && -n ${COFFER_SERVER_LOG:-} ]]; then
  if found=$(python3 -c '
import base64, os, sys
plain = open(sys.argv[1], "rb").read()
data_key = base64.b64decode(sys.argv[2])
needles = {"plaintext": plain, "plaintext (base64)": base64.b64encode(plain),
           "data key": data_key, "data key (base64)": sys.argv[2].encode(),
           "secret access key": sys.argv[3].encode()}
files = [f for f in os.environ["COFFER_SERVER_LOG"].split(os.pathsep) if f]
for root, _, names in os.walk(os.environ["COFFER_DATA_DIR"]):
    files += [os.path.join(root, n) for n in names]
bad = []
for path in files:
    try:
        content = open(path, "rb").read()
    except (FileNotFoundError, IsADirectoryError):
        continue
    bad += [label + " in " + path for label, n in needles.items() if n in content]
print("; ".join(bad))
sys.exit(1 if bad else 0)
' "$work/audit-plain.bin" "$AUD_DATA_KEY" "$AUD_SK"); then
    ok "audit: no plaintext, data key or secret key under the data directory or in the log"
  else
    not_ok "audit: no plaintext, data key or secret key under the data directory or in the log" "$found"
  fi
fi

# ---------------------------------------------------------------------------------------------
line="$label: $passed passed, $failed failed"
echo "$line"
if [[ -n ${COFFER_INTEROP_RESULTS:-} ]]; then echo "$passed $failed 0 $line" >>"$COFFER_INTEROP_RESULTS"; fi
[[ $failed -eq 0 && $passed -gt 0 ]]
