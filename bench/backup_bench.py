#!/usr/bin/env python3
"""coffer's backup and restore tasks against the usual backup tools, in one run, on the same data.

SQLite (the benchmark database, ../shared/bench/gen_sqlite.py, 1 GiB by default):
  coffer backup   BackupDatabase task, FULL, encrypted under a KMS key, into a file bucket
  coffer restore  RestoreDatabase task of that object into a new database
  zstd -1 -T2     the file to a file          zstd -d -T2   back to a file
  restic backup   a fresh repository (repokey v2, compression auto), the file
  restic restore  the snapshot into an empty directory
  borg create     a fresh repository (repokey), --compression lz4 (or --borg-compression)
  borg extract    the archive into an empty directory
PostgreSQL (the same rows loaded into database `bench` of the throwaway cluster that
scripts/pg-test-server.sh starts: CSV from python's sqlite3 into psql's COPY FROM STDIN):
  coffer backup / restore  the same tasks on an instance of engine postgres
  pg_dump -Fc              default compression, to a file; pg_restore into a new database
  pgbackrest               full backup into a fresh repository under /tmp, and restore into an
                           empty directory, twice: with pgBackRest's defaults (gz level 6,
                           process-max 1, not encrypted) and as in baselines.md (zst,
                           aes-256-cbc, process-max 2). Both need start-fast=y (else a backup
                           waits for the next checkpoint) and WAL archiving: archive_mode is
                           switched on once (a restart) and archive_command points to
                           `pgbackrest archive-push` only while a pgbackrest backup runs
                           (/bin/true otherwise, so that restores are not slowed by archiving).

Method. Every tool runs --runs times (3 by default); the best run counts. Each round runs
the backups, then the restores, in one order in even rounds and in the reverse order in
odd rounds (this machine has strong order effects). Each tool's previous output is removed
just before it runs; every output is fsynced (file by file, directories too) inside the
timed span. The database is read from the page cache. coffer's tasks are timed from the
API call that starts them to the DescribeTasks answer that says SUCCESS (polled every
--poll seconds, 20 ms by default, over one keep-alive connection signed with botocore).
The peak RSS of a coffer task is the largest VmRSS of the server process sampled every
20 ms while the task runs ("server"), and of the server with its child processes (pg_dump
/ pg_restore for postgres: "+children"); the peers' is GNU time's maximum resident set
size of their largest process (the PostgreSQL server's own backends are in neither).
Each round prints the load average at its start and end, and the CPU seconds that
processes outside the benchmark (other engineers' builds, kernel writeback) used during it:
when that is not near zero, the figures are disturbed.

MB/s = 10^6 bytes of the source database per wall second (SQLite: the file; PostgreSQL:
pg_database_size of `bench`, also for pgBackRest, which copies the whole cluster).
Goals (PASS/FAIL computed from the best runs of this run):
  SQLite      coffer backup >= 2.5x restic backup speed, >= 0.9x zstd -1 -T2 speed
  PostgreSQL  coffer backup >= 5x pg_dump -Fc speed
and, from ../shared/reference/baselines.md: SQLite backup >= 2x borg, SQLite restore >=
0.9x zstd -d -T2, PostgreSQL backup >= pgBackRest (the configuration of baselines.md),
peak RSS <= 256 MiB. Exit status 1 when a goal fails or could not be measured.

Usage: bench/backup_bench.py [--coffer build/coffer] [--db PATH] [--runs 3]
                             [--engines sqlite,postgres] [--borg-compression lz4|zstd,1]
                             [--work DIR] [--pg-reuse DIR] [--pg-keep] [--poll 0.02]
--db: the database; created with gen_sqlite.py when missing (/tmp/coffer-bench/bench.sqlite,
kept for later runs). --work: where outputs go (default: a new directory beside --db; it
must be on the same file system as --db, whose file the sqlite instance links to).
--pg-keep leaves the PostgreSQL cluster running, loaded, and prints its directory;
--pg-reuse DIR uses such a cluster again (skips the load). Stop it with
`scripts/pg-test-server.sh stop DIR`.
Needs (Debian 12): zstd, time, restic, borgbackup, pgbackrest, postgresql (15: initdb,
pg_ctl, psql, pg_dump, pg_restore), python3-boto3 (botocore signs the API calls), and
build/coffer (scripts/build.sh --target coffer). Runs as root (the cluster then belongs to
the `postgres` account, as scripts/pg-test-server.sh does it) or as the cluster's owner.
About 15 GB free under --work and /tmp. Takes 15-25 minutes with --runs 3.
"""
import argparse
import configparser
import csv
import http.client
import io
import json
import os
import re
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
GEN = os.path.join(os.path.dirname(REPO), "shared", "bench", "gen_sqlite.py")
PG_TEST_SERVER = os.path.join(REPO, "scripts", "pg-test-server.sh")
ACCOUNT = "111122223333"
REGION = "us-east-1"
IS_ROOT = os.geteuid() == 0
AS_PG_OWNER = ["runuser", "-u", "postgres", "--"] if IS_ROOT else []
TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
PG_SOURCE_DB = "bench"


def say(text=""):
    print(text, flush=True)


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def uptime():
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


# ---------------------------------------------------------------------------------------
# Processes: CPU accounting and RSS sampling

def proc_table():
    """{pid: (ppid, utime+stime+cutime+cstime in ticks)} of every process."""
    table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                rest = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        table[int(name)] = (int(rest[1]), sum(int(x) for x in rest[11:15]))
    return table


def descendants(table, roots):
    children = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    seen, todo = set(), [r for r in roots if r in table]
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        todo.extend(children.get(pid, ()))
    return seen


def busy_ticks():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal guest guest_nice (guest is in user)
    return v[0] + v[1] + v[2] + v[5] + v[6]


