"""Fund review and reports (issue 5): spending by grid / community / street / category /
month from the trigger-kept summary (matches the ledger, follows postings and reversals),
budget utilisation, balances, the disbursement register with preparer, approver and times,
review flags that find planted patterns (split payments, one payee paid from many grids,
late spending against a full budget), CSV export of every report through the CLI, the HTML
report (well-formed, self-contained, with its two charts), scope and roles, and error paths."""
import csv
import io
import json
import time
from html.parser import HTMLParser

import grpc
import pytest

from gridstock.v1 import funds_pb2 as F
from gridstock.v1 import reports_pb2 as R
from harness.money import move
from harness.sql import one

Code = grpc.StatusCode
OFFICER, APPROVER = "fin.officer", "fin.approver"

RESP = {
    "SpendingReport": R.SpendingReportResponse, "BudgetUtilisation": R.BudgetUtilisationResponse,
    "Balances": R.BalancesResponse, "DisbursementRegister": R.DisbursementRegisterResponse,
    "ReviewFlags": R.ReviewFlagsResponse, "ExportHtmlReport": R.ExportHtmlReportResponse,
}


def ok(result):
    resp, code, details = result
    assert code == Code.OK, "%s: %s" % (code, details)
    return resp


def rcall(server, method, req, login="auditor", **kw):
    return server.call("FundReportService/" + method, req, RESP[method], login=login, **kw)


def dcall(server, method, req, login=OFFICER):
    return ok(server.call("DisbursementService/" + method, req, F.Disbursement, login=login))


def pay(server, grid, payee, amount, category="activities", period="2026-01", purpose="test payment"):
    d = dcall(server, "PrepareDisbursement", F.PrepareDisbursementRequest(
        grid_code=grid, payee_code=payee, category=category, amount=amount, purpose=purpose, period=period))
    dcall(server, "ApproveDisbursement", F.ApproveDisbursementRequest(id=d.id), login=APPROVER)
    return dcall(server, "PostDisbursement", F.PostDisbursementRequest(id=d.id), login=APPROVER)


@pytest.fixture(scope="module")
def payees(server):
    out = {}
    for code, name in (("T-SUPPLIER", "Split supplier"), ("T-ROAMER", "Paid everywhere"), ("T-LATE", "Late vendor")):
        out[code] = ok(server.call("FundService/CreateAccount", F.CreateAccountRequest(
            kind="payee", code=code, name=name, org_unit_code="DC"), F.Account, login=OFFICER))
    return out


def ledger_spending(db, where="true", *args):
    return one(db, "SELECT coalesce(sum(d.amount), 0) FROM fund_disbursements d JOIN fund_accounts f"
                   " ON f.id = d.fund_account_id JOIN org_units g ON g.id = f.org_unit_id"
                   " WHERE d.state = 'posted' AND " + where, *args)


# ---------------------------------------------------------------- spending


def test_spending_report_matches_the_ledger(server, db):
    t0 = time.monotonic()
    r = ok(rcall(server, "SpendingReport", R.SpendingReportRequest()))
    ms = (time.monotonic() - t0) * 1000
    print("\n[reports] spending report, %d rows by grid/category/month: %.1f ms" % (len(r.rows), ms))
    assert r.total == ledger_spending(db) > 0
    assert r.disbursements == one(db, "SELECT count(*) FROM fund_disbursements WHERE state = 'posted'")
    assert sum(x.amount for x in r.rows) == r.total
    assert all(x.unit_code.startswith("GR") and x.category and len(x.period) == 7 for x in r.rows)
    by_street = ok(rcall(server, "SpendingReport", R.SpendingReportRequest(group_by="street")))
    assert by_street.total == r.total and {x.unit_code for x in by_street.rows} <= {"ST0%d" % i for i in range(1, 7)}
    by_month = ok(rcall(server, "SpendingReport", R.SpendingReportRequest(group_by="month")))
    assert by_month.total == r.total and len({x.period for x in by_month.rows}) == len(by_month.rows)
    by_cat = ok(rcall(server, "SpendingReport", R.SpendingReportRequest(group_by="category", category="subsidies")))
    assert {x.category for x in by_cat.rows} == {"subsidies"}
    cm = ok(rcall(server, "SpendingReport", R.SpendingReportRequest(org_unit_code="CM01", group_by="community")))
    assert {x.unit_code for x in cm.rows} == {"CM01"}
    assert cm.total == ledger_spending(db, "g.path <@ (SELECT path FROM org_units WHERE code = 'CM01')")
    months = sorted({x.period for x in by_month.rows})
    win = ok(rcall(server, "SpendingReport", R.SpendingReportRequest(from_period=months[1], to_period=months[2],
                                                                     group_by="month")))
    assert sorted(x.period for x in win.rows) == months[1:3]


