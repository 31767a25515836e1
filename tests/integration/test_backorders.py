"""Backorders that fill themselves (065_backorder_fill.sql, issue 18): stock arriving at a
site (receipt, transfer in with a shortfall, donation at a charity station, positive
adjustment) goes to the open backorders that site can serve under the allocation's own
rule (scope and site kinds), emergency first, then urgent, then routine, oldest first,
partly when it runs out; an allocated requisition is topped up (allocated -> allocated,
refused by the database for any other state); requesters see the fill on the watch
stream; restocking proposes what backorders wait for; arrivals racing on two servers
never fill more than was asked."""
import queue
import threading
import time
import uuid

import grpc
import pytest

from gridstock.v1 import charity_pb2 as ch
from gridstock.v1 import requisitions_pb2 as rq
from gridstock.v1 import stock_pb2 as pb
from harness.sql import one

Code = grpc.StatusCode
R = rq.Requisition


def new_item(db):
    code = "BO-%s" % uuid.uuid4().hex[:8].upper()
    iid = one(db, "INSERT INTO items (code, name, category, unit) VALUES (%s, %s, 'food', 'box')"
                  " RETURNING id", code, "Backorder item " + code)
    return iid, code


def db_receive(db, site, item_id, qty):
    return one(db, "SELECT lot_id FROM stock_receive((SELECT id FROM sites WHERE code = %s),"
                   " %s, %s, %s, NULL)", site, item_id, qty, "L" + uuid.uuid4().hex[:6].upper())


def lot_state(db, lot_id):
    return db.execute("SELECT on_hand, reserved FROM lots WHERE id = %s", (lot_id,)).fetchone()


def rq_ok(server, method, req, resp_cls=R, login="leader.gr001", **kw):
    return server.call_ok("RequisitionService/" + method, req, resp_cls, login=login, **kw)


def receive(server, site, code, qty, login="logi.st01"):
    return server.call_ok("StockService/Receive", pb.ReceiveRequest(
        site_code=site, item_code=code, qty=qty, lot_code="A" + uuid.uuid4().hex[:6].upper()),
        pb.ReceiveResponse, login=login)


def approved(server, code, qty, priority="routine", login="leader.gr001"):
    r = rq_ok(server, "Create", rq.CreateRequisitionRequest(
        lines=[rq.RequisitionLineInput(item_code=code, qty=qty)], submit=True, priority=priority), login=login)
    return rq_ok(server, "Approve", rq.ApproveRequest(id=r.id), login="logi.st01")


def allocate(server, r, login="logi.st01"):
    return rq_ok(server, "Allocate", rq.RequisitionActionRequest(id=r.id), login=login)


def get(server, r):
    return rq_ok(server, "Get", rq.GetRequisitionRequest(id=r.id))


def line(r):
    ln = r.lines[0]
    return ln.qty_allocated, ln.qty_backordered


def verify_clean(server):
    v = server.call_ok("StockService/VerifyStock", pb.VerifyStockRequest(), pb.VerifyStockResponse,
                       login="admin")
    assert v.clean, v.differences


def watch(server, login):
    got = queue.Queue()
    st = server.stream("RequisitionService/WatchRequisitions", rq.WatchRequisitionsRequest(),
                       rq.RequisitionEvent, login=login, timeout=60)

    def pump():
        try:
            for ev in st:
                got.put(ev)
        except grpc.RpcError:
            pass

    threading.Thread(target=pump, daemon=True).start()
    time.sleep(1.0)
    return st, got


def events_of(got, ids, n, wait=10):
    out = []
    deadline = time.time() + wait
    while time.time() < deadline and len(out) < n:
        try:
            ev = got.get(timeout=max(0.05, deadline - time.time()))
        except queue.Empty:
            break
        if ev.requisition_id in ids:
            out.append(ev)
    return out


# ---------------------------------------------------------------- order and top-up


