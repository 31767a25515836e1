"""StockService against the demo district: receipts, FEFO issues, adjustments, expiry
write-off, transfers, blind stocktakes, the reports, ledger verification, scope and role
refusals, exactly-once retries, 16 concurrent clients on two server processes issuing the
same lots dry, and stock alerts crossing server processes through LISTEN/NOTIFY.

Each test makes its own catalog items (TST-...), so tests do not share balances."""
import random
import threading
import time
import uuid

import grpc
import pytest

from gridstock.v1 import stock_pb2 as pb
from harness.sql import one, day

Code = grpc.StatusCode
S = "StockService/"
LOGI = "logi.district"


def uid(prefix="TST-"):
    return prefix + uuid.uuid4().hex[:8].upper()


def new_item(db, shelf=365, levels=None):
    """A fresh catalog item; levels = {site_code: (reorder_point, par_level)}."""
    code = uid()
    db.execute(
        "INSERT INTO items (code, name, category, unit, shelf_life_days) VALUES (%s, %s, 'food', 'bag', %s)",
        (code, "Test item " + code, shelf),
    )
    for site, (rop, par) in (levels or {}).items():
        db.execute(
            """INSERT INTO site_items (site_id, item_id, reorder_point, par_level)
               SELECT s.id, i.id, %s, %s FROM sites s, items i WHERE s.code = %s AND i.code = %s""",
            (rop, par, site, code),
        )
    return code


def call(server, method, req, resp_cls, login=LOGI, **kw):
    return server.call(S + method, req, resp_cls, login=login, **kw)


def ok(server, method, req, resp_cls, login=LOGI, **kw):
    resp, code, details = call(server, method, req, resp_cls, login=login, **kw)
    assert code == Code.OK, "%s → %s: %s" % (method, code, details)
    return resp


def receive(server, site, item, qty, lot, expires="", login=LOGI, **kw):
    return ok(
        server,
        "Receive",
        pb.ReceiveRequest(site_code=site, item_code=item, qty=qty, lot_code=lot, expires_on=expires, **kw),
        pb.ReceiveResponse,
        login=login,
    )


def issue(server, site, item, qty, lot="", login=LOGI, **kw):
    return call(
        server,
        "Issue",
        pb.IssueRequest(site_code=site, item_code=item, qty=qty, lot_code=lot),
        pb.IssueResponse,
        login=login,
        **kw,
    )


def balance(server, site, item, login=LOGI):
    b = ok(server, "GetBalance", pb.GetBalanceRequest(site_code=site, item_code=item), pb.SiteBalance, login=login)
    assert len(b.items) == 1
    return b.items[0]


def expired_lot(db, site, item, lot, qty, days_ago=3):
    """A lot that was received before it expired (lot and receipt movement, as the ledger
    would have them)."""
    db.execute(
        """WITH l AS (
             INSERT INTO lots (site_id, item_id, lot_code, expires_on, source, on_hand, received_at)
             SELECT s.id, i.id, %s, current_date - %s::int, 'purchase', %s, now() - interval '60 days'
               FROM sites s, items i WHERE s.code = %s AND i.code = %s
             RETURNING id, site_id, item_id)
           INSERT INTO stock_movements (kind, site_id, item_id, lot_id, qty, at, note)
           SELECT 'receipt', site_id, item_id, id, %s, now() - interval '60 days', 'test fixture' FROM l""",
        (lot, days_ago, qty, site, item, qty),
    )


def verify(server, login="admin"):
    return ok(server, "VerifyStock", pb.VerifyStockRequest(), pb.VerifyStockResponse, login=login)


@pytest.fixture(scope="module")
def sites(db):
    """Reserve points of street ST01, one of another street, a charity station of ST01 and
    a supplier market."""
    def codes(sql, *a):
        return [r[0] for r in db.execute(sql, a).fetchall()]

    st01 = codes(
        """SELECT s.code FROM sites s JOIN org_units c ON c.id = s.org_unit_id
           JOIN org_units st ON c.path <@ st.path WHERE st.code = 'ST01' AND s.kind = 'reserve_point'
           ORDER BY s.code"""
    )
    other = codes(
        """SELECT s.code FROM sites s JOIN org_units c ON c.id = s.org_unit_id
           JOIN org_units st ON c.path <@ st.path WHERE st.code = 'ST02' AND s.kind = 'reserve_point'
           ORDER BY s.code"""
    )
    cs = codes(
        """SELECT s.code FROM sites s JOIN org_units c ON c.id = s.org_unit_id
           JOIN org_units st ON c.path <@ st.path WHERE st.code = 'ST01' AND s.kind = 'charity_station'
           ORDER BY s.code"""
    )
    sm = codes("SELECT code FROM sites WHERE kind = 'supplier_market' ORDER BY code")
    assert st01[0] == "RP01" and len(st01) >= 2 and other and cs and sm
    return {"a": st01[0], "b": st01[1], "other": other[0], "cs": cs[0], "sm": sm[0]}


# ---------------------------------------------------------------- receive


