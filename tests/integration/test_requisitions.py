"""RequisitionService on the demo district: the whole lifecycle of a requisition from a
grid of Nanbin Community (CM01), every illegal transition (refused by the server and by
the database), partial allocation with backorders, cancel after allocation, reservation
expiry, proof of delivery with rejections, emergency mode and caps, the watch stream fed
through a second server process, the four-eyes rule (also in SQL), scope (NOT_FOUND),
exactly-once retries, and two servers with 16 clients racing for the last units."""
import os
import queue
import re
import threading
import time
import uuid

import grpc
import pytest

from gridstock.v1 import requisitions_pb2 as rq
from gridstock.v1 import stock_pb2
from harness.sql import one

Code = grpc.StatusCode
SVC = "RequisitionService/"
R = rq.Requisition


def new_item(db, prefix="RQ"):
    code = "%s-%s" % (prefix, uuid.uuid4().hex[:8].upper())
    iid = one(db, "INSERT INTO items (code, name, category, unit) VALUES (%s, %s, 'food', 'box')"
                  " RETURNING id", code, "Test item " + code)
    return iid, code


def receive(db, site, item_id, qty, lot=None, expires=None):
    """Puts stock at a site through the stock functions (receipt movement); returns lot id."""
    lot = lot or "L" + uuid.uuid4().hex[:6].upper()
    return one(db, "SELECT lot_id FROM stock_receive((SELECT id FROM sites WHERE code = %s),"
                   " %s, %s, %s, %s::date)", site, item_id, qty, lot, expires)


def lot_state(db, lot_id):
    return db.execute("SELECT on_hand, reserved FROM lots WHERE id = %s", (lot_id,)).fetchone()


def call(server, method, req, resp_cls=R, login="leader.gr001", **kw):
    return server.call(SVC + method, req, resp_cls, login=login, **kw)


def ok(server, method, req, resp_cls=R, login="leader.gr001", **kw):
    return server.call_ok(SVC + method, req, resp_cls, login=login, **kw)


def create(server, lines, login="leader.gr001", submit=False, **hdr):
    req = rq.CreateRequisitionRequest(
        lines=[rq.RequisitionLineInput(item_code=c, qty=q) for c, q in lines], submit=submit, **hdr)
    return ok(server, "Create", req, login=login)


def act(server, method, r, login, **kw):
    cls = {"Reject": rq.RejectRequest, "Cancel": rq.CancelRequest,
           "Approve": rq.ApproveRequest, "ConfirmReceipt": rq.ConfirmReceiptRequest}.get(
        method, rq.RequisitionActionRequest)
    return call(server, method, cls(id=r.id, **kw), login=login)


def to_state(server, state, lines, login="leader.gr001", officer="logi.st01", **hdr):
    """A requisition brought to `state` through the API."""
    r = create(server, lines, login=login, **hdr)
    path = {"draft": [], "submitted": ["Submit"], "approved": ["Submit", "Approve"],
            "rejected": ["Submit", "Reject"], "allocated": ["Submit", "Approve", "Allocate"],
            "dispatched": ["Submit", "Approve", "Allocate", "Dispatch"],
            "received": ["Submit", "Approve", "Allocate", "Dispatch", "ConfirmReceipt"],
            "closed": ["Submit", "Approve", "Allocate", "Dispatch", "ConfirmReceipt", "Close"],
            "cancelled": ["Cancel"]}[state]
    for m in path:
        who = officer if m in ("Approve", "Reject", "Allocate", "Dispatch") else login
        extra = {"reason": "not needed"} if m in ("Reject", "Cancel") else {}
        r, code, details = act(server, m, r, who, **extra)
        assert code == Code.OK, (m, details)
    assert r.status == state
    return r


def verify_clean(server):
    v = server.call_ok("StockService/VerifyStock", stock_pb2.VerifyStockRequest(),
                       stock_pb2.VerifyStockResponse, login="admin")
    assert v.clean, v.differences
    return v


# ---------------------------------------------------------------- the state machine


def test_state_machine_in_c_and_sql_are_the_same(db):
    src = open(os.path.join(os.environ.get("GS_SOURCE_DIR", os.path.join(
        os.path.dirname(__file__), "..", "..")), "server", "services", "requisitions", "requisitions.c")).read()
    table = src[src.index(" transitions[] = {"):]
    table = table[:table.index("};")]
    c_pairs = {(a.lower(), b.lower()) for a, b in re.findall(r"\{REQ_(\w+), REQ_(\w+)\}", table)}
    sql_pairs = set(db.execute("SELECT from_state, to_state FROM requisition_state_transitions"))
    assert c_pairs and c_pairs == sql_pairs


