"""Supplier markets on call in emergencies (066_supply_agreements.sql, issue 18): standing
supply agreements (create, list with what is left of today's commitment, end), every refusal
with its status and reason and nothing changed (also by the database, whoever writes), the
emergency shortfall called off cheapest first within each day's commitment and never above
the cap, charged to the fund the agreement names, and call-offs racing on two servers for
one day's commitment never exceeding it. Each call-off is a placed purchase order (067):
its value reserved on the agreement's fund and budgets when made, posted when received; a
fund that cannot pay leaves the shortfall backordered."""
import datetime
import threading
import uuid

import grpc
import pytest

from gridstock.v1 import requisitions_pb2 as rq
from harness.sql import one

Code = grpc.StatusCode
SVC = "RequisitionService/"


def new_item(db):
    code = "SA-%s" % uuid.uuid4().hex[:8].upper()
    iid = one(db, "INSERT INTO items (code, name, category, unit) VALUES (%s, %s, 'food', 'box')"
                  " RETURNING id", code, "Agreement item " + code)
    return iid, code


def today(db, days=0):
    return one(db, "SELECT to_char((now() AT TIME ZONE 'Asia/Shanghai')::date + %s, 'YYYY-MM-DD')", days)


def agreement_req(db, code, market="SM01", unit="ST01", daily=5, cap=600, fund="SRC-DISTRICT", **kw):
    args = dict(supplier_site_code=market, org_unit_code=unit, delivery_hours=6,
                valid_from=today(db, -1), valid_until=today(db, 30), fund_account_code=fund,
                items=[rq.SupplyAgreementItem(item_code=code, daily_qty=daily, price_cap_fen=cap)])
    args.update(kw)
    return rq.CreateSupplyAgreementRequest(**args)


def refused(server, path, request, code, reason, login="logi.st01"):
    """Calls; checks the status and the ErrorInfo reason of its details; returns the message."""
    from google.rpc import error_details_pb2 as E
    got, details, status = server.call_status(SVC + path, request, login=login)
    assert got == code, (got, details)
    infos = [E.ErrorInfo.FromString(a.value) for a in status.details if a.Is(E.ErrorInfo.DESCRIPTOR)]
    assert [i.reason for i in infos] == [reason], (infos, details)
    return details


def create_agreement(server, db, code, login="logi.st01", **kw):
    return server.call_ok(SVC + "CreateSupplyAgreement", agreement_req(db, code, **kw), rq.SupplyAgreement,
                          login=login)


def agreements(server, login="logi.st01", **kw):
    return server.call_ok(SVC + "ListSupplyAgreements", rq.ListSupplyAgreementsRequest(**kw),
                          rq.ListSupplyAgreementsResponse, login=login).agreements


def calloffs(server, **kw):
    return server.call_ok(SVC + "ListCallOffs", rq.ListCallOffsRequest(**kw), rq.ListCallOffsResponse,
                          login="logi.st01").call_offs


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


def cap(server, code, qty):
    server.call_ok(SVC + "SetEmergencyCap", rq.SetEmergencyCapRequest(org_unit_code="CM01", item_code=code,
                                                                      daily_qty=qty), rq.EmergencyCap,
                   login="logi.st01")


def emergency_requisition(server, code, qty):
    return server.call_ok(SVC + "Create", rq.CreateRequisitionRequest(
        lines=[rq.RequisitionLineInput(item_code=code, qty=qty)], submit=True, priority="emergency"),
        rq.Requisition, login="leader.gr001")


# ---------------------------------------------------------------- agreements


