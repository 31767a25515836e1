"""No call, stream or client can take gridstockd down (issue 15): the per-call memory
budget (max_call_bytes) ends a greedy call with RESOURCE_EXHAUSTED and the process serves
on; watch streams are capped per user and overall, cut when their reader falls behind and
ended when their caller's credentials change; one user cannot hold every worker; health
and reflection never wait behind database calls; the plaintext rule reads the parsed
address; old request ids are purged. Each server here is started with the setting under
test and checked to be alive and serving afterwards."""
import subprocess
import threading
import time
import uuid

import grpc
import psycopg
import pytest

import opslib
from gridstock.v1 import charity_pb2, org_units_pb2, sites_pb2, stock_pb2, users_pb2
from harness import paths
from harness.sql import one

Code = grpc.StatusCode
LIST_SITES = "SiteService/ListSites"
WHOAMI = "UserService/WhoAmI"
WATCH = "StockService/WatchStockAlerts"
LOGI = "logi.district"


def alive(srv, login="admin"):
    _, code, details = srv.call(WHOAMI, users_pb2.WhoAmIRequest(), users_pb2.WhoAmIResponse, login=login)
    assert code == Code.OK, "server no longer serves: %s %s" % (code, details)
    assert srv.running()


@pytest.fixture
def started(gs_env):
    """Starts servers with given flags; stops them after the test (exit code 0)."""
    from harness import server as srvmod

    live = []

    def start(**flags):
        s = srvmod.Server(gs_env, **flags).start()
        live.append(s)
        return s

    yield start
    for s in live:
        if s.running():
            assert s.stop() == 0, s.log()[-3000:]


def add_sites(db, n):
    """n more sites under CM01 (plain SQL: the call under test is the list)."""
    tag = uuid.uuid4().hex[:6].upper()
    db.execute(
        """INSERT INTO sites (code, name, kind, org_unit_id, address, lat, lon, capacity_m3)
           SELECT 'LIM' || %s || g, 'Limit test site ' || g || repeat(' padding', 20), 'reserve_point',
                  (SELECT id FROM org_units WHERE code = 'CM01'), repeat('long address ', 30), 31.2, 107.4, 10
             FROM generate_series(1, %s) g""",
        (tag, n),
    )


# ---------------------------------------------------------------- memory per call


def test_a_call_past_max_call_bytes_is_resource_exhausted_and_the_server_lives(started, db):
    add_sites(db, 600)
    s = started(max_call_bytes=65536)
    resp, code, details = s.call(LIST_SITES, sites_pb2.ListSitesRequest(page_size=1000), sites_pb2.ListSitesResponse, login="admin")
    assert code == Code.RESOURCE_EXHAUSTED, (code, details)
    assert "max_call_bytes" in details, details
    # the same worker serves the next call, and a small page of the same list works
    small = s.call_ok(LIST_SITES, sites_pb2.ListSitesRequest(page_size=5), sites_pb2.ListSitesResponse, login="admin")
    assert len(small.sites) == 5
    alive(s)
    line = s.log_lines(event="call", status="RESOURCE_EXHAUSTED")
    assert line and "max_call_bytes" in line[0].get("error", ""), s.log()[-2000:]
    # the default budget is sized for the largest legal page
    d = started()
    big = d.call_ok(LIST_SITES, sites_pb2.ListSitesRequest(page_size=1000), sites_pb2.ListSitesResponse, login="admin")
    assert len(big.sites) >= 600


def test_a_request_that_decodes_past_the_budget_is_refused_and_changes_nothing(started, db):
    s = started(max_call_bytes=65536)
    before = one(db, "SELECT count(*) FROM charity_distributions")
    # 9,000 items of a distribution: legal on the wire, far past 64 KiB once decoded
    req = charity_pb2.DistributeRequest(
        site_code="CS01", household="HH-0001", grid_code="GR001",
        items=[charity_pb2.DistributionItem(item_code="X" * 60, qty=1) for _ in range(9000)],
    )
    _, code, details = s.call("CharityService/Distribute", req, charity_pb2.Distribution, login="staff.cm01")
    assert code == Code.RESOURCE_EXHAUSTED, (code, details)
    assert one(db, "SELECT count(*) FROM charity_distributions") == before
    alive(s)


