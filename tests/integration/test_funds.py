"""Grid work funds (issue 5 core): accounts, deposits, allocations single and batch (atomic),
budgets, the two-phase life of a disbursement (prepare, approve, post, void, reject,
expire), approvals bound to the content hash, four eyes in the server and in the database,
reversal, scope and roles, exactly-once retries, VerifyLedger (clean, and detecting a
tampered ledger or audit log), and the concurrency invariant: two server processes and 16
clients empty one grid fund to the fen."""
import random
import re
import subprocess
import threading
import time
import uuid

import grpc
import psycopg
import pytest

from gridstock.v1 import funds_pb2 as F
from harness import paths
from harness.money import move, step
from harness.sql import one

Code = grpc.StatusCode
OFFICER, OFFICER2, APPROVER = "fin.officer", "fin.officer2", "fin.approver"
PERIOD = "2026-11"


def uid(prefix="T"):
    return prefix + uuid.uuid4().hex[:8].upper()


def fcall(server, method, req, cls, login=OFFICER, **kw):
    return server.call("FundService/" + method, req, cls, login=login, **kw)


def dcall(server, method, req, login=OFFICER, **kw):
    cls = F.ListDisbursementsResponse if method == "ListDisbursements" else F.Disbursement
    return server.call("DisbursementService/" + method, req, cls, login=login, **kw)


def ok(result):
    resp, code, details = result
    assert code == Code.OK, "%s: %s" % (code, details)
    return resp


def account(server, login=OFFICER, **kw):
    return ok(fcall(server, "GetAccount", F.GetAccountRequest(**kw), F.Account, login=login))


def verify(server, login="auditor"):
    return ok(fcall(server, "VerifyLedger", F.VerifyLedgerRequest(), F.VerifyLedgerResponse, login=login))


def assert_clean(server):
    v = verify(server)
    assert v.ok, v.problems


@pytest.fixture(scope="module")
def ledger(server):
    """A funded source, a payee and an expense account for the whole module."""
    src = ok(fcall(server, "CreateAccount", F.CreateAccountRequest(kind="source", code="SRC-POOL",
                                                                   name="District pooled funds"), F.Account))
    move(server, "PrepareDeposit", source_account_id=src.id, amount=500_000_000,
         memo="2026 district appropriation")
    payee = ok(fcall(server, "CreateAccount", F.CreateAccountRequest(kind="payee", code="PAYEE-LEADERS",
                                                                     name="Grid leaders"), F.Account))
    exp = ok(fcall(server, "CreateAccount", F.CreateAccountRequest(kind="expense", code="EXP-MATERIAL",
                                                                   name="Material purchases"), F.Account))
    return {"source": src.id, "payee": payee.id, "expense": exp.id}


def fund(server, ledger, grid, amount):
    """Allocates `amount` fen from the pool to `grid`'s work fund (two people); returns the
    posted FundMovement."""
    return move(server, "PrepareAllocation", source_account_id=ledger["source"], grid_code=grid,
                amount=amount, memo="test")


def mcall(server, method, req, login=OFFICER, **kw):
    return step(server, method, req, login, **kw)


def prepare(server, ledger, grid, amount, login=OFFICER, category="subsidies", period=PERIOD, **kw):
    req = F.PrepareDisbursementRequest(grid_code=grid, payee_account_id=ledger["payee"], category=category,
                                       amount=amount, purpose="grid leader subsidy " + grid, period=period, **kw)
    return dcall(server, "PrepareDisbursement", req, login=login)


def pay(server, ledger, grid, amount):
    """Prepared, approved and posted; returns the disbursement."""
    d = ok(prepare(server, ledger, grid, amount))
    ok(dcall(server, "ApproveDisbursement", F.ApproveDisbursementRequest(id=d.id), login=APPROVER))
    return ok(dcall(server, "PostDisbursement", F.PostDisbursementRequest(id=d.id), login=APPROVER))


# ---------------------------------------------------------------- accounts


def test_every_grid_has_a_work_fund(server, db):
    seen, token = [], ""
    while True:
        r = ok(fcall(server, "ListAccounts", F.ListAccountsRequest(kind="grid_fund", page_size=50, page_token=token),
                     F.ListAccountsResponse, login="auditor"))
        seen += r.accounts
        token = r.next_page_token
        if not token:
            break
    assert len(seen) == 208 and len({a.org_unit_code for a in seen}) == 208
    a = account(server, grid_code="GR001")
    assert (a.code, a.kind, a.org_unit_code) == ("GF-GR001", "grid_fund", "GR001")
    # a grid added later gets its fund at once
    cm = one(db, "SELECT id FROM org_units WHERE code = 'CM01'")
    db.execute("INSERT INTO org_units (code, name, kind, parent_id) VALUES ('GR901', 'New grid', 'grid', %s)", (cm,))
    assert account(server, grid_code="GR901").code == "GF-GR901"


def test_create_account_errors(server, ledger):
    r = fcall(server, "CreateAccount", F.CreateAccountRequest(kind="grid_fund", code="X1", name="x"), F.Account)
    assert r[1] == Code.INVALID_ARGUMENT and "kind" in r[2]
    r = fcall(server, "CreateAccount", F.CreateAccountRequest(kind="payee", code="GF-X", name="x"), F.Account)
    assert r[1] == Code.INVALID_ARGUMENT and "reserved" in r[2]
    r = fcall(server, "CreateAccount", F.CreateAccountRequest(kind="payee", code="PAYEE-LEADERS", name="x"), F.Account)
    assert r[1] == Code.ALREADY_EXISTS
    r = fcall(server, "CreateAccount", F.CreateAccountRequest(kind="payee", code="P-A", name="x"), F.Account,
              login=APPROVER)
    assert r[1] == Code.PERMISSION_DENIED
    r = fcall(server, "GetAccount", F.GetAccountRequest(code="NOPE"), F.Account)
    assert r[1] == Code.NOT_FOUND


def test_deposit_and_single_allocation(server, db, ledger):
    before = account(server, id=ledger["source"])
    r = fund(server, ledger, "GR002", 123_456)
    assert r.total == 123_456 and len(r.postings) == 1
    p = r.postings[0]
    assert p.kind == "allocation" and sum(e.amount for e in p.entries) == 0
    assert {e.account_code: e.amount for e in p.entries} == {"SRC-POOL": -123_456, "GF-GR002": 123_456}
    assert account(server, id=ledger["source"]).balance == before.balance - 123_456
    g = account(server, grid_code="GR002")
    assert (g.balance, g.pending, g.available) == (123_456, 0, 123_456)
    rows = db.execute("SELECT login, method, summary FROM audit_log WHERE object = %s ORDER BY id",
                      ("fund_movement:%d" % r.id,)).fetchall()
    assert [(x[0], x[1].rsplit("/", 1)[1]) for x in rows] == [
        (OFFICER, "PrepareAllocation"), (APPROVER, "ApproveMovement"), (APPROVER, "PostMovement")]
    assert all("123456 fen" in x[2] for x in rows)
    # bad amounts and an unknown grid
    for amount in (0, -5):
        r = mcall(server, "PrepareAllocation", F.AllocateRequest(source_account_id=ledger["source"],
                                                                 grid_code="GR002", amount=amount))
        assert r[1] == Code.INVALID_ARGUMENT and "amount" in r[2]
    r = mcall(server, "PrepareAllocation", F.AllocateRequest(source_account_id=ledger["source"], grid_code="GR999",
                                                             amount=5))
    assert r[1] == Code.NOT_FOUND and "GR999" in r[2]
    # only a source can be allocated from
    r = mcall(server, "PrepareAllocation", F.AllocateRequest(source_account_id=ledger["payee"], grid_code="GR002",
                                                             amount=5))
    assert r[1] == Code.INVALID_ARGUMENT and "not a source" in r[2]
    r = mcall(server, "PrepareDeposit", F.DepositRequest(source_account_id=ledger["source"], amount=0))
    assert r[1] == Code.INVALID_ARGUMENT