def test_receive_creates_a_lot_with_its_ledger_row_and_audit(server, db, sites):
    item = new_item(db)
    exp = day(db, 200)
    r = receive(server, "RP01", item, 40, "L2311", exp, reason="delivery 7", ref_type="purchase_order", ref_id=7)
    assert (r.lot.site_code, r.lot.item_code, r.lot.lot_code) == ("RP01", item, "L2311")
    assert (r.lot.on_hand, r.lot.reserved, r.lot.available) == (40, 0, 40)
    assert r.lot.expires_on == exp and r.lot.source == "purchase" and not r.lot.expired
    assert r.lot.days_left == 200
    m = r.movement
    assert (m.kind, m.qty, m.lot_id, m.actor_login) == ("receipt", 40, r.lot.id, LOGI)
    assert (m.ref_type, m.ref_id, m.reason) == ("purchase_order", 7, "delivery 7")
    assert m.request_id
    # the same lot again tops it up; a donation makes its own lot with source donation
    r2 = receive(server, "RP01", item, 10, "L2311", exp)
    assert r2.lot.id == r.lot.id and r2.lot.on_hand == 50
    d = receive(server, "RP01", item, 5, "GIFT-1", exp, source="donation")
    assert d.lot.source == "donation" and d.movement.kind == "donation_in"
    b = balance(server, "RP01", item)
    assert (b.on_hand, b.available, len(b.lots)) == (55, 55, 2)
    audit = db.execute(
        "SELECT login, method, summary FROM audit_log WHERE object = %s ORDER BY id", ("lot:%d" % r.lot.id,)
    ).fetchall()
    assert len(audit) == 2 and audit[0][0] == LOGI and audit[0][1].endswith("StockService/Receive")
    assert "received 40 %s lot L2311 at RP01" % item in audit[0][2]


def test_receive_refusals_name_the_field_and_change_nothing(server, db, sites):
    item = new_item(db)
    exp = day(db, 100)
    receive(server, "RP01", item, 10, "A1", exp)
    cases = [
        (dict(qty=0), Code.INVALID_ARGUMENT, "qty"),
        (dict(qty=-5), Code.INVALID_ARGUMENT, "qty"),
        (dict(lot_code=""), Code.INVALID_ARGUMENT, "lot_code"),
        (dict(lot_code="bad lot!"), Code.INVALID_ARGUMENT, "lot_code"),
        (dict(expires_on="2027-13-01"), Code.INVALID_ARGUMENT, "expires_on"),
        (dict(expires_on=""), Code.INVALID_ARGUMENT, "expires_on: required"),
        (dict(source="gift"), Code.INVALID_ARGUMENT, "source"),
        (dict(expires_on=day(db, -1), lot_code="OLD"), Code.FAILED_PRECONDITION, "expired"),
        (dict(expires_on=day(db, 50)), Code.FAILED_PRECONDITION, "already exists with expiry"),
        (dict(site_code=sites["sm"]), Code.FAILED_PRECONDITION, "supplier market"),
        (dict(item_code="NO-SUCH-ITEM"), Code.NOT_FOUND, "item"),
        (dict(site_code="NOPE"), Code.NOT_FOUND, "site"),
        (dict(ref_type="Bad Type"), Code.INVALID_ARGUMENT, "ref_type"),
    ]
    for change, want, words in cases:
        req = dict(site_code="RP01", item_code=item, qty=5, lot_code="A1", expires_on=exp)
        req.update(change)
        _, code, details = call(server, "Receive", pb.ReceiveRequest(**req), pb.ReceiveResponse)
        assert code == want, (change, code, details)
        assert words in details, (change, details)
    assert balance(server, "RP01", item).on_hand == 10
    assert one(db, "SELECT count(*) FROM stock_movements m JOIN items i ON i.id = m.item_id WHERE i.code = %s", item) == 1


# ---------------------------------------------------------------- issue


def test_issue_is_first_expired_first_out_across_lots(server, db, sites):
    item = new_item(db)
    receive(server, "RP01", item, 20, "LATE", day(db, 300))
    receive(server, "RP01", item, 5, "EARLY", day(db, 20))
    receive(server, "RP01", item, 7, "MID", day(db, 100))
    r = ok(server, "Issue", pb.IssueRequest(site_code="RP01", item_code=item, qty=9, reason="grid GR001"), pb.IssueResponse)
    assert [(t.lot_code, t.qty, t.remaining) for t in r.taken] == [("EARLY", 5, 0), ("MID", 4, 3)]
    assert r.total == 9 and all(t.item_code == item and t.movement_id for t in r.taken)
    # a named lot is taken from even when others expire sooner
    r = ok(server, "Issue", pb.IssueRequest(site_code="RP01", item_code=item, qty=2, lot_code="LATE"), pb.IssueResponse)
    assert [(t.lot_code, t.qty, t.remaining) for t in r.taken] == [("LATE", 2, 18)]
    b = balance(server, "RP01", item)
    assert (b.on_hand, b.available) == (21, 21)
    assert [l.lot_code for l in b.lots] == ["MID", "LATE"]  # empty lots are not listed
    kinds = db.execute(
        "SELECT kind, qty FROM stock_movements m JOIN items i ON i.id = m.item_id WHERE i.code = %s AND kind = 'issue' ORDER BY m.id",
        (item,),
    ).fetchall()
    assert kinds == [("issue", -5), ("issue", -4), ("issue", -2)]