def test_list_distributions_allocates_in_proportion_to_its_page(started, db):
    """300 distributions with their lines in one page: the old code gave every
    distribution an array as long as all lines together (300 x 600 pointers, 1.4 MB);
    within a 512 KiB budget only memory proportional to the page fits."""
    item = "LIM-" + uuid.uuid4().hex[:8].upper()
    db.execute("INSERT INTO items (code, name, category, unit) VALUES (%s, 'limit test item', 'food', 'bag')", (item,))
    s = started(max_call_bytes=524288)
    resp = s.call_ok(
        "CharityService/RecordDonation",
        charity_pb2.RecordDonationRequest(site_code="CS01", donor_name="Limits",
                                          items=[charity_pb2.DonationItem(item_code=item, qty=100000)]),
        charity_pb2.Donation, login="staff.cm01")
    lot, movement = resp.lines[0].lot_id, resp.lines[0].movement_id
    site = one(db, "SELECT id FROM sites WHERE code = 'CS01'")
    item_id = one(db, "SELECT id FROM items WHERE code = %s", item)
    hh = one(db, """INSERT INTO charity_households (grid_id, code)
                    VALUES ((SELECT id FROM org_units WHERE code = 'GR001'), %s) RETURNING id""",
             "LIM-" + uuid.uuid4().hex[:8])
    # 300 distributions of two lines each, written directly: the list is what is tested
    ids = [r[0] for r in db.execute(
        """INSERT INTO charity_distributions (site_id, household_id, distributed_by, request_id)
           SELECT %s, %s, (SELECT id FROM users WHERE login = 'staff.cm01'), 'lim-' || g
             FROM generate_series(1, 300) g RETURNING id""", (site, hh)).fetchall()]
    db.execute(
        """INSERT INTO charity_distribution_lines (distribution_id, item_id, lot_id, qty, movement_id)
           SELECT d, %s, %s, k, %s FROM unnest(%s::bigint[]) d, generate_series(1, 2) k ORDER BY d, k""",
        (item_id, lot, movement, ids))
    got = s.call_ok("CharityService/ListDistributions",
                    charity_pb2.ListDistributionsRequest(site_code="CS01", page_size=300),
                    charity_pb2.ListDistributionsResponse, login="staff.cm01")
    by_id = {d.id: d for d in got.distributions}
    assert set(ids) <= set(by_id)
    for i in ids:
        assert [(l.item_code, l.qty) for l in by_id[i].lines] == [(item, 1), (item, 2)]
    alive(s)


# ---------------------------------------------------------------- watch streams


def district_path(db):
    return one(db, "SELECT path::text FROM org_units WHERE kind = 'district' ORDER BY id LIMIT 1")


def open_watch(srv, login=LOGI, token=None, timeout=60):
    return srv.stream(WATCH, stock_pb2.WatchStockAlertsRequest(), stock_pb2.StockAlert, login=None if token else login,
                      token=token, timeout=timeout)


def wait_open(srv, n, timeout=15):
    """Until the server counts n open watches (metrics endpoint)."""
    opslib.wait_for(lambda: opslib.value(opslib.scrape(srv.metrics_port), "gridstock_watch_streams_open") == n,
                    timeout=timeout, what="%d open watches" % n)


def end_of(stream):
    """Reads until the stream ends; returns (code, details, messages read)."""
    n = 0
    try:
        for _ in stream:
            n += 1
    except grpc.RpcError as e:
        return e.code(), e.details() or "", n
    return stream.code(), stream.details() or "", n


def test_watches_are_capped_per_user_and_overall(started):
    s = started(max_watches=3, max_watches_per_user=2, metrics_listen="127.0.0.1:0")
    s.metrics_port = opslib.metrics_port(s)
    a, b = open_watch(s), open_watch(s)
    wait_open(s, 2)
    third = open_watch(s)
    code, details, _ = end_of(third)
    assert code == Code.RESOURCE_EXHAUSTED and "max_watches_per_user" in details, (code, details)
    # another user still gets one; then the process-wide cap holds for everyone
    c = open_watch(s, login="logi.st01")
    wait_open(s, 3)
    code, details, _ = end_of(open_watch(s, login="admin"))
    assert code == Code.RESOURCE_EXHAUSTED and "max_watches" in details, (code, details)
    m = opslib.scrape(s.metrics_port)
    assert opslib.value(m, "gridstock_watch_streams_limit") == 3
    assert opslib.value(m, "gridstock_watch_streams_refused_total", limit="max_watches_per_user") == 1
    assert opslib.value(m, "gridstock_watch_streams_refused_total", limit="max_watches") == 1
    # a closed watch frees its place
    a.cancel()
    wait_open(s, 2)
    d = open_watch(s)
    wait_open(s, 3)
    for st in (b, c, d):
        st.cancel()
    alive(s)


def test_a_reader_that_falls_behind_is_cut_off_not_buffered(started, db):
    s = started(stream_queue_bytes=65536, metrics_listen="127.0.0.1:0")
    s.metrics_port = opslib.metrics_port(s)
    slow = open_watch(s)  # never read until the server has given up on it
    wait_open(s, 1)
    path = district_path(db)
    # 4,000 alerts of 6 KB (24 MB): far more than HTTP/2 flow control lets through to a
    # client that does not read, so the rest waits in the server's queue
    db.execute(
        """SELECT pg_notify('gs_stock_alerts', json_build_object(
                  'kind', 'low_stock', 'org_unit_path', %s::text, 'site_id', 1, 'site_code', 'RP01',
                  'item_code', 'X' || g, 'item_name', repeat('n', 6000), 'available', g)::text)
             FROM generate_series(1, 4000) g""",
        (path,),
    )
    opslib.wait_for(lambda: s.log_lines(event="stream_cut", reason="slow_reader"), timeout=30,
                    what="the slow reader to be cut off")
    code, details, _ = end_of(slow)
    assert code == Code.RESOURCE_EXHAUSTED and "stream_queue_bytes" in details, (code, details)
    wait_open(s, 0)
    m = opslib.scrape(s.metrics_port)
    assert opslib.value(m, "gridstock_watch_streams_ended_total", reason="slow_reader") == 1
    # a watch opened afterwards gets the next alert (of a kind the burst has none of: the
    # listener may still be handing the rest of the burst out)
    fresh = s.stream(WATCH, stock_pb2.WatchStockAlertsRequest(kinds=["expired"]), stock_pb2.StockAlert,
                     login=LOGI, timeout=60)
    wait_open(s, 1)
    db.execute("""SELECT pg_notify('gs_stock_alerts', json_build_object('kind', 'expired',
                  'org_unit_path', %s::text, 'item_code', 'AFTER')::text)""", (path,))
    assert fresh.next().item_code == "AFTER"
    fresh.cancel()
    alive(s)


