"""The rich error model: every non-OK status carries a google.rpc.Status in its
grpc-status-details-bin trailer, with an ErrorInfo (a stable reason, domain "gridstock",
metadata) and, for invalid input, a BadRequest naming the field. Read here with the standard
messages only (gen_py/google/rpc), from unary calls, streams, the transport's own answers and
the database's refusals; the reason list, the SQL reason table and docs/errors.md agree; the
CLI shows the reason in the user's language."""
import os
import re

import grpc
import psycopg
import pytest
from psycopg import errors

from google.rpc import error_details_pb2 as E
from gridstock.v1 import funds_pb2 as F
from gridstock.v1 import reports_pb2 as R
from gridstock.v1 import sites_pb2 as S
from gridstock.v1 import stock_pb2 as K
from harness import paths

Code = grpc.StatusCode


def unpack(status):
    """(ErrorInfo, BadRequest or None) from a google.rpc.Status."""
    info, bad = None, None
    for any_ in status.details:
        if any_.Is(E.ErrorInfo.DESCRIPTOR):
            info = E.ErrorInfo()
            any_.Unpack(info)
        elif any_.Is(E.BadRequest.DESCRIPTOR):
            bad = E.BadRequest()
            any_.Unpack(bad)
    return info, bad


def failed(server, path, request, code, reason, **kw):
    """Calls, checks the status and its details, returns (ErrorInfo, BadRequest)."""
    got, details, status = server.call_status(path, request, **kw)
    assert got == code, (got, details)
    assert status is not None, "no grpc-status-details-bin on %s %s" % (code, details)
    assert status.code == code.value[0] and status.message == details
    info, bad = unpack(status)
    assert info is not None, status
    assert info.domain == "gridstock"
    assert info.reason == reason, (info, details)
    return info, bad


def test_a_validator_names_the_field(server):
    _, bad = failed(server, "StockService/Receive",
                    K.ReceiveRequest(site_code="RP01", item_code="WATER-5L", qty=0, lot_code="E1",
                                     expires_on="2030-01-01"),
                    Code.INVALID_ARGUMENT, "FIELD_OUT_OF_RANGE", login="admin")
    assert [(v.field, v.description) for v in bad.field_violations] == [
        ("qty", "must be between 1 and 1000000000, got 0")]


def test_a_message_that_starts_with_a_field_names_it(server):
    _, bad = failed(server, "FundReportService/ExportHtmlReport",
                    R.ExportHtmlReportRequest(from_period="2026-05", to_period="2026-01"),
                    Code.INVALID_ARGUMENT, "FIELD_INVALID", login="auditor")
    assert bad.field_violations[0].field == "from_period"
    assert bad.field_violations[0].description == "after to_period"


def test_page_size_out_of_range(server):
    _, bad = failed(server, "SiteService/ListSites", S.ListSitesRequest(page_size=5000),
                    Code.INVALID_ARGUMENT, "FIELD_OUT_OF_RANGE", login="admin")
    assert bad.field_violations[0].field == "page_size"


def test_not_enough_stock_says_how_much_there_is(server, db):
    on_hand = db.execute(
        "SELECT coalesce(sum(l.on_hand - l.reserved), 0) FROM lots l JOIN sites s ON s.id = l.site_id"
        " JOIN items i ON i.id = l.item_id WHERE s.code = 'RP01' AND i.code = 'WATER-5L'"
        " AND NOT stock_expired(l.expires_on)").fetchone()[0]
    info, bad = failed(server, "StockService/Issue",
                       K.IssueRequest(site_code="RP01", item_code="WATER-5L", qty=1_000_000_000),
                       Code.FAILED_PRECONDITION, "STOCK_INSUFFICIENT", login="admin")
    assert bad is None
    md = dict(info.metadata)
    assert md["item"] == "WATER-5L" and md["site"] == "RP01", md
    assert md["requested"] == "1000000000" and int(md["available"]) == on_hand, (md, on_hand)