def test_issue_refusals(server, db, sites):
    item = new_item(db)
    receive(server, "RP01", item, 40, "OK1", day(db, 60))
    expired_lot(db, "RP01", item, "GONE", 30)
    # expired stock is neither counted nor taken
    _, code, details = issue(server, "RP01", item, 50)
    assert code == Code.FAILED_PRECONDITION
    assert details == "not enough %s at RP01: 40 available, 50 requested" % item
    _, code, details = issue(server, "RP01", item, 1, lot="GONE")
    assert code == Code.FAILED_PRECONDITION and "expired" in details and "GONE" in details
    _, code, details = issue(server, "RP01", item, 1, lot="NOLOT")
    assert code == Code.NOT_FOUND and "lot NOLOT of %s not found at RP01" % item in details
    _, code, details = issue(server, "RP01", item, 41, lot="OK1")
    assert code == Code.FAILED_PRECONDITION and "40 available, 41 requested" in details
    for qty in (0, -3):
        _, code, details = issue(server, "RP01", item, qty)
        assert code == Code.INVALID_ARGUMENT and details.startswith("qty:"), details
    _, code, details = issue(server, "RP01", "NO-SUCH-ITEM", 1)
    assert code == Code.NOT_FOUND
    b = balance(server, "RP01", item)
    assert (b.on_hand, b.available, b.expired) == (70, 40, 30)
    r = issue(server, "RP01", item, 40)[0]
    assert [(t.lot_code, t.qty) for t in r.taken] == [("OK1", 40)]


def test_scope_and_role(server, db, sites):
    item = new_item(db)
    receive(server, "RP01", item, 10, "S1", day(db, 90))
    receive(server, sites["other"], item, 10, "S1", day(db, 90))
    # a street officer acts in their street only; elsewhere is NOT_FOUND like a missing site
    r, code, _ = issue(server, "RP01", item, 1, login="logi.st01")
    assert code == Code.OK
    _, code, details = issue(server, sites["other"], item, 1, login="logi.st01")
    assert code == Code.NOT_FOUND and details == 'site "%s" not found' % sites["other"]
    _, code, missing = issue(server, "RP99X", item, 1, login="logi.st01")
    assert code == Code.NOT_FOUND and missing == 'site "RP99X" not found'
    other_id = one(db, "SELECT id FROM sites WHERE code = %s", sites["other"])
    _, code, details = call(
        server, "GetBalance", pb.GetBalanceRequest(site_id=other_id), pb.SiteBalance, login="staff.cm01"
    )
    assert code == Code.NOT_FOUND and details == "site %d not found" % other_id
    # community staff read their community's stock but cannot move it
    b = ok(server, "GetBalance", pb.GetBalanceRequest(site_code="RP01", item_code=item), pb.SiteBalance, login="staff.cm01")
    assert b.items[0].on_hand == 9
    for login in ("staff.cm01", "auditor", "fin.officer"):
        _, code, details = issue(server, "RP01", item, 1, login=login)
        assert code == Code.PERMISSION_DENIED, (login, code, details)
    # lots of other sites are out of reach by id too
    lot = one(db, "SELECT l.id FROM lots l JOIN sites s ON s.id = l.site_id JOIN items i ON i.id = l.item_id WHERE s.code = %s AND i.code = %s", sites["other"], item)
    _, code, details = call(server, "Adjust", pb.AdjustRequest(lot_id=lot, qty=-1, reason="damaged"), pb.AdjustResponse, login="logi.st01")
    assert code == Code.NOT_FOUND and details == "lot %d not found" % lot
    assert balance(server, sites["other"], item).on_hand == 10
    # no token at all
    _, code, _ = server.call(S + "GetBalance", pb.GetBalanceRequest(site_code="RP01"), pb.SiteBalance)
    assert code == Code.UNAUTHENTICATED


def test_a_retry_with_the_same_request_id_moves_stock_once(server, db, sites):
    item = new_item(db)
    receive(server, "RP01", item, 30, "R1", day(db, 90))
    rid = "issue-" + uuid.uuid4().hex
    first, code, _ = issue(server, "RP01", item, 7, request_id=rid)
    assert code == Code.OK
    again, code, _ = issue(server, "RP01", item, 7, request_id=rid)
    assert code == Code.OK and again == first
    assert balance(server, "RP01", item).on_hand == 23
    assert one(db, "SELECT count(*) FROM stock_movements WHERE request_id = %s", rid) == 1
    # the same id with a different request is refused and moves nothing
    _, code, _ = issue(server, "RP01", item, 8, request_id=rid)
    assert code != Code.OK
    assert balance(server, "RP01", item).on_hand == 23
    # mutations need a request id
    _, code, _ = issue(server, "RP01", item, 1, request_id="")
    assert code == Code.INVALID_ARGUMENT
    assert balance(server, "RP01", item).on_hand == 23


# ---------------------------------------------------------------- adjust, write-off


