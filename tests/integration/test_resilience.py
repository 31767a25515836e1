"""Several servers and a database that goes away: concurrent start-up migrations on an
empty database, a PostgreSQL restart under a running server, and concurrent writers on
two servers losing no acknowledged write."""
import threading
import time
import uuid

import grpc
import psycopg

from gridstock.v1 import sites_pb2, users_pb2
from harness import server as srvmod

Code = grpc.StatusCode
CREATE_SITE = "SiteService/CreateSite"
WHOAMI = "UserService/WhoAmI"


def new_site(prefix="C"):
    code = prefix + uuid.uuid4().hex[:12].upper()
    return sites_pb2.CreateSiteRequest(
        code=code,
        name="Concurrency point " + code,
        kind="reserve_point",
        org_unit_code="CM02",
        lat=31.2,
        lon=107.5,
    )


def whoami(s, **kw):
    return s.call(WHOAMI, users_pb2.WhoAmIRequest(), users_pb2.WhoAmIResponse, **kw)


def test_two_servers_migrate_one_empty_database_together(pg, gs_env):
    name = gs_env.dbname + "_empty"
    pg.createdb(name)
    conninfo = pg.conninfo(name)
    servers, errors = [], []

    def start():
        try:
            servers.append(srvmod.Server(gs_env, db=conninfo).start())
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=start) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    try:
        assert not errors, errors
        assert len(servers) == 2
        with psycopg.connect(conninfo, autocommit=True) as conn:
            # the schema is complete and applied once
            for table in ("org_units", "users", "sites", "audit_log", "request_log"):
                conn.execute("SELECT count(*) FROM %s" % table)
            migration_tables = [
                r[0]
                for r in conn.execute(
                    "SELECT table_name FROM information_schema.tables"
                    " WHERE table_schema = 'public' AND table_name LIKE '%migration%'"
                )
            ]
            for t in migration_tables:
                cols = [
                    r[0]
                    for r in conn.execute(
                        "SELECT column_name FROM information_schema.columns WHERE table_name = %s"
                        " ORDER BY ordinal_position",
                        (t,),
                    )
                ]
                key = cols[0]
                dup = conn.execute(
                    "SELECT count(*) - count(DISTINCT %s) FROM %s" % (key, t)
                ).fetchone()[0]
                assert dup == 0, "migration recorded twice in %s" % t
            # a district and an admin, so both servers can be called with a token
            conn.execute("INSERT INTO org_units (code, name, kind) VALUES ('EMPTYDC', 'Empty district', 'district')")
            conn.execute(
                "INSERT INTO users (login, display_name, role, scope_id)"
                " SELECT 'root', 'Root', 'admin', id FROM org_units WHERE code = 'EMPTYDC'"
            )
        for s in servers:
            resp, code, details = whoami(s, token=s.token("root"))
            assert code == Code.OK, details
            assert resp.user.login == "root"
            assert resp.scope_code == "EMPTYDC"
    finally:
        for s in servers:
            rc = s.stop()
            assert rc == 0, s.log()[-3000:]
            assert s.sanitizer_report() is None, s.log()[-6000:]


def test_server_with_migrate_false_on_migrated_database(server):
    s = server.start_server(migrate=False)
    try:
        _, code, details = whoami(s, login="admin")
        assert code == Code.OK, details
    finally:
        assert s.stop() == 0