# ---------------------------------------------------------------- lifecycle


def test_whole_lifecycle(server, db):
    item, code = new_item(db)
    item2, code2 = new_item(db)
    near_soon = receive(db, "RP01", item, 6, expires="2031-01-01")
    near_late = receive(db, "RP01", item, 10, expires="2032-01-01")
    receive(db, "RP02", item, 50)
    receive(db, "RP01", item2, 20)

    r = create(server, [(code, 9), (code2, 4)], purpose="Flood relief for building 3",
               priority="urgent", needed_by="2030-01-31", delivery_site_code="RP01")
    assert r.status == "draft" and r.org_unit_code == "GR001"
    assert re.fullmatch(r"CM01-\d{4}-\d{4}", r.number), r.number
    assert [(l.item_code, l.qty_requested) for l in r.lines] == [(code, 9), (code2, 4)]

    r = ok(server, "UpdateDraft", rq.UpdateDraftRequest(
        id=r.id, purpose="Flood relief, building 3", update_mask=["purpose"]))
    assert r.purpose == "Flood relief, building 3"
    r = ok(server, "Submit", rq.RequisitionActionRequest(id=r.id, comment="please hurry"))
    assert r.status == "submitted" and r.submitted_at

    q = ok(server, "ApprovalQueue", rq.ApprovalQueueRequest(), rq.ApprovalQueueResponse,
           login="logi.st01")
    entry = [e for e in q.entries if e.requisition.id == r.id][0]
    av = {a.item_code: a for a in entry.availability}
    assert av[code].available_in_scope == 66 and av[code].nearest[0].site_code == "RP01"

    r = ok(server, "Approve", rq.ApproveRequest(
        id=r.id, comment="ok", lines=[rq.LineApproval(item_code=code2, qty=3, reason="stock is short")]),
        login="logi.st01")
    assert r.status == "approved" and r.approved_by_login == "logi.st01"
    lines = {l.item_code: l for l in r.lines}
    assert lines[code].qty_approved == 9 and lines[code2].qty_approved == 3
    assert lines[code2].approve_reason == "stock is short"

    r = ok(server, "Allocate", rq.RequisitionActionRequest(id=r.id), login="logi.st01")
    assert r.status == "allocated" and r.reserved_until
    allocs = [(a.item_code, a.site_code, a.lot_id, a.qty) for a in r.allocations]
    # nearest site first (RP01, in CM01 itself), FEFO within it
    assert allocs[:2] == [(code, "RP01", near_soon, 6), (code, "RP01", near_late, 3)]
    assert lot_state(db, near_soon) == (6, 6) and lot_state(db, near_late) == (10, 3)

    r = ok(server, "Dispatch", rq.RequisitionActionRequest(id=r.id), login="logi.st01")
    assert r.status == "dispatched" and all(a.status == "dispatched" for a in r.allocations)
    assert lot_state(db, near_soon) == (0, 0) and lot_state(db, near_late) == (7, 0)
    issued = db.execute("SELECT sum(qty) FROM stock_movements WHERE ref_type = 'requisition'"
                        " AND ref_id = %s AND kind = 'issue'", (r.id,)).fetchone()[0]
    assert issued == -12

    r = ok(server, "ConfirmReceipt", rq.ConfirmReceiptRequest(id=r.id, comment="all there"))
    assert r.status == "received" and all(l.qty_accepted == l.qty_dispatched for l in r.lines)
    r = ok(server, "Close", rq.RequisitionActionRequest(id=r.id))
    assert r.status == "closed"

    h = ok(server, "History", rq.RequisitionHistoryRequest(number=r.number),
           rq.RequisitionHistoryResponse, login="logi.st01")
    steps = [(t.from_state, t.to_state, t.actor_login) for t in h.transitions]
    assert steps == [("", "draft", "leader.gr001"), ("draft", "submitted", "leader.gr001"),
                     ("submitted", "approved", "logi.st01"), ("approved", "allocated", "logi.st01"),
                     ("allocated", "dispatched", "logi.st01"), ("dispatched", "received", "leader.gr001"),
                     ("received", "closed", "leader.gr001")]
    assert h.transitions[1].comment == "please hurry" and all(t.at for t in h.transitions)
    audit = db.execute("SELECT method FROM audit_log WHERE object = %s ORDER BY id",
                       ("requisition:%d" % r.id,)).fetchall()
    assert [m.rsplit("/", 1)[1] for (m,) in audit] == [
        "Create", "UpdateDraft", "Submit", "Approve", "Allocate", "Dispatch", "ConfirmReceipt", "Close"]
    verify_clean(server)


