"""The generic runtime around every handler: decoding, message limits, unknown methods,
deadlines, exactly-once request ids, the audit trail, per-call log lines and graceful
shutdown. The RPCs used are the directory services'."""
import re
import threading
import time
import uuid

import grpc
import psycopg

from gridstock.v1 import sites_pb2, users_pb2

Code = grpc.StatusCode
CREATE_SITE = "SiteService/CreateSite"
LIST_SITES = "SiteService/ListSites"
WHOAMI = "UserService/WhoAmI"


def new_site(org_unit_code="CM01", **kw):
    code = kw.pop("code", None) or "T" + uuid.uuid4().hex[:10].upper()
    fields = dict(
        code=code,
        name="Test point " + code,
        kind="reserve_point",
        org_unit_code=org_unit_code,
        address="1 Test Road",
        lat=31.21,
        lon=107.47,
        capacity_m3=10,
    )
    fields.update(kw)
    return sites_pb2.CreateSiteRequest(**fields)


def count(db, sql, *args):
    return db.execute(sql, args).fetchone()[0]


def test_health_check_is_serving(server):
    # grpc.health.v1.HealthCheckRequest{} is empty; HealthCheckResponse{status: SERVING=1}
    resp, code, details = server.call_raw("/grpc.health.v1.Health/Check", b"", request_id="")
    assert code == Code.OK, details
    assert resp == b"\x08\x01"


def test_unknown_method_is_unimplemented_at_once(server):
    for path in (
        "/gridstock.v1.NoSuchService/Method",
        "/gridstock.v1.SiteService/NoSuchMethod",
        "/not.a.package/x",
    ):
        t0 = time.monotonic()
        _, code, details = server.call_raw(path, b"", login="admin", timeout=10)
        elapsed = time.monotonic() - t0
        assert code == Code.UNIMPLEMENTED, (path, code, details)
        assert elapsed < 3, "%s took %.2fs: answered at the deadline, not at once" % (path, elapsed)


def test_malformed_protobuf_is_invalid_argument(server, db):
    before = count(db, "SELECT count(*) FROM sites")
    for data in (
        b"\x0a\xff\xff\xff\xff\x0f",  # field 1, length far beyond the message
        b"\x0a\x05ab",  # truncated string
        b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff",  # bad varint tag
        b"\x07",  # wire type 7 does not exist
    ):
        resp, code, details = server.call_raw("/gridstock.v1.SiteService/CreateSite", data, login="admin")
        assert code == Code.INVALID_ARGUMENT, (data, code, details)
        assert resp is None
        _, code, details = server.call_raw("/gridstock.v1.SiteService/ListSites", data, login="admin")
        assert code == Code.INVALID_ARGUMENT, (data, code, details)
    assert count(db, "SELECT count(*) FROM sites") == before


def test_oversized_message_is_resource_exhausted(server, db):
    before = count(db, "SELECT count(*) FROM sites")
    req = new_site(name="x" * (5 * 1024 * 1024))  # default limit: 4 MiB
    _, code, details = server.call(CREATE_SITE, req, sites_pb2.Site, login="admin", timeout=30)
    assert code == Code.RESOURCE_EXHAUSTED, details
    assert count(db, "SELECT count(*) FROM sites") == before
    # the server is fine afterwards
    _, code, details = server.call(WHOAMI, users_pb2.WhoAmIRequest(), users_pb2.WhoAmIResponse, login="admin")
    assert code == Code.OK, details


def test_max_message_bytes_flag(server, db):
    s = server.start_server(max_message_bytes=2048)
    try:
        req = new_site(address="y" * 4096)
        _, code, details = s.call(CREATE_SITE, req, sites_pb2.Site, login="admin")
        assert code == Code.RESOURCE_EXHAUSTED, details
        assert count(db, "SELECT count(*) FROM sites WHERE code = %s", req.code) == 0
        # under the limit it works
        req = new_site()
        _, code, details = s.call(CREATE_SITE, req, sites_pb2.Site, login="admin")
        assert code == Code.OK, details
    finally:
        assert s.stop() == 0, s.log()[-3000:]