def test_batch_allocation_is_atomic(server, db, ledger):
    grids = ["GR%03d" % i for i in range(101, 200)]  # other tests use the rest
    items = [F.AllocationItem(grid_code=g, amount=1_000_00) for g in grids]
    r = move(server, "PrepareAllocationBatch", source_account_id=ledger["source"], items=items,
             memo="November work funds")
    assert r.total == 99 * 1_000_00 and len(r.postings) == 99 and len(r.items) == 99
    assert [p.entries[1].account_code for p in r.postings][:2] == ["GF-GR101", "GF-GR102"]
    assert all(p.batch == r.postings[0].batch for p in r.postings)
    assert [i.posting_id for i in r.items] == [p.id for p in r.postings] == list(r.posting_ids)
    postings = one(db, "SELECT count(*) FROM fund_postings")
    balances = db.execute("SELECT id, balance, pending FROM fund_accounts ORDER BY id").fetchall()
    moves = one(db, "SELECT count(*) FROM fund_movements")

    bad = items[:50] + [F.AllocationItem(grid_code="GR999", amount=10)] + items[50:]
    r = mcall(server, "PrepareAllocationBatch", F.AllocateBatchRequest(source_account_id=ledger["source"], items=bad))
    assert r[1] == Code.NOT_FOUND and "items[50]" in r[2] and "GR999" in r[2], r
    dup = items[:3] + [items[1]]
    r = mcall(server, "PrepareAllocationBatch", F.AllocateBatchRequest(source_account_id=ledger["source"], items=dup))
    assert r[1] == Code.INVALID_ARGUMENT and "items[3]" in r[2]
    neg = items[:3] + [F.AllocationItem(grid_code="GR010", amount=-1)]
    r = mcall(server, "PrepareAllocationBatch", F.AllocateBatchRequest(source_account_id=ledger["source"], items=neg))
    assert r[1] == Code.INVALID_ARGUMENT and "items[3].amount" in r[2]
    r = mcall(server, "PrepareAllocationBatch", F.AllocateBatchRequest(source_account_id=ledger["source"]))
    assert r[1] == Code.INVALID_ARGUMENT
    assert one(db, "SELECT count(*) FROM fund_movements") == moves
    # more than the source has: prepared, but the approval (which reserves) is refused
    avail = account(server, id=ledger["source"]).available
    huge = items[:2] + [F.AllocationItem(grid_code="GR099", amount=avail)]
    m = ok(mcall(server, "PrepareAllocationBatch", F.AllocateBatchRequest(source_account_id=ledger["source"],
                                                                          items=huge)))
    r = mcall(server, "ApproveMovement", F.FundMovementRequest(id=m.id), login=APPROVER)
    assert r[1] == Code.FAILED_PRECONDITION
    assert "source SRC-POOL has" in r[2] and "available" in r[2], r[2]
    ok(mcall(server, "VoidMovement", F.FundMovementRequest(id=m.id, reason="too much")))
    # nothing of the refused batches was applied
    assert one(db, "SELECT count(*) FROM fund_postings") == postings
    assert db.execute("SELECT id, balance, pending FROM fund_accounts ORDER BY id").fetchall() == balances
    assert_clean(server)


# ---------------------------------------------------------------- budgets


def test_budgets_limit_disbursements(server, ledger):
    fund(server, ledger, "GR011", 1_000_000)
    b = ok(fcall(server, "SetBudget", F.SetBudgetRequest(grid_code="GR011", period=PERIOD, category="subsidies",
                                                         amount=50_000), F.Budget))
    assert (b.period_kind, b.first_day, b.last_day, b.remaining) == ("month", "2026-11-01", "2026-11-30", 50_000)
    q = ok(fcall(server, "SetBudget", F.SetBudgetRequest(grid_code="GR011", period="2026-Q4", category="subsidies",
                                                         amount=80_000), F.Budget))
    assert (q.period_kind, q.first_day, q.last_day) == ("quarter", "2026-10-01", "2026-12-31")
    y = ok(fcall(server, "SetBudget", F.SetBudgetRequest(grid_code="GR011", period="2026", category="rewards",
                                                         amount=10_000), F.Budget))
    assert y.period_kind == "year"

    pay(server, ledger, "GR011", 30_000)
    d = ok(prepare(server, ledger, "GR011", 8_000))
    ok(dcall(server, "ApproveDisbursement", F.ApproveDisbursementRequest(id=d.id), login=APPROVER))
    # 30,000 spent + 8,000 reserved; 24,000 more would exceed the month by 12,000
    r = prepare(server, ledger, "GR011", 24_000)
    assert r[1] == Code.FAILED_PRECONDITION
    assert "budget GR011/2026-11/subsidies would be exceeded by 12,000 fen" in r[2], r[2]
    # the quarter binds across months: 38,000 used of 80,000 → 50,000 in December exceeds by 8,000
    r = prepare(server, ledger, "GR011", 50_000, period="2026-12")
    assert r[1] == Code.FAILED_PRECONDITION and "budget GR011/2026-Q4/subsidies would be exceeded by 8,000 fen" in r[2]
    # another category is not limited by these
    ok(prepare(server, ledger, "GR011", 24_000, category="activities"))

    lst = ok(fcall(server, "ListBudgets", F.ListBudgetsRequest(org_unit_code="GR011"), F.ListBudgetsResponse))
    by = {(x.period, x.category): x for x in lst.budgets}
    m = by[(PERIOD, "subsidies")]
    assert (m.amount, m.spent, m.pending, m.remaining) == (50_000, 30_000, 8_000, 12_000)
    assert m.utilisation == pytest.approx(0.76)
    assert by[("2026-Q4", "subsidies")].spent == 30_000

    # cannot be set below what is spent or reserved
    r = fcall(server, "SetBudget", F.SetBudgetRequest(grid_code="GR011", period=PERIOD, category="subsidies",
                                                      amount=37_000), F.Budget)
    assert r[1] == Code.FAILED_PRECONDITION and "short by 1,000 fen" in r[2], r[2]
    # a budget created after the fact takes over what was already spent
    n = ok(fcall(server, "SetBudget", F.SetBudgetRequest(grid_code="GR011", period="2026", category="subsidies",
                                                         amount=100_000), F.Budget))
    assert (n.spent, n.pending) == (30_000, 8_000)
    for bad in (F.SetBudgetRequest(grid_code="GR011", period="2026-13", category="subsidies", amount=1),
                F.SetBudgetRequest(grid_code="GR011", period="2026-Q5", category="subsidies", amount=1),
                F.SetBudgetRequest(grid_code="GR011", period=PERIOD, category="travel", amount=1),
                F.SetBudgetRequest(grid_code="GR011", period=PERIOD, category="subsidies", amount=-1),
                F.SetBudgetRequest(grid_code="CM01", period=PERIOD, category="subsidies", amount=1)):
        r = fcall(server, "SetBudget", bad, F.Budget)
        assert r[1] == Code.INVALID_ARGUMENT, (bad, r)
    assert_clean(server)