def test_validation(server, db):
    item, code = new_item(db)
    for lines, field in [([], "lines"), ([(code, 0)], "lines[0].qty"), ([("NOPE-X", 1)], None),
                         ([(code, 1), (code, 2)], "lines[1]")]:
        _, c, d = call(server, "Create", rq.CreateRequisitionRequest(
            lines=[rq.RequisitionLineInput(item_code=i, qty=q) for i, q in lines]))
        assert c in (Code.INVALID_ARGUMENT, Code.NOT_FOUND), d
        if field:
            assert d.startswith(field), d
    _, c, d = call(server, "Create", rq.CreateRequisitionRequest(
        priority="asap", lines=[rq.RequisitionLineInput(item_code=code, qty=1)]))
    assert c == Code.INVALID_ARGUMENT and d.startswith("priority")
    _, c, d = call(server, "Create", rq.CreateRequisitionRequest(
        lines=[rq.RequisitionLineInput(item_code=code, qty=1)]), login="logi.st01")
    assert c == Code.PERMISSION_DENIED
    r = to_state(server, "submitted", [(code, 5)])
    _, c, d = call(server, "Approve", rq.ApproveRequest(
        id=r.id, lines=[rq.LineApproval(item_code=code, qty=2)]), login="logi.st01")
    assert c == Code.INVALID_ARGUMENT and "reason" in d
    _, c, d = call(server, "Approve", rq.ApproveRequest(
        id=r.id, lines=[rq.LineApproval(item_code=code, qty=6, reason="x")]), login="logi.st01")
    assert c == Code.INVALID_ARGUMENT
    _, c, d = call(server, "Reject", rq.RejectRequest(id=r.id), login="logi.st01")
    assert c == Code.INVALID_ARGUMENT and d.startswith("reason")
    assert one(db, "SELECT status FROM requisitions WHERE id = %s", r.id) == "submitted"


# ---------------------------------------------------------------- illegal transitions

ACTIONS = {"Submit": "submitted", "Approve": "approved", "Reject": "rejected",
           "Allocate": "allocated", "Dispatch": "dispatched", "ConfirmReceipt": "received",
           "Cancel": "cancelled", "Close": "closed"}
LEGAL = {("draft", "submitted"), ("draft", "cancelled"), ("submitted", "approved"),
         ("submitted", "rejected"), ("submitted", "cancelled"), ("approved", "allocated"),
         ("approved", "cancelled"), ("allocated", "dispatched"), ("allocated", "cancelled"),
         ("dispatched", "received"), ("received", "closed")}


def test_every_illegal_transition(server, db):
    item, code = new_item(db)
    receive(db, "RP01", item, 1000)
    refused = 0
    for state in ["draft", "submitted", "approved", "rejected", "allocated", "dispatched",
                  "received", "closed", "cancelled"]:
        r = to_state(server, state, [(code, 2)])
        for method, target in ACTIONS.items():
            if (state, target) in LEGAL:
                continue
            who = "logi.st01" if method in ("Approve", "Reject", "Allocate", "Dispatch") else "leader.gr001"
            extra = {"reason": "x"} if method in ("Reject", "Cancel") else {}
            _, c, d = act(server, method, r, who, **extra)
            assert c == Code.FAILED_PRECONDITION, (state, method, c, d)
            assert "is %s" % state in d, d
            refused += 1
        if state != "draft":
            _, c, d = call(server, "UpdateDraft", rq.UpdateDraftRequest(id=r.id, purpose="x"))
            assert c == Code.FAILED_PRECONDITION and "is %s" % state in d
        assert one(db, "SELECT status FROM requisitions WHERE id = %s", r.id) == state
        # the database refuses the same moves whoever makes them
        for target in ACTIONS.values():
            if (state, target) in LEGAL or target == state or (state, target) == ("allocated", "approved"):
                continue
            with pytest.raises(Exception, match="cannot become"):
                db.execute("UPDATE requisitions SET status = %s WHERE id = %s", (target, r.id))
    assert refused == 9 * 8 - len(LEGAL)
    verify_clean(server)


# ---------------------------------------------------------------- allocation