def first_alert(gs_env, stream, unit):
    """Sends an alert for `unit` every 100 ms until the stream yields one (the listener
    LISTENs to a channel shortly after the first watch of it starts); returns it."""
    done = threading.Event()

    def nudge():
        with psycopg.connect(gs_env.conninfo, autocommit=True) as c:
            while not done.wait(0.1):
                c.execute("""SELECT pg_notify('gs_stock_alerts', json_build_object('kind', 'low_stock',
                             'org_unit_path', (SELECT path::text FROM org_units WHERE code = %s),
                             'item_code', 'BEFORE')::text)""", (unit,))

    t = threading.Thread(target=nudge)
    t.start()
    try:
        return stream.next()
    finally:
        done.set()
        t.join()


@pytest.mark.parametrize("change,code,word", [
    ("UPDATE users SET tokens_valid_after = now() WHERE login = %s", Code.UNAUTHENTICATED, "revoked"),
    ("UPDATE users SET active = false WHERE login = %s", Code.UNAUTHENTICATED, "deactivated"),
    ("UPDATE users SET role = 'auditor' WHERE login = %s", Code.PERMISSION_DENIED, "role"),
])
def test_a_watch_ends_when_its_user_is_revoked_deactivated_or_changed(started, db, gs_env, change, code, word):
    login = "logi.st01"
    s = started(watch_recheck_ms=200)
    tok = gs_env.token(login, fresh=True)
    st = open_watch(s, token=tok)
    assert first_alert(gs_env, st, "ST01").item_code == "BEFORE"  # the watch works until the change
    time.sleep(1.1)  # revocation compares whole seconds with the token's issue time
    saved = db.execute("SELECT role, active, tokens_valid_after::text FROM users WHERE login = %s", (login,)).fetchone()
    db.execute(change, (login,))
    try:
        got, details, _ = end_of(st)  # the call's own deadline (60 s) would end it otherwise
        assert got == code and word in details, (got, details)
        assert s.log_lines(event="watch_ended", user=login)
    finally:
        db.execute("UPDATE users SET role = %s, active = %s, tokens_valid_after = %s::timestamptz WHERE login = %s",
                   saved + (login,))
    alive(s)


def test_a_watch_ends_when_its_token_expires(started, gs_env):
    s = started(watch_recheck_ms=200)
    tok = gs_env.token("logi.st01", ttl=2, fresh=True)
    got, details, _ = end_of(open_watch(s, token=tok))
    assert got == Code.UNAUTHENTICATED and "expired" in details, (got, details)
    alive(s)


# ---------------------------------------------------------------- workers


def get_site(srv, site_id, login, timeout=10):
    return srv.call("SiteService/GetSite", sites_pb2.GetSiteRequest(id=site_id), sites_pb2.Site, login=login,
                    timeout=timeout)


def held_call(srv, gs_env, login, site_id, results):
    """Starts a GetSite by `login` that blocks behind a table lock; returns the lock's
    connection (rollback() lets the call through) and its thread."""
    locker = psycopg.connect(gs_env.conninfo)
    locker.execute("LOCK TABLE sites IN ACCESS EXCLUSIVE MODE")
    t = threading.Thread(target=lambda: results.append(get_site(srv, site_id, login, timeout=30)[1]))
    t.start()
    opslib.wait_for(lambda: one(locker, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                                        " AND wait_event_type = 'Lock'") == 1, what="the call to wait for the lock")
    return locker, t


def test_one_user_cannot_hold_every_worker(started, db, gs_env):
    s = started(workers=2, max_calls_per_user=1, metrics_listen="127.0.0.1:0")
    s.metrics_port = opslib.metrics_port(s)
    site_id = one(db, "SELECT min(id) FROM sites")
    results = []
    locker, t = held_call(s, gs_env, "admin", site_id, results)
    try:
        # the same user's second call is refused at once; another user is served
        _, code, details = get_site(s, site_id, "admin")
        assert code == Code.RESOURCE_EXHAUSTED and "max_calls_per_user" in details, (code, details)
        _, code, details = s.call(WHOAMI, users_pb2.WhoAmIRequest(), users_pb2.WhoAmIResponse, login="logi.district")
        assert code == Code.OK, details
    finally:
        locker.rollback()
        locker.close()
    t.join(30)
    assert results == [Code.OK]
    alive(s)  # the slot is free again
    m = opslib.scrape(s.metrics_port)
    assert opslib.value(m, "gridstock_user_call_cap_refused_total") == 1