def test_create_list_end_and_every_refusal(server, db):
    item, code = new_item(db)
    a = create_agreement(server, db, code, note="on call for floods")
    assert (a.supplier_site_code, a.org_unit_code, a.fund_account_code, a.budget_category) == (
        "SM01", "ST01", "SRC-DISTRICT", "emergency")
    assert a.in_force and a.created_by_login == "logi.st01" and not a.ended_at
    assert [(i.item_code, i.daily_qty, i.price_cap_fen, i.used_today, i.left_today) for i in a.items] == [
        (code, 5, 600, 0, 5)]
    # the community's view includes the agreement of its street; another street's does not
    assert a.id in [x.id for x in agreements(server, org_unit_code="CM01")]
    assert a.id not in [x.id for x in agreements(server, login="logi.district", org_unit_code="ST02")]

    payee = one(db, "SELECT code FROM fund_accounts WHERE kind = 'payee' ORDER BY id LIMIT 1")
    before = one(db, "SELECT count(*) FROM supply_agreements")
    cases = [
        (dict(supplier_site_code="RP01"), Code.INVALID_ARGUMENT, "supplier_site_id: site RP01 is not a supplier market"),
        (dict(supplier_site_code="ZZ-NONE"), Code.NOT_FOUND, "ZZ-NONE"),
        (dict(unit="GR001"), Code.INVALID_ARGUMENT, "org_unit_id: an agreement serves a district, street or community"),
        (dict(unit="ST02"), Code.NOT_FOUND, "org unit"),
        (dict(valid_until=today(db, -5)), Code.INVALID_ARGUMENT, "valid_until"),
        (dict(valid_from=""), Code.INVALID_ARGUMENT, "valid_from"),
        (dict(delivery_hours=0), Code.INVALID_ARGUMENT, "delivery_hours"),
        (dict(items=[]), Code.INVALID_ARGUMENT, "items: 1 to 200"),
        (dict(daily=0), Code.INVALID_ARGUMENT, "items[0].daily_qty"),
        (dict(cap=0), Code.INVALID_ARGUMENT, "items[0].price_cap_fen"),
        (dict(items=[rq.SupplyAgreementItem(item_code=code, daily_qty=1, price_cap_fen=1)] * 2),
         Code.INVALID_ARGUMENT, "items[1]: the item is listed twice"),
        (dict(fund=payee), Code.INVALID_ARGUMENT, "fund_account_id: call-offs are charged to a grid fund or a source"),
        (dict(budget_category="fun"), Code.INVALID_ARGUMENT, "budget_category"),
    ]
    for kw, status, text in cases:
        _, c, d = server.call(SVC + "CreateSupplyAgreement", agreement_req(db, code, **kw), rq.SupplyAgreement,
                              login="logi.st01")
        assert c == status and text in d, (kw, c, d)
    refused(server, "CreateSupplyAgreement", agreement_req(db, code), Code.PERMISSION_DENIED, "ROLE_NOT_ALLOWED",
            login="leader.gr001")
    assert "not a supplier market" in refused(server, "CreateSupplyAgreement",
                                              agreement_req(db, code, supplier_site_code="RP01"),
                                              Code.INVALID_ARGUMENT, "FIELD_INVALID")
    assert one(db, "SELECT count(*) FROM supply_agreements") == before

    # ending: needs a reason, by an officer over the whole area, once
    _, c, d = server.call(SVC + "EndSupplyAgreement", rq.EndSupplyAgreementRequest(id=a.id), rq.SupplyAgreement,
                          login="logi.st01")
    assert c == Code.INVALID_ARGUMENT and "reason" in d
    st = create_agreement(server, db, code, login="logi.district", unit="DC")
    _, c, d = server.call(SVC + "EndSupplyAgreement", rq.EndSupplyAgreementRequest(id=st.id, reason="x"),
                          rq.SupplyAgreement, login="logi.st01")
    assert c == Code.NOT_FOUND, d
    e = server.call_ok(SVC + "EndSupplyAgreement", rq.EndSupplyAgreementRequest(id=a.id, reason="contract lapsed"),
                       rq.SupplyAgreement, login="logi.st01")
    assert e.ended_at and e.end_reason == "contract lapsed" and not e.in_force and e.items[0].left_today == 0
    assert "was ended: it cannot change" in refused(server, "EndSupplyAgreement", rq.EndSupplyAgreementRequest(
        id=a.id, reason="again"), Code.FAILED_PRECONDITION, "WRONG_STATE")
    assert a.id not in [x.id for x in agreements(server)]
    assert a.id in [x.id for x in agreements(server, include_ended=True)]
    audit = db.execute("SELECT method FROM audit_log WHERE object = %s ORDER BY id", ("supply_agreement:%d" % a.id,))
    assert [m.rsplit("/", 1)[1] for (m,) in audit] == ["CreateSupplyAgreement", "EndSupplyAgreement"]

    # the database holds the same rules whoever writes
    with pytest.raises(Exception, match="terms never change"):
        db.execute("UPDATE supply_agreements SET delivery_hours = 1 WHERE id = %s", (st.id,))
    with pytest.raises(Exception, match="terms never change"):
        db.execute("UPDATE supply_agreement_items SET price_cap_fen = 1000000 WHERE agreement_id = %s", (st.id,))
    with pytest.raises(Exception, match="terms never change"):
        db.execute("INSERT INTO supply_agreement_items VALUES (%s, %s, 1, 1)", (st.id, new_item(db)[0]))
    with pytest.raises(Exception, match="not a supplier market"):
        db.execute("INSERT INTO supply_agreements (supplier_site_id, org_unit_id, delivery_hours, valid_from,"
                   " valid_until, fund_account_id, created_by) SELECT (SELECT id FROM sites WHERE code = 'RP01'),"
                   " (SELECT id FROM org_units WHERE code = 'ST01'), 4, current_date, current_date,"
                   " (SELECT id FROM fund_accounts WHERE code = 'SRC-DISTRICT'), 1")
    draft = server.call_ok(SVC + "Create", rq.CreateRequisitionRequest(
        lines=[rq.RequisitionLineInput(item_code=code, qty=1)]), rq.Requisition, login="leader.gr001")
    req_id, line_id = draft.id, draft.lines[0].id
    insert = ("INSERT INTO supply_calloffs (agreement_id, item_id, requisition_id, line_id, grid_id, day, qty,"
              " unit_price_fen, price_cap_fen, amount_fen, fund_account_id, budget_category, due_at)"
              " VALUES (%s, %s, %s, %s, (SELECT id FROM org_units WHERE code = 'GR001'), current_date, %s, %s,"
              " 0, 0, 0, '', now())")
    with pytest.raises(Exception, match="above the cap of 600 fen"):
        db.execute(insert, (st.id, item, req_id, line_id, 1, 601))
    with pytest.raises(Exception, match="has 5 of 5 left today: a call-off of 6 is more"):
        db.execute(insert, (st.id, item, req_id, line_id, 6, 600))
    with pytest.raises(Exception, match="is not in force"):
        db.execute(insert, (a.id, item, req_id, line_id, 1, 600))
    assert one(db, "SELECT count(*) FROM supply_calloffs WHERE item_id = %s", item) == 0
    server.call_ok(SVC + "EndSupplyAgreement", rq.EndSupplyAgreementRequest(id=st.id, reason="test over"),
                   rq.SupplyAgreement, login="logi.district")