class CpuWatch:
    """CPU seconds used by processes outside the benchmark between start() and stop().

    The benchmark's processes are this one and its descendants plus the trees of the extra
    roots (the postmaster): for a live process utime+stime+cutime+cstime holds the time of
    its reaped children too, so the sum over the live trees accounts for all of them."""

    def __init__(self, extra_roots=()):
        self.extra_roots = list(extra_roots)

    def _ours(self):
        table = proc_table()
        return sum(table[p][1] for p in descendants(table, [os.getpid()] + self.extra_roots))

    def start(self):
        self.busy0, self.ours0 = busy_ticks(), self._ours()

    def stop(self):
        busy, ours = busy_ticks(), self._ours()
        return max(0, (busy - self.busy0) - (ours - self.ours0)) / TICKS


def rss_bytes(pid):
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


class RssSampler(threading.Thread):
    """Largest VmRSS of `pid`, and of `pid` plus its descendants, sampled every `period`
    seconds (the descendants are looked up every 10 samples)."""

    def __init__(self, pid, period=0.02):
        super().__init__(daemon=True)
        self.pid, self.period = pid, period
        self.peak_self = self.peak_tree = 0
        self._stop_event = threading.Event()

    def run(self):
        kids, n = [], 0
        while True:
            if n % 10 == 0:
                kids = [p for p in descendants(proc_table(), [self.pid]) if p != self.pid]
            n += 1
            own = rss_bytes(self.pid)
            self.peak_self = max(self.peak_self, own)
            self.peak_tree = max(self.peak_tree, own + sum(rss_bytes(k) for k in kids))
            if self._stop_event.wait(self.period):
                return

    def finish(self):
        self._stop_event.set()
        self.join()
        return self.peak_self, self.peak_tree


# ---------------------------------------------------------------------------------------
# Running and timing commands

class Run:
    """One measured run: wall seconds, peak RSS in bytes (and of the tree, for coffer)."""

    def __init__(self, wall, rss, rss_tree=None):
        self.wall, self.rss, self.rss_tree = wall, rss, rss_tree


def fsync_tree(path):
    """fsyncs `path`: a file, or a directory with everything in it."""
    def sync(p, flags=os.O_RDONLY):
        fd = os.open(p, flags)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    if os.path.isfile(path):
        sync(path)
        sync(os.path.dirname(path) or ".", os.O_RDONLY | os.O_DIRECTORY)
        return
    for root, _, files in os.walk(path):
        for name in files:
            p = os.path.join(root, name)
            if not os.path.islink(p):
                sync(p)
        sync(root, os.O_RDONLY | os.O_DIRECTORY)


def check(argv, **kw):
    r = subprocess.run(argv, capture_output=True, text=True, errors="replace", **kw)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({r.returncode}):\n{r.stdout}{r.stderr}")
    return r.stdout


def timed(commands, fsync=None, env=None, cwd=None):
    """Runs each argv of `commands` under GNU time, one after the other, then fsyncs
    `fsync` (a path or a list); returns a Run (the largest RSS of any command)."""
    t0 = time.perf_counter()
    peak = 0
    for argv in commands:
        r = subprocess.run(["/usr/bin/time", "-f", "RSS %M"] + argv, env=env, cwd=cwd,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, errors="replace")
        if r.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed ({r.returncode}):\n{r.stderr}")
        peak = max(peak, int(re.findall(r"RSS (\d+)", r.stderr)[-1]) * 1024)
    for path in ([fsync] if isinstance(fsync, str) else fsync or []):
        fsync_tree(path)
    return Run(time.perf_counter() - t0, peak)


def remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.remove(path)


def tree_size(path):
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(path) for f in fs
               if not os.path.islink(os.path.join(r, f)))


def same_file(a, b):
    return subprocess.run(["cmp", "-s", a, b]).returncode == 0


# ---------------------------------------------------------------------------------------
# coffer: the server and a signed API client