def test_partial_allocation_and_backorder(server, db):
    item, code = new_item(db)
    rp01 = receive(db, "RP01", item, 5)
    rp02 = receive(db, "RP02", item, 3)
    receive(db, "RP07", item, 100)  # ST02: outside logi.st01's scope
    r = to_state(server, "allocated", [(code, 12)])
    line = r.lines[0]
    assert (line.qty_approved, line.qty_allocated, line.qty_backordered) == (12, 8, 4)
    assert [(a.site_code, a.qty) for a in r.allocations] == [("RP01", 5), ("RP02", 3)]
    assert r.allocations[0].distance_m < r.allocations[1].distance_m
    assert lot_state(db, rp01) == (5, 5) and lot_state(db, rp02) == (3, 3)
    demand = db.execute("SELECT qty FROM requisition_backorder_demand WHERE item_id = %s",
                        (item,)).fetchall()
    assert demand == [(4,)]
    # nothing left in scope: a second requisition stays approved, all backordered
    r2 = to_state(server, "approved", [(code, 2)])
    r2 = ok(server, "Allocate", rq.RequisitionActionRequest(id=r2.id), login="logi.st01")
    assert r2.status == "approved" and r2.lines[0].qty_backordered == 2 and not r2.allocations
    # the district officer's scope reaches RP07
    r2 = ok(server, "Allocate", rq.RequisitionActionRequest(id=r2.id), login="logi.district")
    assert r2.status == "allocated" and r2.allocations[0].site_code == "RP07"
    assert r2.lines[0].qty_backordered == 0
    verify_clean(server)


def test_cancel_after_allocation_releases_reservations(server, db):
    item, code = new_item(db)
    lot = receive(db, "RP01", item, 10)
    r = to_state(server, "allocated", [(code, 7)])
    assert lot_state(db, lot) == (10, 7)
    r = ok(server, "Cancel", rq.CancelRequest(id=r.id, reason="the water came back"))
    assert r.status == "cancelled" and all(a.status == "released" for a in r.allocations)
    assert lot_state(db, lot) == (10, 0)
    kinds = db.execute("SELECT kind, reserved_delta FROM stock_movements WHERE ref_type = 'requisition'"
                       " AND ref_id = %s ORDER BY id", (r.id,)).fetchall()
    assert kinds == [("reserve", 7), ("release", -7)]
    # an officer may cancel too; the approved one has nothing to release
    r2 = to_state(server, "approved", [(code, 1)])
    r2 = ok(server, "Cancel", rq.CancelRequest(id=r2.id, reason="dup"), login="logi.st01")
    assert r2.status == "cancelled"
    verify_clean(server)


def test_reservation_expiry_releases_exactly_once(server, db, gs_env):
    import psycopg

    item, code = new_item(db)
    lot = receive(db, "RP01", item, 10)
    r = to_state(server, "allocated", [(code, 4)])
    assert lot_state(db, lot) == (10, 4)
    db.execute("UPDATE requisitions SET reserved_until = now() - interval '1 minute' WHERE id = %s",
               (r.id,))
    # two "servers" run the job at the same moment: one releases, the other finds nothing
    results = []
    conns = [psycopg.connect(gs_env.conninfo, autocommit=True) for _ in range(2)]
    try:
        ths = [threading.Thread(target=lambda cn=cn: results.append(
            cn.execute("SELECT requisition_expire_reservations()").fetchone()[0])) for cn in conns]
        [t.start() for t in ths]
        [t.join() for t in ths]
    finally:
        [cn.close() for cn in conns]
    assert sum(results) <= 1
    assert one(db, "SELECT requisition_expire_reservations()") == 0
    r = ok(server, "Get", rq.GetRequisitionRequest(id=r.id))
    assert r.status == "approved" and r.allocations[0].status == "expired" and not r.reserved_until
    assert lot_state(db, lot) == (10, 0)
    assert one(db, "SELECT count(*) FROM stock_movements WHERE ref_type = 'requisition' AND ref_id = %s"
                   " AND kind = 'release'", r.id) == 1
    h = ok(server, "History", rq.RequisitionHistoryRequest(id=r.id), rq.RequisitionHistoryResponse)
    assert h.transitions[-1].to_state == "approved" and h.transitions[-1].actor_id == 0
    assert "expired" in h.transitions[-1].comment
    # it can be allocated again
    r = ok(server, "Allocate", rq.RequisitionActionRequest(id=r.id), login="logi.st01")
    assert r.status == "allocated" and lot_state(db, lot) == (10, 4)
    verify_clean(server)


