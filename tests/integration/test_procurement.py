"""ProcurementService against the demo district: price lists (periods that never overlap),
purchase orders through their state machine (every illegal transition refused naming the
current state, by the server and by the database trigger), partial receipts posted to the
ledger with lot and expiry and a reference to the order, LowStock counting open orders,
ProposeOrders choosing the supplier by price then distance, scope and role refusals,
exactly-once retries, the demo data, and a clean ledger at the end.

Each test makes its own catalog items (PRC-...), so tests do not share balances."""
import re
import uuid

import grpc
import pytest

from gridstock.v1 import procurement_pb2 as pb
from gridstock.v1 import stock_pb2 as st
from harness.sql import one, day

Code = grpc.StatusCode
P = "ProcurementService/"
LOGI = "logi.district"


def uid(prefix="PRC-"):
    return prefix + uuid.uuid4().hex[:8].upper()


def new_item(db, shelf=365, levels=None):
    code = uid()
    db.execute(
        "INSERT INTO items (code, name, category, unit, shelf_life_days) VALUES (%s, %s, 'food', 'bag', %s)",
        (code, "Procurement test item " + code, shelf),
    )
    for site, (rop, par) in (levels or {}).items():
        db.execute(
            """INSERT INTO site_items (site_id, item_id, reorder_point, par_level)
               SELECT s.id, i.id, %s, %s FROM sites s, items i WHERE s.code = %s AND i.code = %s""",
            (rop, par, site, code),
        )
    return code


def call(server, method, req, resp_cls, login=LOGI, **kw):
    return server.call(P + method, req, resp_cls, login=login, **kw)


def ok(server, method, req, resp_cls, login=LOGI, **kw):
    resp, code, details = call(server, method, req, resp_cls, login=login, **kw)
    assert code == Code.OK, "%s → %s: %s" % (method, code, details)
    return resp


def refused(server, method, req, resp_cls, code, login=LOGI, **kw):
    resp, got, details = call(server, method, req, resp_cls, login=login, **kw)
    assert got == code, "%s → %s: %s (wanted %s)" % (method, got, details, code)
    return details


def set_price(server, item, supplier, fen, lead=1, **kw):
    return ok(server, "SetPrice", pb.SetPriceRequest(item_code=item, supplier_site_code=supplier,
                                                     unit_price_fen=fen, lead_time_days=lead, **kw), pb.Price)


def draft(server, supplier, site, lines, login=LOGI):
    return ok(server, "CreateOrder", pb.CreateOrderRequest(
        supplier_site_code=supplier, site_code=site,
        lines=[pb.OrderLineInput(item_code=i, qty=q, unit_price_fen=p) for i, q, p in lines]), pb.PurchaseOrder,
        login=login)


def act(server, method, order_id, reason="", login=LOGI, **kw):
    return call(server, method, pb.OrderActionRequest(order_id=order_id, reason=reason), pb.PurchaseOrder,
                login=login, **kw)


def verify(server):
    r = server.call_ok("StockService/VerifyStock", st.VerifyStockRequest(), st.VerifyStockResponse, login="admin")
    return r


@pytest.fixture(scope="module")
def markets(db):
    """Supplier markets with coordinates; RP01's nearest and farthest."""
    rows = db.execute(
        """SELECT sm.code FROM sites sm, sites rp WHERE sm.kind = 'supplier_market' AND rp.code = 'RP01'
           ORDER BY earth_distance(ll_to_earth(sm.lat, sm.lon), ll_to_earth(rp.lat, rp.lon))""").fetchall()
    codes = [r[0] for r in rows]
    assert len(codes) >= 3
    return {"near": codes[0], "mid": codes[1], "far": codes[-1]}


# ---------------------------------------------------------------- prices