class Aws:
    """AWS JSON 1.1 and query calls to the coffer server, signed by botocore's SigV4, over
    one keep-alive connection."""

    def __init__(self, url, credentials_file):
        from botocore.credentials import Credentials
        parser = configparser.ConfigParser()
        parser.read(credentials_file)
        section = parser["default"]
        self.creds = Credentials(section["aws_access_key_id"], section["aws_secret_access_key"])
        self.url = url
        self.hostport = urllib.parse.urlsplit(url).netloc
        self.conn = None

    def _post(self, service, body, headers):
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        request = AWSRequest(method="POST", url=self.url + "/", data=body, headers=headers)
        SigV4Auth(self.creds, service, REGION).add_auth(request)
        for attempt in range(2):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(self.hostport, timeout=120)
                self.conn.request("POST", "/", body=body, headers=dict(request.headers.items()))
                response = self.conn.getresponse()
                return response.status, response.read()
            except (http.client.HTTPException, OSError):
                self.conn = None
                if attempt == 1:
                    raise

    def json(self, service, target, operation, payload, allow_error=False):
        status, data = self._post(service, json.dumps(payload).encode(), {
            "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"{target}.{operation}"})
        answer = json.loads(data or b"{}")
        if status != 200 and not allow_error:
            raise SystemExit(f"{operation} failed ({status}): {answer}")
        return status, answer

    def backup(self, operation, payload, allow_error=False):
        return self.json("rds", "CofferBackup_v1", operation, payload, allow_error)

    def query(self, service, action, version, params):
        body = urllib.parse.urlencode(dict(params, Action=action, Version=version)).encode()
        status, data = self._post(service, body,
                                  {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
        if status != 200:
            raise SystemExit(f"{action} failed ({status}): {data.decode(errors='replace')}")
        return data


class Coffer:
    """A coffer server on a fresh data directory with what tasks need: a role that
    rds.amazonaws.com may assume, a KMS key the role may use, and buckets."""

    ROLE = "bench-backup"

    def __init__(self, binary, data_dir, log_file):
        self.binary, self.data_dir = binary, data_dir
        self.log = open(log_file, "w")
        self.proc = subprocess.Popen(
            [binary, "server", "--data-dir", data_dir, "--listen", "127.0.0.1:0",
             "--account-id", ACCOUNT, "--region", REGION, "--log-level", "warn"],
            stdout=subprocess.PIPE, stderr=self.log, text=True)
        self.url = None
        for line in self.proc.stdout:
            if line.startswith("coffer listening on "):
                self.url = line[len("coffer listening on "):].strip()
                break
        if self.url is None:
            self.stop()
            raise SystemExit(f"coffer server did not start; see {log_file}")
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()
        self.pid = self.proc.pid
        self.env = dict(os.environ, AWS_SHARED_CREDENTIALS_FILE=os.path.join(data_dir, "root-credentials"),
                        AWS_CONFIG_FILE="/dev/null", COFFER_ENDPOINT_URL=self.url)
        self.aws = Aws(self.url, os.path.join(data_dir, "root-credentials"))
        self.role_arn = f"arn:aws:iam::{ACCOUNT}:role/{self.ROLE}"
        try:
            self._identities()
        except BaseException:
            self.stop()
            raise

    def _identities(self):
        trust = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "rds.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
        self.aws.query("iam", "CreateRole", "2010-05-08",
                       {"RoleName": self.ROLE, "AssumeRolePolicyDocument": json.dumps(trust)})
        s3 = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
             "Resource": "arn:aws:s3:::*"},
            {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:ListMultipartUploadParts",
                                           "s3:AbortMultipartUpload"], "Resource": "arn:aws:s3:::*/*"}]}
        self.aws.query("iam", "PutRolePolicy", "2010-05-08",
                       {"RoleName": self.ROLE, "PolicyName": "bench-s3", "PolicyDocument": json.dumps(s3)})
        policy = {"Version": "2012-10-17", "Statement": [
            {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
             "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*"},
            {"Sid": "Allow use of the key", "Effect": "Allow", "Principal": {"AWS": self.role_arn},
             "Action": ["kms:DescribeKey", "kms:GenerateDataKey", "kms:Decrypt"], "Resource": "*"}]}
        _, created = self.aws.json("kms", "TrentService", "CreateKey",
                                   {"Policy": json.dumps(policy), "Description": "backup benchmark"})
        self.key_arn = created["KeyMetadata"]["Arn"]

    def make_bucket(self, name):
        check([self.binary, "s3", "mb", f"s3://{name}", "--data-dir", self.data_dir], env=self.env)
        return os.path.join(self.data_dir, "buckets", name)

    def remove_object(self, bucket, key):
        subprocess.run([self.binary, "s3", "rm", f"s3://{bucket}/{key}", "--data-dir", self.data_dir],
                       env=self.env, capture_output=True)

    def create_instance(self, payload):
        """None, or the error answer of CreateDBInstance."""
        status, answer = self.aws.backup("CreateDBInstance", payload, allow_error=True)
        return None if status == 200 else answer

    def run_task(self, operation, payload, poll):
        """Starts a task, polls DescribeTasks until it ends; a Run (RSS of the server)."""
        sampler = RssSampler(self.pid)
        sampler.start()
        t0 = time.perf_counter()
        _, started = self.aws.backup(operation, payload)
        task_id = started["Task"]["TaskId"]
        while True:
            _, answer = self.aws.backup("DescribeTasks", {
                "DBInstanceIdentifier": payload["DBInstanceIdentifier"], "TaskId": task_id})
            task = answer["Tasks"][0]
            if task["Lifecycle"] in ("SUCCESS", "ERROR", "CANCELLED"):
                break
            time.sleep(poll)
        wall = time.perf_counter() - t0
        peak, peak_tree = sampler.finish()
        if task["Lifecycle"] != "SUCCESS":
            raise SystemExit(f"{operation} task {task_id} ended {task['Lifecycle']}: {task.get('TaskInfo')}")
        return Run(wall, peak, peak_tree)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


# ---------------------------------------------------------------------------------------
# The benchmark frame: tools, rounds, table

class Tool:
    """A backup tool: backup() and restore() each return a Run; prepare_*() remove the
    previous output (untimed); *_size() is the output's size after the last run."""

    def __init__(self, name, restore_name):
        self.name, self.restore_name = name, restore_name

    def prepare_backup(self):
        pass

    def prepare_restore(self):
        pass

    def verify(self):
        pass


class Results:
    def __init__(self):
        self.walls, self.rss, self.rss_tree, self.size, self.order = {}, {}, {}, {}, []

    def add(self, name, run, size):
        if name not in self.walls:
            self.order.append(name)
        self.walls.setdefault(name, []).append(run.wall)
        self.rss[name] = max(self.rss.get(name, 0), run.rss)
        if run.rss_tree is not None:
            self.rss_tree[name] = max(self.rss_tree.get(name, 0), run.rss_tree)
        self.size[name] = size

    def best(self, name):
        return min(self.walls[name]) if name in self.walls else None


def run_rounds(title, tools, runs, results, extra_roots=(), before_round=None):
    for r in range(runs):
        order = tools if r % 2 == 0 else tools[::-1]
        if before_round:
            before_round()
        watch = CpuWatch(extra_roots)
        load0 = loadavg()
        watch.start()
        t0 = time.time()
        for tool in order:
            tool.prepare_backup()
            run = tool.backup()
            results.add(tool.name, run, tool.backup_size())
        for tool in order:
            tool.prepare_restore()
            run = tool.restore()
            results.add(tool.restore_name, run, tool.restore_size())
            tool.verify()
        other = watch.stop()
        say(f"  {title} round {r + 1}/{runs} ({time.time() - t0:.0f} s), order: "
            f"{', '.join(t.name for t in order)}; load average at start {load0}, at end {loadavg()}; "
            f"CPU used by other processes: {other:.1f} s")


def mib(n):
    return f"{n / 2**20:.1f} MiB"


