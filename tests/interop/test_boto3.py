#!/usr/bin/env python3
"""coffer interop suite: boto3 (and botocore's own signer) against a running coffer server.

Run by tests/interop/run.sh under every python3 that has boto3. Standalone:

    COFFER_ENDPOINT=http://127.0.0.1:PORT \
    COFFER_ROOT_CREDENTIALS=DATA_DIR/root-credentials \
    python3 tests/interop/test_boto3.py [-v] [unittest names…]

Optional, for the expired-session-token test (run.sh sets them when libfaketime is there):
    COFFER_CLOCK_ENDPOINT, COFFER_CLOCK_ROOT_CREDENTIALS: a second coffer server started
        under libfaketime (FAKETIME_TIMESTAMP_FILE, FAKETIME_NO_CACHE=1);
    COFFER_CLOCK_FILE: its FAKETIME_TIMESTAMP_FILE, which this suite rewrites.
COFFER_INTEROP_RESULTS: a file to which one summary line is appended.
COFFER_DATA_DIR, COFFER_SERVER_LOG: the server's data directory and its log files
    (os.pathsep-separated), searched for the secrets the Audit sequence used (run.sh sets
    them; without them that test is skipped).

Every name this suite creates carries a random suffix, so it can run several times
(under several boto3 versions) against one server. Nothing here knows coffer's
internals except its documented ciphertext blob format (docs/formats/ciphertext-blob.md),
used to forge a well-formed blob of a key that does not exist.
"""
import base64
import configparser
import contextlib
import datetime
import hashlib
import http.client
import json
import os
import re
import secrets
import struct
import sys
import time
import types
import unittest
import urllib.parse
import uuid
from collections import namedtuple
from unittest import mock

import boto3
import botocore
import botocore.auth
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

ENDPOINT = os.environ.get("COFFER_ENDPOINT", "")
ROOT_CREDENTIALS_FILE = os.environ.get("COFFER_ROOT_CREDENTIALS", "")
ACCOUNT = os.environ.get("COFFER_ACCOUNT", "111122223333")
REGION = os.environ.get("COFFER_REGION", "us-east-1")
SUFFIX = secrets.token_hex(4)
UTC = datetime.timezone.utc

Creds = namedtuple("Creds", "access_key secret_key token", defaults=(None,))

# AWS's texts (shared/reference/aws-protocols.md, "Authentication errors").
BAD_SIGNATURE = ("The request signature we calculated does not match the signature you provided. "
                 "Check your AWS Secret Access Key and signing method. Consult the service "
                 "documentation for details.")
INVALID_TOKEN = "The security token included in the request is invalid."
EXPIRED_TOKEN = "The security token included in the request is expired"
LOCKOUT = "The new key policy will not allow you to update the key policy in the future."
UNKNOWN_CIPHERTEXT_KEY = ("The ciphertext refers to a customer master key that does not exist, "
                          "does not exist in this region, or you are not allowed to access.")


def read_credentials(path):
    parser = configparser.ConfigParser()
    if not parser.read(path):
        raise SystemExit(f"cannot read credentials file {path}")
    section = parser["default"]
    return Creds(section["aws_access_key_id"].strip(), section["aws_secret_access_key"].strip(),
                 section.get("aws_session_token"))


def name(base):
    return f"{base}-{SUFFIX}"


def key_arn(key_id):
    return f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{key_id}"


def alias_arn(alias):
    return f"arn:aws:kms:{REGION}:{ACCOUNT}:{alias}"


def user_arn(user):
    return f"arn:aws:iam::{ACCOUNT}:user/{user}"


def role_arn(role, path="/"):
    return f"arn:aws:iam::{ACCOUNT}:role{path}{role}"


def session_arn(role, session):
    return f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{session}"


ROOT_ARN = f"arn:aws:iam::{ACCOUNT}:root"


def denied(principal, action, resource, reason=None):
    """kms.md, AccessDeniedException: the form with the reason, as coffer's policy/ writes it."""
    m = f"User: {principal} is not authorized to perform: {action} on resource: {resource}"
    if reason == "resource":
        m += f" because no resource-based policy allows the {action} action"
    elif reason == "identity":
        m += f" because no identity-based policy allows the {action} action"
    elif reason == "deny-resource":
        m += " with an explicit deny in a resource-based policy"
    elif reason == "deny-identity":
        m += " with an explicit deny in an identity-based policy"
    return m


def default_key_policy():
    return {"Version": "2012-10-17", "Id": "key-default-1", "Statement": [
        {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
         "Principal": {"AWS": ROOT_ARN}, "Action": "kms:*", "Resource": "*"}]}


def console_key_policy(admins, users, allow_admin_delete=True):
    """The key policy of the console's create-key wizard (kms.md, Default key policies)."""
    admin_actions = ["kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*",
                     "kms:Update*", "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*",
                     "kms:TagResource", "kms:UntagResource"]
    if allow_admin_delete:
        admin_actions += ["kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion"]
    statements = [{"Sid": "Enable IAM User Permissions", "Effect": "Allow",
                   "Principal": {"AWS": ROOT_ARN}, "Action": "kms:*", "Resource": "*"}]
    if admins:
        statements.append({"Sid": "Allow access for Key Administrators", "Effect": "Allow",
                           "Principal": {"AWS": list(admins)}, "Action": admin_actions,
                           "Resource": "*"})
    if users:
        statements.append({"Sid": "Allow use of the key", "Effect": "Allow",
                           "Principal": {"AWS": list(users)},
                           "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*",
                                      "kms:GenerateDataKey*", "kms:DescribeKey"],
                           "Resource": "*"})
        statements.append({"Sid": "Allow attachment of persistent resources", "Effect": "Allow",
                           "Principal": {"AWS": list(users)},
                           "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
                           "Resource": "*",
                           "Condition": {"Bool": {"kms:GrantIsForAWSResource": True}}})
    return {"Version": "2012-10-17", "Id": "key-consolepolicy-3", "Statement": statements}


def trust_policy(*aws_principals, service=None):
    principal = {}
    if aws_principals:
        principal["AWS"] = list(aws_principals) if len(aws_principals) > 1 else aws_principals[0]
    if service:
        principal["Service"] = service
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}]})


def allow_policy(actions, resources="*", effect="Allow"):
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": effect, "Action": actions, "Resource": resources}]})


# ---------------------------------------------------------------------------------------
# Clients.

_BOTO = None
_CLIENTS = {}


def boto_session():
    global _BOTO
    if _BOTO is None:
        _BOTO = boto3.session.Session(region_name=REGION)
    return _BOTO


def client(service, creds, validate=True, endpoint=None):
    """A boto3 client for coffer: explicit credentials, no retries (errors surface at once)."""
    endpoint = endpoint or ENDPOINT
    cache_key = (service, creds, validate, endpoint)
    if cache_key not in _CLIENTS:
        _CLIENTS[cache_key] = boto_session().client(
            service, endpoint_url=endpoint, region_name=REGION,
            aws_access_key_id=creds.access_key, aws_secret_access_key=creds.secret_key,
            aws_session_token=creds.token,
            config=Config(retries={"max_attempts": 0}, parameter_validation=validate,
                          connect_timeout=5, read_timeout=60))
    return _CLIENTS[cache_key]


def unsigned_client(service):
    return boto_session().client(service, endpoint_url=ENDPOINT, region_name=REGION,
                                 config=Config(signature_version=botocore.UNSIGNED,
                                               retries={"max_attempts": 0}))


def has_operation(c, op):
    return op in c.meta.service_model.operation_names


def output_members(c, op):
    shape = c.meta.service_model.operation_model(op).output_shape
    return set(shape.members) if shape else set()


def input_members(c, op):
    shape = c.meta.service_model.operation_model(op).input_shape
    return set(shape.members) if shape else set()


def _signer_modules():
    """The modules whose clock botocore's SigV4 signers read: botocore.auth, and
    botocore.crt.auth when awscrt is installed (Debian's botocore then signs with the CRT)."""
    modules = [botocore.auth]
    try:
        import botocore.crt.auth as crt_auth
        modules.append(crt_auth)
    except ImportError:
        pass
    return modules


@contextlib.contextmanager
def signing_time(when):
    """Makes botocore's SigV4 signers sign at `when` (an aware datetime) instead of now."""
    naive = when.astimezone(UTC).replace(tzinfo=None)

    class Fixed(datetime.datetime):
        @classmethod
        def utcnow(cls):
            return naive

        @classmethod
        def now(cls, tz=None):
            return naive.replace(tzinfo=UTC).astimezone(tz) if tz else naive

    fake = types.SimpleNamespace(datetime=Fixed, timezone=datetime.timezone,
                                 timedelta=datetime.timedelta)
    with contextlib.ExitStack() as stack:
        for module in _signer_modules():
            if hasattr(module, "get_current_datetime"):  # botocore >= 1.34
                stack.enter_context(mock.patch.object(module, "get_current_datetime",
                                                      lambda *a, **k: naive))
            if hasattr(module, "datetime"):
                stack.enter_context(mock.patch.object(module, "datetime", fake))
        yield


def signer_name():
    signer = botocore.auth.AUTH_TYPE_MAPS.get("v4")
    return f"{signer.__module__}.{signer.__name__}" if signer else "?"


def raw_request(service, body, headers, creds=None, when=None, sign=True, endpoint=None,
                mutate_headers=None):
    """Sends one POST / signed by botocore's SigV4Auth; returns (status, headers, body bytes).

    `mutate_headers(dict)` may change the headers after signing (forged or malformed requests).
    """
    endpoint = endpoint or ENDPOINT
    body = body.encode() if isinstance(body, str) else body
    request = AWSRequest(method="POST", url=endpoint + "/", data=body, headers=dict(headers))
    if sign:
        creds = creds or ROOT
        signer = SigV4Auth(Credentials(creds.access_key, creds.secret_key, creds.token),
                           service, REGION)
        with signing_time(when) if when else contextlib.nullcontext():
            signer.add_auth(request)
    sent = dict(request.prepare().headers.items())
    if mutate_headers:
        mutate_headers(sent)
    url = urllib.parse.urlsplit(endpoint)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    try:
        conn.request("POST", "/", body=body, headers=sent)
        response = conn.getresponse()
        data = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data
    finally:
        conn.close()


def kms_raw(op, params, creds=None, **kwargs):
    """A KMS call over raw JSON 1.1 (for operations the installed botocore does not model,
    and for checks of the wire form). Returns (status, headers, decoded JSON body)."""
    status, headers, data = raw_request(
        "kms", json.dumps(params),
        {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"TrentService.{op}"},
        creds=creds, **kwargs)
    try:
        decoded = json.loads(data) if data else {}
    except ValueError:
        decoded = {"__raw__": data.decode(errors="replace")}
    return status, headers, decoded


def error_type(body):
    """The error code of a JSON 1.1 error body ("…#Code" or "Code")."""
    return body.get("__type", "").split("#")[-1]


