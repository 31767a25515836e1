"""A plain pg_dump / pg_restore round trip with PostgreSQL's own tools (what an operator
restoring onto a new machine or a standby does): pg_restore alone, exit 0, no error; the
nearest-site index is rebuilt (site_earth, migration 080) and used; the data is the same and
the server answers NearestSites on the restored copy."""
import os

import psycopg

from gridstock.v1 import sites_pb2
from harness import paths

TABLES = ("org_units", "users", "sites", "items", "lots", "stock_movements", "fund_postings", "audit_log")


def counts(conninfo):
    with psycopg.connect(conninfo) as conn:
        return {t: conn.execute("SELECT count(*) FROM %s" % t).fetchone()[0] for t in TABLES}


def test_pg_restore_alone_restores_a_dump(server, pg, gs_env, tmp_path):
    dump = tmp_path / "gridstock.dump"
    conn = ["-h", pg.host, "-p", str(pg.port), "-U", pg.user]
    paths.run([paths.pg_tool("pg_dump"), "-Fc", "-f", str(dump)] + conn + [gs_env.dbname])
    restored = gs_env.dbname + "_plain"
    pg.createdb(restored)
    p = paths.run([paths.pg_tool("pg_restore"), "--exit-on-error", "--single-transaction", "-d", restored]
                  + conn + [str(dump)], check=False, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "error" not in p.stderr.lower(), p.stderr[-3000:]
    assert counts(pg.conninfo(restored)) == counts(gs_env.conninfo)
    with psycopg.connect(pg.conninfo(restored)) as c:
        idx = c.execute("SELECT pg_get_indexdef('sites_earth'::regclass)").fetchone()[0]
        assert "site_earth(lat, lon)" in idx, idx
        valid = c.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = 'sites_earth'::regclass").fetchone()[0]
        assert valid
        c.execute("SET enable_seqscan = off")
        plan = "\n".join(r[0] for r in c.execute(
            "EXPLAIN SELECT id FROM sites s ORDER BY site_earth(s.lat, s.lon) <-> ll_to_earth(31.0, 107.5) LIMIT 3"))
        assert "sites_earth" in plan, plan
    s = server.start_server(db=pg.conninfo(restored), migrate=False)
    try:
        resp = s.call_ok("SiteService/NearestSites", sites_pb2.NearestSitesRequest(lat=31.2, lon=107.5, limit=3),
                         sites_pb2.NearestSitesResponse, login="admin")
        assert len(resp.results) == 3
        d = [r.distance_m for r in resp.results]
        assert d == sorted(d)
    finally:
        assert s.stop() == 0, s.log()[-3000:]
    pg.dropdb(restored)