def test_adjustments_with_reason_codes(server, db, sites):
    reasons = ok(server, "ListAdjustmentReasons", pb.ListAdjustmentReasonsRequest(), pb.ListAdjustmentReasonsResponse)
    by_code = {r.code: r.direction for r in reasons.reasons}
    assert {"damaged", "lost", "found", "expired", "correction"} <= set(by_code)
    assert by_code["damaged"] == "out" and by_code["found"] == "in" and by_code["correction"] == "any"

    item = new_item(db)
    lot = receive(server, "RP01", item, 20, "ADJ", day(db, 90)).lot
    r = ok(server, "Adjust", pb.AdjustRequest(site_code="RP01", item_code=item, lot_code="ADJ", qty=-3, reason="damaged", note="wet"), pb.AdjustResponse)
    assert r.lot.on_hand == 17 and (r.movement.kind, r.movement.qty, r.movement.reason, r.movement.note) == ("adjustment", -3, "damaged", "wet")
    r = ok(server, "Adjust", pb.AdjustRequest(lot_id=lot.id, qty=2, reason="found"), pb.AdjustResponse)
    assert r.lot.on_hand == 19
    r = ok(server, "Adjust", pb.AdjustRequest(lot_id=lot.id, qty=-1, reason="correction"), pb.AdjustResponse)
    assert r.lot.on_hand == 18
    cases = [
        (dict(lot_id=lot.id, qty=1, reason="damaged"), Code.INVALID_ARGUMENT, "reason"),
        (dict(lot_id=lot.id, qty=-1, reason="found"), Code.INVALID_ARGUMENT, "reason"),
        (dict(lot_id=lot.id, qty=-1, reason="whim"), Code.INVALID_ARGUMENT, "reason"),
        (dict(lot_id=lot.id, qty=-1), Code.INVALID_ARGUMENT, "reason"),
        (dict(lot_id=lot.id, qty=0, reason="correction"), Code.INVALID_ARGUMENT, "qty"),
        (dict(lot_id=lot.id, qty=-19, reason="lost"), Code.FAILED_PRECONDITION, "18 available, 19 requested"),
        (dict(lot_id=10**12, qty=-1, reason="lost"), Code.NOT_FOUND, "lot"),
        (dict(site_code="RP01", item_code=item, lot_code="NOPE", qty=-1, reason="lost"), Code.NOT_FOUND, "lot NOPE"),
    ]
    for req, want, words in cases:
        _, code, details = call(server, "Adjust", pb.AdjustRequest(**req), pb.AdjustResponse)
        assert code == want and words in details, (req, code, details)
    assert balance(server, "RP01", item).on_hand == 18


def test_write_off_expired(server, db, sites):
    item = new_item(db)
    site = sites["b"]
    receive(server, site, item, 9, "FRESH", day(db, 90))
    expired_lot(db, site, item, "STALE", 12)
    r = ok(server, "WriteOffExpired", pb.WriteOffExpiredRequest(site_code=site, note="monthly"), pb.WriteOffExpiredResponse)
    mine = [w for w in r.written_off if w.item_code == item]
    assert [(w.lot_code, w.qty, w.remaining) for w in mine] == [("STALE", 12, 0)]
    b = balance(server, site, item)
    assert (b.on_hand, b.expired, b.available) == (9, 0, 9)
    kinds = one(
        db,
        "SELECT string_agg(kind || ':' || qty, ',' ORDER BY m.id) FROM stock_movements m JOIN lots l ON l.id = m.lot_id WHERE l.lot_code = 'STALE' AND m.item_id = (SELECT id FROM items WHERE code = %s)",
        item,
    )
    assert kinds == "receipt:12,expiry_writeoff:-12"
    r = ok(server, "WriteOffExpired", pb.WriteOffExpiredRequest(site_code=site), pb.WriteOffExpiredResponse)
    assert not [w for w in r.written_off if w.item_code == item]


# ---------------------------------------------------------------- transfers