# ---------------------------------------------------------------- disbursements


def test_two_phase_disbursement(server, db, ledger):
    fund(server, ledger, "GR020", 100_000)
    payee_before = account(server, id=ledger["payee"]).balance
    d = ok(prepare(server, ledger, "GR020", 60_000))
    assert (d.state, d.preparer_login, d.approver_login, d.version) == ("prepared", OFFICER, "", 1)
    assert d.grid_code == "GR020" and d.fund_code == "GF-GR020" and len(d.content_hash) == 64
    assert account(server, grid_code="GR020").pending == 0

    a = ok(dcall(server, "ApproveDisbursement", F.ApproveDisbursementRequest(id=d.id, expected_hash=d.content_hash),
                 login=APPROVER))
    assert (a.state, a.approver_login, a.approved_hash) == ("approved", APPROVER, d.content_hash)
    assert a.approved_at and a.expires_at > a.approved_at
    g = account(server, grid_code="GR020")
    assert (g.balance, g.pending, g.available) == (100_000, 60_000, 40_000)
    # the reservation holds against a second payment
    d2 = ok(prepare(server, ledger, "GR020", 30_000))
    r = dcall(server, "ApproveDisbursement", F.ApproveDisbursementRequest(id=d2.id), login=APPROVER)
    assert r[1] == Code.OK
    d3 = prepare(server, ledger, "GR020", 20_000)
    assert d3[1] == Code.FAILED_PRECONDITION and "grid fund GF-GR020 would be overdrawn by 10,000 fen" in d3[2]

    p = ok(dcall(server, "PostDisbursement", F.PostDisbursementRequest(id=d.id), login=APPROVER))
    assert (p.state, p.posted_by_login) == ("posted", APPROVER) and p.posting_id and p.posted_at and not p.expires_at
    g = account(server, grid_code="GR020")
    assert (g.balance, g.pending) == (40_000, 30_000)
    assert account(server, id=ledger["payee"]).balance == payee_before + 60_000
    post = ok(fcall(server, "ListPostings", F.ListPostingsRequest(disbursement_id=d.id), F.ListPostingsResponse))
    assert [x.id for x in post.postings] == [p.posting_id]
    assert {e.account_code: e.amount for e in post.postings[0].entries} == {"GF-GR020": -60_000, "PAYEE-LEADERS": 60_000}
    # posted again: wrong state
    r = dcall(server, "PostDisbursement", F.PostDisbursementRequest(id=d.id), login=APPROVER)
    assert r[1] == Code.FAILED_PRECONDITION and "posted" in r[2]

    # void releases the second one's reservation
    v = ok(dcall(server, "VoidDisbursement", F.VoidDisbursementRequest(id=d2.id, reason="duplicate"), login=APPROVER))
    assert (v.state, v.voided_by_login, v.void_reason) == ("voided", APPROVER, "duplicate")
    assert account(server, grid_code="GR020").pending == 0
    r = dcall(server, "PostDisbursement", F.PostDisbursementRequest(id=d2.id), login=APPROVER)
    assert r[1] == Code.FAILED_PRECONDITION
    # the preparer can void a prepared one; an auditor cannot void
    d4 = ok(prepare(server, ledger, "GR020", 1_000))
    r = dcall(server, "VoidDisbursement", F.VoidDisbursementRequest(id=d4.id), login="auditor")
    assert r[1] == Code.PERMISSION_DENIED
    assert ok(dcall(server, "VoidDisbursement", F.VoidDisbursementRequest(id=d4.id))).state == "voided"

    # listing: preparer, approver and times
    lst = ok(dcall(server, "ListDisbursements", F.ListDisbursementsRequest(org_unit_code="GR020"), login="auditor"))
    assert [x.id for x in lst.disbursements] == [d4.id, d2.id, d.id]
    posted = ok(dcall(server, "ListDisbursements", F.ListDisbursementsRequest(org_unit_code="GR020", state="posted"),
                      login="auditor")).disbursements
    assert len(posted) == 1 and posted[0].preparer_login == OFFICER and posted[0].approver_login == APPROVER
    assert posted[0].prepared_at <= posted[0].approved_at <= posted[0].posted_at
    pages, token, n = 0, "", 0
    while True:
        r = ok(dcall(server, "ListDisbursements", F.ListDisbursementsRequest(org_unit_code="GR020", page_size=2,
                                                                             page_token=token), login="auditor"))
        pages, n, token = pages + 1, n + len(r.disbursements), r.next_page_token
        if not token:
            break
    assert (pages, n) == (2, 3)
    # every step is in the audit log
    rows = db.execute("SELECT login, method, summary FROM audit_log WHERE object = %s ORDER BY id",
                      ("disbursement:%d" % d.id,)).fetchall()
    assert [r[1].rsplit("/", 1)[1] for r in rows] == ["PrepareDisbursement", "ApproveDisbursement", "PostDisbursement"]
    assert [r[0] for r in rows] == [OFFICER, APPROVER, APPROVER]
    assert_clean(server)


def test_reject_needs_a_reason(server, ledger):
    fund(server, ledger, "GR021", 10_000)
    d = ok(prepare(server, ledger, "GR021", 5_000))
    r = dcall(server, "RejectDisbursement", F.RejectDisbursementRequest(id=d.id, reason="  "), login=APPROVER)
    assert r[1] == Code.INVALID_ARGUMENT and "reason" in r[2]
    r = dcall(server, "RejectDisbursement", F.RejectDisbursementRequest(id=d.id, reason="no receipt"), login=OFFICER)
    assert r[1] == Code.PERMISSION_DENIED
    x = ok(dcall(server, "RejectDisbursement", F.RejectDisbursementRequest(id=d.id, reason="no receipt"),
                 login=APPROVER))
    assert (x.state, x.rejected_by_login, x.reject_reason) == ("rejected", APPROVER, "no receipt")
    for m, req in (("ApproveDisbursement", F.ApproveDisbursementRequest(id=d.id)),
                   ("PostDisbursement", F.PostDisbursementRequest(id=d.id))):
        r = dcall(server, m, req, login=APPROVER)
        assert r[1] == Code.FAILED_PRECONDITION and "rejected" in r[2]
    r = dcall(server, "UpdateDisbursement", F.UpdateDisbursementRequest(id=d.id, amount=1))
    assert r[1] == Code.FAILED_PRECONDITION


