"""Closing the supply loops of issue 18 (085–087): a call-off the fund cannot pay is a note on
the requisition and an event on its watch stream, while any other refusal met writing the
order fails the call; a call-off's state follows its purchase order and the requesting
grid's staff list their call-offs (and no other grid's); goods received against an order
bought for a requisition serve that requisition first; stock freed by a cancelled
requisition or an expired reservation fills open backorders as arrivals do; and two
approvals racing on two servers for the last units of stock: exactly one gets them."""
import queue
import threading
import time
import uuid

import grpc
import pytest

from gridstock.v1 import funds_pb2 as F
from gridstock.v1 import procurement_pb2 as pb
from gridstock.v1 import requisitions_pb2 as rq
from gridstock.v1 import stock_pb2 as st
from harness.money import move
from harness.sql import one

Code = grpc.StatusCode
SVC = "RequisitionService/"


def new_item(db):
    code = "SL-%s" % uuid.uuid4().hex[:8].upper()
    iid = one(db, "INSERT INTO items (code, name, category, unit) VALUES (%s, %s, 'food', 'box')"
                  " RETURNING id", code, "Supply loop item " + code)
    return iid, code


def today(db, days=0):
    return one(db, "SELECT to_char((now() AT TIME ZONE 'Asia/Shanghai')::date + %s, 'YYYY-MM-DD')", days)


def agreement(server, db, code, daily=10, cap=300, fund="GF-GR001", login="logi.st01"):
    return server.call_ok(SVC + "CreateSupplyAgreement", rq.CreateSupplyAgreementRequest(
        supplier_site_code="SM02", org_unit_code="ST01", delivery_hours=6, valid_from=today(db, -1),
        valid_until=today(db, 30), fund_account_code=fund,
        items=[rq.SupplyAgreementItem(item_code=code, daily_qty=daily, price_cap_fen=cap)]),
        rq.SupplyAgreement, login=login)


def end(server, a, login="logi.st01"):
    server.call_ok(SVC + "EndSupplyAgreement", rq.EndSupplyAgreementRequest(id=a.id, reason="test over"),
                   rq.SupplyAgreement, login=login)


def cap(server, code, qty):
    server.call_ok(SVC + "SetEmergencyCap", rq.SetEmergencyCapRequest(org_unit_code="CM01", item_code=code,
                                                                      daily_qty=qty), rq.EmergencyCap,
                   login="logi.st01")


def create(server, code, qty, priority="emergency", login="leader.gr001"):
    return server.call(SVC + "Create", rq.CreateRequisitionRequest(
        lines=[rq.RequisitionLineInput(item_code=code, qty=qty)], submit=True, priority=priority),
        rq.Requisition, login=login)


def create_ok(server, code, qty, **kw):
    r, c, d = create(server, code, qty, **kw)
    assert c == Code.OK, d
    return r


def get(server, r, login="leader.gr001"):
    return server.call_ok(SVC + "Get", rq.GetRequisitionRequest(id=r.id), rq.Requisition, login=login)


def history(server, r, login="leader.gr001"):
    return server.call_ok(SVC + "History", rq.RequisitionHistoryRequest(id=r.id), rq.RequisitionHistoryResponse,
                          login=login).transitions


def requested(server, login="leader.gr001", **kw):
    return server.call(SVC + "ListRequestedCallOffs", rq.ListRequestedCallOffsRequest(**kw),
                       rq.ListCallOffsResponse, login=login)


def requested_ok(server, login="leader.gr001", **kw):
    resp, c, d = requested(server, login=login, **kw)
    assert c == Code.OK, d
    return list(resp.call_offs)


def line(r):
    ln = r.lines[0]
    return ln.qty_allocated, ln.qty_backordered


def receive_order(server, oid, code, qty, login="logi.st01"):
    return server.call_ok("ProcurementService/ReceiveAgainstOrder", pb.ReceiveAgainstOrderRequest(
        order_id=oid, lines=[pb.ReceiptLineInput(item_code=code, qty=qty, lot_code="CO" + uuid.uuid4().hex[:6],
                                                 expires_on="2030-01-01")]),
        pb.ReceiveAgainstOrderResponse, login=login)