# ---------------------------------------------------------------- the emergency call-off


def test_emergency_shortfall_is_called_off_cheapest_first_within_the_day(server, db, emergency):
    item, code = new_item(db)
    cap(server, code, 100)
    db.execute("SELECT stock_receive((SELECT id FROM sites WHERE code = 'CS01'), %s, 3, 'SA-CS', NULL)", (item,))
    # SM01 lists the item at 500 fen (cap 600, 4 a day); SM02 lists nothing (its cap 700 applies, 10 a day);
    # SM07's agreement serves ST02 only; an ended one is never called
    db.execute("INSERT INTO supplier_prices (item_id, supplier_site_id, unit_price_fen, valid_from)"
               " VALUES (%s, (SELECT id FROM sites WHERE code = 'SM01'), 500, current_date - 1)", (item,))
    cheap = create_agreement(server, db, code, market="SM01", daily=4, cap=600)
    dear = create_agreement(server, db, code, market="SM02", daily=10, cap=700, fund="GF-GR001",
                            budget_category="material_purchases")
    create_agreement(server, db, code, market="SM03", unit="ST02", daily=99, cap=1, login="logi.district")
    gone = create_agreement(server, db, code, market="SM02", daily=99, cap=1)
    server.call_ok(SVC + "EndSupplyAgreement", rq.EndSupplyAgreementRequest(id=gone.id, reason="lapsed"),
                   rq.SupplyAgreement, login="logi.st01")

    r = emergency_requisition(server, code, 10)
    assert r.status == "allocated" and r.auto_approved
    ln = r.lines[0]
    assert (ln.qty_approved, ln.qty_allocated, ln.qty_backordered) == (10, 3, 0)
    offs = calloffs(server, requisition_id=r.id)
    assert [(o.agreement_id, o.supplier_site_code, o.qty, o.unit_price_fen, o.price_cap_fen, o.amount_fen,
             o.fund_account_code, o.budget_category, o.grid_code) for o in offs] == [
        (cheap.id, "SM01", 4, 500, 600, 2000, "SRC-DISTRICT", "emergency", "GR001"),
        (dear.id, "SM02", 3, 700, 700, 2100, "GF-GR001", "material_purchases", "GR001")]
    assert all(o.day == today(db) for o in offs)
    due = datetime.datetime.strptime(offs[0].due_at, "%Y-%m-%dT%H:%M:%SZ")
    made = datetime.datetime.strptime(offs[0].created_at, "%Y-%m-%dT%H:%M:%SZ")
    assert abs((due - made).total_seconds() - 6 * 3600) <= 1
    h = server.call_ok(SVC + "History", rq.RequisitionHistoryRequest(id=r.id), rq.RequisitionHistoryResponse,
                       login="leader.gr001")
    left = {x.id: x.items[0].left_today for x in agreements(server, org_unit_code="GR001")}
    assert left[cheap.id] == 0 and left[dear.id] == 7 and gone.id not in left
    assert h.transitions

    # the next one finds the cheap agreement used up for today: 7 from the dear one, 3 stay backordered
    r2 = emergency_requisition(server, code, 10)
    assert r2.status == "approved" and r2.lines[0].qty_backordered == 3
    assert [(o.agreement_id, o.qty) for o in calloffs(server, requisition_id=r2.id)] == [(dear.id, 7)]
    used = db.execute("SELECT agreement_id, used, committed FROM supply_commitment_usage WHERE item_id = %s"
                      " ORDER BY agreement_id", (item,)).fetchall()
    assert used == [(cheap.id, 4, 4), (dear.id, 10, 10)]
    # a routine requisition is never called off
    routine = server.call_ok(SVC + "Create", rq.CreateRequisitionRequest(
        lines=[rq.RequisitionLineInput(item_code=code, qty=1)], submit=True), rq.Requisition, login="leader.gr001")
    assert not calloffs(server, requisition_id=routine.id)