def test_arrival_fills_by_priority_then_age_partly_and_tops_up(server, db):
    item, code = new_item(db)
    db_receive(db, "RP01", item, 5)
    a = allocate(server, approved(server, code, 8))              # routine, oldest: 5 now, 3 waiting
    assert (a.status, line(a)) == ("allocated", (5, 3))
    b = allocate(server, approved(server, code, 4))              # routine, younger: all waiting
    assert (b.status, line(b)) == ("approved", (0, 4))
    c = allocate(server, approved(server, code, 2, "urgent"))    # urgent, youngest
    assert (c.status, line(c)) == ("approved", (0, 2))
    st, got = watch(server, "leader.gr001")

    # 6 arrive at RP02 (in logi.st01's scope): urgent C takes 2, then A (older) 3, B the last 1
    rc = receive(server, "RP02", code, 6)
    # the fill runs as the receipt commits: the response shows the lot as received
    assert (rc.lot.on_hand, rc.lot.reserved) == (6, 0)
    assert lot_state(db, rc.lot.id) == (6, 6)
    c, a, b = get(server, c), get(server, a), get(server, b)
    assert (c.status, line(c)) == ("allocated", (2, 0))
    assert (a.status, line(a)) == ("allocated", (8, 0))
    assert sorted((x.site_code, x.qty) for x in a.allocations) == [("RP01", 5), ("RP02", 3)]
    assert (b.status, line(b)) == ("allocated", (1, 3)) and b.reserved_until
    # the top-up is a transition of its own, by the receiving officer, in history and on the stream
    h = rq_ok(server, "History", rq.RequisitionHistoryRequest(id=a.id), rq.RequisitionHistoryResponse)
    last = h.transitions[-1]
    assert (last.from_state, last.to_state, last.actor_login) == ("allocated", "allocated", "logi.st01")
    assert "backorder filled: 3 %s" % code in last.comment and "at RP02" in last.comment
    evs = events_of(got, {a.id, b.id, c.id}, 3)
    st.cancel()
    assert sorted((e.requisition_id, e.from_state, e.to_state) for e in evs) == sorted(
        [(c.id, "approved", "allocated"), (a.id, "allocated", "allocated"), (b.id, "approved", "allocated")]), evs
    assert all("backorder filled" in e.comment and e.actor_login == "logi.st01" for e in evs)
    # the reservations ride on the receipt's request id, and one audit row tells the fill
    rid = one(db, "SELECT request_id FROM stock_movements WHERE lot_id = %s AND kind = 'receipt'", rc.lot.id)
    assert one(db, "SELECT count(*) FROM stock_movements WHERE lot_id = %s AND kind = 'reserve'"
                   " AND request_id = %s", rc.lot.id, rid) == 3
    audit = db.execute("SELECT method, login, summary, changes IS NOT NULL FROM audit_log"
                       " WHERE request_id = %s ORDER BY id", (rid,)).fetchall()
    assert [x[0] for x in audit] == ["/gridstock.v1.StockService/Receive", "req_backorders_fill"], audit
    assert audit[1][1] == "logi.st01" and c.number + " +2" in audit[1][2] and audit[1][3]

    # a second arrival finishes B and leaves the rest available
    rc2 = receive(server, "RP01", code, 10)
    assert lot_state(db, rc2.lot.id) == (10, 3)
    b = get(server, b)
    assert (b.status, line(b)) == ("allocated", (4, 0))
    # nothing is waiting any more: a third arrival reserves nothing
    rc3 = receive(server, "RP01", code, 1)
    assert lot_state(db, rc3.lot.id) == (1, 0)
    verify_clean(server)


def test_only_sites_the_allocation_could_use_serve_a_backorder(server, db):
    item, code = new_item(db)
    r = allocate(server, approved(server, code, 5))
    assert (r.status, line(r)) == ("approved", (0, 5))
    rule = db.execute("SELECT scope_path::text, site_kinds FROM requisition_backorders WHERE requisition_id = %s",
                      (r.id,)).fetchone()
    assert rule == (one(db, "SELECT ou.path::text FROM users u JOIN org_units ou ON ou.id = u.scope_id"
                            " WHERE u.login = 'logi.st01'"), ["reserve_point"])
    # ST02's reserve point is outside the allocating officer's scope; CS01 is a charity station
    other = receive(server, "RP07", code, 9, login="logi.district")
    cs = server.call_ok("CharityService/RecordDonation", ch.RecordDonationRequest(
        site_code="CS01", donor_name="Neighbours", items=[ch.DonationItem(item_code=code, qty=4)]),
        ch.Donation, login="logi.st01")
    assert cs.id and lot_state(db, other.lot.id) == (9, 0)
    r = get(server, r)
    assert (r.status, line(r)) == ("approved", (0, 5))
    # an officer whose scope reaches RP07 allocates by hand, as before
    r = allocate(server, r, login="logi.district")
    assert (r.status, line(r)) == ("allocated", (5, 0))
    verify_clean(server)