def test_proof_of_delivery_with_rejections(server, db):
    a, code_a = new_item(db)
    b, code_b = new_item(db)
    lot_a = receive(db, "RP01", a, 10)
    lot_b = receive(db, "RP01", b, 6)
    r = to_state(server, "dispatched", [(code_a, 10), (code_b, 6)])
    assert lot_state(db, lot_a) == (0, 0) and lot_state(db, lot_b) == (0, 0)
    bad = [
        (rq.ReceiptLine(item_code=code_a, accepted_qty=8, rejected_qty=1), Code.INVALID_ARGUMENT),
        (rq.ReceiptLine(item_code=code_a, accepted_qty=8, rejected_qty=2, disposition="return"),
         Code.INVALID_ARGUMENT),
        (rq.ReceiptLine(item_code=code_a, accepted_qty=8, rejected_qty=2, reason="wet",
                        disposition="burn"), Code.INVALID_ARGUMENT),
    ]
    for line, want in bad:
        _, c, d = call(server, "ConfirmReceipt", rq.ConfirmReceiptRequest(id=r.id, lines=[line]))
        assert c == want, d
    r = ok(server, "ConfirmReceipt", rq.ConfirmReceiptRequest(id=r.id, lines=[
        rq.ReceiptLine(item_code=code_a, accepted_qty=8, rejected_qty=2, reason="boxes soaked",
                       disposition="return"),
        rq.ReceiptLine(item_code=code_b, accepted_qty=4, rejected_qty=2, reason="crushed",
                       disposition="write_off")]))
    lines = {l.item_code: l for l in r.lines}
    assert (lines[code_a].qty_accepted, lines[code_a].qty_rejected) == (8, 2)
    assert lines[code_a].reject_disposition == "return" and lines[code_a].reject_reason == "boxes soaked"
    assert (lines[code_b].qty_accepted, lines[code_b].qty_rejected) == (4, 2)
    assert lot_state(db, lot_a) == (2, 0)      # returned to the lot it came from
    assert lot_state(db, lot_b) == (0, 0)      # written off at the receiver
    mv = db.execute("SELECT kind, qty, reason FROM stock_movements WHERE lot_id = %s ORDER BY id",
                    (lot_a,)).fetchall()
    assert mv[-1] == ("adjustment", 2, "returned")
    verify_clean(server)


# ---------------------------------------------------------------- rules


def test_requester_cannot_approve_own(server, db):
    item, code = new_item(db)
    r = to_state(server, "submitted", [(code, 1)], login="admin", org_unit_code="GR001")
    _, c, d = call(server, "Approve", rq.ApproveRequest(id=r.id), login="admin")
    assert c == Code.PERMISSION_DENIED and "own" in d
    res = ok(server, "ApproveBatch", rq.ApproveBatchRequest(approvals=[rq.ApproveRequest(id=r.id)]),
             rq.ApproveBatchResponse, login="admin")
    assert res.failed == 1 and res.results[0].code_name == "PERMISSION_DENIED"
    # bypassing the server: the database refuses
    for sql in ["UPDATE requisitions SET status = 'approved', approved_by = requester_id WHERE id = %s",
                "UPDATE requisitions SET status = 'approved' WHERE id = %s",
                "UPDATE requisitions SET approved_by = requester_id WHERE id = %s"]:
        with pytest.raises(Exception):
            db.execute(sql, (r.id,))
    with pytest.raises(Exception, match="own"):
        db.execute("UPDATE requisitions SET approved_by = requester_id, status = 'approved',"
                   " status_by = requester_id, status_seq = status_seq + 1 WHERE id = %s", (r.id,))
    assert one(db, "SELECT status FROM requisitions WHERE id = %s", r.id) == "submitted"
    r = ok(server, "Approve", rq.ApproveRequest(id=r.id), login="logi.district")
    assert r.status == "approved"