def test_spending_follows_postings_and_reversals(server, db, payees):
    def cell():
        rows = ok(rcall(server, "SpendingReport", R.SpendingReportRequest(
            org_unit_code="GR150", category="emergency", from_period="2026-02", to_period="2026-02"))).rows
        return (rows[0].amount, rows[0].disbursements) if rows else (0, 0)
    before = cell()
    d = pay(server, "GR150", "T-LATE", 12_345, category="emergency", period="2026-02")
    assert cell() == (before[0] + 12_345, before[1] + 1)
    move(server, "PrepareReversal", posting_id=d.posting_id, reason="paid twice")
    assert cell() == before
    v = ok(server.call("FundService/VerifyLedger", F.VerifyLedgerRequest(), F.VerifyLedgerResponse, login="auditor"))
    assert v.ok, v.problems[:5]


def test_verify_ledger_detects_a_tampered_spending_summary(server, db):
    db.execute("UPDATE fund_spending SET amount = amount + 1 WHERE (org_unit_id, category, month) ="
               " (SELECT org_unit_id, category, month FROM fund_spending ORDER BY 1, 2, 3 LIMIT 1)")
    try:
        v = ok(server.call("FundService/VerifyLedger", F.VerifyLedgerRequest(), F.VerifyLedgerResponse,
                           login="auditor"))
        assert not v.ok and any("spending summary" in p for p in v.problems)
    finally:
        db.execute("UPDATE fund_spending SET amount = amount - 1 WHERE (org_unit_id, category, month) ="
                   " (SELECT org_unit_id, category, month FROM fund_spending ORDER BY 1, 2, 3 LIMIT 1)")


# ---------------------------------------------------------------- budgets, balances, register


def test_budget_utilisation(server, db):
    month = one(db, "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM')")
    r = ok(rcall(server, "BudgetUtilisation", R.BudgetUtilisationRequest(period=month)))
    assert len(r.rows) == 208 * 5
    u = [x.utilisation for x in r.rows]
    assert u == sorted(u, reverse=True)
    assert r.total_amount == sum(x.amount for x in r.rows)
    assert all(x.remaining == x.amount - x.spent - x.pending for x in r.rows)
    year = month[:4]
    y = ok(rcall(server, "BudgetUtilisation", R.BudgetUtilisationRequest(period=year, category="subsidies",
                                                                         org_unit_code="CM01")))
    assert y.rows and all(x.category == "subsidies" and x.period == year for x in y.rows)
    assert y.total_spent > 0  # the demo's six months of subsidy
    hi = ok(rcall(server, "BudgetUtilisation", R.BudgetUtilisationRequest(min_utilisation=0.3)))
    assert all(x.utilisation >= 0.3 for x in hi.rows)


def test_balances(server, db):
    r = ok(rcall(server, "Balances", R.BalancesRequest(kind="grid_fund")))
    assert len(r.rows) >= 208 and all(x.kind == "grid_fund" for x in r.rows)
    assert r.total_balance == one(db, "SELECT sum(balance) FROM fund_accounts WHERE kind = 'grid_fund'")
    src = ok(rcall(server, "Balances", R.BalancesRequest(kind="source"))).rows
    assert {"SRC-DISTRICT", "SRC-CITY"} <= {x.account_code for x in src}
    every = ok(rcall(server, "Balances", R.BalancesRequest(nonzero_only=True))).rows
    assert "EXTERNAL" not in {x.account_code for x in every}
    assert all(x.balance or x.pending for x in every)
    st = ok(rcall(server, "Balances", R.BalancesRequest(org_unit_code="ST02", kind="grid_fund"))).rows
    n = one(db, "SELECT count(*) FROM org_units g, org_units s WHERE s.code = 'ST02' AND g.kind = 'grid'"
                " AND g.path <@ s.path")
    assert len(st) == n