def print_table(results, source_size, notes):
    width = max(len(n) for n in results.order) + 2
    runs_width = max(len(" ".join(f"{w:.2f}" for w in ws)) for ws in results.walls.values()) + 2
    say(f"{'tool':<{width}}{'best s':>8}{'MB/s':>8}  {'all runs (s)':<{runs_width}}{'output':>12}  peak RSS")
    for name in results.order:
        walls = results.walls[name]
        best = min(walls)
        rss = mib(results.rss[name])
        if name in results.rss_tree:
            rss = f"{rss} server, {mib(results.rss_tree[name])} +children"
        say(f"{name:<{width}}{best:8.2f}{source_size / best / 1e6:8.1f}  "
            f"{' '.join(f'{w:.2f}' for w in walls):<{runs_width}}{mib(results.size[name]):>12}  {rss}")
    for note in notes:
        say(f"  {note}")


class Goals:
    def __init__(self):
        self.lines, self.failed = [], False

    def ratio(self, label, results, fast, slow, goal, source):
        """Goal: speed(fast) >= goal x speed(slow), i.e. best(slow)/best(fast) >= goal."""
        a, b = results.best(fast), results.best(slow)
        if a is None or b is None:
            missing = fast if a is None else slow
            self.lines.append(f"NOT MEASURED  {label}: no result for {missing}  [{source}]")
            self.failed = True
            return
        value = b / a
        ok = value >= goal
        self.failed |= not ok
        self.lines.append(f"{'PASS' if ok else 'FAIL':<12}  {label}: {value:.2f}x (goal >= {goal}x)  [{source}]")

    def rss(self, label, results, names, limit_mib, source):
        present = [n for n in names if n in results.rss]
        if not present:
            self.lines.append(f"NOT MEASURED  {label}  [{source}]")
            self.failed = True
            return
        peak = max(max(results.rss[n], results.rss_tree.get(n, 0)) for n in present)
        ok = peak <= limit_mib * 2**20
        self.failed |= not ok
        self.lines.append(f"{'PASS' if ok else 'FAIL':<12}  {label}: {mib(peak)} (limit {limit_mib} MiB)  [{source}]")


# ---------------------------------------------------------------------------------------
# SQLite

class CofferTool(Tool):
    def __init__(self, coffer, instance, bucket, key, source_db, restored_db, poll, remove_restored,
                 restored_size, verify=None):
        super().__init__("coffer backup task", "coffer restore task")
        self.c, self.instance, self.bucket, self.key = coffer, instance, bucket, key
        self.source_db, self.restored_db, self.poll = source_db, restored_db, poll
        self.bucket_dir = os.path.join(coffer.data_dir, "buckets", bucket)
        self._remove_restored, self._restored_size, self._verify = remove_restored, restored_size, verify
        self.arn = f"arn:aws:s3:::{bucket}/{key}"

    def prepare_backup(self):
        self.c.remove_object(self.bucket, self.key)

    def backup(self):
        return self.c.run_task("BackupDatabase", {
            "DBInstanceIdentifier": self.instance, "SourceDbName": self.source_db,
            "S3ArnToBackupTo": self.arn, "KmsMasterKeyArn": self.c.key_arn, "Type": "FULL",
            "OverwriteS3BackupFile": False}, self.poll)

    def backup_size(self):
        return tree_size(self.bucket_dir)

    def prepare_restore(self):
        self._remove_restored()

    def restore(self):
        return self.c.run_task("RestoreDatabase", {
            "DBInstanceIdentifier": self.instance, "RestoreDbName": self.restored_db,
            "S3ArnToRestoreFrom": self.arn, "KmsMasterKeyArn": self.c.key_arn, "Type": "FULL"}, self.poll)

    def restore_size(self):
        return self._restored_size()

    def verify(self):
        if self._verify:
            self._verify()


class ZstdTool(Tool):
    def __init__(self, db, work):
        super().__init__("zstd -1 -T2", "zstd -d -T2")
        self.db, self.zst, self.out = db, os.path.join(work, "bench.zst"), os.path.join(work, "bench.unzst")

    def prepare_backup(self):
        remove(self.zst)

    def backup(self):
        return timed([["zstd", "-q", "-f", "-1", "-T2", self.db, "-o", self.zst]], fsync=self.zst)

    def backup_size(self):
        return os.path.getsize(self.zst)

    def prepare_restore(self):
        remove(self.out)

    def restore(self):
        return timed([["zstd", "-q", "-f", "-d", "-T2", self.zst, "-o", self.out]], fsync=self.out)

    def restore_size(self):
        return os.path.getsize(self.out)

    def verify(self):
        if not same_file(self.db, self.out):
            raise SystemExit("zstd -d: the output differs from the database")


class ResticTool(Tool):
    def __init__(self, db, work):
        super().__init__("restic backup", "restic restore")
        self.db, self.repo = db, os.path.join(work, "restic-repo")
        self.cache, self.target = os.path.join(work, "restic-cache"), os.path.join(work, "restic-restore")
        self.env = dict(os.environ, RESTIC_PASSWORD="coffer-bench-" + secrets.token_hex(8),
                        RESTIC_REPOSITORY=self.repo)
        self.common = ["--cache-dir", self.cache, "--quiet"]

    def prepare_backup(self):
        remove(self.repo)
        remove(self.cache)
        check(["restic", "init"] + self.common, env=self.env)

    def backup(self):
        return timed([["restic", "backup"] + self.common + [self.db]], fsync=self.repo, env=self.env)

    def backup_size(self):
        return tree_size(self.repo)

    def describe(self):
        config = json.loads(check(["restic", "cat", "config"] + self.common, env=self.env))
        return f"restic {restic_version()}: repository version {config.get('version')} " \
               f"(2 = compressed, mode auto), cache in --cache-dir under the work directory"

    def prepare_restore(self):
        remove(self.target)

    def restore(self):
        return timed([["restic", "restore", "latest", "--target", self.target] + self.common],
                     fsync=self.target, env=self.env)

    def restored_file(self):
        return os.path.join(self.target, os.path.abspath(self.db).lstrip("/"))

    def restore_size(self):
        return os.path.getsize(self.restored_file())

    def verify(self):
        if not same_file(self.db, self.restored_file()):
            raise SystemExit("restic restore: the output differs from the database")


