#!/usr/bin/env python3
"""Backup and restore throughput of coffer's stream pipeline against zstd, in one run.

The benchmark database (../shared/bench/gen_sqlite.py, 1 GiB by default) goes
  backup:  coffer encrypt --compression zstd  -> s3://bench/… (a file bucket of the server)
  restore: coffer decrypt                     <- the same object, to a file
and, in the same run on the same file, the peers
  zstd -1 -T2 (to a file, then fsync)   and   zstd -d -T2 (to a file, then fsync)
(coffer's file bucket and output files are fsynced before they appear, so the peers are too).
Each is run --runs times, in alternating order (each deletes its previous output just
before it runs); the best run of each is compared. Prints MB/s
(10^6 bytes of database per second), the ratios coffer/zstd and coffer's peak RSS
(GNU time's maximum resident set size). The restored file is compared with the original.

Usage: bench/backup_stream_bench.py [--coffer build/coffer] [--db PATH] [--bytes N]
                                    [--work DIR] [--runs 4]
--db: the database to use; created with gen_sqlite.py when missing (kept for later runs).
Needs: zstd, GNU time (/usr/bin/time), python3.
"""
import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
GEN = os.path.join(os.path.dirname(REPO), "shared", "bench", "gen_sqlite.py")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, timeout=30.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"server did not become ready at {url}")