def test_disbursement_register(server, db):
    r = ok(rcall(server, "DisbursementRegister", R.DisbursementRegisterRequest(page_size=500)))
    assert len(r.rows) == 500 and r.next_page_token
    ids = [x.id for x in r.rows]
    assert ids == sorted(ids)
    x = r.rows[0]
    assert x.preparer == OFFICER and x.approver == APPROVER and x.posted_by == APPROVER
    assert x.prepared_at <= x.approved_at <= x.posted_at and x.programme_code == "GL-SUBSIDY"
    nxt = ok(rcall(server, "DisbursementRegister", R.DisbursementRegisterRequest(page_size=500,
                                                                                 page_token=r.next_page_token)))
    assert nxt.rows[0].id > ids[-1]
    total = one(db, "SELECT count(*) FROM fund_disbursements")
    allrows = ok(rcall(server, "DisbursementRegister", R.DisbursementRegisterRequest(page_size=10000))).rows
    assert len(allrows) == total
    posted = ok(rcall(server, "DisbursementRegister", R.DisbursementRegisterRequest(
        state="posted", category="activities", page_size=10000))).rows
    assert posted and all(x.state == "posted" and x.category == "activities" for x in posted)
    assert rcall(server, "DisbursementRegister", R.DisbursementRegisterRequest(
        page_token="abc"))[1] == Code.INVALID_ARGUMENT


# ---------------------------------------------------------------- review flags


def test_review_flags_find_planted_patterns(server, db, payees):
    # split: three payments of 9,000 yuan within a week to one payee from one grid (threshold 10,000 yuan)
    move(server, "PrepareAllocation", source_code="SRC-DISTRICT", grid_code="GR050", amount=5_000_000,
         memo="flags test")
    split = [pay(server, "GR050", "T-SUPPLIER", 900_000, category="material_purchases", period="2025-11")
             for _ in range(3)]
    # one payee paid from four grids
    roam = [pay(server, g, "T-ROAMER", 5_000, period="2026-04") for g in ("GR060", "GR061", "GR062", "GR063")]
    # late spending against a nearly full budget: March 2025 budget, payments approved on its last days
    gid = one(db, "SELECT id FROM org_units WHERE code = 'GR070'")
    one(db, "SELECT fund_set_budget(1, '1', %s, '2025-03', 'activities', 100000)", gid)
    late = [pay(server, "GR070", "T-LATE", a, period="2025-03") for a in (40_000, 55_000)]
    db.execute("UPDATE fund_disbursements SET approved_at = timestamptz '2025-03-29 10:00:00+00'"
               " WHERE id = ANY(%s)", ([d.id for d in late],))
    # a payment far below the threshold is no split
    pay(server, "GR050", "T-SUPPLIER", 100_000, category="material_purchases", period="2025-11")

    flags = ok(rcall(server, "ReviewFlags", R.ReviewFlagsRequest())).flags
    s = [f for f in flags if f.kind == "split"]
    assert len(s) == 1 and s[0].grid_code == "GR050" and s[0].payee_code == "T-SUPPLIER"
    assert s[0].count == 3 and s[0].amount == 2_700_000
    assert sorted(map(int, s[0].disbursement_ids.split())) == sorted(d.id for d in split)
    assert "just under the approval threshold" in s[0].reason
    m = [f for f in flags if f.kind == "many_grids"]
    assert len(m) == 1 and m[0].payee_code == "T-ROAMER" and m[0].count == 4 and "4 grid funds" in m[0].reason
    # the late ones are outside the default 90 days; ask for March 2025
    old = ok(rcall(server, "ReviewFlags", R.ReviewFlagsRequest(from_date="2025-03-01", to_date="2025-03-31"))).flags
    lf = [f for f in old if f.kind == "late_full"]
    assert len(lf) == 1 and lf[0].budget == "GR070/2025-03/activities" and lf[0].count == 2
    assert "95% used" in lf[0].reason and lf[0].amount == 95_000
    # thresholds are the reviewer's: a higher threshold makes the split disappear
    assert not [f for f in ok(rcall(server, "ReviewFlags", R.ReviewFlagsRequest(
        approval_threshold=5_000_000))).flags if f.kind == "split"]
    assert not [f for f in ok(rcall(server, "ReviewFlags", R.ReviewFlagsRequest(many_grids=5))).flags
                if f.kind == "many_grids"]
    # a street sees the flags of its grids only
    st = {f.grid_code for f in ok(rcall(server, "ReviewFlags", R.ReviewFlagsRequest(org_unit_code="ST01"))).flags}
    assert "GR050" not in st or one(db, "SELECT g.path <@ s.path FROM org_units g, org_units s"
                                        " WHERE g.code = 'GR050' AND s.code = 'ST01'")
    r = rcall(server, "ReviewFlags", R.ReviewFlagsRequest(from_date="2025-04-01", to_date="2025-03-01"))
    assert r[1] == Code.INVALID_ARGUMENT
    r = rcall(server, "ReviewFlags", R.ReviewFlagsRequest(full_ratio=1.5))
    assert r[1] == Code.INVALID_ARGUMENT and "full_ratio" in r[2]