def test_expiry_releases_reservations(server, db, ledger):
    fund(server, ledger, "GR022", 50_000)
    one(db, "SELECT fund_set_budget(1, '1', (SELECT id FROM org_units WHERE code = 'GR022'), %s, 'rewards', 40000)",
        PERIOD)
    d1 = ok(prepare(server, ledger, "GR022", 20_000, category="rewards"))
    d2 = ok(prepare(server, ledger, "GR022", 10_000, category="rewards"))
    for d in (d1, d2):
        ok(dcall(server, "ApproveDisbursement", F.ApproveDisbursementRequest(id=d.id), login=APPROVER))
    assert account(server, grid_code="GR022").pending == 30_000
    # the clock moved two hours on, TTL one hour: both expire, once
    assert one(db, "SELECT fund_expire_disbursements(interval '1 hour', now() + interval '2 hours')") >= 2
    assert one(db, "SELECT fund_expire_disbursements(interval '1 hour', now() + interval '2 hours')") == 0
    for d in (d1, d2):
        x = ok(dcall(server, "GetDisbursement", F.GetDisbursementRequest(id=d.id)))
        assert x.state == "expired" and x.voided_at and x.voided_by_id == 0 and x.approver_login == APPROVER
        r = dcall(server, "PostDisbursement", F.PostDisbursementRequest(id=d.id), login=APPROVER)
        assert r[1] == Code.FAILED_PRECONDITION and "expired" in r[2]
    g = account(server, grid_code="GR022")
    assert (g.balance, g.pending) == (50_000, 0)
    b = ok(fcall(server, "ListBudgets", F.ListBudgetsRequest(org_unit_code="GR022"), F.ListBudgetsResponse)).budgets[0]
    assert (b.spent, b.pending) == (0, 0)
    assert one(db, "SELECT count(*) FROM audit_log WHERE login = 'system' AND object = %s",
               "disbursement:%d" % d1.id) == 1
    # with the configured TTL (a week): a reservation approved eight days ago expires
    d3 = ok(prepare(server, ledger, "GR022", 5_000))
    ok(dcall(server, "ApproveDisbursement", F.ApproveDisbursementRequest(id=d3.id), login=APPROVER))
    assert one(db, "SELECT fund_expire_disbursements(make_interval(secs => 604800))") == 0
    db.execute("UPDATE fund_disbursements SET approved_at = now() - interval '8 days' WHERE id = %s", (d3.id,))
    # the server's own job (every 30 s) may get there first: either way it expires once
    assert one(db, "SELECT fund_expire_disbursements(make_interval(secs => 604800))") in (0, 1)
    assert ok(dcall(server, "GetDisbursement", F.GetDisbursementRequest(id=d3.id))).state == "expired"
    assert one(db, "SELECT count(*) FROM audit_log WHERE login = 'system' AND object = %s",
               "disbursement:%d" % d3.id) == 1
    assert account(server, grid_code="GR022").pending == 0
    assert_clean(server)


def test_approval_is_bound_to_the_content(server, db, ledger):
    fund(server, ledger, "GR023", 100_000)
    one(db, "SELECT fund_set_budget(1, '1', (SELECT id FROM org_units WHERE code = 'GR023'), %s, 'subsidies', 60000)",
        PERIOD)
    d = ok(prepare(server, ledger, "GR023", 40_000))
    a = ok(dcall(server, "ApproveDisbursement", F.ApproveDisbursementRequest(id=d.id), login=APPROVER))
    assert account(server, grid_code="GR023").pending == 40_000
    # an edit after approval voids it and releases the reservations
    u = ok(dcall(server, "UpdateDisbursement", F.UpdateDisbursementRequest(id=d.id, amount=45_000,
                                                                           update_mask=["amount"])))
    assert (u.state, u.approver_login, u.approved_hash, u.version, u.amount) == ("prepared", "", "", 2, 45_000)
    assert u.content_hash != a.approved_hash
    assert account(server, grid_code="GR023").pending == 0
    b = ok(fcall(server, "ListBudgets", F.ListBudgetsRequest(org_unit_code="GR023"), F.ListBudgetsResponse)).budgets[0]
    assert b.pending == 0
    r = dcall(server, "PostDisbursement", F.PostDisbursementRequest(id=d.id), login=APPROVER)
    assert r[1] == Code.FAILED_PRECONDITION
    # approving what one reviewed before the edit is refused
    r = dcall(server, "ApproveDisbursement", F.ApproveDisbursementRequest(id=d.id, expected_hash=a.approved_hash),
              login=APPROVER)
    assert r[1] == Code.FAILED_PRECONDITION and "changed since" in r[2]
    r = dcall(server, "ApproveDisbursement", F.ApproveDisbursementRequest(id=d.id, expected_hash="zz"), login=APPROVER)
    assert r[1] == Code.INVALID_ARGUMENT
    # only the preparer edits
    r = dcall(server, "UpdateDisbursement", F.UpdateDisbursementRequest(id=d.id, purpose="other"), login=OFFICER2)
    assert r[1] == Code.PERMISSION_DENIED
    r = dcall(server, "UpdateDisbursement", F.UpdateDisbursementRequest(id=d.id, update_mask=["state"]))
    assert r[1] == Code.INVALID_ARGUMENT
    a2 = ok(dcall(server, "ApproveDisbursement", F.ApproveDisbursementRequest(id=d.id, expected_hash=u.content_hash),
                  login=APPROVER))
    assert a2.approved_hash == u.content_hash
    # in the database: an approved disbursement's content cannot change
    with pytest.raises(psycopg.Error) as e:
        db.execute("UPDATE fund_disbursements SET amount = 1 WHERE id = %s", (d.id,))
    assert "only a prepared disbursement can be edited" in str(e.value)
    # even with the guard bypassed, posting checks the hash
    db.execute("ALTER TABLE fund_disbursements DISABLE TRIGGER fund_disbursements_guard")
    try:
        db.execute("UPDATE fund_disbursements SET purpose = 'changed behind our back' WHERE id = %s", (d.id,))
    finally:
        db.execute("ALTER TABLE fund_disbursements ENABLE TRIGGER fund_disbursements_guard")
    r = dcall(server, "PostDisbursement", F.PostDisbursementRequest(id=d.id), login=APPROVER)
    assert r[1] == Code.FAILED_PRECONDITION and "changed after it was approved" in r[2]
    v = verify(server)
    assert not v.ok and any("content differs from what was approved" in p for p in v.problems)
    db.execute("ALTER TABLE fund_disbursements DISABLE TRIGGER fund_disbursements_guard")
    try:
        db.execute("UPDATE fund_disbursements SET purpose = %s WHERE id = %s", (d.purpose, d.id))
    finally:
        db.execute("ALTER TABLE fund_disbursements ENABLE TRIGGER fund_disbursements_guard")
    p = ok(dcall(server, "PostDisbursement", F.PostDisbursementRequest(id=d.id), login=APPROVER))
    assert p.state == "posted" and p.amount == 45_000
    assert_clean(server)


