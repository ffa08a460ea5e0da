#!/usr/bin/env python3
"""coffer interop: what one server wrote, the next server on the same data directory serves.

run.sh calls `restart_check.py prepare STATE` before it stops the server and
`restart_check.py verify STATE` after it started a new one on the same data directory
(COFFER_ENDPOINT and COFFER_ROOT_CREDENTIALS as for test_boto3.py, the new endpoint for
verify). Prints ok/not ok lines and a closing "N passed, N failed" line.
"""
import base64
import json
import os
import sys

import test_boto3 as t


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("prepare", "verify"):
        print("usage: restart_check.py prepare|verify STATE_FILE", file=sys.stderr)
        return 2
    mode, state_file = sys.argv[1], sys.argv[2]
    if not t.ENDPOINT or not t.ROOT_CREDENTIALS_FILE:
        print("COFFER_ENDPOINT and COFFER_ROOT_CREDENTIALS must be set", file=sys.stderr)
        return 2
    t.ROOT = t.read_credentials(t.ROOT_CREDENTIALS_FILE)
    kms, iam = t.client("kms", t.ROOT), t.client("iam", t.ROOT)
    results = []

    def check(name, fn):
        try:
            fn()
            results.append(True)
            print(f"ok - restart: {name}")
        except Exception as e:  # noqa: BLE001 - every failure is reported, none is fatal
            results.append(False)
            print(f"not ok - restart: {name}\n    {type(e).__name__}: {e}")

    if mode == "prepare":
        state = {}

        def prepare():
            md = kms.create_key(Description="survives a restart",
                                Tags=[{"TagKey": "restart", "TagValue": "yes"}])["KeyMetadata"]
            alias = f"alias/{t.name('restart')}"
            kms.create_alias(AliasName=alias, TargetKeyId=md["KeyId"])
            kms.enable_key_rotation(KeyId=md["KeyId"])
            blob = kms.encrypt(KeyId=alias, Plaintext=b"customer data",
                               EncryptionContext={"db": "customers"})["CiphertextBlob"]
            user = t.name("restart-user")
            iam.create_user(UserName=user)
            iam.put_user_policy(UserName=user, PolicyName="use",
                                PolicyDocument=t.allow_policy("kms:Decrypt", md["Arn"]))
            key = iam.create_access_key(UserName=user)["AccessKey"]
            state.update(key_id=md["KeyId"], arn=md["Arn"], alias=alias, user=user,
                         blob=base64.b64encode(blob).decode(),
                         access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"],
                         root_access_key=t.ROOT.access_key)

        check("prepare a key, an alias, a ciphertext and a user", prepare)
        with open(state_file, "w") as f:
            json.dump(state, f)
    else:
        with open(state_file) as f:
            state = json.load(f)
        if not state:
            print("not ok - restart: nothing was prepared")
            results.append(False)
        else:
            blob = base64.b64decode(state["blob"])

            def same_root():
                assert t.ROOT.access_key == state["root_access_key"], \
                    "root-credentials changed on the second start"
                assert t.client("sts", t.ROOT).get_caller_identity()["Arn"] == t.ROOT_ARN

            def key_and_alias():
                md = kms.describe_key(KeyId=state["alias"])["KeyMetadata"]
                assert md["Arn"] == state["arn"], md
                assert md["Description"] == "survives a restart", md
                assert kms.get_key_rotation_status(KeyId=state["key_id"])["KeyRotationEnabled"]
                tags = kms.list_resource_tags(KeyId=state["key_id"])["Tags"]
                assert tags == [{"TagKey": "restart", "TagValue": "yes"}], tags

            def decrypt_old_ciphertext():
                out = kms.decrypt(CiphertextBlob=blob, EncryptionContext={"db": "customers"})
                assert out["Plaintext"] == b"customer data"

            def user_key_and_policy():
                user = t.Creds(state["access_key"], state["secret_key"])
                out = t.client("kms", user).decrypt(CiphertextBlob=blob,
                                                    EncryptionContext={"db": "customers"})
                assert out["Plaintext"] == b"customer data"

            check("the root key is the one of the first start", same_root)
            check("key, alias, tags and rotation", key_and_alias)
            check("a ciphertext from before the restart decrypts", decrypt_old_ciphertext)
            check("an IAM user's access key and identity policy", user_key_and_policy)

    passed, failed = results.count(True), results.count(False)
    line = f"restart ({mode}): {passed} passed, {failed} failed"
    print(line)
    if os.environ.get("COFFER_INTEROP_RESULTS"):
        with open(os.environ["COFFER_INTEROP_RESULTS"], "a") as f:
            f.write(f"{passed} {failed} 0 {line}\n")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