def test_money_refusals_say_why(server, db):
    available = db.execute("SELECT balance - pending FROM fund_accounts WHERE code = 'SRC-DISTRICT'").fetchone()[0]
    big = server.call_ok("FundMovementService/PrepareAllocation",
                         F.AllocateRequest(source_code="SRC-DISTRICT", grid_code="GR001", amount=available + 1),
                         F.FundMovement, login="fin.officer")
    info, _ = failed(server, "FundMovementService/ApproveMovement", F.FundMovementRequest(id=big.id),
                     Code.FAILED_PRECONDITION, "FUNDS_INSUFFICIENT", login="fin.approver")
    assert dict(info.metadata) == {"account": "source SRC-DISTRICT", "available": "{:,} fen".format(available),
                                   "requested": "{:,} fen".format(available + 1)}, info
    # the preparer cannot approve: a second person is needed (the SQL function says so)
    m = server.call_ok("FundMovementService/PrepareAllocation",
                       F.AllocateRequest(source_code="SRC-DISTRICT", grid_code="GR001", amount=100),
                       F.FundMovement, login="admin")
    info, _ = failed(server, "FundMovementService/ApproveMovement", F.FundMovementRequest(id=m.id),
                     Code.PERMISSION_DENIED, "SECOND_PERSON_REQUIRED", login="admin")
    assert info.metadata["movement"] == str(m.id)
    # posting before approval: the wrong state, with the state it is in
    info, _ = failed(server, "FundMovementService/PostMovement", F.FundMovementRequest(id=m.id),
                     Code.FAILED_PRECONDITION, "WRONG_STATE", login="fin.approver")
    assert dict(info.metadata) == {"movement": str(m.id), "state": "prepared"}, info


def test_every_sql_refusal_has_a_reason(db):
    """Every GS403/GS409 format an installed function raises has its row in error_reasons."""
    known = set(reasons_in_header())
    rows = db.execute("SELECT fmt, reason FROM error_reasons").fetchall()
    assert not {r for _, r in rows if r not in known}
    mapped = {f for f, _ in rows}
    src = "\n".join(r[0] for r in db.execute(
        "SELECT prosrc FROM pg_proc WHERE pronamespace = 'public'::regnamespace").fetchall())
    raised = {m.replace("''", "'") for m in re.findall(
        r"RAISE EXCEPTION\s+'((?:[^']|'')*)'[^;]*?ERRCODE\s*=\s*'GS40[39]'", src, re.S)}
    assert len(raised) > 40, "the RAISE pattern is out of date"
    assert not raised - mapped, sorted(raised - mapped)
    for name in db.execute("SELECT conname FROM pg_constraint WHERE conname ~ '(not_preparer|two_people|not_self_approved)$'"
                           ).fetchall():
        assert "constraint:" + name[0] in mapped, name[0]


def test_a_duplicate_names_its_constraint(server):
    req = S.CreateSiteRequest(code="ERR-DUP", name="Duplicate point", kind="reserve_point",
                              org_unit_code="CM01", lat=31.2, lon=107.46)
    _, code, details = server.call("SiteService/CreateSite", req, S.Site, login="admin")
    assert code == Code.OK, details
    info, _ = failed(server, "SiteService/CreateSite", req, Code.ALREADY_EXISTS, "DUPLICATE", login="admin")
    assert info.metadata["constraint"], info


@pytest.mark.parametrize("how,reason", [
    ("none", "TOKEN_MISSING"),
    ("garbage", "TOKEN_INVALID"),
])
def test_who_is_calling(server, how, reason):
    md = () if how == "none" else (("authorization", "Bearer not.a.token"),)
    failed(server, "SiteService/ListSites", S.ListSitesRequest(), Code.UNAUTHENTICATED, reason, metadata=md)


def test_a_role_that_may_not(server):
    req = S.CreateSiteRequest(code="ERR-ROLE", name="x", kind="reserve_point", org_unit_code="CM01")
    failed(server, "SiteService/CreateSite", req, Code.PERMISSION_DENIED, "ROLE_NOT_ALLOWED", login="auditor")


def test_a_change_without_request_id(server):
    req = S.CreateSiteRequest(code="ERR-RID", name="x", kind="reserve_point", org_unit_code="CM01")
    failed(server, "SiteService/CreateSite", req, Code.INVALID_ARGUMENT, "REQUEST_ID_MISSING", login="admin",
           request_id="")


def test_the_transport_answers_with_details_too(server):
    info, _ = failed(server, "gridstock.v1.SiteService/NoSuchMethod", b"", Code.UNIMPLEMENTED, "UNIMPLEMENTED")
    assert not info.metadata


def test_garbage_bytes(server):
    failed(server, "SiteService/ListSites", b"\xff\xff\xff", Code.INVALID_ARGUMENT, "REQUEST_MALFORMED",
           login="admin")


