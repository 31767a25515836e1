#!/usr/bin/python3
"""bench/audit_seal.py — what the keyed audit chain costs (issue 16), on a private cluster:
inserting 10,000 audit rows (with the audit_log_fill trigger of migration 040), sealing
them (`gridstockd audit seal`: reading the rows, HMAC-SHA256 in C, one set-based INSERT
through audit_seal_append), the database time of that INSERT alone, and verifying the
whole chain (`gridstockd audit verify`). Three rounds; the chain grows 10,000 a round.

    bench/audit_seal.py [--rounds N]      (GS_BUILD_DIR: the build, default build/)"""
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
os.environ.setdefault("GS_BUILD_DIR", os.path.join(ROOT, "build"))
os.environ.setdefault("GS_SOURCE_DIR", ROOT)

import psycopg  # noqa: E402

from harness import paths  # noqa: E402
from harness import pg as pgmod  # noqa: E402


def main():
    rounds = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else 3
    c = pgmod.Cluster()
    with open(os.path.join(c.data, "postgresql.auto.conf"), "a") as f:
        f.write("shared_preload_libraries = 'pg_stat_statements'\n")
    c.start()
    try:
        c.createdb("bench")
        ci = c.conninfo("bench")
        paths.run([paths.GRIDSTOCKD, "migrate", "--db", ci], env=paths.sanitizer_env())
        c.psql("bench", "INSERT INTO org_units (code, name, kind) VALUES ('DC', 'District', 'district');"
                        " INSERT INTO users (login, display_name, role, scope_id) VALUES ('admin', 'a', 'admin', 1);"
                        " CREATE EXTENSION IF NOT EXISTS pg_stat_statements;")
        keys = os.path.join(c.dir, "audit-keys")
        pgmod.make_keyring(keys, kid="a1")
        db = psycopg.connect(ci, autocommit=True)
        print("round  insert 10k rows  seal 10k (wall)  audit_seal_append (db)  verify chain (wall)")
        for n in range(1, rounds + 1):
            t = time.time()
            db.execute("INSERT INTO audit_log (user_id, login, role, method, object, request_id, summary, changes)"
                       " SELECT 1, 'admin', 'admin', '/gridstock.v1.SiteService/UpdateSite', 'site:' || g, 'r' || g,"
                       " 'updated site S' || g || ': name', jsonb_build_array(jsonb_build_object('t', 'sites',"
                       " 'op', 'update', 'id', g, 'set', jsonb_build_object('name', jsonb_build_array('a', 'b'))))"
                       " FROM generate_series(1, 10000) g")
            ins = time.time() - t
            t = time.time()
            cmd = [paths.GRIDSTOCKD, "audit", "seal", "--db", ci, "--audit-keys", keys]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
            seal = time.time() - t
            assert out == "sealed 10000 audit rows", out
            t = time.time()
            cmd = [paths.GRIDSTOCKD, "audit", "verify", "--db", ci, "--audit-keys", keys]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            verify = time.time() - t
            assert out.startswith("ok: %d seals" % (10000 * n)), out
            append_ms = 0.0
            try:
                append_ms = db.execute("SELECT sum(total_exec_time) FROM pg_stat_statements"
                                       " WHERE query LIKE 'SELECT audit_seal_append%%'").fetchone()[0] or 0
                db.execute("SELECT pg_stat_statements_reset()")
            except psycopg.Error:
                pass
            print("%5d  %13.2f s  %13.2f s  %19.0f ms  %15.2f s (%d seals)"
                  % (n, ins, seal, append_ms, verify, 10000 * n))
    finally:
        c.stop("immediate")
        c.destroy()


if __name__ == "__main__":
    main()
