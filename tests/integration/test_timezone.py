"""The district's clock (issue 20): gridstockd sets its `timezone` (default Asia/Shanghai) on
every database session, so days, expiry, periods and months follow it rather than the
cluster's default (the harness cluster runs in UTC). At the edges: a payment approved at
23:30 Beijing time on the last day of a month is in that month's review, one at 00:30 on the
first is in the next; a lot whose expiry date is the day that just ended is expired from
00:00 local time. Timestamps on the wire stay RFC 3339 with an offset."""
import datetime
import re
import subprocess

import grpc
import pytest

from gridstock.v1 import funds_pb2 as F
from gridstock.v1 import reports_pb2 as R
from gridstock.v1 import stock_pb2 as S
from harness import paths
from harness import server as srvmod
from harness.money import move
from harness.sql import one

Code = grpc.StatusCode
OFFICER, APPROVER, LOGI = "fin.officer", "fin.approver", "logi.district"
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def ok(result):
    resp, code, details = result
    assert code == Code.OK, "%s: %s" % (code, details)
    return resp


def dcall(server, method, req, login=OFFICER):
    return ok(server.call("DisbursementService/" + method, req, F.Disbursement, login=login))


def test_cluster_default_is_not_the_districts(db):
    """The premise of the tests below: without gridstockd's setting, sessions run in UTC."""
    assert one(db, "SELECT current_setting('TimeZone')") == "Asia/Shanghai"  # the fixture's SET
    db.execute("RESET TimeZone")
    try:
        assert one(db, "SELECT current_setting('TimeZone')") == "UTC"
    finally:
        db.execute("SET TIME ZONE 'Asia/Shanghai'")


def test_payments_at_the_month_edge_land_in_beijing_months(server, db):
    ok(server.call("FundService/CreateAccount", F.CreateAccountRequest(
        kind="payee", code="T-TZ-EDGE", name="Month edge vendor", org_unit_code="DC"), F.Account, login=OFFICER))
    move(server, "PrepareAllocation", source_code="SRC-DISTRICT", grid_code="GR090", amount=100_000,
         memo="tz test")
    ids = []
    for period in ("2025-03", "2025-04"):
        d = dcall(server, "PrepareDisbursement", F.PrepareDisbursementRequest(
            grid_code="GR090", payee_code="T-TZ-EDGE", category="activities", amount=1_000,
            purpose="edge", period=period))
        d = dcall(server, "ApproveDisbursement", F.ApproveDisbursementRequest(id=d.id), login=APPROVER)
        assert RFC3339.match(d.approved_at), d.approved_at
        ids.append(d.id)
    late_march, early_april = ids
    # 23:30 on 31 March and 00:30 on 1 April, Beijing time (15:30 and 16:30 UTC on 31 March)
    db.execute("UPDATE fund_disbursements SET approved_at = timestamptz '2025-03-31 23:30:00+08' WHERE id = %s",
               (late_march,))
    db.execute("UPDATE fund_disbursements SET approved_at = timestamptz '2025-04-01 00:30:00+08' WHERE id = %s",
               (early_april,))

    def flagged(frm, to):
        flags = ok(server.call("FundReportService/ReviewFlags", R.ReviewFlagsRequest(
            from_date=frm, to_date=to, many_grids=1), R.ReviewFlagsResponse, login="auditor")).flags
        return sorted(int(i) for f in flags if f.payee_code == "T-TZ-EDGE" for i in f.disbursement_ids.split())

    assert flagged("2025-03-01", "2025-03-31") == [late_march]
    assert flagged("2025-04-01", "2025-04-30") == [early_april]
    assert flagged("2025-03-31", "2025-03-31") == [late_march]
    assert flagged("2025-04-01", "2025-04-01") == [early_april]
    # the wire keeps the instant, in RFC 3339 with an offset
    reg = ok(server.call("FundReportService/DisbursementRegister", R.DisbursementRegisterRequest(
        org_unit_code="GR090"), R.DisbursementRegisterResponse, login="auditor"))
    at = {x.id: x.approved_at for x in reg.rows}
    parsed = datetime.datetime.fromisoformat(at[early_april].replace("Z", "+00:00"))
    assert parsed == datetime.datetime(2025, 3, 31, 16, 30, tzinfo=datetime.timezone.utc)


