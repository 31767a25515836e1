"""Bad input corpus: malformed and truncated protobuf, a valid message of another type,
strings over the limits, invalid UTF-8 crafted byte by byte, negative and huge quantities
and amounts (int64 max, sums that would overflow), dates out of range, ids of the wrong
kind, duplicate lines, empty batches, missing and tampered tokens, oversize metadata. Each
gets its status and changes nothing: a checksum of every table (audit log and request log
included) is the same before and after."""
import base64
import os
import sys
import time

import grpc
import pytest

from gridstock.v1 import funds_pb2 as F
from gridstock.v1 import requisitions_pb2 as Q
from gridstock.v1 import sites_pb2 as S
from gridstock.v1 import stock_pb2 as K
from harness.money import move

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_authz_matrix import checksum, diff  # noqa: E402

Code = grpc.StatusCode
INT64_MAX = 2**63 - 1
IA, NF, FP, UN, PD = (Code.INVALID_ARGUMENT, Code.NOT_FOUND, Code.FAILED_PRECONDITION,
                      Code.UNAUTHENTICATED, Code.PERMISSION_DENIED)


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field_bytes(num, raw):
    """A length-delimited field with exactly these bytes (python refuses invalid UTF-8)."""
    return varint(num << 3 | 2) + varint(len(raw)) + raw


def receive(**kw):
    base = dict(site_code="RP01", item_code="WATER-5L", qty=5, lot_code="BAD-1", expires_on="2030-01-01")
    base.update(kw)
    return K.ReceiveRequest(**base)


@pytest.fixture(scope="module")
def world(server):
    """Stock at RP01 and money in a source account, so the refusals below are about the
    input and not about an empty database."""
    r = server.call("StockService/Receive", receive(qty=100, lot_code="BASE"), K.ReceiveResponse, login="admin")
    assert r[1] == Code.OK, r
    src = server.call_ok("FundService/CreateAccount", F.CreateAccountRequest(kind="source", code="SRC-BAD",
                                                                            name="Bad input source"), F.Account,
                         login="fin.officer")
    move(server, "PrepareDeposit", source_code="SRC-BAD", amount=1_000_000)
    return {"source": src.id}


@pytest.fixture
def unchanged(db):
    """Asserts, after the test, that no table changed."""
    before = checksum(db)
    yield
    changed = diff(before, checksum(db))
    assert not changed, "tables changed: %s" % changed


def expect(result, codes, contains=None):
    _, code, details = result
    codes = codes if isinstance(codes, (tuple, list, set)) else (codes,)
    assert code in codes, "got %s (%s), expected %s" % (code, details, codes)
    if contains:
        assert contains in details, details
    return details


# ---- malformed protobuf ----------------------------------------------------------------

