"""Purchases paid from a grid fund (issue 18, 060_purchase_funds.sql): an order names its fund
and budget category; placing it is its approval, refused to its author (in the server and in
the database) and reserving its value on the fund and the budget; receipts post the value
received (at the order's price, or another with a reason) and release only their part;
cancelling (closing short) releases the rest. Races on two servers: two approvals for the
last yuan of a budget, a receipt against a cancel. Every refusal changes nothing, and
VerifyLedger stays clean."""
import threading
import uuid

import grpc
import pytest

from gridstock.v1 import funds_pb2 as F
from gridstock.v1 import procurement_pb2 as pb
from gridstock.v1 import users_pb2 as us
from harness.money import move
from harness.sql import one

Code = grpc.StatusCode
P = "ProcurementService/"
AUTHOR = "logi.district"
CHECKER = "logi.checker"
BACKGROUND_TABLES = {"audit_seal", "stock_expiry_alerted"}


def digest(db):
    tables = [r[0] for r in db.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1").fetchall()
        if r[0] not in BACKGROUND_TABLES]
    sql = " UNION ALL ".join(
        "SELECT %s, count(*), md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM %s x"
        % ("'" + t + "'", '"' + t + '"') for t in tables)
    return {t: (n, h) for t, n, h in db.execute(sql).fetchall()}


def refused(server, db, method, req, cls, code, login=AUTHOR, match=None):
    """Calls `method` expecting `code` (and `match` in the details) and no change anywhere."""
    before = digest(db)
    _, got, details = server.call(P + method, req, cls, login=login)
    assert got == code, (method, got, details)
    if match:
        assert match in details, (method, details)
    after = digest(db)
    assert not sorted(t for t in set(before) | set(after) if before.get(t) != after.get(t)), method
    return details


def ok(server, method, req, cls, login=AUTHOR):
    return server.call_ok(P + method, req, cls, login=login)


@pytest.fixture(scope="module")
def setup(server, db):
    """A second logistics officer, a funded source, and the supplier market nearest RP01."""
    if not one(db, "SELECT count(*) FROM users WHERE login = %s", CHECKER):
        server.call_ok("UserService/CreateUser", us.CreateUserRequest(
            login=CHECKER, display_name="Checker", role="logistics_officer", scope_code="DC"), us.User,
            login="admin")
    src = server.call_ok("FundService/CreateAccount", F.CreateAccountRequest(
        kind="source", code="SRC-PF-" + uuid.uuid4().hex[:6].upper(), name="Purchase source"), F.Account,
        login="fin.officer").code
    move(server, "PrepareDeposit", source_code=src, amount=50_000_000)
    sm = one(db, """SELECT sm.code FROM sites sm, sites rp WHERE sm.kind = 'supplier_market' AND rp.code = 'RP01'
                    ORDER BY earth_distance(ll_to_earth(sm.lat, sm.lon), ll_to_earth(rp.lat, rp.lon)) LIMIT 1""")
    return {"src": src, "sm": sm, "period": one(db, "SELECT to_char(current_date, 'YYYY-MM')")}


def grid_with(server, db, setup, grid, fund_fen, budget_fen, category="material_purchases"):
    """Tops GF-<grid> up to at least fund_fen available and sets its budget for this month."""
    avail = one(db, "SELECT balance - pending FROM fund_accounts WHERE code = %s", "GF-" + grid)
    if avail < fund_fen:
        move(server, "PrepareAllocation", source_code=setup["src"], grid_code=grid, amount=fund_fen - avail)
    server.call_ok("FundService/SetBudget", F.SetBudgetRequest(grid_code=grid, period=setup["period"],
                                                               category=category, amount=budget_fen),
                   F.Budget, login="fin.officer")
    return "GF-" + grid


def new_item(db):
    code = "PF-" + uuid.uuid4().hex[:8].upper()
    db.execute("INSERT INTO items (code, name, category, unit, shelf_life_days) VALUES (%s, %s, 'food', 'bag', 365)",
               (code, "Purchase test item " + code))
    return code