def test_prices_periods_replace_and_refusals(server, db, markets):
    item = new_item(db)
    sm = markets["near"]
    p1 = set_price(server, item, sm, 1250, lead=2, valid_from=day(db, -10))
    assert (p1.unit_price_fen, p1.lead_time_days, p1.valid_from, p1.valid_to) == (1250, 2, day(db, -10), "")
    assert p1.supplier_site_code == sm and p1.item_code == item
    # a new price from today ends the running one yesterday
    p2 = set_price(server, item, sm, 1300)
    assert p2.valid_from == day(db, 0) and p2.id != p1.id
    assert one(db, "SELECT valid_to::text FROM supplier_prices WHERE id = %s", p1.id) == day(db, -1)
    # the same start replaces it
    p3 = set_price(server, item, sm, 1350)
    assert p3.id == p2.id and p3.unit_price_fen == 1350
    # a future price, then a change that would overlap it from before
    set_price(server, item, sm, 1400, valid_from=day(db, 30))
    det = refused(server, "SetPrice", pb.SetPriceRequest(item_code=item, supplier_site_code=sm, unit_price_fen=1,
                                                         valid_from=day(db, 10)), pb.Price, Code.FAILED_PRECONDITION)
    assert det.startswith("valid_to:") and day(db, 30) in det
    bounded = set_price(server, item, sm, 1380, valid_from=day(db, 10), valid_to=day(db, 29))
    assert bounded.valid_to == day(db, 29)

    now = ok(server, "ListPrices", pb.ListPricesRequest(item_code=item), pb.ListPricesResponse)
    assert [(p.supplier_site_code, p.unit_price_fen) for p in now.prices] == [(sm, 1350)]
    later = ok(server, "ListPrices", pb.ListPricesRequest(item_code=item, valid_on=day(db, 40)), pb.ListPricesResponse)
    assert [p.unit_price_fen for p in later.prices] == [1400]
    everything = ok(server, "ListPrices", pb.ListPricesRequest(item_code=item, include_all=True, page_size=2),
                    pb.ListPricesResponse)
    assert len(everything.prices) == 2 and everything.next_page_token
    rest = ok(server, "ListPrices", pb.ListPricesRequest(item_code=item, include_all=True, page_size=2,
                                                         page_token=everything.next_page_token), pb.ListPricesResponse)
    assert len(rest.prices) == 2 and not rest.next_page_token
    by_supplier = ok(server, "ListPrices", pb.ListPricesRequest(supplier_site_code=sm, item_code=item), pb.ListPricesResponse)
    assert len(by_supplier.prices) == 1

    cases = [
        (pb.SetPriceRequest(item_code=item, supplier_site_code=sm, unit_price_fen=0), Code.INVALID_ARGUMENT, "unit_price_fen:"),
        (pb.SetPriceRequest(item_code=item, supplier_site_code=sm, unit_price_fen=-5), Code.INVALID_ARGUMENT, "unit_price_fen:"),
        (pb.SetPriceRequest(item_code=item, supplier_site_code=sm, unit_price_fen=5, lead_time_days=400), Code.INVALID_ARGUMENT, "lead_time_days:"),
        (pb.SetPriceRequest(item_code=item, supplier_site_code=sm, unit_price_fen=5, valid_from="2025-13-01"), Code.INVALID_ARGUMENT, "valid_from:"),
        (pb.SetPriceRequest(item_code=item, supplier_site_code=sm, unit_price_fen=5, valid_from=day(db, 50), valid_to=day(db, 40)), Code.INVALID_ARGUMENT, "valid_to:"),
        (pb.SetPriceRequest(item_code=item, supplier_site_code="RP01", unit_price_fen=5), Code.INVALID_ARGUMENT, "supplier_site_id:"),
        (pb.SetPriceRequest(item_code="NO-SUCH-ITEM", supplier_site_code=sm, unit_price_fen=5), Code.NOT_FOUND, "item"),
        (pb.SetPriceRequest(item_code=item, supplier_site_code="SM99", unit_price_fen=5), Code.NOT_FOUND, "site"),
        (pb.SetPriceRequest(item_code=item, unit_price_fen=5), Code.INVALID_ARGUMENT, "supplier_site_id:"),
    ]
    for req, code, prefix in cases:
        det = refused(server, "SetPrice", req, pb.Price, code)
        assert prefix in det, det
    # the database itself refuses overlapping periods and prices at non-markets
    with pytest.raises(Exception):
        db.execute("INSERT INTO supplier_prices (item_id, supplier_site_id, unit_price_fen, valid_from)"
                   " SELECT i.id, s.id, 1, current_date FROM items i, sites s WHERE i.code = %s AND s.code = %s",
                   (item, sm))
    with pytest.raises(Exception):
        db.execute("INSERT INTO supplier_prices (item_id, supplier_site_id, unit_price_fen, valid_from)"
                   " SELECT i.id, s.id, 1, current_date FROM items i, sites s WHERE i.code = %s AND s.code = 'RP01'",
                   (item,))