def test_postgres_restart_under_a_running_server(server, pg, db):
    tok = server.token("admin")
    _, code, details = whoami(server, token=tok)
    assert code == Code.OK, details
    pg.stop(mode="immediate")
    try:
        # while the database is down every database call fails with UNAVAILABLE, at once
        for _ in range(4):
            t0 = time.monotonic()
            _, code, details = whoami(server, token=tok, timeout=10)
            assert code == Code.UNAVAILABLE, (code, details)
            assert time.monotonic() - t0 < 8
            _, code, details = server.call(CREATE_SITE, new_site(), sites_pb2.Site, token=tok, timeout=10)
            assert code == Code.UNAVAILABLE, (code, details)
        assert server.running()
    finally:
        pg.start()
    # back without restarting the server
    deadline = time.monotonic() + 20
    while True:
        _, code, details = whoami(server, token=tok)
        if code == Code.OK or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert code == Code.OK, details
    req = new_site("R")
    site, code, details = server.call(CREATE_SITE, req, sites_pb2.Site, token=tok)
    assert code == Code.OK, details
    with psycopg.connect(server.conninfo) as conn:
        assert conn.execute("SELECT id FROM sites WHERE code = %s", (req.code,)).fetchone()[0] == site.id
    assert server.running()


def test_concurrent_writers_on_two_servers_lose_nothing(server, pg):
    other = server.start_server()
    servers = [server, other]
    tokens = {login: server.token(login) for login in ("admin", "logi.district", "logi.st01")}
    logins = list(tokens)
    acked, failures = [], []
    lock = threading.Lock()
    per_thread = 12

    def writer(i):
        for j in range(per_thread):
            s = servers[(i + j) % 2]
            req = new_site("W")
            rid = "w-%d-%d-%s" % (i, j, uuid.uuid4().hex[:8])
            tok = tokens[logins[i % len(logins)]]
            # retry on UNAVAILABLE/ABORTED with the same request id, as clients do
            for _ in range(5):
                resp, code, details = s.call(CREATE_SITE, req, sites_pb2.Site, token=tok, request_id=rid, timeout=20)
                if code not in (Code.UNAVAILABLE, Code.ABORTED):
                    break
                time.sleep(0.1)
            with lock:
                if code == Code.OK:
                    acked.append((req.code, resp.id))
                else:
                    failures.append((req.code, code, details))

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(180)
        assert not failures, failures[:5]
        assert len(acked) == 8 * per_thread
        with psycopg.connect(server.conninfo) as conn:
            rows = dict(
                conn.execute(
                    "SELECT code, id FROM sites WHERE code = ANY(%s)", ([c for c, _ in acked],)
                ).fetchall()
            )
            assert rows == dict(acked)
            audits = conn.execute(
                "SELECT count(*) FROM audit_log WHERE request_id LIKE 'w-%%' AND method LIKE '%%CreateSite'"
            ).fetchone()[0]
            assert audits == len(acked)
    finally:
        rc = other.stop()
    assert rc == 0, other.log()[-3000:]
    assert other.sanitizer_report() is None


def test_same_request_id_raced_on_two_servers_has_one_effect(server):
    other = server.start_server()
    servers = [server, other]
    tok = server.token("admin")
    req = new_site("I")
    rid = "race-" + uuid.uuid4().hex
    results = []
    lock = threading.Lock()
    go = threading.Barrier(8)

    def racer(i):
        go.wait()
        r = servers[i % 2].call(CREATE_SITE, req, sites_pb2.Site, token=tok, request_id=rid, timeout=20)
        with lock:
            results.append(r)

    threads = [threading.Thread(target=racer, args=(i,)) for i in range(8)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        rc = other.stop()
    assert rc == 0
    ok = [r for r, code, _ in results if code == Code.OK]
    others = [(code, d) for _, code, d in results if code != Code.OK]
    # a retryable ABORTED is acceptable for a racer; a second effect or another error is not
    assert all(code == Code.ABORTED for code, _ in others), others
    assert ok, others
    assert all(r == ok[0] for r in ok)
    with psycopg.connect(server.conninfo) as conn:
        assert conn.execute("SELECT count(*) FROM sites WHERE code = %s", (req.code,)).fetchone()[0] == 1
        assert conn.execute("SELECT count(*) FROM audit_log WHERE request_id = %s", (rid,)).fetchone()[0] == 1


def test_single_worker_serves_sequential_calls(server):
    s = server.start_server(workers=1)
    try:
        for _ in range(20):
            _, code, details = whoami(s, login="admin")
            assert code == Code.OK, details
    finally:
        assert s.stop() == 0
