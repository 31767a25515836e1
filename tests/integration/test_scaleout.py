"""Scale-out: three gridstockd on one PostgreSQL behind one client-side round-robin address.
Clients make mutating calls with request ids while one server is stopped (SIGTERM)
mid-run; a call that fails UNAVAILABLE, CANCELLED or DEADLINE_EXCEEDED is retried with the
same request id.
Every acknowledged write is in the database exactly once, no call fails for good, and all
three servers took calls."""
import threading
import time
import uuid

import grpc
import pytest

import opslib
from gridstock.v1 import sites_pb2
from harness import server as srvmod

Code = grpc.StatusCode
CREATE_SITE = "/gridstock.v1.SiteService/CreateSite"
# UNAVAILABLE: refused while stopping, or the connection went away. DEADLINE_EXCEEDED: may
# or may not have committed. CANCELLED that this client did not ask for: the stopping
# server's gRPC core resets calls it had queued but not yet handed to a worker. All three
# are safe to retry because the request id makes the write happen at most once.
RETRY = (Code.UNAVAILABLE, Code.DEADLINE_EXCEEDED, Code.CANCELLED)
THREADS = 6
SECONDS = 4.0


@pytest.fixture(scope="module")
def trio(gs_env):
    servers = [srvmod.Server(gs_env, metrics_listen="127.0.0.1:0").start() for _ in range(3)]
    yield servers
    for s in servers:
        if s.running():
            assert s.stop() == 0, s.log()[-2000:]


def call_with_retries(stub, payload, token, rid, stats):
    """One logical write: the same request id on every attempt. Returns (response bytes, code)."""
    md = (("authorization", "Bearer " + token), ("x-request-id", rid))
    for attempt in range(20):
        try:
            return stub(payload, timeout=5, metadata=md), Code.OK
        except grpc.RpcError as e:
            if e.code() not in RETRY:
                return None, e.code()
            stats["retries"] += 1
            time.sleep(min(0.02 * (attempt + 1), 0.2))
    return None, Code.UNAVAILABLE


def test_round_robin_over_three_with_one_stopped(trio, db):
    token = trio[0].token("admin")
    target = "ipv4:" + ",".join("127.0.0.1:%d" % s.port for s in trio)
    channel = grpc.insecure_channel(target, options=[("grpc.lb_policy_name", "round_robin"),
                                                     ("grpc.enable_retries", 0)])
    grpc.channel_ready_future(channel).result(timeout=10)
    stub = channel.unary_unary(CREATE_SITE)
    run = uuid.uuid4().hex[:6].upper()
    acked, failed = [], []
    stats = {"retries": 0}
    lock = threading.Lock()
    stop = threading.Event()
    before = [opslib.scrape(opslib.metrics_port(s)) for s in trio]

    def worker(n):
        i = 0
        while not stop.is_set():
            code = "SO%s%d%05d" % (run, n, i)
            i += 1
            req = sites_pb2.CreateSiteRequest(code=code, name="Scale-out " + code, kind="reserve_point",
                                              org_unit_code="CM01", address="1 Test Road", lat=31.2,
                                              lon=107.4, capacity_m3=1)
            rid = uuid.uuid4().hex
            resp, status = call_with_retries(stub, req.SerializeToString(), token, rid, stats)
            with lock:
                if status == Code.OK:
                    acked.append((code, rid, sites_pb2.Site.FromString(resp).id))
                else:
                    failed.append((code, rid, status))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    time.sleep(SECONDS / 3)
    victim = trio[1]
    mid = opslib.scrape(opslib.metrics_port(victim))
    assert victim.stop("TERM") == 0, victim.log()[-2000:]
    time.sleep(SECONDS * 2 / 3)
    stop.set()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    channel.close()

    assert not failed, failed[:5]
    assert len(acked) > 50
    # exactly once: every acknowledged write is there once, with the id it was answered with
    codes = [a[0] for a in acked]
    rows = dict(db.execute("SELECT code, id FROM sites WHERE code LIKE %s", ("SO" + run + "%",)).fetchall())
    assert set(rows) == set(codes), (len(rows), len(codes))
    assert all(rows[c] == i for c, _, i in acked)
    rids = [a[1] for a in acked]
    audit = dict(db.execute("SELECT request_id, count(*) FROM audit_log WHERE request_id = ANY(%s)"
                            " GROUP BY request_id", (rids,)).fetchall())
    assert all(audit.get(r) == 1 for r in rids), [r for r in rids if audit.get(r) != 1][:5]

    # every server took calls; the stopped one until it stopped
    def creates(samples):
        return opslib.value(samples, "gridstock_grpc_server_handled_total",
                            grpc_service="gridstock.v1.SiteService", grpc_method="CreateSite",
                            grpc_type="unary", grpc_code="OK")

    survivors = [creates(opslib.scrape(opslib.metrics_port(s))) - creates(b)
                 for s, b in zip(trio, before) if s.running()]
    share = creates(mid) - creates(before[1])
    assert share > 0 and all(n > 0 for n in survivors), (share, survivors)
    print("\nscale-out: %d writes in %.1fs (%.0f/s) by %d threads over 3 servers, one stopped "
          "mid-run; %d retries with the same request id; per server %s, stopped one %d (before its "
          "stop)" % (len(acked), elapsed, len(acked) / elapsed, THREADS, stats["retries"],
                     [int(n) for n in survivors], int(share)))