def test_price_roles_and_scope(server, db, markets):
    item = new_item(db)
    sm01_street = one(db, """SELECT st.code FROM sites s JOIN org_units c ON c.id = s.org_unit_id
                             JOIN org_units st ON st.id = c.parent_id WHERE s.code = 'SM01'""")
    other = "logi.st02" if sm01_street != "ST02" else "logi.st03"
    req = pb.SetPriceRequest(item_code=item, supplier_site_code="SM01", unit_price_fen=100)
    refused(server, "SetPrice", req, pb.Price, Code.NOT_FOUND, login=other)  # SM01 not in their street
    refused(server, "SetPrice", req, pb.Price, Code.PERMISSION_DENIED, login="staff.cm01")
    refused(server, "SetPrice", req, pb.Price, Code.PERMISSION_DENIED, login="fin.officer")
    refused(server, "ListPrices", pb.ListPricesRequest(), pb.ListPricesResponse, Code.UNAUTHENTICATED, login=None)
    ok(server, "SetPrice", req, pb.Price, login="logi." + sm01_street.lower())
    # every logistics officer of the district reads every market's prices
    seen = ok(server, "ListPrices", pb.ListPricesRequest(item_code=item), pb.ListPricesResponse, login=other)
    assert [p.supplier_site_code for p in seen.prices] == ["SM01"]


# ---------------------------------------------------------------- orders