def restic_version():
    return check(["restic", "version"]).split()[1]


class BorgTool(Tool):
    def __init__(self, db, work, compression):
        super().__init__(f"borg create ({compression})", "borg extract")
        self.db, self.compression = db, compression
        self.repo, self.base = os.path.join(work, "borg-repo"), os.path.join(work, "borg-base")
        self.target = os.path.join(work, "borg-extract")
        self.env = dict(os.environ, BORG_PASSPHRASE="coffer-bench-" + secrets.token_hex(8),
                        BORG_BASE_DIR=self.base, BORG_RELOCATED_REPO_ACCESS_IS_OK="yes")

    def prepare_backup(self):
        remove(self.repo)
        remove(self.base)
        check(["borg", "init", "--encryption=repokey", self.repo], env=self.env)

    def backup(self):
        return timed([["borg", "create", "--compression", self.compression, f"{self.repo}::bench", self.db]],
                     fsync=self.repo, env=self.env)

    def backup_size(self):
        return tree_size(self.repo)

    def prepare_restore(self):
        remove(self.target)
        os.makedirs(self.target)

    def restore(self):
        return timed([["borg", "extract", f"{self.repo}::bench"]], fsync=self.target, env=self.env,
                     cwd=self.target)

    def restored_file(self):
        return os.path.join(self.target, os.path.abspath(self.db).lstrip("/"))

    def restore_size(self):
        return os.path.getsize(self.restored_file())

    def verify(self):
        if not same_file(self.db, self.restored_file()):
            raise SystemExit("borg extract: the output differs from the database")


def sqlite_bench(args, coffer, work, goals):
    size = os.path.getsize(args.db)
    instance_dir = os.path.join(work, "sqlite-instance")
    os.makedirs(instance_dir)
    # The instance's database is the benchmark file itself (a hard link, no copy).
    try:
        os.link(args.db, os.path.join(instance_dir, "bench.db"))
    except OSError as e:
        raise SystemExit(f"cannot link {args.db} into {instance_dir} ({e}): --work must be on its file system")
    error = coffer.create_instance({"DBInstanceIdentifier": "sqlite-bench", "Engine": "sqlite",
                                    "Path": instance_dir, "RoleArn": coffer.role_arn})
    if error:
        raise SystemExit(f"CreateDBInstance sqlite: {error}")
    coffer.make_bucket("bench-sqlite")
    restored = os.path.join(instance_dir, "restored.db")

    def remove_restored():
        for name in os.listdir(instance_dir):
            if name.startswith("restored.db") or name.startswith(".restored."):
                remove(os.path.join(instance_dir, name))

    def verify_restored():
        if not same_file(args.db, restored):
            # A snapshot taken with SQLite's backup API need not be byte-identical: compare rows.
            queries = ["SELECT count(*), total(id), total(amount_cents), total(length(note)) FROM orders",
                       "SELECT count(*), total(id), total(balance), total(length(email)) FROM customers"]
            for q in queries:
                a = sqlite3.connect(f"file:{args.db}?mode=ro", uri=True).execute(q).fetchall()
                b = sqlite3.connect(f"file:{restored}?mode=ro", uri=True).execute(q).fetchall()
                if a != b:
                    raise SystemExit(f"coffer restore: the restored database differs ({q}: {a} != {b})")

    peers_dir = os.path.join(work, "sqlite-peers")
    os.makedirs(peers_dir)
    tools = [CofferTool(coffer, "sqlite-bench", "bench-sqlite", "bench.bak", "bench", "restored", args.poll,
                        remove_restored, lambda: os.path.getsize(restored), verify_restored),
             ZstdTool(args.db, peers_dir), ResticTool(args.db, peers_dir),
             BorgTool(args.db, peers_dir, args.borg_compression)]
    results = Results()
    say(f"\n== SQLite: {args.db}, {size:,} bytes; best of {args.runs} rounds")
    say(f"   {uptime()}")
    run_rounds("sqlite", tools, args.runs, results,
               before_round=lambda: subprocess.run(["cat", args.db], stdout=subprocess.DEVNULL, check=True))
    say(f"   {uptime()}")
    results.rss_tree.clear()  # the sqlite engine runs no child process
    notes = [
        "coffer: FULL backup task, zstd + AES-256-GCM (AWS Encryption SDK message, suite 0x0478) under a KMS "
        "key, into a file bucket; output = the bucket's files",
        "coffer peak RSS: max VmRSS of the server process, sampled every 20 ms during the task",
        tools[2].describe(),
        f"borg {check(['borg', '--version']).split()[1]}: repokey (AES-256-CTR + HMAC-SHA256), "
        f"--compression {args.borg_compression}",
        "peers' peak RSS: GNU time (largest process); all outputs fsynced inside the timed span",
    ]
    say()
    print_table(results, size, notes)
    goals.ratio("SQLite backup: coffer speed / restic speed", results, "coffer backup task", "restic backup",
                2.5, "brief")
    goals.ratio("SQLite backup: coffer speed / zstd -1 -T2 speed", results, "coffer backup task", "zstd -1 -T2",
                0.9, "brief")
    goals.ratio("SQLite backup: coffer speed / borg speed", results, "coffer backup task",
                tools[3].name, 2.0, "baselines.md")
    goals.ratio("SQLite restore: coffer speed / zstd -d -T2 speed", results, "coffer restore task",
                "zstd -d -T2", 0.9, "baselines.md")
    goals.rss("SQLite: coffer peak RSS", results, ["coffer backup task", "coffer restore task"], 256,
              "baselines.md")


# ---------------------------------------------------------------------------------------
# PostgreSQL