def timed(argv, env=None, stdout=None):
    """Runs argv under GNU time; returns (wall seconds, max RSS in KiB)."""
    t0 = time.perf_counter()
    r = subprocess.run(["/usr/bin/time", "-f", "RSS %M user %U sys %S"] + argv, env=env,
                       stdout=stdout, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({r.returncode}):\n{r.stderr}")
    rss = int(re.findall(r"RSS (\d+)", r.stderr)[-1])
    if os.environ.get("COFFER_BENCH_VERBOSE"):
        print(f"  {wall:6.2f} s  {r.stderr.strip().splitlines()[-1]}  {' '.join(argv[:3])}", flush=True)
    return wall, rss


def fsync_file(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def zstd_to_file(argv, out):
    """zstd writing `out`, then its fsync (as coffer's outputs are synced)."""
    t0 = time.perf_counter()
    _, rss = timed(argv + ["-o", out])
    fsync_file(out)
    return time.perf_counter() - t0, rss


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--coffer", default=os.path.join(REPO, "build", "coffer"))
    p.add_argument("--db", default=os.path.join(tempfile.gettempdir(), "coffer-bench", "bench.sqlite"))
    p.add_argument("--bytes", type=int, default=1 << 30, help="size of a generated database")
    p.add_argument("--work", default=None, help="directory for outputs (default: beside --db)")
    p.add_argument("--runs", type=int, default=4)
    args = p.parse_args()
    for tool in ("zstd",):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is not installed (Debian: {tool})")
    if not os.path.exists("/usr/bin/time"):
        raise SystemExit("GNU time is not installed (Debian: time)")

    if not os.path.exists(args.db):
        os.makedirs(os.path.dirname(args.db), exist_ok=True)
        print(f"generating {args.db} ({args.bytes} bytes) with {GEN} …", flush=True)
        subprocess.run([sys.executable, GEN, args.db, str(args.bytes)], check=True)
    size = os.path.getsize(args.db)
    work = tempfile.mkdtemp(prefix="coffer-backup-bench-", dir=args.work or os.path.dirname(args.db))
    data_dir = os.path.join(work, "data")
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([args.coffer, "server", "--data-dir", data_dir, "--listen", f"127.0.0.1:{port}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(endpoint + "/health")
        env = dict(os.environ, AWS_SHARED_CREDENTIALS_FILE=os.path.join(data_dir, "root-credentials"),
                   COFFER_ENDPOINT_URL=endpoint, AWS_CONFIG_FILE="/dev/null")
        out = subprocess.run([args.coffer, "kms", "create-key", "--yes", "--alias", "bench",
                              "--description", "backup stream benchmark"],
                             env=env, check=True, capture_output=True, text=True).stdout
        key = re.search(r'"Arn": "([^"]+)"', out).group(1)
        subprocess.run([args.coffer, "s3", "mb", "s3://bench", "--data-dir", data_dir], env=env, check=True,
                       capture_output=True)
        # Everything reads the database from the page cache.
        subprocess.run(["cat", args.db], stdout=subprocess.DEVNULL, check=True)

        zst = os.path.join(work, "db.zst")
        unzst = os.path.join(work, "db.unzst")
        restored = os.path.join(work, "db.restored")
        obj = "s3://bench/customers.esdk"
        results = {"zstd -1 -T2": [], "coffer backup": [], "zstd -d -T2": [], "coffer restore": []}
        rss = {"coffer backup": 0, "coffer restore": 0}
        def remove(path):
            if os.path.exists(path):
                os.remove(path)

        def zstd_compress():
            remove(zst)
            results["zstd -1 -T2"].append(zstd_to_file(["zstd", "-q", "-f", "-1", "-T2", args.db], zst)[0])

        def coffer_backup():
            subprocess.run([args.coffer, "s3", "rm", obj, "--data-dir", data_dir], env=env,
                           capture_output=True)
            wall, peak = timed([args.coffer, "encrypt", "--key-id", key, "--compression", "zstd",
                                "--encryption-context", "purpose=benchmark", "--in", args.db,
                                "--out", obj, "--data-dir", data_dir], env=env)
            results["coffer backup"].append(wall)
            rss["coffer backup"] = max(rss["coffer backup"], peak)

        def zstd_decompress():
            remove(unzst)
            results["zstd -d -T2"].append(zstd_to_file(["zstd", "-q", "-f", "-d", "-T2", zst], unzst)[0])

        def coffer_restore():
            remove(restored)
            wall, peak = timed([args.coffer, "decrypt", "--in", obj, "--out", restored,
                                "--data-dir", data_dir], env=env)
            results["coffer restore"].append(wall)
            rss["coffer restore"] = max(rss["coffer restore"], peak)

        for run in range(args.runs):
            # Each command deletes its own previous output just before it runs, and the
            # order alternates, so that neither side always gets the page cache the
            # other just freed (on a virtual machine, freshly freed memory is cheaper
            # to write into than memory the host took back).
            if run % 2 == 0:
                zstd_compress(); coffer_backup(); zstd_decompress(); coffer_restore()
            else:
                coffer_backup(); zstd_compress(); coffer_restore(); zstd_decompress()
            if subprocess.run(["cmp", "-s", args.db, restored]).returncode != 0:
                raise SystemExit("the restored database differs from the original")
        obj_size = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in
                       os.walk(os.path.join(data_dir, "buckets", "bench")) for f in fs)
        zst_size = os.path.getsize(zst)

        print(f"database: {args.db}, {size:,} bytes; best of {args.runs} runs; MB/s = 10^6 bytes of "
              f"database per second")
        print(f"outputs: zstd -1 {zst_size:,} bytes; coffer (zstd -1 + AES-256-GCM envelope) {obj_size:,} bytes")
        print(f"{'':16}{'seconds':>9}{'MB/s':>9}   all runs (s)")
        best = {}
        for name, walls in results.items():
            best[name] = min(walls)
            print(f"{name:16}{best[name]:9.2f}{size / best[name] / 1e6:9.1f}   "
                  + " ".join(f"{w:.2f}" for w in walls))
        backup_ratio = best["zstd -1 -T2"] / best["coffer backup"]
        restore_ratio = best["zstd -d -T2"] / best["coffer restore"]
        print(f"backup  / zstd -1 -T2 : {backup_ratio:.2f}x  (goal >= 0.9)")
        print(f"restore / zstd -d -T2 : {restore_ratio:.2f}x  (goal >= 0.9)")
        for name, kib in rss.items():
            print(f"peak RSS {name:15}: {kib / 1024:.1f} MiB  (limit 256)")
        ok = backup_ratio >= 0.9 and restore_ratio >= 0.9 and max(rss.values()) <= 256 * 1024
        print("goals met" if ok else "goals NOT met")
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
