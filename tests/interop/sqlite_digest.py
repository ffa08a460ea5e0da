#!/usr/bin/env python3
"""Prints "table rows digest" for every table of a SQLite file (read only), then
"CHECK result" for CHECK = quick_check or integrity_check. Two databases with the same
rows print the same lines. Usage: sqlite_digest.py PATH CHECK"""
import hashlib
import sqlite3
import sys

path, check = sys.argv[1], sys.argv[2]
if check not in ("quick_check", "integrity_check"):
    sys.exit("CHECK must be quick_check or integrity_check")
c = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
tables = c.execute("select name from sqlite_master where type = 'table' and name not like 'sqlite_%' "
                   "order by name").fetchall()
for (t,) in tables:
    h, n = hashlib.sha256(), 0
    for row in c.execute(f'select * from "{t}" order by rowid'):
        for v in row:
            h.update(v if isinstance(v, bytes) else repr(v).encode())
            h.update(b"\0")
        n += 1
    print(t, n, h.hexdigest()[:20])
print(check, c.execute(f"pragma {check}").fetchone()[0])