def reflect_list_services(srv, timeout=30):
    """grpc.reflection.v1 list_services (field 7) as raw bytes; returns the raw answer."""
    fn = srv.channel.stream_stream("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo")
    return list(fn(iter([b"\x3a\x00"]), timeout=timeout))


def test_health_and_reflection_never_wait_behind_database_calls(started, db, gs_env):
    s = started(workers=1, metrics_listen="127.0.0.1:0")
    s.metrics_port = opslib.metrics_port(s)
    site_id = one(db, "SELECT min(id) FROM sites")
    results = []
    locker, t = held_call(s, gs_env, "admin", site_id, results)  # the only database worker is busy
    try:
        t0 = time.time()
        resp, code, details = s.call_raw("/grpc.health.v1.Health/Check", b"", request_id="", timeout=30)
        assert code == Code.OK and resp == b"\x08\x01", (code, details)
        answers = reflect_list_services(s)
        assert len(answers) == 1 and b"gridstock.v1.SiteService" in answers[0]
        assert time.time() - t0 < 2, time.time() - t0  # at once, not after the held call
    finally:
        locker.rollback()
        locker.close()
    t.join(30)
    assert results == [Code.OK]
    # the bidi call has its log line and its metrics like any other call
    path = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
    lines = s.log_lines(event="call", method=path, status="OK")
    assert len(lines) == 1 and float(lines[0]["ms"]) >= 0 and lines[0]["peer"].startswith("ipv4:"), s.log()[-2000:]
    m = opslib.scrape(s.metrics_port)
    labels = dict(grpc_service="grpc.reflection.v1.ServerReflection", grpc_method="ServerReflectionInfo",
                  grpc_type="bidi_stream")
    assert opslib.value(m, "gridstock_grpc_server_handled_total", grpc_code="OK", **labels) == 1
    assert opslib.value(m, "gridstock_grpc_server_handling_seconds_count", **labels) == 1
    alive(s)


REFLECT = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
LIST_SERVICES = b"\x3a\x00"


def health_ms(srv):
    t0 = time.time()
    resp, code, details = srv.call_raw("/grpc.health.v1.Health/Check", b"", request_id="", timeout=30)
    assert code == Code.OK and resp == b"\x08\x01", (code, details)
    return (time.time() - t0) * 1000


def test_reflection_cannot_flood_the_light_worker(started):
    """Reflection runs on the light worker, which also answers health: a client gets at
    most 32 reflection calls open at once and 1,000 messages per call, and health answers
    promptly while reflection is hammered."""
    s = started()
    release = threading.Event()

    def held():  # one request, then the stream stays open until release
        yield LIST_SERVICES
        release.wait(60)

    chans = [grpc.insecure_channel(s.addr, options=[("grpc.use_local_subchannel_pool", 1)]) for _ in range(2)]
    try:
        open_calls = []
        for i in range(32):
            it = chans[i % 2].stream_stream(REFLECT)(held(), timeout=60)
            next(it)  # answered: the call is open
            open_calls.append(it)
        with pytest.raises(grpc.RpcError) as e:
            list(chans[0].stream_stream(REFLECT)(iter([LIST_SERVICES]), timeout=10))
        assert e.value.code() == Code.RESOURCE_EXHAUSTED and "reflection" in e.value.details(), e.value
        assert health_ms(s) < 1000
        release.set()
        for it in open_calls:
            assert list(it) == []  # ended normally by the client's half-close
        # one call of 1,001 messages: 1,000 answers, then RESOURCE_EXHAUSTED
        answers = []
        with pytest.raises(grpc.RpcError) as e:
            for a in chans[0].stream_stream(REFLECT)(iter([LIST_SERVICES] * 1001), timeout=60):
                answers.append(a)
        assert e.value.code() == Code.RESOURCE_EXHAUSTED and "1000 messages" in e.value.details(), e.value
        assert len(answers) == 1000
        # four clients hammering reflection: health still answers within a second
        stop = threading.Event()

        def hammer(ch):
            while not stop.is_set():
                try:
                    for _ in ch.stream_stream(REFLECT)(iter([LIST_SERVICES] * 200), timeout=30):
                        pass
                except grpc.RpcError:
                    pass

        ts = [threading.Thread(target=hammer, args=(chans[i % 2],)) for i in range(4)]
        for t in ts:
            t.start()
        try:
            time.sleep(0.5)
            worst = max(health_ms(s) for _ in range(10))
        finally:
            stop.set()
            for t in ts:
                t.join(60)
        assert worst < 1000, worst
    finally:
        release.set()
        for c in chans:
            c.close()
    alive(s)


