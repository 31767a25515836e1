"""The fund ledger's write path is the only path (issue 17, migration 095): the application
role may read fund_programme_runs, fund_programme_run_items, fund_disbursements,
fund_budget_charges, fund_postings and fund_entries but not write them; the functions that
write them are SECURITY DEFINER with a fixed search_path; a server running as the role
still runs, approves and posts a programme run, prepares, approves, posts and reverses a
disbursement, and pays a deposit and an allocation; and what the dropped foreign keys
guaranteed still holds: a run or disbursement naming a missing programme, fund or payee
is refused by its function, every run item names a run, payee, grid and disbursement that
exist, and an entry naming a missing account or posting is refused by the ledger's own
statement trigger even past the role."""
import os
import uuid

import grpc
import psycopg
import pytest
from psycopg import errors

from gridstock.v1 import funds_pb2 as F
from gridstock.v1 import programmes_pb2 as P
from harness import paths
from harness.money import move, step
from harness.sql import one

Code = grpc.StatusCode
ROLE = "gs_app_fundpath"
OFFICER, APPROVER = "fin.officer", "fin.approver"
TABLES = ("fund_programme_runs", "fund_programme_run_items", "fund_disbursements", "fund_budget_charges",
          "fund_postings", "fund_entries")
WRITES = r"(insert\s+into|update|delete\s+from)\s+(%s)\M" % "|".join(TABLES)