def test_database_guards_check_every_row_they_can_refuse(server, db, ledger):
    """Migration 025 runs the disbursement and account guards only for rows they can refuse
    (WHEN) and checks state transitions once per statement: every refusal still happens,
    for one row and for many, and a refused statement changes nothing."""
    fund(server, ledger, "GR177", 100_000)
    posted = pay(server, ledger, "GR177", 1_000)
    p1, p2 = ok(prepare(server, ledger, "GR177", 2_000)), ok(prepare(server, ledger, "GR177", 3_000))

    def refused(sql, args, text):
        with pytest.raises(psycopg.Error) as e:
            db.execute(sql, args)
        assert text in str(e.value), str(e.value)

    # a transition not in fund_disbursement_transitions (that the CHECKs would let through),
    # alone or beside a valid one
    db.execute("UPDATE fund_disbursements SET state = 'voided', voided_at = now() WHERE id = %s", (p2.id,))
    refused("UPDATE fund_disbursements SET state = 'prepared' WHERE id = %s", (p2.id,),
            "disbursement %d cannot go from voided to prepared" % p2.id)
    refused("UPDATE fund_disbursements SET state = 'prepared', version = version + 1 WHERE id IN (%s, %s)",
            (p1.id, p2.id), "disbursement %d cannot go from voided to prepared" % p2.id)
    assert one(db, "SELECT array_agg(state || version ORDER BY id) FROM fund_disbursements WHERE id IN (%s, %s)",
               p1.id, p2.id) == ["prepared1", "voided1"]
    # id, preparer and key never change; content only while prepared (many rows at once too)
    refused("UPDATE fund_disbursements SET preparer_id = preparer_id + 1 WHERE id = %s", (p1.id,),
            "id, preparer and key never change")
    refused("UPDATE fund_disbursements SET external_key = 'x' WHERE id = %s", (p1.id,),
            "id, preparer and key never change")
    refused("UPDATE fund_disbursements SET purpose = purpose || '!' WHERE id IN (%s, %s)", (p1.id, posted.id),
            "only a prepared disbursement can be edited")
    refused("UPDATE fund_disbursements SET payee_account_id = %s WHERE id = %s", (ledger["expense"], posted.id),
            "only a prepared disbursement can be edited")
    # a prepared one may still be edited in place
    db.execute("UPDATE fund_disbursements SET purpose = 'edited', version = version + 1 WHERE id = %s", (p1.id,))
    # accounts: code, kind and org unit never change, whichever column the update names
    gf = account(server, grid_code="GR177")
    refused("UPDATE fund_accounts SET kind = 'source' WHERE id = %s", (gf.id,),
            "cannot change code, kind or org unit")
    refused("UPDATE fund_accounts SET code = 'GF-OTHER', name = 'x' WHERE id = %s", (gf.id,),
            "cannot change code, kind or org unit")
    refused("UPDATE fund_accounts SET org_unit_id = NULL WHERE id = %s", (ledger["payee"],),
            "cannot change code, kind or org unit")
    refused("INSERT INTO fund_accounts (code, name, kind, org_unit_id)"
            " VALUES ('GF-NOT-A-GRID', 'x', 'grid_fund', (SELECT id FROM org_units WHERE code = 'DC'))", None,
            "a grid fund must belong to a grid")
    db.execute("UPDATE fund_accounts SET name = 'Grid work fund GR177 (renamed)' WHERE id = %s", (gf.id,))
    # every posting an INSERT of entries touches balances, checked per statement (through the
    # primary key since 025): unbalanced, or a single entry, is refused and nothing is written
    n_entries = one(db, "SELECT count(*) FROM fund_entries")
    for amounts, text in (((-5, 4), "does not balance (2 entries, sum -1)"),
                          ((-5,), "does not balance (1 entries, sum -5)")):
        refused("WITH p AS (INSERT INTO fund_postings (kind, memo, created_by) VALUES ('deposit', 'test', 1)"
                " RETURNING id) INSERT INTO fund_entries (posting_id, account_id, amount)"
                " SELECT p.id, (ARRAY[%s, %s])[o], x FROM p, unnest(%s::bigint[]) WITH ORDINALITY u(x, o)",
                (ledger["source"], ledger["payee"], list(amounts)), text)
    assert one(db, "SELECT count(*) FROM fund_entries") == n_entries


def test_preparer_never_approves(server, db, ledger):
    fund(server, ledger, "GR024", 10_000)
    # admin holds both permissions: still not on its own disbursement
    d = ok(prepare(server, ledger, "GR024", 1_000, login="admin"))
    r = dcall(server, "ApproveDisbursement", F.ApproveDisbursementRequest(id=d.id), login="admin")
    assert r[1] == Code.PERMISSION_DENIED and "prepared by you" in r[2]
    r = dcall(server, "RejectDisbursement", F.RejectDisbursementRequest(id=d.id, reason="x"), login="admin")
    assert r[1] == Code.PERMISSION_DENIED
    # a finance officer cannot approve at all
    d2 = ok(prepare(server, ledger, "GR024", 1_000))
    r = dcall(server, "ApproveDisbursement", F.ApproveDisbursementRequest(id=d2.id), login=OFFICER2)
    assert r[1] == Code.PERMISSION_DENIED
    assert ok(dcall(server, "GetDisbursement", F.GetDisbursementRequest(id=d.id))).state == "prepared"
    # the database refuses it too, whatever writes the row
    with pytest.raises(psycopg.errors.CheckViolation) as e:
        db.execute("UPDATE fund_disbursements SET state = 'approved', approver_id = preparer_id,"
                   " approved_at = now(), approved_hash = fund_disbursement_hash(fund_disbursements)"
                   " WHERE id = %s", (d.id,))
    assert "fund_disbursements_approver_not_preparer" in str(e.value)
    with pytest.raises(psycopg.Error):
        db.execute("UPDATE fund_disbursements SET state = 'posted' WHERE id = %s", (d2.id,))
    with pytest.raises(psycopg.Error):
        db.execute("DELETE FROM fund_disbursements WHERE id = %s", (d2.id,))
    ok(dcall(server, "ApproveDisbursement", F.ApproveDisbursementRequest(id=d.id), login=APPROVER))