def test_order_lifecycle_with_partial_receipts(server, db, markets):
    item = new_item(db, levels={"RP01": (50, 120)})
    item2 = new_item(db, shelf=None)
    sm = markets["near"]
    set_price(server, item, sm, 2000, lead=3)
    set_price(server, item2, sm, 500, lead=5)

    o = draft(server, sm, "RP01", [(item, 30, 0), (item2, 10, 450)])
    assert o.status == "draft" and re.match(r"^PO-\d{8}-\d{6}$", o.number)
    assert [(l.item_code, l.qty, l.unit_price_fen, l.amount_fen) for l in o.lines] == [(item, 30, 2000, 60000), (item2, 10, 450, 4500)]
    assert o.total_fen == 64500 and o.created_by == LOGI and o.site_code == "RP01" and o.supplier_site_code == sm
    assert one(db, "SELECT count(*) FROM audit_log WHERE object = %s AND method LIKE '%%CreateOrder'", "purchase_order:%d" % o.id) == 1

    # a draft is not on order; receiving against it is refused naming its state
    low = server.call_ok("StockService/LowStock", st.LowStockRequest(site_code="RP01"), st.LowStockResponse, login=LOGI)
    assert [(l.on_order, l.proposed_qty) for l in low.lines if l.item_code == item] == [(0, 120)]
    det = refused(server, "ReceiveAgainstOrder", pb.ReceiveAgainstOrderRequest(
        order_id=o.id, lines=[pb.ReceiptLineInput(item_code=item, qty=1, lot_code="X1", expires_on=day(db, 100))]),
        pb.ReceiveAgainstOrderResponse, Code.FAILED_PRECONDITION)
    assert "is draft" in det and o.number in det

    u = ok(server, "UpdateDraft", pb.UpdateOrderDraftRequest(order_id=o.id, note="urgent",
                                                        lines=[pb.OrderLineInput(item_code=item, qty=40),
                                                               pb.OrderLineInput(item_code=item2, qty=10)]), pb.PurchaseOrder)
    assert [(l.item_code, l.qty, l.unit_price_fen) for l in u.lines] == [(item, 40, 2000), (item2, 10, 500)]
    assert u.note == "urgent"

    placed, code, det = act(server, "PlaceOrder", o.id)
    assert code == Code.OK, det
    assert placed.status == "placed" and placed.placed_by == LOGI and placed.expected_on == day(db, 5)
    low = server.call_ok("StockService/LowStock", st.LowStockRequest(site_code="RP01"), st.LowStockResponse, login=LOGI)
    assert [(l.on_order, l.proposed_qty) for l in low.lines if l.item_code == item] == [(40, 80)]

    # lines of a placed order cannot change, neither through the API nor in the database
    det = refused(server, "UpdateDraft", pb.UpdateOrderDraftRequest(order_id=o.id, lines=[pb.OrderLineInput(item_code=item, qty=1)]),
                  pb.PurchaseOrder, Code.FAILED_PRECONDITION)
    assert "is placed" in det
    with pytest.raises(Exception, match="only a draft"):
        db.execute("UPDATE purchase_order_lines SET qty = 1 WHERE order_id = %s", (o.id,))

    # first delivery: part of the first line, by item code, lot and expiry captured
    r = ok(server, "ReceiveAgainstOrder", pb.ReceiveAgainstOrderRequest(
        order_id=o.id, note="first truck",
        lines=[pb.ReceiptLineInput(item_code=item, qty=25, lot_code="PO-A1", expires_on=day(db, 200))]),
        pb.ReceiveAgainstOrderResponse)
    assert r.order.status == "partly_received" and len(r.movement_ids) == 1
    line1 = [l for l in r.order.lines if l.item_code == item][0]
    assert (line1.received_qty, line1.outstanding) == (25, 15)
    mv = one(db, "SELECT row(kind, qty, ref_type, ref_id, note, request_id <> '')::text FROM stock_movements WHERE id = %s", r.movement_ids[0])
    assert mv == "(receipt,25,purchase_order,%d,\"first truck\",t)" % o.id
    lot = one(db, "SELECT row(on_hand, source, expires_on::text)::text FROM lots l JOIN items i ON i.id = l.item_id WHERE i.code = %s AND l.lot_code = 'PO-A1'", item)
    assert lot == "(25,purchase,%s)" % day(db, 200)
    low = server.call_ok("StockService/LowStock", st.LowStockRequest(site_code="RP01"), st.LowStockResponse, login=LOGI)
    assert [(l.available, l.on_order, l.proposed_qty) for l in low.lines if l.item_code == item] == [(25, 15, 80)]

    # too much, unknown line, an item not on the order, bad input: refused, nothing moves
    before = one(db, "SELECT count(*) FROM stock_movements")
    bad = [
        ([pb.ReceiptLineInput(item_code=item, qty=16, lot_code="PO-A2", expires_on=day(db, 200))], Code.FAILED_PRECONDITION, "lines[0].qty: 16 more"),
        ([pb.ReceiptLineInput(line_id=99999999, qty=1, lot_code="PO-A2", expires_on=day(db, 200))], Code.NOT_FOUND, "lines[0].line_id"),
        ([pb.ReceiptLineInput(item_code="WATER-5L", qty=1, lot_code="PO-A2", expires_on=day(db, 200))], Code.NOT_FOUND, "lines[0].item_id"),
        ([pb.ReceiptLineInput(item_code=item, qty=0, lot_code="PO-A2", expires_on=day(db, 200))], Code.INVALID_ARGUMENT, "lines[0].qty"),
        ([pb.ReceiptLineInput(item_code=item, qty=1, lot_code="", expires_on=day(db, 200))], Code.INVALID_ARGUMENT, "lines[0].lot_code"),
        ([pb.ReceiptLineInput(item_code=item, qty=1, lot_code="PO-A2", expires_on="tomorrow")], Code.INVALID_ARGUMENT, "lines[0].expires_on"),
        ([pb.ReceiptLineInput(item_code=item, qty=1, lot_code="PO-A2")], Code.INVALID_ARGUMENT, "expires_on"),
        ([pb.ReceiptLineInput(item_code=item, qty=1, lot_code="PO-A2", expires_on=day(db, -3))], Code.FAILED_PRECONDITION, "expired"),
        ([pb.ReceiptLineInput(item_code=item, qty=5, lot_code="PO-A2", expires_on=day(db, 90)),
          pb.ReceiptLineInput(item_code=item2, qty=11, lot_code="PO-B2")], Code.FAILED_PRECONDITION, "lines[1].qty"),
        ([], Code.INVALID_ARGUMENT, "lines:"),
    ]
    for lines, code, prefix in bad:
        det = refused(server, "ReceiveAgainstOrder", pb.ReceiveAgainstOrderRequest(order_id=o.id, lines=lines),
                      pb.ReceiveAgainstOrderResponse, code)
        assert prefix in det, (prefix, det)
    assert one(db, "SELECT count(*) FROM stock_movements") == before

    # the rest arrives: order received, nothing on order any more
    r = ok(server, "ReceiveAgainstOrder", pb.ReceiveAgainstOrderRequest(
        order_id=o.id, lines=[pb.ReceiptLineInput(line_id=line1.id, qty=15, lot_code="PO-A2", expires_on=day(db, 300)),
                              pb.ReceiptLineInput(item_code=item2, qty=10, lot_code="PO-B1")]),
        pb.ReceiveAgainstOrderResponse)
    assert r.order.status == "received" and r.order.closed_at and len(r.movement_ids) == 2
    assert all(l.outstanding == 0 for l in r.order.lines)
    low = server.call_ok("StockService/LowStock", st.LowStockRequest(site_code="RP01"), st.LowStockResponse, login=LOGI)
    assert [(l.available, l.on_order, l.proposed_qty) for l in low.lines if l.item_code == item] == [(40, 0, 80)]
    bal = server.call_ok("StockService/GetBalance", st.GetBalanceRequest(site_code="RP01", item_code=item), st.SiteBalance, login=LOGI)
    assert bal.items[0].on_hand == 40

    # a received order can be neither cancelled, placed nor received against
    for method, reason, words in [("CancelOrder", "too late", "cannot cancel"), ("PlaceOrder", "", "cannot place")]:
        _, code, det = act(server, method, o.id, reason=reason)
        assert code == Code.FAILED_PRECONDITION and "is received" in det and words in det, det
    det = refused(server, "ReceiveAgainstOrder", pb.ReceiveAgainstOrderRequest(
        order_id=o.id, lines=[pb.ReceiptLineInput(item_code=item2, qty=1, lot_code="PO-B9")]),
        pb.ReceiveAgainstOrderResponse, Code.FAILED_PRECONDITION)
    assert "is received" in det
    got = ok(server, "GetOrder", pb.GetOrderRequest(number=o.number), pb.PurchaseOrder)
    assert got.id == o.id and len(got.lines) == 2
    card = server.call_ok("StockService/ListMovements", st.ListMovementsRequest(ref_type="purchase_order", ref_id=o.id),
                          st.ListMovementsResponse, login=LOGI)
    assert sorted(m.qty for m in card.movements) == [10, 15, 25]
    assert verify(server).clean