def draft(server, setup, fund, lines, category="material_purchases", login=AUTHOR):
    return ok(server, "CreateOrder", pb.CreateOrderRequest(
        supplier_site_code=setup["sm"], site_code="RP01", fund_code=fund, budget_category=category,
        lines=[pb.OrderLineInput(item_code=i, qty=q, unit_price_fen=p) for i, q, p in lines]), pb.PurchaseOrder,
        login=login)


def act(server, method, oid, login=CHECKER, reason=""):
    return server.call(P + method, pb.OrderActionRequest(order_id=oid, reason=reason), pb.PurchaseOrder, login=login)


def fund_state(db, code):
    return tuple(db.execute("SELECT balance, pending FROM fund_accounts WHERE code = %s", (code,)).fetchone())


def budget_state(db, grid, period, category="material_purchases"):
    return tuple(db.execute(
        "SELECT spent, pending FROM fund_budgets b JOIN org_units ou ON ou.id = b.org_unit_id"
        " WHERE ou.code = %s AND b.period = %s AND b.category = %s", (grid, period, category)).fetchone())


def verify(server):
    v = server.call_ok("FundService/VerifyLedger", F.VerifyLedgerRequest(), F.VerifyLedgerResponse, login="auditor")
    assert v.ok, v.problems


def receive(server, oid, item, qty, price=0, reason="", login=AUTHOR):
    return server.call(P + "ReceiveAgainstOrder", pb.ReceiveAgainstOrderRequest(order_id=oid, lines=[
        pb.ReceiptLineInput(item_code=item, qty=qty, lot_code="L" + uuid.uuid4().hex[:6].upper(),
                            expires_on="2030-01-01", unit_price_fen=price, price_reason=reason)]),
        pb.ReceiveAgainstOrderResponse, login=login)


def test_funded_order_reserves_spends_and_releases(server, db, setup):
    fund = grid_with(server, db, setup, "GR021", 1_000_000, 500_000)
    item = new_item(db)
    bal0, pend0 = fund_state(db, fund)
    o = draft(server, setup, fund, [(item, 10, 2_000)])
    assert (o.fund_code, o.budget_category, o.reserved_fen, o.spent_fen, o.total_fen) == \
        (fund, "material_purchases", 0, 0, 20_000)
    assert fund_state(db, fund) == (bal0, pend0)  # a draft reserves nothing
    # the author cannot approve it, in the server and in the database
    refused(server, db, "PlaceOrder", pb.OrderActionRequest(order_id=o.id), pb.PurchaseOrder,
            Code.PERMISSION_DENIED, login=AUTHOR, match="author")
    with pytest.raises(Exception, match="purchase_orders_approver_not_author"):
        db.execute("UPDATE purchase_orders SET status = 'placed', placed_at = now(), placed_by = created_by,"
                   " reserved_fen = 20000 WHERE id = %s", (o.id,))
    # nor can anything place it without reserving its value
    with pytest.raises(Exception, match="placed with its value reserved"):
        db.execute("UPDATE purchase_orders SET status = 'placed', placed_at = now(),"
                   " placed_by = (SELECT id FROM users WHERE login = %s) WHERE id = %s", (CHECKER, o.id))
    p, code, det = act(server, "PlaceOrder", o.id)
    assert code == Code.OK, det
    assert (p.status, p.reserved_fen) == ("placed", 20_000)
    assert fund_state(db, fund) == (bal0, pend0 + 20_000)
    assert budget_state(db, "GR021", setup["period"]) == (0, 20_000)
    # a receipt at a price other than the order's needs a reason
    refused(server, db, "ReceiveAgainstOrder", pb.ReceiveAgainstOrderRequest(order_id=o.id, lines=[
        pb.ReceiptLineInput(item_code=item, qty=2, lot_code="LX1", expires_on="2030-01-01", unit_price_fen=2_100)]),
        pb.ReceiveAgainstOrderResponse, Code.INVALID_ARGUMENT, match="price_reason")
    # the database refuses one too, whatever the server does
    with pytest.raises(Exception, match="give a reason"):
        db.execute("SELECT proc_order_receive_paid(%s, ARRAY[(SELECT id FROM purchase_order_lines WHERE order_id = %s)],"
                   " ARRAY[2::bigint], ARRAY['LX2'], ARRAY['2030-01-01'::date], ARRAY[2100::bigint], ARRAY[''])",
                   (o.id, o.id))
    # 4 at the order's price: 8,000 posted, 8,000 released
    r, code, det = receive(server, o.id, item, 4)
    assert code == Code.OK, det
    assert (r.order.status, r.order.reserved_fen, r.order.spent_fen) == ("partly_received", 12_000, 8_000)
    assert fund_state(db, fund) == (bal0 - 8_000, pend0 + 12_000)
    assert budget_state(db, "GR021", setup["period"]) == (8_000, 12_000)
    supplier = "SUP-" + setup["sm"].upper()
    assert one(db, "SELECT kind FROM fund_accounts WHERE code = %s", supplier) == "payee"
    # 2 at 2,100 with a reason: 4,200 posted, the 4,000 they reserved released
    r, code, det = receive(server, o.id, item, 2, price=2_100, reason="market price rose")
    assert code == Code.OK, det
    assert (r.order.reserved_fen, r.order.spent_fen) == (8_000, 12_200)
    assert fund_state(db, fund) == (bal0 - 12_200, pend0 + 8_000)
    assert one(db, "SELECT price_reason FROM purchase_order_receipts WHERE order_id = %s AND unit_price_fen = 2100",
               o.id) == "market price rose"
    # closing short releases the rest
    c, code, det = act(server, "CancelOrder", o.id, reason="supplier out of stock")
    assert code == Code.OK, det
    assert (c.status, c.reserved_fen, c.spent_fen) == ("cancelled", 0, 12_200)
    assert fund_state(db, fund) == (bal0 - 12_200, pend0)
    assert budget_state(db, "GR021", setup["period"]) == (12_200, 0)
    # postings: purchase kind, fund → supplier
    assert one(db, "SELECT sum(e.amount) FROM fund_postings p JOIN fund_entries e ON e.posting_id = p.id"
                   " JOIN fund_accounts a ON a.id = e.account_id WHERE p.kind = 'purchase' AND a.code = %s"
                   " AND p.memo = %s", fund, "purchase order " + o.number) == -12_200
    assert one(db, "SELECT count(*) FROM audit_log WHERE object = %s AND summary LIKE 'approved and placed%%'",
               "purchase_order:%d" % o.id) == 1
    verify(server)