def test_reversal(server, db, ledger):
    fund(server, ledger, "GR025", 30_000)
    one(db, "SELECT fund_set_budget(1, '1', (SELECT id FROM org_units WHERE code = 'GR025'), %s, 'subsidies', 25000)",
        PERIOD)
    d = pay(server, ledger, "GR025", 20_000)
    payee = account(server, id=ledger["payee"]).balance
    r = mcall(server, "PrepareReversal", F.ReverseRequest(posting_id=d.posting_id, reason="paid twice"),
              login=APPROVER)
    assert r[1] == Code.PERMISSION_DENIED  # an approver prepares nothing
    r = mcall(server, "PrepareReversal", F.ReverseRequest(posting_id=d.posting_id))
    assert r[1] == Code.INVALID_ARGUMENT and "reason" in r[2]
    m = ok(mcall(server, "PrepareReversal", F.ReverseRequest(posting_id=d.posting_id, reason="paid twice")))
    assert (m.kind, m.state, m.reverses_posting_id, m.total) == ("reversal", "prepared", d.posting_id, 20_000)
    assert account(server, grid_code="GR025").balance == 10_000  # nothing moved yet
    r = mcall(server, "PrepareReversal", F.ReverseRequest(posting_id=d.posting_id, reason="paid twice"))
    assert r[1] == Code.FAILED_PRECONDITION and "waiting" in r[2]
    r = mcall(server, "ApproveMovement", F.FundMovementRequest(id=m.id))
    assert r[1] == Code.PERMISSION_DENIED  # a finance officer approves nothing
    ok(mcall(server, "ApproveMovement", F.FundMovementRequest(id=m.id), login=APPROVER))
    m = ok(mcall(server, "PostMovement", F.FundMovementRequest(id=m.id), login=APPROVER))
    assert m.state == "posted" and len(m.postings) == 1 and list(m.posting_ids) == [m.postings[0].id]
    rev = m.postings[0]
    assert rev.kind == "reversal" and rev.reverses_id == d.posting_id and rev.disbursement_id == d.id
    assert {e.account_code: e.amount for e in rev.entries} == {"GF-GR025": 20_000, "PAYEE-LEADERS": -20_000}
    assert account(server, grid_code="GR025").balance == 30_000
    assert account(server, id=ledger["payee"]).balance == payee - 20_000
    x = ok(dcall(server, "GetDisbursement", F.GetDisbursementRequest(id=d.id)))
    assert (x.state, x.reversal_posting_id) == ("reversed", rev.id)
    b = ok(fcall(server, "ListBudgets", F.ListBudgetsRequest(org_unit_code="GR025"), F.ListBudgetsResponse)).budgets[0]
    assert b.spent == 0
    # the original shows who reversed it; it is still there, unchanged
    orig = ok(fcall(server, "ListPostings", F.ListPostingsRequest(disbursement_id=d.id), F.ListPostingsResponse))
    assert [p.id for p in orig.postings] == [rev.id, d.posting_id]
    assert orig.postings[1].reversed_by_id == rev.id
    r = mcall(server, "PrepareReversal", F.ReverseRequest(posting_id=d.posting_id, reason="again"))
    assert r[1] == Code.FAILED_PRECONDITION and "already reversed by posting %d" % rev.id in r[2]
    r = mcall(server, "PrepareReversal", F.ReverseRequest(posting_id=rev.id, reason="undo"))
    assert r[1] == Code.FAILED_PRECONDITION and "itself a reversal" in r[2]
    r = mcall(server, "PrepareReversal", F.ReverseRequest(posting_id=10**12, reason="x"))
    assert r[1] == Code.NOT_FOUND
    # reversing an allocation needs the money still in the grid fund: the approval reserves it
    alloc = fund(server, ledger, "GR026", 10_000).postings[0]
    pay(server, ledger, "GR026", 4_000)
    m = ok(mcall(server, "PrepareReversal", F.ReverseRequest(posting_id=alloc.id, reason="wrong grid")))
    r = mcall(server, "ApproveMovement", F.FundMovementRequest(id=m.id), login=APPROVER)
    assert r[1] == Code.FAILED_PRECONDITION and "grid fund GF-GR026 has 6,000 fen available" in r[2], r[2]
    # postings are never changed in the database
    with pytest.raises(psycopg.Error):
        db.execute("UPDATE fund_entries SET amount = amount WHERE posting_id = %s", (alloc.id,))
    with pytest.raises(psycopg.Error):
        db.execute("DELETE FROM fund_postings WHERE id = %s", (alloc.id,))
    assert_clean(server)


def test_error_paths(server, ledger):
    fund(server, ledger, "GR027", 5_000)
    for amount in (0, -100):
        r = prepare(server, ledger, "GR027", amount)
        assert r[1] == Code.INVALID_ARGUMENT and "amount" in r[2]
    r = prepare(server, ledger, "GR027", 17_000)
    assert r[1] == Code.FAILED_PRECONDITION
    assert "grid fund GF-GR027 would be overdrawn by 12,000 fen (available 5,000 fen)" in r[2], r[2]
    for kw, field in ((dict(category="travel"), "category"), (dict(period="2026-11-01"), "period"),
                      (dict(period="2026-Q4"), "period")):
        r = prepare(server, ledger, "GR027", 100, **kw)
        assert r[1] == Code.INVALID_ARGUMENT and field in r[2], (kw, r)
    r = dcall(server, "PrepareDisbursement", F.PrepareDisbursementRequest(
        grid_code="GR027", payee_account_id=ledger["payee"], category="subsidies", amount=1, period=PERIOD))
    assert r[1] == Code.INVALID_ARGUMENT and "purpose" in r[2]
    r = dcall(server, "PrepareDisbursement", F.PrepareDisbursementRequest(
        grid_code="GR027", payee_account_id=ledger["payee"], category="subsidies", amount=1, period=PERIOD,
        purpose="x" * 501))
    assert r[1] == Code.INVALID_ARGUMENT and "purpose" in r[2]
    r = dcall(server, "PrepareDisbursement", F.PrepareDisbursementRequest(
        grid_code="GR027", payee_code="NOBODY", category="subsidies", amount=1, purpose="x", period=PERIOD))
    assert r[1] == Code.NOT_FOUND and "NOBODY" in r[2]
    # paying into a source or another grid fund is not a disbursement
    r = dcall(server, "PrepareDisbursement", F.PrepareDisbursementRequest(
        grid_code="GR027", payee_code="GF-GR001", category="subsidies", amount=1, purpose="x", period=PERIOD))
    assert r[1] == Code.INVALID_ARGUMENT and "payee" in r[2]
    r = dcall(server, "PrepareDisbursement", F.PrepareDisbursementRequest(
        grid_code="GR999", payee_account_id=ledger["payee"], category="subsidies", amount=1, purpose="x",
        period=PERIOD))
    assert r[1] == Code.NOT_FOUND
    r = dcall(server, "GetDisbursement", F.GetDisbursementRequest(id=10**12))
    assert r[1] == Code.NOT_FOUND
    r = dcall(server, "GetDisbursement", F.GetDisbursementRequest(id=-1))
    assert r[1] == Code.INVALID_ARGUMENT


