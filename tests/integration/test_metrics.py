"""The Prometheus endpoint on the admin port: per-method call counts and latency histograms
match the calls made, in-flight and replay counters, database connection state and
reconnects, watch streams, build info; off unless configured; only GET /metrics."""
import os
import time
import uuid

import grpc
import pytest

import opslib
from gridstock.v1 import sites_pb2, users_pb2

Code = grpc.StatusCode
SVC_USERS = "gridstock.v1.UserService"
SVC_SITES = "gridstock.v1.SiteService"


@pytest.fixture(scope="module")
def msrv(gs_env):
    """A server with the admin endpoint on a free loopback port."""
    from harness import server as srvmod

    s = srvmod.Server(gs_env, metrics_listen="127.0.0.1:0").start()
    s.metrics_port = opslib.metrics_port(s)
    yield s
    assert s.stop() == 0, s.log()[-3000:]


def handled(samples, service, method, code):
    return opslib.value(
        samples,
        "gridstock_grpc_server_handled_total",
        grpc_service=service,
        grpc_method=method,
        grpc_type="unary",
        grpc_code=code,
    )


def hist(samples, service, method, suffix):
    return opslib.value(
        samples,
        "gridstock_grpc_server_handling_seconds_" + suffix,
        grpc_service=service,
        grpc_method=method,
        grpc_type="unary",
    )


def test_off_by_default(server):
    assert "metrics_listening" not in server.log()


def test_per_method_counts_match_calls(msrv):
    before = opslib.scrape(msrv.metrics_port)
    for _ in range(5):
        msrv.call_ok("UserService/WhoAmI", users_pb2.WhoAmIRequest(), users_pb2.WhoAmIResponse, login="admin")
    for _ in range(2):
        _, code, _ = msrv.call("UserService/WhoAmI", users_pb2.WhoAmIRequest(), None)
        assert code == Code.UNAUTHENTICATED
    for _ in range(3):
        msrv.call_ok("SiteService/ListSites", sites_pb2.ListSitesRequest(), sites_pb2.ListSitesResponse, login="admin")
    _, code, _ = msrv.call("SiteService/GetSite", sites_pb2.GetSiteRequest(code="NOPE-NOPE"), sites_pb2.Site, login="admin")
    assert code == Code.NOT_FOUND
    rid = uuid.uuid4().hex
    code_ = "M" + uuid.uuid4().hex[:8].upper()
    req = sites_pb2.CreateSiteRequest(code=code_, name="Metrics point", kind="reserve_point",
                                      org_unit_code="CM01", address="1 Test Road", lat=31.2,
                                      lon=107.4, capacity_m3=5)
    first = msrv.call_ok("SiteService/CreateSite", req, sites_pb2.Site, login="admin", request_id=rid)
    again = msrv.call_ok("SiteService/CreateSite", req, sites_pb2.Site, login="admin", request_id=rid)
    assert first.id == again.id
    _, code, _ = msrv.call_raw("/gridstock.v1.NoSuchService/Nope", b"", login="admin")
    assert code == Code.UNIMPLEMENTED

    def unknown(samples):
        return opslib.value(samples, "gridstock_grpc_server_handled_total", grpc_service="unknown",
                            grpc_method="unknown", grpc_type="unary", grpc_code="UNIMPLEMENTED")

    # calls the runtime answers are counted before the answer goes out; an unknown path is
    # counted by the transport when its call is done, just after the client has the status
    after = opslib.wait_for(lambda: (lambda s: s if unknown(s) > unknown(before) else None)(
        opslib.scrape(msrv.metrics_port)), what="the unknown call to be counted")

    def delta(service, method, code):
        return handled(after, service, method, code) - handled(before, service, method, code)

    assert delta(SVC_USERS, "WhoAmI", "OK") == 5
    assert delta(SVC_USERS, "WhoAmI", "UNAUTHENTICATED") == 2
    assert delta(SVC_SITES, "ListSites", "OK") == 3
    assert delta(SVC_SITES, "GetSite", "NOT_FOUND") == 1
    assert delta(SVC_SITES, "CreateSite", "OK") == 2
    # the client's path never becomes a label (no cardinality from outside)
    assert not any("NoSuchService" in str(k) for k in after)

    replays = opslib.value(after, "gridstock_idempotent_replays_total") - opslib.value(
        before, "gridstock_idempotent_replays_total")
    assert replays == 1

    # histogram: count per method = calls timed by the runtime; cumulative buckets
    assert hist(after, SVC_USERS, "WhoAmI", "count") - hist(before, SVC_USERS, "WhoAmI", "count") == 7
    buckets = sorted(
        (float(dict(ls)["le"]), v)
        for (n, ls), v in after.items()
        if n == "gridstock_grpc_server_handling_seconds_bucket"
        and dict(ls).get("grpc_method") == "ListSites"
    )
    counts = [v for _, v in buckets]
    assert counts == sorted(counts), "buckets not cumulative: %r" % buckets
    assert buckets[-1][0] == float("inf") and buckets[-1][1] == hist(after, SVC_SITES, "ListSites", "count")
    assert hist(after, SVC_SITES, "ListSites", "sum") > 0
    assert opslib.value(after, "gridstock_grpc_server_in_flight") == 0