def pg_bin():
    if os.environ.get("PG_BIN"):
        return os.environ["PG_BIN"]
    if os.path.exists("/usr/lib/postgresql/15/bin/initdb"):
        return "/usr/lib/postgresql/15/bin"
    found = sorted((d for d in os.listdir("/usr/lib/postgresql") if d.isdigit()), key=int)
    if not found:
        raise SystemExit("no PostgreSQL server binaries (Debian: postgresql)")
    return f"/usr/lib/postgresql/{found[-1]}/bin"


class PgCluster:
    """The cluster of scripts/pg-test-server.sh (started here, or reused with --pg-reuse)."""

    def __init__(self, reuse):
        self.bin = pg_bin()
        if reuse:
            self.dir = os.path.abspath(reuse)
            with open(os.path.join(self.dir, "data", "postgresql.conf")) as f:
                self.port = re.findall(r"^port = (\d+)", f.read(), re.M)[-1]
            self.started = False
        else:
            if not os.path.exists(PG_TEST_SERVER):
                raise SystemExit(f"{PG_TEST_SERVER} is missing")
            out = check([PG_TEST_SERVER, "start"], env=dict(os.environ, PG_BIN=self.bin))
            exports = dict(re.findall(r"^export (\w+)='([^']*)'$", out, re.M))
            self.dir = exports["COFFER_TEST_PG_DIR"]
            self.port = re.search(r"port=(\d+)", exports["COFFER_TEST_PG_DSN"]).group(1)
            self.started = True
        self.data = os.path.join(self.dir, "data")
        self.socket = os.path.join(self.dir, "socket")
        self.user = "coffer_test"
        self.dsn = f"host={self.socket} port={self.port} user={self.user} dbname=postgres"
        self.conn_args = ["-h", self.socket, "-p", self.port, "-U", self.user]

    def tool(self, name):
        return os.path.join(self.bin, name)

    def psql(self, sql, db="postgres"):
        return check([self.tool("psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"] + self.conn_args +
                     ["-d", db, "-c", sql]).strip()

    def postmaster_pid(self):
        with open(os.path.join(self.data, "postmaster.pid")) as f:
            return int(f.readline())

    def restart(self):
        check(AS_PG_OWNER + [self.tool("pg_ctl"), "-D", self.data, "-l", os.path.join(self.dir, "server.log"),
                             "-w", "-t", "120", "-m", "fast", "restart"])

    def set_archive_command(self, command):
        self.psql(f"ALTER SYSTEM SET archive_command = '{command}'")
        self.psql("SELECT pg_reload_conf()")
        # The postmaster rereads the file asynchronously: wait until a new session sees it.
        deadline = time.time() + 10
        while self.psql("SHOW archive_command") != command:
            if time.time() > deadline:
                raise SystemExit("archive_command did not change")
            time.sleep(0.05)

    def drop(self, db):
        self.psql(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')

    def counts(self, db):
        return self.psql("SELECT (SELECT count(*) || ' ' || sum(amount_cents) || ' ' || sum(length(note)) "
                         "FROM orders) || ' / ' || (SELECT count(*) || ' ' || sum(balance::numeric) FROM customers)", db)

    def stop(self):
        check([PG_TEST_SERVER, "stop", self.dir], env=dict(os.environ, PG_BIN=self.bin))


def pg_load(cluster, db_path):
    """Loads the SQLite database's tables into PostgreSQL database `bench` (COPY, then keys,
    index, VACUUM FREEZE ANALYZE so that no later read writes hint bits)."""
    t0 = time.time()
    cluster.psql(f"CREATE DATABASE {PG_SOURCE_DB} TEMPLATE template0")
    cluster.psql("""
CREATE TABLE customers(id bigint NOT NULL, name text, email text, city text, created_at text,
  balance double precision);
CREATE TABLE orders(id bigint NOT NULL, customer_id bigint, created_at text, status text,
  amount_cents bigint, currency text, quantity integer, tracking text, note text);""", PG_SOURCE_DB)
    source = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    for table in ("customers", "orders"):
        psql = subprocess.Popen([cluster.tool("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1"] + cluster.conn_args +
                                ["-d", PG_SOURCE_DB, "-c", f"COPY {table} FROM STDIN (FORMAT csv)"],
                                stdin=subprocess.PIPE)
        with io.TextIOWrapper(psql.stdin, encoding="utf-8", newline="", write_through=False) as pipe:
            writer = csv.writer(pipe)
            cursor = source.execute(f"SELECT * FROM {table} ORDER BY id")
            while True:
                rows = cursor.fetchmany(10000)
                if not rows:
                    break
                writer.writerows(rows)
        if psql.wait() != 0:
            raise SystemExit(f"COPY {table} failed")
    cluster.psql("""
ALTER TABLE customers ADD PRIMARY KEY (id);
ALTER TABLE orders ADD PRIMARY KEY (id);
CREATE INDEX orders_customer ON orders(customer_id);""", PG_SOURCE_DB)
    cluster.psql("VACUUM (FREEZE, ANALYZE)", PG_SOURCE_DB)
    cluster.psql(f"COMMENT ON DATABASE {PG_SOURCE_DB} IS 'coffer backup_bench: loaded from {db_path}'")
    cluster.psql("CHECKPOINT")
    say(f"   loaded {db_path} into database {PG_SOURCE_DB} in {time.time() - t0:.0f} s")


class PgDumpTool(Tool):
    def __init__(self, cluster, work):
        super().__init__("pg_dump -Fc", "pg_restore")
        self.cl, self.dump = cluster, os.path.join(work, "bench.dump")
        self.target = "restored_pgdump"

    def prepare_backup(self):
        remove(self.dump)

    def backup(self):
        return timed([[self.cl.tool("pg_dump"), "-Fc"] + self.cl.conn_args + ["-d", PG_SOURCE_DB, "-f", self.dump]],
                     fsync=self.dump)

    def backup_size(self):
        return os.path.getsize(self.dump)

    def prepare_restore(self):
        self.cl.drop(self.target)

    def restore(self):
        psql = [self.cl.tool("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1"] + self.cl.conn_args + ["-d", "postgres"]
        return timed([psql + ["-c", f"CREATE DATABASE {self.target} TEMPLATE template0"],
                      [self.cl.tool("pg_restore"), "--no-owner", "--exit-on-error"] + self.cl.conn_args +
                      ["-d", self.target, self.dump]])

    def restore_size(self):
        return int(self.cl.psql(f"SELECT pg_database_size('{self.target}')"))

    def verify(self):
        if self.cl.counts(self.target) != self.cl.counts(PG_SOURCE_DB):
            raise SystemExit("pg_restore: the restored database differs")


class PgBackRestTool(Tool):
    """pgbackrest full backup into a fresh repository, restore into an empty directory."""

    def __init__(self, cluster, base, label, options):
        super().__init__(f"pgbackrest backup ({label})", f"pgbackrest restore ({label})")
        self.cl, self.base, self.options = cluster, base, options
        slug = re.sub(r"\W+", "-", label).strip("-")
        self.conf = os.path.join(base, f"pgbackrest-{slug}.conf")
        self.repo = os.path.join(base, f"repo-{slug}")
        self.target = os.path.join(base, f"restore-{slug}")
        self.cmd = AS_PG_OWNER + ["pgbackrest", f"--config={self.conf}", "--stanza=bench"]

    def write_conf(self):
        lines = ["[global]", f"repo1-path={self.repo}", f"log-path={self.base}/log", f"lock-path={self.base}/lock",
                 f"spool-path={self.base}/spool", "log-level-console=warn", "log-level-file=off", "start-fast=y",
                 *self.options, "", "[bench]", f"pg1-path={self.cl.data}", f"pg1-port={self.cl.port}",
                 f"pg1-socket-path={self.cl.socket}", f"pg1-user={self.cl.user}", ""]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines))
        chown_pg(self.conf)

    def prepare_backup(self):
        # archive_command names this variant's configuration while its backup runs.
        self.write_conf()
        remove(self.repo)
        check(self.cmd + ["stanza-create"])
        self.cl.set_archive_command(f"pgbackrest --config={self.conf} --stanza=bench archive-push %p")

    def backup(self):
        try:
            return timed([self.cmd + ["--type=full", "backup"]], fsync=self.repo)
        finally:
            self.cl.set_archive_command("/bin/true")

    def backup_size(self):
        return tree_size(os.path.join(self.repo, "backup"))

    def prepare_restore(self):
        remove(self.target)
        os.makedirs(self.target, mode=0o700)
        chown_pg(self.target)

    def restore(self):
        return timed([self.cmd + [f"--pg1-path={self.target}", "restore"]], fsync=self.target)

    def restore_size(self):
        return tree_size(self.target)

    def verify(self):
        if not os.path.exists(os.path.join(self.target, "PG_VERSION")):
            raise SystemExit(f"pgbackrest restore: no PG_VERSION in {self.target}")


def chown_pg(path):
    if IS_ROOT:
        shutil.chown(path, "postgres", "postgres")


def pg_bench(args, coffer, work, goals):
    for tool in ("pgbackrest",):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is not installed (Debian: {tool})")
    say("\n== PostgreSQL")
    cluster = PgCluster(args.pg_reuse)
    pgbr_base = None
    try:
        say(f"   cluster {cluster.dir} (PostgreSQL {cluster.psql('SHOW server_version')}, {cluster.bin}), "
            f"fsync={cluster.psql('SHOW fsync')}")
        exists = cluster.psql(f"SELECT count(*) FROM pg_database WHERE datname = '{PG_SOURCE_DB}'") == "1"
        if not exists:
            pg_load(cluster, args.db)
        if cluster.psql("SHOW archive_mode") != "on":
            cluster.psql("ALTER SYSTEM SET archive_mode = 'on'")
            cluster.psql("ALTER SYSTEM SET archive_command = '/bin/true'")
            cluster.restart()
        cluster.set_archive_command("/bin/true")
        size = int(cluster.psql(f"SELECT pg_database_size('{PG_SOURCE_DB}')"))
        cluster_size = tree_size(os.path.join(cluster.data, "base")) + tree_size(os.path.join(cluster.data, "global"))
        pgbr_base = tempfile.mkdtemp(prefix="coffer-bench-pgbackrest-", dir="/tmp")
        chown_pg(pgbr_base)
        peers_dir = os.path.join(work, "pg-peers")
        os.makedirs(peers_dir)

        tools = []
        coffer_error = coffer.create_instance({"DBInstanceIdentifier": "pg-bench", "Engine": "postgres",
                                               "Dsn": cluster.dsn, "RoleArn": coffer.role_arn})
        if coffer_error is None:
            coffer.make_bucket("bench-pg")
            target = "restored_coffer"

            def verify():
                if cluster.counts(target) != cluster.counts(PG_SOURCE_DB):
                    raise SystemExit("coffer restore: the restored database differs")
            tools.append(CofferTool(coffer, "pg-bench", "bench-pg", "bench.bak", PG_SOURCE_DB, target, args.poll,
                                    lambda: cluster.drop(target),
                                    lambda: int(cluster.psql(f"SELECT pg_database_size('{target}')")), verify))
        else:
            say(f"   coffer: CreateDBInstance with Engine postgres refused: {coffer_error}")
        cipher_pass = secrets.token_hex(24)
        tools += [PgDumpTool(cluster, peers_dir),
                  PgBackRestTool(cluster, pgbr_base, "gz-6, 1 process", []),
                  PgBackRestTool(cluster, pgbr_base, "zst+aes, 2 processes",
                                 ["compress-type=zst", "process-max=2", "repo1-cipher-type=aes-256-cbc",
                                  f"repo1-cipher-pass={cipher_pass}"])]
        results = Results()
        say(f"   database {PG_SOURCE_DB}: {size:,} bytes (pg_database_size); cluster base+global {cluster_size:,} "
            f"bytes; best of {args.runs} rounds")
        say(f"   {uptime()}")
        def drop_restored():
            # The restored databases of the previous round live in the cluster pgBackRest
            # copies: they go before any backup runs.
            for db in ("restored_coffer", "restored_pgdump"):
                cluster.drop(db)
            cluster.psql("CHECKPOINT")
        run_rounds("postgres", tools, args.runs, results, extra_roots=[cluster.postmaster_pid()],
                   before_round=drop_restored)
        say(f"   {uptime()}")
        notes = [
            "coffer: FULL backup task (pg_dump --format=custom --compress=0 piped into zstd + AES-256-GCM under a "
            "KMS key) into a file bucket; restore task = pg_restore into a new database",
            "coffer peak RSS: max VmRSS sampled every 20 ms during the task, of the server alone and of the server "
            "with its children (pg_dump / pg_restore)",
            "pg_dump -Fc: default compression (gzip level 6 in 15); pg_restore: CREATE DATABASE + pg_restore "
            "--no-owner, one job",
            f"pgbackrest {check(['pgbackrest', 'version']).split()[1]}: full backup of the whole cluster into a fresh "
            "repository (output = its backup directory), start-fast=y; restore into an empty directory (not started)",
            "peak RSS of the peers: GNU time (largest client process; the server's backends are not counted)",
            f"the cluster runs with fsync={cluster.psql('SHOW fsync')} (pg-test-server.sh): restores into "
            "PostgreSQL are not synced, for coffer and pg_restore alike",
        ]
        if coffer_error is not None:
            notes.append(f"coffer postgres: not measured, CreateDBInstance answered {coffer_error}")
        say()
        print_table(results, size, notes)
        goals.ratio("PostgreSQL backup: coffer speed / pg_dump -Fc speed", results, "coffer backup task",
                    "pg_dump -Fc", 5.0, "brief")
        goals.ratio("PostgreSQL backup: coffer speed / pgbackrest (zst+aes, 2 processes) speed", results,
                    "coffer backup task", "pgbackrest backup (zst+aes, 2 processes)", 1.0, "baselines.md")
        goals.rss("PostgreSQL: coffer peak RSS (server + children)", results,
                  ["coffer backup task", "coffer restore task"], 256, "baselines.md")
    finally:
        if pgbr_base:
            shutil.rmtree(pgbr_base, ignore_errors=True)
        if args.pg_keep or args.pg_reuse:
            for db in ("restored_coffer", "restored_pgdump"):
                try:
                    cluster.drop(db)
                except SystemExit:
                    pass
            say(f"   the cluster stays: {cluster.dir} (--pg-reuse {cluster.dir}; "
                f"scripts/pg-test-server.sh stop {cluster.dir})")
        else:
            cluster.stop()


# ---------------------------------------------------------------------------------------

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--coffer", default=os.path.join(REPO, "build", "coffer"))
    p.add_argument("--db", default=os.path.join(tempfile.gettempdir(), "coffer-bench", "bench.sqlite"))
    p.add_argument("--bytes", type=int, default=1 << 30, help="size of a generated database")
    p.add_argument("--work", default=None, help="directory for outputs (default: beside --db)")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--engines", default="sqlite,postgres")
    p.add_argument("--borg-compression", default="lz4", help="lz4 (borg's default) or zstd,1")
    p.add_argument("--poll", type=float, default=0.02, help="DescribeTasks period, seconds")
    p.add_argument("--pg-reuse", metavar="DIR", help="a cluster left by --pg-keep")
    p.add_argument("--pg-keep", action="store_true", help="leave the PostgreSQL cluster running")
    args = p.parse_args()
    engines = args.engines.split(",")
    if set(engines) - {"sqlite", "postgres"}:
        raise SystemExit("--engines: sqlite, postgres")
    needed = {"sqlite": ["zstd", "restic", "borg"], "postgres": ["pgbackrest"]}
    for engine in engines:
        for tool in needed[engine]:
            if not shutil.which(tool):
                raise SystemExit(f"{tool} is not installed (Debian: {'borgbackup' if tool == 'borg' else tool})")
    if not os.path.exists("/usr/bin/time"):
        raise SystemExit("GNU time is not installed (Debian: time)")
    if not os.access(args.coffer, os.X_OK):
        raise SystemExit(f"{args.coffer} is missing: scripts/build.sh --target coffer")
    args.db = os.path.abspath(args.db)
    if not os.path.exists(args.db):
        os.makedirs(os.path.dirname(args.db), exist_ok=True)
        say(f"generating {args.db} ({args.bytes} bytes) with {GEN} …")
        subprocess.run([sys.executable, GEN, args.db, str(args.bytes)], check=True)

    work = tempfile.mkdtemp(prefix="coffer-backup-bench-", dir=args.work or os.path.dirname(args.db))
    say(f"backup_bench: {' '.join(sys.argv)}")
    say(f"start: {uptime()}")
    say(f"coffer: {args.coffer} ({time.strftime('%Y-%m-%d %H:%M', time.localtime(os.path.getmtime(args.coffer)))}), "
        f"work directory {work}")
    goals = Goals()
    coffer = None
    try:
        coffer = Coffer(args.coffer, os.path.join(work, "data"), os.path.join(work, "server.log"))
        say(f"coffer server pid {coffer.pid}, VmRSS at start {mib(rss_bytes(coffer.pid))}")
        if "sqlite" in engines:
            sqlite_bench(args, coffer, work, goals)
        if "postgres" in engines:
            pg_bench(args, coffer, work, goals)
    finally:
        if coffer:
            coffer.stop()
        shutil.rmtree(work, ignore_errors=True)
    say("\n== Goals (best runs of this run)")
    for line in goals.lines:
        say(line)
    say(f"end: {uptime()}")
    sys.exit(1 if goals.failed else 0)


if __name__ == "__main__":
    main()