def test_retries_pay_once(server, db, ledger):
    fund(server, ledger, "GR028", 50_000)
    d = ok(prepare(server, ledger, "GR028", 10_000))
    ok(dcall(server, "ApproveDisbursement", F.ApproveDisbursementRequest(id=d.id), login=APPROVER))
    rid = uuid.uuid4().hex
    p1 = ok(dcall(server, "PostDisbursement", F.PostDisbursementRequest(id=d.id), login=APPROVER, request_id=rid))
    p2 = ok(dcall(server, "PostDisbursement", F.PostDisbursementRequest(id=d.id), login=APPROVER, request_id=rid))
    assert p1 == p2
    assert one(db, "SELECT count(*) FROM fund_postings WHERE disbursement_id = %s", d.id) == 1
    assert account(server, grid_code="GR028").balance == 40_000
    # an allocation retried with its request ids is prepared once and moves the money once
    rid = uuid.uuid4().hex
    req = F.AllocateRequest(source_account_id=ledger["source"], grid_code="GR028", amount=7)
    a1 = ok(mcall(server, "PrepareAllocation", req, request_id=rid))
    a2 = ok(mcall(server, "PrepareAllocation", req, request_id=rid))
    assert a1 == a2
    ok(mcall(server, "ApproveMovement", F.FundMovementRequest(id=a1.id), login=APPROVER))
    rid = uuid.uuid4().hex
    p1 = ok(mcall(server, "PostMovement", F.FundMovementRequest(id=a1.id), login=APPROVER, request_id=rid))
    p2 = ok(mcall(server, "PostMovement", F.FundMovementRequest(id=a1.id), login=APPROVER, request_id=rid))
    assert p1 == p2 and account(server, grid_code="GR028").balance == 40_007
    r = mcall(server, "PostMovement", F.FundMovementRequest(id=a1.id), login=APPROVER)
    assert r[1] == Code.FAILED_PRECONDITION and "posted" in r[2]  # a new request id: still once
    assert one(db, "SELECT count(*) FROM fund_movement_items WHERE movement_id = %s AND posting_id IS NOT NULL",
               a1.id) == 1
    # prepared twice with one external key: one disbursement
    key = uid("KEY")
    k1 = ok(prepare(server, ledger, "GR028", 100, external_key=key))
    k2 = ok(prepare(server, ledger, "GR028", 100, external_key=key))
    assert k1.id == k2.id and k1.external_key == key
    assert one(db, "SELECT count(*) FROM fund_disbursements WHERE external_key = %s", key) == 1


def test_roles_and_scope(server, db, ledger):
    fund(server, ledger, "GR001", 1_000)
    # community staff and grid leaders cannot read fund data at all
    for login in ("staff.cm01", "leader.gr001"):
        for m, req, cls in (("GetAccount", F.GetAccountRequest(grid_code="GR001"), F.Account),
                            ("ListAccounts", F.ListAccountsRequest(), F.ListAccountsResponse),
                            ("ListBudgets", F.ListBudgetsRequest(), F.ListBudgetsResponse),
                            ("ListPostings", F.ListPostingsRequest(), F.ListPostingsResponse)):
            assert fcall(server, m, req, cls, login=login)[1] == Code.PERMISSION_DENIED
        assert dcall(server, "ListDisbursements", F.ListDisbursementsRequest(), login=login)[1] == Code.PERMISSION_DENIED
    # a finance officer of street ST02 sees only its grids
    st = db.execute("SELECT id, path::text FROM org_units WHERE code = 'ST02'").fetchone()
    db.execute("INSERT INTO users (login, display_name, role, scope_id) VALUES"
               " ('fin.st02', 'ST02 finance', 'finance_officer', %s) ON CONFLICT DO NOTHING", (st[0],))
    mine = {r[0] for r in db.execute("SELECT code FROM org_units WHERE kind = 'grid' AND path <@ %s::ltree",
                                     (st[1],))}
    assert mine and "GR001" not in mine
    seen = ok(fcall(server, "ListAccounts", F.ListAccountsRequest(kind="grid_fund", page_size=1000),
                    F.ListAccountsResponse, login="fin.st02")).accounts
    assert {a.org_unit_code for a in seen} == mine
    assert fcall(server, "GetAccount", F.GetAccountRequest(grid_code="GR001"), F.Account,
                 login="fin.st02")[1] == Code.NOT_FOUND
    # district payees are visible to it, the district's source is not
    assert account(server, login="fin.st02", id=ledger["payee"]).code == "PAYEE-LEADERS"
    assert fcall(server, "GetAccount", F.GetAccountRequest(id=ledger["source"]), F.Account,
                 login="fin.st02")[1] == Code.NOT_FOUND
    grid = sorted(mine)[0]
    fund(server, ledger, grid, 3_000)
    mine_d = ok(prepare(server, ledger, grid, 1_000, login="fin.st02"))
    other = ok(prepare(server, ledger, "GR001", 500))
    assert dcall(server, "GetDisbursement", F.GetDisbursementRequest(id=other.id), login="fin.st02")[1] == Code.NOT_FOUND
    lst = ok(dcall(server, "ListDisbursements", F.ListDisbursementsRequest(page_size=1000), login="fin.st02"))
    assert mine_d.id in [x.id for x in lst.disbursements]
    assert all(x.grid_code in mine for x in lst.disbursements)
    assert prepare(server, ledger, "GR001", 1, login="fin.st02")[1] == Code.NOT_FOUND
    posts = ok(fcall(server, "ListPostings", F.ListPostingsRequest(page_size=1000), F.ListPostingsResponse,
                     login="fin.st02")).postings
    assert posts and all(any(e.account_code[3:] in mine for e in p.entries) for p in posts)
    # the whole-ledger check needs a district-wide scope
    assert fcall(server, "VerifyLedger", F.VerifyLedgerRequest(), F.VerifyLedgerResponse,
                 login="fin.st02")[1] == Code.PERMISSION_DENIED
    ok(dcall(server, "VoidDisbursement", F.VoidDisbursementRequest(id=other.id)))
    ok(dcall(server, "VoidDisbursement", F.VoidDisbursementRequest(id=mine_d.id), login="fin.st02"))


# ---------------------------------------------------------------- concurrency


def drain(servers, ledger, grid, tokens, results, errors, seed):
    rnd = random.Random(seed)
    officer = tokens[OFFICER if seed % 2 else OFFICER2]
    approver = tokens[APPROVER]
    s = servers[seed % len(servers)]
    try:
        while True:
            g, code, det = s.call("FundService/GetAccount", F.GetAccountRequest(grid_code=grid), F.Account,
                                  token=officer)
            assert code == Code.OK, det
            if g.available == 0:
                return
            amount = min(rnd.randint(1, 2_500), g.available)
            d, code, det = s.call("DisbursementService/PrepareDisbursement", F.PrepareDisbursementRequest(
                grid_code=grid, payee_account_id=ledger["payee"], category="emergency", amount=amount,
                purpose="drain %d" % seed, period=PERIOD), F.Disbursement, token=officer)
            if code == Code.FAILED_PRECONDITION:
                continue  # someone else reserved it meanwhile
            assert code == Code.OK, det
            a, code, det = s.call("DisbursementService/ApproveDisbursement", F.ApproveDisbursementRequest(id=d.id),
                                  F.Disbursement, token=approver)
            if code == Code.FAILED_PRECONDITION:
                assert "would be overdrawn" in det, det
                _, code, det = s.call("DisbursementService/VoidDisbursement", F.VoidDisbursementRequest(id=d.id),
                                      F.Disbursement, token=officer)
                assert code == Code.OK, det
                continue
            assert code == Code.OK, det
            p, code, det = s.call("DisbursementService/PostDisbursement", F.PostDisbursementRequest(id=d.id),
                                  F.Disbursement, token=approver)
            assert code == Code.OK, det
            results.append(p.amount)
    except BaseException as e:  # reported by the main thread
        errors.append(repr(e))