def test_transfer_dispatch_in_transit_receive_with_a_difference(server, db, sites):
    item = new_item(db)
    a, b = sites["a"], sites["b"]
    receive(server, a, item, 5, "T-EARLY", day(db, 30))
    receive(server, a, item, 20, "T-LATE", day(db, 200))
    t = ok(
        server,
        "DispatchTransfer",
        pb.DispatchTransferRequest(from_site_code=a, to_site_code=b, items=[pb.TransferItem(item_code=item, qty=12)], note="rebalance"),
        pb.Transfer,
        login="logi.st01",
    )
    assert t.status == "in_transit" and (t.from_site_code, t.to_site_code) == (a, b)
    assert [(l.lot_code, l.qty) for l in t.lines] == [("T-EARLY", 5), ("T-LATE", 7)]
    assert t.dispatched_by == "logi.st01" and t.dispatched_at and not t.received_at
    assert balance(server, a, item).on_hand == 13
    assert balance(server, b, item).on_hand == 0
    got = ok(server, "GetTransfer", pb.GetTransferRequest(id=t.id), pb.Transfer)
    assert got == t
    listed = ok(server, "ListTransfers", pb.ListTransfersRequest(site_code=b, status="in_transit"), pb.ListTransfersResponse)
    assert t.id in [x.id for x in listed.transfers]
    late = [l for l in t.lines if l.lot_code == "T-LATE"][0]

    # a difference needs a reason from the list, in the right direction
    for lines, words in [
        ([pb.ReceivedLine(line_id=late.id, received_qty=5)], "lines[0].reason"),
        ([pb.ReceivedLine(line_id=late.id, received_qty=5, reason="found")], "lines[0].reason"),
        ([pb.ReceivedLine(line_id=late.id, received_qty=-1)], "lines[0].received_qty"),
        ([pb.ReceivedLine(line_id=10**12, received_qty=1)], "line"),
    ]:
        _, code, details = call(server, "ReceiveTransfer", pb.ReceiveTransferRequest(transfer_id=t.id, lines=lines), pb.Transfer)
        assert code in (Code.INVALID_ARGUMENT, Code.NOT_FOUND) and words in details, (details,)
    # another street's officer does not see the transfer
    _, code, _ = call(server, "ReceiveTransfer", pb.ReceiveTransferRequest(transfer_id=t.id), pb.Transfer, login="logi.st02")
    assert code == Code.NOT_FOUND

    r = ok(
        server,
        "ReceiveTransfer",
        pb.ReceiveTransferRequest(transfer_id=t.id, lines=[pb.ReceivedLine(line_id=late.id, received_qty=5, reason="transit_loss")]),
        pb.Transfer,
    )
    assert r.status == "received" and r.received_by == LOGI and r.received_at
    assert sorted((l.lot_code, l.qty, l.received_qty, l.reason) for l in r.lines) == [
        ("T-EARLY", 5, 5, ""),
        ("T-LATE", 7, 5, "transit_loss"),
    ]
    bb = balance(server, b, item)
    assert bb.on_hand == 10
    assert sorted((l.lot_code, l.on_hand, l.source, l.expires_on) for l in bb.lots) == [
        ("T-EARLY", 5, "transfer", day(db, 30)),
        ("T-LATE", 5, "transfer", day(db, 200)),
    ]
    mv = ok(server, "ListMovements", pb.ListMovementsRequest(ref_type="transfer", ref_id=t.id), pb.ListMovementsResponse)
    assert sorted((m.site_code, m.kind, m.qty) for m in mv.movements) == sorted(
        [(a, "transfer_out", -5), (a, "transfer_out", -7), (b, "transfer_in", 5), (b, "transfer_in", 7), (b, "adjustment", -2)]
    )
    _, code, details = call(server, "ReceiveTransfer", pb.ReceiveTransferRequest(transfer_id=t.id), pb.Transfer)
    assert code == Code.FAILED_PRECONDITION and "already received" in details

    # not enough: nothing leaves, no transfer is left behind
    before = one(db, "SELECT count(*) FROM stock_transfers")
    _, code, details = call(
        server,
        "DispatchTransfer",
        pb.DispatchTransferRequest(from_site_code=a, to_site_code=b, items=[pb.TransferItem(item_code=item, qty=14)]),
        pb.Transfer,
    )
    assert code == Code.FAILED_PRECONDITION and details == "not enough %s at %s: 13 available, 14 requested" % (item, a)
    assert one(db, "SELECT count(*) FROM stock_transfers") == before
    for req, words in [
        (dict(from_site_code=a, to_site_code=a, items=[pb.TransferItem(item_code=item, qty=1)]), "to_site_id"),
        (dict(from_site_code=a, to_site_code=b), "items"),
        (dict(from_site_code=a, to_site_code=b, items=[pb.TransferItem(item_code=item, qty=0)]), "items[0].qty"),
    ]:
        _, code, details = call(server, "DispatchTransfer", pb.DispatchTransferRequest(**req), pb.Transfer)
        assert code == Code.INVALID_ARGUMENT and words in details, details
    _, code, _ = call(
        server,
        "DispatchTransfer",
        pb.DispatchTransferRequest(from_site_code=a, to_site_code=sites["other"], items=[pb.TransferItem(item_code=item, qty=1)]),
        pb.Transfer,
        login="logi.st01",
    )
    assert code == Code.NOT_FOUND


# ---------------------------------------------------------------- stocktakes