@pytest.fixture(scope="module")
def app(gs_env, pg):
    paths.run([paths.pg_tool("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-v", "app_role=" + ROLE,
               "-h", pg.host, "-p", str(pg.port), "-U", "postgres", "-d", gs_env.dbname,
               "-f", os.path.join(paths.SOURCE_DIR, "sql", "roles.sql")])
    return "host=%s port=%d dbname=%s user=%s" % (pg.host, pg.port, gs_env.dbname, ROLE)


@pytest.fixture(scope="module")
def appsrv(gs_env, app):
    from harness import server as srvmod

    s = srvmod.Server(gs_env, db=app, migrate=False).start()
    yield s
    assert s.stop() == 0, s.log()[-3000:]


@pytest.fixture
def appdb(app):
    conn = psycopg.connect(app, autocommit=True)
    yield conn
    conn.close()


def ok(result):
    resp, code, details = result
    assert code == Code.OK, "%s: %s" % (code, details)
    return resp


def pcall(server, method, req, cls, login=OFFICER):
    return server.call("ProgrammeService/" + method, req, cls, login=login)


def dcall(server, method, req, login=OFFICER):
    return server.call("DisbursementService/" + method, req, F.Disbursement, login=login)


def test_the_role_cannot_write_the_ledger_tables(appdb, db):
    for t in TABLES:
        priv = appdb.execute("SELECT has_table_privilege(%s, 'SELECT'), has_table_privilege(%s, 'INSERT'),"
                             " has_table_privilege(%s, 'UPDATE'), has_table_privilege(%s, 'DELETE')",
                             (t, t, t, t)).fetchone()
        assert priv == (True, False, False, False), (t, priv)
    run = one(db, "SELECT id FROM fund_programme_runs ORDER BY id LIMIT 1")
    attempts = [
        "INSERT INTO fund_programme_runs (programme_id, period, pay_period, created_by) VALUES (1, '2031-01',"
        " '2031-01', 1)",
        "INSERT INTO fund_programme_run_items (run_id, payee_account_id, grid_id, gross, net)"
        " VALUES (987654321, 987654321, 987654321, 0, 0)",
        "UPDATE fund_programme_run_items SET net = net WHERE run_id = %d" % (run or 0),
        "INSERT INTO fund_disbursements (fund_account_id, payee_account_id, category, amount, purpose, period,"
        " preparer_id) VALUES (987654321, 987654322, 'subsidies', 1, 'forged', '2031-01', 1)",
        "UPDATE fund_disbursements SET purpose = purpose",
        "DELETE FROM fund_budget_charges",
        "INSERT INTO fund_budget_charges (budget_id, disbursement_id, amount) VALUES (1, 1, 1)",
        "INSERT INTO fund_postings (kind, memo, created_by) VALUES ('deposit', 'forged', 1)",
        "INSERT INTO fund_entries (posting_id, account_id, amount) VALUES (1, 987654321, 5)",
    ]
    for sql in attempts:
        with pytest.raises(errors.InsufficientPrivilege) as e:
            appdb.execute(sql)
        assert "permission denied for table" in str(e.value), (sql, str(e.value))
    # budget charges name budgets without a foreign key (097): no budget is deleted
    assert appdb.execute("SELECT has_table_privilege('fund_budgets', 'DELETE')").fetchone()[0] is False
    with pytest.raises(errors.InsufficientPrivilege):
        appdb.execute("DELETE FROM fund_budgets")


def test_every_writer_of_the_ledger_tables_is_security_definer(db):
    rows = db.execute("SELECT p.oid::regprocedure::text, p.prosecdef, coalesce(p.proconfig, '{}')"
                      " FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace AND p.prosrc ~* %s"
                      " ORDER BY 1", (WRITES,)).fetchall()
    names = [r[0] for r in rows]
    for n in ("fund_post(", "fund_programme_run(", "fund_run_approve(", "fund_run_post(",
              "fund_disbursement_prepare(", "fund_disbursement_post(", "fund_reverse("):
        assert any(x.startswith(n) for x in names), (n, names)
    bad = [(n, d, c) for n, d, c in rows if not d or "search_path=public, pg_temp" not in c]
    assert bad == [], "functions that write the fund ledger must be SECURITY DEFINER with" \
                      " SET search_path = public, pg_temp (migration 095): %r" % bad


def test_only_the_role_may_call_the_owners_functions(app, db):
    """roles.sql takes EXECUTE on every SECURITY DEFINER function from PUBLIC: a role that can
    connect but is not the application role cannot write the ledger through them."""
    rows = db.execute("SELECT p.oid::regprocedure::text,"
                      " has_function_privilege(%s, p.oid, 'EXECUTE'),"
                      " EXISTS (SELECT FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a"
                      "          WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE')"
                      " FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace AND p.prosecdef"
                      " ORDER BY 1", (ROLE,)).fetchall()
    assert any(n.startswith("fund_post(") for n, _, _ in rows), rows
    assert any(n.startswith("audit_seal_append(") for n, _, _ in rows), rows
    assert [n for n, role_may, _ in rows if not role_may] == []
    assert [n for n, _, public_may in rows if public_may] == []


def test_a_programme_run_approved_and_posted_by_the_role(appsrv, db):
    code = "T-PATH-" + uuid.uuid4().hex[:6].upper()
    prog = ok(pcall(appsrv, "CreateProgramme", P.CreateProgrammeRequest(
        code=code, name="Write path " + code, kind="grid_leader_subsidy", category="subsidies", amount=1_500,
        org_unit_code="ST03"), P.Programme))
    grids = one(db, "SELECT count(*) FROM org_units g, org_units s WHERE s.code = 'ST03' AND g.kind = 'grid'"
                    " AND g.path <@ s.path")
    grid = one(db, "SELECT g.code FROM org_units g, org_units s WHERE s.code = 'ST03' AND g.kind = 'grid'"
                   " AND g.path <@ s.path ORDER BY g.code LIMIT 1")
    ok(appsrv.call("FundService/SetBudget", F.SetBudgetRequest(grid_code=grid, period="2030", category="subsidies",
                                                               amount=1_000_000), F.Budget, login=OFFICER))
    run = ok(pcall(appsrv, "RunProgramme", P.RunProgrammeRequest(programme_id=prog.id, period="2030-05"),
                   P.ProgrammeRun))
    assert run.items == grids > 0 and run.created_now == grids
    # again: nobody paid twice
    again = ok(pcall(appsrv, "RunProgramme", P.RunProgrammeRequest(programme_id=prog.id, period="2030-05"),
                     P.ProgrammeRun))
    assert (again.id, again.created_now, again.existing) == (run.id, 0, grids)
    # what the dropped foreign keys of the run items guaranteed, checked row by row
    assert one(db, "SELECT count(*) FROM fund_programme_run_items i"
                   " JOIN fund_programme_runs r ON r.id = i.run_id"
                   " JOIN fund_accounts a ON a.id = i.payee_account_id AND a.kind = 'payee'"
                   " JOIN org_units g ON g.id = i.grid_id AND g.kind = 'grid'"
                   " JOIN fund_disbursements d ON d.id = i.disbursement_id"
                   " JOIN fund_accounts f ON f.id = d.fund_account_id AND f.org_unit_id = g.id"
                   " AND d.payee_account_id = a.id WHERE i.run_id = %s", run.id) == grids
    a = ok(pcall(appsrv, "ApproveRun", P.ApproveRunRequest(id=run.id, expected_count=grids,
                                                            expected_total=run.total), P.ProgrammeRun, login=APPROVER))
    assert a.approved == grids
    # what the dropped foreign keys of the budget charges guaranteed (097)
    assert one(db, "SELECT count(*) FROM fund_budget_charges c JOIN fund_programme_run_items i"
                   " ON i.disbursement_id = c.disbursement_id WHERE i.run_id = %s", run.id) == 1
    assert one(db, "SELECT count(*) FROM fund_budget_charges c"
                   " LEFT JOIN fund_budgets b ON b.id = c.budget_id"
                   " LEFT JOIN fund_disbursements d ON d.id = c.disbursement_id"
                   " WHERE b.id IS NULL OR d.id IS NULL") == 0
    p = ok(pcall(appsrv, "PostRun", P.PostRunRequest(id=run.id), P.ProgrammeRun, login=APPROVER))
    assert p.posted == grids and p.total_posted == run.total
    # every posting of the run: two entries, on the disbursement's fund and payee, summing to zero
    assert one(db, "SELECT count(*) FROM fund_disbursements d JOIN fund_programme_run_items i"
                   " ON i.disbursement_id = d.id JOIN fund_postings fp ON fp.id = d.posting_id"
                   " AND fp.disbursement_id = d.id"
                   " WHERE i.run_id = %s AND (SELECT count(*) FROM fund_entries e WHERE e.posting_id = fp.id"
                   " AND ((e.account_id = d.fund_account_id AND e.amount = -d.amount)"
                   " OR (e.account_id = d.payee_account_id AND e.amount = d.amount))) = 2", run.id) == grids
    v = ok(appsrv.call("FundService/VerifyLedger", F.VerifyLedgerRequest(), F.VerifyLedgerResponse, login="auditor"))
    assert v.ok, v.problems[:5]


def test_missing_programme_fund_or_payee_is_refused_by_the_function(appsrv, db):
    r = pcall(appsrv, "RunProgramme", P.RunProgrammeRequest(programme_id=987654321, period="2030-05"),
              P.ProgrammeRun)
    assert r[1] == Code.NOT_FOUND and "programme 987654321 not found" in r[2], r
    payee = one(db, "SELECT id FROM fund_accounts WHERE kind = 'payee' ORDER BY id LIMIT 1")
    before = one(db, "SELECT count(*) FROM fund_disbursements")
    r = dcall(appsrv, "PrepareDisbursement", F.PrepareDisbursementRequest(
        grid_code="GR001", payee_account_id=987654321, category="subsidies", amount=100, purpose="x",
        period="2030-05"))
    assert r[1] == Code.NOT_FOUND and "account 987654321 not found" in r[2], r
    r = dcall(appsrv, "PrepareDisbursement", F.PrepareDisbursementRequest(
        grid_code="GR999", payee_account_id=payee, category="subsidies", amount=100, purpose="x", period="2030-05"))
    assert r[1] == Code.NOT_FOUND, r
    assert one(db, "SELECT count(*) FROM fund_disbursements") == before


def test_the_functions_themselves_refuse_missing_rows(appdb, db):
    """Called straight by the role (past the server's own look-ups), the writers refuse a
    programme, fund or payee that does not exist — what the dropped foreign keys refused."""
    user, scope = db.execute("SELECT u.id, ou.path::text FROM users u JOIN org_units ou ON ou.id = u.scope_id"
                             " WHERE u.login = %s", (OFFICER,)).fetchone()
    fund = one(db, "SELECT id FROM fund_accounts WHERE code = 'GF-GR001'")
    payee = one(db, "SELECT id FROM fund_accounts WHERE kind = 'payee' ORDER BY id LIMIT 1")
    before = db.execute("SELECT (SELECT count(*) FROM fund_disbursements), (SELECT count(*) FROM fund_programme_runs),"
                        " (SELECT count(*) FROM fund_programme_run_items)").fetchone()
    calls = [
        ("SELECT * FROM fund_programme_run(%s, %s::ltree, 987654321, '2030-06', '2030-06', 'r1')",
         (user, scope), "programme 987654321 not found"),
        ("SELECT fund_disbursement_prepare(%s, %s::ltree, %s, 987654321, 'subsidies', 100, 'x', '2030-06')",
         (user, scope, fund), "payee account 987654321 not found"),
        ("SELECT fund_disbursement_prepare(%s, %s::ltree, 987654321, %s, 'subsidies', 100, 'x', '2030-06')",
         (user, scope, payee), "account 987654321 not found"),
    ]
    for sql, args, text in calls:
        with pytest.raises(psycopg.Error) as e:
            appdb.execute(sql, args)
        assert e.value.sqlstate == "GS404" and text in str(e.value), (sql, e.value.sqlstate, str(e.value))
    after = db.execute("SELECT (SELECT count(*) FROM fund_disbursements), (SELECT count(*) FROM fund_programme_runs),"
                       " (SELECT count(*) FROM fund_programme_run_items)").fetchone()
    assert after == before


def test_disbursement_life_and_movements_under_the_role(appsrv, db):
    payee = one(db, "SELECT id FROM fund_accounts WHERE kind = 'payee' ORDER BY id LIMIT 1")
    src = one(db, "SELECT id FROM fund_accounts WHERE kind = 'source' ORDER BY id LIMIT 1")
    dep = move(appsrv, "PrepareDeposit", source_account_id=src, amount=70_000, memo="write path")
    alloc = move(appsrv, "PrepareAllocation", source_account_id=src, grid_code="GR007", amount=50_000, memo="wp")
    assert dep.state == alloc.state == "posted"
    d = ok(dcall(appsrv, "PrepareDisbursement", F.PrepareDisbursementRequest(
        grid_code="GR007", payee_account_id=payee, category="subsidies", amount=4_200, purpose="write path",
        period="2030-05")))
    d = ok(dcall(appsrv, "UpdateDisbursement", F.UpdateDisbursementRequest(id=d.id, amount=4_300,
                                                                          update_mask=["amount"])))
    ok(dcall(appsrv, "ApproveDisbursement", F.ApproveDisbursementRequest(id=d.id), login=APPROVER))
    d = ok(dcall(appsrv, "PostDisbursement", F.PostDisbursementRequest(id=d.id), login=APPROVER))
    assert d.state == "posted" and d.posting_id > 0
    assert one(db, "SELECT disbursement_id FROM fund_postings WHERE id = %s", d.posting_id) == d.id
    rev = move(appsrv, "PrepareReversal", posting_id=d.posting_id, reason="write path test")
    assert rev.state == "posted"
    assert one(db, "SELECT state FROM fund_disbursements WHERE id = %s", d.id) == "reversed"
    v = ok(appsrv.call("FundService/VerifyLedger", F.VerifyLedgerRequest(), F.VerifyLedgerResponse, login="auditor"))
    assert v.ok, v.problems[:5]


def test_entries_naming_a_missing_account_or_posting_are_refused_past_the_role(db):
    """The foreign keys of fund_entries went; the ledger's statement trigger checks the same
    for every INSERT, even the schema owner's, and nothing is written."""
    acc = one(db, "SELECT id FROM fund_accounts WHERE code = 'EXTERNAL'")
    src = one(db, "SELECT id FROM fund_accounts WHERE kind = 'source' ORDER BY id LIMIT 1")
    before = one(db, "SELECT count(*) FROM fund_entries")
    with pytest.raises(errors.ForeignKeyViolation) as e:
        db.execute("WITH p AS (INSERT INTO fund_postings (kind, memo, created_by) VALUES ('deposit', 'x', 1)"
                   " RETURNING id) INSERT INTO fund_entries (posting_id, account_id, amount)"
                   " SELECT id, x.a, x.m FROM p, (VALUES (%s::bigint, -5::bigint), (987654321, 5)) x(a, m)", (acc,))
    assert "account 987654321 not found" in str(e.value), str(e.value)
    with pytest.raises(errors.ForeignKeyViolation) as e:
        db.execute("INSERT INTO fund_entries (posting_id, account_id, amount) VALUES (987654321, %s, -5),"
                   " (987654321, %s, 5)", (acc, src))
    assert "posting 987654321 not found" in str(e.value), str(e.value)
    assert one(db, "SELECT count(*) FROM fund_entries") == before