def test_a_cancelled_order_is_no_longer_on_order(server, db, markets):
    """LowStock counts only open orders: a cancelled partly received order stops counting."""
    item = new_item(db, shelf=None, levels={"RP02": (10, 30)})
    sm = markets["mid"]
    set_price(server, item, sm, 700)
    o = draft(server, sm, "RP02", [(item, 20, 0)])
    act(server, "PlaceOrder", o.id)
    ok(server, "ReceiveAgainstOrder", pb.ReceiveAgainstOrderRequest(
        order_id=o.id, lines=[pb.ReceiptLineInput(item_code=item, qty=5, lot_code="C1")]), pb.ReceiveAgainstOrderResponse)
    low = server.call_ok("StockService/LowStock", st.LowStockRequest(site_code="RP02"), st.LowStockResponse, login=LOGI)
    assert [(l.available, l.on_order, l.proposed_qty) for l in low.lines if l.item_code == item] == [(5, 15, 10)]
    _, code, det = act(server, "CancelOrder", o.id)
    assert code == Code.INVALID_ARGUMENT and det.startswith("reason:")
    c, code, det = act(server, "CancelOrder", o.id, reason="supplier out of stock")
    assert code == Code.OK, det
    assert c.status == "cancelled" and c.cancel_reason == "supplier out of stock" and c.closed_at
    assert [l.outstanding for l in c.lines] == [0]
    low = server.call_ok("StockService/LowStock", st.LowStockRequest(site_code="RP02"), st.LowStockResponse, login=LOGI)
    assert [(l.available, l.on_order, l.proposed_qty) for l in low.lines if l.item_code == item] == [(5, 0, 25)]
    _, code, det = act(server, "CancelOrder", o.id, reason="again")
    assert code == Code.FAILED_PRECONDITION and "is cancelled" in det


def test_illegal_transitions_refused_by_the_trigger_too(server, db, markets):
    item = new_item(db, shelf=None)
    sm = markets["near"]
    set_price(server, item, sm, 100)
    o = draft(server, sm, "RP01", [(item, 3, 0)])
    # empty drafts cannot be placed
    e = draft(server, sm, "RP01", [])
    _, code, det = act(server, "PlaceOrder", e.id)
    assert code == Code.FAILED_PRECONDITION and "no lines" in det
    c, code, det = act(server, "CancelOrder", e.id, reason="not needed")
    assert code == Code.OK and c.status == "cancelled"
    for to in ("received", "partly_received"):
        with pytest.raises(Exception, match="is draft: it cannot become " + to):
            db.execute("UPDATE purchase_orders SET status = %s, placed_at = now(), closed_at = CASE WHEN %s = 'received' THEN now() END WHERE id = %s", (to, to, o.id))
    with pytest.raises(Exception, match="is cancelled: it cannot become placed"):
        db.execute("UPDATE purchase_orders SET status = 'placed', placed_at = now(), closed_at = NULL WHERE id = %s", (e.id,))
    with pytest.raises(Exception, match="must be a draft"):
        db.execute("INSERT INTO purchase_orders (supplier_site_id, site_id, status, placed_at)"
                   " SELECT s.id, r.id, 'placed', now() FROM sites s, sites r WHERE s.code = %s AND r.code = 'RP01'", (sm,))
    assert one(db, "SELECT status FROM purchase_orders WHERE id = %s", o.id) == "draft"