def test_blind_stocktake(server, db, sites):
    site = sites["b"]
    item = new_item(db)
    l1 = receive(server, site, item, 10, "C1", day(db, 90)).lot
    receive(server, site, item, 10, "C2", day(db, 120))
    receive(server, site, item, 4, "C3", day(db, 150))
    st = ok(server, "OpenStocktake", pb.OpenStocktakeRequest(site_code=site, note="quarterly"), pb.Stocktake)
    assert st.status == "open" and st.site_code == site and st.opened_by == LOGI
    _, code, details = call(server, "OpenStocktake", pb.OpenStocktakeRequest(site_code=site), pb.Stocktake)
    assert code == Code.FAILED_PRECONDITION and "already open" in details

    counts = [pb.Count(lot_id=l1.id, counted=7), pb.Count(item_code=item, lot_code="C2", counted=12)]
    r = ok(server, "EnterCounts", pb.EnterCountsRequest(stocktake_id=st.id, counts=counts), pb.EnterCountsResponse)
    assert (r.accepted, r.counted_lots) == (2, 2)
    # blind: nothing in the answers reveals a system quantity
    assert set(f.name for f in pb.EnterCountsResponse.DESCRIPTOR.fields) == {"stocktake_id", "accepted", "counted_lots"}
    got = ok(server, "GetStocktake", pb.GetStocktakeRequest(id=st.id), pb.Stocktake)
    assert got.counted_lots == 2 and not got.lines
    for counts, want, words in [
        ([pb.Count(lot_id=l1.id, counted=-1)], Code.INVALID_ARGUMENT, "counts[0].counted"),
        ([pb.Count(item_code=item, lot_code="NOPE", counted=1)], Code.NOT_FOUND, "counts[0]"),
        ([], Code.INVALID_ARGUMENT, "counts"),
    ]:
        _, code, details = call(server, "EnterCounts", pb.EnterCountsRequest(stocktake_id=st.id, counts=counts), pb.EnterCountsResponse)
        assert code == want and words in details, details
    # stock moving between count and submit is kept: the variance is counted - system at count
    issue(server, site, item, 1, lot="C2")
    done = ok(server, "SubmitStocktake", pb.SubmitStocktakeRequest(stocktake_id=st.id), pb.Stocktake)
    assert done.status == "submitted" and done.submitted_by == LOGI
    assert sorted((l.lot_code, l.system_qty, l.counted, l.variance) for l in done.lines) == [("C1", 10, 7, -3), ("C2", 10, 12, 2)]
    assert done.total_variance == -1
    lots = {l.lot_code: l.on_hand for l in balance(server, site, item).lots}
    assert lots == {"C1": 7, "C2": 11, "C3": 4}
    _, code, details = call(server, "SubmitStocktake", pb.SubmitStocktakeRequest(stocktake_id=st.id), pb.Stocktake)
    assert code == Code.FAILED_PRECONDITION
    _, code, _ = call(server, "EnterCounts", pb.EnterCountsRequest(stocktake_id=st.id, counts=[pb.Count(lot_id=l1.id, counted=1)]), pb.EnterCountsResponse)
    assert code == Code.FAILED_PRECONDITION
    _, code, _ = call(server, "GetStocktake", pb.GetStocktakeRequest(id=st.id), pb.Stocktake, login="logi.st02")
    assert code == Code.NOT_FOUND
    kinds = db.execute(
        "SELECT kind, qty, ref_type, ref_id FROM stock_movements WHERE kind = 'stocktake_variance' AND ref_id = %s ORDER BY id",
        (st.id,),
    ).fetchall()
    assert kinds == [("stocktake_variance", -3, "stocktake", st.id), ("stocktake_variance", 2, "stocktake", st.id)]


# ---------------------------------------------------------------- reports


