"""Stock in yuan (issue 18, 061_stock_value.sql): every lot's unit cost (declared value of a
receipt or donation, the price paid against an order, the sending lot's cost for a transfer,
else the lowest list price), the value recorded on every movement (history unchanged when a
lot is topped up at another cost), and StockService.ValueStock: reserves by site, community,
street and category, losses by period, with its refusals."""
import uuid

import grpc
import pytest

from gridstock.v1 import charity_pb2 as ch
from gridstock.v1 import procurement_pb2 as pb
from gridstock.v1 import stock_pb2 as st
from gridstock.v1 import users_pb2 as us
from harness.sql import one

Code = grpc.StatusCode
LOGI = "logi.district"


def new_item(db, category="food"):
    code = "SV-" + uuid.uuid4().hex[:8].upper()
    db.execute("INSERT INTO items (code, name, category, unit) VALUES (%s, %s, %s, 'box')",
               (code, "Value test item " + code, category))
    return code


def receive(server, site, item, qty, lot, cost=0, source=""):
    return server.call_ok("StockService/Receive", st.ReceiveRequest(
        site_code=site, item_code=item, qty=qty, lot_code=lot, unit_cost_fen=cost, source=source),
        st.ReceiveResponse, login=LOGI)


def value(server, **kw):
    return server.call_ok("StockService/ValueStock", st.ValueStockRequest(**kw), st.ValueStockResponse, login=LOGI)


def test_lot_costs_and_movement_values(server, db):
    item = new_item(db)
    r = receive(server, "RP01", item, 10, "A1", cost=250)
    assert (r.lot.unit_cost_fen, r.movement.value_fen) == (250, 2_500)
    # topped up at another cost: the lot averages, the first receipt keeps its value
    r2 = receive(server, "RP01", item, 30, "A1", cost=350)
    assert (r2.lot.unit_cost_fen, r2.movement.value_fen) == (325, 10_500)
    assert one(db, "SELECT value_fen FROM stock_movements WHERE id = %s", r.movement.id) == 2_500
    # issues, write-downs are valued at the lot's cost
    iss = server.call_ok("StockService/Issue", st.IssueRequest(site_code="RP01", item_code=item, qty=4),
                         st.IssueResponse, login=LOGI)
    assert one(db, "SELECT value_fen FROM stock_movements WHERE id = %s", iss.taken[0].movement_id) == -1_300
    # nothing declared: the lowest list price today, else 0
    bare = receive(server, "RP01", item, 1, "B1")
    assert bare.lot.unit_cost_fen == 0
    sm = one(db, "SELECT code FROM sites WHERE kind = 'supplier_market' ORDER BY id LIMIT 1")
    server.call_ok("ProcurementService/SetPrice", pb.SetPriceRequest(item_code=item, supplier_site_code=sm,
                                                                      unit_price_fen=410), pb.Price, login=LOGI)
    assert receive(server, "RP01", item, 1, "C1").lot.unit_cost_fen == 410
    # a transfer: the receiving lot costs what the sending lot did
    t = server.call_ok("StockService/DispatchTransfer", st.DispatchTransferRequest(
        from_site_code="RP01", to_site_code="RP02", items=[st.TransferItem(item_code=item, qty=5, lot_code="A1")]),
        st.Transfer, login=LOGI)
    t = server.call_ok("StockService/ReceiveTransfer", st.ReceiveTransferRequest(transfer_id=t.id), st.Transfer,
                       login=LOGI)
    assert one(db, "SELECT unit_cost_fen FROM lots WHERE id = %s", t.lines[0].to_lot_id) == 325
    assert one(db, "SELECT value_fen FROM stock_movements WHERE kind = 'transfer_in' AND lot_id = %s",
               t.lines[0].to_lot_id) == 1_625
    # refusals: a negative cost, in the server and in the database
    _, code, det = server.call("StockService/Receive", st.ReceiveRequest(
        site_code="RP01", item_code=item, qty=1, lot_code="D1", unit_cost_fen=-1), st.ReceiveResponse, login=LOGI)
    assert code == Code.INVALID_ARGUMENT and "unit_cost_fen" in det
    with pytest.raises(Exception, match="lots_unit_cost_nonneg"):
        db.execute("UPDATE lots SET unit_cost_fen = -1 WHERE id = %s", (r.lot.id,))
    assert server.call_ok("StockService/VerifyStock", st.VerifyStockRequest(), st.VerifyStockResponse,
                          login="admin").clean