def verify(server):
    v = server.call_ok("FundService/VerifyLedger", F.VerifyLedgerRequest(), F.VerifyLedgerResponse, login="auditor")
    assert v.ok, v.problems
    s = server.call_ok("StockService/VerifyStock", st.VerifyStockRequest(), st.VerifyStockResponse, login="admin")
    assert s.clean, s.differences


def watch(server, login):
    got = queue.Queue()
    stream = server.stream(SVC + "WatchRequisitions", rq.WatchRequisitionsRequest(), rq.RequisitionEvent,
                           login=login, timeout=60)

    def pump():
        try:
            for ev in stream:
                got.put(ev)
        except grpc.RpcError:
            pass

    threading.Thread(target=pump, daemon=True).start()
    time.sleep(1.0)
    return stream, got


def events_of(got, rid, kind, wait=10):
    deadline = time.time() + wait
    while time.time() < deadline:
        try:
            ev = got.get(timeout=max(0.05, deadline - time.time()))
        except queue.Empty:
            break
        if ev.requisition_id == rid and ev.kind == kind:
            return ev
    return None


@pytest.fixture(scope="module")
def emergency(server):
    """CM01 in emergency mode for the module (proposed by its point leader, confirmed by admin)."""
    def mode(active, proposer, confirmer, reason):
        p = server.call_ok(SVC + "SetEmergencyMode", rq.SetEmergencyModeRequest(
            org_unit_code="CM01", active=active, reason=reason), rq.EmergencyMode, login=proposer)
        server.call_ok(SVC + "ConfirmEmergencyMode", rq.ConfirmEmergencyModeRequest(proposal_id=p.proposal.id),
                       rq.EmergencyMode, login=confirmer)
    mode(True, "point.cm01", "admin", "flood")
    yield
    mode(False, "admin", "point.cm01", "over")


# ---------------------------------------------------------------- 1: a refused call-off is seen


def test_a_refused_calloff_is_a_note_and_an_event(server, db, emergency):
    item, code = new_item(db)
    avail = one(db, "SELECT balance - pending FROM fund_accounts WHERE code = 'GF-GR001'")
    qty = avail // 100000 + 1  # one unit more than the fund can pay
    cap(server, code, qty + 10)
    a = agreement(server, db, code, daily=qty, cap=100000)
    stream, got = watch(server, "leader.gr001")
    r = create_ok(server, code, qty)
    assert r.status == "approved" and line(r) == (0, qty)
    assert not requested_ok(server, requisition_id=r.id)
    # the requester reads why in the history: a note that keeps the state
    notes = [t for t in history(server, r) if t.kind == "note"]
    assert len(notes) == 1, history(server, r)
    n = notes[0]
    assert (n.from_state, n.to_state, n.actor_login) == ("approved", "approved", "")
    assert "call-off of %d %s from SM02 (supply agreement %d) refused" % (qty, code, a.id) in n.comment
    assert "would be overdrawn" in n.comment, n.comment
    assert sorted(t.kind for t in history(server, r)).count("note") == 1
    # and sees it on the watch stream
    ev = events_of(got, r.id, "note")
    stream.cancel()
    assert ev is not None and ev.from_state == ev.to_state == "approved" and "refused" in ev.comment, ev
    # the database: a note keeps the state
    with pytest.raises(Exception, match="requisition_history_note_keeps_state"):
        db.execute("INSERT INTO requisition_history (requisition_id, from_state, to_state, comment, kind)"
                   " VALUES (%s, 'approved', 'allocated', 'x', 'note')", (r.id,))
    end(server, a)