def zone_past_midnight():
    """An Etc/GMT zone where it is now between 00:00 and 00:59 local time, and its offset."""
    h = datetime.datetime.now(datetime.timezone.utc).hour
    if h <= 12:
        return "Etc/GMT+%d" % h if h else "UTC", -h  # Etc/GMT+h is h hours behind UTC
    return "Etc/GMT-%d" % (24 - h), 24 - h


def zone_other_day():
    """A zone whose date differs from UTC's right now (so a UTC session would be wrong)."""
    h = datetime.datetime.now(datetime.timezone.utc).hour
    return ("Etc/GMT+12", -12) if h < 12 else ("Etc/GMT-12", 12)


def item(db):
    code = "TZ-" + datetime.datetime.now().strftime("%H%M%S%f")
    db.execute("INSERT INTO items (code, name, category, unit, shelf_life_days) VALUES (%s, 'tz item', 'food', 'bag', 30)",
               (code,))
    return code


def plant_lot(db, site, code, lot, expires, qty):
    db.execute(
        """WITH l AS (
             INSERT INTO lots (site_id, item_id, lot_code, expires_on, source, on_hand, received_at)
             SELECT s.id, i.id, %s, %s::date, 'purchase', %s, now() - interval '20 days'
               FROM sites s, items i WHERE s.code = %s AND i.code = %s
             RETURNING id, site_id, item_id)
           INSERT INTO stock_movements (kind, site_id, item_id, lot_id, qty, at, note)
           SELECT 'receipt', site_id, item_id, id, %s, now() - interval '20 days', 'tz fixture' FROM l""",
        (lot, expires, qty, site, code, qty))


@pytest.mark.parametrize("pick", [zone_past_midnight, zone_other_day])
def test_lot_expiring_yesterday_local_is_expired_from_local_midnight(gs_env, db, pick):
    zone, offset = pick()
    local = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=offset)
    today, yesterday = local.date(), local.date() - datetime.timedelta(days=1)
    s = srvmod.Server(gs_env, timezone=zone).start()
    try:
        code = item(db)
        plant_lot(db, "RP02", code, "ENDED", yesterday.isoformat(), 5)
        # received through the API: a lot expiring today (local) is still good today ...
        ok(s.call("StockService/Receive", S.ReceiveRequest(
            site_code="RP02", item_code=code, qty=7, lot_code="TODAY", expires_on=today.isoformat()),
            S.ReceiveResponse, login=LOGI))
        # ... one that expired yesterday (local) is refused
        _, c, details = s.call("StockService/Receive", S.ReceiveRequest(
            site_code="RP02", item_code=code, qty=1, lot_code="LATE", expires_on=yesterday.isoformat()),
            S.ReceiveResponse, login=LOGI)
        assert c == Code.FAILED_PRECONDITION and "expired" in details, (zone, c, details)
        b = ok(s.call("StockService/GetBalance", S.GetBalanceRequest(site_code="RP02", item_code=code),
                      S.SiteBalance, login=LOGI)).items[0]
        assert (b.on_hand, b.available, b.expired) == (12, 7, 5), (zone, b)
    finally:
        assert s.stop() == 0


def test_bad_timezone_is_refused(gs_env):
    p = subprocess.run([paths.GRIDSTOCKD, "serve", "--db", gs_env.conninfo, "--token-keys", gs_env.keyring,
                        "--listen", "127.0.0.1:0", "--timezone", "../etc/passwd"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode != 0 and "timezone" in p.stderr and "IANA" in p.stderr, p.stderr
    # well formed but unknown to the database: no connection is usable, the log says why
    p = subprocess.run([paths.GRIDSTOCKD, "migrate", "--db", gs_env.conninfo, "--timezone", "Mars/Olympus"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode != 0 and "db_timezone" in p.stderr and "Mars/Olympus" in p.stderr, p.stderr