def test_transition_table_matches_the_c_table(db):
    import os

    src = open(os.path.join(os.environ.get("GS_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", "..")),
                            "server", "services", "stock", "procurement.c")).read()
    names = dict(re.findall(r'X\((PO_[A-Z_]+), "([a-z_]+)"\)',
                            open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "server", "services", "stock", "procurement.h")).read()))
    table = src[src.index("po_transitions[] = {"):]
    table = table[:table.index("};")]
    in_c = {(names[a], names[b]) for a, b in re.findall(r"\{(PO_[A-Z_]+), (PO_[A-Z_]+)\}", table)}
    in_sql = set(db.execute("SELECT from_state, to_state FROM purchase_order_transitions").fetchall())
    assert in_c == in_sql and len(in_c) == 7


def test_order_refusals_scope_roles_and_retries(server, db, markets):
    item = new_item(db)
    sm = markets["near"]
    set_price(server, item, sm, 900)
    cases = [
        (pb.CreateOrderRequest(supplier_site_code="RP02", site_code="RP01"), Code.INVALID_ARGUMENT, "supplier_site_id:"),
        (pb.CreateOrderRequest(supplier_site_code=sm, site_code=markets["far"]), Code.INVALID_ARGUMENT, "site_id:"),
        (pb.CreateOrderRequest(supplier_site_code=sm), Code.INVALID_ARGUMENT, "site_id:"),
        (pb.CreateOrderRequest(supplier_site_code="SM99", site_code="RP01"), Code.NOT_FOUND, "SM99"),
        (pb.CreateOrderRequest(supplier_site_code=sm, site_code="RP01", lines=[pb.OrderLineInput(item_code=item, qty=0)]), Code.INVALID_ARGUMENT, "lines[0].qty"),
        (pb.CreateOrderRequest(supplier_site_code=sm, site_code="RP01", lines=[pb.OrderLineInput(item_code=item, qty=-2)]), Code.INVALID_ARGUMENT, "lines[0].qty"),
        (pb.CreateOrderRequest(supplier_site_code=sm, site_code="RP01", lines=[pb.OrderLineInput(item_code=item, qty=1, unit_price_fen=-1)]), Code.INVALID_ARGUMENT, "lines[0].unit_price_fen"),
        (pb.CreateOrderRequest(supplier_site_code=sm, site_code="RP01", lines=[pb.OrderLineInput(item_code="NOPE", qty=1)]), Code.NOT_FOUND, "NOPE"),
        (pb.CreateOrderRequest(supplier_site_code=sm, site_code="RP01", lines=[pb.OrderLineInput(item_code=item, qty=1), pb.OrderLineInput(item_code=item, qty=2)]), Code.INVALID_ARGUMENT, "lines[1].item_id"),
        (pb.CreateOrderRequest(supplier_site_code=markets["far"], site_code="RP01", lines=[pb.OrderLineInput(item_code=item, qty=1)]), Code.FAILED_PRECONDITION, "no price for " + item),
        (pb.CreateOrderRequest(supplier_site_code=sm, site_code="RP01", note="x" * 501), Code.INVALID_ARGUMENT, "note:"),
    ]
    before = one(db, "SELECT count(*) FROM purchase_orders")
    for req, code, words in cases:
        det = refused(server, "CreateOrder", req, pb.PurchaseOrder, code)
        assert words in det, (words, det)
    assert one(db, "SELECT count(*) FROM purchase_orders") == before

    o = draft(server, sm, "RP01", [(item, 2, 0)])
    # another street's officer does not see RP01's orders; community staff may not procure
    for login, code in [("logi.st02", Code.NOT_FOUND), ("staff.cm01", Code.PERMISSION_DENIED), ("auditor", Code.PERMISSION_DENIED)]:
        _, got, det = call(server, "GetOrder", pb.GetOrderRequest(id=o.id), pb.PurchaseOrder, login=login)
        assert got == code, (login, got, det)
        _, got, det = act(server, "PlaceOrder", o.id, login=login)
        assert got == code, (login, got, det)
    refused(server, "CreateOrder", pb.CreateOrderRequest(supplier_site_code=sm, site_code="RP01"), pb.PurchaseOrder,
            Code.NOT_FOUND, login="logi.st02")
    refused(server, "GetOrder", pb.GetOrderRequest(id=99999999), pb.PurchaseOrder, Code.NOT_FOUND)
    refused(server, "GetOrder", pb.GetOrderRequest(), pb.PurchaseOrder, Code.INVALID_ARGUMENT)
    lst = ok(server, "ListOrders", pb.ListOrdersRequest(status="draft", site_code="RP01"), pb.ListOrdersResponse)
    assert o.id in [x.id for x in lst.orders]
    assert o.id not in [x.id for x in ok(server, "ListOrders", pb.ListOrdersRequest(), pb.ListOrdersResponse, login="logi.st02").orders]
    refused(server, "ListOrders", pb.ListOrdersRequest(status="shipped"), pb.ListOrdersResponse, Code.INVALID_ARGUMENT)

    # place, then receive twice with the same request id: stock moves once
    act(server, "PlaceOrder", o.id)
    rid = "po-retry-" + uuid.uuid4().hex
    req = pb.ReceiveAgainstOrderRequest(order_id=o.id, lines=[pb.ReceiptLineInput(item_code=item, qty=1, lot_code="RT1", expires_on=day(db, 90))])
    a = ok(server, "ReceiveAgainstOrder", req, pb.ReceiveAgainstOrderResponse, request_id=rid)
    b = ok(server, "ReceiveAgainstOrder", req, pb.ReceiveAgainstOrderResponse, request_id=rid)
    assert a.movement_ids == b.movement_ids and b.order.status == "partly_received"
    assert one(db, "SELECT count(*) FROM stock_movements WHERE ref_type = 'purchase_order' AND ref_id = %s", o.id) == 1
    opened = ok(server, "ListOrders", pb.ListOrdersRequest(status="open", supplier_site_code=sm), pb.ListOrdersResponse)
    assert o.id in [x.id for x in opened.orders]