def test_reflection_limits_are_settings(started):
    """max_reflection_calls and max_reflection_messages set the two caps; the refusals
    name the configured numbers."""
    s = started(max_reflection_calls=2, max_reflection_messages=10)
    release = threading.Event()

    def held():
        yield LIST_SERVICES
        release.wait(60)

    ch = grpc.insecure_channel(s.addr)
    try:
        open_calls = []
        for _ in range(2):
            it = ch.stream_stream(REFLECT)(held(), timeout=60)
            next(it)
            open_calls.append(it)
        with pytest.raises(grpc.RpcError) as e:
            list(ch.stream_stream(REFLECT)(iter([LIST_SERVICES]), timeout=10))
        assert e.value.code() == Code.RESOURCE_EXHAUSTED and "more than 2 reflection" in e.value.details(), e.value
        release.set()
        for it in open_calls:
            assert list(it) == []
        answers = []
        with pytest.raises(grpc.RpcError) as e:
            for a in ch.stream_stream(REFLECT)(iter([LIST_SERVICES] * 11), timeout=60):
                answers.append(a)
        assert e.value.code() == Code.RESOURCE_EXHAUSTED and "more than 10 messages" in e.value.details(), e.value
        assert len(answers) == 10
    finally:
        release.set()
        ch.close()
    alive(s)


def test_max_concurrent_streams_per_connection(started):
    s = started(max_concurrent_streams=1)
    w = open_watch(s)  # holds the connection's one stream
    try:
        _, code, _ = s.call(WHOAMI, users_pb2.WhoAmIRequest(), users_pb2.WhoAmIResponse, login="admin", timeout=2)
        assert code == Code.DEADLINE_EXCEEDED, code  # queued behind the watch on this connection
        with grpc.insecure_channel(s.addr) as other:
            fn = other.unary_unary("/gridstock.v1.UserService/WhoAmI")
            fn(b"", timeout=10, metadata=[("authorization", "Bearer " + s.token("admin"))])
    finally:
        w.cancel()


# ---------------------------------------------------------------- edges


@pytest.mark.parametrize("addr,plain_ok", [
    ("127.0.0.1", True), ("127.9.8.7", True), ("[::1]", True), ("localhost", True),
    ("127.0.0.1.example", False), ("127.attacker.example", False), ("0.0.0.0", False),
    ("[::ffff:10.0.0.1]", False),
])
def test_plaintext_needs_a_loopback_address_parsed_not_prefixed(gs_env, addr, plain_ok):
    p = paths.run([paths.GRIDSTOCKD, "check", "--listen", addr + ":50051", "--db", gs_env.conninfo,
                   "--token-keys", gs_env.keyring], env=paths.sanitizer_env(), check=False)
    listen = [l for l in p.stdout.splitlines() if " listen:" in l]
    assert listen, p.stdout + p.stderr
    assert listen[0].startswith("ok") == plain_ok, listen[0]


def test_request_log_keeps_request_log_days(started, db):
    old_id, new_id = "old-" + uuid.uuid4().hex, "new-" + uuid.uuid4().hex
    for rid, age in ((old_id, "31 days"), (new_id, "29 days")):
        db.execute("""INSERT INTO request_log (user_id, request_id, method, request_hash, created_at)
                      VALUES (1, %s, '/x', '\\x00', now() - %s::interval)""", (rid, age))
    s = started(request_log_days=30)  # the purge runs at start and every minute
    opslib.wait_for(lambda: one(db, "SELECT count(*) FROM request_log WHERE request_id = %s", old_id) == 0,
                    what="the old request id to be purged")
    assert one(db, "SELECT count(*) FROM request_log WHERE request_id = %s", new_id) == 1
    assert s.log_lines(event="job", job="request_log_purge")


INT64_MAX = 2**63 - 1


def test_counts_budgets_and_receipts_have_upper_bounds(started, db):
    from gridstock.v1 import funds_pb2, requisitions_pb2

    s = started()
    _, code, details = s.call("StockService/EnterCounts", stock_pb2.EnterCountsRequest(
        stocktake_id=1, counts=[stock_pb2.Count(lot_id=1, counted=2**40 + 1)]), stock_pb2.EnterCountsResponse,
        login=LOGI)
    assert code == Code.INVALID_ARGUMENT and "counts[0].counted" in details, (code, details)
    before = one(db, "SELECT count(*) FROM fund_budgets")
    _, code, details = s.call("FundService/SetBudget", funds_pb2.SetBudgetRequest(
        grid_code="GR001", period="2026", category="subsidies", amount=INT64_MAX), funds_pb2.Budget,
        login="fin.officer")
    assert code == Code.INVALID_ARGUMENT and "amount" in details, (code, details)
    assert one(db, "SELECT count(*) FROM fund_budgets") == before
    # two rejected quantities that would overflow their sum: refused before any arithmetic
    _, code, details = s.call("RequisitionService/ConfirmReceipt", requisitions_pb2.ConfirmReceiptRequest(
        id=1, lines=[requisitions_pb2.ReceiptLine(line_id=1, rejected_qty=INT64_MAX, reason="x", disposition="return"),
                     requisitions_pb2.ReceiptLine(line_id=2, rejected_qty=INT64_MAX, reason="x", disposition="return")]),
        requisitions_pb2.Requisition, login="staff.cm01")
    assert code == Code.INVALID_ARGUMENT and "lines[0].rejected_qty" in details, (code, details)
    # the same bounds hold in the database, whatever the code does (a CHECK is tested
    # before the foreign keys, so the ids need not exist)
    with psycopg.connect(db.info.dsn) as x:
        with pytest.raises(psycopg.errors.CheckViolation, match="stocktake_counts_counted_bound"):
            x.execute("INSERT INTO stocktake_counts (stocktake_id, lot_id, counted, system_qty)"
                      " VALUES (-1, -1, %s, 0)", (2**40 + 1,))
        x.rollback()
        with pytest.raises(psycopg.errors.CheckViolation, match="fund_budgets_amount_bound"):
            x.execute("UPDATE fund_budgets SET amount = %s WHERE id = (SELECT min(id) FROM fund_budgets)",
                      (10**13 + 1,))
        x.rollback()
    alive(s)


