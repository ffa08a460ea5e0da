#!/usr/bin/env python3
"""coffer interop: SIGKILL during concurrent load loses no record of an answered call.

run.sh starts a server on a fresh data directory and calls
  kill_check.py load STATE_FILE SERVER_PID
which sends signed Encrypt calls from 16 threads, keeps the request id of every call that
was answered (HTTP 200), kills the server with SIGKILL in the middle of the load, and
writes the ids to STATE_FILE. run.sh then checks the journal offline (`coffer audit
verify`), starts a new server on the same data directory and calls
  kill_check.py verify STATE_FILE
which reads every Encrypt record back with LookupEvents and checks that each answered
call has its record (a call is answered only once its record is durable). Calls cut off
by the kill may or may not have a record; none may be missing for an answered one.
COFFER_ENDPOINT and COFFER_ROOT_CREDENTIALS as for test_boto3.py.
"""
import base64
import json
import os
import signal
import sys
import threading
import time

import boto3
from botocore.config import Config

import test_boto3 as t

THREADS = 16
# Kill after this many answers, or after this long, whichever comes first.
KILL_AFTER_ANSWERS = 600
KILL_AFTER_SECONDS = 5.0


def client(service):
    return boto3.client(
        service, region_name=t.REGION, endpoint_url=t.ENDPOINT,
        aws_access_key_id=t.ROOT.access_key, aws_secret_access_key=t.ROOT.secret_key,
        # One attempt: a retried call would be answered under another request id.
        config=Config(retries={"max_attempts": 1, "mode": "standard"},
                      connect_timeout=2, read_timeout=5))


def load(state_file, server_pid):
    key_arn = client("kms").create_key(Description="kill-check")["KeyMetadata"]["Arn"]
    answered = []
    lock = threading.Lock()
    stop = threading.Event()

    def worker(n):
        kms = client("kms")
        i = 0
        while not stop.is_set():
            i += 1
            try:
                r = kms.encrypt(KeyId=key_arn, Plaintext=f"record {n}-{i}".encode())
            except Exception:  # noqa: BLE001 - a call cut off by the kill has no answer
                if stop.is_set():
                    return
                time.sleep(0.01)
                continue
            if r["ResponseMetadata"]["HTTPStatusCode"] == 200:
                with lock:
                    answered.append(r["ResponseMetadata"]["RequestId"])

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for th in threads:
        th.start()
    started = time.time()
    while time.time() - started < KILL_AFTER_SECONDS:
        with lock:
            if len(answered) >= KILL_AFTER_ANSWERS:
                break
        time.sleep(0.01)
    os.kill(server_pid, signal.SIGKILL)
    # Answers already on their way back still count: give the sockets a moment, then stop.
    time.sleep(0.5)
    stop.set()
    for th in threads:
        th.join()
    with open(state_file, "w") as f:
        json.dump({"key_arn": key_arn, "answered": answered}, f)
    print(f"kill: {len(answered)} calls answered before SIGKILL")
    return 0 if answered else 1


def verify(state_file):
    with open(state_file) as f:
        state = json.load(f)
    answered = set(state["answered"])
    cloudtrail = client("cloudtrail")
    recorded = set()
    kwargs = {"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "Encrypt"}],
              "MaxResults": 50}
    while True:
        page = cloudtrail.lookup_events(**kwargs)
        for e in page["Events"]:
            recorded.add(json.loads(e["CloudTrailEvent"])["requestID"])
        if not page.get("NextToken"):
            break
        kwargs["NextToken"] = page["NextToken"]
    missing = answered - recorded
    results = []

    def check(name, ok, detail=""):
        results.append(ok)
        print(f"{'ok' if ok else 'not ok'} - kill: {name}" + ("" if ok else f"\n    {detail}"))

    check(f"calls were answered before the kill ({len(answered)})", len(answered) > 0)
    check(f"every answered call has its record ({len(answered)} answered, "
          f"{len(recorded)} Encrypt records)", not missing,
          f"{len(missing)} answered calls have no record, e.g. {sorted(missing)[:5]}")
    passed, failed = results.count(True), results.count(False)
    line = f"kill (SIGKILL under load): {passed} passed, {failed} failed"
    print(line)
    if os.environ.get("COFFER_INTEROP_RESULTS"):
        with open(os.environ["COFFER_INTEROP_RESULTS"], "a") as f:
            f.write(f"{passed} {failed} 0 {line}\n")
    return 0 if failed == 0 else 1


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ("load", "verify"):
        print("usage: kill_check.py load STATE_FILE SERVER_PID | verify STATE_FILE",
              file=sys.stderr)
        return 2
    if not t.ENDPOINT or not t.ROOT_CREDENTIALS_FILE:
        print("COFFER_ENDPOINT and COFFER_ROOT_CREDENTIALS must be set", file=sys.stderr)
        return 2
    t.ROOT = t.read_credentials(t.ROOT_CREDENTIALS_FILE)
    if sys.argv[1] == "load":
        return load(sys.argv[2], int(sys.argv[3]))
    return verify(sys.argv[2])


if __name__ == "__main__":
    sys.exit(main())