def test_list_orders_pages_newest_first(server, db, markets):
    item = new_item(db, shelf=None)
    sm = markets["near"]
    set_price(server, item, sm, 100)
    ids = [draft(server, sm, "RP03", [(item, 1, 0)]).id for _ in range(5)]
    seen, token = [], ""
    while True:
        r = ok(server, "ListOrders", pb.ListOrdersRequest(site_code="RP03", page_size=2, page_token=token), pb.ListOrdersResponse)
        seen.extend(x.id for x in r.orders)
        token = r.next_page_token
        if not token:
            break
    assert [i for i in seen if i in ids] == sorted(ids, reverse=True)
    assert seen == sorted(seen, reverse=True)


# ---------------------------------------------------------------- proposals


def test_propose_orders_by_price_then_distance(server, db, markets):
    cheap = new_item(db, shelf=None, levels={"RP01": (10, 40), "RP02": (5, 20)})
    tie = new_item(db, shelf=None, levels={"RP01": (10, 30)})
    unpriced = new_item(db, shelf=None, levels={"RP01": (3, 9)})
    fine = new_item(db, shelf=None, levels={"RP01": (1, 2)})
    # cheap: the far market is cheapest → chosen despite the distance
    set_price(server, cheap, markets["near"], 500)
    set_price(server, cheap, markets["far"], 400)
    # tie: same price → the nearer market
    set_price(server, tie, markets["far"], 300)
    set_price(server, tie, markets["near"], 300)
    set_price(server, tie, markets["mid"], 300)
    set_price(server, fine, markets["near"], 1)
    server.call_ok("StockService/Receive", st.ReceiveRequest(site_code="RP01", item_code=fine, qty=2, lot_code="F1"),
                   st.ReceiveResponse, login=LOGI)
    server.call_ok("StockService/Receive", st.ReceiveRequest(site_code="RP01", item_code=cheap, qty=4, lot_code="C1"),
                   st.ReceiveResponse, login=LOGI)

    dry = ok(server, "ProposeOrders", pb.ProposeOrdersRequest(site_code="RP01", dry_run=True), pb.ProposeOrdersResponse)
    lines = {(o.supplier_site_code, l.item_code): (l.qty, l.unit_price_fen) for o in dry.orders for l in o.lines}
    assert lines[(markets["far"], cheap)] == (36, 400)
    assert lines[(markets["near"], tie)] == (30, 300)
    assert not [k for k in lines if k[1] in (unpriced, fine)]
    assert [(u.site_code, u.item_code, u.proposed_qty) for u in dry.unpriced if u.item_code == unpriced] == [("RP01", unpriced, 9)]
    assert all(o.id == 0 and o.status == "draft" for o in dry.orders)
    n_orders = one(db, "SELECT count(*) FROM purchase_orders")

    made = ok(server, "ProposeOrders", pb.ProposeOrdersRequest(site_code="RP01"), pb.ProposeOrdersResponse)
    mine = {(o.supplier_site_code, l.item_code): l.qty for o in made.orders for l in o.lines if l.item_code in (cheap, tie)}
    assert mine == {(markets["far"], cheap): 36, (markets["near"], tie): 30}
    assert all(o.id > 0 and o.status == "draft" and o.proposed and o.site_code == "RP01" for o in made.orders)
    assert len({(o.site_id, o.supplier_site_id) for o in made.orders}) == len(made.orders)
    assert one(db, "SELECT count(*) FROM purchase_orders") == n_orders + len(made.orders)
    # proposing again adds nothing for what the drafts already hold
    again = ok(server, "ProposeOrders", pb.ProposeOrdersRequest(site_code="RP01"), pb.ProposeOrdersResponse)
    assert not [l for o in again.orders for l in o.lines if l.item_code in (cheap, tie)]
    # a street-wide proposal covers RP02 too
    st01 = ok(server, "ProposeOrders", pb.ProposeOrdersRequest(org_unit_code="ST01", dry_run=True), pb.ProposeOrdersResponse)
    rp02 = [(o.site_code, l.qty) for o in st01.orders for l in o.lines if l.item_code == cheap]
    rp02_code = one(db, "SELECT code FROM sites WHERE code = 'RP02'")
    in_st01 = one(db, """SELECT count(*) FROM sites s JOIN org_units c ON c.id = s.org_unit_id
                         JOIN org_units st ON c.path <@ st.path WHERE st.code = 'ST01' AND s.code = 'RP02'""")
    if in_st01:
        assert rp02 == [(rp02_code, 20)]
    refused(server, "ProposeOrders", pb.ProposeOrdersRequest(site_code="RP01"), pb.ProposeOrdersResponse,
            Code.NOT_FOUND, login="logi.st02")