def test_approve_batch_each_with_its_own_result(server, db):
    item, code = new_item(db)
    good1 = to_state(server, "submitted", [(code, 1)])
    good2 = to_state(server, "submitted", [(code, 2)])
    draft = to_state(server, "draft", [(code, 3)])
    res = ok(server, "ApproveBatch", rq.ApproveBatchRequest(approvals=[
        rq.ApproveRequest(id=good1.id), rq.ApproveRequest(id=draft.id),
        rq.ApproveRequest(id=999999), rq.ApproveRequest(number=good2.number, comment="fine")]),
        rq.ApproveBatchResponse, login="logi.st01")
    assert (res.approved, res.failed) == (2, 2)
    assert [x.code_name or "OK" for x in res.results] == ["OK", "FAILED_PRECONDITION", "NOT_FOUND", "OK"]
    assert res.results[3].requisition.status == "approved"
    states = db.execute("SELECT id, status FROM requisitions WHERE id = ANY(%s)",
                        ([good1.id, good2.id, draft.id],)).fetchall()
    assert dict(states) == {good1.id: "approved", good2.id: "approved", draft.id: "draft"}


def test_other_community_is_not_found(server, db):
    item, code = new_item(db)
    r = to_state(server, "submitted", [(code, 1)])
    for login in ("staff.cm02", "leader.gr002", "logi.st02", "point.cm02"):
        _, c, _ = call(server, "Get", rq.GetRequisitionRequest(id=r.id), login=login)
        assert c == Code.NOT_FOUND, login
    _, c, _ = call(server, "Get", rq.GetRequisitionRequest(number=r.number), login="staff.cm02")
    assert c == Code.NOT_FOUND
    _, c, _ = call(server, "Cancel", rq.CancelRequest(id=r.id, reason="x"), login="staff.cm02")
    assert c == Code.NOT_FOUND
    _, c, _ = call(server, "Approve", rq.ApproveRequest(id=r.id), login="logi.st02")
    assert c == Code.NOT_FOUND
    lst = ok(server, "List", rq.ListRequisitionsRequest(page_size=1000), rq.ListRequisitionsResponse,
             login="staff.cm02")
    assert r.id not in [x.id for x in lst.requisitions]
    q = ok(server, "ApprovalQueue", rq.ApprovalQueueRequest(), rq.ApprovalQueueResponse,
           login="logi.st02")
    assert r.id not in [e.requisition.id for e in q.entries]
    for login in ("staff.cm01", "logi.st01", "point.cm01", "auditor"):
        _, c, _ = call(server, "Get", rq.GetRequisitionRequest(id=r.id), login=login)
        assert c == Code.OK, login
    _, c, _ = call(server, "Get", rq.GetRequisitionRequest(id=r.id), login="fin.officer")
    assert c == Code.PERMISSION_DENIED
    assert one(db, "SELECT status FROM requisitions WHERE id = %s", r.id) == "submitted"


def test_retry_with_same_request_id_acts_once(server, db):
    item, code = new_item(db)
    lot = receive(db, "RP01", item, 10)
    before = one(db, "SELECT count(*) FROM requisitions")
    req = rq.CreateRequisitionRequest(lines=[rq.RequisitionLineInput(item_code=code, qty=3)])
    rid = "create-" + uuid.uuid4().hex
    a = ok(server, "Create", req, request_id=rid)
    b = ok(server, "Create", req, request_id=rid)
    assert a.id == b.id and a.number == b.number
    assert one(db, "SELECT count(*) FROM requisitions") == before + 1
    ok(server, "Submit", rq.RequisitionActionRequest(id=a.id))
    ok(server, "Approve", rq.ApproveRequest(id=a.id), login="logi.st01")
    rid = "alloc-" + uuid.uuid4().hex
    x = ok(server, "Allocate", rq.RequisitionActionRequest(id=a.id), login="logi.st01", request_id=rid)
    y = ok(server, "Allocate", rq.RequisitionActionRequest(id=a.id), login="logi.st01", request_id=rid)
    assert x == y and lot_state(db, lot) == (10, 3)
    _, c, _ = call(server, "Allocate", rq.RequisitionActionRequest(id=a.id, comment="other"),
                   login="logi.st01", request_id=rid)
    assert c != Code.OK
    assert one(db, "SELECT count(*) FROM requisition_allocations WHERE requisition_id = %s", a.id) == 1


# ---------------------------------------------------------------- emergency mode