def test_calloffs_racing_on_two_servers_never_exceed_the_day(server, db, emergency):
    item, code = new_item(db)
    cap(server, code, 1000)
    a = create_agreement(server, db, code, market="SM02", daily=12, cap=800)
    other = server.start_server()
    results = []
    n = 10
    barrier = threading.Barrier(n)

    def client(i):
        srv = server if i % 2 == 0 else other
        barrier.wait()
        r, c, d = srv.call(SVC + "Create", rq.CreateRequisitionRequest(
            lines=[rq.RequisitionLineInput(item_code=code, qty=3)], submit=True, priority="emergency"),
            rq.Requisition, login="leader.gr001", timeout=30)
        results.append((c, d, r.id if r else 0))

    try:
        ths = [threading.Thread(target=client, args=(i,)) for i in range(n)]
        [t.start() for t in ths]
        [t.join() for t in ths]
    finally:
        assert other.stop() == 0
    assert [c for c, _, _ in results] == [Code.OK] * n, results
    called = one(db, "SELECT coalesce(sum(qty), 0) FROM supply_calloffs WHERE agreement_id = %s", a.id)
    used = one(db, "SELECT used FROM supply_commitment_usage WHERE agreement_id = %s", a.id)
    waiting = one(db, "SELECT sum(qty) FROM requisition_backorders WHERE item_id = %s AND status = 'open'", item)
    print("\nrace: %d emergency requisitions of 3 on two servers, 12 committed a day: %d called off,"
          " %d backordered" % (n, called, waiting))
    assert called == used == 12 and waiting == n * 3 - 12
    assert [x.items[0].left_today for x in agreements(server) if x.id == a.id] == [0]


# ---------------------------------------------------------------- the CLI