# ---------------------------------------------------------------- demo and the ledger


def test_demo_has_prices_orders_and_low_items(server, db):
    n_prices = one(db, "SELECT count(*) FROM supplier_prices")
    assert n_prices > 200
    placed = ok(server, "ListOrders", pb.ListOrdersRequest(status="open"), pb.ListOrdersResponse, login="admin")
    assert {o.site_code for o in placed.orders} >= {"RP01", "RP02"}
    low = server.call_ok("StockService/LowStock", st.LowStockRequest(site_kind="reserve_point"), st.LowStockResponse, login="admin")
    assert len(low.lines) > 20
    assert any(l.on_order > 0 for l in low.lines)
    near = server.call_ok("StockService/NearExpiry", st.NearExpiryRequest(days=30), st.NearExpiryResponse, login="admin")
    assert len(near.lots) > 10
    assert one(db, "SELECT count(*) FROM stock_movements WHERE request_id LIKE 'demo-060%%'") > 1000


def test_ledger_is_clean_at_the_end(server):
    v = verify(server)
    assert v.clean, list(v.differences)[:5]
    assert v.lots_checked > 0


def test_cli_price_order_place_receive(cli, db, markets):
    import json

    item = new_item(db, shelf=None)
    sm = markets["near"]
    rc, out, err = cli("--json", "procurement", "set-price", "--item-code", item, "--supplier-site-code", sm,
                       "--unit-price-fen", "880", "--lead-time-days", "2", login=LOGI)
    assert rc == 0, err
    assert json.loads(out)["unit_price_fen"] == 880
    rc, out, err = cli("--json", "procurement", "create-order", "--supplier-site-code", sm, "--site-code", "RP01",
                       "--data", json.dumps({"lines": [{"item_code": item, "qty": 6}]}), login=LOGI)
    assert rc == 0, err
    o = json.loads(out)
    assert o["status"] == "draft" and o["total_fen"] == 5280
    rc, out, err = cli("--json", "procurement", "place-order", "--order-id", o["id"], login=LOGI)
    assert rc == 0 and json.loads(out)["status"] == "placed", err
    rc, out, err = cli("--json", "procurement", "receive-against-order", "--order-id", o["id"],
                       "--data", json.dumps({"lines": [{"item_code": item, "qty": 6, "lot_code": "CLI-PO"}]}), login=LOGI)
    assert rc == 0, err
    assert json.loads(out)["order"]["status"] == "received"
    rc, out, err = cli("procurement", "cancel-order", "--order-id", o["id"], "--reason", "late", login=LOGI)
    assert rc == 3 and "FAILED_PRECONDITION" in err and "is received" in err
    rc, out, err = cli("--csv", "procurement", "list-prices", "--item-code", item, login=LOGI)
    assert rc == 0 and item in out and "unit_price_fen" in out.splitlines()[0]