MALFORMED = {
    "garbage": b"\xff\xff\xff\xff",
    "truncated varint": b"\x08\xff\xff",
    "length past the end": b"\x12\x40abc",
    "group wire type": b"\x0b\x0c",
    "bad wire type 7": b"\x0f\x01",
    "field number 0": b"\x00\x01",
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_protobuf(server, world, unchanged, name):
    d = expect(server.call_raw("StockService/Receive", MALFORMED[name], login="admin"), IA)
    assert "malformed request" in d and "ReceiveRequest" in d


def test_truncated_messages(server, world, unchanged):
    full = receive(note="a note long enough to cut", reason="r").SerializeToString()
    refused = 0
    for cut in range(1, len(full)):
        try:
            K.ReceiveRequest.FromString(full[:cut])
            continue  # cut between two fields: a shorter, valid message
        except Exception:
            pass
        _, code, details = server.call_raw("StockService/Receive", full[:cut], login="admin")
        assert code == IA and "malformed" in details, (cut, code, details)
        refused += 1
    assert refused > 10


def test_wrong_message_type(server, world, unchanged):
    # a CreateSiteRequest (field 1 is a string) where an IssueRequest (field 1 is int64) goes
    site = S.CreateSiteRequest(code="RPX", name="X", kind="reserve_point", org_unit_code="CM01")
    expect(server.call_raw("StockService/Issue", site.SerializeToString(), login="admin"), IA, "malformed")
    # a ReceiveRequest where a DepositRequest goes: wire types clash on field 2
    expect(server.call_raw("FundMovementService/PrepareDeposit", receive().SerializeToString(), login="fin.officer"), IA)


# ---- strings ---------------------------------------------------------------------------

def test_string_over_4096_bytes(server, world, unchanged):
    d = expect(server.call("StockService/Receive", receive(note="x" * 4097), K.ReceiveResponse, login="admin"), IA)
    assert "note" in d
    # within the generic cap but over the field's own limit (500)
    expect(server.call("StockService/Receive", receive(note="x" * 501), K.ReceiveResponse, login="admin"),
           IA, "note")
    expect(server.call("SiteService/CreateSite", S.CreateSiteRequest(
        code="RPLONG", name="n" * 5000, kind="reserve_point", org_unit_code="CM01"), S.Site, login="admin"), IA)


def test_repeated_over_the_cap(server, world, unchanged):
    req = K.DispatchTransferRequest(from_site_code="RP01", to_site_code="RP02",
                                    items=[K.TransferItem(item_code="WATER-5L", qty=1)] * 10001)
    expect(server.call("StockService/DispatchTransfer", req, K.Transfer, login="admin"), IA, "items")


@pytest.mark.parametrize("raw", [b"\xc3\x28", b"\xff", b"\xed\xa0\x80", b"ok\xe2\x82", b"\xc0\xaf"])
def test_invalid_utf8(server, world, unchanged, raw):
    data = receive().SerializeToString() + field_bytes(6, raw)  # lot_code, last one wins
    d = expect(server.call_raw("StockService/Receive", data, login="admin"), IA)
    assert "lot_code" in d and "UTF-8" in d, d
    # nested: a transfer line's lot_code
    item = K.TransferItem(item_code="WATER-5L", qty=1).SerializeToString() + field_bytes(4, raw)
    req = K.DispatchTransferRequest(from_site_code="RP01", to_site_code="RP02").SerializeToString()
    req += field_bytes(5, item)
    expect(server.call_raw("StockService/DispatchTransfer", req, login="admin"), IA, "items[0].lot_code")


@pytest.mark.parametrize("raw", [b"\x00\xf8", b"BASE\x00junk"])
def test_embedded_nul_is_refused(server, world, raw):
    item = K.TransferItem(item_code="WATER-5L", qty=1).SerializeToString() + field_bytes(4, raw)
    req = K.DispatchTransferRequest(from_site_code="RP01", to_site_code="RP02").SerializeToString()
    req += field_bytes(5, item)
    expect(server.call_raw("StockService/DispatchTransfer", req, login="admin"), IA, "lot_code")


# ---- quantities and amounts -----------------------------------------------------------

@pytest.mark.parametrize("qty", [0, -1, -INT64_MAX - 1])
def test_non_positive_quantities(server, world, unchanged, qty):
    expect(server.call("StockService/Receive", receive(qty=qty), K.ReceiveResponse, login="admin"), IA, "qty")
    expect(server.call("StockService/Issue", K.IssueRequest(site_code="RP01", item_code="WATER-5L", qty=qty),
                       K.IssueResponse, login="admin"), IA, "qty")
    expect(server.call("FundMovementService/PrepareDeposit", F.DepositRequest(source_code="SRC-BAD", amount=qty),
                       F.FundMovement, login="fin.officer"), IA, "amount")
    expect(server.call("RequisitionService/Create", Q.CreateRequisitionRequest(
        org_unit_code="GR001", lines=[Q.RequisitionLineInput(item_code="WATER-5L", qty=qty)]),
        Q.Requisition, login="staff.cm01"), IA)


def test_issue_more_than_on_hand(server, world, unchanged):
    expect(server.call("StockService/Issue", K.IssueRequest(site_code="RP01", item_code="WATER-5L",
                                                            qty=10 ** 9), K.IssueResponse, login="admin"), FP)
    # above the per-line cap: refused before any stock is looked at
    expect(server.call("StockService/Issue", K.IssueRequest(site_code="RP01", item_code="WATER-5L",
                                                            qty=INT64_MAX), K.IssueResponse, login="admin"), IA, "qty")


def test_stock_sum_overflow(server, world, db):
    """int64 max into a lot at a site of its own, then one more: refused, never wrapped;
    the site's balances stay readable."""
    server.call_ok("SiteService/CreateSite", S.CreateSiteRequest(code="RP-HUGE", name="Huge", kind="reserve_point",
                                                                 org_unit_code="CM01"), S.Site, login="admin")
    first = server.call("StockService/Receive", receive(site_code="RP-HUGE", qty=INT64_MAX, lot_code="HUGE"),
                        K.ReceiveResponse, login="admin")
    assert first[1] in (Code.OK, IA), first
    if first[1] == Code.OK:
        before = checksum(db)
        for qty, lot in ((1, "HUGE"), (INT64_MAX, "HUGE2")):
            _, code, details = server.call("StockService/Receive", receive(site_code="RP-HUGE", qty=qty, lot_code=lot),
                                           K.ReceiveResponse, login="admin")
            assert code in (IA, FP), (code, details)
        assert not diff(before, checksum(db))
        assert db.execute("SELECT count(*) FROM lots WHERE on_hand < 0").fetchone()[0] == 0
        v = server.call_ok("StockService/VerifyStock", K.VerifyStockRequest(), K.VerifyStockResponse, login="admin")
        assert v.clean, v.differences
        server.call_ok("StockService/GetBalance", K.GetBalanceRequest(site_code="RP-HUGE"), K.SiteBalance,
                       login="admin")


def test_money_sum_overflow(server, world, unchanged):
    # an AllocateBatch whose items sum past int64
    req = F.AllocateBatchRequest(source_code="SRC-BAD", items=[
        F.AllocationItem(grid_code="GR001", amount=INT64_MAX), F.AllocationItem(grid_code="GR002", amount=INT64_MAX)])
    expect(server.call("FundMovementService/PrepareAllocationBatch", req, F.FundMovement, login="fin.officer"), (IA, FP))
    expect(server.call("FundMovementService/PrepareAllocation", F.AllocateRequest(source_code="SRC-BAD", grid_code="GR001",
                                                                 amount=INT64_MAX), F.FundMovement,
                       login="fin.officer"), IA, "amount")  # above the per-posting cap
    expect(server.call("DisbursementService/PrepareDisbursement", F.PrepareDisbursementRequest(
        grid_code="GR001", payee_code="SRC-BAD", category="subsidies", amount=-5, purpose="x", period="2026-11"),
        F.Disbursement, login="fin.officer"), IA)


def test_approval_beyond_the_source(server, world, db):
    """Within the per-posting cap but more than the source holds: prepared, and the approval
    (which reserves) is refused without changing anything."""
    m = server.call_ok("FundMovementService/PrepareAllocation", F.AllocateRequest(
        source_code="SRC-BAD", grid_code="GR001", amount=10 ** 13), F.FundMovement, login="fin.officer")
    before = checksum(db)
    expect(server.call("FundMovementService/ApproveMovement", F.FundMovementRequest(id=m.id), F.FundMovement,
                       login="fin.approver"), FP)
    assert not diff(before, checksum(db))


def test_deposit_overflow(server, world, db):
    """Deposits that would take the source past int64 are refused, never wrapped."""
    r = server.call("FundMovementService/PrepareDeposit", F.DepositRequest(source_code="SRC-BAD", amount=INT64_MAX),
                    F.FundMovement, login="fin.officer")
    before = checksum(db)
    if r[1] == Code.OK:
        expect(server.call("FundMovementService/PrepareDeposit", F.DepositRequest(source_code="SRC-BAD", amount=INT64_MAX),
                           F.FundMovement, login="fin.officer"), (IA, FP))
        assert not diff(before, checksum(db))
    v = server.call_ok("FundService/VerifyLedger", F.VerifyLedgerRequest(), F.VerifyLedgerResponse,
                       login="auditor")
    assert v.ok, v.problems


# ---- dates -----------------------------------------------------------------------------

@pytest.mark.parametrize("date", ["2026-02-30", "2026-13-01", "99999-01-01", "0000-01-01", "2026-1-1",
                                  "tomorrow", "2026-01-01T00:00:00Z", "-2026-01-01"])
def test_dates_out_of_range(server, world, unchanged, date):
    expect(server.call("StockService/Receive", receive(expires_on=date, lot_code="DATE"), K.ReceiveResponse,
                       login="admin"), IA, "expires_on")
    expect(server.call("RequisitionService/Create", Q.CreateRequisitionRequest(
        org_unit_code="GR001", needed_by=date, lines=[Q.RequisitionLineInput(item_code="WATER-5L", qty=1)]),
        Q.Requisition, login="staff.cm01"), IA, "needed_by")


@pytest.mark.parametrize("at", ["2026-13-01T00:00:00Z", "2026-01-01 25:00", "2026-02-30T00:00:00Z", "noon"])
def test_timestamps_out_of_range(server, world, unchanged, at):
    expect(server.call("StockService/StockAsOf", K.StockAsOfRequest(site_code="RP01", at=at),
                       K.StockAsOfResponse, login="admin"), IA, "at")


@pytest.mark.parametrize("at", ["yesterday", "99999-01-01T00:00:00Z"])
def test_timestamps_postgres_words(server, world, at):
    expect(server.call("StockService/StockAsOf", K.StockAsOfRequest(site_code="RP01", at=at),
                       K.StockAsOfResponse, login="admin"), IA, "at")


@pytest.mark.parametrize("period", ["2026-13", "2026-00", "26-11", "2026/11", "2026-Q5"])
def test_periods_out_of_range(server, world, unchanged, period):
    expect(server.call("DisbursementService/PrepareDisbursement", F.PrepareDisbursementRequest(
        grid_code="GR001", payee_code="SRC-BAD", category="subsidies", amount=5, purpose="x", period=period),
        F.Disbursement, login="fin.officer"), (IA, NF))


# ---- ids of the wrong kind ---------------------------------------------------------------

def test_ids_of_the_wrong_kind(server, world, unchanged):
    expect(server.call("StockService/Issue", K.IssueRequest(site_code="RP01", item_code="RP01", qty=1),
                       K.IssueResponse, login="admin"), NF)
    expect(server.call("StockService/Issue", K.IssueRequest(site_code="WATER-5L", item_code="WATER-5L", qty=1),
                       K.IssueResponse, login="admin"), NF)
    expect(server.call("StockService/DispatchTransfer", K.DispatchTransferRequest(
        from_site_code="RP01", to_site_code="GR001", items=[K.TransferItem(item_code="WATER-5L", qty=1)]),
        K.Transfer, login="admin"), NF)
    expect(server.call("FundMovementService/PrepareAllocation", F.AllocateRequest(source_code="GF-GR002", grid_code="GR001",
                                                                 amount=5), F.FundMovement,
                       login="fin.officer"), (NF, IA, FP))
    expect(server.call("FundMovementService/PrepareAllocation", F.AllocateRequest(source_code="SRC-BAD", grid_code="CM01",
                                                                 amount=5), F.FundMovement,
                       login="fin.officer"), (NF, IA))
    expect(server.call("RequisitionService/Create", Q.CreateRequisitionRequest(
        org_unit_code="RP01", lines=[Q.RequisitionLineInput(item_code="WATER-5L", qty=1)]),
        Q.Requisition, login="staff.cm01"), NF)


# ---- duplicates and empty batches ----------------------------------------------------------

def test_duplicate_lines(server, world, unchanged):
    expect(server.call("FundMovementService/PrepareAllocationBatch", F.AllocateBatchRequest(source_code="SRC-BAD", items=[
        F.AllocationItem(grid_code="GR001", amount=5), F.AllocationItem(grid_code="GR001", amount=5)]),
        F.FundMovement, login="fin.officer"), IA)
    expect(server.call("RequisitionService/Create", Q.CreateRequisitionRequest(
        org_unit_code="GR001", lines=[Q.RequisitionLineInput(item_code="WATER-5L", qty=1),
                                      Q.RequisitionLineInput(item_code="WATER-5L", qty=2)]),
        Q.Requisition, login="staff.cm01"), IA)


def test_empty_batches(server, world, unchanged):
    expect(server.call("StockService/DispatchTransfer", K.DispatchTransferRequest(
        from_site_code="RP01", to_site_code="RP02"), K.Transfer, login="admin"), IA, "items")
    expect(server.call("FundMovementService/PrepareAllocationBatch", F.AllocateBatchRequest(source_code="SRC-BAD"),
                       F.FundMovement, login="fin.officer"), IA, "items")
    expect(server.call("StockService/EnterCounts", K.EnterCountsRequest(stocktake_id=1),
                       K.EnterCountsResponse, login="admin"), (IA, NF))
    expect(server.call("RequisitionService/ApproveBatch", Q.ApproveBatchRequest(),
                       Q.ApproveBatchResponse, login="logi.district"), IA)
    expect(server.call("RequisitionService/Create", Q.CreateRequisitionRequest(org_unit_code="GR001", submit=True),
                       Q.Requisition, login="staff.cm01"), (IA, FP))


# ---- tokens and metadata ----------------------------------------------------------------

def _tamper(tok, part, pos=5):
    parts = tok.split(".")
    p = parts[part]
    c = "A" if p[pos] != "A" else "B"
    parts[part] = p[:pos] + c + p[pos + 1:]
    return ".".join(parts)


def _payload_swap(tok, **claims):
    """Re-encodes the payload with changed claims, keeping the original signature."""
    import json

    h, p, s = tok.split(".")
    body = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
    body.update(claims)
    p2 = base64.urlsafe_b64encode(json.dumps(body, separators=(",", ":")).encode()).rstrip(b"=").decode()
    return ".".join([h, p2, s])


def test_missing_and_tampered_tokens(server, world, unchanged):
    req = receive(lot_code="TOK")
    good = server.token("staff.cm01")
    for md, what in [
        ((), "no authorization"),
        ((("authorization", "Bearer "),), "empty bearer"),
        ((("authorization", "Basic YWRtaW46YWRtaW4="),), "basic"),
        ((("authorization", "Bearer not.a.token"),), "junk"),
        ((("authorization", "Bearer " + _tamper(good, 1)),), "payload byte"),
        ((("authorization", "Bearer " + _tamper(good, 2)),), "signature byte"),
        ((("authorization", "Bearer " + _payload_swap(good, role="admin")),), "role raised"),
        ((("authorization", "Bearer " + _payload_swap(good, exp=4102444800)),), "expiry pushed"),
        ((("authorization", "Bearer " + good + "x"),), "trailing byte"),
        ((("authorization", "Bearer " + good.rsplit(".", 1)[0] + "."),), "no signature"),
    ]:
        _, code, details = server.call("StockService/Receive", req, K.ReceiveResponse, metadata=md)
        assert code == UN, (what, code, details)


def test_expired_token(server, world, unchanged):
    import time

    tok = server.token("admin", ttl=1, fresh=True)
    time.sleep(2.2)
    expect(server.call("StockService/Receive", receive(lot_code="EXP"), K.ReceiveResponse, token=tok), UN, "expired")


def test_request_id_limits(server, world, unchanged):
    expect(server.call("StockService/Receive", receive(lot_code="RID"), K.ReceiveResponse, login="admin",
                       request_id=""), IA, "x-request-id")
    expect(server.call("StockService/Receive", receive(lot_code="RID"), K.ReceiveResponse, login="admin",
                       request_id="r" * 129), IA, "x-request-id")


def test_oversize_metadata(server, world, unchanged):
    big = [("x-padding", "p" * 64 * 1024)]
    _, code, details = server.call("StockService/Receive", receive(lot_code="MD"), K.ReceiveResponse,
                                   login="admin", metadata=big)
    assert code in (Code.RESOURCE_EXHAUSTED, Code.INTERNAL, Code.UNAVAILABLE, Code.CANCELLED), (code, details)
    tok = server.token("admin")
    _, code, details = server.call("StockService/Receive", receive(lot_code="MD"), K.ReceiveResponse,
                                   metadata=[("authorization", "Bearer " + tok + "A" * 16000)])
    assert code != Code.OK, (code, details)
    # the server is still fine afterwards. gRPC core may answer the oversize headers by
    # closing the connection, so the client's next call can meet the closed socket
    # (UNAVAILABLE) before the channel reconnects: retry as any client would.
    for _ in range(20):
        _, code, details = server.call("SiteService/GetSite", S.GetSiteRequest(code="RP01"), S.Site,
                                       login="admin")
        if code != Code.UNAVAILABLE:
            break
        time.sleep(0.1)
    assert code == Code.OK, (code, details)


def test_oversize_message(server, world, unchanged):
    data = receive().SerializeToString() + field_bytes(12, b"n" * (8 * 1024 * 1024))
    _, code, details = server.call_raw("StockService/Receive", data, login="admin", timeout=30)
    assert code in (Code.RESOURCE_EXHAUSTED, IA), (code, details)


def test_unknown_method(server, world, unchanged):
    _, code, _ = server.call_raw("/gridstock.v1.StockService/NoSuchThing", b"", login="admin")
    assert code == Code.UNIMPLEMENTED