def test_cli_creates_lists_and_ends_an_agreement(cli, db):
    import json
    import re

    item, code = new_item(db)
    items = json.dumps({"items": [{"item_code": code, "daily_qty": 8, "price_cap_fen": 450}]})
    rc, out, err = cli("--json", "requisition", "create-supply-agreement", "--supplier-site-code", "SM01",
                       "--org-unit-code", "CM01", "--delivery-hours", "4", "--valid-from", today(db),
                       "--valid-until", today(db, 10), "--fund-account-code", "SRC-DISTRICT", "--data", items,
                       login="logi.st01")
    assert rc == 0, err
    a = json.loads(out)
    assert a["supplier_site_code"] == "SM01" and a["items"][0]["left_today"] == 8
    rc, out, err = cli("requisition", "list-supply-agreements", "--org-unit-code", "CM01", login="logi.st01")
    assert rc == 0, err
    rows = [re.split(r"\s{2,}", l.strip()) for l in out.splitlines() if l.strip()]
    assert rows[0][:4] == ["ID", "SUPPLIER", "SERVES", "FROM"], rows[0]
    assert [r for r in rows if r[0] == str(a["id"])][0][1:3] == ["SM01", "CM01"]
    # a refusal: exit 3, the status on stderr, nothing changed
    rc, out, err = cli("requisition", "end-supply-agreement", "--id", str(a["id"]), login="logi.st01")
    assert rc == 3 and "INVALID_ARGUMENT" in err and "reason" in err, (rc, err)
    assert one(db, "SELECT ended_at IS NULL FROM supply_agreements WHERE id = %s", a["id"])
    rc, out, err = cli("--json", "requisition", "end-supply-agreement", "--id", str(a["id"]), "--reason", "季节结束",
                       login="logi.st01")
    assert rc == 0 and json.loads(out)["end_reason"] == "季节结束", err
    rc, out, err = cli("--json", "requisition", "list-call-offs", "--agreement-id", str(a["id"]),
                       login="logi.st01")
    assert rc == 0 and not json.loads(out).get("call_offs"), (out, err)


# ---------------------------------------------------------------- the call-off's money (067)


def money(db, fund):
    """(balance, pending) of the fund and (spent, pending) of each budget limiting it today."""
    acc = db.execute("SELECT balance, pending FROM fund_accounts WHERE code = %s", (fund,)).fetchone()
    budgets = db.execute("SELECT b.spent, b.pending FROM fund_budgets b JOIN fund_accounts a"
                         " ON a.org_unit_id = b.org_unit_id WHERE a.code = %s AND b.category = 'emergency'"
                         " AND b.first_day <= current_date AND current_date < b.end_day ORDER BY b.id",
                         (fund,)).fetchall()
    return tuple(acc), [tuple(b) for b in budgets]


def verify(server):
    from gridstock.v1 import funds_pb2 as F
    v = server.call_ok("FundService/VerifyLedger", F.VerifyLedgerRequest(), F.VerifyLedgerResponse, login="auditor")
    assert v.ok, v.problems


def user(db, login):
    return one(db, "SELECT id FROM users WHERE login = %s", login)


def test_a_calloff_reserves_its_money_and_the_receipt_posts_it(server, db, emergency):
    from gridstock.v1 import procurement_pb2 as pb
    item, code = new_item(db)
    cap(server, code, 100)
    a = create_agreement(server, db, code, market="SM02", daily=5, cap=300, fund="GF-GR001")
    (bal, pend), budgets = money(db, "GF-GR001")
    assert budgets, "GR001 has emergency budgets for today"

    r = emergency_requisition(server, code, 5)
    assert r.lines[0].qty_backordered == 0
    [off] = calloffs(server, requisition_id=r.id)
    assert (off.agreement_id, off.qty, off.unit_price_fen, off.amount_fen) == (a.id, 5, 300, 1500)
    # the call-off is a placed order of the agreement's supplier, fund and category, written by the
    # agreement's maker and placed by the activation's confirmer; its value is reserved
    o = db.execute("SELECT o.id, o.status, s.code, o.fund_account_id = (SELECT id FROM fund_accounts"
                   " WHERE code = 'GF-GR001'), o.budget_category, o.created_by, o.placed_by, o.reserved_fen,"
                   " o.requisition_id, d.kind FROM supply_calloffs c JOIN purchase_orders o ON o.id = c.purchase_order_id"
                   " JOIN sites s ON s.id = o.supplier_site_id JOIN sites d ON d.id = o.site_id"
                   " WHERE c.requisition_id = %s", (r.id,)).fetchone()
    oid = o[0]
    assert off.purchase_order_id == oid and off.purchase_order_number == one(
        db, "SELECT number FROM purchase_orders WHERE id = %s", oid)
    assert o[1:] == ("placed", "SM02", True, "emergency", user(db, "logi.st01"), user(db, "admin"), 1500, r.id,
                     "reserve_point"), o
    assert db.execute("SELECT item_id, qty, unit_price_fen FROM purchase_order_lines WHERE order_id = %s",
                      (oid,)).fetchall() == [(item, 5, 300)]
    assert money(db, "GF-GR001") == ((bal, pend + 1500), [(s, p + 1500) for s, p in budgets])
    verify(server)

    # receiving the call-off's order posts its value to the supplier and releases the reservation
    got = server.call_ok("ProcurementService/ReceiveAgainstOrder", pb.ReceiveAgainstOrderRequest(
        order_id=oid, lines=[pb.ReceiptLineInput(item_code=code, qty=5, lot_code="CO1", expires_on="2030-01-01")]),
        pb.ReceiveAgainstOrderResponse, login="logi.st01")
    assert got
    assert db.execute("SELECT status, reserved_fen, spent_fen FROM purchase_orders WHERE id = %s",
                      (oid,)).fetchone() == ("received", 0, 1500)
    assert money(db, "GF-GR001") == ((bal - 1500, pend), [(s + 1500, p) for s, p in budgets])
    assert one(db, "SELECT count(*) FROM fund_postings p JOIN purchase_order_receipts x ON x.posting_id = p.id"
                   " WHERE x.order_id = %s AND p.kind = 'purchase'", oid) == 1
    verify(server)

    # the database holds it whoever writes: a call-off names an order that pays for exactly it
    insert = ("INSERT INTO supply_calloffs (agreement_id, item_id, requisition_id, line_id, grid_id, day, qty,"
              " unit_price_fen, price_cap_fen, amount_fen, fund_account_id, budget_category, due_at,"
              " purchase_order_id) VALUES (%s, %s, %s, %s, (SELECT id FROM org_units WHERE code = 'GR001'),"
              " current_date, 0 + %s, %s, 0, 0, 0, '', now(), %s)")
    b = create_agreement(server, db, code, market="SM02", daily=5, cap=300, fund="GF-GR001")
    with pytest.raises(Exception, match="supply_calloffs_paid"):
        db.execute(insert, (b.id, item, r.id, r.lines[0].id, 1, 300, None))
    with pytest.raises(Exception, match="is paid by a placed order .* purchase order %d is not" % oid):
        db.execute(insert, (b.id, item, r.id, r.lines[0].id, 1, 300, oid))
    for x in (a, b):
        server.call_ok(SVC + "EndSupplyAgreement", rq.EndSupplyAgreementRequest(id=x.id, reason="test over"),
                       rq.SupplyAgreement, login="logi.st01")