def test_donations_and_order_receipts_are_costed(server, db):
    item = new_item(db)
    station = one(db, "SELECT code FROM sites WHERE kind = 'charity_station' AND active ORDER BY id LIMIT 1")
    d = server.call_ok("CharityService/RecordDonation", ch.RecordDonationRequest(
        site_code=station, donor_name="Value donor", items=[
            ch.DonationItem(item_code=item, qty=3, lot_code="DN1", unit_value_fen=900),
            ch.DonationItem(item_code=new_item(db), qty=2, lot_code="DN2")]), ch.Donation, login=LOGI)
    assert one(db, "SELECT unit_cost_fen FROM lots WHERE id = %s", d.lines[0].lot_id) == 900
    assert one(db, "SELECT unit_cost_fen FROM lots WHERE id = %s", d.lines[1].lot_id) == 0
    assert one(db, "SELECT value_fen FROM stock_movements WHERE id = %s", d.lines[0].movement_id) == 2_700
    # against an order: the price paid, line by line (a dearer line with its reason)
    if not one(db, "SELECT count(*) FROM users WHERE login = 'logi.checker2'"):
        server.call_ok("UserService/CreateUser", us.CreateUserRequest(
            login="logi.checker2", display_name="Checker", role="logistics_officer", scope_code="DC"), us.User,
            login="admin")
    sm = one(db, "SELECT code FROM sites WHERE kind = 'supplier_market' ORDER BY id LIMIT 1")
    o = server.call_ok("ProcurementService/CreateOrder", pb.CreateOrderRequest(
        supplier_site_code=sm, site_code="RP03", lines=[pb.OrderLineInput(item_code=item, qty=10, unit_price_fen=500)]),
        pb.PurchaseOrder, login=LOGI)
    server.call_ok("ProcurementService/PlaceOrder", pb.OrderActionRequest(order_id=o.id), pb.PurchaseOrder,
                   login="logi.checker2")
    r = server.call_ok("ProcurementService/ReceiveAgainstOrder", pb.ReceiveAgainstOrderRequest(order_id=o.id, lines=[
        pb.ReceiptLineInput(item_code=item, qty=4, lot_code="PO1"),
        pb.ReceiptLineInput(item_code=item, qty=2, lot_code="PO2", unit_price_fen=560, price_reason="dearer batch")]),
        pb.ReceiveAgainstOrderResponse, login=LOGI)
    costs = [one(db, "SELECT l.unit_cost_fen FROM stock_movements m JOIN lots l ON l.id = m.lot_id WHERE m.id = %s",
                 mid) for mid in r.movement_ids]
    assert costs == [500, 560]
    assert [one(db, "SELECT value_fen FROM stock_movements WHERE id = %s", mid) for mid in r.movement_ids] == \
        [2_000, 1_120]


def test_value_stock_groups_losses_and_refusals(server, db):
    item = new_item(db, category="medicine")
    receive(server, "RP01", item, 10, "V1", cost=1_000)
    receive(server, "RP02", item, 5, "V2", cost=2_000)
    # losses this month: 2 damaged at RP01, 1 expired at RP02
    server.call_ok("StockService/Adjust", st.AdjustRequest(site_code="RP01", item_code=item, lot_code="V1", qty=-2,
                                                           reason="damaged"), st.AdjustResponse, login=LOGI)
    server.call_ok("StockService/Adjust", st.AdjustRequest(site_code="RP02", item_code=item, lot_code="V2", qty=-1,
                                                           reason="expired"), st.AdjustResponse, login=LOGI)
    by_site = {r.key: r for r in value(server, org_unit_code="DC").rows}
    # each site's value is its lots' on hand × unit cost, now
    for code in ("RP01", "RP02"):
        assert by_site[code].value_fen == one(
            db, "SELECT sum(l.on_hand * l.unit_cost_fen) FROM lots l JOIN sites s ON s.id = l.site_id"
                " WHERE s.code = %s", code)
    assert by_site["RP01"].damaged_fen >= 2_000 and by_site["RP02"].expired_fen >= 2_000
    # the item's category alone: exactly this test's stock and losses
    mine = [r for r in value(server, org_unit_code="DC", group_by="category").rows if r.key == "medicine"][0]
    assert mine.value_fen >= 8 * 1_000 + 4 * 2_000
    streets = value(server, group_by="street")
    street_codes = {x[0] for x in db.execute("SELECT code FROM org_units WHERE nlevel(path) = 2").fetchall()}
    assert {r.key for r in streets.rows} <= street_codes and "ST01" in {r.key for r in streets.rows}
    assert streets.total_value_fen == value(server, group_by="site").total_value_fen == \
        value(server, group_by="community").total_value_fen
    assert streets.total_value_fen == one(
        db, "SELECT sum(l.on_hand * l.unit_cost_fen) FROM lots l JOIN sites s ON s.id = l.site_id"
            " WHERE s.kind <> 'supplier_market'")
    # a period before the losses: none
    old = value(server, group_by="site", **{"from": "2020-01-01", "to": "2020-12-31"})
    assert old.total_losses_fen == 0 and old.total_value_fen == streets.total_value_fen
    # an area: a community sees only its own sites
    cm = value(server, org_unit_code="CM01")
    assert "RP01" in {r.key for r in cm.rows} and "RP02" not in {r.key for r in cm.rows}
    for req, code in ((st.ValueStockRequest(group_by="grid"), Code.INVALID_ARGUMENT),
                      (st.ValueStockRequest(**{"from": "2026-02-01", "to": "2026-01-01"}), Code.INVALID_ARGUMENT),
                      (st.ValueStockRequest(**{"from": "yesterday"}), Code.INVALID_ARGUMENT),
                      (st.ValueStockRequest(org_unit_code="NOPE"), Code.NOT_FOUND)):
        _, got, det = server.call("StockService/ValueStock", req, st.ValueStockResponse, login=LOGI)
        assert got == code, (req, got, det)
    # a community's staff see their community only
    _, got, _ = server.call("StockService/ValueStock", st.ValueStockRequest(org_unit_code="CM02"),
                            st.ValueStockResponse, login="staff.cm01")
    assert got == Code.NOT_FOUND


def test_value_stock_by_cli(cli):
    rc, out, err = cli("stock", "value-stock", "--group-by", "street", login=LOGI)
    assert rc == 0, err
    assert "VALUE (FEN)" in out and "ST01" in out
