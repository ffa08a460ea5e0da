#!/usr/bin/env python3
"""Signed KMS Encrypt requests per second over keep-alive connections on loopback.

Runs, in one go and on the same machine:
  1. coffer server (a fresh data directory) with TrentService.Encrypt requests signed
     by botocore's SigV4 signer, replayed by wrk;
  2. moto_server's KMS with the same kind of request (when moto_server is installed);
  3. nginx with one worker returning a fixed 200 body: the HTTP floor of this machine
     (coffer likewise runs one HTTP I/O thread unless --io-threads says otherwise);
and, on the coffer server of 1., GET /health (no signature, KMS or audit record): the
cost of coffer's own HTTP layer; and, last, the latency of one fdatasync'd 1.5 KB append on
the disk of coffer's data directory (and of one over a zero-filled file), the floor under
every durable answer. It prints requests/s, p50 and p99 of each, the CPU time
the server (all its threads and processes) and wrk spent per request, coffer's CPU per
Encrypt split by thread (HTTP, audit journal, audit index), and coffer's ratios to the
others; with several connection counts, each is measured in turn, and a line per
count says whether coffer reached the goal (>= 0.5x nginx with p99 < 2 ms).
With --stall-probe, bench/vcpu_stall_probe (built next to coffer) runs beside each wrk run
and counts the times the machine itself stood still for more than 2 ms (a real-time thread
per CPU woke that late), on every CPU at once and on each: on a virtual machine, the host
not running its CPUs. Its wake-ups cost coffer 4-8% of its requests/s on a 2-CPU machine,
so it is off unless asked for.

Usage: bench/endpoint_bench.py [--coffer build/coffer] [--duration 10] [--connections 8[,16,...]]
                               [--data-dir-base DIR] [--coffer-only] [--io-threads 1]
                               [--stall-probe [build/bench/vcpu_stall_probe]]
       bench/endpoint_bench.py --disk-vs-tmpfs DIR [--connections 64] [--rounds 3] [--stall-probe]
--data-dir-base puts coffer's data directory (state store and audit journal, which syncs
every batch) under DIR instead of the temporary directory: compare a disk with /dev/shm to
see what the journal's fsync costs. --coffer-only skips moto_server and nginx.
--disk-vs-tmpfs DIR does that comparison in one run: coffer alone, its data directory under
DIR and under /dev/shm in turn, and prints the best of each and the ratio.
Needs: wrk, nginx, python3 with botocore (Debian: wrk nginx-light python3-boto3).
A signed request is valid for 5 minutes (the JSON clock-skew window), so a request is
signed anew for each run.
"""
import argparse
import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

REGION = "us-east-1"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, timeout=30.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status < 500:
                    return
        except Exception:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def read_credentials(path):
    text = open(path).read()
    akid = re.search(r"aws_access_key_id\s*=\s*(\S+)", text).group(1)
    secret = re.search(r"aws_secret_access_key\s*=\s*(\S+)", text).group(1)
    return Credentials(akid, secret)


def kms_client(endpoint, creds):
    session = botocore.session.get_session()
    return session.create_client(
        "kms", region_name=REGION, endpoint_url=endpoint,
        aws_access_key_id=creds.access_key, aws_secret_access_key=creds.secret_key)


def signed_encrypt(endpoint, creds, key_id):
    body = json.dumps({"KeyId": key_id,
                       "Plaintext": base64.b64encode(b"customer record 0001").decode()})
    request = AWSRequest(method="POST", url=endpoint + "/", data=body, headers={
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "TrentService.Encrypt",
    })
    SigV4Auth(creds, "kms", REGION).add_auth(request)
    return body, dict(request.headers.items())


def wrk_script(path, body, headers):
    with open(path, "w") as f:
        f.write('wrk.method = "POST"\n')
        f.write("wrk.body = %s\n" % json.dumps(body))
        for name, value in headers.items():
            if name.lower() in ("host", "content-length"):
                continue  # wrk sets both; Host is the same host:port
            value = value.decode() if isinstance(value, bytes) else value
            f.write("wrk.headers[%s] = %s\n" % (json.dumps(name), json.dumps(value)))
        # No response() callback: it would slow wrk down; wrk counts non-2xx answers.