def test_reports(server, db, sites):
    a = sites["a"]
    item = new_item(db, levels={a: (20, 50)})
    receive(server, a, item, 8, "N1", day(db, 10))
    receive(server, a, item, 6, "N2", day(db, 400))
    t_mid = one(db, "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
    time.sleep(0.05)
    issue(server, a, item, 3)

    low = ok(server, "LowStock", pb.LowStockRequest(site_code=a), pb.LowStockResponse)
    mine = [l for l in low.lines if l.item_code == item]
    assert len(mine) == 1
    assert (mine[0].available, mine[0].reorder_point, mine[0].par_level, mine[0].on_order, mine[0].proposed_qty) == (11, 20, 50, 0, 39)
    low_st02 = ok(server, "LowStock", pb.LowStockRequest(), pb.LowStockResponse, login="logi.st02")
    assert not [l for l in low_st02.lines if l.site_code == a]

    near = ok(server, "NearExpiry", pb.NearExpiryRequest(days=30, item_code=item), pb.NearExpiryResponse)
    assert [(l.lot_code, l.on_hand, l.days_left) for l in near.lots] == [("N1", 5, 10)]

    props = ok(server, "CharityTransferProposals", pb.CharityTransferProposalsRequest(org_unit_code="ST01", days=30), pb.CharityTransferProposalsResponse)
    mine = [p for p in props.proposals if p.lot.item_code == item]
    assert len(mine) == 1 and mine[0].qty == 5 and mine[0].lot.lot_code == "N1"
    assert mine[0].to_site_code.startswith("CS") and mine[0].distance_m > 0

    by_unit = ok(server, "StockByOrgUnit", pb.StockByOrgUnitRequest(org_unit_code="ST01", item_code=item), pb.StockByOrgUnitResponse)
    assert [(r.org_unit_code, r.on_hand, r.available, r.sites) for r in by_unit.rows] == [("CM01", 11, 11, 1)]

    card = ok(server, "StockCard", pb.StockCardRequest(site_code=a, item_code=item), pb.StockCardResponse)
    assert [(m.kind, m.qty, m.balance) for m in card.movements] == [("receipt", 8, 8), ("receipt", 6, 14), ("issue", -3, 11)]
    assert card.opening_balance == 0 and card.on_hand == 11
    page = ok(server, "StockCard", pb.StockCardRequest(site_code=a, item_code=item, page_size=2), pb.StockCardResponse)
    assert len(page.movements) == 2 and page.next_page_token
    page2 = ok(server, "StockCard", pb.StockCardRequest(site_code=a, item_code=item, page_size=2, page_token=page.next_page_token), pb.StockCardResponse)
    assert [(m.qty, m.balance) for m in page2.movements] == [(-3, 11)] and page2.opening_balance == 14
    assert not page2.next_page_token

    past = ok(server, "StockAsOf", pb.StockAsOfRequest(site_code=a, item_code=item, at=t_mid), pb.StockAsOfResponse)
    assert len(past.items) == 1 and past.items[0].on_hand == 14
    assert sorted((l.lot_code, l.on_hand) for l in past.items[0].lots) == [("N1", 8), ("N2", 6)]
    early = ok(server, "StockAsOf", pb.StockAsOfRequest(site_code=a, item_code=item, at="2001-01-01T00:00:00Z"), pb.StockAsOfResponse)
    assert not early.items
    _, code, details = call(server, "StockAsOf", pb.StockAsOfRequest(site_code=a, at="yesterday-ish"), pb.StockAsOfResponse)
    assert code == Code.INVALID_ARGUMENT and details.startswith("at:")
    _, code, details = call(server, "StockAsOf", pb.StockAsOfRequest(site_code=a), pb.StockAsOfResponse)
    assert code == Code.INVALID_ARGUMENT and details.startswith("at:")

    mv = ok(server, "ListMovements", pb.ListMovementsRequest(site_code=a, item_code=item, kind="receipt"), pb.ListMovementsResponse)
    assert [m.qty for m in mv.movements] == [8, 6]
    _, code, details = call(server, "ListMovements", pb.ListMovementsRequest(kind="teleport"), pb.ListMovementsResponse)
    assert code == Code.INVALID_ARGUMENT and details.startswith("kind:")

    # balances over an area, paginated; zero rows with levels on request
    seen, token = [], ""
    while True:
        r = ok(server, "ListBalances", pb.ListBalancesRequest(org_unit_code="ST01", page_size=3, page_token=token), pb.ListBalancesResponse)
        seen.extend((b.site_code, b.item_code) for b in r.balances)
        token = r.next_page_token
        if not token:
            break
    assert len(seen) == len(set(seen)) and (a, item) in seen
    assert all(b.startswith("RP") or b.startswith("CS") for b, _ in seen)
    zero = ok(server, "ListBalances", pb.ListBalancesRequest(site_code=a, include_zero=True, item_code="RICE-10KG"), pb.ListBalancesResponse)
    assert len(zero.balances) == 1 and zero.balances[0].reorder_point > 0

    whole = ok(server, "GetBalance", pb.GetBalanceRequest(site_code=a), pb.SiteBalance)
    assert whole.on_hand == sum(i.on_hand for i in whole.items) and item in [i.item_code for i in whole.items]


def test_verify_stock_finds_a_tampered_balance(server, db, sites):
    item = new_item(db)
    lot = receive(server, "RP01", item, 10, "V1", day(db, 90)).lot
    db.execute("UPDATE lots SET on_hand = on_hand + 1 WHERE id = %s", (lot.id,))
    try:
        v = verify(server)
        assert not v.clean
        assert [(d.lot_id, d.on_hand, d.ledger_on_hand) for d in v.differences] == [(lot.id, 11, 10)]
    finally:
        db.execute("UPDATE lots SET on_hand = on_hand - 1 WHERE id = %s", (lot.id,))
    v = verify(server)
    assert v.clean and v.lots_checked > 0 and v.movements_checked > 0
    # the ledger cannot be edited
    with pytest.raises(Exception):
        db.execute("UPDATE stock_movements SET qty = qty WHERE lot_id = %s", (lot.id,))


# ---------------------------------------------------------------- concurrency


def test_two_servers_sixteen_clients_issue_exactly_what_was_there(server, db, sites):
    item = new_item(db, shelf=None, levels={"RP01": (5, 40)})
    lots = [("CC-1", 211, 30), ("CC-2", 173, 60), ("CC-3", 97, 90), ("CC-4", 150, 0)]
    for code, qty, days in lots:
        receive(server, "RP01", item, qty, code, day(db, days) if days else "")
    total = sum(q for _, q, _ in lots)
    other = server.start_server()
    try:
        servers = [server, other]
        token = server.token(LOGI)
        issued, errors = [], []
        lock = threading.Lock()

        def worker(n):
            rnd = random.Random(n)
            srv = servers[n % 2]
            mine = 0
            qty = rnd.randint(1, 9)
            while True:
                r, code, details = srv.call(
                    S + "Issue", pb.IssueRequest(site_code="RP01", item_code=item, qty=qty), pb.IssueResponse, token=token, timeout=30
                )
                if code == Code.OK:
                    assert r.total == qty == sum(t.qty for t in r.taken)
                    mine += r.total
                    qty = rnd.randint(1, 9)
                elif code == Code.FAILED_PRECONDITION and "not enough" in details:
                    if qty == 1:
                        break
                    qty = 1
                else:
                    with lock:
                        errors.append((code, details))
                    break
            with lock:
                issued.append(mine)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors, errors[:5]
        assert len(issued) == 16
        assert sum(issued) == total
        b = balance(server, "RP01", item)
        assert (b.on_hand, b.reserved, b.available) == (0, 0, 0)
        assert one(db, "SELECT -sum(qty) FROM stock_movements WHERE kind = 'issue' AND item_id = (SELECT id FROM items WHERE code = %s)", item) == total
        assert verify(other).clean
    finally:
        assert other.stop() == 0


# ---------------------------------------------------------------- alerts


def _reader(stream, out):
    try:
        for m in stream:
            out.append(m)
    except grpc.RpcError:
        pass


def test_low_stock_alert_reaches_a_watcher_on_another_server(server, db, sites):
    item = new_item(db, levels={"RP01": (10, 30)})
    receive(server, "RP01", item, 15, "W1", day(db, 200))
    _, code, details = server.stream_collect(
        S + "WatchStockAlerts", pb.WatchStockAlertsRequest(kinds=["flood"]), pb.StockAlert, login=LOGI, timeout=5
    )
    assert code == Code.INVALID_ARGUMENT and "kinds[0]" in details

    other = server.start_server()
    try:
        mine = server.stream(S + "WatchStockAlerts", pb.WatchStockAlertsRequest(site_code="RP01", kinds=["low_stock"]), pb.StockAlert, login="logi.st01", timeout=30)
        elsewhere = server.stream(S + "WatchStockAlerts", pb.WatchStockAlertsRequest(), pb.StockAlert, login="logi.st02", timeout=30)
        got, got_elsewhere = [], []
        threads = [threading.Thread(target=_reader, args=(mine, got)), threading.Thread(target=_reader, args=(elsewhere, got_elsewhere))]
        for t in threads:
            t.start()
        time.sleep(1.0)  # the listener subscribes asynchronously
        r, code, details = issue(other, "RP01", item, 8)  # 15 → 7, below the reorder point 10
        assert code == Code.OK, details
        deadline = time.time() + 10
        while not [a for a in got if a.item_code == item] and time.time() < deadline:
            time.sleep(0.05)
        alerts = [a for a in got if a.item_code == item]
        assert len(alerts) == 1, got
        a = alerts[0]
        assert (a.kind, a.site_code, a.available, a.reorder_point, a.par_level) == ("low_stock", "RP01", 7, 10, 30)
        assert a.at and "below the reorder point" in a.message
        # further issues while already low do not repeat the alert
        issue(other, "RP01", item, 1)
        time.sleep(0.5)
        assert len([a for a in got if a.item_code == item]) == 1
        assert not [a for a in got_elsewhere if a.item_code == item]
        mine.cancel()
        elsewhere.cancel()
        for t in threads:
            t.join(5)
    finally:
        assert other.stop() == 0


def test_near_expiry_receipt_alert(server, db, sites):
    item = new_item(db)
    st = server.stream(S + "WatchStockAlerts", pb.WatchStockAlertsRequest(org_unit_code="CM01", kinds=["near_expiry"]), pb.StockAlert, login=LOGI, timeout=30)
    got = []
    th = threading.Thread(target=_reader, args=(st, got))
    th.start()
    time.sleep(1.0)
    receive(server, "RP01", item, 4, "NE1", day(db, 5))
    deadline = time.time() + 10
    while not got and time.time() < deadline:
        time.sleep(0.05)
    st.cancel()
    th.join(5)
    mine = [a for a in got if a.item_code == item]
    assert len(mine) == 1 and (mine[0].kind, mine[0].lot_code, mine[0].qty) == ("near_expiry", "NE1", 4)


def test_cli_receive_issue_transfer_low_and_verify(cli, db, sites):
    import json

    item = new_item(db, levels={"RP01": (10, 30)})
    exp = day(db, 120)
    rc, out, err = cli("--json", "stock", "receive", "--site-code", "RP01", "--item-code", item, "--qty", "12",
                       "--lot-code", "CLI-1", "--expires-on", exp, login=LOGI)
    assert rc == 0, err
    assert json.loads(out)["lot"]["on_hand"] == 12
    rc, out, err = cli("--json", "stock", "issue", "--site-code", "RP01", "--item-code", item, "--qty", "5", login=LOGI)
    assert rc == 0, err
    assert json.loads(out)["total"] == 5
    rc, out, err = cli("--json", "stock", "dispatch-transfer", "--from-site-code", "RP01", "--to-site-code", sites["b"],
                       "--data", json.dumps({"items": [{"item_code": item, "qty": 2}]}), login=LOGI)
    assert rc == 0, err
    t = json.loads(out)
    rc, out, err = cli("--json", "stock", "receive-transfer", "--transfer-id", str(t["id"]), login=LOGI)
    assert rc == 0, err
    assert json.loads(out)["status"] == "received"
    rc, out, err = cli("--csv", "stock", "low", "--site-code", "RP01", login=LOGI)
    assert rc == 0, err
    assert item in out and "proposed_qty" in out.splitlines()[0]
    rc, out, err = cli("stock", "issue", "--site-code", "RP01", "--item-code", item, "--qty", "99", login=LOGI)
    assert rc != 0 and "FAILED_PRECONDITION" in err and item in err
    rc, out, err = cli("--json", "stock", "verify", login="admin")
    assert rc == 0, err
    assert json.loads(out)["clean"] is True


def test_ledger_is_clean_at_the_end(server):
    v = verify(server)
    assert v.clean, list(v.differences)[:5]