def test_sixteen_clients_two_servers_empty_a_fund_exactly(server, db, ledger):
    grid, total = "GR200", 240_000
    fund(server, ledger, grid, total)
    one(db, "SELECT fund_set_budget(1, '1', (SELECT id FROM org_units WHERE code = 'GR200'), %s, 'emergency', %s)",
        PERIOD, total)
    payee_before = account(server, id=ledger["payee"]).balance
    second = server.start_server()
    try:
        tokens = {login: server.token(login) for login in (OFFICER, OFFICER2, APPROVER)}
        results, errors = [], []
        threads = [threading.Thread(target=drain, args=([server, second], ledger, grid, tokens, results, errors, i))
                   for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        assert not errors, errors[:3]
        print("\n[funds] %d clients on 2 servers paid %d disbursements, %d fen in all"
              % (len(threads), len(results), sum(results)))
        assert sum(results) == total
        g = account(server, grid_code=grid)
        assert (g.balance, g.pending, g.available) == (0, 0, 0)
        assert account(server, id=ledger["payee"]).balance == payee_before + total
        assert one(db, "SELECT coalesce(sum(d.amount), 0) FROM fund_disbursements d JOIN fund_accounts f"
                       " ON f.id = d.fund_account_id WHERE f.code = 'GF-GR200' AND d.state = 'posted'") == total
        b = ok(fcall(server, "ListBudgets", F.ListBudgetsRequest(org_unit_code=grid), F.ListBudgetsResponse)).budgets[0]
        assert (b.spent, b.pending, b.remaining) == (total, 0, 0)
        assert len(results) > 16
        assert_clean(server)
    finally:
        assert second.stop() == 0
        assert second.sanitizer_report() is None, second.sanitizer_report()


# ---------------------------------------------------------------- verification


def test_verify_ledger_detects_a_tampered_ledger(server, db, ledger):
    v = verify(server)
    assert v.ok, v.problems
    assert v.accounts >= 212 and v.postings > 0 and v.entries >= 2 * v.postings and v.total_deposited == 500_000_000
    db.execute("ALTER TABLE fund_accounts DISABLE TRIGGER USER")
    try:
        db.execute("UPDATE fund_accounts SET balance = balance + 100 WHERE code = 'GF-GR100'")
        v = verify(server)
        assert not v.ok and any(p.startswith("account GF-GR100: balance") for p in v.problems), v.problems
    finally:
        db.execute("UPDATE fund_accounts SET balance = balance - 100 WHERE code = 'GF-GR100'")
        db.execute("ALTER TABLE fund_accounts ENABLE TRIGGER USER")
    # an unbalanced posting written behind the server's back
    db.execute("ALTER TABLE fund_entries DISABLE TRIGGER USER")
    db.execute("ALTER TABLE fund_postings DISABLE TRIGGER USER")
    try:
        pid = one(db, "SELECT max(id) FROM fund_postings")
        db.execute("UPDATE fund_entries SET amount = amount + 1 WHERE posting_id = %s AND amount > 0", (pid,))
        v = verify(server)
        assert any(p.startswith("posting %d does not balance" % pid) for p in v.problems), v.problems
        db.execute("UPDATE fund_entries SET amount = amount - 1 WHERE posting_id = %s AND amount > 0", (pid,))
    finally:
        db.execute("ALTER TABLE fund_entries ENABLE TRIGGER USER")
        db.execute("ALTER TABLE fund_postings ENABLE TRIGGER USER")
    assert_clean(server)


def seal_audit(server):
    """Seals the unsealed audit rows now (`gridstockd audit seal` with the servers' audit key)."""
    p = subprocess.run([paths.GRIDSTOCKD, "audit", "seal", "--db", server.conninfo, "--audit-keys",
                        server.env.audit_keyring], capture_output=True, text=True, timeout=120,
                       env=paths.sanitizer_env())
    assert p.returncode == 0, p.stdout + p.stderr


def test_verify_ledger_detects_a_changed_or_removed_audit_row(server, db, ledger):
    seal_audit(server)
    v = verify(server)
    assert v.ok and v.audit_rows_sealed > 0 and re.fullmatch("[0-9a-f]{64}", v.audit_chain_head)
    head = v.audit_chain_head
    # new rows extend the chain (sealed by us or by the server's sealer, every 2 s)
    fund(server, ledger, "GR150", 10)
    last = one(db, "SELECT max(id) FROM audit_log")
    seal_audit(server)
    assert one(db, "SELECT count(*) FROM audit_seal WHERE audit_id = %s", last) == 1
    v2 = verify(server)
    assert v2.ok and v2.audit_rows_sealed > v.audit_rows_sealed and v2.audit_chain_head != head
    # the audit log is append-only
    with pytest.raises(psycopg.Error):
        db.execute("UPDATE audit_log SET summary = 'x' WHERE id = (SELECT min(id) FROM audit_log)")
    with pytest.raises(psycopg.Error):
        db.execute("DELETE FROM audit_seal")
    # a superuser who disables the triggers and edits a row is caught (the HMAC seal no
    # longer matches; the key is not in the database)
    victim = db.execute("SELECT l::text, id, summary FROM audit_log l WHERE method LIKE '%%PostDisbursement'"
                        " ORDER BY id LIMIT 1").fetchone()
    db.execute("ALTER TABLE audit_log DISABLE TRIGGER USER")
    try:
        db.execute("UPDATE audit_log SET summary = summary || ' (nothing to see)' WHERE id = %s", (victim[1],))
        v = verify(server)
        assert not v.ok
        assert "audit row %d was changed after it was sealed" % victim[1] in " ".join(v.problems), v.problems
        db.execute("UPDATE audit_log SET summary = %s WHERE id = %s", (victim[2], victim[1]))
        assert verify(server).ok
        # ... and so is one who removes a row
        db.execute("DELETE FROM audit_log WHERE id = %s", (victim[1],))
        v = verify(server)
        assert not v.ok
        assert "audit row %d was removed after it was sealed" % victim[1] in " ".join(v.problems), v.problems
        db.execute("INSERT INTO audit_log SELECT (%s::audit_log).*", (victim[0],))
    finally:
        db.execute("ALTER TABLE audit_log ENABLE TRIGGER USER")
    assert_clean(server)