def parse_wrk(output):
    def latency(label):
        m = re.search(r"^\s*%s%%\s+([\d.]+)(us|ms|s)\s*$" % label, output, re.M)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000.0 if unit == "us" else value * 1000.0 if unit == "s" else value
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    non200 = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors:.*", output)
    return {"rps": rps, "requests": requests, "p50": latency("50"), "p99": latency("99"),
            "non2xx": int(non200.group(1)) if non200 else 0,
            "socket_errors": errors.group(0) if errors else ""}


def read_stat(path):
    """(name, user + system CPU seconds) from a /proc/.../stat file."""
    with open(path) as f:
        head, rest = f.read().rsplit(")", 1)
    fields = rest.split()
    return head.split("(", 1)[1], (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """User + system CPU of process `pid` and its child processes (nginx's worker)."""
    total, pids = 0.0, [pid]
    while pids:
        p = pids.pop()
        try:
            total += read_stat("/proc/%d/stat" % p)[1]
            for task in os.listdir("/proc/%d/task" % p):
                with open("/proc/%d/task/%s/children" % (p, task)) as f:
                    pids.extend(int(c) for c in f.read().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def thread_cpu_seconds(pid):
    """User + system CPU of each thread of process `pid`, summed by thread name."""
    by_name = {}
    try:
        tasks = os.listdir("/proc/%d/task" % pid)
    except FileNotFoundError:
        return by_name
    for task in tasks:
        try:
            name, seconds = read_stat("/proc/%d/task/%s/stat" % (pid, task))
        except (FileNotFoundError, ProcessLookupError):
            continue  # the thread ended meanwhile
        by_name[name] = by_name.get(name, 0.0) + seconds
    return by_name


def run_wrk(url, script, args, server_pid):
    """wrk's figures, plus the CPU time the server (in all, and by thread name) and wrk
    spent per request."""
    cmd = ["wrk", "-t1", "-c%d" % args.connections, "-d%ds" % args.duration, "--latency", url]
    if script:
        cmd[1:1] = ["-s", script]
    server_before = cpu_seconds(server_pid)
    threads_before = thread_cpu_seconds(server_pid)
    wrk = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    probe = None
    if args.stall_probe:
        # Over all of wrk's run but its last second (the probe must end first).
        probe = subprocess.Popen([args.stall_probe, str(max(1, args.duration - 1))],
                                 stdout=subprocess.PIPE, text=True)
    out = wrk.stdout.read()
    _, status, usage = os.wait4(wrk.pid, 0)
    stalls = json.loads(probe.communicate()[0]) if probe else None
    if os.waitstatus_to_exitcode(status) != 0:
        raise subprocess.CalledProcessError(os.waitstatus_to_exitcode(status), cmd, out)
    server_cpu = cpu_seconds(server_pid) - server_before
    threads_after = thread_cpu_seconds(server_pid)
    r = parse_wrk(out)
    per_request = lambda seconds: seconds / r["requests"] * 1e6 if r["requests"] else 0.0
    r["server_us"] = per_request(server_cpu)
    r["threads_us"] = {name: per_request(cpu - threads_before.get(name, 0.0))
                       for name, cpu in sorted(threads_after.items())}
    r["wrk_us"] = per_request(usage.ru_utime + usage.ru_stime)
    r["stalls"] = stalls
    return r


STALLS_HEADING = "wake-ups more than 2 ms late (vcpu_stall_probe, real-time, one per CPU)"


def describe_stalls(s):
    """vcpu_stall_probe's figures in a few words."""
    if s is None:
        return "not measured"
    text = "%d times on every CPU at once" % s["all_cpus_late"]
    if s["all_cpus_late"]:
        text += ", %.0f ms in all (%.1f%% of %.0f s), the longest %.1f ms" % (
            s["all_cpus_late_ms"], s["all_cpus_late_ms"] / (10 * s["seconds"]), s["seconds"],
            s["all_cpus_longest_ms"])
    text += "; on one CPU " + " + ".join(str(n) for n in s["late_per_cpu"])
    return text if s["realtime"] else text + " (not real-time: waits for a CPU count too)"


def bench_coffer(args, work, health=True):
    """(Encrypt's figures, GET /health's on the same server or None)."""
    base = work
    if args.data_dir_base:
        base = tempfile.mkdtemp(prefix="coffer-bench-", dir=args.data_dir_base)
    data_dir = os.path.join(base, "coffer-data")
    port = free_port()
    endpoint = "http://127.0.0.1:%d" % port
    server = subprocess.Popen([args.coffer, "server", "--data-dir", data_dir,
                               "--listen", "127.0.0.1:%d" % port,
                               "--io-threads", str(args.io_threads)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(endpoint + "/health")
        creds = read_credentials(os.path.join(data_dir, "root-credentials"))
        key = kms_client(endpoint, creds).create_key(Description="bench")["KeyMetadata"]["Arn"]
        body, headers = signed_encrypt(endpoint, creds, key)
        script = os.path.join(work, "coffer.lua")
        wrk_script(script, body, headers)
        encrypt = run_wrk(endpoint + "/", script, args, server.pid)
        # The same server answering GET /health (no signature, no KMS, no audit record):
        # what its HTTP layer costs, to set against nginx and against Encrypt.
        floor = run_wrk(endpoint + "/health", None, args, server.pid) if health else None
        return encrypt, floor
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        if base != work:
            shutil.rmtree(base, ignore_errors=True)


def bench_moto(args, work):
    moto = shutil.which("moto_server")
    if not moto:
        return None
    port = free_port()
    endpoint = "http://127.0.0.1:%d" % port
    server = subprocess.Popen([moto, "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(endpoint + "/moto-api/")
        creds = Credentials("AKIDEXAMPLE", "secret")
        key = kms_client(endpoint, creds).create_key(Description="bench")["KeyMetadata"]["Arn"]
        body, headers = signed_encrypt(endpoint, creds, key)
        script = os.path.join(work, "moto.lua")
        wrk_script(script, body, headers)
        return run_wrk(endpoint + "/", script, args, server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)


def start_nginx(work):
    """nginx with one worker answering a fixed 200 body: (process, port), or None when nginx is
    not installed."""
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if not nginx:
        return None
    port = free_port()
    prefix = os.path.join(work, "nginx")
    os.makedirs(os.path.join(prefix, "logs"), exist_ok=True)
    conf = os.path.join(prefix, "nginx.conf")
    with open(conf, "w") as f:
        f.write("""worker_processes 1;
daemon off;
pid %(p)s/nginx.pid;
error_log %(p)s/logs/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path %(p)s/body;
  proxy_temp_path %(p)s/proxy;
  fastcgi_temp_path %(p)s/fastcgi;
  uwsgi_temp_path %(p)s/uwsgi;
  scgi_temp_path %(p)s/scgi;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:%(port)d;
    location / { default_type application/json; return 200 '{"ok":true}'; }
  }
}
""" % {"p": prefix, "port": port})
    server = subprocess.Popen([nginx, "-p", prefix, "-c", conf],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http("http://127.0.0.1:%d/" % port)
    except Exception:
        server.terminate()
        server.wait(timeout=30)
        raise
    return server, port


def bench_nginx(args, work):
    started = start_nginx(work)
    if not started:
        return None
    server, port = started
    try:
        return run_wrk("http://127.0.0.1:%d/" % port, None, args, server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)


def timed_appends(path, record, count=None, seconds=None, over_zeros=False):
    """Writes of `record` bytes to a new file at `path`, each followed by fdatasync, one at a
    time, `count` of them or for `seconds`: each one's time in ms, sorted. over_zeros: into a
    file of `count` records' zeros, written and synced first (the size, and so the inode, do not
    change), rather than appended."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        if over_zeros:
            os.write(fd, bytes(count * record))
            os.fsync(fd)
            os.lseek(fd, 0, os.SEEK_SET)
        payload = os.urandom(record)
        times = []
        end = time.perf_counter() + seconds if seconds else None
        while (len(times) < count) if count else (time.perf_counter() < end):
            start = time.perf_counter()
            os.write(fd, payload)
            os.fdatasync(fd)
            times.append((time.perf_counter() - start) * 1000.0)
    finally:
        os.close(fd)
        os.unlink(path)
    return sorted(times)


def fdatasync_under_load(base, work, seconds=5, record=1536):
    """The same appends while wrk drives nginx with 64 connections, so that both CPUs are busy
    as in a benchmark run: an fdatasync's time then includes the wait for a CPU when its write is
    done, which the journal writer pays too. (p50 ms, p99 ms, max ms, appends, appends over 2 ms),
    or None without nginx."""
    started = start_nginx(work)
    if not started:
        return None
    server, port = started
    try:
        wrk = subprocess.Popen(["wrk", "-t1", "-c64", "-d%ds" % (seconds + 2),
                                "http://127.0.0.1:%d/" % port],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(1)
            times = timed_appends(os.path.join(base, "fdatasync-under-load"), record,
                                  seconds=seconds)
        finally:
            wrk.wait(timeout=seconds + 30)
    finally:
        server.terminate()
        server.wait(timeout=30)
    slow = sum(1 for t in times if t > 2.0)
    return (times[len(times) // 2], times[min(len(times) - 1, len(times) * 99 // 100)], times[-1],
            len(times), slow)


def fdatasync_floor(base, count=1000, record=1536):
    """What durability costs on this disk, measured as the journal pays it: `count` appends of
    `record` bytes, each followed by fdatasync, one at a time (no load beside it), in a file
    under `base`; then the same writes over a file already zero-filled and synced (the size,
    and so the inode, do not change). Returns {name: (p50 ms, p99 ms, max ms)}."""
    def timed(path, over_zeros):
        times = timed_appends(path, record, count=count, over_zeros=over_zeros)
        return times[len(times) // 2], times[min(len(times) - 1, len(times) * 99 // 100)], times[-1]
    path = os.path.join(base, "fdatasync-floor")
    return {"appends": timed(path, False), "overwrites of zeros": timed(path, True)}


def disk_vs_tmpfs(args):
    """Every answer waits for its audit record's fsync: on a tmpfs the fsync costs nothing."""
    places = [("disk (%s)" % args.disk_vs_tmpfs, args.disk_vs_tmpfs), ("tmpfs (/dev/shm)", "/dev/shm")]
    runs = {name: [] for name, _ in places}
    with tempfile.TemporaryDirectory(prefix="coffer-bench-") as work:
        for round_ in range(args.rounds):
            order = places if round_ % 2 == 0 else list(reversed(places))
            for name, base in order:
                args.data_dir_base = base
                r, _ = bench_coffer(args, work, health=False)
                if r["non2xx"]:
                    print("INVALID: coffer answered %d requests with an error" % r["non2xx"])
                    return 1
                runs[name].append(r)
    print("wrk -t1 -c%d -d%ds, loopback, signed TrentService.Encrypt, every answer after its "
          "durable audit record; %d rounds, alternating" % (args.connections, args.duration, args.rounds))
    print("%-28s %12s %10s %10s   %s" % ("data directory", "best req/s", "p50 ms", "p99 ms", "all runs"))
    best = {}
    for name, results in runs.items():
        b = max(results, key=lambda r: r["rps"])
        best[name] = b["rps"]
        print("%-28s %12.0f %10.3f %10.3f   %s" % (name, b["rps"], b["p50"], b["p99"],
                                                   " ".join("%.0f" % r["rps"] for r in results)))
    if args.stall_probe:
        print(STALLS_HEADING + ", each run:")
        for name, results in runs.items():
            for r in results:
                print("  %-26s %s" % (name, describe_stalls(r["stalls"])))
    disk, tmpfs = (best[name] for name, _ in places)
    print("disk / tmpfs: %.2fx (goal >= 0.8)" % (disk / tmpfs))
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--coffer", default="build/coffer")
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", default="8",
                        help="connections, or a comma-separated list measured in turn")
    parser.add_argument("--data-dir-base", default="",
                        help="create coffer's data directory under this directory")
    parser.add_argument("--coffer-only", action="store_true",
                        help="measure coffer only (not moto_server and nginx)")
    parser.add_argument("--disk-vs-tmpfs", metavar="DISK_DIR", default="",
                        help="measure coffer alone with its data directory under DISK_DIR (a "
                             "disk) and under /dev/shm (tmpfs), alternating, --rounds times each, "
                             "and print both and their ratio")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--io-threads", type=int, default=1,
                        help="coffer's HTTP I/O threads (default 1, as nginx's one worker: on a "
                             "machine shared with wrk a second one mostly adds preemption)")
    parser.add_argument("--stall-probe", nargs="?", const="", default=None, metavar="PROBE",
                        help="run vcpu_stall_probe beside wrk (default PROBE: bench/ beside "
                             "--coffer) and print how often the machine stood still")
    args = parser.parse_args()
    if args.stall_probe == "":
        args.stall_probe = os.path.join(os.path.dirname(os.path.abspath(args.coffer)), "bench",
                                        "vcpu_stall_probe")
    if args.stall_probe and not os.access(args.stall_probe, os.X_OK):
        sys.exit("%s is not built (scripts/build.sh --target vcpu_stall_probe)" % args.stall_probe)
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (Debian package wrk)")
    if args.disk_vs_tmpfs:
        args.connections = int(args.connections)
        return disk_vs_tmpfs(args)
    counts = [int(c) for c in str(args.connections).split(",")]
    status = 0
    summary = []
    for connections in counts:
        args.connections = connections
        with tempfile.TemporaryDirectory(prefix="coffer-bench-") as work:
            encrypt, health = bench_coffer(args, work)
            results = {"coffer": encrypt,
                       "coffer GET /health": health,
                       "moto_server": None if args.coffer_only else bench_moto(args, work),
                       "nginx (fixed 200)": None if args.coffer_only else bench_nginx(args, work)}
        print("wrk -t1 -c%d -d%ds, loopback, signed TrentService.Encrypt (32 B plaintext)"
              % (connections, args.duration))
        print("%-20s %12s %10s %10s %8s %14s %11s" % ("server", "req/s", "p50 ms", "p99 ms",
                                                      "non-2xx", "server CPU/req", "wrk CPU/req"))
        for name, r in results.items():
            if r is None:
                print("%-20s %12s" % (name, "skipped" if args.coffer_only else "not installed"))
                continue
            print("%-20s %12.0f %10.3f %10.3f %8d %11.1f us %8.1f us" % (
                name, r["rps"], r["p50"], r["p99"], r["non2xx"], r["server_us"], r["wrk_us"]))
        # Whether the machine itself stood still meanwhile (on a virtual machine, the host
        # not running its CPUs): a request in flight then waits as long, whatever the server.
        if args.stall_probe:
            print("  " + STALLS_HEADING + ":")
            for name, r in results.items():
                if r is not None:
                    print("    %-20s %s" % (name, describe_stalls(r["stalls"])))
        # Where coffer's CPU per Encrypt goes: its HTTP threads (request handling), the
        # audit journal's writer (record encoding, write, fdatasync, answering the batch)
        # and the audit index.
        coffer = results["coffer"]
        print("  coffer server CPU/req by thread: " +
              ", ".join("%s %.1f us" % (n, us) for n, us in coffer["threads_us"].items()
                        if us >= 0.05))
        for name in ("moto_server", "nginx (fixed 200)"):
            if results[name]:
                print("coffer / %-18s %.2fx" % (name, coffer["rps"] / results[name]["rps"]))
        if coffer["non2xx"]:
            print("INVALID: coffer answered %d requests with an error" % coffer["non2xx"])
            status = 1
        nginx = results["nginx (fixed 200)"]
        if nginx:
            ratio = coffer["rps"] / nginx["rps"]
            met = ratio >= 0.5 and coffer["p99"] < 2.0
            summary.append("%s  c%-4d coffer/nginx %.2fx (goal >= 0.5x), coffer p99 %.2f ms "
                           "(goal < 2 ms)" % ("PASS" if met else "FAIL", connections, ratio,
                                              coffer["p99"]))
        print()
    # The disk's own floor, as coffer's data directory sees it: every Encrypt above waited
    # for at least one such sync (group commit shares it among the calls of a batch).
    base = args.data_dir_base or tempfile.gettempdir()
    print("fdatasync of %d-byte records under %s, one at a time (the first two with no other "
          "load):" % (1536, base))
    for name, (p50, p99, worst) in fdatasync_floor(base).items():
        print("  %-20s p50 %.3f ms, p99 %.3f ms, max %.3f ms" % (name, p50, p99, worst))
    # The same appends with both CPUs busy, as they are in the runs above: the p99 of a durable
    # answer can be no better than the p99 of the sync it waits for.
    if not args.coffer_only:
        with tempfile.TemporaryDirectory(prefix="coffer-bench-") as work:
            loaded = fdatasync_under_load(base, work)
        if loaded:
            p50, p99, worst, n, slow = loaded
            print("  %-20s p50 %.3f ms, p99 %.3f ms, max %.3f ms; %d of %d (%.2f%%) over 2 ms" % (
                "appends, CPUs busy", p50, p99, worst, slow, n, 100.0 * slow / n))
            print("  (while wrk -c64 drives nginx: a sync then also waits for a CPU to run its "
                  "writer)")
    for line in summary:
        print(line)
    return status


if __name__ == "__main__":
    sys.exit(main())