def test_a_stream_refused_carries_details(server):
    st = server.stream("StockService/WatchStockAlerts", K.WatchStockAlertsRequest(), K.StockAlert)
    with pytest.raises(grpc.RpcError) as e:
        st.next()
    assert e.value.code() == Code.UNAUTHENTICATED
    raw = dict(e.value.trailing_metadata() or ()).get("grpc-status-details-bin")
    assert raw is not None
    from google.rpc import status_pb2
    info, _ = unpack(status_pb2.Status.FromString(raw))
    assert info.reason == "TOKEN_MISSING"


def reasons_in_header():
    text = open(os.path.join(paths.SOURCE_DIR, "lib", "gs_reasons.h"), encoding="utf-8").read()
    return re.findall(r"^\s*X\(([A-Z][A-Z0-9_]*),", text, re.M)


def test_every_sql_reason_is_known_and_every_refusal_has_one(db):
    known = set(reasons_in_header())
    rows = db.execute("SELECT fmt, reason FROM error_reasons").fetchall()
    assert rows
    unknown = {r for _, r in rows if r not in known}
    assert not unknown, unknown
    # every GS409 refusal raised through stock_fail by an installed function has a reason
    mapped = {f for f, _ in rows}
    src = "\n".join(r[0] for r in db.execute(
        "SELECT prosrc FROM pg_proc WHERE pronamespace = 'public'::regnamespace").fetchall())
    fmts = {m.replace("''", "'") for m in re.findall(r"stock_fail\('GS409',\s*'((?:[^']|'')*)'", src)}
    assert fmts, "no stock_fail('GS409', ...) found: the pattern is out of date"
    assert not fmts - mapped, sorted(fmts - mapped)


def test_the_error_reasons_are_written_only_by_migrations(db, pg, gs_env):
    role = "gs_app_errors"
    paths.run([paths.pg_tool("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-v", "app_role=" + role,
               "-h", pg.host, "-p", str(pg.port), "-U", "postgres", "-d", gs_env.dbname,
               "-f", os.path.join(paths.SOURCE_DIR, "sql", "roles.sql")])
    with psycopg.connect("host=%s port=%d dbname=%s user=%s" % (pg.host, pg.port, gs_env.dbname, role),
                         autocommit=True) as app:
        assert app.execute("SELECT count(*) FROM error_reasons").fetchone()[0] > 0
        for sql in ("UPDATE error_reasons SET reason = 'NOT_FOUND'", "DELETE FROM error_reasons",
                    "INSERT INTO error_reasons (fmt, reason) VALUES ('x', 'X')"):
            with pytest.raises(errors.InsufficientPrivilege):
                app.execute(sql)


def test_docs_list_every_reason():
    text = open(os.path.join(paths.SOURCE_DIR, "docs", "errors.md"), encoding="utf-8").read()
    documented = set(re.findall(r"^\| `([A-Z][A-Z0-9_]*)` \|", text, re.M))
    header = set(reasons_in_header())
    assert header - documented == set(), "undocumented: %s" % sorted(header - documented)
    codes = {c.name for c in Code}
    assert documented - header - codes == set(), "documented but not sent: %s" % sorted(documented - header - codes)


def test_the_cli_shows_the_reason_in_the_users_language(cli):
    args = ("stock", "issue", "--site-code", "RP01", "--item-code", "WATER-5L", "--qty", "1000000000")
    rc, _, err = cli(*args, login="admin")
    assert rc != 0
    assert "FAILED_PRECONDITION: not enough WATER-5L at RP01" in err, err
    assert "reason: not enough stock (STOCK_INSUFFICIENT)" in err, err
    assert "requested = 1000000000" in err, err
    rc, _, err = cli("--lang", "zh_CN", *args, login="admin")
    assert rc != 0
    assert "原因：库存不足 (STOCK_INSUFFICIENT)" in err or "原因: 库存不足 (STOCK_INSUFFICIENT)" in err, err
    rc, _, err = cli("stock", "receive", "--site-code", "RP01", "--item-code", "WATER-5L", "--qty", "0",
                     "--lot-code", "E", login="admin")
    assert rc != 0
    assert "field qty: must be between 1 and 1000000000, got 0" in err, err


def test_the_clis_own_json_errors_in_the_users_language(cli):
    args = ("stock", "issue", "--data", '{"qty": "abc"}')
    rc, _, err = cli(*args, login="admin")
    assert rc != 0 and 'qty: expected integer, got "abc"' in err, err
    rc, _, err = cli("--lang", "zh_CN", *args, login="admin")
    assert rc != 0 and 'qty: 应为整数，实际为 "abc"' in err, err