def test_another_refusal_met_writing_the_order_fails_the_call(server, db, emergency):
    """Only the money's refusal is caught: a GS409 from writing the order's line (here a test
    trigger standing for any rule of the order tables) fails the submission, nothing changed."""
    item, code = new_item(db)
    cap(server, code, 100)
    a = agreement(server, db, code, daily=10, cap=300)
    db.execute("""CREATE FUNCTION test_refuse_line() RETURNS trigger LANGUAGE plpgsql AS $$
                  BEGIN RAISE EXCEPTION 'test: this order line is refused' USING ERRCODE = 'GS409'; END $$""")
    db.execute("CREATE TRIGGER test_refuse_line BEFORE INSERT ON purchase_order_lines FOR EACH ROW"
               " WHEN (NEW.item_id = %d) EXECUTE FUNCTION test_refuse_line()" % item)
    try:
        before = one(db, "SELECT count(*) FROM requisitions")
        _, c, d = create(server, code, 4)
        assert c == Code.FAILED_PRECONDITION and "this order line is refused" in d, (c, d)
        assert one(db, "SELECT count(*) FROM requisitions") == before
        assert one(db, "SELECT count(*) FROM supply_calloffs WHERE item_id = %s", item) == 0
    finally:
        db.execute("DROP TRIGGER test_refuse_line ON purchase_order_lines")
        db.execute("DROP FUNCTION test_refuse_line()")
    # without the rule the same requisition is called off
    r = create_ok(server, code, 4)
    assert [o.qty for o in requested_ok(server, requisition_id=r.id)] == [4]
    end(server, a)


# ---------------------------------------------------------------- 2 and 3: state, listing, serving first


def test_calloff_state_follows_its_order_and_its_goods_serve_the_requisition_first(server, db, emergency):
    item, code = new_item(db)
    cap(server, code, 100)
    # an older routine requisition of GR001 waits for the same item (approved by logi.st01,
    # reserve points of ST01: RP01, where the call-off is delivered, can serve it)
    old = server.call_ok(SVC + "Create", rq.CreateRequisitionRequest(
        lines=[rq.RequisitionLineInput(item_code=code, qty=9)], submit=True), rq.Requisition, login="leader.gr001")
    old = server.call_ok(SVC + "Approve", rq.ApproveRequest(id=old.id), rq.Requisition, login="logi.st01")
    old = server.call_ok(SVC + "Allocate", rq.RequisitionActionRequest(id=old.id), rq.Requisition,
                         login="logi.st01")
    assert line(old) == (0, 9)
    a = agreement(server, db, code, daily=10, cap=300)

    r = create_ok(server, code, 5)
    assert (r.status, line(r)) == ("approved", (0, 0))
    [off] = requested_ok(server, requisition_id=r.id)
    assert (off.state, off.qty, off.qty_received, off.requisition_number) == ("placed", 5, 0, r.number)
    dest = one(db, "SELECT s.kind FROM purchase_orders o JOIN sites s ON s.id = o.site_id WHERE o.id = %s",
               off.purchase_order_id)
    assert dest == "reserve_point"

    # 3 of 5 arrive: they are reserved for r, not for the older backorder
    receive_order(server, off.purchase_order_id, code, 3)
    r, old = get(server, r), get(server, old)
    assert (r.status, line(r)) == ("allocated", (3, 0)) and line(old) == (0, 9)
    last = history(server, r)[-1]
    assert (last.from_state, last.to_state, last.actor_login) == ("approved", "allocated", "logi.st01")
    assert "goods of purchase order %s received for it: 3 %s" % (off.purchase_order_number, code) in last.comment
    [off] = requested_ok(server, requisition_id=r.id)
    assert (off.state, off.qty_received) == ("partly_received", 3)
    # the rest: r is topped up (allocated -> allocated); the older backorder still waits
    receive_order(server, off.purchase_order_id, code, 2)
    r = get(server, r)
    assert (r.status, line(r)) == ("allocated", (5, 0))
    assert history(server, r)[-1].from_state == "allocated"
    [off] = requested_ok(server, requisition_id=r.id)
    assert (off.state, off.qty_received) == ("received", 5)
    assert [o.id for o in requested_ok(server, requisition_id=r.id, state="received")] == [off.id]
    assert not requested_ok(server, requisition_id=r.id, state="placed")
    assert line(get(server, old)) == (0, 9)
    assert one(db, "SELECT sum(reserved) FROM lots WHERE item_id = %s", item) == 5

    # a requisition cancelled cancels its call-off's order: the call-off says so
    r2 = create_ok(server, code, 2)
    [off2] = requested_ok(server, requisition_id=r2.id)
    server.call_ok(SVC + "Cancel", rq.CancelRequest(id=r2.id, reason="not needed"), rq.Requisition,
                   login="leader.gr001")
    [off2] = requested_ok(server, requisition_id=r2.id)
    assert off2.state == "cancelled"
    # the logistics officers' list shows the same states
    offs = server.call_ok(SVC + "ListCallOffs", rq.ListCallOffsRequest(agreement_id=a.id), rq.ListCallOffsResponse,
                          login="logi.st01").call_offs
    assert [(o.id, o.state) for o in offs] == [(off.id, "received"), (off2.id, "cancelled")]
    verify(server)
    end(server, a)