def test_transfer_received_short_fills_what_arrived(server, db):
    """The fill runs when the whole arrival is done: a transfer's transfer_in of what was
    sent is followed by the adjustment of what went missing, and the backorder gets what
    is left, not what was sent."""
    item, code = new_item(db)
    db_receive(db, "RP07", item, 10)
    r = allocate(server, approved(server, code, 10))
    assert line(r) == (0, 10)
    t = server.call_ok("StockService/DispatchTransfer", pb.DispatchTransferRequest(
        from_site_code="RP07", to_site_code="RP02", items=[pb.TransferItem(item_code=code, qty=10)]),
        pb.Transfer, login="logi.district")
    t = server.call_ok("StockService/ReceiveTransfer", pb.ReceiveTransferRequest(
        transfer_id=t.id, lines=[pb.ReceivedLine(line_id=t.lines[0].id, received_qty=8, reason="transit_loss")]),
        pb.Transfer, login="logi.st01")
    assert t.status == "received"
    r = get(server, r)
    assert (r.status, line(r)) == ("allocated", (8, 2))
    verify_clean(server)


def test_emergency_backorder_is_served_by_the_area_charity_stations(server, db):
    item, code = new_item(db)
    p = rq_ok(server, "SetEmergencyMode", rq.SetEmergencyModeRequest(
        org_unit_code="CM01", active=True, reason="storm"), rq.EmergencyMode, login="point.cm01")
    rq_ok(server, "ConfirmEmergencyMode", rq.ConfirmEmergencyModeRequest(proposal_id=p.proposal.id),
          rq.EmergencyMode, login="admin")
    try:
        rq_ok(server, "SetEmergencyCap", rq.SetEmergencyCapRequest(org_unit_code="CM01", item_code=code,
                                                                   daily_qty=6), rq.EmergencyCap, login="logi.st01")
        r = rq_ok(server, "Create", rq.CreateRequisitionRequest(
            lines=[rq.RequisitionLineInput(item_code=code, qty=6)], submit=True, priority="emergency"))
        assert r.status == "approved" and r.auto_approved and line(r) == (0, 6)
        kinds = one(db, "SELECT site_kinds FROM requisition_backorders WHERE requisition_id = %s", r.id)
        assert kinds == ["reserve_point", "charity_station"]
        ahead = allocate(server, approved(server, code, 3))  # routine, older than nothing: after the emergency
        server.call_ok("CharityService/RecordDonation", ch.RecordDonationRequest(
            site_code="CS01", donor_name="Red Cross", items=[ch.DonationItem(item_code=code, qty=4)]),
            ch.Donation, login="logi.st01")
        r = get(server, r)
        assert (r.status, line(r)) == ("allocated", (4, 2))
        assert [(x.site_code, x.qty) for x in r.allocations] == [("CS01", 4)]
        assert line(get(server, ahead)) == (0, 3)  # a charity station does not serve a routine backorder
    finally:
        p = rq_ok(server, "SetEmergencyMode", rq.SetEmergencyModeRequest(
            org_unit_code="CM01", active=False, reason="over"), rq.EmergencyMode, login="admin")
        rq_ok(server, "ConfirmEmergencyMode", rq.ConfirmEmergencyModeRequest(proposal_id=p.proposal.id),
              rq.EmergencyMode, login="point.cm01")
    verify_clean(server)


# ---------------------------------------------------------------- the state machine


def test_top_up_by_hand_and_refusals(server, db):
    item, code = new_item(db)
    db_receive(db, "RP01", item, 2)
    r = allocate(server, approved(server, code, 5))
    assert (r.status, line(r)) == ("allocated", (2, 3))
    # nothing more in scope: the top-up finds nothing and changes nothing
    r = allocate(server, r)
    assert (r.status, line(r)) == ("allocated", (2, 3))
    # the district officer reaches RP07: allocated -> allocated by hand
    db_receive(db, "RP07", item, 10)
    r = allocate(server, r, login="logi.district")
    assert (r.status, line(r)) == ("allocated", (5, 0))
    h = rq_ok(server, "History", rq.RequisitionHistoryRequest(id=r.id), rq.RequisitionHistoryResponse)
    assert (h.transitions[-1].from_state, h.transitions[-1].to_state) == ("allocated", "allocated")
    # fully allocated: refused, nothing changes
    from google.rpc import error_details_pb2 as E
    c, d, status = server.call_status("RequisitionService/Allocate", rq.RequisitionActionRequest(id=r.id),
                                      login="logi.district")
    assert c == Code.FAILED_PRECONDITION and "is allocated: nothing is left to allocate" in d, d
    assert [E.ErrorInfo.FromString(a.value).reason for a in status.details
            if a.Is(E.ErrorInfo.DESCRIPTOR)] == ["WRONG_STATE"], status
    assert one(db, "SELECT count(*) FROM requisition_history WHERE requisition_id = %s", r.id) == len(h.transitions)
    # the database refuses a same-state transition anywhere but allocated
    ap = approved(server, code, 1)
    with pytest.raises(Exception, match="is approved: it cannot become approved"):
        db.execute("UPDATE requisitions SET status_seq = status_seq + 1 WHERE id = %s", (ap.id,))
    # and records one made by hand (not through req_transition) as such
    db.execute("UPDATE requisitions SET status_seq = status_seq + 3 WHERE id = %s", (r.id,))
    by, comment = db.execute("SELECT actor_id, comment FROM requisition_history WHERE requisition_id = %s"
                             " ORDER BY id DESC LIMIT 1", (r.id,)).fetchone()
    assert by is None and comment.startswith("changed directly in the database")
    verify_clean(server)


