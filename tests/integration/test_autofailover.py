"""Automatic failover with pg_auto_failover (scripts/pg ha-create: a monitor and two data
nodes, synchronous replication): the primary's machine dies (SIGKILL to its pg_autoctl and
postmaster) while clients write through gridstockd; the monitor promotes the standby,
gridstockd finds it by itself, no acknowledged write is lost, a write retried with its
request id has one effect, and the old primary rejoins as the standby."""
import threading
import time
import uuid

import grpc
import psycopg
import pytest

from gridstock.v1 import sites_pb2
from harness import ha
from harness import server as srvmod

Code = grpc.StatusCode
CREATE_SITE = "SiteService/CreateSite"

if not ha.available():  # scripts/bootstrap installs it; CI has it
    raise RuntimeError("pg_autoctl missing: run scripts/bootstrap (pg-auto-failover-cli)")


def new_site(prefix="A"):
    code = prefix + uuid.uuid4().hex[:12].upper()
    return sites_pb2.CreateSiteRequest(
        code=code, name="HA point " + code, kind="reserve_point", org_unit_code="CM02", lat=31.2, lon=107.5
    )


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError("not within %ss: %s" % (timeout, what))


@pytest.fixture(scope="module")
def formation(request):
    f = ha.Formation("gs_autofailover")
    f.env = srvmod.ModuleEnv(None, f.dbname, f.conninfo, f.keyring, f.dir)
    yield f
    failed = bool(request.session.testsfailed)
    f.destroy(keep=failed)
    if failed:
        print("[autofailover] kept %s" % f.dir)


def test_primary_machine_dies_monitor_promotes_standby_nothing_lost(formation):
    f = formation
    assert f.primary() == "node1"
    # synchronous replication, set by pg_auto_failover itself
    with psycopg.connect(f.conninfo, autocommit=True) as conn:
        assert conn.execute("SHOW synchronous_commit").fetchone()[0] == "on"
        assert "pgautofailover_standby" in conn.execute("SHOW synchronous_standby_names").fetchone()[0]
    s = srvmod.Server(f.env, db=f.conninfo, workers=3, max_calls_per_user=8).start()
    tok = s.token("admin")
    results = []  # (time sent, code, request id, request, response)
    lock = threading.Lock()
    stop = threading.Event()

    def writer(i):
        while not stop.is_set():
            req, rid = new_site(), "ha-%d-%s" % (i, uuid.uuid4().hex[:10])
            started = time.monotonic()
            resp, code, _ = s.call(CREATE_SITE, req, sites_pb2.Site, token=tok, request_id=rid, timeout=15)
            with lock:
                results.append((started, code, rid, req, resp))
            if code != Code.OK:
                time.sleep(0.05)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(3)]
    try:
        for t in threads:
            t.start()
        wait_for(lambda: sum(r[1] == Code.OK for r in results) >= 20, 30, "writes before the kill")
        f.kill("node1")
        killed = time.monotonic()
        wait_for(lambda: f.primary() == "node2", 60, "the monitor promotes node2")
        wait_for(lambda: any(r[1] == Code.OK and r[0] > killed for r in results), 30, "a write on the new primary")
        time.sleep(1)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    first_ok = min(r[0] for r in results if r[1] == Code.OK and r[0] > killed)
    print("[autofailover] writes refused for %.2fs after the kill (to the first write sent later that succeeded)"
          % (first_ok - killed))
    codes = {r[1] for r in results}
    assert codes <= {Code.OK, Code.UNAVAILABLE}, [r[:3] for r in results if r[1] not in (Code.OK, Code.UNAVAILABLE)]
    # the old primary's machine comes back: it rejoins as the standby
    f.start("node1")
    assert f.primary() == "node2"
    retried = {}
    for _, code, rid, req, _ in results:
        if code == Code.UNAVAILABLE:
            resp2, code2, details2 = s.call(CREATE_SITE, req, sites_pb2.Site, token=tok, request_id=rid)
            assert code2 == Code.OK, details2
            retried[req.code] = resp2.id
    acked = {r[3].code: r[4].id for r in results if r[1] == Code.OK}
    with psycopg.connect(f.conninfo) as conn:
        rows = conn.execute("SELECT code, id FROM sites WHERE code = ANY(%s)", (list(acked) + list(retried),)).fetchall()
    assert len(rows) == len(set(acked) | set(retried))
    assert dict(rows) == {**acked, **retried}  # every acknowledged write, each retried one once
    assert s.log_lines(event="db_reconnected")
    assert not s.log_lines(status="INTERNAL")
    rc = s.stop()
    assert rc == 0, s.log()[-4000:]
    assert s.sanitizer_report() is None