def test_requested_calloffs_are_scoped_to_the_requesting_grid(server, db, emergency):
    item, code = new_item(db)
    cap(server, code, 100)
    a = agreement(server, db, code, daily=10, cap=300)
    r = create_ok(server, code, 3)
    [off] = requested_ok(server, requisition_id=r.id)
    # the grid's staff list them by requisition, by number, or all of their grid's
    assert [o.id for o in requested_ok(server, requisition_number=r.number)] == [off.id]
    assert off.id in [o.id for o in requested_ok(server)]
    assert off.id in [o.id for o in requested_ok(server, org_unit_code="GR001")]
    assert off.id in [o.id for o in requested_ok(server, login="point.cm01", org_unit_code="CM01")]
    # another grid's staff (same community) see none of them: NOT_FOUND for the requisition
    # and the grid, and their own list leaves them out
    for kw in (dict(requisition_id=r.id), dict(requisition_number=r.number), dict(org_unit_code="GR001")):
        _, c, d = requested(server, login="leader.gr002", **kw)
        assert c == Code.NOT_FOUND, (kw, c, d)
    assert off.id not in [o.id for o in requested_ok(server, login="leader.gr002")]
    _, c, d = requested(server, login="staff.cm02", requisition_id=r.id)
    assert c == Code.NOT_FOUND, d
    # a role without requisition.read, and bad input
    _, c, _ = requested(server, login="fin.officer", requisition_id=r.id)
    assert c == Code.PERMISSION_DENIED
    _, c, d = requested(server, state="lost")
    assert c == Code.INVALID_ARGUMENT and "state" in d
    end(server, a)


def test_cli_lists_requested_calloffs(server, db, emergency, cli):
    import json
    import re
    item, code = new_item(db)
    cap(server, code, 100)
    a = agreement(server, db, code, daily=10, cap=300)
    r = create_ok(server, code, 2)
    rc, out, err = cli("requisition", "list-requested-call-offs", "--requisition-id", str(r.id), login="leader.gr001")
    assert rc == 0, err
    rows = [re.split(r"\s{2,}", l.strip()) for l in out.splitlines() if l.strip()]
    assert "STATE" in rows[0], rows[0]
    assert rows[1][rows[0].index("STATE")] == "placed" and rows[1][rows[0].index("REQUISITION")] == r.number
    rc, out, err = cli("--json", "requisition", "list-requested-call-offs", "--requisition-id", str(r.id),
                       login="leader.gr002")
    assert rc == 3 and "NOT_FOUND" in err, (rc, out, err)
    rc, out, err = cli("--json", "requisition", "list-requested-call-offs", "--state", "cancelled",
                       login="leader.gr001")
    assert rc == 0 and r.id not in [o["requisition_id"] for o in json.loads(out).get("call_offs", [])], err
    end(server, a)


# ---------------------------------------------------------------- 4: releases fill backorders