def test_emergency_mode(server, db):
    """Auto-approval within the caps, the split of the rest, the queue; the two-person
    switching itself is tested in test_two_person.py."""
    item, code = new_item(db)
    cs01 = receive(db, "CS01", item, 20)  # a charity station: only emergency mode draws on it
    cm01 = one(db, "SELECT id FROM org_units WHERE code = 'CM01'")

    p = ok(server, "SetEmergencyMode", rq.SetEmergencyModeRequest(
        org_unit_code="CM01", active=True, reason="Zhou river flood"), rq.EmergencyMode, login="point.cm01")
    assert not p.active and p.proposal.status == "open"
    m = ok(server, "ConfirmEmergencyMode", rq.ConfirmEmergencyModeRequest(proposal_id=p.proposal.id),
           rq.EmergencyMode, login="admin")
    assert m.active and m.proposed_by_login == "point.cm01" and m.confirmed_by_login == "admin" and m.ends_at
    g = ok(server, "GetEmergencyMode", rq.GetEmergencyModeRequest(), rq.GetEmergencyModeResponse,
           login="point.cm01")
    assert g.in_effect and g.effective.org_unit_code == "CM01"
    assert g.effective.switched_by_login == "admin" and g.effective.reason == "Zhou river flood"

    ok(server, "SetEmergencyCap", rq.SetEmergencyCapRequest(org_unit_code="CM01", item_code=code,
                                                            daily_qty=5), rq.EmergencyCap,
       login="logi.st01")
    caps = ok(server, "ListEmergencyCaps", rq.ListEmergencyCapsRequest(item_code=code),
              rq.ListEmergencyCapsResponse, login="point.cm01")
    assert [(x.org_unit_code, x.daily_qty) for x in caps.caps] == [("CM01", 5)]
    caps = ok(server, "ListEmergencyCaps", rq.ListEmergencyCapsRequest(item_code=code),
              rq.ListEmergencyCapsResponse)
    assert not caps.caps  # set above GR001's scope: trimmed

    # within the cap: approved and allocated at once, from the charity station; the rest is split
    r = create(server, [(code, 8)], priority="emergency", submit=True)
    assert r.status == "allocated" and r.auto_approved and r.approved_by_id == 0
    assert r.lines[0].qty_approved == 5 and "moved to" in r.lines[0].approve_reason
    assert [(a.site_code, a.qty) for a in r.allocations] == [("CS01", 5)]
    assert lot_state(db, cs01) == (20, 5)
    rest = ok(server, "List", rq.ListRequisitionsRequest(status="submitted", item_code=code, with_lines=True),
              rq.ListRequisitionsResponse)
    rest = [x for x in rest.requisitions if x.split_from_id == r.id]
    assert len(rest) == 1 and rest[0].lines[0].qty_requested == 3
    q = ok(server, "ApprovalQueue", rq.ApprovalQueueRequest(), rq.ApprovalQueueResponse, login="logi.st01")
    assert q.entries[0].requisition.priority == "emergency"
    assert rest[0].id in [e.requisition.id for e in q.entries]

    # the day's cap is used up: the next one waits in the queue
    r2 = create(server, [(code, 2)], priority="emergency", submit=True)
    assert r2.status == "submitted" and not r2.auto_approved
    # routine requisitions are not auto-approved
    r3 = create(server, [(code, 1)], submit=True, login="leader.gr002")
    assert r3.status == "submitted"

    p = ok(server, "SetEmergencyMode", rq.SetEmergencyModeRequest(
        org_unit_id=cm01, active=False, reason="water receded"), rq.EmergencyMode, login="admin")
    m = ok(server, "ConfirmEmergencyMode", rq.ConfirmEmergencyModeRequest(proposal_id=p.proposal.id),
           rq.EmergencyMode, login="point.cm01")
    assert not m.active and m.switched_by_login == "point.cm01"
    g = ok(server, "GetEmergencyMode", rq.GetEmergencyModeRequest(org_unit_code="GR002"),
           rq.GetEmergencyModeResponse, login="leader.gr002")
    assert not g.in_effect and not g.modes  # CM01 is above GR002's scope: not listed
    r4 = create(server, [(code, 1)], priority="emergency", submit=True, login="leader.gr002")
    assert r4.status == "submitted" and not r4.auto_approved
    assert one(db, "SELECT count(*) FROM emergency_mode_log WHERE org_unit_id = %s", cm01) == 2
    # auto-approval outside an emergency is refused by the database too
    with pytest.raises(Exception, match="emergency"):
        db.execute("UPDATE requisitions SET auto_approved = true, status = 'approved',"
                   " status_seq = status_seq + 1 WHERE id = %s", (r4.id,))
    verify_clean(server)


# ---------------------------------------------------------------- watch