def test_refusals_change_nothing(server, db, setup):
    fund = grid_with(server, db, setup, "GR022", 100_000, 50_000)
    item = new_item(db)

    def create(**kw):
        req = dict(supplier_site_code=setup["sm"], site_code="RP01",
                   lines=[pb.OrderLineInput(item_code=item, qty=1, unit_price_fen=100)])
        req.update(kw)
        return pb.CreateOrderRequest(**req)

    refused(server, db, "CreateOrder", create(fund_code=fund), pb.PurchaseOrder, Code.INVALID_ARGUMENT,
            match="budget_category")
    refused(server, db, "CreateOrder", create(fund_code=fund, budget_category="snacks"), pb.PurchaseOrder,
            Code.INVALID_ARGUMENT, match="budget_category")
    refused(server, db, "CreateOrder", create(budget_category="material_purchases"), pb.PurchaseOrder,
            Code.INVALID_ARGUMENT, match="budget_category")
    refused(server, db, "CreateOrder", create(fund_code="GF-NOPE", budget_category="material_purchases"),
            pb.PurchaseOrder, Code.NOT_FOUND, match="fund")
    refused(server, db, "CreateOrder", create(fund_code="EXTERNAL", budget_category="material_purchases"),
            pb.PurchaseOrder, Code.NOT_FOUND, match="fund")
    # more than the budget: FAILED_PRECONDITION naming the budget; more than the fund: naming the fund
    big = draft(server, setup, fund, [(item, 6, 10_000)])
    refused(server, db, "PlaceOrder", pb.OrderActionRequest(order_id=big.id), pb.PurchaseOrder,
            Code.FAILED_PRECONDITION, login=CHECKER, match="budget GR022/")
    huge = draft(server, setup, fund, [(item, 1, 10**9)], category="emergency")
    refused(server, db, "PlaceOrder", pb.OrderActionRequest(order_id=huge.id), pb.PurchaseOrder,
            Code.FAILED_PRECONDITION, login=CHECKER, match="would be overdrawn")
    # a placed order's fund cannot change, even directly
    small = draft(server, setup, fund, [(item, 1, 100)])
    assert act(server, "PlaceOrder", small.id)[1] == Code.OK
    with pytest.raises(Exception, match="only a draft's fund can change"):
        db.execute("UPDATE purchase_orders SET budget_category = 'emergency' WHERE id = %s", (small.id,))
    with pytest.raises(Exception, match="still reserved"):
        db.execute("UPDATE purchase_orders SET status = 'cancelled', closed_at = now() WHERE id = %s", (small.id,))
    assert act(server, "CancelOrder", small.id, reason="test")[1] == Code.OK
    verify(server)


