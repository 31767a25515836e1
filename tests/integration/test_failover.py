"""gridstockd over a primary and a synchronous streaming standby (two plain PostgreSQL
clusters, the standby made by pg_basebackup, promoted by hand with pg_ctl promote): one
multi-host conninfo; a primary that turns read-only and a primary killed with SIGKILL are
answered UNAVAILABLE (never INTERNAL, never a wrong answer), Health says NOT_SERVING while
no primary is reachable, and the server finds the new primary by itself with every
acknowledged write there and no retried write applied twice."""
import os
import shutil
import tempfile
import threading
import time
import types
import uuid
import importlib.util

import grpc
import psycopg
import pytest

from gridstock.v1 import sites_pb2, users_pb2
from harness import paths
from harness import pg as pgmod
from harness import server as srvmod

Code = grpc.StatusCode
CREATE_SITE = "SiteService/CreateSite"
LIST_SITES = "SiteService/ListSites"
WHOAMI = "UserService/WhoAmI"


def new_site(prefix="F"):
    code = prefix + uuid.uuid4().hex[:12].upper()
    return sites_pb2.CreateSiteRequest(
        code=code, name="Failover point " + code, kind="reserve_point", org_unit_code="CM02", lat=31.2, lon=107.5
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
def health_pb2(tmp_path_factory):
    out = tmp_path_factory.mktemp("health_pb2")
    proto = "grpc/health/v1/health.proto"
    paths.run(["protoc", "-I", os.path.join(paths.SOURCE_DIR, "proto"), "--python_out", str(out), proto])
    spec = importlib.util.spec_from_file_location("gs_failover_health_pb2", str(out / "grpc/health/v1/health_pb2.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def health(server, pb):
    fn = server.channel.unary_unary(
        "/grpc.health.v1.Health/Check",
        request_serializer=pb.HealthCheckRequest.SerializeToString,
        response_deserializer=pb.HealthCheckResponse.FromString,
    )
    try:
        return fn(pb.HealthCheckRequest(service=""), timeout=5).status
    except grpc.RpcError as e:
        return e.code()


@pytest.fixture(scope="module")
def pair(request):
    """A primary with a synchronous standby and a migrated database with demo data."""
    primary = pgmod.Cluster(extra_conf="synchronous_commit = on\n")
    primary.start()
    standby = None
    workdir = tempfile.mkdtemp(prefix="gs-failover-", dir="/tmp")
    try:
        dbname = "gs_failover"
        pgmod.prepare_database(primary, dbname)
        standby = pgmod.standby_of(primary, "gs_standby")
        primary.psql("postgres", "ALTER SYSTEM SET synchronous_standby_names = 'gs_standby'")
        primary.psql("postgres", "SELECT pg_reload_conf()")
        wait_for(
            lambda: primary.psql("postgres", "SELECT sync_state FROM pg_stat_replication").strip() == "sync",
            30,
            "the standby streams synchronously",
        )
        # no target_session_attrs: gridstockd's default is read-write
        conninfo = "host=127.0.0.1,127.0.0.1 port=%d,%d dbname=%s user=postgres" % (
            primary.port, standby.port, dbname)
        keyring = os.path.join(workdir, "keyring")
        pgmod.make_keyring(keyring)
        env = srvmod.ModuleEnv(primary, dbname, conninfo, keyring, workdir)
        yield types.SimpleNamespace(primary=primary, standby=standby, env=env, conninfo=conninfo)
    finally:
        failed = request.session.testsfailed
        for c in (primary, standby):
            if c is not None:
                c.destroy(keep_logs=bool(failed))
        if failed:
            print("[failover] logs kept in %s %s %s" % (primary.dir, standby and standby.dir, workdir))
        else:
            shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def gs(pair):
    s = srvmod.Server(pair.env, workers=3, max_calls_per_user=8).start()
    yield s
    rc = s.stop()
    assert rc == 0, s.log()[-4000:]
    assert s.sanitizer_report() is None, s.log()[-6000:]


def test_primary_turning_read_only_is_unavailable_not_internal(pair, gs, health_pb2):
    tok = gs.token("admin")
    gs.call_ok(CREATE_SITE, new_site(), sites_pb2.Site, token=tok)
    assert health(gs, health_pb2) == health_pb2.HealthCheckResponse.SERVING
    pair.primary.psql("postgres", "ALTER SYSTEM SET default_transaction_read_only = on")
    pair.primary.psql("postgres", "SELECT pg_reload_conf()")
    try:
        time.sleep(0.3)  # the backends take the new setting when they next read a command
        for _ in range(3):
            code, details, status = gs.call_status(CREATE_SITE, new_site(), token=tok)
            assert code == Code.UNAVAILABLE, (code, details)
            assert status is not None and status.details, details
        assert gs.log_lines(event="db_read_only"), gs.log()[-3000:]
        # no primary now (the old one is read-only, the other a standby): reads too
        _, code, details = gs.call(WHOAMI, users_pb2.WhoAmIRequest(), users_pb2.WhoAmIResponse, token=tok)
        assert code == Code.UNAVAILABLE, (code, details)
        wait_for(lambda: health(gs, health_pb2) == health_pb2.HealthCheckResponse.NOT_SERVING, 10,
                 "NOT_SERVING while no server takes writes")
    finally:
        pair.primary.psql("postgres", "ALTER SYSTEM RESET default_transaction_read_only")
        pair.primary.psql("postgres", "SELECT pg_reload_conf()")
    wait_for(lambda: gs.call(CREATE_SITE, new_site(), sites_pb2.Site, token=tok)[1] == Code.OK, 10,
             "writes again once the primary takes them")
    wait_for(lambda: health(gs, health_pb2) == health_pb2.HealthCheckResponse.SERVING, 10, "SERVING again")
    assert not gs.log_lines(status="INTERNAL")


def test_primary_killed_standby_promoted_nothing_lost(pair, gs, health_pb2):
    tok = gs.token("admin")
    results = []  # (code, request id, request, response, details)
    lock = threading.Lock()
    stop = threading.Event()

    def writer(i):
        while not stop.is_set():
            req, rid = new_site("K"), "fo-%d-%s" % (i, uuid.uuid4().hex[:10])
            resp, code, details = gs.call(CREATE_SITE, req, sites_pb2.Site, token=tok, request_id=rid, timeout=15)
            with lock:
                results.append((code, rid, req, resp, details))
            if code != Code.OK:
                time.sleep(0.05)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: sum(r[0] == Code.OK for r in results) >= 10, 30, "writes before the kill")
        pair.primary.kill9()
        killed = time.monotonic()
        n_before = len(results)
        wait_for(lambda: health(gs, health_pb2) == health_pb2.HealthCheckResponse.NOT_SERVING, 10,
                 "NOT_SERVING while no primary is reachable")
        wait_for(lambda: len(results) > n_before + 3, 20, "writes refused while there is no primary")
        _, code, details = gs.call(LIST_SITES, sites_pb2.ListSitesRequest(), sites_pb2.ListSitesResponse, token=tok)
        assert code == Code.UNAVAILABLE, (code, details)
        pair.standby.promote()
        promoted = time.monotonic()
        wait_for(lambda: any(r[0] == Code.OK for r in results[n_before:]), 20, "a write on the new primary")
        first_ok = time.monotonic()
        wait_for(lambda: health(gs, health_pb2) == health_pb2.HealthCheckResponse.SERVING, 10, "SERVING again")
        time.sleep(0.5)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    print("[failover] refused writes for %.2fs (%.2fs after the promotion)" % (first_ok - killed, first_ok - promoted))
    codes = {r[0] for r in results}
    assert codes <= {Code.OK, Code.UNAVAILABLE}, [r for r in results if r[0] not in (Code.OK, Code.UNAVAILABLE)][:3]
    # clients retry UNAVAILABLE with the same request id: each has at most one effect
    retried = {}
    for code, rid, req, resp, details in results:
        if code == Code.UNAVAILABLE:
            resp2, code2, details2 = gs.call(CREATE_SITE, req, sites_pb2.Site, token=tok, request_id=rid)
            assert code2 == Code.OK, details2
            retried[req.code] = resp2.id
    acked = {r[2].code: r[3].id for r in results if r[0] == Code.OK}
    assert retried, "no write was refused during the failover"
    with psycopg.connect("host=127.0.0.1 port=%d dbname=%s user=postgres" % (pair.standby.port, pair.env.dbname)) as conn:
        rows = conn.execute(
            "SELECT code, id FROM sites WHERE code = ANY(%s)", (list(acked) + list(retried),)
        ).fetchall()
    assert len(rows) == len(set(acked) | set(retried))  # codes are unique: once each
    assert dict(rows) == {**acked, **retried}
    assert gs.log_lines(event="db_reconnected")
    assert not gs.log_lines(status="INTERNAL")
    assert gs.running()