def test_watch_stream_sees_changes_made_through_another_server(server, db):
    item, code = new_item(db)
    got = queue.Queue()
    st = server.stream(SVC + "WatchRequisitions", rq.WatchRequisitionsRequest(), rq.RequisitionEvent,
                       login="logi.st01", timeout=30)

    def pump():
        try:
            for ev in st:
                got.put(ev)
        except grpc.RpcError:
            pass

    threading.Thread(target=pump, daemon=True).start()
    time.sleep(1.0)
    other = server.start_server()
    try:
        r = create(other, [(code, 1)], submit=True)
        create(other, [(code, 1)], login="leader.gr045")  # ST02: not in logi.st01's scope
        ok(other, "Approve", rq.ApproveRequest(id=r.id), login="logi.st01")
    finally:
        code_exit = other.stop()
    assert code_exit == 0
    events = []
    deadline = time.time() + 10
    while time.time() < deadline and len(events) < 3:
        try:
            events.append(got.get(timeout=deadline - time.time()))
        except queue.Empty:
            break
    st.cancel()
    mine = [(e.kind, e.from_state, e.to_state) for e in events if e.requisition_id == r.id]
    assert mine == [("created", "", "draft"), ("transition", "draft", "submitted"),
                    ("transition", "submitted", "approved")], events
    assert all(e.org_unit_code.startswith("GR") for e in events)
    st01 = one(db, "SELECT path::text FROM org_units WHERE code = 'ST01'")
    for e in events:
        assert one(db, "SELECT path::text FROM org_units WHERE id = %s", e.org_unit_id).startswith(st01)
    assert [e.actor_login for e in events if e.requisition_id == r.id][-1] == "logi.st01"


# ---------------------------------------------------------------- the race


def test_two_servers_sixteen_clients_race_for_the_last_units(server, db):
    item, code = new_item(db)
    lot = receive(db, "RP01", item, 10)
    reqs = [to_state(server, "approved", [(code, 3)]) for _ in range(16)]
    other = server.start_server()
    results = []
    barrier = threading.Barrier(16)

    def client(i, r):
        srv = server if i % 2 == 0 else other
        barrier.wait()
        a, c, d = call(srv, "Allocate", rq.RequisitionActionRequest(id=r.id), login="logi.st01")
        out = [c, a.status if a else None, None]
        if c == Code.OK and a.status == "allocated" and i % 4 == 1:
            _, c2, _ = call(srv, "Dispatch", rq.RequisitionActionRequest(id=r.id), login="logi.st01")
            out[2] = c2
        results.append(out)

    try:
        ths = [threading.Thread(target=client, args=(i, r)) for i, r in enumerate(reqs)]
        [t.start() for t in ths]
        [t.join() for t in ths]
    finally:
        assert other.stop() == 0
    assert len(results) == 16 and all(c == Code.OK for c, _, _ in results), results
    assert all(c2 in (None, Code.OK) for _, _, c2 in results)
    on_hand, reserved = lot_state(db, lot)
    taken = one(db, "SELECT coalesce(sum(qty), 0) FROM requisition_allocations a"
                    " JOIN requisition_lines l ON l.id = a.line_id WHERE l.item_id = %s"
                    " AND a.status IN ('reserved', 'dispatched')", item)
    issued = -one(db, "SELECT coalesce(sum(qty), 0) FROM stock_movements WHERE lot_id = %s"
                      " AND kind = 'issue'", lot)
    allocated = sum(1 for _, st, _ in results if st == "allocated")
    dispatched = sum(1 for _, _, c2 in results if c2 == Code.OK)
    print("\nrace: 16 clients, 2 servers, 10 units: %d allocated (%d dispatched), %d found nothing;"
          " reserved %d + issued %d" % (allocated, dispatched, 16 - allocated, reserved, issued))
    assert taken == 10                                 # every unit went, none twice
    assert reserved + issued == 10 and on_hand == 10 - issued
    backordered = one(db, "SELECT sum(qty) FROM requisition_backorders WHERE item_id = %s", item)
    assert backordered == 16 * 3 - 10
    verify_clean(server)


def test_numbers_go_past_9999_a_year(server, db):
    """The readable number widens past four digits instead of repeating (lpad truncates)."""
    r = create(server, [("WATER-5L", 1)])
    community, year, n = r.number.rsplit("-", 2)
    with db.cursor() as cur:
        cur.execute("UPDATE requisition_numbers SET last = 9999 WHERE community_id ="
                    " (SELECT id FROM org_units WHERE code = %s) AND year = %s", (community, int(year)))
    a = create(server, [("WATER-5L", 1)])
    b = create(server, [("WATER-5L", 1)])
    assert a.number == "%s-%s-10000" % (community, year)
    assert b.number == "%s-%s-10001" % (community, year)