def test_worker_threads_that_cannot_start_stop_the_server_cleanly(gs_env):
    """pthread_create fails part-way through the workers (RLIMIT_NPROC): the server says
    so and exits 1 having joined only the threads it made (it used to join the others
    too, which is undefined behaviour and crashed)."""
    import os
    import shutil
    import tempfile

    tmp_path = tempfile.mkdtemp(prefix="gs-threads-")  # reachable by nobody (pytest's is not)
    os.chmod(tmp_path, 0o755)
    keys = os.path.join(tmp_path, "keyring")
    shutil.copy(gs_env.keyring, keys)
    os.chmod(keys, 0o600)
    cmd = [paths.GRIDSTOCKD, "--listen", "127.0.0.1:0", "--db", gs_env.conninfo, "--migrate=false",
           "--token-keys", str(keys), "--workers", "64"]
    if os.geteuid() == 0:  # root ignores RLIMIT_NPROC: run as nobody
        os.chown(tmp_path, 65534, 65534)
        os.chown(keys, 65534, 65534)
        cmd = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"] + cmd
        base = 0
    else:  # the limit counts every thread of this user
        base = sum(len(os.listdir("/proc/%s/task" % p)) for p in os.listdir("/proc")
                   if p.isdigit() and os.path.exists("/proc/%s/task" % p) and os.stat("/proc/" + p).st_uid == os.getuid())
    p = subprocess.run(["prlimit", "--nproc=%d" % (base + 24)] + cmd, capture_output=True, text=True, timeout=60,
                       env=paths.sanitizer_env())
    out = p.stdout + p.stderr
    assert p.returncode == 1, (p.returncode, out[-3000:])
    assert "cannot start worker thread" in out, out[-3000:]
    assert paths.sanitizer_report(out) is None, out[-3000:]
    shutil.rmtree(tmp_path)


@pytest.mark.parametrize("thread,message", [
    ("light", "cannot start worker thread"),
    ("worker", "cannot start worker thread"),
    ("listener", "listener"),
    ("monitor", "monitor"),
    ("sealer", "sealer"),
])
def test_a_runtime_thread_that_cannot_start_stops_the_server_with_an_error(gs_env, thread, message):
    """Any runtime thread that fails to start (made to fail by the GS_TEST_FAIL_THREAD hook):
    the server says which, exits 1 within seconds (never hangs) and leaves nothing behind."""
    import os

    env = dict(paths.sanitizer_env(), GS_TEST_FAIL_THREAD=thread)
    cmd = [paths.GRIDSTOCKD, "--listen", "127.0.0.1:0", "--db", gs_env.conninfo, "--migrate=false",
           "--token-keys", gs_env.keyring, "--audit-keys", os.path.join(gs_env.workdir, "audit-keyring"),
           "--grace-ms", "2000"]
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)
    out = p.stdout + p.stderr
    assert p.returncode == 1, (p.returncode, out[-3000:])
    assert time.time() - t0 < 20, out[-3000:]
    assert message in out, out[-3000:]
    assert "event=listening" not in out, out[-3000:]  # never announced as serving
    assert paths.sanitizer_report(out) is None, out[-3000:]


# ---------------------------------------------------------------- connections