def test_gauges_and_build_info(msrv):
    s = opslib.scrape(msrv.metrics_port)
    assert opslib.value(s, "gridstock_build_info", version=_version()) == 1
    assert opslib.value(s, "gridstock_process_start_time_seconds") > time.time() - 3600
    for conn in ("worker-0", "worker-1", "listener", "monitor"):
        assert opslib.value(s, "gridstock_db_connection_up", conn=conn) == 1, conn
        assert ("gridstock_db_reconnects_total", frozenset({("conn", conn)})) in s
    assert opslib.value(s, "gridstock_tx_retries_total") >= 0
    assert opslib.value(s, "gridstock_watch_streams_open") == 0


def _version():
    import re

    with open(os.path.join(os.environ.get("GS_SOURCE_DIR", "."), "CMakeLists.txt")) as f:
        return re.search(r"project\(gridstock VERSION ([0-9.]+)", f.read()).group(1)


def test_watch_streams_gauge(msrv):
    try:
        from gridstock.v1 import stock_pb2
    except ImportError:
        pytest.skip("no stock.proto yet: no watch to open")
    st = msrv.stream("StockService/WatchStockAlerts", stock_pb2.WatchStockAlertsRequest(),
                     stock_pb2.StockAlert, login="admin", timeout=30)
    def opened():
        if st._call.done() and st.code() == Code.UNIMPLEMENTED:
            return "unimplemented"
        return opslib.value(opslib.scrape(msrv.metrics_port), "gridstock_watch_streams_open") == 1

    try:
        if opslib.wait_for(opened, what="gridstock_watch_streams_open 1") == "unimplemented":
            pytest.skip("this server has no StockService yet")
    finally:
        st.cancel()
    opslib.wait_for(lambda: opslib.value(opslib.scrape(msrv.metrics_port),
                                         "gridstock_watch_streams_open") == 0,
                    what="gridstock_watch_streams_open back to 0")


def test_reconnects_counted_after_database_restart(msrv, pg):
    before = opslib.total(opslib.scrape(msrv.metrics_port), "gridstock_db_reconnects_total")
    pg.restart()

    def whoami_ok():
        _, code, _ = msrv.call("UserService/WhoAmI", users_pb2.WhoAmIRequest(), None, login="admin")
        return code == Code.OK

    opslib.wait_for(whoami_ok, timeout=30, what="calls to succeed after the restart")
    after = opslib.wait_for(
        lambda: (lambda s: s if opslib.total(s, "gridstock_db_reconnects_total") > before else None)(
            opslib.scrape(msrv.metrics_port)),
        what="reconnects to be counted")
    assert opslib.total(after, "gridstock_db_reconnects_total") > before
    assert "event=db_reconnected" in msrv.log()


def test_only_get_metrics(msrv):
    assert opslib.fetch(msrv.metrics_port, "/nope")[0] == 404
    assert opslib.fetch(msrv.metrics_port, "/metrics", method="POST")[0] == 405
    assert opslib.fetch(msrv.metrics_port, "/")[0] == 200


def test_scrape_time(msrv):
    """Not an assertion on speed: the figure is printed for the record (pytest -s)."""
    t0 = time.perf_counter()
    n = 50
    for _ in range(n):
        status, _, body = opslib.fetch(msrv.metrics_port)
        assert status == 200
    ms = (time.perf_counter() - t0) * 1000 / n
    print("\nmetrics scrape: %.2f ms per scrape, %d bytes" % (ms, len(body)))


def test_bad_metrics_listen_is_refused(gs_env):
    from harness import paths

    p = paths.run([paths.GRIDSTOCKD, "check", "--metrics-listen", "nonsense",
                   "--db", gs_env.conninfo, "--token-keys", gs_env.keyring], check=False)
    assert p.returncode == 2 and "metrics" in p.stderr, p.stderr