# ---------------------------------------------------------------- exports


@pytest.mark.parametrize("args", [
    ["spending-report", "--group-by", "street"],
    ["budget-utilisation", "--category", "subsidies", "--org-unit-code", "CM01"],
    ["balances", "--kind", "source"],
    ["disbursement-register", "--page-size", "50"],
    ["review-flags"],
])
def test_every_report_exports_csv_through_the_cli(cli, args):
    rc, out, err = cli("--csv", "fund-report", *args, login="auditor")
    assert rc == 0, err
    rows = list(csv.reader(io.StringIO(out)))
    assert rows and len(rows[0]) > 2
    assert all(len(r) == len(rows[0]) for r in rows)
    if args[0] != "review-flags":
        assert len(rows) > 1


def test_html_report_is_self_contained_and_well_formed(server, cli, tmp_path):
    t0 = time.monotonic()
    r = ok(rcall(server, "ExportHtmlReport", R.ExportHtmlReportRequest(), login=OFFICER))
    print("\n[reports] HTML report %d bytes in %.0f ms" % (len(r.html), (time.monotonic() - t0) * 1000))
    html = r.html
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert html.count("<svg") == 2 and "Spending over time" in html and "Budget use by grid" in html
    low = html.lower()
    assert "<script" not in low and "src=" not in low and "@import" not in low and "href=" not in low
    assert "http://" not in low.replace('xmlns="http://www.w3.org/2000/svg"', "")

    class Checker(HTMLParser):
        void = {"meta", "br", "hr", "img", "input", "link", "line", "rect"}

        def __init__(self):
            super().__init__()
            self.stack, self.errors = [], []

        def handle_starttag(self, tag, attrs):
            if tag not in self.void:
                self.stack.append(tag)

        def handle_startendtag(self, tag, attrs):
            pass

        def handle_endtag(self, tag):
            if tag in self.void:
                return
            if not self.stack or self.stack[-1] != tag:
                self.errors.append("unexpected </%s> with %s open" % (tag, self.stack[-3:]))
            else:
                self.stack.pop()

    ch = Checker()
    ch.feed(html)
    ch.close()
    assert not ch.errors, ch.errors[:3]
    assert ch.stack == [], ch.stack
    # the CLI gets it too (--json, then the html field)
    rc, out, err = cli("--json", "fund-report", "export-html-report", "--org-unit-code", "ST01",
                       "--title", "<Sanliping & co>", login="auditor")
    assert rc == 0, err
    doc = json.loads(out)["html"]
    assert "&lt;Sanliping &amp; co&gt;" in doc and "<Sanliping" not in doc
    (tmp_path / "report.html").write_text(doc)


# ---------------------------------------------------------------- scope, roles, errors