def db_receive(db, site, item_id, qty):
    return one(db, "SELECT lot_id FROM stock_receive((SELECT id FROM sites WHERE code = %s),"
                   " %s, %s, %s, NULL)", site, item_id, qty, "L" + uuid.uuid4().hex[:6].upper())


def approved_allocated(server, code, qty):
    r = server.call_ok(SVC + "Create", rq.CreateRequisitionRequest(
        lines=[rq.RequisitionLineInput(item_code=code, qty=qty)], submit=True), rq.Requisition, login="leader.gr001")
    server.call_ok(SVC + "Approve", rq.ApproveRequest(id=r.id), rq.Requisition, login="logi.st01")
    return server.call_ok(SVC + "Allocate", rq.RequisitionActionRequest(id=r.id), rq.Requisition, login="logi.st01")


def test_stock_freed_by_a_cancel_or_an_expiry_fills_backorders(server, db):
    item, code = new_item(db)
    lot = db_receive(db, "RP01", item, 6)
    first = approved_allocated(server, code, 6)
    waiting = approved_allocated(server, code, 4)
    assert line(first) == (6, 0) and (waiting.status, line(waiting)) == ("approved", (0, 4))
    # cancelling the first frees 6: the waiting one gets 4 in the same transaction
    server.call_ok(SVC + "Cancel", rq.CancelRequest(id=first.id, reason="plans changed"), rq.Requisition,
                   login="leader.gr001")
    waiting = get(server, waiting)
    assert (waiting.status, line(waiting)) == ("allocated", (4, 0))
    assert "backorder filled: 4 %s" % code in history(server, waiting)[-1].comment
    assert db.execute("SELECT on_hand, reserved FROM lots WHERE id = %s", (lot,)).fetchone() == (6, 4)

    # an expired reservation frees its units for the next one waiting
    later = approved_allocated(server, code, 5)
    assert line(later) == (2, 3)
    db.execute("UPDATE requisitions SET reserved_until = now() - interval '1 minute' WHERE id = %s", (waiting.id,))
    assert one(db, "SELECT requisition_expire_reservations()") >= 1
    later, waiting = get(server, later), get(server, waiting)
    assert waiting.status == "approved" and line(waiting) == (0, 0)
    assert (later.status, line(later)) == ("allocated", (5, 0))
    assert db.execute("SELECT on_hand, reserved FROM lots WHERE id = %s", (lot,)).fetchone() == (6, 5)
    verify(server)


# ---------------------------------------------------------------- 6: two approvals race for the last units


@pytest.fixture(scope="module")
def funded(server, db):
    """GR001's fund and a material_purchases budget for this month, from a new source."""
    src = server.call_ok("FundService/CreateAccount", F.CreateAccountRequest(
        kind="source", code="SRC-SL-" + uuid.uuid4().hex[:6].upper(), name="Supply loop source"), F.Account,
        login="fin.officer").code
    move(server, "PrepareDeposit", source_code=src, amount=50_000_000)
    move(server, "PrepareAllocation", source_code=src, grid_code="GR001", amount=10_000_000)
    server.call_ok("FundService/SetBudget", F.SetBudgetRequest(
        grid_code="GR001", period=one(db, "SELECT to_char(current_date, 'YYYY-MM')"), category="material_purchases",
        amount=10_000_000), F.Budget, login="fin.officer")