def test_tiny_deadline_is_deadline_exceeded_and_server_stays_healthy(server):
    _, code, _ = server.call(LIST_SITES, sites_pb2.ListSitesRequest(), sites_pb2.ListSitesResponse, login="admin", timeout=0.001)
    assert code == Code.DEADLINE_EXCEEDED
    for _ in range(5):
        _, code, details = server.call(LIST_SITES, sites_pb2.ListSitesRequest(), sites_pb2.ListSitesResponse, login="admin")
        assert code == Code.OK, details


def first_site(db):
    return db.execute("SELECT id FROM sites ORDER BY id LIMIT 1").fetchone()[0]


def get_site(server, site_id, **kw):
    return server.call("SiteService/GetSite", sites_pb2.GetSiteRequest(id=site_id), sites_pb2.Site, **kw)


def test_deadline_bounds_database_work(server, db, gs_env):
    """Two calls stuck behind a lock with a 1 s deadline must free both workers soon after
    their deadline (the server sets statement_timeout from the deadline), so a third call
    is served while the lock is still held."""
    site_id = first_site(db)
    locker = psycopg.connect(gs_env.conninfo)
    try:
        locker.execute("LOCK TABLE sites IN ACCESS EXCLUSIVE MODE")
        results = []

        def stuck():
            results.append(get_site(server, site_id, login="admin", timeout=1)[1])

        threads = [threading.Thread(target=stuck) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert results == [Code.DEADLINE_EXCEEDED] * 2
        time.sleep(1.0)
        # both workers (--workers 2) must be free again although the lock is still held
        _, code, details = server.call(WHOAMI, users_pb2.WhoAmIRequest(), users_pb2.WhoAmIResponse, login="admin", timeout=5)
        assert code == Code.OK, "workers still blocked after the deadline: %s %s" % (code, details)
        waiting = count(
            locker,
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        assert waiting == 0, "%d queries still wait for the lock after their deadline" % waiting
    finally:
        locker.rollback()
        locker.close()
    _, code, details = get_site(server, site_id, login="admin")
    assert code == Code.OK, details


def test_mutation_without_request_id_is_invalid_argument(server, db):
    req = new_site()
    _, code, details = server.call(CREATE_SITE, req, sites_pb2.Site, login="admin", request_id="")
    assert code == Code.INVALID_ARGUMENT, details
    assert "request" in details.lower(), details
    assert count(db, "SELECT count(*) FROM sites WHERE code = %s", req.code) == 0


def test_overlong_request_id_is_invalid_argument(server, db):
    req = new_site()
    _, code, details = server.call(CREATE_SITE, req, sites_pb2.Site, login="admin", request_id="r" * 200)
    assert code == Code.INVALID_ARGUMENT, details
    assert count(db, "SELECT count(*) FROM sites WHERE code = %s", req.code) == 0


def test_reads_need_no_request_id(server):
    _, code, details = server.call(LIST_SITES, sites_pb2.ListSitesRequest(), sites_pb2.ListSitesResponse, login="admin", request_id="")
    assert code == Code.OK, details


def test_same_request_id_twice_gives_same_response_and_one_effect(server, db):
    rid = "rt-" + uuid.uuid4().hex
    req = new_site()
    first, code, details = server.call(CREATE_SITE, req, sites_pb2.Site, login="admin", request_id=rid)
    assert code == Code.OK, details
    again, code, details = server.call(CREATE_SITE, req, sites_pb2.Site, login="admin", request_id=rid)
    assert code == Code.OK, details
    assert again == first
    assert first.id > 0 and first.code == req.code
    assert count(db, "SELECT count(*) FROM sites WHERE code = %s", req.code) == 1
    assert count(db, "SELECT count(*) FROM audit_log WHERE request_id = %s", rid) == 1
    assert count(db, "SELECT count(*) FROM request_log WHERE request_id = %s", rid) == 1


def test_same_request_id_with_other_request_is_refused(server, db):
    rid = "rt-" + uuid.uuid4().hex
    first = new_site()
    _, code, details = server.call(CREATE_SITE, first, sites_pb2.Site, login="admin", request_id=rid)
    assert code == Code.OK, details
    other = new_site()
    resp, code, details = server.call(CREATE_SITE, other, sites_pb2.Site, login="admin", request_id=rid)
    assert code != Code.OK
    assert code in (Code.ALREADY_EXISTS, Code.INVALID_ARGUMENT, Code.FAILED_PRECONDITION), (code, details)
    assert resp is None
    assert count(db, "SELECT count(*) FROM sites WHERE code = %s", other.code) == 0
    assert count(db, "SELECT count(*) FROM audit_log WHERE request_id = %s", rid) == 1


def test_request_ids_are_per_user(server, db):
    rid = "rt-" + uuid.uuid4().hex
    a, b = new_site(), new_site()
    ra, code, details = server.call(CREATE_SITE, a, sites_pb2.Site, login="admin", request_id=rid)
    assert code == Code.OK, details
    rb, code, details = server.call(CREATE_SITE, b, sites_pb2.Site, login="logi.district", request_id=rid)
    assert code == Code.OK, details
    assert ra.id != rb.id
    assert count(db, "SELECT count(*) FROM sites WHERE code IN (%s, %s)", a.code, b.code) == 2


def test_failed_mutation_is_not_remembered(server, db):
    """A mutation that fails (duplicate code, invalid field) writes neither the object nor
    an audit row."""
    rid = "rt-" + uuid.uuid4().hex
    req = new_site()
    _, code, details = server.call(CREATE_SITE, req, sites_pb2.Site, login="admin")
    assert code == Code.OK, details
    audits = count(db, "SELECT count(*) FROM audit_log")
    _, code, details = server.call(CREATE_SITE, req, sites_pb2.Site, login="admin", request_id=rid)
    assert code == Code.ALREADY_EXISTS, details
    assert count(db, "SELECT count(*) FROM sites WHERE code = %s", req.code) == 1
    assert count(db, "SELECT count(*) FROM audit_log") == audits
    # an invalid request writes nothing either
    bad = new_site(lat=123.0)
    _, code, details = server.call(CREATE_SITE, bad, sites_pb2.Site, login="admin")
    assert code == Code.INVALID_ARGUMENT, details
    assert "lat" in details, details
    assert count(db, "SELECT count(*) FROM audit_log") == audits


def test_every_mutation_writes_one_audit_row(server, db):
    rid = "rt-" + uuid.uuid4().hex
    req = new_site()
    site, code, details = server.call(CREATE_SITE, req, sites_pb2.Site, login="logi.district", request_id=rid)
    assert code == Code.OK, details
    rows = db.execute(
        "SELECT user_id, login, role, method, object, request_id FROM audit_log WHERE request_id = %s", (rid,)
    ).fetchall()
    assert len(rows) == 1, rows
    user_id, login, role, method, obj, request_id = rows[0]
    uid = count(db, "SELECT id FROM users WHERE login = 'logi.district'")
    assert (user_id, login, role) == (uid, "logi.district", "logistics_officer")
    assert method.endswith("CreateSite"), method
    assert request_id == rid
    assert str(site.id) in obj, obj

    # a second mutation of another kind: one more row
    rid2 = "rt-" + uuid.uuid4().hex
    upd = sites_pb2.UpdateSiteRequest(id=site.id, name="Renamed point", update_mask=["name"])
    _, code, details = server.call("SiteService/UpdateSite", upd, sites_pb2.Site, login="logi.district", request_id=rid2)
    assert code == Code.OK, details
    assert count(db, "SELECT count(*) FROM audit_log WHERE request_id = %s AND method LIKE %s", rid2, "%UpdateSite") == 1


def test_reads_write_no_audit_rows(server, db):
    before = count(db, "SELECT count(*) FROM audit_log")
    for _ in range(3):
        _, code, _ = server.call(LIST_SITES, sites_pb2.ListSitesRequest(), sites_pb2.ListSitesResponse, login="admin")
        assert code == Code.OK
    assert count(db, "SELECT count(*) FROM audit_log") == before


def test_audit_log_is_append_only(server, db):
    _, code, details = server.call(CREATE_SITE, new_site(), sites_pb2.Site, login="admin")
    assert code == Code.OK, details
    n = count(db, "SELECT count(*) FROM audit_log")
    assert n > 0
    for sql in (
        "UPDATE audit_log SET summary = 'edited'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ):
        try:
            db.execute(sql)
        except psycopg.Error:
            pass
        else:
            raise AssertionError("database accepted: " + sql)
    assert count(db, "SELECT count(*) FROM audit_log") == n
    assert count(db, "SELECT count(*) FROM audit_log WHERE summary = 'edited'") == 0


LATENCY_KEYS = ("latency_ms", "latency", "duration_ms", "elapsed_ms", "ms", "latency_us", "micros")


def _call_lines(server, rid):
    # the line may be written just after the reply is sent
    for _ in range(50):
        lines = [kv for kv in server.log_lines() if kv.get("request_id") == rid or kv.get("rid") == rid]
        if lines:
            return lines
        time.sleep(0.05)
    return []


def test_one_log_line_per_call(server):
    rid = "rt-" + uuid.uuid4().hex
    _, code, details = server.call(CREATE_SITE, new_site(), sites_pb2.Site, login="logi.district", request_id=rid)
    assert code == Code.OK, details
    lines = _call_lines(server, rid)
    assert len(lines) == 1, "expected one log line with request_id=%s, found %r" % (rid, lines)
    kv = lines[0]
    text = " ".join("%s=%s" % i for i in kv.items())
    assert "CreateSite" in kv.get("method", ""), text
    assert "logi.district" in (kv.get("user", "") + kv.get("login", "")), text
    status = kv.get("status", kv.get("code", ""))
    assert status in ("OK", "0"), text
    lat = [k for k in LATENCY_KEYS if k in kv]
    assert lat, "no latency key in: " + text
    assert re.match(r"^\d+(\.\d+)?$", kv[lat[0]]), text

    # a failed call is logged with its status too
    rid = "rt-" + uuid.uuid4().hex
    _, code, _ = server.call(CREATE_SITE, new_site(), sites_pb2.Site, login="auditor", request_id=rid)
    assert code == Code.PERMISSION_DENIED
    lines = _call_lines(server, rid)
    assert len(lines) == 1, lines
    assert lines[0].get("status", lines[0].get("code")) in ("PERMISSION_DENIED", "7"), lines[0]


def test_tokens_never_reach_the_log(server):
    tok = server.token("admin")
    server.call(WHOAMI, users_pb2.WhoAmIRequest(), users_pb2.WhoAmIResponse, token=tok)
    sig = tok.rsplit(".", 1)[1]
    assert sig not in server.log()


def test_sigterm_during_an_inflight_call_lets_it_finish(server, db, gs_env):
    site_id = first_site(db)
    s = server.start_server(grace_ms=10000)
    locker = psycopg.connect(gs_env.conninfo)
    result = {}
    try:
        tok = s.token("admin")
        locker.execute("LOCK TABLE sites IN ACCESS EXCLUSIVE MODE")

        def slow():
            result["r"] = get_site(s, site_id, token=tok, timeout=30)

        t = threading.Thread(target=slow)
        t.start()
        # wait until the call is blocked in the database
        for _ in range(100):
            if count(locker, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"):
                break
            time.sleep(0.05)
        else:
            raise AssertionError("the call never reached the database")
        s.signal(__import__("signal").SIGTERM)
        time.sleep(0.5)
        assert s.running(), "server exited while a call was in flight"
        locker.rollback()
        t.join(20)
        resp, code, details = result["r"]
        assert code == Code.OK, details
        assert resp.id == site_id
    finally:
        locker.rollback()
        locker.close()
        rc = s.wait(timeout=30) if s.proc else s.returncode
    assert rc == 0, s.log()[-3000:]
    assert s.sanitizer_report() is None, s.log()[-6000:]


def test_sigint_stops_cleanly(server):
    s = server.start_server()
    _, code, details = s.call(WHOAMI, users_pb2.WhoAmIRequest(), users_pb2.WhoAmIResponse, login="admin")
    assert code == Code.OK, details
    assert s.stop("INT") == 0, s.log()[-3000:]
    assert s.sanitizer_report() is None