def test_a_fund_that_cannot_pay_leaves_the_shortfall_backordered(server, db, emergency):
    item, code = new_item(db)
    (bal, pend), budgets = money(db, "GF-GR001")
    qty = (bal - pend) // 100000 + 1  # one unit more than the fund holds
    cap(server, code, qty + 10)
    a = create_agreement(server, db, code, market="SM02", daily=qty, cap=100000, fund="GF-GR001")
    orders = one(db, "SELECT count(*) FROM purchase_orders")

    r = emergency_requisition(server, code, qty)
    assert r.status == "approved" and r.lines[0].qty_backordered == qty
    assert not calloffs(server, requisition_id=r.id)
    assert one(db, "SELECT coalesce(sum(used), 0) FROM supply_commitment_usage WHERE agreement_id = %s", a.id) == 0
    assert one(db, "SELECT count(*) FROM purchase_orders") == orders
    assert money(db, "GF-GR001") == ((bal, pend), budgets)
    assert one(db, "SELECT qty FROM requisition_backorders WHERE requisition_id = %s AND status = 'open'",
               r.id) == qty
    verify(server)
    server.call_ok(SVC + "EndSupplyAgreement", rq.EndSupplyAgreementRequest(id=a.id, reason="test over"),
                   rq.SupplyAgreement, login="logi.st01")


def test_the_activations_proposer_places_what_its_confirmer_agreed(server, db, emergency):
    # admin confirmed the activation and made this agreement: maker ≠ checker, so point.cm01 places it
    item, code = new_item(db)
    cap(server, code, 100)
    a = create_agreement(server, db, code, login="admin", market="SM02", daily=2, cap=200, fund="GF-GR001")
    r = emergency_requisition(server, code, 2)
    [off] = calloffs(server, requisition_id=r.id)
    assert db.execute("SELECT created_by, placed_by, status, reserved_fen FROM purchase_orders WHERE id = %s",
                      (off.purchase_order_id,)).fetchone() == (user(db, "admin"), user(db, "point.cm01"),
                                                               "placed", 400)
    server.call_ok(SVC + "EndSupplyAgreement", rq.EndSupplyAgreementRequest(id=a.id, reason="test over"),
                   rq.SupplyAgreement, login="admin")
