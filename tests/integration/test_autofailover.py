"""Automatic failover with pg_auto_failover (scripts/pg ha-create: a monitor and two data
nodes, synchronous replication): the primary's machine dies (SIGKILL to its pg_autoctl and
postmaster) while clients write through gridstockd; the monitor promotes the standby,
gridstockd finds it by itself, no acknowledged write is lost, a write retried with its
request id has one effect, and the old primary rejoins as the standby."""
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import types
import uuid
import pwd

import grpc
import psycopg
import pytest

from gridstock.v1 import sites_pb2
from harness import paths
from harness import pg as pgmod
from harness import server as srvmod

Code = grpc.StatusCode
CREATE_SITE = "SiteService/CreateSite"
SCRIPT = os.path.join(paths.SOURCE_DIR, "scripts", "pg")

if not shutil.which("pg_autoctl"):  # scripts/bootstrap installs it; CI has it
    raise RuntimeError("pg_autoctl missing: run scripts/bootstrap (pg-auto-failover-cli)")


def pg_script(*args, env=None):
    e = dict(os.environ, **(env or {}))
    return subprocess.run([SCRIPT] + list(args), check=True, capture_output=True, text=True, env=e,
                          timeout=300).stdout


def three_free_ports():
    for _ in range(50):
        base = paths.free_port()
        if base > 65000:
            continue
        ok = True
        for p in (base, base + 1, base + 2):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", p))
                except OSError:
                    ok = False
        if ok:
            return base
    raise RuntimeError("no three consecutive free ports")


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
    d = tempfile.mkdtemp(prefix="gs-ha-", dir="/tmp")
    if paths.IS_ROOT:
        pw = pwd.getpwnam("postgres")
        os.chown(d, pw.pw_uid, pw.pw_gid)
    try:
        dbname = "gs_autofailover"
        conninfo = pg_script("ha-create", d, str(three_free_ports()), dbname, env={"GS_HA_FAST": "1"}).strip()
        conninfo = conninfo.splitlines()[-1]
        # loading need not wait for the standby at each commit
        load = conninfo + " options='-c synchronous_commit=local'"
        paths.run([paths.GRIDSTOCKD, "migrate", "--db", load], env=paths.sanitizer_env())
        for f in sorted(os.listdir(os.path.join(paths.SOURCE_DIR, "sql", "demo"))):
            if f.endswith(".sql"):
                paths.run([paths.pg_tool("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", load,
                           "-f", os.path.join(paths.SOURCE_DIR, "sql", "demo", f)])
        keyring = os.path.join(d, "keyring")
        pgmod.make_keyring(keyring)
        env = srvmod.ModuleEnv(None, dbname, conninfo, keyring, d)
        yield types.SimpleNamespace(dir=d, conninfo=conninfo, env=env)
    finally:
        for node in ("node2", "node1", "monitor"):  # throwaway: no clean shutdown needed
            subprocess.run([SCRIPT, "ha-kill", d, node], capture_output=True, timeout=60)
        if request.session.testsfailed:
            print("[autofailover] kept %s" % d)
        else:
            shutil.rmtree(d, ignore_errors=True)


def test_primary_machine_dies_monitor_promotes_standby_nothing_lost(formation):
    f = formation
    assert pg_script("ha-primary", f.dir).strip() == "node1"
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
        pg_script("ha-kill", f.dir, "node1")
        killed = time.monotonic()
        wait_for(lambda: pg_script("ha-primary", f.dir).strip() == "node2", 60, "the monitor promotes node2")
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
    pg_script("ha-start", f.dir, "node1")
    assert pg_script("ha-primary", f.dir).strip() == "node2"
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