# ---------------------------------------------------------------- restocking


def test_backorders_feed_the_restock_proposal(server, db):
    item, code = new_item(db)
    rp01, rp02 = (one(db, "SELECT id FROM sites WHERE code = %s", s) for s in ("RP01", "RP02"))
    for s in (rp01, rp02):
        db.execute("INSERT INTO site_items (site_id, item_id, reorder_point, par_level) VALUES (%s, %s, 2, 5)",
                   (s, item))
    db_receive(db, "RP02", item, 5)  # RP02 at par
    r = allocate(server, approved(server, code, 12))   # 5 from RP02, 7 waiting
    assert line(r) == (5, 7)
    site = one(db, "SELECT site_id FROM requisition_backorder_demand WHERE item_id = %s", item)
    assert site in (rp01, rp02)
    levels = dict((s, (bo, prop, low)) for s, bo, prop, low in db.execute(
        "SELECT site_id, backordered, proposed_qty, low FROM stock_levels WHERE item_id = %s", (item,)))
    other = rp02 if site == rp01 else rp01
    assert levels[site] == (7, 5 + 7, True)  # par 5 + 7 waiting - 0 available
    assert levels[other][0] == 0
    low = server.call_ok("StockService/LowStock", pb.LowStockRequest(site_id=site), pb.LowStockResponse,
                         login="logi.st01")
    assert [x.proposed_qty for x in low.lines if x.item_code == code] == [12]
    # the fill empties the demand
    receive(server, "RP01", code, 7)
    assert one(db, "SELECT count(*) FROM requisition_backorder_demand WHERE item_id = %s", item) == 0
    verify_clean(server)


# ---------------------------------------------------------------- races


def test_arrivals_racing_on_two_servers_never_overfill(server, db):
    item, code = new_item(db)
    first = allocate(server, approved(server, code, 10))
    second = allocate(server, approved(server, code, 7))
    assert line(first) == (0, 10) and line(second) == (0, 7)
    other = server.start_server()
    results = []
    n = 12
    barrier = threading.Barrier(n)

    def client(i):
        srv = server if i % 2 == 0 else other
        barrier.wait()
        _, c, d = srv.call("StockService/Receive", pb.ReceiveRequest(
            site_code="RP01" if i % 3 else "RP02", item_code=code, qty=2, lot_code="RACE%02d" % i),
            pb.ReceiveResponse, login="logi.st01", timeout=30)
        results.append((c, d))

    try:
        ths = [threading.Thread(target=client, args=(i,)) for i in range(n)]
        [t.start() for t in ths]
        [t.join() for t in ths]
    finally:
        assert other.stop() == 0
    assert [c for c, _ in results] == [Code.OK] * n, results
    first, second = get(server, first), get(server, second)
    # 24 units arrived: 10 + 7 were asked, none twice, the rest stays available
    assert line(first) == (10, 0) and line(second) == (7, 0)
    assert sum(x.qty for x in first.allocations) == 10 and sum(x.qty for x in second.allocations) == 7
    on_hand, reserved = db.execute("SELECT sum(on_hand), sum(reserved) FROM lots WHERE item_id = %s",
                                   (item,)).fetchone()
    assert (on_hand, reserved) == (24, 17)
    assert one(db, "SELECT sum(reserved_delta) FROM stock_movements WHERE item_id = %s AND kind = 'reserve'",
               item) == 17
    print("\nrace: %d receipts of 2 on two servers filled 10 + 7 backordered units exactly" % n)
    verify_clean(server)