def test_two_approvals_racing_on_two_servers_for_the_last_units(server, db, funded):
    other = server.start_server()
    try:
        for round_ in range(3):
            item, code = new_item(db)
            server.call_ok("ProcurementService/SetPrice", pb.SetPriceRequest(
                item_code=code, supplier_site_code="SM01", unit_price_fen=100), pb.Price, login="logi.st01")
            lot = db_receive(db, "RP01", item, 5)
            reqs = [create_ok(server, code, 5, priority="routine") for _ in range(2)]
            barrier = threading.Barrier(2)
            results = [None, None]

            def approve(i):
                srv = server if i == 0 else other
                barrier.wait()
                results[i] = srv.call(SVC + "Approve", rq.ApproveRequest(id=reqs[i].id, purchase_shortfall=True),
                                      rq.Requisition, login="logi.st01", timeout=30)

            ths = [threading.Thread(target=approve, args=(i,)) for i in range(2)]
            [t.start() for t in ths]
            [t.join() for t in ths]
            assert [c for _, c, _ in results] == [Code.OK, Code.OK], results
            got = sorted(line(get(server, r)) for r in reqs)
            # exactly one has the 5 units; the other has none reserved, all 5 backordered and bought
            assert got == [(0, 5), (5, 0)], got
            short = [r for r in reqs if line(get(server, r)) == (0, 5)][0]
            assert db.execute("SELECT l.qty FROM purchase_orders o JOIN purchase_order_lines l ON l.order_id = o.id"
                              " WHERE o.requisition_id = %s AND o.status = 'placed'", (short.id,)).fetchall() == [(5,)]
            assert db.execute("SELECT on_hand, reserved FROM lots WHERE id = %s", (lot,)).fetchone() == (5, 5)
            assert one(db, "SELECT count(*) FROM lots WHERE on_hand < 0 OR reserved > on_hand") == 0
            for r in reqs:
                server.call_ok(SVC + "Cancel", rq.CancelRequest(id=r.id, reason="race over"), rq.Requisition,
                               login="leader.gr001")
    finally:
        assert other.stop() == 0
    print("\nrace: 3 rounds of two approvals on two servers for the last 5 units: one got them each time")
    verify(server)


# ---------------------------------------------------------------- 5: the fund reports see goods