class RawH2:
    """A bare HTTP/2 client on a socket: opens one grpc.health.v1.Health/Watch stream (it
    stays open) and then reads frames, answering the server's SETTINGS and, only when
    `ack_pings`, its PINGs. Records when PINGs and GOAWAY arrive and when the server
    closes the connection."""

    def __init__(self, port, ack_pings):
        import socket

        self.sock = socket.create_connection(("127.0.0.1", port), timeout=0.2)
        self.ack_pings = ack_pings
        self.t0 = time.time()
        self.pings, self.goaway, self.closed = [], None, None
        self.buf = b""
        self.frames = []  # (seconds, type, flags, stream, first bytes): for failure messages

    @staticmethod
    def frame(ftype, flags, stream, payload=b""):
        return len(payload).to_bytes(3, "big") + bytes([ftype, flags]) + stream.to_bytes(4, "big") + payload

    @staticmethod
    def header(name, value):
        n, v = name.encode(), value.encode()
        assert len(n) < 127 and len(v) < 127
        return b"\x00" + bytes([len(n)]) + n + bytes([len(v)]) + v  # literal, not indexed

    def open_watch(self):
        hdrs = b"".join(self.header(k, v) for k, v in [
            (":method", "POST"), (":scheme", "http"), (":path", "/grpc.health.v1.Health/Watch"),
            (":authority", "127.0.0.1"), ("content-type", "application/grpc"), ("te", "trailers")])
        self.sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + self.frame(4, 0, 0) +
                          self.frame(1, 0x4, 1, hdrs) + self.frame(0, 0x1, 1, b"\x00\x00\x00\x00\x00"))
        return self

    def run(self, seconds):
        """Reads frames for up to `seconds` or until the server closes the connection."""
        import socket

        end = time.time() + seconds
        while time.time() < end and self.closed is None:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                data = b""
            if not data:
                self.closed = time.time() - self.t0
                break
            self.buf += data
            while len(self.buf) >= 9:
                n = int.from_bytes(self.buf[:3], "big")
                if len(self.buf) < 9 + n:
                    break
                ftype, flags, payload = self.buf[3], self.buf[4], self.buf[9:9 + n]
                self.frames.append((round(time.time() - self.t0, 2), ftype, flags,
                                    int.from_bytes(self.buf[5:9], "big"), payload[:40]))
                self.buf = self.buf[9 + n:]
                try:
                    if ftype == 4 and not flags & 1:  # SETTINGS: acknowledged, or the server gives up on us
                        self.sock.sendall(self.frame(4, 1, 0))
                    elif ftype == 6 and not flags & 1:  # PING from the server
                        self.pings.append(time.time() - self.t0)
                        if self.ack_pings:
                            self.sock.sendall(self.frame(6, 1, 0, payload))
                    elif ftype == 7 and self.goaway is None:
                        self.goaway = time.time() - self.t0
                except OSError:
                    pass  # closed by the server: the next recv says so
        return self

    def close(self):
        self.sock.close()


def test_keepalive_cuts_a_peer_that_stops_answering_pings(started):
    s = started(keepalive_time_ms=1000, keepalive_timeout_ms=1000)
    deaf = RawH2(s.port, ack_pings=False).open_watch()
    polite = RawH2(s.port, ack_pings=True).open_watch()
    try:
        t = threading.Thread(target=polite.run, args=(5,))  # both read at once
        t.start()
        deaf.run(10)
        t.join()
        # pinged about a second after the call opened, then cut about a second later
        assert deaf.pings and deaf.closed is not None, (deaf.pings, deaf.closed)
        assert deaf.closed < 6, deaf.closed
        # a peer that answers stays connected and keeps being pinged
        assert polite.closed is None and len(polite.pings) >= 2, (polite.pings, polite.closed, polite.frames)
    finally:
        deaf.close()
        polite.close()
    alive(s)


def established(port):
    """Server-side TCP connections of `port` in state ESTABLISHED (from /proc/net/tcp and
    tcp6: gRPC may listen on a dual-stack socket)."""
    n = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in open(table).read().splitlines()[1:]:
            f = line.split()
            if int(f[1].rsplit(":", 1)[1], 16) == port and f[3] == "01":
                n += 1
    return n


def test_an_idle_connection_is_closed_after_max_connection_idle(started):
    s = started(max_connection_idle_ms=1000)
    with grpc.insecure_channel(s.addr, options=[("grpc.use_local_subchannel_pool", 1)]) as ch:
        who = ch.unary_unary("/gridstock.v1.UserService/WhoAmI")
        md = [("authorization", "Bearer " + s.token("admin"))]
        who(b"", timeout=10, metadata=md)
        assert established(s.port) >= 1
        t0 = time.time()
        opslib.wait_for(lambda: established(s.port) == 0, timeout=10, what="idle connections to be closed")
        assert time.time() - t0 < 5
        # the client reconnects for its next call as if nothing happened
        who(b"", timeout=10, metadata=md)
    # a connection with a call open is not idle: the watch stream keeps it
    st = open_watch(s, timeout=30)
    time.sleep(2.5)
    assert established(s.port) >= 1
    st.cancel()
    alive(s)


def test_max_connection_age_sends_goaway_and_lets_calls_finish_within_the_grace(started, db, gs_env):
    s = started(max_connection_age_ms=1000, max_connection_age_grace_ms=3000)
    # a raw client's open stream: GOAWAY after about a second, the connection closed once
    # the grace has passed too
    raw = RawH2(s.port, ack_pings=True).open_watch().run(10)
    raw.close()
    assert raw.goaway is not None and 0.7 < raw.goaway < 2.5, raw.goaway
    assert raw.closed is not None and raw.goaway + 2 < raw.closed < raw.goaway + 5, (raw.goaway, raw.closed)
    # a unary call in progress when its connection reaches its age ends normally (OK)
    site_id = one(db, "SELECT min(id) FROM sites")
    locker = psycopg.connect(gs_env.conninfo)
    locker.execute("LOCK TABLE sites IN ACCESS EXCLUSIVE MODE")
    results = []
    with grpc.insecure_channel(s.addr, options=[("grpc.use_local_subchannel_pool", 1)]) as ch:
        fn = ch.unary_unary("/gridstock.v1.SiteService/GetSite")
        md = [("authorization", "Bearer " + s.token("admin"))]

        def call():
            try:
                fn(sites_pb2.GetSiteRequest(id=site_id).SerializeToString(), timeout=30, metadata=md)
                results.append(Code.OK)
            except grpc.RpcError as e:
                results.append((e.code(), e.details()))

        t = threading.Thread(target=call)
        t.start()
        try:
            opslib.wait_for(lambda: one(locker, "SELECT count(*) FROM pg_stat_activity WHERE datname ="
                                                " current_database() AND wait_event_type = 'Lock'") == 1,
                            what="the call to wait for the lock")
            time.sleep(2)  # past the connection's age, within its grace
        finally:
            locker.rollback()
            locker.close()
        t.join(30)
    assert results == [Code.OK], results
    alive(s)