def test_scope_and_roles(server, db):
    db.execute("INSERT INTO users (login, display_name, role, scope_id) VALUES"
               " ('fin.st04', 'ST04 finance', 'finance_officer', (SELECT id FROM org_units WHERE code = 'ST04'))"
               " ON CONFLICT DO NOTHING")
    mine = {r[0] for r in db.execute("SELECT g.code FROM org_units g, org_units s WHERE s.code = 'ST04'"
                                     " AND g.kind = 'grid' AND g.path <@ s.path")}
    sp = ok(rcall(server, "SpendingReport", R.SpendingReportRequest(), login="fin.st04"))
    assert sp.rows and {x.unit_code for x in sp.rows} <= mine
    reg = ok(rcall(server, "DisbursementRegister", R.DisbursementRegisterRequest(page_size=10000),
                   login="fin.st04")).rows
    assert reg and {x.grid_code for x in reg} <= mine
    bal = ok(rcall(server, "Balances", R.BalancesRequest(), login="fin.st04")).rows
    assert {x.org_unit_code for x in bal if x.kind == "grid_fund"} == mine
    assert "SRC-DISTRICT" not in {x.account_code for x in bal}
    bu = ok(rcall(server, "BudgetUtilisation", R.BudgetUtilisationRequest(), login="fin.st04")).rows
    assert {x.grid_code for x in bu} <= mine
    assert rcall(server, "SpendingReport", R.SpendingReportRequest(org_unit_code="ST01"),
                 login="fin.st04")[1] == Code.NOT_FOUND
    html = ok(rcall(server, "ExportHtmlReport", R.ExportHtmlReportRequest(), login="fin.st04")).html
    assert "GR001" not in html
    for login in ("leader.gr001", "staff.cm01", "logi.st01", "logi.district"):
        for method, req in (("SpendingReport", R.SpendingReportRequest()), ("Balances", R.BalancesRequest()),
                            ("ExportHtmlReport", R.ExportHtmlReportRequest()),
                            ("DisbursementRegister", R.DisbursementRegisterRequest())):
            assert rcall(server, method, req, login=login)[1] == Code.PERMISSION_DENIED, (login, method)
    assert rcall(server, "SpendingReport", R.SpendingReportRequest(), login="point.cm01")[1] == Code.OK


def test_error_paths(server):
    def bad(method, req, field):
        r = rcall(server, method, req)
        assert r[1] == Code.INVALID_ARGUMENT and field in r[2], r
    bad("SpendingReport", R.SpendingReportRequest(from_period="2026-13"), "from_period")
    bad("SpendingReport", R.SpendingReportRequest(to_period="2026"), "to_period")
    bad("SpendingReport", R.SpendingReportRequest(group_by="planet"), "group_by")
    bad("SpendingReport", R.SpendingReportRequest(category="bonuses"), "category")
    bad("BudgetUtilisation", R.BudgetUtilisationRequest(period="2026-Q5"), "period")
    bad("BudgetUtilisation", R.BudgetUtilisationRequest(min_utilisation=2), "min_utilisation")
    bad("Balances", R.BalancesRequest(kind="wallet"), "kind")
    bad("DisbursementRegister", R.DisbursementRegisterRequest(state="paid"), "state")
    bad("DisbursementRegister", R.DisbursementRegisterRequest(page_size=20000), "page_size")
    bad("ReviewFlags", R.ReviewFlagsRequest(from_date="yesterday"), "from_date")
    bad("ReviewFlags", R.ReviewFlagsRequest(window_days=-1), "window_days")
    bad("ExportHtmlReport", R.ExportHtmlReportRequest(from_period="2026-05", to_period="2026-01"), "from_period")
    bad("ExportHtmlReport", R.ExportHtmlReportRequest(title="x" * 201), "title")
    r = rcall(server, "SpendingReport", R.SpendingReportRequest(org_unit_code="NOWHERE"))
    assert r[1] == Code.NOT_FOUND


def test_ledger_clean_at_the_end(server):
    v = ok(server.call("FundService/VerifyLedger", F.VerifyLedgerRequest(), F.VerifyLedgerResponse, login="auditor"))
    assert v.ok, v.problems[:5]