def test_spending_report_counts_purchases_and_balances_show_the_reserves(server, db, emergency):
    from gridstock.v1 import reports_pb2 as R
    month = one(db, "SELECT to_char(current_date, 'YYYY-MM')")

    def spending(**kw):
        return server.call_ok("FundReportService/SpendingReport", R.SpendingReportRequest(
            category="emergency", from_period=month, to_period=month, **kw), R.SpendingReportResponse,
            login="fin.officer")

    def cell(**kw):
        r = spending(**kw)
        return r.total, r.disbursements, r.purchases, r.purchase_total

    item, code = new_item(db)
    cap(server, code, 100)
    a = agreement(server, db, code, daily=10, cap=300)
    before, before_st = cell(org_unit_code="GR001"), cell(org_unit_code="ST01", group_by="street")
    r = create_ok(server, code, 4)
    [off] = requested_ok(server, requisition_id=r.id)
    # placed, not yet received: nothing spent
    assert cell(org_unit_code="GR001") == before
    receive_order(server, off.purchase_order_id, code, 3)
    receive_order(server, off.purchase_order_id, code, 1)
    # two receipts, two purchase postings of 900 and 300 fen from GF-GR001
    t, n, p, pt = before
    assert cell(org_unit_code="GR001") == (t + 1200, n, p + 2, pt + 1200)
    t, n, p, pt = before_st
    assert cell(org_unit_code="ST01", group_by="street") == (t + 1200, n, p + 2, pt + 1200)
    rows = spending(org_unit_code="GR001").rows
    assert [(x.unit_code, x.category, x.period) for x in rows if x.purchases] == [("GR001", "emergency", month)]
    # the report agrees with the ledger: every purchase posting from GR001's fund this month
    assert spending(org_unit_code="GR001").purchase_total == one(
        db, "SELECT coalesce(sum(-e.amount), 0) FROM fund_postings p JOIN fund_entries e ON e.posting_id = p.id"
            " JOIN fund_accounts f ON f.id = e.account_id WHERE p.kind = 'purchase' AND f.code = 'GF-GR001'"
            " AND date_trunc('month', p.created_at) = date_trunc('month', now()) AND EXISTS (SELECT 1"
            " FROM purchase_order_receipts x JOIN purchase_orders o ON o.id = x.order_id"
            " WHERE x.posting_id = p.id AND o.budget_category = 'emergency')")
    end(server, a)

    # a street's source shows what the reserve points and charity stations of the street hold
    src = server.call_ok("FundService/CreateAccount", F.CreateAccountRequest(
        kind="source", code="SRC-ST01-" + uuid.uuid4().hex[:4].upper(), name="Street source",
        org_unit_code="ST01"), F.Account, login="fin.officer").code
    held = db.execute("SELECT count(DISTINCT s.id), coalesce(sum(l.on_hand * l.unit_cost_fen), 0) FROM sites s"
                      " JOIN org_units ou ON ou.id = s.org_unit_id LEFT JOIN lots l ON l.site_id = s.id"
                      " AND l.on_hand > 0 WHERE ou.path <@ (SELECT path FROM org_units WHERE code = 'ST01')"
                      " AND s.kind <> 'supplier_market'").fetchone()
    assert held[0] > 0 and held[1] > 0, held
    bal = server.call_ok("FundReportService/Balances", R.BalancesRequest(org_unit_code="ST01", kind="source"),
                         R.BalancesResponse, login="fin.officer")
    [row] = [x for x in bal.rows if x.account_code == src]
    assert (row.reserve_sites, row.reserve_value_fen) == tuple(held)
    # a payee keeps no stock; a grid without a site shows none
    bal = server.call_ok("FundReportService/Balances", R.BalancesRequest(org_unit_code="ST01"),
                         R.BalancesResponse, login="fin.officer")
    assert all(x.reserve_sites == 0 and x.reserve_value_fen == 0 for x in bal.rows if x.kind in ("payee", "expense"))
    grid = one(db, "SELECT ou.code FROM org_units ou WHERE ou.kind = 'grid' AND ou.path <@"
                   " (SELECT path FROM org_units WHERE code = 'ST01') AND NOT EXISTS (SELECT 1 FROM sites s"
                   " JOIN org_units so ON so.id = s.org_unit_id WHERE so.path <@ ou.path) ORDER BY ou.code LIMIT 1")
    [g] = [x for x in bal.rows if x.account_code == "GF-" + grid]
    assert (g.reserve_sites, g.reserve_value_fen) == (0, 0)
    # the HTML report shows the reserves beside the grid funds where the unit keeps stock
    html = server.call_ok("FundReportService/ExportHtmlReport", R.ExportHtmlReportRequest(org_unit_code="ST01"),
                          R.ExportHtmlReportResponse, login="fin.officer").html
    assert "Reserves<b>" in html and "yuan of stock at %d sites" % held[0] in html, html[:3000]
    html = server.call_ok("FundReportService/ExportHtmlReport", R.ExportHtmlReportRequest(org_unit_code=grid),
                          R.ExportHtmlReportResponse, login="fin.officer").html
    assert "Reserves<b>" not in html


def test_review_flags_see_purchases_split_under_the_threshold(server, db, emergency):
    from gridstock.v1 import reports_pb2 as R
    item, code = new_item(db)
    cap(server, code, 100)
    a = agreement(server, db, code, daily=10, cap=300)
    orders = []
    for _ in range(2):  # two call-offs of 900 fen each, paid from GF-GR001 to SM02
        r = create_ok(server, code, 3)
        [off] = requested_ok(server, requisition_id=r.id)
        receive_order(server, off.purchase_order_id, code, 3)
        orders.append(off.purchase_order_number)
    end(server, a)
    flags = server.call_ok("FundReportService/ReviewFlags", R.ReviewFlagsRequest(
        org_unit_code="GR001", from_date=today(db), to_date=today(db), approval_threshold=1000, split_margin=0.2,
        window_days=30), R.ReviewFlagsResponse, login="fin.officer").flags
    split = [f for f in flags if f.kind == "split" and f.payee_code == "SUP-SM02"]
    assert len(split) == 1, flags
    f = split[0]
    assert set(orders) <= set(f.purchase_orders.split()), f
    assert f.grid_code == "GR001" and f.count >= 2 and f.amount >= 1800 and not f.disbursement_ids, f