# ---------------------------------------------------------------- expensive reads


def test_stock_card_balances_are_the_running_sum_of_every_movement(started, db):
    """StockCard computes balances with one running sum per page (it used to run a sum over
    the item's history for every row): every row's balance must still be the sum of all
    the site's movements of the item up to it, across pages and with a time filter."""
    s = started()
    site, item, code_s, code_i = db.execute(
        """SELECT m.site_id, m.item_id, s.code, i.code FROM stock_movements m JOIN sites s ON s.id = m.site_id
             JOIN items i ON i.id = m.item_id GROUP BY 1, 2, 3, 4 ORDER BY count(*) DESC, 1, 2 LIMIT 1""").fetchone()
    # a few more movements of it, so the card has pages to walk
    for q in range(1, 13):
        s.call_ok("StockService/Receive", stock_pb2.ReceiveRequest(site_code=code_s, item_code=code_i, qty=q,
                                                                   lot_code="CARD", expires_on="2031-01-01"),
                  stock_pb2.ReceiveResponse, login=LOGI)
        if q % 3 == 0:
            s.call_ok("StockService/Issue", stock_pb2.IssueRequest(site_code=code_s, item_code=code_i, qty=q,
                                                                   lot_code="CARD"),
                      stock_pb2.IssueResponse, login=LOGI)
    want = db.execute("""SELECT id, (sum(qty) OVER (ORDER BY id))::bigint FROM stock_movements
                         WHERE site_id = %s AND item_id = %s ORDER BY id""", (site, item)).fetchall()
    assert len(want) >= 16

    def card(**kw):
        rows, token, opening = [], "", None
        while True:
            r = s.call_ok("StockService/StockCard", stock_pb2.StockCardRequest(
                site_code=code_s, item_code=code_i, page_size=5, page_token=token, **kw),
                stock_pb2.StockCardResponse, login=LOGI)
            if opening is None:
                opening = r.opening_balance
            rows += [(m.id, m.balance, m.at) for m in r.movements]
            token = r.next_page_token
            if not token:
                return rows, opening

    rows, opening = card()
    assert [(i, b) for i, b, _ in rows] == want and opening == 0
    # from the middle on: the balances still count what came before the filter
    since = rows[len(rows) // 2][2]
    later, opening = card(since=since)
    ids = {r[0] for r in db.execute("SELECT id FROM stock_movements WHERE site_id = %s AND item_id = %s"
                                    " AND at >= %s::timestamptz", (site, item, since)).fetchall()}
    assert len(ids) < len(want)
    assert [(i, b) for i, b, _ in later] == [w for w in want if w[0] in ids]
    k = [w[0] for w in want].index(later[0][0])
    assert opening == (want[k - 1][1] if k else 0)
    alive(s)


def test_org_unit_tree_counts_are_unchanged_by_the_one_pass_rewrite(started, db):
    """GetOrgUnitTree's counts come from one aggregate pass now (they were three counts per
    node over its subtree): every node's grids, compounds and three-no compounds must equal
    the per-node counts, computed here the old way, for the whole district and a street."""
    s = started()
    for login, code in (("admin", "DC"), ("admin", "ST01"), ("logi.st01", "")):
        tree = s.call_ok("OrgUnitService/GetOrgUnitTree",
                         org_units_pb2.GetOrgUnitTreeRequest(code=code, max_depth=4),
                         org_units_pb2.GetOrgUnitTreeResponse, login=login)
        assert len(tree.nodes) > 3
        got = {n.org_unit.id: (n.grids, n.compounds, n.three_no_compounds) for n in tree.nodes}
        want = dict((r[0], tuple(r[1:])) for r in db.execute(
            """SELECT ou.id,
                      (SELECT count(*) FROM org_units g WHERE g.kind = 'grid' AND g.path <@ ou.path)::int,
                      (SELECT count(*) FROM compounds cp JOIN org_units cu ON cu.id = cp.org_unit_id
                        WHERE cu.path <@ ou.path)::int,
                      (SELECT count(*) FROM compounds cp JOIN org_units cu ON cu.id = cp.org_unit_id
                        WHERE cu.path <@ ou.path AND cp.three_no)::int
                 FROM org_units ou WHERE ou.id = ANY(%s)""", (list(got),)).fetchall())
        assert got == want
        assert any(v[1] for v in got.values()) and any(v[2] for v in got.values())
    alive(s)