def race(calls):
    out = [None] * len(calls)
    barrier = threading.Barrier(len(calls))

    def go(k, fn):
        barrier.wait()
        out[k] = fn()

    ts = [threading.Thread(target=go, args=(k, fn)) for k, fn in enumerate(calls)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    return out


def test_two_approvals_race_for_the_last_yuan_on_two_servers(server, db, setup):
    other = server.start_server()
    try:
        fund = grid_with(server, db, setup, "GR023", 1_000_000, 100_000)
        item = new_item(db)
        # 40,000 of the budget already committed; two orders of 40,000 each, 60,000 left
        first = draft(server, setup, fund, [(item, 4, 10_000)])
        assert act(server, "PlaceOrder", first.id)[1] == Code.OK
        for _ in range(3):
            a = draft(server, setup, fund, [(item, 4, 10_000)])
            b = draft(server, setup, fund, [(item, 4, 10_000)])
            spent0, pend0 = budget_state(db, "GR023", setup["period"])
            bal0, fpend0 = fund_state(db, fund)
            res = race([lambda: act(server, "PlaceOrder", a.id)[1:], lambda: act(other, "PlaceOrder", b.id)[1:]])
            codes = sorted(str(c) for c, _ in res)
            if pend0 + 80_000 > 100_000:
                assert codes == sorted([str(Code.OK), str(Code.FAILED_PRECONDITION)]), res
                loser = [d for c, d in res if c != Code.OK][0]
                assert "would be exceeded" in loser and "GR023" in loser, loser
                assert budget_state(db, "GR023", setup["period"]) == (spent0, pend0 + 40_000)
                assert fund_state(db, fund) == (bal0, fpend0 + 40_000)
            else:
                assert codes == [str(Code.OK)] * 2, res
            verify(server)
            if budget_state(db, "GR023", setup["period"])[1] + 40_000 > 100_000:
                break
        assert budget_state(db, "GR023", setup["period"])[1] <= 100_000
    finally:
        assert other.stop() == 0


def test_receipt_races_cancel_on_two_servers(server, db, setup):
    other = server.start_server()
    try:
        fund = grid_with(server, db, setup, "GR024", 2_000_000, 1_000_000)
        outcomes = set()
        for k in range(6):
            item = new_item(db)
            o = draft(server, setup, fund, [(item, 10, 1_000)])
            assert act(server, "PlaceOrder", o.id)[1] == Code.OK
            # a first partial receipt, then the second receipt against the cancel
            assert receive(server, o.id, item, 3)[1] == Code.OK
            bal0, pend0 = fund_state(db, fund)
            calls = [lambda: receive(server, o.id, item, 5)[1], lambda: act(other, "CancelOrder", o.id, reason="race")[1]]
            if k % 2:
                calls.reverse()
            res = race(calls)
            assert Code.OK in res, res
            g = ok(server, "GetOrder", pb.GetOrderRequest(id=o.id), pb.PurchaseOrder)
            received = sum(l.received_qty * l.unit_price_fen for l in g.lines)
            # what the fund holds for the order plus what it paid is what was received (cancelled: nothing held)
            assert g.status == "cancelled" and g.reserved_fen == 0
            assert g.spent_fen == received and received in (3_000, 8_000)
            assert fund_state(db, fund) == (bal0 - (received - 3_000), pend0 - 7_000)
            assert one(db, "SELECT coalesce(sum(qty), 0) FROM stock_movements WHERE ref_type = 'purchase_order'"
                           " AND ref_id = %s", o.id) == received // 1_000
            outcomes.add(received)
        verify(server)
    finally:
        assert other.stop() == 0


def test_readme_tour_by_cli(cli, db, setup):
    """The README's "purchase paid from a grid fund", as the two officers would type it."""
    import json

    def run(login, *args, fail=False):
        rc, out, err = cli("--json", *args, login=login)
        if fail:
            assert rc != 0
            return err
        assert rc == 0, (args, err)
        return json.loads(out) if out.strip() else {}

    if not one(db, "SELECT count(*) FROM fund_budgets b JOIN org_units ou ON ou.id = b.org_unit_id WHERE ou.code"
                   " = 'GR001' AND b.category = 'material_purchases' AND b.first_day <= current_date"
                   " AND current_date < b.end_day"):
        pytest.fail("the demo has no material_purchases budget for GR001 this month")
    bal0, pend0 = fund_state(db, "GF-GR001")
    o = run("logi.district", "procurement", "create-order", "--supplier-site-code", "SM01", "--site-code", "RP01",
            "--fund-code", "GF-GR001", "--budget-category", "material_purchases",
            "--data", '{"lines":[{"item_code":"RICE-10KG","qty":20}]}')
    price = int(o["lines"][0]["unit_price_fen"])
    assert o["fund_code"] == "GF-GR001" and int(o["total_fen"]) == 20 * price
    err = run("logi.district", "procurement", "place-order", "--order-id", o["id"], fail=True)
    assert "author" in err
    p = run("logi.st01", "procurement", "place-order", "--order-id", o["id"])
    assert p["status"] == "placed" and int(p["reserved_fen"]) == 20 * price
    assert fund_state(db, "GF-GR001") == (bal0, pend0 + 20 * price)
    lines = {"lines": [{"item_code": "RICE-10KG", "qty": 10, "lot_code": "R2612A", "expires_on": "2027-12-31"},
                       {"item_code": "RICE-10KG", "qty": 2, "lot_code": "R2612B", "expires_on": "2027-12-31",
                        "unit_price_fen": 5700, "price_reason": "last two bags from the dearer stock"}]}
    r = run("logi.district", "procurement", "receive-against-order", "--order-id", o["id"], "--data",
            json.dumps(lines))
    assert r["order"]["status"] == "partly_received"
    assert int(r["order"]["spent_fen"]) == 10 * price + 2 * 5700
    c = run("logi.district", "procurement", "cancel-order", "--order-id", o["id"], "--reason", "out of stock")
    assert c["status"] == "cancelled" and int(c.get("reserved_fen", 0)) == 0
    assert fund_state(db, "GF-GR001") == (bal0 - 10 * price - 2 * 5700, pend0)
    # the table shows where an order is paid from
    rc, out, err = cli("procurement", "get-order", "--id", o["id"], login="logi.district")
    assert rc == 0 and "GF-GR001" in out, (out, err)
    verify_ok = run("auditor", "fund", "verify-ledger")
    assert verify_ok.get("ok"), verify_ok


# ---------------------------------------------------------------- one approval for goods and money

def requisition(server, item, qty):
    from gridstock.v1 import requisitions_pb2 as rq
    return server.call_ok("RequisitionService/Create", rq.CreateRequisitionRequest(
        org_unit_code="GR001", purpose="shortfall test", submit=True,
        lines=[rq.RequisitionLineInput(item_code=item, qty=qty)]), rq.Requisition, login="leader.gr001")


def approve(server, r, login="logi.st01", purchase=True):
    from gridstock.v1 import requisitions_pb2 as rq
    return server.call("RequisitionService/Approve", rq.ApproveRequest(id=r.id, purchase_shortfall=purchase),
                       rq.Requisition, login=login)


def test_one_approval_reserves_stock_and_money_and_cancel_releases_both(server, db, setup):
    from gridstock.v1 import requisitions_pb2 as rq
    from gridstock.v1 import stock_pb2 as st
    grid_with(server, db, setup, "GR001", 1_000_000, 10_000_000)
    item = new_item(db)
    markets = [x[0] for x in db.execute("SELECT code FROM sites WHERE kind = 'supplier_market' AND active"
                                        " ORDER BY id LIMIT 2").fetchall()]
    for sm, fen in zip(markets, (700, 650)):  # the second is cheaper
        ok(server, "SetPrice", pb.SetPriceRequest(item_code=item, supplier_site_code=sm, unit_price_fen=fen),
           pb.Price)
    server.call_ok("StockService/Receive", st.ReceiveRequest(site_code="RP01", item_code=item, qty=3, lot_code="S1",
                                                             expires_on="2030-01-01"),
                   st.ReceiveResponse, login=AUTHOR)
    bal0, pend0 = fund_state(db, "GF-GR001")
    r = requisition(server, item, 10)
    a, code, det = approve(server, r)
    assert code == Code.OK, det
    assert a.status == "allocated"
    assert one(db, "SELECT sum(reserved) FROM lots l JOIN items i ON i.id = l.item_id WHERE i.code = %s", item) == 3
    o = db.execute("""SELECT o.id, o.status, sm.code, o.reserved_fen, cu.login, pu.login, fa.code
                        FROM purchase_orders o JOIN sites sm ON sm.id = o.supplier_site_id
                        JOIN users cu ON cu.id = o.created_by JOIN users pu ON pu.id = o.placed_by
                        JOIN fund_accounts fa ON fa.id = o.fund_account_id
                       WHERE o.requisition_id = %s""", (r.id,)).fetchall()
    assert len(o) == 1
    oid, status, sm, reserved, author, approver, fund = o[0]
    assert (status, sm, reserved, author, approver, fund) == \
        ("placed", markets[1], 7 * 650, "leader.gr001", "logi.st01", "GF-GR001")
    assert fund_state(db, "GF-GR001") == (bal0, pend0 + 7 * 650)
    assert one(db, "SELECT count(*) FROM audit_log WHERE object = %s AND summary LIKE %s",
               "requisition:%d" % r.id, "%7 units bought%") == 1
    verify(server)
    # cancelling the requisition releases the stock and the money
    c = server.call_ok("RequisitionService/Cancel", rq.CancelRequest(id=r.id, reason="no longer needed"),
                       rq.Requisition, login="leader.gr001")
    assert c.status == "cancelled"
    assert one(db, "SELECT sum(reserved) FROM lots l JOIN items i ON i.id = l.item_id WHERE i.code = %s", item) == 0
    assert one(db, "SELECT status FROM purchase_orders WHERE id = %s", oid) == "cancelled"
    assert fund_state(db, "GF-GR001") == (bal0, pend0)
    verify(server)


def test_one_approval_is_all_or_nothing(server, db, setup):
    item = new_item(db)
    sm = one(db, "SELECT code FROM sites WHERE kind = 'supplier_market' AND active ORDER BY id LIMIT 1")
    ok(server, "SetPrice", pb.SetPriceRequest(item_code=item, supplier_site_code=sm, unit_price_fen=10**9), pb.Price)
    from gridstock.v1 import stock_pb2 as st
    server.call_ok("StockService/Receive", st.ReceiveRequest(site_code="RP01", item_code=item, qty=2, lot_code="S1",
                                                             expires_on="2030-01-01"),
                   st.ReceiveResponse, login=AUTHOR)
    r = requisition(server, item, 1_000)
    before = digest(db)
    _, code, det = approve(server, r)
    assert code == Code.FAILED_PRECONDITION and "GF-GR001" in det, det
    after = digest(db)
    assert not sorted(t for t in set(before) | set(after) if before.get(t) != after.get(t))
    # an item nobody sells: refused, naming it
    lonely = new_item(db)
    r2 = requisition(server, lonely, 5)
    _, code, det = approve(server, r2)
    assert code == Code.FAILED_PRECONDITION and lonely in det, det
    # the requester cannot approve their own requisition, with or without a purchase
    _, code, det = approve(server, r2, login="leader.gr001")
    assert code == Code.PERMISSION_DENIED
    # without the flag, approval is as before: nothing allocated, nothing bought
    a, code, det = approve(server, r, purchase=False)
    assert code == Code.OK and a.status == "approved"
    assert one(db, "SELECT count(*) FROM purchase_orders WHERE requisition_id = %s", r.id) == 0


# ---------------------------------------------------------------- VerifyLedger by domain (090)

def test_verify_ledger_reports_a_planted_problem_in_each_domain(server, db, setup, gs_env):
    """VerifyLedger is one check function per domain (090_fund_verify_domains.sql) that
    fund_verify_ledger() combines. A problem planted in each domain, inside a transaction
    that is rolled back (nothing stays), is reported by that domain's function and by the
    entry point; the other domains' checks stay quiet; the real ledger is clean."""
    import psycopg

    fund = grid_with(server, db, setup, "GR022", 1_000_000, 500_000)
    o = draft(server, setup, fund, [(new_item(db), 5, 1_000)])
    assert act(server, "PlaceOrder", o.id)[1] == Code.OK
    verify(server)
    disb = one(db, "SELECT min(id) FROM fund_disbursements WHERE state = 'posted'")
    mov = one(db, "SELECT min(id) FROM fund_movements WHERE state = 'posted'")
    run_disb = one(db, "SELECT min(disbursement_id) FROM fund_programme_run_items")
    assert disb and mov and run_disb  # the demo ledger has every kind of row
    domains = ["funds", "budgets", "disbursements", "movements", "purchases", "spending", "programmes"]
    plants = {  # domain → (statements, the start of the problem it must report)
        "funds": (["UPDATE fund_accounts SET pending = pending + 1 WHERE code = '%s'" % fund],
                  "account %s: pending" % fund),
        "budgets": (["UPDATE fund_budgets SET spent = spent + 1"
                     " WHERE id = (SELECT min(budget_id) FROM purchase_order_charges WHERE order_id = %d)" % o.id],
                    "material_purchases"),
        "disbursements": (["UPDATE fund_disbursements SET purpose = purpose || ' (changed)' WHERE id = %d" % disb],
                          "disbursement %d (posted): content differs from what was approved" % disb),
        "movements": (["ALTER TABLE fund_movements DROP CONSTRAINT fund_movements_poster_not_preparer",
                       "UPDATE fund_movements SET posted_by = preparer_id WHERE id = %d" % mov],
                      "fund movement %d (posted): approved or posted by its preparer" % mov),
        "purchases": (["UPDATE purchase_orders SET spent_fen = spent_fen + 1 WHERE id = %d" % o.id],
                      "purchase order %s (placed): spent 1 but its receipts cost 0" % o.number),
        "spending": (["UPDATE fund_spending SET disbursements = disbursements + 1 WHERE (org_unit_id, category, month)"
                      " = (SELECT org_unit_id, category, month FROM fund_spending ORDER BY 1, 2, 3 LIMIT 1)"],
                     "spending summary "),
        "programmes": (["UPDATE fund_programme_run_items SET gross = gross + 1, net = net + 1"
                        " WHERE disbursement_id = %d" % run_disb],
                       "programme run "),
    }
    with psycopg.connect(gs_env.conninfo) as conn:  # one transaction per domain, rolled back
        for domain in domains:
            sqls, expect = plants[domain]
            try:
                for t in ("fund_accounts", "fund_budgets", "fund_disbursements", "fund_movements", "purchase_orders",
                          "fund_spending", "fund_programme_run_items"):
                    conn.execute('ALTER TABLE "%s" DISABLE TRIGGER USER' % t)
                for sql in sqls:
                    assert conn.execute(sql).rowcount in (-1, 1), sql
                got = {d: [r[0] for r in conn.execute("SELECT * FROM fund_verify_%s()" % d)] for d in domains}
                ledger = [r[0] for r in conn.execute("SELECT * FROM fund_verify_ledger()")]
            finally:
                conn.rollback()
            assert got[domain] and all(expect in p for p in got[domain]), (domain, got[domain])
            # a planted budget or order use also shows in what the ledger holds; nothing else does
            quiet = [d for d in domains if d != domain and (domain, d) not in
                     {("budgets", "purchases"), ("purchases", "funds"), ("purchases", "budgets")}]
            assert not any(got[d] for d in quiet), (domain, {d: got[d] for d in quiet})
            assert ledger == [p for d in domains for p in got[d]], (domain, ledger)
    verify(server)