def query_raw(service, params, creds=None, **kwargs):
    """An IAM/STS call over raw AWS Query. Returns (status, headers, body text)."""
    status, headers, data = raw_request(
        service, urllib.parse.urlencode(params),
        {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
        creds=creds, **kwargs)
    return status, headers, data.decode()


def amz_date(dt):
    return dt.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def parse_amz_date(s):
    return datetime.datetime.strptime(s, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def now():
    return datetime.datetime.now(UTC)


ROOT = None  # set in main()


# ---------------------------------------------------------------------------------------
# The base class.

class ExpectedError:
    code = None
    message = None
    status = None
    response = None


def records_of_requests(start, ids):
    """The CloudTrail records, looked up since `start`, of the calls whose request ids are the
    keys of `ids` (their event names the values): {event name: record}."""
    ct = client("cloudtrail", ROOT)
    found = {}
    for event_name in set(ids.values()):
        for page in ct.get_paginator("lookup_events").paginate(
                LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": event_name}],
                StartTime=start):
            for e in page["Events"]:
                rec = json.loads(e["CloudTrailEvent"])
                if rec["requestID"] in ids:
                    found[ids[rec["requestID"]]] = rec
    return found


class CofferTest(unittest.TestCase):
    maxDiff = 4000

    @contextlib.contextmanager
    def raises(self, code, message=None, regex=None, status=None):
        """Expects the block to fail with ClientError `code` (and exact `message`, or a message
        matching `regex`, and HTTP `status`). JSON (KMS) errors are HTTP 400 unless given."""
        seen = ExpectedError()
        try:
            yield seen
        except ClientError as e:
            err = e.response.get("Error", {})
            seen.code, seen.message = err.get("Code"), err.get("Message", "")
            seen.status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            seen.response = e.response
            self.assertEqual(seen.code, code, f"error code (message: {seen.message!r})")
            if message is not None:
                self.assertEqual(seen.message, message, f"message of {code}")
            if regex is not None:
                self.assertRegex(seen.message, regex, f"message of {code}")
            if status is not None:
                self.assertEqual(seen.status, status, f"HTTP status of {code}")
            self.assertTrue(e.response.get("ResponseMetadata", {}).get("RequestId"),
                            "every error carries a request id")
            return
        self.fail(f"expected {code}{': ' + message if message else ''}; the call succeeded")

    def assertRecent(self, when, seconds=120, offset=datetime.timedelta(0)):
        self.assertIsInstance(when, datetime.datetime)
        expected = now() + offset
        self.assertLess(abs((when - expected).total_seconds()), seconds,
                        f"{when} should be about {expected}")

    def assertArnOfKey(self, value, key_id):
        self.assertEqual(value, key_arn(key_id))

    # ---- fixtures shared by the classes ----

    @staticmethod
    def kms():
        return client("kms", ROOT)

    @staticmethod
    def iam():
        return client("iam", ROOT)

    @staticmethod
    def sts():
        return client("sts", ROOT)

    @classmethod
    def new_key(cls, **kwargs):
        return cls.kms().create_key(**kwargs)["KeyMetadata"]

    @classmethod
    def new_user_with_key(cls, base, policies=()):
        iam = cls.iam()
        user = name(base)
        iam.create_user(UserName=user)
        for i, doc in enumerate(policies):
            iam.put_user_policy(UserName=user, PolicyName=f"p{i}", PolicyDocument=doc)
        key = iam.create_access_key(UserName=user)["AccessKey"]
        return user, Creds(key["AccessKeyId"], key["SecretAccessKey"])

    @classmethod
    def new_role(cls, base, trust, path="/", policies=()):
        iam = cls.iam()
        role = name(base)
        r = iam.create_role(RoleName=role, Path=path, AssumeRolePolicyDocument=trust)["Role"]
        for i, doc in enumerate(policies):
            iam.put_role_policy(RoleName=role, PolicyName=f"p{i}", PolicyDocument=doc)
        return role, r

    @staticmethod
    def assume(creds, role, session, duration=None):
        kwargs = {"RoleArn": role_arn(role), "RoleSessionName": session}
        if duration:
            kwargs["DurationSeconds"] = duration
        c = client("sts", creds).assume_role(**kwargs)["Credentials"]
        return Creds(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])


# ---------------------------------------------------------------------------------------
# KMS: keys.

class KmsKeys(CofferTest):
    def test_create_key_defaults(self):
        md = self.new_key()
        key_id = md["KeyId"]
        self.assertRegex(key_id, r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
        self.assertEqual(md["Arn"], key_arn(key_id))
        self.assertEqual(md["AWSAccountId"], ACCOUNT)
        self.assertIs(md["Enabled"], True)
        self.assertEqual(md["KeyState"], "Enabled")
        self.assertEqual(md["KeyUsage"], "ENCRYPT_DECRYPT")
        self.assertEqual(md["KeySpec"], "SYMMETRIC_DEFAULT")
        self.assertEqual(md["CustomerMasterKeySpec"], "SYMMETRIC_DEFAULT")
        self.assertEqual(md["Origin"], "AWS_KMS")
        self.assertEqual(md["KeyManager"], "CUSTOMER")
        self.assertEqual(md["EncryptionAlgorithms"], ["SYMMETRIC_DEFAULT"])
        self.assertEqual(md.get("Description", ""), "")
        self.assertNotIn("DeletionDate", md)
        self.assertRecent(md["CreationDate"])
        policy = self.kms().get_key_policy(KeyId=key_id, PolicyName="default")["Policy"]
        self.assertEqual(json.loads(policy), default_key_policy())

    def test_create_key_with_description_tags_and_policy(self):
        admin, _ = self.new_role("SomeAdmin", trust_policy(ROOT_ARN))  # principals must exist
        policy = json.dumps(console_key_policy([role_arn(admin)], []), indent=2)
        description = 'customer backups \u2014 \u00e9\u00fc \u65e5\u672c "quoted" \\ back/slash'
        md = self.new_key(Description=description, Policy=policy,
                          Tags=[{"TagKey": "env", "TagValue": "prod"},
                                {"TagKey": "team", "TagValue": ""},
                                {"TagKey": "\u00e9quipe", "TagValue": "s\u00e9curit\u00e9 + ops"}])
        self.assertEqual(md["Description"], description)
        kms = self.kms()
        self.assertEqual(kms.describe_key(KeyId=md["KeyId"])["KeyMetadata"]["Description"],
                         description)
        # The policy document is stored verbatim, whitespace included.
        self.assertEqual(kms.get_key_policy(KeyId=md["KeyId"], PolicyName="default")["Policy"],
                         policy)
        tags = kms.list_resource_tags(KeyId=md["KeyId"])
        self.assertEqual(sorted((t["TagKey"], t["TagValue"]) for t in tags["Tags"]),
                         [("env", "prod"), ("team", ""), ("\u00e9quipe", "s\u00e9curit\u00e9 + ops")])
        self.assertIs(tags["Truncated"], False)

    def test_create_key_validation(self):
        kms = self.kms()
        with self.raises("ValidationException",
                         regex=r"^1 validation error detected: Value '.*' at 'description' failed "
                               r"to satisfy constraint: Member must have length less than or "
                               r"equal to 8192$"):
            kms.create_key(Description="x" * 8193)
        with self.raises("MalformedPolicyDocumentException"):
            kms.create_key(Policy="{not json")
        with self.raises("TagException"):
            kms.create_key(Tags=[{"TagKey": "aws:reserved", "TagValue": "x"}])
        with self.raises("TagException"):
            kms.create_key(Tags=[{"TagKey": "a", "TagValue": "1"}, {"TagKey": "a", "TagValue": "2"}])

    def test_describe_key_by_every_kind_of_id(self):
        kms = self.kms()
        md = self.new_key()
        alias = f"alias/{name('describe')}"
        kms.create_alias(AliasName=alias, TargetKeyId=md["KeyId"])
        for key_id in (md["KeyId"], md["Arn"], alias, alias_arn(alias)):
            got = kms.describe_key(KeyId=key_id)["KeyMetadata"]
            self.assertEqual(got["KeyId"], md["KeyId"], key_id)
            self.assertEqual(got["Arn"], md["Arn"], key_id)

    def test_describe_key_not_found(self):
        kms = self.kms()
        missing = str(uuid.uuid4())
        with self.raises("NotFoundException", f"Key '{key_arn(missing)}' does not exist",
                         status=400):
            kms.describe_key(KeyId=missing)
        with self.raises("NotFoundException", f"Key '{key_arn(missing)}' does not exist"):
            kms.describe_key(KeyId=key_arn(missing))
        with self.raises("NotFoundException", "Invalid keyId 'not-a-key'"):
            kms.describe_key(KeyId="not-a-key")
        alias = f"alias/{name('nope')}"
        with self.raises("NotFoundException", f"Alias '{alias_arn(alias)}' is not found."):
            kms.describe_key(KeyId=alias)

    def test_list_keys_and_pagination(self):
        kms = self.kms()
        mine = {self.new_key()["KeyId"] for _ in range(3)}
        page = kms.list_keys(Limit=1)
        self.assertEqual(len(page["Keys"]), 1)
        self.assertIs(page["Truncated"], True)
        self.assertTrue(page["NextMarker"])
        seen, marker, pages = {}, None, 0
        while True:
            kwargs = {"Limit": 2}
            if marker:
                kwargs["Marker"] = marker
            page = kms.list_keys(**kwargs)
            pages += 1
            self.assertLessEqual(len(page["Keys"]), 2)
            for k in page["Keys"]:
                self.assertNotIn(k["KeyId"], seen, "a key appears on one page only")
                seen[k["KeyId"]] = k["KeyArn"]
            if not page["Truncated"]:
                self.assertNotIn("NextMarker", page)
                break
            marker = page["NextMarker"]
            self.assertLess(pages, 10000)
        for key_id in mine:
            self.assertEqual(seen.get(key_id), key_arn(key_id))
        everything = kms.list_keys(Limit=1000)
        self.assertEqual({k["KeyId"] for k in everything["Keys"]} >= mine, True)
        bad = client("kms", ROOT, validate=False)
        with self.raises("ValidationException",
                         regex=r"^1 validation error detected: Value '0' at 'limit' failed to "
                               r"satisfy constraint: Member must have value greater than or "
                               r"equal to 1$"):
            bad.list_keys(Limit=0)

    def test_update_key_description(self):
        kms = self.kms()
        md = self.new_key(Description="before")
        kms.update_key_description(KeyId=md["KeyId"], Description="after")
        self.assertEqual(kms.describe_key(KeyId=md["KeyId"])["KeyMetadata"]["Description"],
                         "after")
        missing = str(uuid.uuid4())
        with self.raises("NotFoundException", f"Key '{key_arn(missing)}' does not exist"):
            kms.update_key_description(KeyId=missing, Description="x")

    def test_disable_and_enable(self):
        kms = self.kms()
        md = self.new_key()
        arn = md["Arn"]
        ct = kms.encrypt(KeyId=arn, Plaintext=b"before")["CiphertextBlob"]
        kms.disable_key(KeyId=md["KeyId"])
        got = kms.describe_key(KeyId=md["KeyId"])["KeyMetadata"]
        self.assertEqual((got["KeyState"], got["Enabled"]), ("Disabled", False))
        with self.raises("DisabledException", f"{arn} is disabled.", status=400):
            kms.encrypt(KeyId=arn, Plaintext=b"x")
        with self.raises("DisabledException", f"{arn} is disabled."):
            kms.decrypt(CiphertextBlob=ct)
        with self.raises("DisabledException", f"{arn} is disabled."):
            kms.generate_data_key(KeyId=arn, KeySpec="AES_256")
        with self.raises("DisabledException", f"{arn} is disabled."):
            kms.enable_key_rotation(KeyId=arn)
        # Management still works on a disabled key.
        kms.update_key_description(KeyId=arn, Description="disabled")
        kms.tag_resource(KeyId=arn, Tags=[{"TagKey": "state", "TagValue": "disabled"}])
        kms.get_key_policy(KeyId=arn, PolicyName="default")
        kms.disable_key(KeyId=arn)  # idempotent
        kms.enable_key(KeyId=arn)
        got = kms.describe_key(KeyId=arn)["KeyMetadata"]
        self.assertEqual((got["KeyState"], got["Enabled"]), ("Enabled", True))
        self.assertEqual(kms.decrypt(CiphertextBlob=ct)["Plaintext"], b"before")

    def test_schedule_and_cancel_deletion(self):
        kms = self.kms()
        md = self.new_key()
        arn = md["Arn"]
        ct = kms.encrypt(KeyId=arn, Plaintext=b"secret")["CiphertextBlob"]
        out = kms.schedule_key_deletion(KeyId=md["KeyId"], PendingWindowInDays=7)
        self.assertEqual(out["KeyId"], arn)
        self.assertRecent(out["DeletionDate"], offset=datetime.timedelta(days=7))
        self.assertEqual(out["KeyState"], "PendingDeletion")
        self.assertEqual(out["PendingWindowInDays"], 7)
        got = kms.describe_key(KeyId=arn)["KeyMetadata"]
        self.assertEqual((got["KeyState"], got["Enabled"]), ("PendingDeletion", False))
        self.assertEqual(got["DeletionDate"], out["DeletionDate"])
        pending = f"{arn} is pending deletion."
        with self.raises("KMSInvalidStateException", pending, status=400):
            kms.encrypt(KeyId=arn, Plaintext=b"x")
        with self.raises("KMSInvalidStateException", pending):
            kms.decrypt(CiphertextBlob=ct)
        with self.raises("KMSInvalidStateException", pending):
            kms.enable_key(KeyId=arn)
        with self.raises("KMSInvalidStateException", pending):
            kms.disable_key(KeyId=arn)
        with self.raises("KMSInvalidStateException", pending):
            kms.schedule_key_deletion(KeyId=arn, PendingWindowInDays=7)
        with self.raises("KMSInvalidStateException", pending):
            kms.update_key_description(KeyId=arn, Description="x")
        with self.raises("KMSInvalidStateException", pending):
            kms.tag_resource(KeyId=arn, Tags=[{"TagKey": "a", "TagValue": "b"}])
        with self.raises("KMSInvalidStateException", pending):
            kms.create_alias(AliasName=f"alias/{name('pending')}", TargetKeyId=arn)
        # What still works while pending deletion.
        kms.get_key_policy(KeyId=arn, PolicyName="default")
        kms.list_resource_tags(KeyId=arn)
        kms.list_key_policies(KeyId=arn)
        self.assertEqual(kms.cancel_key_deletion(KeyId=md["KeyId"])["KeyId"], arn)
        got = kms.describe_key(KeyId=arn)["KeyMetadata"]
        self.assertEqual((got["KeyState"], got["Enabled"]), ("Disabled", False))
        self.assertNotIn("DeletionDate", got)
        with self.raises("KMSInvalidStateException", f"{arn} is not pending deletion"):
            kms.cancel_key_deletion(KeyId=arn)
        kms.enable_key(KeyId=arn)
        self.assertEqual(kms.decrypt(CiphertextBlob=ct)["Plaintext"], b"secret")

    def test_schedule_deletion_window(self):
        kms = self.kms()
        md = self.new_key()
        with self.raises("ValidationException"):
            kms.schedule_key_deletion(KeyId=md["KeyId"], PendingWindowInDays=6)
        with self.raises("ValidationException"):
            kms.schedule_key_deletion(KeyId=md["KeyId"], PendingWindowInDays=31)
        self.assertEqual(kms.describe_key(KeyId=md["KeyId"])["KeyMetadata"]["KeyState"],
                         "Enabled", "a refused ScheduleKeyDeletion changes nothing")
        out = kms.schedule_key_deletion(KeyId=md["KeyId"])
        self.assertRecent(out["DeletionDate"], offset=datetime.timedelta(days=30))
        self.assertEqual(out["PendingWindowInDays"], 30)
        missing = str(uuid.uuid4())
        with self.raises("NotFoundException", f"Key '{key_arn(missing)}' does not exist"):
            kms.schedule_key_deletion(KeyId=missing, PendingWindowInDays=7)
        with self.raises("NotFoundException", f"Key '{key_arn(missing)}' does not exist"):
            kms.cancel_key_deletion(KeyId=missing)
        with self.raises("NotFoundException", f"Key '{key_arn(missing)}' does not exist"):
            kms.enable_key(KeyId=missing)
        with self.raises("NotFoundException", f"Key '{key_arn(missing)}' does not exist"):
            kms.disable_key(KeyId=missing)


# ---------------------------------------------------------------------------------------
# KMS: aliases, tags, policies.

class KmsAliases(CofferTest):
    def test_alias_lifecycle(self):
        kms = self.kms()
        a, b = self.new_key(), self.new_key()
        alias = f"alias/{name('backup')}"
        kms.create_alias(AliasName=alias, TargetKeyId=a["KeyId"])
        listed = kms.list_aliases(KeyId=a["KeyId"])["Aliases"]
        self.assertEqual(len(listed), 1)
        entry = listed[0]
        self.assertEqual(entry["AliasName"], alias)
        self.assertEqual(entry["AliasArn"], alias_arn(alias))
        self.assertEqual(entry["TargetKeyId"], a["KeyId"], "TargetKeyId is the key id, not ARN")
        self.assertRecent(entry["CreationDate"])
        self.assertEqual(kms.list_aliases(KeyId=a["Arn"])["Aliases"], listed)
        with self.raises("AlreadyExistsException",
                         f"An alias with the name {alias_arn(alias)} already exists"):
            kms.create_alias(AliasName=alias, TargetKeyId=b["KeyId"])
        # Encrypt by alias; the response names the key ARN.
        self.assertEqual(kms.encrypt(KeyId=alias, Plaintext=b"p")["KeyId"], a["Arn"])
        self.assertEqual(kms.encrypt(KeyId=alias_arn(alias), Plaintext=b"p")["KeyId"], a["Arn"])
        kms.update_alias(AliasName=alias, TargetKeyId=b["Arn"])
        self.assertEqual(kms.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"], b["KeyId"])
        self.assertEqual(kms.list_aliases(KeyId=a["KeyId"])["Aliases"], [])
        moved = kms.list_aliases(KeyId=b["KeyId"])["Aliases"]
        self.assertEqual([x["AliasName"] for x in moved], [alias])
        kms.delete_alias(AliasName=alias)
        with self.raises("NotFoundException", f"Alias '{alias_arn(alias)}' is not found."):
            kms.describe_key(KeyId=alias)
        with self.raises("NotFoundException", f"Alias '{alias_arn(alias)}' is not found."):
            kms.delete_alias(AliasName=alias)
        with self.raises("NotFoundException", f"Alias '{alias_arn(alias)}' is not found."):
            kms.update_alias(AliasName=alias, TargetKeyId=a["KeyId"])
        with self.raises("NotFoundException", f"Alias '{alias_arn(alias)}' is not found."):
            kms.encrypt(KeyId=alias, Plaintext=b"p")
        # The name is free again.
        kms.create_alias(AliasName=alias, TargetKeyId=a["KeyId"])

    def test_alias_validation(self):
        kms = self.kms()
        md = self.new_key()
        other = f"alias/{name('other')}"
        kms.create_alias(AliasName=other, TargetKeyId=md["KeyId"])
        with self.raises("ValidationException"):
            kms.create_alias(AliasName=name("no-prefix"), TargetKeyId=md["KeyId"])
        with self.raises("ValidationException",
                         regex=r"^1 validation error detected: Value 'alias/has space' at "
                               r"'aliasName' failed to satisfy constraint: Member must satisfy "
                               r"regular expression pattern: \^\[a-zA-Z0-9:/_-\]\+\$$"):
            kms.create_alias(AliasName="alias/has space", TargetKeyId=md["KeyId"])
        with self.raises("InvalidAliasNameException"):
            kms.create_alias(AliasName=f"alias/aws/{name('reserved')}", TargetKeyId=md["KeyId"])
        with self.raises("ValidationException", "Aliases must refer to keys. Not aliases"):
            kms.create_alias(AliasName=f"alias/{name('chain')}", TargetKeyId=other)
        missing = str(uuid.uuid4())
        with self.raises("NotFoundException", f"Key '{key_arn(missing)}' does not exist"):
            kms.create_alias(AliasName=f"alias/{name('dangling')}", TargetKeyId=missing)

    def test_list_aliases_pagination(self):
        kms = self.kms()
        md = self.new_key()
        names = sorted(f"alias/{name('page')}-{i}" for i in range(5))
        for n in names:
            kms.create_alias(AliasName=n, TargetKeyId=md["KeyId"])
        got, marker = [], None
        for _ in range(10):
            kwargs = {"KeyId": md["KeyId"], "Limit": 2}
            if marker:
                kwargs["Marker"] = marker
            page = kms.list_aliases(**kwargs)
            self.assertLessEqual(len(page["Aliases"]), 2)
            got += [a["AliasName"] for a in page["Aliases"]]
            if not page["Truncated"]:
                break
            marker = page["NextMarker"]
        self.assertEqual(sorted(got), names)
        self.assertEqual(len(got), len(set(got)))
        everything = [a["AliasName"] for a in kms.list_aliases(Limit=100)["Aliases"]]
        self.assertTrue(everything, "ListAliases without KeyId lists aliases")


class KmsTags(CofferTest):
    def test_tag_untag_list(self):
        kms = self.kms()
        md = self.new_key(Tags=[{"TagKey": "a", "TagValue": "1"}])
        kms.tag_resource(KeyId=md["KeyId"], Tags=[{"TagKey": "b", "TagValue": "2"},
                                                 {"TagKey": "a", "TagValue": "one"}])
        tags = {t["TagKey"]: t["TagValue"]
                for t in kms.list_resource_tags(KeyId=md["Arn"])["Tags"]}
        self.assertEqual(tags, {"a": "one", "b": "2"})
        kms.untag_resource(KeyId=md["KeyId"], TagKeys=["a", "not-there"])
        tags = kms.list_resource_tags(KeyId=md["KeyId"])["Tags"]
        self.assertEqual(tags, [{"TagKey": "b", "TagValue": "2"}])
        kms.untag_resource(KeyId=md["KeyId"], TagKeys=["b"])
        self.assertEqual(kms.list_resource_tags(KeyId=md["KeyId"])["Tags"], [])

    def test_tag_errors(self):
        kms = self.kms()
        md = self.new_key()
        missing = str(uuid.uuid4())
        with self.raises("NotFoundException", f"Key '{key_arn(missing)}' does not exist"):
            kms.tag_resource(KeyId=missing, Tags=[{"TagKey": "a", "TagValue": "b"}])
        with self.raises("NotFoundException", f"Key '{key_arn(missing)}' does not exist"):
            kms.list_resource_tags(KeyId=missing)
        with self.raises("ValidationException",
                         regex=r"at 'tags\.1\.member\.tagKey' failed to satisfy constraint: "
                               r"Member must have length less than or equal to 128$"):
            kms.tag_resource(KeyId=md["KeyId"], Tags=[{"TagKey": "k" * 129, "TagValue": "v"}])
        with self.raises("TagException"):
            kms.tag_resource(KeyId=md["KeyId"], Tags=[{"TagKey": "aws:x", "TagValue": "v"}])
        self.assertEqual(kms.list_resource_tags(KeyId=md["KeyId"])["Tags"], [])

    def test_list_tags_pagination(self):
        kms = self.kms()
        md = self.new_key(Tags=[{"TagKey": f"k{i}", "TagValue": str(i)} for i in range(5)])
        got, marker = [], None
        for _ in range(10):
            kwargs = {"KeyId": md["KeyId"], "Limit": 2}
            if marker:
                kwargs["Marker"] = marker
            page = kms.list_resource_tags(**kwargs)
            self.assertLessEqual(len(page["Tags"]), 2)
            got += [t["TagKey"] for t in page["Tags"]]
            if not page["Truncated"]:
                break
            marker = page["NextMarker"]
        self.assertEqual(sorted(got), [f"k{i}" for i in range(5)])


class KmsPolicies(CofferTest):
    def test_put_get_list_key_policy(self):
        kms = self.kms()
        md = self.new_key()
        self.assertEqual(kms.list_key_policies(KeyId=md["KeyId"])["PolicyNames"], ["default"])
        admin, _ = self.new_role("Admin", trust_policy(ROOT_ARN))
        user, _ = self.new_role("User", trust_policy(ROOT_ARN))
        doc = json.dumps(console_key_policy([role_arn(admin)], [role_arn(user)]), indent=1)
        kms.put_key_policy(KeyId=md["KeyId"], PolicyName="default", Policy=doc)
        self.assertEqual(kms.get_key_policy(KeyId=md["Arn"], PolicyName="default")["Policy"], doc)
        with self.raises("NotFoundException"):
            kms.get_key_policy(KeyId=md["KeyId"], PolicyName="other")
        with self.raises("MalformedPolicyDocumentException"):
            kms.put_key_policy(KeyId=md["KeyId"], PolicyName="default", Policy="{]")
        with self.raises("MalformedPolicyDocumentException"):
            kms.put_key_policy(KeyId=md["KeyId"], PolicyName="default", Policy=json.dumps(
                {"Version": "2012-10-17", "Statement": [{"Effect": "Perhaps", "Action": "kms:*",
                                                         "Resource": "*",
                                                         "Principal": {"AWS": ROOT_ARN}}]}))
        self.assertEqual(kms.get_key_policy(KeyId=md["Arn"], PolicyName="default")["Policy"], doc,
                         "a refused PutKeyPolicy changes nothing")
        # PolicyName is optional in today's API (boto3 1.26's model still requires it).
        status, _, body = kms_raw("GetKeyPolicy", {"KeyId": md["KeyId"]})
        self.assertEqual(status, 200, body)
        self.assertEqual(body.get("Policy"), doc)
        missing = str(uuid.uuid4())
        with self.raises("NotFoundException", f"Key '{key_arn(missing)}' does not exist"):
            kms.get_key_policy(KeyId=missing, PolicyName="default")

    def test_key_policy_principals_must_exist(self):
        """KMS: the principals in a key policy must exist; the bypass flag does not help."""
        kms = self.kms()
        md = self.new_key()
        ghost = json.dumps(console_key_policy([], [role_arn(name("ghost"))]))
        message = "Policy contains a statement with one or more invalid principals."
        for bypass in (False, True):
            with self.raises("MalformedPolicyDocumentException", message):
                kms.put_key_policy(KeyId=md["KeyId"], PolicyName="default", Policy=ghost,
                                   BypassPolicyLockoutSafetyCheck=bypass)
            with self.raises("MalformedPolicyDocumentException", message):
                kms.create_key(Policy=ghost, BypassPolicyLockoutSafetyCheck=bypass)
        self.assertEqual(json.loads(kms.get_key_policy(KeyId=md["KeyId"],
                                                       PolicyName="default")["Policy"]),
                         default_key_policy())
        with self.raises("MalformedPolicyDocument",
                         f'Invalid principal in policy: "AWS":"{role_arn(name("ghost"))}"',
                         status=400):
            self.iam().create_role(RoleName=name("trusts-ghost"),
                                   AssumeRolePolicyDocument=trust_policy(role_arn(name("ghost"))))

    def test_lockout_safety_check_and_bypass(self):
        kms = self.kms()
        md = self.new_key()
        somebody, _ = self.new_role("Somebody", trust_policy(ROOT_ARN))
        locked = json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": role_arn(somebody)},
             "Action": "kms:*", "Resource": "*"}]})
        with self.raises("MalformedPolicyDocumentException", LOCKOUT):
            kms.put_key_policy(KeyId=md["KeyId"], PolicyName="default", Policy=locked)
        with self.raises("MalformedPolicyDocumentException", LOCKOUT):
            kms.create_key(Policy=locked)
        kms.put_key_policy(KeyId=md["KeyId"], PolicyName="default", Policy=locked,
                           BypassPolicyLockoutSafetyCheck=True)
        # A key policy never implicitly trusts the account: not even root may use the key now.
        with self.raises("AccessDeniedException",
                         denied(ROOT_ARN, "kms:DescribeKey", md["Arn"], "resource")):
            kms.describe_key(KeyId=md["KeyId"])
        with self.raises("AccessDeniedException",
                         denied(ROOT_ARN, "kms:Encrypt", md["Arn"], "resource")):
            kms.encrypt(KeyId=md["KeyId"], Plaintext=b"x")

    def test_default_policy_is_not_lockout_checked(self):
        """CreateKey's model: only a key policy the caller provides must allow its
        PutKeyPolicy; a user allowed kms:CreateKey alone gets the default policy."""
        only_create = json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "kms:CreateKey", "Resource": "*"}]})
        _, creds = self.new_user_with_key("keymaker", [only_create])
        kms = client("kms", creds)
        key_id = kms.create_key(Description="made by a CreateKey-only user")["KeyMetadata"]["KeyId"]
        self.assertEqual(json.loads(self.kms().get_key_policy(KeyId=key_id,
                                                              PolicyName="default")["Policy"]),
                         default_key_policy())
        with self.raises("MalformedPolicyDocumentException", LOCKOUT):
            kms.create_key(Policy=json.dumps(default_key_policy()))

    def test_create_keys_lockout_check_names_the_new_key(self):
        """The check asks whether the caller could PutKeyPolicy on the key it makes:
        an identity policy for key ARNs allows that, as it allows the PutKeyPolicy
        itself once the key exists."""
        key_arns = json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "kms:CreateKey", "Resource": "*"},
            {"Effect": "Allow", "Action": "kms:*",
             "Resource": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/*"}]})
        _, creds = self.new_user_with_key("key-arns", [key_arns])
        kms = client("kms", creds)
        policy = json.dumps(default_key_policy())
        key_id = kms.create_key(Policy=policy)["KeyMetadata"]["KeyId"]
        kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=policy)

    def test_a_retried_named_grant_takes_every_token_it_gave(self):
        """CreateGrant's Name: "All grant tokens for the same grant ID can be used
        interchangeably"."""
        md = self.new_key()
        kms = self.kms()
        args = dict(KeyId=md["Arn"], GranteePrincipal=ROOT_ARN, Operations=["Encrypt", "Decrypt"],
                    RetiringPrincipal=ROOT_ARN, Name=name("retried"))
        first = kms.create_grant(**args)
        again = kms.create_grant(**dict(args, Operations=["Decrypt", "Encrypt"]))
        self.assertEqual(first["GrantId"], again["GrantId"])
        self.assertNotEqual(first["GrantToken"], again["GrantToken"])
        kms.retire_grant(GrantToken=first["GrantToken"])
        self.assertEqual(kms.list_grants(KeyId=md["Arn"])["Grants"], [])

    def test_statement_without_action_or_resource_has_no_effect(self):
        """KMS: such a key policy statement is accepted and allows nothing."""
        kms = self.kms()
        md = self.new_key()
        user, creds = self.new_user_with_key("no-effect")
        policy = default_key_policy()
        policy["Statement"] += [
            {"Sid": "NoResource", "Effect": "Allow", "Principal": {"AWS": user_arn(user)},
             "Action": "kms:Encrypt"},
            {"Sid": "NoAction", "Effect": "Allow", "Principal": {"AWS": user_arn(user)},
             "Resource": "*"}]
        kms.put_key_policy(KeyId=md["KeyId"], PolicyName="default", Policy=json.dumps(policy))
        with self.raises("AccessDeniedException",
                         denied(user_arn(user), "kms:Encrypt", md["Arn"], "identity")):
            client("kms", creds).encrypt(KeyId=md["KeyId"], Plaintext=b"x")


# ---------------------------------------------------------------------------------------
# KMS: rotation.

class KmsRotation(CofferTest):
    def call(self, op, need=(), **params):
        """Uses boto3 when its model has the operation, its parameters and the output members
        in `need`; else raw JSON 1.1 signed by botocore (older boto3 lack the newer members)."""
        kms = client("kms", ROOT, validate=False)  # the server, not botocore, must refuse
        method = re.sub(r"(?<!^)(?=[A-Z])", "_", op).lower()
        if (has_operation(kms, op) and set(params) <= input_members(kms, op)
                and set(need) <= output_members(kms, op)):
            return getattr(kms, method)(**params)
        status, headers, body = kms_raw(op, params)
        if status != 200:
            raise ClientError({"Error": {"Code": error_type(body),
                                         "Message": body.get("message", body.get("Message", ""))},
                               "ResponseMetadata": {"HTTPStatusCode": status,
                                                    "RequestId": headers.get("x-amzn-requestid")}},
                              op)
        return body

    def test_rotation_status(self):
        kms = self.kms()
        md = self.new_key()
        self.assertIs(kms.get_key_rotation_status(KeyId=md["KeyId"])["KeyRotationEnabled"], False)
        kms.enable_key_rotation(KeyId=md["KeyId"])
        status = self.call("GetKeyRotationStatus", need=("RotationPeriodInDays", "KeyId"),
                           KeyId=md["KeyId"])
        self.assertIs(status["KeyRotationEnabled"], True)
        self.assertEqual(status["RotationPeriodInDays"], 365)
        self.assertEqual(status["KeyId"], md["Arn"])
        self.call("EnableKeyRotation", KeyId=md["KeyId"], RotationPeriodInDays=90)
        self.assertEqual(self.call("GetKeyRotationStatus", need=("RotationPeriodInDays",),
                                   KeyId=md["KeyId"])["RotationPeriodInDays"], 90)
        with self.raises("ValidationException",
                         regex=r"at 'rotationPeriodInDays' failed to satisfy constraint: Member "
                               r"must have value greater than or equal to 90$"):
            self.call("EnableKeyRotation", KeyId=md["KeyId"], RotationPeriodInDays=89)
        # Pending deletion, a key's rotation status is false; cancelling brings it back.
        kms.schedule_key_deletion(KeyId=md["KeyId"], PendingWindowInDays=7)
        self.assertIs(kms.get_key_rotation_status(KeyId=md["KeyId"])["KeyRotationEnabled"], False)
        kms.cancel_key_deletion(KeyId=md["KeyId"])
        self.assertEqual(self.call("GetKeyRotationStatus", need=("RotationPeriodInDays",),
                                   KeyId=md["KeyId"])["RotationPeriodInDays"], 90)
        kms.enable_key(KeyId=md["KeyId"])  # cancelling leaves the key disabled
        kms.disable_key_rotation(KeyId=md["KeyId"])
        self.assertIs(kms.get_key_rotation_status(KeyId=md["KeyId"])["KeyRotationEnabled"], False)
        missing = str(uuid.uuid4())
        with self.raises("NotFoundException", f"Key '{key_arn(missing)}' does not exist"):
            kms.get_key_rotation_status(KeyId=missing)

    def test_rotate_on_demand_keeps_old_ciphertexts(self):
        kms = self.kms()
        md = self.new_key()
        old = kms.encrypt(KeyId=md["KeyId"], Plaintext=b"old", EncryptionContext={"a": "b"})
        self.assertEqual(self.call("ListKeyRotations", KeyId=md["KeyId"])["Rotations"], [])
        out = self.call("RotateKeyOnDemand", KeyId=md["KeyId"])
        self.assertEqual(out["KeyId"], md["Arn"])
        rotations = self.call("ListKeyRotations", KeyId=md["KeyId"])["Rotations"]
        self.assertEqual(len(rotations), 1)
        self.assertEqual(rotations[0]["KeyId"], md["Arn"])
        self.assertEqual(rotations[0]["RotationType"], "ON_DEMAND")
        when = rotations[0]["RotationDate"]
        if not isinstance(when, datetime.datetime):  # raw JSON: epoch seconds
            when = datetime.datetime.fromtimestamp(when, UTC)
        self.assertRecent(when)
        new = kms.encrypt(KeyId=md["KeyId"], Plaintext=b"new", EncryptionContext={"a": "b"})
        # docs/formats/ciphertext-blob.md: bytes 17..20 are the material version.
        self.assertEqual(struct.unpack(">I", old["CiphertextBlob"][17:21])[0], 1)
        self.assertEqual(struct.unpack(">I", new["CiphertextBlob"][17:21])[0], 2,
                         "new encryptions use the newest key material")
        for blob, plain in ((old, b"old"), (new, b"new")):
            self.assertEqual(kms.decrypt(CiphertextBlob=blob["CiphertextBlob"],
                                         EncryptionContext={"a": "b"})["Plaintext"], plain)
        kms.disable_key(KeyId=md["KeyId"])
        with self.raises("DisabledException", f"{md['Arn']} is disabled."):
            self.call("RotateKeyOnDemand", KeyId=md["KeyId"])


# ---------------------------------------------------------------------------------------
# KMS: cryptographic operations.

def forged_blob(key_uuid, version=1):
    """A well-formed ciphertext blob (docs/formats/ciphertext-blob.md) naming `key_uuid`."""
    head = b"\x01" + uuid.UUID(key_uuid).bytes + struct.pack(">I", version)
    head += hashlib.sha256(head).digest()[:4]
    return head + secrets.token_bytes(32) + secrets.token_bytes(10) + secrets.token_bytes(16)


class KmsCrypto(CofferTest):
    @classmethod
    def setUpClass(cls):
        cls.key = cls.new_key(Description="crypto")
        cls.other = cls.new_key(Description="crypto other")

    def test_encrypt_decrypt_round_trip(self):
        kms = self.kms()
        plain = bytes(range(256)) * 4
        out = kms.encrypt(KeyId=self.key["KeyId"], Plaintext=plain)
        self.assertEqual(out["KeyId"], self.key["Arn"])
        self.assertEqual(out["EncryptionAlgorithm"], "SYMMETRIC_DEFAULT")
        self.assertNotIn(plain[:64], out["CiphertextBlob"])
        self.assertNotEqual(kms.encrypt(KeyId=self.key["KeyId"], Plaintext=plain)
                            ["CiphertextBlob"], out["CiphertextBlob"], "fresh nonce per call")
        back = kms.decrypt(CiphertextBlob=out["CiphertextBlob"])
        self.assertEqual(back["Plaintext"], plain)
        self.assertEqual(back["KeyId"], self.key["Arn"])
        self.assertEqual(back["EncryptionAlgorithm"], "SYMMETRIC_DEFAULT")
        # KeyId in Decrypt: the right key in any form is accepted, another key is refused.
        for key_id in (self.key["KeyId"], self.key["Arn"]):
            self.assertEqual(kms.decrypt(CiphertextBlob=out["CiphertextBlob"], KeyId=key_id)
                             ["Plaintext"], plain)
        with self.raises("IncorrectKeyException",
                         "The key ID in the request does not identify a CMK that can perform "
                         "this operation."):
            kms.decrypt(CiphertextBlob=out["CiphertextBlob"], KeyId=self.other["KeyId"])

    def test_plaintext_limits(self):
        kms = self.kms()
        out = kms.encrypt(KeyId=self.key["KeyId"], Plaintext=b"\x00" * 4096)
        self.assertEqual(kms.decrypt(CiphertextBlob=out["CiphertextBlob"])["Plaintext"],
                         b"\x00" * 4096)
        self.assertLessEqual(len(out["CiphertextBlob"]), 6144)
        with self.raises("ValidationException",
                         "1 validation error detected: Value at 'plaintext' failed to satisfy "
                         "constraint: Member must have length less than or equal to 4096"):
            kms.encrypt(KeyId=self.key["KeyId"], Plaintext=b"\x00" * 4097)
        with self.raises("ValidationException",
                         "1 validation error detected: Value at 'plaintext' failed to satisfy "
                         "constraint: Member must have length greater than or equal to 1"):
            client("kms", ROOT, validate=False).encrypt(KeyId=self.key["KeyId"], Plaintext=b"")

    def test_encryption_context(self):
        kms = self.kms()
        ctx = {"database": "customers", "purpose": "backup"}
        blob = kms.encrypt(KeyId=self.key["KeyId"], Plaintext=b"ssn", EncryptionContext=ctx)[
            "CiphertextBlob"]
        reordered = dict(reversed(list(ctx.items())))
        self.assertEqual(kms.decrypt(CiphertextBlob=blob, EncryptionContext=reordered)
                         ["Plaintext"], b"ssn")
        for wrong in ({}, {"database": "customers"}, {"database": "Customers", "purpose": "backup"},
                      {"Database": "customers", "purpose": "backup"},
                      dict(ctx, extra="1")):
            with self.raises("InvalidCiphertextException", ""):
                kms.decrypt(CiphertextBlob=blob, EncryptionContext=wrong)
        no_ctx = kms.encrypt(KeyId=self.key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
        with self.raises("InvalidCiphertextException", ""):
            kms.decrypt(CiphertextBlob=no_ctx, EncryptionContext={"a": "b"})

    def test_invalid_ciphertexts(self):
        kms = self.kms()
        blob = kms.encrypt(KeyId=self.key["KeyId"], Plaintext=b"hello")["CiphertextBlob"]
        for i in (0, 5, 30, len(blob) - 10, len(blob) - 1):
            tampered = bytearray(blob)
            tampered[i] ^= 0x01
            with self.raises("InvalidCiphertextException", ""):
                kms.decrypt(CiphertextBlob=bytes(tampered))
        with self.raises("InvalidCiphertextException", ""):
            kms.decrypt(CiphertextBlob=b"not a ciphertext at all")
        with self.raises("InvalidCiphertextException", ""):
            kms.decrypt(CiphertextBlob=blob[:-1])
        with self.raises("AccessDeniedException", UNKNOWN_CIPHERTEXT_KEY):
            kms.decrypt(CiphertextBlob=forged_blob(str(uuid.uuid4())))
        with self.raises("InvalidCiphertextException", ""):
            kms.decrypt(CiphertextBlob=forged_blob(self.key["KeyId"]))
        with self.raises("ValidationException",
                         regex=r"^1 validation error detected: Value at 'ciphertextBlob' failed "
                               r"to satisfy constraint: Member must have length greater than or "
                               r"equal to 1$"):
            client("kms", ROOT, validate=False).decrypt(CiphertextBlob=b"")

    def test_reencrypt(self):
        kms = self.kms()
        blob = kms.encrypt(KeyId=self.key["KeyId"], Plaintext=b"move me",
                           EncryptionContext={"v": "1"})["CiphertextBlob"]
        out = kms.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext={"v": "1"},
                             DestinationKeyId=self.other["KeyId"],
                             DestinationEncryptionContext={"v": "2"})
        self.assertEqual(out["SourceKeyId"], self.key["Arn"])
        self.assertEqual(out["KeyId"], self.other["Arn"])
        self.assertEqual(out["SourceEncryptionAlgorithm"], "SYMMETRIC_DEFAULT")
        self.assertEqual(out["DestinationEncryptionAlgorithm"], "SYMMETRIC_DEFAULT")
        back = kms.decrypt(CiphertextBlob=out["CiphertextBlob"], EncryptionContext={"v": "2"})
        self.assertEqual((back["Plaintext"], back["KeyId"]), (b"move me", self.other["Arn"]))
        with self.raises("InvalidCiphertextException", ""):
            kms.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext={"v": "x"},
                           DestinationKeyId=self.other["KeyId"])
        with self.raises("IncorrectKeyException"):
            kms.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext={"v": "1"},
                           SourceKeyId=self.other["KeyId"], DestinationKeyId=self.key["KeyId"])
        disabled = self.new_key()
        kms.disable_key(KeyId=disabled["KeyId"])
        with self.raises("DisabledException", f"{disabled['Arn']} is disabled."):
            kms.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext={"v": "1"},
                           DestinationKeyId=disabled["KeyId"])

    def test_generate_data_key(self):
        kms = self.kms()
        for spec, size in (("AES_256", 32), ("AES_128", 16)):
            out = kms.generate_data_key(KeyId=self.key["KeyId"], KeySpec=spec,
                                        EncryptionContext={"f": "1"})
            self.assertEqual(len(out["Plaintext"]), size)
            self.assertEqual(out["KeyId"], self.key["Arn"])
            back = kms.decrypt(CiphertextBlob=out["CiphertextBlob"], EncryptionContext={"f": "1"})
            self.assertEqual(back["Plaintext"], out["Plaintext"])
        out = kms.generate_data_key(KeyId=self.key["KeyId"], NumberOfBytes=64)
        self.assertEqual(len(out["Plaintext"]), 64)
        a = kms.generate_data_key(KeyId=self.key["KeyId"], KeySpec="AES_256")["Plaintext"]
        b = kms.generate_data_key(KeyId=self.key["KeyId"], KeySpec="AES_256")["Plaintext"]
        self.assertNotEqual(a, b)
        with self.raises("ValidationException"):
            kms.generate_data_key(KeyId=self.key["KeyId"], KeySpec="AES_256", NumberOfBytes=32)
        with self.raises("ValidationException"):
            kms.generate_data_key(KeyId=self.key["KeyId"])
        with self.raises("ValidationException",
                         regex=r"^1 validation error detected: Value '1025' at 'numberOfBytes' "
                               r"failed to satisfy constraint: Member must have value less than "
                               r"or equal to 1024$"):
            kms.generate_data_key(KeyId=self.key["KeyId"], NumberOfBytes=1025)
        with self.raises("ValidationException", regex=r"at 'keySpec' failed to satisfy "
                                                       r"constraint: Member must satisfy enum"):
            kms.generate_data_key(KeyId=self.key["KeyId"], KeySpec="AES_512")
        missing = str(uuid.uuid4())
        with self.raises("NotFoundException", f"Key '{key_arn(missing)}' does not exist"):
            kms.generate_data_key(KeyId=missing, KeySpec="AES_256")

    def test_generate_data_key_without_plaintext(self):
        kms = self.kms()
        out = kms.generate_data_key_without_plaintext(KeyId=self.key["Arn"], KeySpec="AES_256",
                                                      EncryptionContext={"x": "y"})
        self.assertNotIn("Plaintext", out)
        self.assertEqual(out["KeyId"], self.key["Arn"])
        back = kms.decrypt(CiphertextBlob=out["CiphertextBlob"], EncryptionContext={"x": "y"})
        self.assertEqual(len(back["Plaintext"]), 32)
        out = kms.generate_data_key_without_plaintext(KeyId=self.key["KeyId"], NumberOfBytes=7)
        self.assertEqual(len(kms.decrypt(CiphertextBlob=out["CiphertextBlob"])["Plaintext"]), 7)

    def test_replies_name_the_key_material(self):
        """GenerateDataKey*, Decrypt and ReEncrypt name the key material used (on the wire:
        older botocore models drop the member)."""
        _, _, described = kms_raw("DescribeKey", {"KeyId": self.key["KeyId"]})
        material = described["KeyMetadata"]["CurrentKeyMaterialId"]
        self.assertRegex(material, r"^[0-9a-f]{64}$")
        for op in ("GenerateDataKey", "GenerateDataKeyWithoutPlaintext"):
            status, _, out = kms_raw(op, {"KeyId": self.key["KeyId"], "KeySpec": "AES_256"})
            self.assertEqual((status, out["KeyMaterialId"]), (200, material), op)
        _, _, other = kms_raw("DescribeKey", {"KeyId": self.other["KeyId"]})
        status, _, out = kms_raw("ReEncrypt", {"CiphertextBlob": out["CiphertextBlob"],
                                               "DestinationKeyId": self.other["KeyId"]})
        self.assertEqual(status, 200)
        self.assertEqual(out["SourceKeyMaterialId"], material)
        self.assertEqual(out["DestinationKeyMaterialId"],
                         other["KeyMetadata"]["CurrentKeyMaterialId"])

    def test_dry_run_decrypt(self):
        """A dry run fails where the call would (a wrong encryption context), unless
        DryRunModifiers IGNORE_CIPHERTEXT asks for the authorization check alone."""
        kms = self.kms()
        blob = kms.encrypt(KeyId=self.key["KeyId"], Plaintext=b"dry",
                           EncryptionContext={"k": "v"})["CiphertextBlob"]
        params = {"CiphertextBlob": base64.b64encode(blob).decode(), "DryRun": True}
        status, _, out = kms_raw("Decrypt", dict(params, EncryptionContext={"k": "v"}))
        self.assertEqual((status, error_type(out)), (400, "DryRunOperationException"))
        status, _, out = kms_raw("Decrypt", dict(params, EncryptionContext={"k": "w"}))
        self.assertEqual((status, error_type(out)), (400, "InvalidCiphertextException"))
        garbage = base64.b64encode(b"x" * 40).decode()
        status, _, out = kms_raw("Decrypt", {"CiphertextBlob": garbage, "KeyId": self.key["KeyId"],
                                             "DryRun": True,
                                             "DryRunModifiers": ["IGNORE_CIPHERTEXT"]})
        self.assertEqual((status, error_type(out)), (400, "DryRunOperationException"))
        # With IGNORE_CIPHERTEXT the ciphertext may be left out, the key id may not
        # (the model's documentation of both members).
        ignore = {"DryRun": True, "DryRunModifiers": ["IGNORE_CIPHERTEXT"]}
        status, _, out = kms_raw("Decrypt", dict(ignore, KeyId=self.key["KeyId"]))
        self.assertEqual((status, error_type(out)), (400, "DryRunOperationException"))
        status, _, out = kms_raw("ReEncrypt", dict(ignore, SourceKeyId=self.key["KeyId"],
                                                   DestinationKeyId=self.key["KeyId"]))
        self.assertEqual((status, error_type(out)), (400, "DryRunOperationException"))
        status, _, out = kms_raw("Decrypt", dict(ignore, CiphertextBlob=garbage))
        self.assertEqual((status, error_type(out)), (400, "ValidationException"))
        self.assertIn("Value null at 'keyId' failed to satisfy constraint: Member must not be null",
                      out["message"])

    def test_concurrent_round_trips(self):
        """8 threads x 15 Encrypt/Decrypt round trips, each on its own connection."""
        import concurrent.futures

        def worker(n):
            kms = boto_session().client(
                "kms", endpoint_url=ENDPOINT, region_name=REGION,
                aws_access_key_id=ROOT.access_key, aws_secret_access_key=ROOT.secret_key,
                config=Config(retries={"max_attempts": 0}))
            try:
                for i in range(15):
                    plain = f"worker {n} message {i} ".encode() * (1 + i)
                    ctx = {"worker": str(n), "i": str(i)}
                    blob = kms.encrypt(KeyId=self.key["KeyId"], Plaintext=plain,
                                       EncryptionContext=ctx)["CiphertextBlob"]
                    back = kms.decrypt(CiphertextBlob=blob, EncryptionContext=ctx)["Plaintext"]
                    if back != plain:
                        return f"worker {n}, message {i}: got {back[:40]!r}"
                return None
            finally:
                if hasattr(kms, "close"):
                    kms.close()

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            problems = [p for p in pool.map(worker, range(8)) if p]
        self.assertEqual(problems, [])

    def test_generate_random(self):
        kms = self.kms()
        a = kms.generate_random(NumberOfBytes=32)["Plaintext"]
        b = kms.generate_random(NumberOfBytes=32)["Plaintext"]
        self.assertEqual((len(a), len(b)), (32, 32))
        self.assertNotEqual(a, b)
        self.assertEqual(len(kms.generate_random(NumberOfBytes=1024)["Plaintext"]), 1024)
        with self.raises("ValidationException",
                         regex=r"^1 validation error detected: Value '1025' at 'numberOfBytes' "
                               r"failed to satisfy constraint: Member must have value less than "
                               r"or equal to 1024$"):
            kms.generate_random(NumberOfBytes=1025)
        with self.raises("ValidationException", regex=r"at 'numberOfBytes' failed to satisfy "
                                                       r"constraint: Member must have value "
                                                       r"greater than or equal to 1$"):
            client("kms", ROOT, validate=False).generate_random(NumberOfBytes=0)


class KmsWire(CofferTest):
    """The JSON 1.1 wire form itself, as the SDKs parse it."""

    def test_json_success_and_error_shapes(self):
        status, headers, body = kms_raw("ListKeys", {})
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("content-type"), "application/x-amz-json-1.1")
        self.assertTrue(headers.get("x-amzn-requestid"))
        self.assertIsInstance(body.get("Keys"), list)
        missing = str(uuid.uuid4())
        status, headers, body = kms_raw("DescribeKey", {"KeyId": missing})
        self.assertEqual(status, 400)
        self.assertTrue(headers.get("x-amzn-requestid"))
        self.assertEqual(error_type(body), "NotFoundException")
        self.assertEqual(body.get("message"), f"Key '{key_arn(missing)}' does not exist")

    def test_blobs_and_timestamps_on_the_wire(self):
        status, _, created = kms_raw("CreateKey", {"Description": "wire"})
        self.assertEqual(status, 200)
        self.assertIsInstance(created["KeyMetadata"]["CreationDate"], (int, float),
                              "timestamps are epoch seconds")
        self.assertLess(abs(created["KeyMetadata"]["CreationDate"] - time.time()), 120)
        key_id = created["KeyMetadata"]["KeyId"]
        status, _, out = kms_raw("Encrypt", {"KeyId": key_id,
                                             "Plaintext": base64.b64encode(b"\xff\xfe").decode()})
        self.assertEqual(status, 200)
        blob = base64.b64decode(out["CiphertextBlob"], validate=True)
        self.assertEqual(base64.b64encode(blob).decode(), out["CiphertextBlob"],
                         "standard base64 with padding")
        status, _, back = kms_raw("Decrypt", {"CiphertextBlob": out["CiphertextBlob"]})
        self.assertEqual(base64.b64decode(back["Plaintext"]), b"\xff\xfe")

    def test_unknown_operation(self):
        status, _, body = kms_raw("NoSuchOperation", {})
        self.assertEqual(status, 400)
        self.assertIn("__type", body)


# ---------------------------------------------------------------------------------------
# KMS: grants.

class KmsGrants(CofferTest):
    def role_session(self, base):
        """A role with no policy of its own, and a session of it (assumed by a user)."""
        user, user_creds = self.new_user_with_key(base + "-caller")
        role, _ = self.new_role(base, trust_policy(user_arn(user)))
        return role, self.assume(user_creds, role, "s1")

    def test_grant_lets_a_role_use_a_key(self):
        md = self.new_key()  # the default policy names the account root only
        role, session = self.role_session("grantee")
        who = session_arn(role, "s1")
        kms = client("kms", session)
        with self.raises("AccessDeniedException",
                         denied(who, "kms:Encrypt", md["Arn"], "identity")):
            kms.encrypt(KeyId=md["Arn"], Plaintext=b"x", EncryptionContext={"app": "x"})
        g = self.kms().create_grant(KeyId=md["KeyId"], GranteePrincipal=role_arn(role),
                                    Operations=["Encrypt", "Decrypt"],
                                    Constraints={"EncryptionContextSubset": {"app": "x"}})
        self.assertRegex(g["GrantId"], "^[0-9a-f]{64}$")
        self.assertTrue(g["GrantToken"])
        # Allowed: the context holds the constraint's pairs (and may hold more).
        blob = kms.encrypt(KeyId=md["Arn"], Plaintext=b"x",
                           EncryptionContext={"app": "x", "row": "7"})["CiphertextBlob"]
        self.assertEqual(kms.decrypt(CiphertextBlob=blob,
                                     EncryptionContext={"app": "x", "row": "7"})["Plaintext"], b"x")
        # In a constraint the key is compared without case, the value with it
        # (GrantConstraints in the KMS API reference).
        kms.encrypt(KeyId=md["Arn"], Plaintext=b"x", EncryptionContext={"APP": "x"})
        with self.raises("AccessDeniedException",
                         denied(who, "kms:Encrypt", md["Arn"], "identity")):
            kms.encrypt(KeyId=md["Arn"], Plaintext=b"x", EncryptionContext={"app": "X"})
        # Refused: another context, an operation the grant does not list.
        with self.raises("AccessDeniedException",
                         denied(who, "kms:Encrypt", md["Arn"], "identity")):
            kms.encrypt(KeyId=md["Arn"], Plaintext=b"x", EncryptionContext={"app": "y"})
        with self.raises("AccessDeniedException",
                         denied(who, "kms:GenerateDataKey", md["Arn"], "identity")):
            kms.generate_data_key(KeyId=md["Arn"], KeySpec="AES_256",
                                  EncryptionContext={"app": "x"})
        with self.raises("AccessDeniedException",
                         denied(who, "kms:DescribeKey", md["Arn"], "identity")):
            kms.describe_key(KeyId=md["Arn"])
        listed = self.kms().list_grants(KeyId=md["KeyId"])
        self.assertFalse(listed["Truncated"])
        self.assertEqual(len(listed["Grants"]), 1)
        entry = listed["Grants"][0]
        self.assertEqual(entry["KeyId"], md["Arn"])
        self.assertEqual(entry["GrantId"], g["GrantId"])
        self.assertEqual(entry["GranteePrincipal"], role_arn(role))
        self.assertEqual(entry["IssuingAccount"], ROOT_ARN)
        self.assertEqual(entry["Operations"], ["Encrypt", "Decrypt"])
        self.assertEqual(entry["Constraints"], {"EncryptionContextSubset": {"app": "x"}})
        self.assertRecent(entry["CreationDate"])
        self.assertNotIn("Name", entry)
        self.assertNotIn("RetiringPrincipal", entry)
        # Revoked: refused again, at once.
        self.kms().revoke_grant(KeyId=md["KeyId"], GrantId=g["GrantId"])
        with self.raises("AccessDeniedException",
                         denied(who, "kms:Encrypt", md["Arn"], "identity")):
            kms.encrypt(KeyId=md["Arn"], Plaintext=b"x", EncryptionContext={"app": "x"})
        self.assertEqual(self.kms().list_grants(KeyId=md["KeyId"])["Grants"], [])

    def test_equals_constraint_and_session_grantee(self):
        md = self.new_key()
        role, session = self.role_session("equals")
        kms = client("kms", session)
        # A grant to one session (its assumed-role ARN), with an exact context.
        self.kms().create_grant(KeyId=md["Arn"], GranteePrincipal=session_arn(role, "s1"),
                                Operations=["GenerateDataKey", "DescribeKey"],
                                Constraints={"EncryptionContextEquals": {"db": "orders"}})
        kms.generate_data_key(KeyId=md["Arn"], KeySpec="AES_256",
                              EncryptionContext={"db": "orders"})
        # Constraints do not apply to an operation without an encryption context.
        self.assertEqual(kms.describe_key(KeyId=md["KeyId"])["KeyMetadata"]["Arn"], md["Arn"])
        with self.raises("AccessDeniedException"):
            kms.generate_data_key(KeyId=md["Arn"], KeySpec="AES_256",
                                  EncryptionContext={"db": "orders", "more": "1"})

    def test_explicit_deny_beats_a_grant(self):
        role, session = self.role_session("denied")
        policy = default_key_policy()
        policy["Statement"].append({"Effect": "Deny", "Principal": {"AWS": role_arn(role)},
                                    "Action": "kms:Encrypt", "Resource": "*"})
        md = self.new_key(Policy=json.dumps(policy))
        self.kms().create_grant(KeyId=md["Arn"], GranteePrincipal=role_arn(role),
                                Operations=["Encrypt"])
        with self.raises("AccessDeniedException",
                         denied(session_arn(role, "s1"), "kms:Encrypt", md["Arn"],
                                "deny-resource")):
            client("kms", session).encrypt(KeyId=md["Arn"], Plaintext=b"x")

    def test_retire_by_token_and_by_id(self):
        md = self.new_key()
        grantee, grantee_creds = self.new_user_with_key("grant-user")
        retirer, retirer_creds = self.new_user_with_key("grant-retirer")
        with self.raises("AccessDeniedException",
                         denied(user_arn(retirer), "kms:ListRetirableGrants", "*", "identity")):
            client("kms", retirer_creds).list_retirable_grants(RetiringPrincipal=user_arn(retirer))
        # ListRetirableGrants is an identity policy's to allow: no key is named.
        self.iam().put_user_policy(UserName=retirer, PolicyName="list",
                                   PolicyDocument=allow_policy("kms:ListRetirableGrants"))
        g = self.kms().create_grant(KeyId=md["Arn"], GranteePrincipal=user_arn(grantee),
                                    RetiringPrincipal=user_arn(retirer), Operations=["Decrypt"],
                                    Name="nightly-job")
        # The retiring principal's list, without any key permission.
        listed = client("kms", retirer_creds).list_retirable_grants(
            RetiringPrincipal=user_arn(retirer))
        self.assertEqual([e["GrantId"] for e in listed["Grants"]], [g["GrantId"]])
        self.assertEqual(listed["Grants"][0]["Name"], "nightly-job")
        self.assertEqual(listed["Grants"][0]["RetiringPrincipal"], user_arn(retirer))
        # The grantee may not retire it: the grant does not list RetireGrant.
        with self.raises("AccessDeniedException",
                         denied(user_arn(grantee), "kms:RetireGrant", md["Arn"], "identity")):
            client("kms", grantee_creds).retire_grant(KeyId=md["Arn"], GrantId=g["GrantId"])
        client("kms", retirer_creds).retire_grant(GrantToken=g["GrantToken"])
        self.assertEqual(self.kms().list_grants(KeyId=md["Arn"])["Grants"], [])
        with self.raises("NotFoundException"):
            client("kms", retirer_creds).retire_grant(GrantToken=g["GrantToken"])
        # A grantee whose grant lists RetireGrant retires it by key and id.
        g2 = self.kms().create_grant(KeyId=md["Arn"], GranteePrincipal=user_arn(grantee),
                                     Operations=["Decrypt", "RetireGrant"])
        client("kms", grantee_creds).retire_grant(KeyId=md["Arn"], GrantId=g2["GrantId"])
        self.assertEqual(self.kms().list_grants(KeyId=md["Arn"])["Grants"], [])

    def test_named_grant_retried_is_the_same_grant(self):
        md = self.new_key()
        user, _ = self.new_user_with_key("named")
        kwargs = dict(KeyId=md["Arn"], GranteePrincipal=user_arn(user), Operations=["Encrypt"],
                      Name="app-1")
        first = self.kms().create_grant(**kwargs)
        again = self.kms().create_grant(**kwargs)
        self.assertEqual(first["GrantId"], again["GrantId"])
        self.assertNotEqual(first["GrantToken"], again["GrantToken"])
        other = self.kms().create_grant(**dict(kwargs, Operations=["Decrypt"]))
        self.assertNotEqual(other["GrantId"], first["GrantId"])
        self.assertEqual(len(self.kms().list_grants(KeyId=md["Arn"])["Grants"]), 2)
        # Without a name, every call makes a grant.
        self.kms().create_grant(KeyId=md["Arn"], GranteePrincipal=user_arn(user),
                                Operations=["Encrypt"])
        self.assertEqual(len(self.kms().list_grants(KeyId=md["Arn"])["Grants"]), 3)

    def test_grantee_with_create_grant_makes_narrower_grants(self):
        md = self.new_key()
        parent, parent_creds = self.new_user_with_key("parent")
        child, _ = self.new_user_with_key("child")
        self.kms().create_grant(KeyId=md["Arn"], GranteePrincipal=user_arn(parent),
                                Operations=["CreateGrant", "Encrypt", "Decrypt"],
                                Constraints={"EncryptionContextSubset": {"app": "x"}})
        kms = client("kms", parent_creds)
        kms.create_grant(KeyId=md["Arn"], GranteePrincipal=user_arn(child), Operations=["Decrypt"],
                         Constraints={"EncryptionContextSubset": {"app": "x", "row": "1"}})
        kms.create_grant(KeyId=md["Arn"], GranteePrincipal=user_arn(child), Operations=["Encrypt"],
                         Constraints={"EncryptionContextEquals": {"app": "x"}})
        for ops, constraints in ((["Decrypt"], None),
                                 (["GenerateDataKey"], {"EncryptionContextSubset": {"app": "x"}}),
                                 (["Decrypt"], {"EncryptionContextSubset": {"app": "y"}})):
            kwargs = dict(KeyId=md["Arn"], GranteePrincipal=user_arn(child), Operations=ops)
            if constraints:
                kwargs["Constraints"] = constraints
            with self.raises("AccessDeniedException",
                             denied(user_arn(parent), "kms:CreateGrant", md["Arn"], "identity")):
                kms.create_grant(**kwargs)
        self.assertEqual(len(self.kms().list_grants(KeyId=md["Arn"])["Grants"]), 3)
        self.assertEqual(len(self.kms().list_grants(
            KeyId=md["Arn"], GranteePrincipal=user_arn(child))["Grants"]), 2)

    def test_grant_errors(self):
        kms = self.kms()
        md = self.new_key()
        user, _ = self.new_user_with_key("grant-errors")
        grantee = user_arn(user)
        alias = name("alias/grants")
        kms.create_alias(AliasName=alias, TargetKeyId=md["KeyId"])
        with self.raises("InvalidArnException",
                         "Key Aliases are not supported for this operation."):
            kms.create_grant(KeyId=alias, GranteePrincipal=grantee, Operations=["Encrypt"])
        with self.raises("InvalidArnException",
                         "ARN does not refer to a valid principal: " + user_arn("no-such-user")):
            kms.create_grant(KeyId=md["KeyId"], GranteePrincipal=user_arn("no-such-user"),
                             Operations=["Encrypt"])
        with self.raises("ValidationException",
                         "Grants must not contain only the CreateGrant operation."):
            kms.create_grant(KeyId=md["KeyId"], GranteePrincipal=grantee,
                             Operations=["CreateGrant"])
        with self.raises("ValidationException", "More than one constraint supplied"):
            kms.create_grant(KeyId=md["KeyId"], GranteePrincipal=grantee, Operations=["Encrypt"],
                             Constraints={"EncryptionContextSubset": {"a": "b"},
                                          "EncryptionContextEquals": {}})
        with self.raises("ValidationException"):
            kms.create_grant(KeyId=md["KeyId"], GranteePrincipal=grantee, Operations=["Sign"])
        with self.raises("ValidationException", regex="operations.1.member"):
            kms.create_grant(KeyId=md["KeyId"], GranteePrincipal=grantee, Operations=["Fly"])
        if "DryRun" in input_members(kms, "CreateGrant"):  # botocore since 2023
            with self.raises("DryRunOperationException"):
                kms.create_grant(KeyId=md["KeyId"], GranteePrincipal=grantee,
                                 Operations=["Encrypt"], DryRun=True)
        self.assertEqual(kms.list_grants(KeyId=md["KeyId"])["Grants"], [])
        with self.raises("InvalidGrantIdException"):
            kms.revoke_grant(KeyId=md["KeyId"], GrantId="not-a-grant")
        with self.raises("NotFoundException"):
            kms.revoke_grant(KeyId=md["KeyId"], GrantId="0" * 64)
        with self.raises("InvalidGrantTokenException"):
            kms.retire_grant(GrantToken="bm90IGEgdG9rZW4=")
        with self.raises("ValidationException"):
            kms.retire_grant(GrantId="0" * 64)
        kms.disable_key(KeyId=md["KeyId"])
        with self.raises("DisabledException", f"{md['Arn']} is disabled."):
            kms.create_grant(KeyId=md["KeyId"], GranteePrincipal=grantee, Operations=["Encrypt"])

    def test_list_grants_pagination_and_key_deletion(self):
        kms = self.kms()
        md = self.new_key()
        user, _ = self.new_user_with_key("paged")
        ids = sorted(kms.create_grant(KeyId=md["KeyId"], GranteePrincipal=user_arn(user),
                                      Operations=["Encrypt"])["GrantId"] for _ in range(5))
        seen, marker = [], None
        while True:
            kwargs = {"KeyId": md["KeyId"], "Limit": 2}
            if marker:
                kwargs["Marker"] = marker
            page = kms.list_grants(**kwargs)
            self.assertLessEqual(len(page["Grants"]), 2)
            seen += [g["GrantId"] for g in page["Grants"]]
            if not page["Truncated"]:
                self.assertNotIn("NextMarker", page)
                break
            marker = page["NextMarker"]
        self.assertEqual(seen, ids)
        with self.raises("InvalidMarkerException"):
            kms.list_grants(KeyId=self.new_key()["KeyId"], Marker=marker or "x")
        # Revoke works on a key pending deletion; grants do not outlive their key.
        kms.schedule_key_deletion(KeyId=md["KeyId"], PendingWindowInDays=7)
        kms.revoke_grant(KeyId=md["KeyId"], GrantId=ids[0])
        self.assertEqual(len(kms.list_grants(KeyId=md["KeyId"])["Grants"]), 4)


# ---------------------------------------------------------------------------------------
# IAM.

class IamUsers(CofferTest):
    def test_user_lifecycle(self):
        iam = self.iam()
        user = name("alice")
        created = iam.create_user(UserName=user)["User"]
        self.assertEqual(created["UserName"], user)
        self.assertEqual(created["Arn"], user_arn(user))
        self.assertEqual(created["Path"], "/")
        self.assertRegex(created["UserId"], r"^AIDA[A-Z0-9]{16,}$")
        self.assertRecent(created["CreateDate"])
        got = iam.get_user(UserName=user)["User"]
        self.assertEqual((got["UserId"], got["Arn"]), (created["UserId"], created["Arn"]))
        with self.raises("EntityAlreadyExists", f"User with name {user} already exists.",
                         status=409):
            iam.create_user(UserName=user)
        listed = {u["UserName"]: u for u in self.all_users()}
        self.assertEqual(listed[user]["UserId"], created["UserId"])
        iam.delete_user(UserName=user)
        with self.raises("NoSuchEntity", f"The user with name {user} cannot be found.",
                         status=404):
            iam.get_user(UserName=user)
        with self.raises("NoSuchEntity", f"The user with name {user} cannot be found.",
                         status=404):
            iam.delete_user(UserName=user)
        self.assertNotIn(user, {u["UserName"] for u in self.all_users()})

    def all_users(self):
        users, marker = [], None
        for _ in range(1000):
            kwargs = {"MaxItems": 2}
            if marker:
                kwargs["Marker"] = marker
            page = self.iam().list_users(**kwargs)
            self.assertLessEqual(len(page["Users"]), 2)
            users += page["Users"]
            if not page["IsTruncated"]:
                return users
            marker = page["Marker"]
        self.fail("ListUsers pagination does not end")

    def test_user_with_path_and_invalid_name(self):
        iam = self.iam()
        user = name("bob")
        created = iam.create_user(UserName=user, Path="/ops/")["User"]
        self.assertEqual(created["Arn"], f"arn:aws:iam::{ACCOUNT}:user/ops/{user}")
        self.assertEqual(created["Path"], "/ops/")
        with self.raises("ValidationError", regex=r"userName", status=400):
            iam.create_user(UserName="has space")

    def test_access_keys(self):
        iam = self.iam()
        user, creds = self.new_user_with_key("keys")
        self.assertRegex(creds.access_key, r"^AKIA[A-Z0-9]{16}$")
        self.assertEqual(len(creds.secret_key), 40)
        keys = iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
        self.assertEqual([(k["AccessKeyId"], k["Status"], k["UserName"]) for k in keys],
                         [(creds.access_key, "Active", user)])
        self.assertNotIn("SecretAccessKey", keys[0])
        sts = client("sts", creds)
        self.assertEqual(sts.get_caller_identity()["Arn"], user_arn(user))
        iam.update_access_key(UserName=user, AccessKeyId=creds.access_key, Status="Inactive")
        self.assertEqual(iam.list_access_keys(UserName=user)["AccessKeyMetadata"][0]["Status"],
                         "Inactive")
        with self.raises("InvalidClientTokenId", INVALID_TOKEN, status=403):
            sts.get_caller_identity()
        with self.raises("UnrecognizedClientException", INVALID_TOKEN, status=400):
            client("kms", creds).list_keys()
        iam.update_access_key(UserName=user, AccessKeyId=creds.access_key, Status="Active")
        self.assertEqual(sts.get_caller_identity()["Arn"], user_arn(user))
        second = iam.create_access_key(UserName=user)["AccessKey"]
        self.assertEqual(len(iam.list_access_keys(UserName=user)["AccessKeyMetadata"]), 2)
        with self.raises("DeleteConflict", "Cannot delete entity, must delete access keys first.",
                         status=409):
            iam.delete_user(UserName=user)
        iam.delete_access_key(UserName=user, AccessKeyId=creds.access_key)
        with self.raises("InvalidClientTokenId", INVALID_TOKEN, status=403):
            sts.get_caller_identity()
        # (AWS's text; whether it ends with a period is not settled in the references.)
        with self.raises("NoSuchEntity", regex="^" + re.escape(
                f"The Access Key with id {creds.access_key} cannot be found") + r"\.?$",
                status=404):
            iam.delete_access_key(UserName=user, AccessKeyId=creds.access_key)
        iam.delete_access_key(UserName=user, AccessKeyId=second["AccessKeyId"])
        iam.delete_user(UserName=user)

    def test_user_policies(self):
        iam = self.iam()
        user = name("carol")
        iam.create_user(UserName=user)
        # Characters the Query encoding must carry: spaces (sent as '+'), '+', '&', '=', '%',
        # non-ASCII.
        doc = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*",
             "Condition": {"StringEquals": {
                 "kms:EncryptionContext:note": "a b+c&d=e%20f \u00e9\u65e5"}}}]}
        iam.put_user_policy(UserName=user, PolicyName="crypto", PolicyDocument=json.dumps(doc))
        got = iam.get_user_policy(UserName=user, PolicyName="crypto")
        self.assertEqual((got["UserName"], got["PolicyName"]), (user, "crypto"))
        document = got["PolicyDocument"]  # botocore URL-decodes and parses it
        if isinstance(document, str):
            document = json.loads(urllib.parse.unquote(document))
        self.assertEqual(document, doc)
        # On the wire the document is URL-encoded JSON.
        status, _, xml = query_raw("iam", {"Action": "GetUserPolicy", "Version": "2010-05-08",
                                           "UserName": user, "PolicyName": "crypto"})
        self.assertEqual(status, 200)
        m = re.search(r"<PolicyDocument>([^<]*)</PolicyDocument>", xml)
        self.assertIsNotNone(m, xml)
        self.assertIn("%7B", m.group(1))
        self.assertEqual(json.loads(urllib.parse.unquote(m.group(1))), doc)
        self.assertIn('xmlns="https://iam.amazonaws.com/doc/2010-05-08/"', xml)
        self.assertEqual(iam.list_user_policies(UserName=user)["PolicyNames"], ["crypto"])
        with self.raises("NoSuchEntity", f"The user policy with name nope cannot be found.",
                         status=404):
            iam.get_user_policy(UserName=user, PolicyName="nope")
        with self.raises("MalformedPolicyDocument", status=400):
            iam.put_user_policy(UserName=user, PolicyName="bad", PolicyDocument="{nope")
        with self.raises("MalformedPolicyDocument",
                         "Policy document should not specify a principal.", status=400):
            iam.put_user_policy(UserName=user, PolicyName="bad", PolicyDocument=json.dumps(
                {"Version": "2012-10-17", "Statement": [
                    {"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"}]}))
        with self.raises("DeleteConflict", "Cannot delete entity, must delete policies first.",
                         status=409):
            iam.delete_user(UserName=user)
        iam.delete_user_policy(UserName=user, PolicyName="crypto")
        self.assertEqual(iam.list_user_policies(UserName=user)["PolicyNames"], [])
        with self.raises("NoSuchEntity", status=404):
            iam.delete_user_policy(UserName=user, PolicyName="crypto")
        iam.delete_user(UserName=user)
        with self.raises("NoSuchEntity", f"The user with name {user} cannot be found.",
                         status=404):
            iam.put_user_policy(UserName=user, PolicyName="x", PolicyDocument=json.dumps(doc))


class IamAccessKeyLastUsed(CofferTest):
    def test_last_used(self):
        iam = self.iam()
        user, creds = self.new_user_with_key("last-used")
        never = iam.get_access_key_last_used(AccessKeyId=creds.access_key)
        self.assertEqual(never["UserName"], user)
        self.assertEqual(never["AccessKeyLastUsed"]["ServiceName"], "N/A")
        self.assertEqual(never["AccessKeyLastUsed"]["Region"], "N/A")
        self.assertNotIn("LastUsedDate", never["AccessKeyLastUsed"])
        client("sts", creds).get_caller_identity()
        used = iam.get_access_key_last_used(AccessKeyId=creds.access_key)["AccessKeyLastUsed"]
        self.assertEqual((used["ServiceName"], used["Region"]), ("sts", REGION))
        self.assertRecent(used["LastUsedDate"])
        # A refused signature is no use of the key.
        wrong = Creds(creds.access_key, "x" * 40)
        with self.raises("SignatureDoesNotMatch", status=403):
            client("iam", wrong).list_users()
        again = iam.get_access_key_last_used(AccessKeyId=creds.access_key)["AccessKeyLastUsed"]
        self.assertEqual(again["ServiceName"], "sts")
        # The user may ask about its own key only when a policy allows.
        with self.raises("AccessDenied", regex="^" + re.escape(
                f"User: {user_arn(user)} is not authorized to perform: "
                f"iam:GetAccessKeyLastUsed on resource: {user_arn(user)}"), status=403):
            client("iam", creds).get_access_key_last_used(AccessKeyId=creds.access_key)
        with self.raises("NoSuchEntity", status=404):
            iam.get_access_key_last_used(AccessKeyId="AKIA" + "A" * 16)

    def test_role_last_used(self):
        iam = self.iam()
        user, creds = self.new_user_with_key("role-user", [allow_policy("sts:AssumeRole")])
        role, _ = self.new_role("last-used-role", trust_policy(user_arn(user)))
        self.assertEqual(iam.get_role(RoleName=role)["Role"].get("RoleLastUsed", {}), {})
        session = self.assume(creds, role, "used")
        client("sts", session).get_caller_identity()
        used = iam.get_role(RoleName=role)["Role"]["RoleLastUsed"]
        self.assertEqual(used["Region"], REGION)
        self.assertRecent(used["LastUsedDate"])


class IamRoles(CofferTest):
    def test_role_lifecycle(self):
        iam = self.iam()
        role = name("backup-role")
        trust = trust_policy(service="rds.amazonaws.com")
        created = iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust,
                                  Description="seed role")["Role"]
        self.assertEqual(created["RoleName"], role)
        self.assertEqual(created["Arn"], role_arn(role))
        self.assertRegex(created["RoleId"], r"^AROA[A-Z0-9]{16,}$")
        self.assertRecent(created["CreateDate"])
        got = iam.get_role(RoleName=role)["Role"]
        self.assertEqual(got["RoleId"], created["RoleId"])
        document = got["AssumeRolePolicyDocument"]
        if isinstance(document, str):
            document = json.loads(urllib.parse.unquote(document))
        self.assertEqual(document, json.loads(trust))
        self.assertEqual(got.get("MaxSessionDuration"), 3600)
        with self.raises("EntityAlreadyExists", f"Role with name {role} already exists.",
                         status=409):
            iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust)
        with self.raises("MalformedPolicyDocument", status=400):
            iam.create_role(RoleName=name("bad-trust"), AssumeRolePolicyDocument="{")
        roles, marker = [], None
        for _ in range(1000):
            kwargs = {"MaxItems": 3}
            if marker:
                kwargs["Marker"] = marker
            page = iam.list_roles(**kwargs)
            roles += [r["RoleName"] for r in page["Roles"]]
            if not page["IsTruncated"]:
                break
            marker = page["Marker"]
        self.assertIn(role, roles)
        new_trust = trust_policy(ROOT_ARN)
        iam.update_assume_role_policy(RoleName=role, PolicyDocument=new_trust)
        document = iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
        if isinstance(document, str):
            document = json.loads(urllib.parse.unquote(document))
        self.assertEqual(document, json.loads(new_trust))
        iam.put_role_policy(RoleName=role, PolicyName="kms",
                            PolicyDocument=allow_policy(["kms:GenerateDataKey"]))
        self.assertEqual(iam.list_role_policies(RoleName=role)["PolicyNames"], ["kms"])
        got = iam.get_role_policy(RoleName=role, PolicyName="kms")
        self.assertEqual((got["RoleName"], got["PolicyName"]), (role, "kms"))
        with self.raises("NoSuchEntity", "The role policy with name nope cannot be found.",
                         status=404):
            iam.get_role_policy(RoleName=role, PolicyName="nope")
        with self.raises("DeleteConflict", "Cannot delete entity, must delete policies first.",
                         status=409):
            iam.delete_role(RoleName=role)
        iam.delete_role_policy(RoleName=role, PolicyName="kms")
        self.assertEqual(iam.list_role_policies(RoleName=role)["PolicyNames"], [])
        iam.delete_role(RoleName=role)
        with self.raises("NoSuchEntity", f"The role with name {role} cannot be found.",
                         status=404):
            iam.get_role(RoleName=role)
        with self.raises("NoSuchEntity", f"The role with name {role} cannot be found.",
                         status=404):
            iam.update_assume_role_policy(RoleName=role, PolicyDocument=new_trust)


# ---------------------------------------------------------------------------------------
# IAM: customer managed policies.

def policy_arn(policy, path="/"):
    return f"arn:aws:iam::{ACCOUNT}:policy{path}{policy}"


class IamGroups(CofferTest):
    def test_a_group_gives_its_users_key_use(self):
        # The key's default policy delegates to IAM: a group's policies decide.
        iam = self.iam()
        key = self.new_key(Description=name("grouped"))["KeyId"]
        user, creds = self.new_user_with_key("grouped-user")
        other, _ = self.new_user_with_key("grouped-other")
        kms = client("kms", creds)
        group = name("key-users")
        created = iam.create_group(GroupName=group, Path="/db/")["Group"]
        self.assertEqual(created["Arn"], f"arn:aws:iam::{ACCOUNT}:group/db/{group}")
        self.assertRegex(created["GroupId"], r"^AGPA[A-Z2-7]{17}$")
        self.assertEqual((created["GroupName"], created["Path"]), (group, "/db/"))
        self.assertRecent(created["CreateDate"])
        iam.put_group_policy(GroupName=group, PolicyName="use-key", PolicyDocument=allow_policy(
            ["kms:Encrypt", "kms:Decrypt"], key_arn(key)))
        with self.raises("AccessDeniedException", denied(
                user_arn(user), "kms:Encrypt", key_arn(key), "identity")):
            kms.encrypt(KeyId=key, Plaintext=b"x")
        iam.add_user_to_group(GroupName=group, UserName=user)
        iam.add_user_to_group(GroupName=group, UserName=user)  # again: nothing changes
        blob = kms.encrypt(KeyId=key, Plaintext=b"x")["CiphertextBlob"]
        self.assertEqual(kms.decrypt(CiphertextBlob=blob)["Plaintext"], b"x")

        # A managed policy attached to the group, here a deny, applies as well.
        deny = iam.create_policy(PolicyName=name("grouped-deny"), PolicyDocument=allow_policy(
            "kms:Encrypt", effect="Deny"))["Policy"]["Arn"]
        iam.attach_group_policy(GroupName=group, PolicyArn=deny)
        with self.raises("AccessDeniedException", denied(
                user_arn(user), "kms:Encrypt", key_arn(key), "deny-identity")):
            kms.encrypt(KeyId=key, Plaintext=b"x")
        self.assertEqual(iam.list_attached_group_policies(GroupName=group)["AttachedPolicies"],
                         [{"PolicyName": name("grouped-deny"), "PolicyArn": deny}])
        entities = iam.list_entities_for_policy(PolicyArn=deny)
        self.assertEqual([(g["GroupName"], g["GroupId"]) for g in entities["PolicyGroups"]],
                         [(group, created["GroupId"])])
        self.assertEqual(iam.get_policy(PolicyArn=deny)["Policy"]["AttachmentCount"], 1)
        iam.detach_group_policy(GroupName=group, PolicyArn=deny)
        iam.delete_policy(PolicyArn=deny)
        kms.encrypt(KeyId=key, Plaintext=b"x")

        # GetGroup pages through the users; each user's groups are listed.
        iam.add_user_to_group(GroupName=group, UserName=other)
        first = iam.get_group(GroupName=group, MaxItems=1)
        self.assertEqual(first["Group"]["Arn"], created["Arn"])
        self.assertTrue(first["IsTruncated"])
        rest = iam.get_group(GroupName=group, Marker=first["Marker"])
        self.assertFalse(rest["IsTruncated"])
        self.assertEqual(sorted(u["UserName"] for u in first["Users"] + rest["Users"]),
                         sorted([user, other]))
        self.assertEqual([g["GroupName"] for g in iam.list_groups_for_user(
            UserName=user)["Groups"]], [group])
        self.assertIn(group, [g["GroupName"] for g in iam.list_groups(PathPrefix="/db/")["Groups"]])
        self.assertEqual(iam.list_group_policies(GroupName=group)["PolicyNames"], ["use-key"])
        iam.update_group(GroupName=group, NewPath="/ops/")
        self.assertEqual(iam.get_group(GroupName=group)["Group"]["Arn"],
                         f"arn:aws:iam::{ACCOUNT}:group/ops/{group}")
        kms.encrypt(KeyId=key, Plaintext=b"x")  # users and policies moved with it
        with self.raises("EntityAlreadyExists", f"Group with name {group} already exists.",
                         status=409):
            iam.create_group(GroupName=group)
        self.assertEqual(json.loads(json.dumps(iam.get_group_policy(
            GroupName=group, PolicyName="use-key")["PolicyDocument"]))["Statement"][0]["Resource"],
            key_arn(key))

        # Leaving the group takes its permissions away at once.
        iam.remove_user_from_group(GroupName=group, UserName=user)
        with self.raises("AccessDeniedException", denied(
                user_arn(user), "kms:Encrypt", key_arn(key), "identity")):
            kms.encrypt(KeyId=key, Plaintext=b"x")
        with self.raises("NoSuchEntity", f"The user with name {user} cannot be found.",
                         status=404):
            iam.remove_user_from_group(GroupName=group, UserName=user)
        with self.raises("DeleteConflict",
                         "Cannot delete entity, must remove users from group first.", status=409):
            iam.delete_group(GroupName=group)
        iam.remove_user_from_group(GroupName=group, UserName=other)
        with self.raises("DeleteConflict", "Cannot delete entity, must delete policies first.",
                         status=409):
            iam.delete_group(GroupName=group)
        iam.delete_group_policy(GroupName=group, PolicyName="use-key")
        iam.delete_group(GroupName=group)
        with self.raises("NoSuchEntity", f"The group with name {group} cannot be found.",
                         status=404):
            iam.get_group(GroupName=group)

    def test_errors_and_limits(self):
        iam = self.iam()
        group = name("limits")
        iam.create_group(GroupName=group)
        with self.raises("EntityAlreadyExists", f"Group with name {group.upper()} already exists.",
                         status=409):
            iam.create_group(GroupName=group.upper())
        with self.raises("ValidationError", regex="Value 'a b' at 'groupName' failed to satisfy",
                         status=400):
            iam.create_group(GroupName="a b")
        with self.raises("NoSuchEntity", f"The group with name {name('none')} cannot be found.",
                         status=404):
            iam.add_user_to_group(GroupName=name("none"), UserName=name("none"))
        user = name("many-groups")
        iam.create_user(UserName=user)
        groups = [name(f"g{i}") for i in range(11)]
        for g in groups:
            iam.create_group(GroupName=g)
        for g in groups[:10]:
            iam.add_user_to_group(GroupName=g, UserName=user)
        with self.raises("LimitExceeded", "Cannot exceed quota for GroupsPerUser: 10",
                         status=409):
            iam.add_user_to_group(GroupName=groups[10], UserName=user)
        with self.raises("DeleteConflict",
                         "Cannot delete entity, must remove users from group first.", status=409):
            iam.delete_user(UserName=user)
        for g in groups[:10]:
            iam.remove_user_from_group(GroupName=g, UserName=user)
        for g in groups + [group]:
            iam.delete_group(GroupName=g)
        iam.delete_user(UserName=user)

    def test_records(self):
        iam = self.iam()
        start = now() - datetime.timedelta(seconds=2)
        group = name("recorded-group")
        user = name("recorded-member")
        iam.create_user(UserName=user)
        created = iam.create_group(GroupName=group)
        added = iam.add_user_to_group(GroupName=group, UserName=user)
        ids = {created["ResponseMetadata"]["RequestId"]: "CreateGroup",
               added["ResponseMetadata"]["RequestId"]: "AddUserToGroup"}
        found = records_of_requests(start, ids)
        group_arn = created["Group"]["Arn"]
        rec = found["CreateGroup"]
        self.assertEqual(rec["eventSource"], "iam.amazonaws.com")
        self.assertEqual(rec["requestParameters"], {"groupName": group})
        self.assertEqual(rec["responseElements"]["group"]["groupId"], created["Group"]["GroupId"])
        self.assertEqual(rec["resources"], [{"accountId": ACCOUNT, "type": "AWS::IAM::Group",
                                             "ARN": group_arn}])
        rec = found["AddUserToGroup"]
        self.assertEqual(rec["requestParameters"], {"groupName": group, "userName": user})
        self.assertIsNone(rec["responseElements"])
        self.assertEqual(rec["resources"], [
            {"accountId": ACCOUNT, "type": "AWS::IAM::Group", "ARN": group_arn},
            {"accountId": ACCOUNT, "type": "AWS::IAM::User", "ARN": user_arn(user)}])
        iam.remove_user_from_group(GroupName=group, UserName=user)
        iam.delete_group(GroupName=group)
        iam.delete_user(UserName=user)


class IamManagedPolicies(CofferTest):
    def test_policy_and_its_versions(self):
        iam = self.iam()
        policy = name("kms-use")
        doc = allow_policy(["kms:Encrypt", "kms:Decrypt"])
        created = iam.create_policy(PolicyName=policy, Path="/app/", PolicyDocument=doc,
                                    Description="the backup role's key use",
                                    Tags=[{"Key": "team", "Value": "db"}])["Policy"]
        arn = policy_arn(policy, "/app/")
        self.assertEqual(created["Arn"], arn)
        self.assertRegex(created["PolicyId"], r"^ANPA[A-Z0-9]{17}$")
        self.assertEqual((created["Path"], created["DefaultVersionId"]), ("/app/", "v1"))
        self.assertEqual(created["AttachmentCount"], 0)
        self.assertTrue(created["IsAttachable"])
        self.assertNotIn("Description", created)  # as IAM answers CreatePolicy
        self.assertRecent(created["CreateDate"])
        got = iam.get_policy(PolicyArn=arn)["Policy"]
        self.assertEqual(got["Description"], "the backup role's key use")
        self.assertEqual(got["Tags"], [{"Key": "team", "Value": "db"}])
        iam.tag_policy(PolicyArn=arn, Tags=[{"Key": "Team", "Value": "backup"},
                                            {"Key": "env", "Value": "prod"}])
        iam.untag_policy(PolicyArn=arn, TagKeys=["ENV"])
        self.assertEqual(iam.list_policy_tags(PolicyArn=arn)["Tags"],
                         [{"Key": "Team", "Value": "backup"}])
        with self.raises("EntityAlreadyExists",
                         f"A policy called {policy.upper()} already exists. "
                         "Duplicate names are not allowed.", status=409):
            iam.create_policy(PolicyName=policy.upper(), PolicyDocument=doc)
        with self.raises("NoSuchEntity", f"Policy {policy_arn(policy)} was not found.",
                         status=404):
            iam.get_policy(PolicyArn=policy_arn(policy))  # the path is part of the ARN
        with self.raises("InvalidInput", "ARN arn:aws:s3:::bucket/key is not valid.",
                         status=400):
            iam.get_policy(PolicyArn="arn:aws:s3:::bucket/key")
        with self.raises("MalformedPolicyDocument", status=400):
            iam.create_policy(PolicyName=name("bad"), PolicyDocument="{")
        big = json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "kms:Encrypt", "Resource": f"arn:aws:kms:::key/{i:040}"}
            for i in range(80)]})
        with self.raises("LimitExceeded", "Cannot exceed quota for PolicySize: 6144",
                         status=409):
            iam.create_policy(PolicyName=name("big"), PolicyDocument=big)

        for n in range(2, 6):
            v = iam.create_policy_version(PolicyArn=arn, PolicyDocument=doc,
                                          SetAsDefault=(n == 3))["PolicyVersion"]
            self.assertEqual(v["VersionId"], f"v{n}")
            self.assertEqual(v["IsDefaultVersion"], n == 3)
            self.assertNotIn("Document", v)
        with self.raises("LimitExceeded",
                         "A managed policy can have up to 5 versions. Before you create a new "
                         "version, you must delete an existing version.", status=409):
            iam.create_policy_version(PolicyArn=arn, PolicyDocument=doc)
        versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
        self.assertEqual([v["VersionId"] for v in versions], ["v5", "v4", "v3", "v2", "v1"])
        self.assertEqual([v["VersionId"] for v in versions if v["IsDefaultVersion"]], ["v3"])
        page = iam.list_policy_versions(PolicyArn=arn, MaxItems=2)
        self.assertTrue(page["IsTruncated"])
        rest = iam.list_policy_versions(PolicyArn=arn, Marker=page["Marker"])["Versions"]
        self.assertEqual([v["VersionId"] for v in rest], ["v3", "v2", "v1"])
        document = iam.get_policy_version(PolicyArn=arn, VersionId="v3")["PolicyVersion"]
        body = document["Document"]
        if isinstance(body, str):
            body = json.loads(urllib.parse.unquote(body))
        self.assertEqual(body, json.loads(doc))
        with self.raises("DeleteConflict", "Cannot delete the default version of a policy.",
                         status=409):
            iam.delete_policy_version(PolicyArn=arn, VersionId="v3")
        with self.raises("NoSuchEntity", status=404):
            iam.get_policy_version(PolicyArn=arn, VersionId="v9")
        with self.raises("ValidationError", status=400):
            iam.get_policy_version(PolicyArn=arn, VersionId="3")
        with self.raises("DeleteConflict", regex=r"^This policy has more than one version\.",
                         status=409):
            iam.delete_policy(PolicyArn=arn)
        iam.set_default_policy_version(PolicyArn=arn, VersionId="v5")
        for v in ("v1", "v2", "v3", "v4"):
            iam.delete_policy_version(PolicyArn=arn, VersionId=v)
        # Ids are never used twice.
        v = iam.create_policy_version(PolicyArn=arn, PolicyDocument=doc)["PolicyVersion"]
        self.assertEqual(v["VersionId"], "v6")
        iam.delete_policy_version(PolicyArn=arn, VersionId="v6")
        listed = [p["Arn"] for p in self.all_policies(Scope="Local", PathPrefix="/app/")]
        self.assertIn(arn, listed)
        self.assertEqual(iam.list_policies(Scope="AWS")["Policies"], [])
        iam.delete_policy(PolicyArn=arn)
        with self.raises("NoSuchEntity", status=404):
            iam.get_policy(PolicyArn=arn)

    def all_policies(self, **kwargs):
        out = []
        for page in self.iam().get_paginator("list_policies").paginate(
                PaginationConfig={"PageSize": 2}, **kwargs):
            out += page["Policies"]
        return out

    def test_attached_policy_lets_a_role_use_a_key_until_detached(self):
        # The seed's role, made by hand as the RDS guide does: create-policy, then
        # attach-role-policy. The key's policy is the default one (the account
        # delegates to IAM policies).
        iam = self.iam()
        key = self.new_key(Description=name("managed"))["KeyId"]
        user, creds = self.new_user_with_key(
            "managed-caller", [allow_policy("sts:AssumeRole")])
        role, _ = self.new_role("managed-role", trust_policy(user_arn(user)))
        policy = name("backup-kms")
        arn = iam.create_policy(PolicyName=policy, PolicyDocument=allow_policy(
            ["kms:Encrypt", "kms:GenerateDataKey"]))["Policy"]["Arn"]
        session = self.assume(creds, role, "backup")
        kms = client("kms", session)
        with self.raises("AccessDeniedException", denied(
                session_arn(role, "backup"), "kms:Encrypt", key_arn(key), "identity")):
            kms.encrypt(KeyId=key, Plaintext=b"x")
        iam.attach_role_policy(RoleName=role, PolicyArn=arn)
        iam.attach_role_policy(RoleName=role, PolicyArn=arn)  # again: nothing changes
        self.assertEqual(iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"], 1)
        self.assertEqual(iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"],
                         [{"PolicyName": policy, "PolicyArn": arn}])
        entities = iam.list_entities_for_policy(PolicyArn=arn)
        self.assertEqual([r["RoleName"] for r in entities["PolicyRoles"]], [role])
        self.assertEqual(entities["PolicyUsers"], [])
        self.assertEqual(kms.encrypt(KeyId=key, Plaintext=b"x")["KeyId"], key_arn(key))
        # A new default version that denies takes effect at once.
        iam.create_policy_version(PolicyArn=arn, SetAsDefault=True, PolicyDocument=allow_policy(
            "kms:*", effect="Deny"))
        with self.raises("AccessDeniedException", denied(
                session_arn(role, "backup"), "kms:Encrypt", key_arn(key), "deny-identity")):
            kms.encrypt(KeyId=key, Plaintext=b"x")
        iam.set_default_policy_version(PolicyArn=arn, VersionId="v1")
        self.assertEqual(kms.encrypt(KeyId=key, Plaintext=b"x")["KeyId"], key_arn(key))
        with self.raises("DeleteConflict", "Cannot delete a policy attached to entities.",
                         status=409):
            iam.delete_policy(PolicyArn=arn)
        with self.raises("DeleteConflict",
                         "Cannot delete entity, must detach all policies first.", status=409):
            iam.delete_role(RoleName=role)
        iam.detach_role_policy(RoleName=role, PolicyArn=arn)
        with self.raises("NoSuchEntity", f"Policy {arn} was not found.", status=404):
            iam.detach_role_policy(RoleName=role, PolicyArn=arn)
        with self.raises("AccessDeniedException"):
            kms.encrypt(KeyId=key, Plaintext=b"x")
        self.assertEqual(iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"], 0)

    def test_attaching_can_be_limited_to_one_policy(self):
        # A delegated administrator may attach one policy only (iam:PolicyARN).
        iam = self.iam()
        allowed = iam.create_policy(PolicyName=name("allowed"), PolicyDocument=allow_policy(
            "kms:DescribeKey"))["Policy"]["Arn"]
        other = iam.create_policy(PolicyName=name("other"), PolicyDocument=allow_policy(
            "kms:*"))["Policy"]["Arn"]
        role, r = self.new_role("delegated-target", trust_policy(ROOT_ARN))
        admin_policy = json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": ["iam:AttachRolePolicy", "iam:DetachRolePolicy"],
            "Resource": r["Arn"],
            "Condition": {"ArnEquals": {"iam:PolicyARN": allowed}}}]})
        admin, creds = self.new_user_with_key("delegated-admin", [admin_policy])
        delegated = client("iam", creds)
        delegated.attach_role_policy(RoleName=role, PolicyArn=allowed)
        with self.raises("AccessDenied", regex="^" + re.escape(
                f"User: {user_arn(admin)} is not authorized to perform: iam:AttachRolePolicy "
                f"on resource: {r['Arn']}"), status=403):
            delegated.attach_role_policy(RoleName=role, PolicyArn=other)
        self.assertEqual([p["PolicyArn"] for p in iam.list_attached_role_policies(
            RoleName=role)["AttachedPolicies"]], [allowed])
        delegated.detach_role_policy(RoleName=role, PolicyArn=allowed)
        for arn in (allowed, other):
            iam.delete_policy(PolicyArn=arn)

    def test_attach_to_users_and_limits(self):
        iam = self.iam()
        user = name("managed-user")
        iam.create_user(UserName=user)
        missing = "arn:aws:iam::aws:policy/AdministratorAccess"
        with self.raises("NoSuchEntity",
                         f"Policy {missing} does not exist or is not attachable.", status=404):
            iam.attach_user_policy(UserName=user, PolicyArn=missing)
        arns = [iam.create_policy(PolicyName=name(f"limit-{i}"),
                                  PolicyDocument=allow_policy("kms:DescribeKey"))["Policy"]["Arn"]
                for i in range(11)]
        for arn in arns[:10]:
            iam.attach_user_policy(UserName=user, PolicyArn=arn)
        with self.raises("LimitExceeded", "Cannot exceed quota for PoliciesPerUser: 10",
                         status=409):
            iam.attach_user_policy(UserName=user, PolicyArn=arns[10])
        attached, marker = [], None
        while True:
            kwargs = {"UserName": user, "MaxItems": 4}
            if marker:
                kwargs["Marker"] = marker
            page = iam.list_attached_user_policies(**kwargs)
            attached += [p["PolicyArn"] for p in page["AttachedPolicies"]]
            if not page["IsTruncated"]:
                break
            marker = page["Marker"]
        self.assertEqual(sorted(attached), sorted(arns[:10]))
        only = [p["Arn"] for p in self.all_policies(OnlyAttached=True)]
        self.assertIn(arns[0], only)
        self.assertNotIn(arns[10], only)
        users = iam.list_entities_for_policy(PolicyArn=arns[0], EntityFilter="User")
        self.assertEqual([u["UserName"] for u in users["PolicyUsers"]], [user])
        with self.raises("ValidationError", status=400):
            iam.list_entities_for_policy(PolicyArn=arns[0], EntityFilter="Nobody")
        for arn in arns[:10]:
            iam.detach_user_policy(UserName=user, PolicyArn=arn)
        for arn in arns:
            iam.delete_policy(PolicyArn=arn)
        iam.delete_user(UserName=user)

    def test_records(self):
        iam = self.iam()
        start = now() - datetime.timedelta(seconds=2)
        policy = name("recorded")
        created = iam.create_policy(PolicyName=policy, PolicyDocument=allow_policy(
            "kms:DescribeKey"))
        version = iam.create_policy_version(PolicyArn=created["Policy"]["Arn"], SetAsDefault=True,
                                            PolicyDocument=allow_policy("kms:ListKeys"))
        ids = {created["ResponseMetadata"]["RequestId"]: "CreatePolicy",
               version["ResponseMetadata"]["RequestId"]: "CreatePolicyVersion"}
        found = records_of_requests(start, ids)
        rec = found["CreatePolicy"]
        self.assertEqual(rec["eventSource"], "iam.amazonaws.com")
        self.assertEqual(rec["requestParameters"]["policyName"], policy)
        self.assertEqual(rec["responseElements"]["policy"]["policyId"],
                         created["Policy"]["PolicyId"])
        self.assertEqual(rec["resources"], [{"accountId": ACCOUNT, "type": "AWS::IAM::Policy",
                                             "ARN": created["Policy"]["Arn"]}])
        rec = found["CreatePolicyVersion"]
        self.assertIs(rec["requestParameters"]["setAsDefault"], True)
        self.assertEqual(rec["responseElements"]["policyVersion"]["versionId"], "v2")
        iam.delete_policy_version(PolicyArn=created["Policy"]["Arn"], VersionId="v1")
        iam.delete_policy(PolicyArn=created["Policy"]["Arn"])


# ---------------------------------------------------------------------------------------
# STS.

class Sts(CofferTest):
    def test_get_caller_identity_root(self):
        ident = self.sts().get_caller_identity()
        self.assertEqual(ident["Account"], ACCOUNT)
        self.assertEqual(ident["Arn"], ROOT_ARN)
        self.assertEqual(ident["UserId"], ACCOUNT)
        status, headers, xml = query_raw("sts", {"Action": "GetCallerIdentity",
                                                 "Version": "2011-06-15"})
        self.assertEqual(status, 200)
        self.assertIn('<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/'
                      '2011-06-15/">', xml)
        self.assertRegex(xml, r"<RequestId>[^<]+</RequestId>")

    def test_presigned_urls(self):
        # botocore presigns Query operations for POST unless told GET: both carry the
        # parameters in the URL, and a POST then has no body.
        user, creds = self.new_user_with_key("presigned", [allow_policy("iam:GetUser")])
        for service, op, expect in (("sts", "get_caller_identity", user_arn(user)),
                                    ("iam", "get_user", f"<UserName>{user}</UserName>")):
            for method in (None, "GET", "POST"):
                with self.subTest(service=service, method=method):
                    kwargs = {"HttpMethod": method} if method else {}
                    url = client(service, creds).generate_presigned_url(
                        op, Params={}, ExpiresIn=60, **kwargs)
                    parsed = urllib.parse.urlsplit(url)
                    conn = http.client.HTTPConnection(parsed.netloc, timeout=30)
                    conn.request(method or "POST", parsed.path + "?" + parsed.query)
                    resp = conn.getresponse()
                    body = resp.read().decode()
                    conn.close()
                    self.assertEqual(resp.status, 200, body)
                    self.assertIn(expect, body)
        # A '+' in the URL is itself, as the signature reads it: botocore sends it as
        # %2B, and the same URL with a bare '+' (one signature for both) names the same
        # user, never "plus user".
        plus = f"plus+{user}"
        self.iam().create_user(UserName=plus)
        self.addCleanup(self.iam().delete_user, UserName=plus)
        url = self.iam().generate_presigned_url("get_user", Params={"UserName": plus},
                                                ExpiresIn=60, HttpMethod="GET")
        parsed = urllib.parse.urlsplit(url)
        self.assertIn("UserName=plus%2B", parsed.query)
        for query in (parsed.query, parsed.query.replace("UserName=plus%2B", "UserName=plus+")):
            with self.subTest(query=query):
                conn = http.client.HTTPConnection(parsed.netloc, timeout=30)
                conn.request("GET", parsed.path + "?" + query)
                resp = conn.getresponse()
                body = resp.read().decode()
                conn.close()
                self.assertEqual(resp.status, 200, body)
                self.assertIn(f"<UserName>{plus}</UserName>", body)
        # A presigned URL is good for the operation it names only: changing it breaks
        # the signature.
        url = client("sts", creds).generate_presigned_url("get_caller_identity", ExpiresIn=60)
        parsed = urllib.parse.urlsplit(url)
        conn = http.client.HTTPConnection(parsed.netloc, timeout=30)
        conn.request("POST", parsed.path + "?" + parsed.query.replace(
            "Action=GetCallerIdentity", "Action=AssumeRole"))
        resp = conn.getresponse()
        body = resp.read().decode()
        conn.close()
        self.assertEqual(resp.status, 403, body)
        self.assertIn("SignatureDoesNotMatch", body)

    def test_get_caller_identity_user_and_session(self):
        user, creds = self.new_user_with_key("ident")
        user_id = self.iam().get_user(UserName=user)["User"]["UserId"]
        ident = client("sts", creds).get_caller_identity()
        self.assertEqual((ident["Account"], ident["Arn"], ident["UserId"]),
                         (ACCOUNT, user_arn(user), user_id))
        role, r = self.new_role("ident-role", trust_policy(user_arn(user)))
        out = client("sts", creds).assume_role(RoleArn=r["Arn"], RoleSessionName="s-1@x.y")
        sess = out["Credentials"]
        ident = client("sts", Creds(sess["AccessKeyId"], sess["SecretAccessKey"],
                                    sess["SessionToken"])).get_caller_identity()
        self.assertEqual(ident["Arn"], session_arn(role, "s-1@x.y"))
        self.assertEqual(ident["UserId"], f"{r['RoleId']}:s-1@x.y")
        self.assertEqual(ident["Account"], ACCOUNT)

    def test_get_session_token(self):
        key = self.new_key()
        user, creds = self.new_user_with_key(
            "session-token", [allow_policy(["kms:Encrypt", "kms:Decrypt"], key["Arn"])])
        user_id = self.iam().get_user(UserName=user)["User"]["UserId"]
        out = client("sts", creds).get_session_token(DurationSeconds=1800)["Credentials"]
        self.assertTrue(out["AccessKeyId"].startswith("ASIA"))
        self.assertRecent(out["Expiration"], offset=datetime.timedelta(seconds=1800))
        temp = Creds(out["AccessKeyId"], out["SecretAccessKey"], out["SessionToken"])
        # The session acts as the user, with the user's policies.
        ident = client("sts", temp).get_caller_identity()
        self.assertEqual((ident["Arn"], ident["UserId"]), (user_arn(user), user_id))
        kms = client("kms", temp)
        blob = kms.encrypt(KeyId=key["Arn"], Plaintext=b"x")["CiphertextBlob"]
        self.assertEqual(kms.decrypt(CiphertextBlob=blob)["Plaintext"], b"x")
        with self.raises("AccessDeniedException",
                         denied(user_arn(user), "kms:DescribeKey", key["Arn"], "identity")):
            kms.describe_key(KeyId=key["Arn"])
        # Without MFA, IAM refuses such credentials; STS gives them no session of their own.
        with self.raises("InvalidClientTokenId", INVALID_TOKEN, status=403):
            client("iam", temp).list_users()
        with self.raises("AccessDenied", "Cannot call GetSessionToken with session credentials",
                         status=403):
            client("sts", temp).get_session_token()
        # The default is 12 hours; the range is 900 to 129600 seconds.
        default = client("sts", creds).get_session_token()["Credentials"]
        self.assertRecent(default["Expiration"], offset=datetime.timedelta(hours=12))
        with self.raises("ValidationError", "1 validation error detected: Value '600' at "
                         "'durationSeconds' failed to satisfy constraint: Member must have value "
                         "greater than or equal to 900"):
            client("sts", creds, validate=False).get_session_token(DurationSeconds=600)
        # The root's session lasts an hour at most.
        root = self.sts().get_session_token(DurationSeconds=7200)["Credentials"]
        self.assertRecent(root["Expiration"], offset=datetime.timedelta(hours=1))
        root_temp = Creds(root["AccessKeyId"], root["SecretAccessKey"], root["SessionToken"])
        self.assertEqual(client("sts", root_temp).get_caller_identity()["Arn"], ROOT_ARN)
        # Deleting the user ends its sessions.
        iam = self.iam()
        iam.delete_user_policy(UserName=user, PolicyName="p0")
        iam.delete_access_key(UserName=user, AccessKeyId=creds.access_key)
        iam.delete_user(UserName=user)
        with self.raises("InvalidClientTokenId", INVALID_TOKEN):
            client("sts", temp).get_caller_identity()

    def test_assume_role_with_trust_policy_naming_the_user(self):
        user, creds = self.new_user_with_key("assumer")
        role, r = self.new_role("trusting", trust_policy(user_arn(user)))
        sts = client("sts", creds)
        out = sts.assume_role(RoleArn=r["Arn"], RoleSessionName="nightly", DurationSeconds=900)
        self.assertEqual(out["AssumedRoleUser"]["Arn"], session_arn(role, "nightly"))
        self.assertEqual(out["AssumedRoleUser"]["AssumedRoleId"], f"{r['RoleId']}:nightly")
        c = out["Credentials"]
        self.assertRegex(c["AccessKeyId"], r"^ASIA[A-Z0-9]{16}$")
        self.assertTrue(c["SecretAccessKey"])
        self.assertTrue(c["SessionToken"])
        self.assertRecent(c["Expiration"], seconds=60, offset=datetime.timedelta(seconds=900))
        default = sts.assume_role(RoleArn=r["Arn"], RoleSessionName="default-duration")
        self.assertRecent(default["Credentials"]["Expiration"], seconds=60,
                          offset=datetime.timedelta(seconds=3600))
        self.assertNotEqual(default["Credentials"]["AccessKeyId"], c["AccessKeyId"])
        # The path of a role is not in its session ARN.
        prole, pr = self.new_role("pathed", trust_policy(user_arn(user)), path="/service-role/")
        self.assertEqual(pr["Arn"], role_arn(prole, "/service-role/"))
        out = sts.assume_role(RoleArn=pr["Arn"], RoleSessionName="pathed-session")
        self.assertEqual(out["AssumedRoleUser"]["Arn"], session_arn(prole, "pathed-session"))

    def test_assume_role_refused(self):
        user, creds = self.new_user_with_key("not-trusted")
        sts = client("sts", creds)
        # The trust policy names only the account: the user's identity policy must allow too.
        role, r = self.new_role("account-trust", trust_policy(ROOT_ARN))
        prefix = (f"User: {user_arn(user)} is not authorized to perform: sts:AssumeRole on "
                  f"resource: {r['Arn']}")
        # No reason follows, as for a role that does not exist (below): the answer
        # does not tell whether the role exists.
        with self.raises("AccessDenied", regex="^" + re.escape(prefix) + "$", status=403):
            sts.assume_role(RoleArn=r["Arn"], RoleSessionName="s1")
        self.iam().put_user_policy(UserName=user, PolicyName="assume",
                                   PolicyDocument=allow_policy("sts:AssumeRole", r["Arn"]))
        out = sts.assume_role(RoleArn=r["Arn"], RoleSessionName="s1")
        self.assertEqual(out["AssumedRoleUser"]["Arn"], session_arn(role, "s1"))
        # A trust policy for a service only: the identity policy cannot make up for it.
        srole, sr = self.new_role("rds-only", trust_policy(service="rds.amazonaws.com"))
        self.iam().put_user_policy(UserName=user, PolicyName="assume-all",
                                   PolicyDocument=allow_policy("sts:AssumeRole"))
        prefix = (f"User: {user_arn(user)} is not authorized to perform: sts:AssumeRole on "
                  f"resource: {sr['Arn']}")
        with self.raises("AccessDenied", regex="^" + re.escape(prefix) + "$", status=403):
            sts.assume_role(RoleArn=sr["Arn"], RoleSessionName="s1")
        missing = role_arn(name("no-such-role"))
        with self.raises("AccessDenied", regex="^" + re.escape(
                f"User: {user_arn(user)} is not authorized to perform: sts:AssumeRole on "
                f"resource: {missing}") + "$", status=403):
            sts.assume_role(RoleArn=missing, RoleSessionName="s1")

    def test_root_may_not_assume_roles(self):
        role, r = self.new_role("root-target", trust_policy(ROOT_ARN))
        with self.raises("AccessDenied", "Roles may not be assumed by root accounts.", status=403):
            self.sts().assume_role(RoleArn=r["Arn"], RoleSessionName="root-session")

    def test_assume_role_validation(self):
        user, creds = self.new_user_with_key("validator")
        role, r = self.new_role("validated", trust_policy(user_arn(user)))
        loose = client("sts", creds, validate=False)
        with self.raises("ValidationError", status=400):
            loose.assume_role(RoleArn=r["Arn"], RoleSessionName="a")
        with self.raises("ValidationError", status=400):
            loose.assume_role(RoleArn=r["Arn"], RoleSessionName="has space")
        with self.raises("ValidationError", status=400):
            loose.assume_role(RoleArn=r["Arn"], RoleSessionName="ok", DurationSeconds=899)
        with self.raises("ValidationError", "The requested DurationSeconds exceeds the "
                                            "MaxSessionDuration set for this role.", status=400):
            loose.assume_role(RoleArn=r["Arn"], RoleSessionName="ok", DurationSeconds=7200)
        # The request's constraints come first, before the caller and any policy: a
        # caller allowed nothing, and the root, hear of a malformed request.
        stranger, stranger_creds = self.new_user_with_key("stranger")
        with self.raises("ValidationError",
                         "1 validation error detected: Value 'short' at 'roleArn' failed to "
                         "satisfy constraint: Member must have length greater than or equal to 20",
                         status=400):
            client("sts", stranger_creds, validate=False).assume_role(
                RoleArn="short", RoleSessionName="ok")
        with self.raises("ValidationError", status=400):
            client("sts", ROOT, validate=False).assume_role(RoleArn=r["Arn"],
                                                            RoleSessionName="has space")
        # IAM likewise: the caller allowed nothing hears of the malformed member.
        stranger_iam = client("iam", stranger_creds, validate=False)
        with self.raises("ValidationError",
                         "1 validation error detected: Value 'bad name!' at 'userName' failed to "
                         "satisfy constraint: Member must satisfy regular expression pattern: "
                         "[\\w+=,.@-]+", status=400):
            stranger_iam.create_user(UserName="bad name!")
        with self.raises("ValidationError", status=400):
            stranger_iam.list_users(PathPrefix="nope")
        with self.raises("AccessDenied", status=403):
            stranger_iam.list_users(PathPrefix="/ok/")
        # A missing required member is reported with the others, in one answer.
        with self.raises("ValidationError",
                         "2 validation errors detected: Value null at 'assumeRolePolicyDocument' "
                         "failed to satisfy constraint: Member must not be null; Value 'bad name!' "
                         "at 'roleName' failed to satisfy constraint: Member must satisfy regular "
                         "expression pattern: [\\w+=,.@-]+", status=400):
            stranger_iam.create_role(RoleName="bad name!")
        with self.raises("ValidationError",
                         "2 validation errors detected: Value null at 'roleArn' failed to satisfy "
                         "constraint: Member must not be null; Value 'x' at 'roleSessionName' "
                         "failed to satisfy constraint: Member must have length greater than or "
                         "equal to 2", status=400):
            client("sts", stranger_creds, validate=False).assume_role(RoleSessionName="x")


# ---------------------------------------------------------------------------------------
# Authentication.

class Authentication(CofferTest):
    @classmethod
    def setUpClass(cls):
        cls.user, cls.user_creds = cls.new_user_with_key("auth")
        cls.role, cls.r = cls.new_role("auth-role", trust_policy(user_arn(cls.user)))
        cls.session = cls.assume(cls.user_creds, cls.role, "auth-session", duration=900)

    def test_wrong_secret(self):
        wrong = Creds(ROOT.access_key, "x" * 40)
        with self.raises("InvalidSignatureException", BAD_SIGNATURE, status=400):
            client("kms", wrong).list_keys()
        with self.raises("SignatureDoesNotMatch", BAD_SIGNATURE, status=403):
            client("sts", wrong).get_caller_identity()
        with self.raises("SignatureDoesNotMatch", BAD_SIGNATURE, status=403):
            client("iam", wrong).list_users()
        wrong_session = self.session._replace(secret_key="y" * 40)
        with self.raises("InvalidSignatureException", BAD_SIGNATURE):
            client("kms", wrong_session).list_keys()

    def test_unknown_access_key(self):
        unknown = Creds("AKIA" + secrets.token_hex(8).upper(), "x" * 40)
        with self.raises("UnrecognizedClientException", INVALID_TOKEN, status=400):
            client("kms", unknown).list_keys()
        with self.raises("InvalidClientTokenId", INVALID_TOKEN, status=403):
            client("sts", unknown).get_caller_identity()
        with self.raises("InvalidClientTokenId", INVALID_TOKEN, status=403):
            client("iam", unknown).list_users()

    def test_session_token_forged_missing_or_misplaced(self):
        token = self.session.token
        forged_tokens = [token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"),
                         "forged-" + secrets.token_hex(16)]
        for forged in forged_tokens:
            creds = self.session._replace(token=forged)
            with self.raises("UnrecognizedClientException", INVALID_TOKEN, status=400):
                client("kms", creds).list_keys()
            with self.raises("InvalidClientTokenId", INVALID_TOKEN, status=403):
                client("sts", creds).get_caller_identity()
        # A temporary key without its token, and a long-term key with a token.
        with self.raises("UnrecognizedClientException", INVALID_TOKEN):
            client("kms", self.session._replace(token=None)).list_keys()
        with self.raises("InvalidClientTokenId", INVALID_TOKEN, status=403):
            client("sts", self.user_creds._replace(token=token)).get_caller_identity()
        # Another session's token with this session's key.
        other = self.assume(self.user_creds, self.role, "auth-other", duration=900)
        with self.raises("UnrecognizedClientException", INVALID_TOKEN):
            client("kms", self.session._replace(token=other.token)).list_keys()
        # The genuine session still works.
        self.assertEqual(client("sts", self.session).get_caller_identity()["Arn"],
                         session_arn(self.role, "auth-session"))

    def test_token_sent_but_not_signed(self):
        """X-Amz-Security-Token must be among the signed headers."""
        def add_token_after_signing(headers):
            headers["X-Amz-Security-Token"] = self.session.token

        creds = self.session._replace(token=None)
        status, _, body = kms_raw("ListKeys", {}, creds=creds,
                                  mutate_headers=add_token_after_signing)
        self.assertEqual(status, 400, body)
        self.assertIn(error_type(body),
                      ("UnrecognizedClientException", "InvalidSignatureException",
                       "IncompleteSignatureException"), body)

    def check_skew(self, service, call, code, skew_minutes, window, status):
        for delta, word in ((-(skew_minutes), "expired"), (skew_minutes, "not yet current")):
            signed_at = now() + datetime.timedelta(minutes=delta)
            with signing_time(signed_at):
                with self.raises(code, status=status) as e:
                    call()
            x = amz_date(signed_at)
            if delta < 0:
                pattern = (rf"^Signature expired: {x} is now earlier than (\d{{8}}T\d{{6}}Z) "
                           rf"\((\d{{8}}T\d{{6}}Z) - {window} min\.\)$")
            else:
                pattern = (rf"^Signature not yet current: {x} is still later than "
                           rf"(\d{{8}}T\d{{6}}Z) \((\d{{8}}T\d{{6}}Z) \+ {window} min\.\)$")
            m = re.match(pattern, e.message)
            self.assertIsNotNone(m, f"{service} {word}: {e.message!r}")
            bound, server_now = parse_amz_date(m.group(1)), parse_amz_date(m.group(2))
            sign = -1 if delta < 0 else 1
            self.assertEqual(bound, server_now + sign * datetime.timedelta(minutes=window))
            self.assertRecent(server_now, seconds=30)

    def test_clock_skew_json(self):
        kms = self.kms()
        self.check_skew("kms", kms.list_keys, "InvalidSignatureException", 6, 5, 400)
        # Within the window: accepted.
        with signing_time(now() - datetime.timedelta(minutes=4)):
            kms.list_keys(Limit=1)
        with signing_time(now() + datetime.timedelta(minutes=4)):
            kms.list_keys(Limit=1)

    def test_clock_skew_query(self):
        sts, iam = self.sts(), self.iam()
        self.check_skew("sts", sts.get_caller_identity, "SignatureDoesNotMatch", 16, 15, 403)
        self.check_skew("iam", iam.list_users, "SignatureDoesNotMatch", 16, 15, 403)
        # Query services allow 15 minutes: 10 minutes off is accepted there, not by KMS.
        with signing_time(now() - datetime.timedelta(minutes=10)):
            self.assertEqual(sts.get_caller_identity()["Arn"], ROOT_ARN)
            with self.raises("InvalidSignatureException", regex=r"^Signature expired: "):
                self.kms().list_keys()

    def test_unsigned_and_malformed(self):
        with self.raises("MissingAuthenticationTokenException", "Missing Authentication Token"):
            unsigned_client("kms").list_keys()
        with self.raises("MissingAuthenticationToken", "Missing Authentication Token"):
            unsigned_client("sts").get_caller_identity()

        def drop_credential(headers):
            auth = headers["Authorization"]
            headers["Authorization"] = re.sub(r"Credential=[^,]*, ?", "", auth)

        status, _, body = kms_raw("ListKeys", {}, mutate_headers=drop_credential)
        self.assertEqual(status, 400)
        self.assertEqual(error_type(body), "IncompleteSignatureException")
        self.assertIn("Authorization header requires 'Credential' parameter.",
                      body.get("message", ""))
        status, _, xml = query_raw("sts", {"Action": "GetCallerIdentity", "Version": "2011-06-15"},
                                   mutate_headers=drop_credential)
        self.assertEqual(status, 400, xml)
        self.assertIn("<Code>IncompleteSignature</Code>", xml)

    def test_tampered_body(self):
        """The signature covers the body: a changed body is refused."""
        body = json.dumps({"Limit": 1})
        request = AWSRequest(method="POST", url=ENDPOINT + "/", data=body.encode(), headers={
            "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService.ListKeys"})
        SigV4Auth(Credentials(ROOT.access_key, ROOT.secret_key), "kms", REGION).add_auth(request)
        headers = dict(request.prepare().headers.items())
        url = urllib.parse.urlsplit(ENDPOINT)
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        try:
            conn.request("POST", "/", body=json.dumps({"Limit": 2}).encode(), headers=headers)
            response = conn.getresponse()
            data = json.loads(response.read())
        finally:
            conn.close()
        self.assertEqual(response.status, 400)
        self.assertEqual(error_type(data), "InvalidSignatureException")
        self.assertEqual(data.get("message"), BAD_SIGNATURE)

    def test_scope_for_another_region_or_service(self):
        other_region = boto_session().client("kms", endpoint_url=ENDPOINT, region_name="eu-west-1",
                                    aws_access_key_id=ROOT.access_key,
                                    aws_secret_access_key=ROOT.secret_key,
                                    config=Config(retries={"max_attempts": 0}))
        with self.raises("InvalidSignatureException", regex=r"region"):
            other_region.list_keys()
        status, _, body = raw_request("iam", json.dumps({}), {
            "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService.ListKeys"})
        self.assertEqual(status, 400)
        self.assertEqual(error_type(json.loads(body)),
                         "InvalidSignatureException")


# ---------------------------------------------------------------------------------------
# Policy enforcement: the seed's story and AWS's evaluation rules.

class SeedKeyStory(CofferTest):
    """shared/seed: a key with alias, description, tags, administrators and users, reviewed,
    disabled, scheduled for deletion (7 days), cancelled; then the backup role that is not a
    key user is refused with its assumed-role ARN, and succeeds once added to the key policy."""

    @classmethod
    def setUpClass(cls):
        cls.operator, cls.operator_creds = cls.new_user_with_key("operator")
        trust = trust_policy(user_arn(cls.operator))
        cls.admin_role, _ = cls.new_role("KMSAdminRole", trust)
        cls.user_role, _ = cls.new_role("ExampleRole", trust)
        cls.backup_role, _ = cls.new_role("rdstestrole", trust)
        cls.admin = cls.assume(cls.operator_creds, cls.admin_role, "admin")
        cls.app = cls.assume(cls.operator_creds, cls.user_role, "app")
        cls.backup = cls.assume(cls.operator_creds, cls.backup_role, "RDS-SqlServerBackupRestore")

    def create_seed_key(self, allow_admin_delete=True):
        kms = self.kms()
        policy = console_key_policy([role_arn(self.admin_role)], [role_arn(self.user_role)],
                                    allow_admin_delete)
        md = kms.create_key(Description="Key for SQL Server backup encryption",
                            Policy=json.dumps(policy),
                            Tags=[{"TagKey": "Purpose", "TagValue": "RDSBackup"}])["KeyMetadata"]
        alias = f"alias/{name('rds-backup')}-{secrets.token_hex(2)}"
        kms.create_alias(AliasName=alias, TargetKeyId=md["KeyId"])
        return md, alias, policy

    def test_the_whole_key_story(self):
        kms = self.kms()
        md, alias, policy = self.create_seed_key()
        arn = md["Arn"]
        # Review: alias, description, tags, the policy the wizard built.
        got = kms.describe_key(KeyId=alias)["KeyMetadata"]
        self.assertEqual((got["Arn"], got["Description"], got["KeyState"]),
                         (arn, "Key for SQL Server backup encryption", "Enabled"))
        self.assertEqual(kms.list_resource_tags(KeyId=arn)["Tags"],
                         [{"TagKey": "Purpose", "TagValue": "RDSBackup"}])
        self.assertEqual(json.loads(kms.get_key_policy(KeyId=arn, PolicyName="default")["Policy"]),
                         policy)
        self.assertIn(alias, [a["AliasName"] for a in kms.list_aliases(KeyId=md["KeyId"])
                              ["Aliases"]])
        # Disable; schedule deletion (7 days); it is pending deletion; cancel.
        kms.disable_key(KeyId=arn)
        self.assertEqual(kms.describe_key(KeyId=alias)["KeyMetadata"]["KeyState"], "Disabled")
        out = kms.schedule_key_deletion(KeyId=arn, PendingWindowInDays=7)
        self.assertRecent(out["DeletionDate"], offset=datetime.timedelta(days=7))
        got = kms.describe_key(KeyId=alias)["KeyMetadata"]
        self.assertEqual(got["KeyState"], "PendingDeletion")
        self.assertEqual(got["DeletionDate"], out["DeletionDate"])
        kms.cancel_key_deletion(KeyId=arn)
        self.assertEqual(kms.describe_key(KeyId=alias)["KeyMetadata"]["KeyState"], "Disabled")
        kms.enable_key(KeyId=arn)
        self.assertEqual(kms.describe_key(KeyId=alias)["KeyMetadata"]["KeyState"], "Enabled")

    def test_backup_role_denied_then_allowed(self):
        kms = self.kms()
        md, alias, policy = self.create_seed_key()
        arn = md["Arn"]
        backup_kms = client("kms", self.backup)
        who = session_arn(self.backup_role, "RDS-SqlServerBackupRestore")
        with self.raises("AccessDeniedException",
                         denied(who, "kms:DescribeKey", arn, "identity"), status=400):
            backup_kms.describe_key(KeyId=arn)
        with self.raises("AccessDeniedException",
                         denied(who, "kms:GenerateDataKey", arn, "identity"), status=400):
            backup_kms.generate_data_key(KeyId=arn, KeySpec="AES_256")
        # By alias too: the refusal names the key ARN.
        with self.raises("AccessDeniedException",
                         denied(who, "kms:GenerateDataKey", arn, "identity")):
            backup_kms.generate_data_key(KeyId=alias, KeySpec="AES_256")
        # Add the role to the key users (console: Key users → Add), as PutKeyPolicy.
        for st in policy["Statement"]:
            if st["Sid"] in ("Allow use of the key", "Allow attachment of persistent resources"):
                st["Principal"]["AWS"].append(role_arn(self.backup_role))
        kms.put_key_policy(KeyId=arn, PolicyName="default", Policy=json.dumps(policy))
        # The same session (the role ARN covers every session of the role) now succeeds.
        self.assertEqual(backup_kms.describe_key(KeyId=arn)["KeyMetadata"]["Arn"], arn)
        out = backup_kms.generate_data_key(KeyId=arn, KeySpec="AES_256",
                                           EncryptionContext={"db": "customers"})
        self.assertEqual(out["KeyId"], arn)
        back = backup_kms.decrypt(CiphertextBlob=out["CiphertextBlob"],
                                  EncryptionContext={"db": "customers"})
        self.assertEqual(back["Plaintext"], out["Plaintext"])
        # Key users use the key; they do not administer it.
        with self.raises("AccessDeniedException",
                         denied(who, "kms:DisableKey", arn, "identity")):
            backup_kms.disable_key(KeyId=arn)
        with self.raises("AccessDeniedException",
                         denied(who, "kms:PutKeyPolicy", arn, "identity")):
            backup_kms.put_key_policy(KeyId=arn, PolicyName="default", Policy=json.dumps(policy))

    def test_administrators_and_users(self):
        md, alias, _ = self.create_seed_key()
        arn = md["Arn"]
        admin_kms, app_kms = client("kms", self.admin), client("kms", self.app)
        admin = session_arn(self.admin_role, "admin")
        app = session_arn(self.user_role, "app")
        # The key user encrypts and decrypts, and cannot administer.
        blob = app_kms.encrypt(KeyId=arn, Plaintext=b"card")["CiphertextBlob"]
        self.assertEqual(app_kms.decrypt(CiphertextBlob=blob)["Plaintext"], b"card")
        with self.raises("AccessDeniedException", denied(app, "kms:DisableKey", arn, "identity")):
            app_kms.disable_key(KeyId=arn)
        with self.raises("AccessDeniedException",
                         denied(app, "kms:ScheduleKeyDeletion", arn, "identity")):
            app_kms.schedule_key_deletion(KeyId=arn, PendingWindowInDays=7)
        # The administrator administers, and cannot use the key.
        with self.raises("AccessDeniedException", denied(admin, "kms:Encrypt", arn, "identity")):
            admin_kms.encrypt(KeyId=arn, Plaintext=b"card")
        with self.raises("AccessDeniedException", denied(admin, "kms:Decrypt", arn, "identity")):
            admin_kms.decrypt(CiphertextBlob=blob)
        admin_kms.tag_resource(KeyId=arn, Tags=[{"TagKey": "by", "TagValue": "admin"}])
        admin_kms.update_key_description(KeyId=arn, Description="by admin")
        self.assertEqual(admin_kms.describe_key(KeyId=arn)["KeyMetadata"]["Description"],
                         "by admin")
        admin_kms.disable_key(KeyId=arn)
        with self.raises("DisabledException", f"{arn} is disabled."):
            app_kms.encrypt(KeyId=arn, Plaintext=b"card")
        admin_kms.schedule_key_deletion(KeyId=arn, PendingWindowInDays=7)
        admin_kms.cancel_key_deletion(KeyId=arn)
        admin_kms.enable_key(KeyId=arn)
        app_kms.encrypt(KeyId=arn, Plaintext=b"card")

    def test_administrators_without_deletion(self):
        md, _, _ = self.create_seed_key(allow_admin_delete=False)
        arn = md["Arn"]
        admin_kms = client("kms", self.admin)
        admin = session_arn(self.admin_role, "admin")
        admin_kms.disable_key(KeyId=arn)
        with self.raises("AccessDeniedException",
                         denied(admin, "kms:ScheduleKeyDeletion", arn, "identity")):
            admin_kms.schedule_key_deletion(KeyId=arn, PendingWindowInDays=7)
        self.kms().schedule_key_deletion(KeyId=arn, PendingWindowInDays=7)
        with self.raises("AccessDeniedException",
                         denied(admin, "kms:CancelKeyDeletion", arn, "identity")):
            admin_kms.cancel_key_deletion(KeyId=arn)


class PolicyEvaluation(CofferTest):
    def test_user_without_identity_policy_and_root_only_key_policy(self):
        md = self.new_key()  # the default key policy names only the account root
        user, creds = self.new_user_with_key("plain")
        kms = client("kms", creds)
        who = user_arn(user)
        with self.raises("AccessDeniedException",
                         denied(who, "kms:Encrypt", md["Arn"], "identity"), status=400):
            kms.encrypt(KeyId=md["KeyId"], Plaintext=b"x")
        with self.raises("AccessDeniedException",
                         denied(who, "kms:DescribeKey", md["Arn"], "identity")):
            kms.describe_key(KeyId=md["KeyId"])
        with self.raises("AccessDeniedException",
                         regex="^" + re.escape(f"User: {who} is not authorized to perform: "
                                               "kms:ListKeys on resource: ")):
            kms.list_keys()
        # An identity policy on another key does not help; one on this key does.
        other = self.new_key()
        self.iam().put_user_policy(UserName=user, PolicyName="other",
                                   PolicyDocument=allow_policy("kms:Encrypt", other["Arn"]))
        with self.raises("AccessDeniedException",
                         denied(who, "kms:Encrypt", md["Arn"], "identity")):
            kms.encrypt(KeyId=md["KeyId"], Plaintext=b"x")
        kms.encrypt(KeyId=other["KeyId"], Plaintext=b"x")
        self.iam().put_user_policy(UserName=user, PolicyName="this",
                                   PolicyDocument=allow_policy(["kms:Encrypt", "kms:Decrypt"],
                                                               md["Arn"]))
        blob = kms.encrypt(KeyId=md["KeyId"], Plaintext=b"x")["CiphertextBlob"]
        self.assertEqual(kms.decrypt(CiphertextBlob=blob)["Plaintext"], b"x")
        # Decrypt is authorized against the key in the ciphertext.
        blob_other = self.kms().encrypt(KeyId=self.new_key()["KeyId"], Plaintext=b"y")
        with self.raises("AccessDeniedException",
                         denied(who, "kms:Decrypt", blob_other["KeyId"], "identity")):
            kms.decrypt(CiphertextBlob=blob_other["CiphertextBlob"])
        # Removing the policy takes effect.
        self.iam().delete_user_policy(UserName=user, PolicyName="this")
        with self.raises("AccessDeniedException",
                         denied(who, "kms:Encrypt", md["Arn"], "identity")):
            kms.encrypt(KeyId=md["KeyId"], Plaintext=b"x")

    def test_key_policy_not_naming_the_account(self):
        user, creds = self.new_user_with_key("everything", [allow_policy("kms:*")])
        someone = role_arn(self.new_role("someone-else", trust_policy(ROOT_ARN))[0])
        policy = json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": someone}, "Action": "kms:*",
             "Resource": "*"}]})
        md = self.new_key(Policy=policy, BypassPolicyLockoutSafetyCheck=True)
        with self.raises("AccessDeniedException",
                         denied(user_arn(user), "kms:Encrypt", md["Arn"], "resource")):
            client("kms", creds).encrypt(KeyId=md["KeyId"], Plaintext=b"x")
        # Naming the user directly in the key policy is enough, without the account.
        named = json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": user_arn(user)}, "Action": "kms:*",
             "Resource": "*"}]})
        user_kms = client("kms", creds)
        # The user has kms:* in its identity policy, but the key policy does not name it yet.
        with self.raises("AccessDeniedException",
                         denied(user_arn(user), "kms:PutKeyPolicy", md["Arn"], "resource")):
            user_kms.put_key_policy(KeyId=md["KeyId"], PolicyName="default", Policy=named)
        md2 = user_kms.create_key(Policy=named)["KeyMetadata"]
        user_kms.encrypt(KeyId=md2["KeyId"], Plaintext=b"x")
        with self.raises("AccessDeniedException",
                         denied(ROOT_ARN, "kms:Encrypt", md2["Arn"], "resource")):
            self.kms().encrypt(KeyId=md2["KeyId"], Plaintext=b"x")

    def test_explicit_deny_in_identity_policy_wins(self):
        user, creds = self.new_user_with_key("denied")
        md = self.new_key(Policy=json.dumps({"Version": "2012-10-17", "Statement": [
            default_key_policy()["Statement"][0],
            {"Sid": "user", "Effect": "Allow", "Principal": {"AWS": user_arn(user)},
             "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*"}]}))
        kms = client("kms", creds)
        blob = kms.encrypt(KeyId=md["KeyId"], Plaintext=b"x")["CiphertextBlob"]
        kms.decrypt(CiphertextBlob=blob)
        self.iam().put_user_policy(UserName=user, PolicyName="no-decrypt",
                                   PolicyDocument=allow_policy("kms:Decrypt", "*", effect="Deny"))
        with self.raises("AccessDeniedException",
                         denied(user_arn(user), "kms:Decrypt", md["Arn"], "deny-identity")):
            kms.decrypt(CiphertextBlob=blob)
        kms.encrypt(KeyId=md["KeyId"], Plaintext=b"still allowed")

    def test_explicit_deny_in_identity_policy_of_a_role(self):
        operator, operator_creds = self.new_user_with_key("deny-operator")
        role, _ = self.new_role("deny-role", trust_policy(user_arn(operator)),
                                policies=[allow_policy("kms:*"),
                                          allow_policy("kms:GenerateDataKey*", effect="Deny")])
        md = self.new_key()
        session = self.assume(operator_creds, role, "deny-session")
        kms = client("kms", session)
        kms.encrypt(KeyId=md["KeyId"], Plaintext=b"x")
        with self.raises("AccessDeniedException",
                         denied(session_arn(role, "deny-session"), "kms:GenerateDataKey",
                                md["Arn"], "deny-identity")):
            kms.generate_data_key(KeyId=md["KeyId"], KeySpec="AES_256")

    def test_explicit_deny_in_key_policy(self):
        user, creds = self.new_user_with_key("key-denied", [allow_policy("kms:*")])
        md = self.new_key(Policy=json.dumps({"Version": "2012-10-17", "Statement": [
            default_key_policy()["Statement"][0],
            {"Sid": "no", "Effect": "Deny", "Principal": {"AWS": user_arn(user)},
             "Action": "kms:Encrypt", "Resource": "*"}]}))
        kms = client("kms", creds)
        with self.raises("AccessDeniedException",
                         denied(user_arn(user), "kms:Encrypt", md["Arn"], "deny-resource")):
            kms.encrypt(KeyId=md["KeyId"], Plaintext=b"x")
        kms.generate_data_key(KeyId=md["KeyId"], KeySpec="AES_256")

    def test_encryption_context_condition(self):
        user, creds = self.new_user_with_key("ctx")
        md = self.new_key(Policy=json.dumps({"Version": "2012-10-17", "Statement": [
            default_key_policy()["Statement"][0],
            {"Sid": "ctx", "Effect": "Allow", "Principal": {"AWS": user_arn(user)},
             "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*",
             "Condition": {"StringEquals": {"kms:EncryptionContext:Department": "Finance"}}}]}))
        kms = client("kms", creds)
        blob = kms.encrypt(KeyId=md["KeyId"], Plaintext=b"x",
                           EncryptionContext={"Department": "Finance"})["CiphertextBlob"]
        self.assertEqual(kms.decrypt(CiphertextBlob=blob, EncryptionContext={
            "Department": "Finance"})["Plaintext"], b"x")
        with self.raises("AccessDeniedException",
                         denied(user_arn(user), "kms:Encrypt", md["Arn"], "identity")):
            kms.encrypt(KeyId=md["KeyId"], Plaintext=b"x", EncryptionContext={"Department": "HR"})
        with self.raises("AccessDeniedException",
                         denied(user_arn(user), "kms:Encrypt", md["Arn"], "identity")):
            kms.encrypt(KeyId=md["KeyId"], Plaintext=b"x")

    def test_tags_and_the_condition_keys_aws_sets(self):
        # Tagged users and roles (boto3's tag_user, list_role_tags, Tags at creation) and
        # conditions on the principal's tags, the key's tags and aliases, and the region.
        user, creds = self.new_user_with_key("tagged")
        iam = self.iam()
        iam.tag_user(UserName=user, Tags=[{"Key": "Team", "Value": "db"}])
        self.assertEqual(iam.list_user_tags(UserName=user)["Tags"], [{"Key": "Team", "Value": "db"}])
        self.assertEqual(iam.get_user(UserName=user)["User"]["Tags"], [{"Key": "Team", "Value": "db"}])
        with self.raises("InvalidInput", "Duplicate tag keys found. Please note that Tag keys are case insensitive."):
            iam.tag_user(UserName=user, Tags=[{"Key": "a", "Value": "1"}, {"Key": "A", "Value": "2"}])
        md = self.new_key(Tags=[{"TagKey": "Project", "TagValue": "orders"}])
        alias = "alias/" + name("tagged")
        self.kms().create_alias(AliasName=alias, TargetKeyId=md["KeyId"])
        iam.put_user_policy(UserName=user, PolicyName="abac", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "kms:Encrypt", "Resource": "*", "Condition": {
                    "StringEquals": {"aws:PrincipalTag/Team": "db", "aws:ResourceTag/Project": "orders",
                                     "aws:RequestedRegion": REGION, "kms:KeySpec": "SYMMETRIC_DEFAULT"},
                    "ForAnyValue:StringEquals": {"kms:ResourceAliases": alias}}},
                {"Effect": "Deny", "Action": "*", "Resource": "*",
                 "Condition": {"StringNotEquals": {"aws:RequestedRegion": REGION}}}]}))
        kms = client("kms", creds)
        kms.encrypt(KeyId=md["KeyId"], Plaintext=b"x")
        iam.untag_user(UserName=user, TagKeys=["team"])
        with self.raises("AccessDeniedException",
                         denied(user_arn(user), "kms:Encrypt", md["Arn"], "identity")):
            kms.encrypt(KeyId=md["KeyId"], Plaintext=b"x")
        # A session's principal tags are its role's.
        role, _ = self.new_role("tagged", json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": user_arn(user)}, "Action": "sts:AssumeRole"}]}),
            policies=[json.dumps({"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Action": "kms:Encrypt", "Resource": "*",
                "Condition": {"StringEquals": {"aws:PrincipalTag/Level": "2"}}}]})])
        iam.tag_role(RoleName=role, Tags=[{"Key": "Level", "Value": "2"}])
        self.assertEqual(iam.list_role_tags(RoleName=role)["Tags"], [{"Key": "Level", "Value": "2"}])
        iam.put_user_policy(UserName=user, PolicyName="assume", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                   "Resource": role_arn(role)}]}))
        session = client("kms", self.assume(creds, role, "abac"))
        session.encrypt(KeyId=md["KeyId"], Plaintext=b"x")
        iam.untag_role(RoleName=role, TagKeys=["Level"])
        with self.raises("AccessDeniedException", regex=f"assumed-role/{role}/abac is not authorized "
                         "to perform: kms:Encrypt on resource: .* because no identity-based policy"):
            session.encrypt(KeyId=md["KeyId"], Plaintext=b"x")

    def test_actions_of_reencrypt_and_data_keys(self):
        """ReEncrypt needs kms:ReEncryptFrom on the source and kms:ReEncryptTo on the
        destination; GenerateDataKeyWithoutPlaintext is its own action."""
        a, b = self.new_key(), self.new_key()
        user, creds = self.new_user_with_key("reencrypt", [
            allow_policy(["kms:Encrypt", "kms:ReEncryptFrom", "kms:GenerateDataKey"], a["Arn"])])
        kms = client("kms", creds)
        who = user_arn(user)
        blob = kms.encrypt(KeyId=a["KeyId"], Plaintext=b"x")["CiphertextBlob"]
        with self.raises("AccessDeniedException",
                         denied(who, "kms:ReEncryptTo", b["Arn"], "identity")):
            kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=b["KeyId"])
        self.iam().put_user_policy(UserName=user, PolicyName="to-b",
                                   PolicyDocument=allow_policy("kms:ReEncryptTo", b["Arn"]))
        kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=b["KeyId"])
        kms.generate_data_key(KeyId=a["KeyId"], KeySpec="AES_256")
        with self.raises("AccessDeniedException",
                         denied(who, "kms:GenerateDataKeyWithoutPlaintext", a["Arn"],
                                "identity")):
            kms.generate_data_key_without_plaintext(KeyId=a["KeyId"], KeySpec="AES_256")

    def test_any_principal_with_conditions(self):
        """Principal "*" narrowed by kms:CallerAccount, and by aws:PrincipalArn (for a session,
        the role's ARN)."""
        operator, operator_creds = self.new_user_with_key("star-operator")
        role, _ = self.new_role("rds-backup-star", trust_policy(user_arn(operator)))
        other_role, _ = self.new_role("other-star", trust_policy(user_arn(operator)))
        md = self.new_key(Policy=json.dumps({"Version": "2012-10-17", "Statement": [
            default_key_policy()["Statement"][0],
            {"Sid": "account", "Effect": "Allow", "Principal": {"AWS": "*"},
             "Action": "kms:DescribeKey", "Resource": "*",
             "Condition": {"StringEquals": {"kms:CallerAccount": ACCOUNT}}},
            {"Sid": "backup roles", "Effect": "Allow", "Principal": {"AWS": "*"},
             "Action": "kms:GenerateDataKey", "Resource": "*",
             "Condition": {"ArnLike": {"aws:PrincipalArn":
                                       f"arn:aws:iam::{ACCOUNT}:role/rds-backup-*"}}}]}))
        client("kms", operator_creds).describe_key(KeyId=md["KeyId"])
        session = self.assume(operator_creds, role, "star")
        client("kms", session).generate_data_key(KeyId=md["KeyId"], KeySpec="AES_256")
        other = self.assume(operator_creds, other_role, "star")
        with self.raises("AccessDeniedException",
                         denied(session_arn(other_role, "star"), "kms:GenerateDataKey",
                                md["Arn"], "identity")):
            client("kms", other).generate_data_key(KeyId=md["KeyId"], KeySpec="AES_256")

    def test_iam_and_sts_need_identity_policies(self):
        user, creds = self.new_user_with_key("no-iam")
        who = user_arn(user)
        iam = client("iam", creds)
        with self.raises("AccessDenied", regex="^" + re.escape(
                f"User: {who} is not authorized to perform: iam:ListUsers on resource: "),
                status=403):
            iam.list_users()
        with self.raises("AccessDenied", regex="^" + re.escape(
                f"User: {who} is not authorized to perform: iam:CreateUser on resource: "),
                status=403):
            iam.create_user(UserName=name("made-by-user"))
        # GetCallerIdentity needs no permission.
        self.assertEqual(client("sts", creds).get_caller_identity()["Arn"], who)
        self.iam().put_user_policy(UserName=user, PolicyName="read",
                                   PolicyDocument=allow_policy(["iam:ListUsers", "iam:GetUser"]))
        iam.list_users()
        iam.get_user(UserName=user)
        with self.raises("AccessDenied", status=403):
            iam.create_user(UserName=name("made-by-user"))
        # A role session is refused IAM too, naming its assumed-role ARN.
        role, _ = self.new_role("no-iam-role", trust_policy(who))
        session = self.assume(creds, role, "s1")
        with self.raises("AccessDenied", regex="^" + re.escape(
                f"User: {session_arn(role, 's1')} is not authorized to perform: iam:ListUsers"),
                status=403):
            client("iam", session).list_users()

    def test_policy_variables(self):
        """${aws:username} names the caller's own user in a resource, and a Deny whose
        condition holds a variable applies."""
        own_keys = json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["iam:ListAccessKeys", "iam:CreateAccessKey"],
             "Resource": f"arn:aws:iam::{ACCOUNT}:user/${{aws:username}}"},
            {"Effect": "Allow", "Action": "kms:*", "Resource": "*"},
            {"Effect": "Deny", "Action": "kms:Encrypt", "Resource": "*", "Condition": {
                "StringEquals": {"kms:EncryptionContext:owner": "${aws:username}"}}}]})
        user, creds = self.new_user_with_key("vars", policies=[own_keys])
        other, _ = self.new_user_with_key("vars-other")
        iam = client("iam", creds)
        self.assertEqual(len(iam.list_access_keys(UserName=user)["AccessKeyMetadata"]), 1)
        with self.raises("AccessDenied", status=403):
            iam.list_access_keys(UserName=other)
        md = self.new_key()
        kms = client("kms", creds)
        kms.encrypt(KeyId=md["KeyId"], Plaintext=b"x", EncryptionContext={"owner": other})
        with self.raises("AccessDeniedException",
                         f"User: {user_arn(user)} is not authorized to perform: kms:Encrypt on "
                         f"resource: {md['Arn']} with an explicit deny in an identity-based "
                         "policy"):
            kms.encrypt(KeyId=md["KeyId"], Plaintext=b"x", EncryptionContext={"owner": user})

    def test_a_user_created_again_is_not_the_one_a_policy_names(self):
        """IAM binds a policy's principals when it is saved: after the user is deleted and
        created again under the same name, the key policy and the trust policy naming it
        no longer apply to it, until they are saved again."""
        user, creds = self.new_user_with_key("again")
        policy = json.dumps(console_key_policy([], [user_arn(user)]))
        arn = self.kms().create_key(Policy=policy)["KeyMetadata"]["Arn"]
        role, _ = self.new_role("again-role", trust_policy(user_arn(user)))
        client("kms", creds).encrypt(KeyId=arn, Plaintext=b"x")
        self.assume(creds, role, "before")
        iam = self.iam()
        iam.delete_access_key(UserName=user, AccessKeyId=creds.access_key)
        iam.delete_user(UserName=user)
        iam.create_user(UserName=user)
        key = iam.create_access_key(UserName=user)["AccessKey"]
        again = Creds(key["AccessKeyId"], key["SecretAccessKey"])
        with self.raises("AccessDeniedException",
                         denied(user_arn(user), "kms:Encrypt", arn, "identity")):
            client("kms", again).encrypt(KeyId=arn, Plaintext=b"x")
        with self.raises("AccessDenied", status=403):
            self.assume(again, role, "after")
        self.kms().put_key_policy(KeyId=arn, PolicyName="default", Policy=policy)
        iam.update_assume_role_policy(RoleName=role, PolicyDocument=trust_policy(user_arn(user)))
        client("kms", again).encrypt(KeyId=arn, Plaintext=b"x")
        self.assume(again, role, "saved-again")

    def test_trust_policy_refuses_not_principal(self):
        """NotPrincipal would let every principal it does not name assume the role."""
        doc = json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "NotPrincipal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"}]})
        with self.raises("MalformedPolicyDocument", regex="NotPrincipal"):
            self.iam().create_role(RoleName=name("not-principal"), AssumeRolePolicyDocument=doc)


# ---------------------------------------------------------------------------------------
# Expired session token: needs the server's clock to move (a second server under libfaketime).

CLOCK_ENDPOINT = os.environ.get("COFFER_CLOCK_ENDPOINT", "")
CLOCK_FILE = os.environ.get("COFFER_CLOCK_FILE", "")
CLOCK_ROOT_CREDENTIALS = os.environ.get("COFFER_CLOCK_ROOT_CREDENTIALS", "")


@unittest.skipUnless(CLOCK_ENDPOINT and CLOCK_FILE and CLOCK_ROOT_CREDENTIALS,
                     "no server under libfaketime (COFFER_CLOCK_ENDPOINT/COFFER_CLOCK_FILE "
                     "unset; run.sh sets them when Debian's libfaketime is installed)")
class ExpiredSessionToken(CofferTest):
    def set_offset(self, seconds):
        # Atomically: libfaketime re-reads the file on every clock call.
        with open(CLOCK_FILE + ".new", "w") as f:
            f.write(f"{seconds:+d}\n")
        os.replace(CLOCK_FILE + ".new", CLOCK_FILE)

    def tearDown(self):
        self.set_offset(0)

    def test_expired_token_refused(self):
        self.set_offset(0)
        root = read_credentials(CLOCK_ROOT_CREDENTIALS)

        def c(service, creds):
            return client(service, creds, endpoint=CLOCK_ENDPOINT)

        iam = c("iam", root)
        user = name("expiry")
        iam.create_user(UserName=user)
        key = iam.create_access_key(UserName=user)["AccessKey"]
        user_creds = Creds(key["AccessKeyId"], key["SecretAccessKey"])
        role = name("expiry-role")
        iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust_policy(user_arn(user)))
        out = c("sts", user_creds).assume_role(RoleArn=role_arn(role), RoleSessionName="short",
                                               DurationSeconds=900)["Credentials"]
        session = Creds(out["AccessKeyId"], out["SecretAccessKey"], out["SessionToken"])
        expiration = out["Expiration"]
        self.assertRecent(expiration, seconds=60, offset=datetime.timedelta(seconds=900))
        # 10 minutes later (server and signer): still valid.
        self.set_offset(600)
        with signing_time(now() + datetime.timedelta(seconds=600)):
            self.assertEqual(c("sts", session).get_caller_identity()["Arn"],
                             session_arn(role, "short"))
        # 30 minutes later: expired (15 minutes ago), in the form of each protocol.
        self.set_offset(1800)
        with signing_time(now() + datetime.timedelta(seconds=1800)):
            with self.raises("ExpiredTokenException", EXPIRED_TOKEN, status=400):
                c("kms", session).list_keys()
            with self.raises("ExpiredToken", EXPIRED_TOKEN, status=400):
                c("sts", session).get_caller_identity()
            # Long-term credentials are not affected.
            self.assertEqual(c("sts", root).get_caller_identity()["Arn"], ROOT_ARN)
            self.assertEqual(c("sts", user_creds).get_caller_identity()["Arn"], user_arn(user))


# ---------------------------------------------------------------------------------------

# ---------------------------------------------------------------------------------------
# Audit: CloudTrail records of a scripted sequence, found with LookupEvents; nothing
# secret under the data directory or in the server's log.

DATA_DIR = os.environ.get("COFFER_DATA_DIR", "")
SERVER_LOG = os.environ.get("COFFER_SERVER_LOG", "")


class Audit(CofferTest):
    """One scripted sequence (setUpClass), then lookups. Other suites share the server,
    so events are matched by the request id each call answered with."""

    @classmethod
    def setUpClass(cls):
        kms, iam, sts = cls.kms(), cls.iam(), cls.sts()
        cls.calls = {}  # name -> (request id, response)
        cls.secrets = {}  # what must never be stored or logged: label -> bytes

        def note(label, resp):
            cls.calls[label] = (resp["ResponseMetadata"]["RequestId"], resp)
            return resp

        cls.start = now() - datetime.timedelta(seconds=2)
        key = note("CreateKey", kms.create_key(Description=name("audit")))["KeyMetadata"]
        cls.key_id, cls.key_arn = key["KeyId"], key["Arn"]
        cls.alias = "alias/" + name("audit")
        note("CreateAlias", kms.create_alias(AliasName=cls.alias, TargetKeyId=cls.key_id))
        note("UpdateKeyDescription",
             kms.update_key_description(KeyId=cls.key_id, Description=name("audit-2")))
        note("PutKeyPolicy", kms.put_key_policy(KeyId=cls.key_id, PolicyName="default",
                                                Policy=json.dumps(default_key_policy())))
        plaintext = b"audit plaintext " + secrets.token_hex(16).encode()
        cls.secrets["plaintext"] = plaintext
        ct = note("Encrypt", kms.encrypt(KeyId=cls.alias, Plaintext=plaintext,
                                         EncryptionContext={"purpose": "audit"}))["CiphertextBlob"]
        note("Decrypt", kms.decrypt(CiphertextBlob=ct, EncryptionContext={"purpose": "audit"}))
        dk = note("GenerateDataKey", kms.generate_data_key(KeyId=cls.key_id, KeySpec="AES_256"))
        cls.secrets["data key"] = dk["Plaintext"]
        cls.user = name("audit-user")
        note("CreateUser", iam.create_user(UserName=cls.user))
        role, _ = cls.new_role("audit-role", trust_policy(user_arn(cls.user)))
        iam.put_user_policy(UserName=cls.user, PolicyName="assume",
                            PolicyDocument=allow_policy("sts:AssumeRole"))
        grant = note("CreateGrant", kms.create_grant(
            KeyId=cls.key_id, GranteePrincipal=user_arn(cls.user), Operations=["Decrypt"],
            RetiringPrincipal=ROOT_ARN,
            Constraints={"EncryptionContextSubset": {"purpose": "audit"}}))
        cls.grant_id = grant["GrantId"]
        cls.secrets["grant token"] = grant["GrantToken"].encode()
        note("RetireGrant", kms.retire_grant(GrantToken=grant["GrantToken"]))
        ak = note("CreateAccessKey", iam.create_access_key(UserName=cls.user))["AccessKey"]
        cls.user_creds = Creds(ak["AccessKeyId"], ak["SecretAccessKey"])
        cls.secrets["secret access key"] = ak["SecretAccessKey"].encode()
        # A session: its secret and token must not be stored in clear either.
        session = client("sts", cls.user_creds).assume_role(
            RoleArn=role_arn(role), RoleSessionName="audit")
        cls.calls["AssumeRole"] = (session["ResponseMetadata"]["RequestId"], session)
        cls.secrets["session token"] = session["Credentials"]["SessionToken"].encode()
        cls.secrets["session secret"] = session["Credentials"]["SecretAccessKey"].encode()
        try:
            client("kms", cls.user_creds).decrypt(CiphertextBlob=ct,
                                                  EncryptionContext={"purpose": "audit"})
            raise AssertionError("the user's Decrypt should be denied")
        except ClientError as e:
            cls.calls["DeniedDecrypt"] = (e.response["ResponseMetadata"]["RequestId"], e.response)
            cls.denied_error = e.response["Error"]
        cls.end = now() + datetime.timedelta(seconds=2)
        cls.ct = client("cloudtrail", ROOT)

    def lookup_all(self, **kwargs):
        events = []
        for page in self.ct.get_paginator("lookup_events").paginate(**kwargs):
            events.extend(page["Events"])
        return events

    def by_request_id(self, events):
        out = {}
        for e in events:
            rec = json.loads(e["CloudTrailEvent"])
            out[rec["requestID"]] = (e, rec)
        return out

    def find(self, label, **lookup):
        """The event of call `label`, looked up with `lookup` (asserted present)."""
        request_id = self.calls[label][0]
        found = self.by_request_id(self.lookup_all(**lookup))
        self.assertIn(request_id, found, f"{label} ({request_id}) not found with {lookup}")
        return found[request_id]

    def test_every_call_by_event_name(self):
        ops = {"CreateKey": "kms", "CreateAlias": "kms", "UpdateKeyDescription": "kms",
               "PutKeyPolicy": "kms", "Encrypt": "kms", "Decrypt": "kms",
               "GenerateDataKey": "kms", "CreateGrant": "kms", "RetireGrant": "kms",
               "CreateUser": "iam", "CreateAccessKey": "iam",
               "AssumeRole": "sts", "DeniedDecrypt": "kms"}
        for label, service in ops.items():
            op = "Decrypt" if label == "DeniedDecrypt" else label
            with self.subTest(label):
                event, rec = self.find(label, LookupAttributes=[
                    {"AttributeKey": "EventName", "AttributeValue": op}],
                    StartTime=self.start, EndTime=self.end)
                self.assertEqual(event["EventName"], op)
                self.assertEqual(rec["eventName"], op)
                self.assertEqual(event["EventSource"], f"{service}.amazonaws.com")
                self.assertEqual(rec["eventSource"], f"{service}.amazonaws.com")
                self.assertEqual(rec["eventVersion"], "1.08")
                self.assertEqual(rec["eventID"], event["EventId"])
                self.assertEqual(rec["awsRegion"], REGION)
                self.assertEqual(rec["recipientAccountId"], ACCOUNT)
                self.assertEqual(rec["sourceIPAddress"], "127.0.0.1")
                self.assertIn("Boto3", rec["userAgent"])
                self.assertGreaterEqual(event["EventTime"], self.start.replace(microsecond=0))
                self.assertLessEqual(event["EventTime"], self.end)

    def test_record_fields_match_the_calls(self):
        E = lambda op: {"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": op}],
                        "StartTime": self.start, "EndTime": self.end}
        _, rec = self.find("CreateKey", **E("CreateKey"))
        self.assertEqual(rec["userIdentity"]["type"], "Root")
        self.assertEqual(rec["userIdentity"]["arn"], ROOT_ARN)
        self.assertEqual(rec["userIdentity"]["accessKeyId"], ROOT.access_key)
        self.assertEqual(rec["requestParameters"]["description"], name("audit"))
        self.assertEqual(rec["responseElements"]["keyMetadata"]["keyId"], self.key_id)
        self.assertEqual(rec["resources"], [{"accountId": ACCOUNT, "type": "AWS::KMS::Key",
                                             "ARN": self.key_arn}])
        self.assertIs(rec["readOnly"], False)

        _, rec = self.find("CreateAlias", **E("CreateAlias"))
        self.assertEqual(rec["requestParameters"],
                         {"aliasName": self.alias, "targetKeyId": self.key_id})
        self.assertIn(self.key_arn, [r["ARN"] for r in rec["resources"]])

        _, rec = self.find("UpdateKeyDescription", **E("UpdateKeyDescription"))
        self.assertEqual(rec["requestParameters"]["description"], name("audit-2"))

        _, rec = self.find("PutKeyPolicy", **E("PutKeyPolicy"))
        self.assertEqual(rec["requestParameters"]["keyId"], self.key_id)
        self.assertEqual(rec["requestParameters"]["policyName"], "default")

        event, rec = self.find("Encrypt", **E("Encrypt"))
        self.assertEqual(event["ReadOnly"], "true")
        self.assertIs(rec["readOnly"], True)
        self.assertEqual(rec["requestParameters"]["encryptionContext"], {"purpose": "audit"})
        self.assertEqual(rec["requestParameters"]["keyId"], self.alias)
        self.assertEqual(rec["responseElements"], None)
        self.assertNotIn("plaintext", json.dumps(rec["requestParameters"]).lower())

        _, rec = self.find("GenerateDataKey", **E("GenerateDataKey"))
        self.assertEqual(rec["requestParameters"]["keySpec"], "AES_256")
        self.assertEqual(rec["responseElements"], None)

        _, rec = self.find("CreateGrant", **E("CreateGrant"))
        self.assertEqual(rec["requestParameters"], {
            "keyId": self.key_id, "granteePrincipal": user_arn(self.user),
            "retiringPrincipal": ROOT_ARN, "operations": ["Decrypt"],
            "constraints": {"encryptionContextSubset": {"purpose": "audit"}}})
        self.assertEqual(rec["responseElements"], {"grantId": self.grant_id,
                                                   "keyId": self.key_arn})
        self.assertIs(rec["readOnly"], False)

        _, rec = self.find("RetireGrant", **E("RetireGrant"))
        # AWS's form: the grant id apart, no request parameters (the token).
        self.assertIsNone(rec["requestParameters"])
        self.assertEqual(rec["additionalEventData"], {"grantId": self.grant_id})
        self.assertEqual(rec["resources"], [{"accountId": ACCOUNT, "type": "AWS::KMS::Key",
                                             "ARN": self.key_arn}])

        _, rec = self.find("CreateAccessKey", **E("CreateAccessKey"))
        self.assertEqual(rec["requestParameters"], {"userName": self.user})
        self.assertNotIn(self.user_creds.secret_key, json.dumps(rec))

        event, rec = self.find("DeniedDecrypt", **E("Decrypt"))
        self.assertEqual(rec["errorCode"], "AccessDeniedException")
        self.assertEqual(rec["errorCode"], self.denied_error["Code"])
        self.assertEqual(rec["errorMessage"], self.denied_error["Message"])
        self.assertEqual(rec["userIdentity"]["type"], "IAMUser")
        self.assertEqual(rec["userIdentity"]["userName"], self.user)
        self.assertEqual(rec["userIdentity"]["arn"], user_arn(self.user))
        self.assertEqual(rec["userIdentity"]["accessKeyId"], self.user_creds.access_key)
        self.assertEqual(event["Username"], self.user)
        self.assertEqual(event["AccessKeyId"], self.user_creds.access_key)
        self.assertEqual(event["Resources"], [{"ResourceType": "AWS::KMS::Key",
                                               "ResourceName": self.key_arn}])

    def test_by_username_resource_source_and_access_key(self):
        self.find("DeniedDecrypt", LookupAttributes=[
            {"AttributeKey": "Username", "AttributeValue": self.user}])
        self.find("AssumeRole", LookupAttributes=[
            {"AttributeKey": "Username", "AttributeValue": self.user}])
        self.find("DeniedDecrypt", LookupAttributes=[
            {"AttributeKey": "AccessKeyId", "AttributeValue": self.user_creds.access_key}])
        by_key = self.by_request_id(self.lookup_all(LookupAttributes=[
            {"AttributeKey": "ResourceName", "AttributeValue": self.key_arn}]))
        for label in ("CreateKey", "CreateAlias", "UpdateKeyDescription", "PutKeyPolicy",
                      "Encrypt", "Decrypt", "GenerateDataKey", "DeniedDecrypt"):
            self.assertIn(self.calls[label][0], by_key, f"{label} by ResourceName")
        self.assertNotIn(self.calls["CreateUser"][0], by_key)
        for label, source in (("CreateUser", "iam"), ("CreateAccessKey", "iam"),
                              ("AssumeRole", "sts"), ("Encrypt", "kms")):
            self.find(label, LookupAttributes=[
                {"AttributeKey": "EventSource", "AttributeValue": f"{source}.amazonaws.com"}],
                StartTime=self.start, EndTime=self.end)
        self.find("Encrypt", LookupAttributes=[
            {"AttributeKey": "ResourceType", "AttributeValue": "AWS::KMS::Key"}],
            StartTime=self.start, EndTime=self.end)
        event, _ = self.find("CreateKey", LookupAttributes=[
            {"AttributeKey": "ReadOnly", "AttributeValue": "false"}],
            StartTime=self.start, EndTime=self.end)
        self.find("CreateKey", LookupAttributes=[
            {"AttributeKey": "EventId", "AttributeValue": event["EventId"]}])

    def test_time_range(self):
        before = self.by_request_id(self.lookup_all(
            LookupAttributes=[{"AttributeKey": "ResourceName", "AttributeValue": self.key_arn}],
            StartTime=self.start - datetime.timedelta(hours=1),
            EndTime=self.start - datetime.timedelta(seconds=5)))
        self.assertEqual(before, {})
        after = self.lookup_all(
            LookupAttributes=[{"AttributeKey": "ResourceName", "AttributeValue": self.key_arn}],
            StartTime=self.end + datetime.timedelta(seconds=5))
        self.assertEqual(after, [])
        with self.raises("InvalidTimeRangeException"):
            self.ct.lookup_events(StartTime=self.end, EndTime=self.start)

    def test_pages_with_max_results_and_next_token(self):
        attrs = [{"AttributeKey": "ResourceName", "AttributeValue": self.key_arn}]
        whole = self.ct.lookup_events(LookupAttributes=attrs)["Events"]
        self.assertGreaterEqual(len(whole), 8)
        pages, token, seen = 0, None, []
        while True:
            kwargs = {"LookupAttributes": attrs, "MaxResults": 3}
            if token:
                kwargs["NextToken"] = token
            page = self.ct.lookup_events(**kwargs)
            pages += 1
            self.assertLessEqual(len(page["Events"]), 3)
            seen.extend(page["Events"])
            token = page.get("NextToken")
            if not token:
                break
        self.assertEqual([e["EventId"] for e in seen], [e["EventId"] for e in whole])
        self.assertGreaterEqual(pages, 3)
        times = [e["EventTime"] for e in seen]
        self.assertEqual(times, sorted(times, reverse=True), "newest first")
        first = self.ct.lookup_events(LookupAttributes=attrs, MaxResults=1)
        with self.raises("InvalidNextTokenException"):
            self.ct.lookup_events(NextToken=first["NextToken"], MaxResults=1, LookupAttributes=[
                {"AttributeKey": "Username", "AttributeValue": self.user}])
        with self.raises("InvalidMaxResultsException"):
            client("cloudtrail", ROOT, validate=False).lookup_events(MaxResults=51)
        with self.raises("InvalidLookupAttributesException"):
            self.ct.lookup_events(LookupAttributes=[
                {"AttributeKey": "EventName", "AttributeValue": "Decrypt"},
                {"AttributeKey": "Username", "AttributeValue": self.user}])

    def test_lookups_are_recorded_and_authorized(self):
        resp = self.ct.lookup_events(MaxResults=1)
        rid = resp["ResponseMetadata"]["RequestId"]
        found = self.by_request_id(self.lookup_all(
            LookupAttributes=[{"AttributeKey": "EventSource",
                               "AttributeValue": "cloudtrail.amazonaws.com"}],
            StartTime=now() - datetime.timedelta(minutes=1)))
        self.assertIn(rid, found)
        self.assertEqual(found[rid][1]["eventName"], "LookupEvents")
        self.assertEqual(found[rid][1]["requestParameters"], {"maxResults": 1})
        with self.raises("AccessDeniedException", denied(
                user_arn(self.user), "cloudtrail:LookupEvents", "*", "identity")):
            client("cloudtrail", self.user_creds).lookup_events()

    def test_list_public_keys_names_the_digest_key(self):
        """The digests' public key, as `aws cloudtrail validate-logs` fetches it: the DER
        whose MD5 is its fingerprint, the key public-keys.json holds."""
        keys = self.ct.list_public_keys()["PublicKeyList"]
        self.assertEqual(len(keys), 1, "the current key")
        key = keys[0]
        self.assertEqual(hashlib.md5(key["Value"]).hexdigest(), key["Fingerprint"])
        self.assertNotIn("ValidityEndTime", key)
        self.assertLessEqual(key["ValidityStartTime"], now())
        later = self.ct.list_public_keys(StartTime=now() - datetime.timedelta(days=1),
                                         EndTime=now())["PublicKeyList"]
        self.assertEqual([k["Fingerprint"] for k in later], [key["Fingerprint"]])
        if DATA_DIR:
            with open(os.path.join(DATA_DIR, "audit", "digests", "public-keys.json")) as f:
                on_disk = json.load(f)["PublicKeyList"]
            self.assertEqual([k["Fingerprint"] for k in on_disk], [key["Fingerprint"]])
            self.assertEqual(base64.b64decode(on_disk[0]["Value"]), key["Value"])
        with self.raises("InvalidTimeRangeException"):
            self.ct.list_public_keys(EndTime=now() - datetime.timedelta(days=1))
        with self.raises("AccessDeniedException", denied(
                user_arn(self.user), "cloudtrail:ListPublicKeys", "*", "identity")):
            client("cloudtrail", self.user_creds).list_public_keys()

    def test_nothing_secret_under_the_data_directory_or_in_the_log(self):
        if not DATA_DIR or not SERVER_LOG:
            self.skipTest("COFFER_DATA_DIR and COFFER_SERVER_LOG are not set (run.sh sets them)")
        needles = {}
        for label, value in self.secrets.items():
            needles[label] = value
            needles[label + " (base64)"] = base64.b64encode(value)
        files = [f for f in SERVER_LOG.split(os.pathsep) if f]
        for root, _, names in os.walk(DATA_DIR):
            files += [os.path.join(root, n) for n in names]
        self.assertTrue(any("/audit/" in f for f in files), "the journal is under the data dir")
        searched = 0
        found_root_secret = False  # a control: the search does see what is there
        for path in files:
            try:
                with open(path, "rb") as f:
                    content = f.read()
            except (FileNotFoundError, IsADirectoryError):
                continue  # a temporary file that went away
            searched += 1
            found_root_secret |= ROOT.secret_key.encode() in content
            for label, needle in needles.items():
                self.assertNotIn(needle, content, f"{label} found in {path}")
        self.assertGreater(searched, 3)
        self.assertTrue(found_root_secret, "root-credentials holds the root secret")


def main():
    global ROOT
    if not ENDPOINT or not ROOT_CREDENTIALS_FILE:
        print(__doc__, file=sys.stderr)
        print("error: COFFER_ENDPOINT and COFFER_ROOT_CREDENTIALS must be set", file=sys.stderr)
        return 2
    ROOT = read_credentials(ROOT_CREDENTIALS_FILE)
    label = f"boto3 {boto3.__version__} / botocore {botocore.__version__} / python " \
            f"{sys.version.split()[0]} ({sys.executable}); SigV4 signer {signer_name()}"
    print(f"== {label}; names end in -{SUFFIX}", flush=True)
    # The clients are cached for the whole run; their pooled sockets close at exit.
    import warnings
    warnings.simplefilter("ignore", ResourceWarning)
    sys.warnoptions.append("ignore::ResourceWarning")  # and unittest keeps that filter
    program = unittest.main(exit=False, verbosity=2 if "-q" not in sys.argv else 1,
                            argv=[a for a in sys.argv if a != "-q"])
    result = program.result
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    skipped = len(result.skipped)
    passed = result.testsRun - failed - skipped
    line = f"boto3 {boto3.__version__} ({sys.executable}): {passed} passed, {failed} failed, " \
           f"{skipped} skipped"
    for test, reason in result.skipped:
        print(f"SKIP {test.id()}: {reason}")
    print(line)
    results = os.environ.get("COFFER_INTEROP_RESULTS")
    if results:
        with open(results, "a") as f:
            f.write(f"{passed} {failed} {skipped} {line}\n")
            for test, reason in result.skipped:
                f.write(f"0 0 0 SKIP {test.id()} (boto3 {boto3.__version__}): {reason}\n")
    return 0 if failed == 0 and result.testsRun > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
