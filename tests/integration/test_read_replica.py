"""The report replica (`db_read`): reads the method table does not mark reads_own_writes go to
a streaming standby, the rest (writes, GetSite, WhoAmI, ...) to the primary; its replay lag
shows in metrics and `gridstockd check`; reads fall back to the primary when the replica
is down; and a write that reaches a read-only database is UNAVAILABLE with a reason."""
import os
import shutil
import tempfile
import time
import types
import uuid

import grpc
import pytest

from google.rpc import error_details_pb2 as E
from gridstock.v1 import sites_pb2
from harness import paths
from harness import pg as pgmod
from harness import server as srvmod

import opslib

Code = grpc.StatusCode


def new_site():
    code = "RR" + uuid.uuid4().hex[:10].upper()
    return sites_pb2.CreateSiteRequest(
        code=code, name="Replica point " + code, kind="reserve_point", org_unit_code="CM02", lat=31.2, lon=107.5
    )


def listed(s, tok, name):
    resp, code, details = s.call("SiteService/ListSites", sites_pb2.ListSitesRequest(name=name),
                                 sites_pb2.ListSitesResponse, token=tok)
    assert code == Code.OK, details
    return [x.code for x in resp.sites]


@pytest.fixture(scope="module")
def pair(request):
    primary = pgmod.Cluster()
    primary.start()
    standby = None
    workdir = tempfile.mkdtemp(prefix="gs-replica-", dir="/tmp")
    try:
        dbname = "gs_read_replica"
        conninfo = pgmod.prepare_database(primary, dbname)
        standby = pgmod.standby_of(primary, "gs_replica")
        keyring = os.path.join(workdir, "keyring")
        pgmod.make_keyring(keyring)
        os.chmod(keyring, 0o600)
        env = srvmod.ModuleEnv(primary, dbname, conninfo, keyring, workdir)
        yield types.SimpleNamespace(primary=primary, standby=standby, env=env, conninfo=conninfo,
                                    replica=standby.conninfo(dbname))
    finally:
        failed = request.session.testsfailed
        for c in (primary, standby):
            if c is not None:
                c.destroy(keep_logs=bool(failed))
        if not failed:
            shutil.rmtree(workdir, ignore_errors=True)


def test_reads_go_to_the_replica_writes_and_own_reads_to_the_primary(pair):
    s = srvmod.Server(pair.env, db_read=pair.replica, metrics_listen="127.0.0.1:0").start()
    try:
        port = opslib.metrics_port(s)
        tok = s.token("admin")
        first = s.call_ok("SiteService/CreateSite", new_site(), sites_pb2.Site, token=tok)
        opslib.wait_for(lambda: first.code in listed(s, tok, first.name), what="the replica replays the write")
        pair.standby.psql(pair.env.dbname, "SELECT pg_wal_replay_pause()")
        try:
            req = new_site()
            site = s.call_ok("SiteService/CreateSite", req, sites_pb2.Site, token=tok)
            time.sleep(0.5)
            # a list is a report: served by the paused replica, it does not show the site yet
            assert listed(s, tok, req.name) == []
            # fetching what one just wrote reads the primary
            got = s.call_ok("SiteService/GetSite", sites_pb2.GetSiteRequest(id=site.id), sites_pb2.Site, token=tok)
            assert got.code == req.code
            # the lag is measured and exported
            opslib.wait_for(lambda: opslib.value(opslib.scrape(port), "gridstock_db_read_lag_seconds") > 0.5,
                            what="replica lag in metrics")
            p = paths.run([paths.GRIDSTOCKD, "check", "--db", pair.conninfo, "--db-read", pair.replica,
                           "--token-keys", pair.env.keyring], check=False, env=paths.sanitizer_env())
            line = [l for l in p.stdout.splitlines() if "db_read" in l]
            assert line and "replay lag" in line[0] and not line[0].startswith("PROBLEM"), p.stdout
            assert float(line[0].split("replay lag ")[1].split()[0]) > 0, line
        finally:
            pair.standby.psql(pair.env.dbname, "SELECT pg_wal_replay_resume()")
        opslib.wait_for(lambda: listed(s, tok, req.name) == [req.code], what="the replica catches up")
        opslib.wait_for(lambda: opslib.value(opslib.scrape(port), "gridstock_db_read_lag_seconds") == 0,
                        what="no lag once caught up")
        # the replica goes away: reads fall back to the primary
        pair.standby.stop("immediate")
        try:
            assert listed(s, tok, req.name) == [req.code]
            assert listed(s, tok, first.name) == [first.code]
            p = paths.run([paths.GRIDSTOCKD, "check", "--db", pair.conninfo, "--db-read", pair.replica,
                           "--token-keys", pair.env.keyring], check=False, env=paths.sanitizer_env())
            assert p.returncode != 0 and "PROBLEM db_read" in p.stdout.replace(":", ""), p.stdout
        finally:
            pair.standby.start()
        assert not s.log_lines(status="INTERNAL")
    finally:
        assert s.stop() == 0, s.log()[-3000:]


def test_a_write_on_a_read_only_database_is_unavailable_with_a_reason(pair):
    # a server pointed at the standby itself, as a misconfiguration would
    s = srvmod.Server(pair.env, db=pair.replica + " target_session_attrs=any", migrate=False).start()
    try:
        tok = pair.env.token("admin")  # minted on the primary
        code, details, status = s.call_status("SiteService/CreateSite", new_site(), token=tok)
        assert code == Code.UNAVAILABLE, (code, details)
        assert "read-only" in details
        info = E.ErrorInfo()
        assert any(a.Unpack(info) for a in status.details if a.Is(E.ErrorInfo.DESCRIPTOR))
        assert info.reason == "DATABASE_UNAVAILABLE"
        assert not s.log_lines(status="INTERNAL")
    finally:
        assert s.stop() == 0, s.log()[-3000:]
