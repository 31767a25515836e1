"""CharityService against the demo district: donations with numbered receipts (donation_in
movements), distributions to households of a grid (distribution_out, FEFO), per-household
quotas per week and month holding across every station of the district — also under
racing clients on two server processes — scope and role refusals, exactly-once retries,
the periodic near-expiry scan (each lot announced once, whichever server scans), the demo
data and a clean ledger at the end.

Each test makes its own catalog items (CH-...), so tests do not share balances or quotas."""
import os
import re
import threading
import time
import uuid

import grpc
import pytest

from gridstock.v1 import charity_pb2 as pb
from gridstock.v1 import stock_pb2 as st
from harness.sql import one, day

Code = grpc.StatusCode
C = "CharityService/"
STAFF = "staff.cm01"     # community staff of CM01, where CS01 is
LOGI = "logi.district"


def uid(prefix="CH-"):
    return prefix + uuid.uuid4().hex[:8].upper()


def new_item(db, shelf=None):
    code = uid()
    db.execute("INSERT INTO items (code, name, category, unit, shelf_life_days) VALUES (%s, %s, 'food', 'bag', %s)",
               (code, "Charity test item " + code, shelf))
    return code


def call(server, method, req, resp_cls, login=STAFF, **kw):
    return server.call(C + method, req, resp_cls, login=login, **kw)


def ok(server, method, req, resp_cls, login=STAFF, **kw):
    resp, code, details = call(server, method, req, resp_cls, login=login, **kw)
    assert code == Code.OK, "%s → %s: %s" % (method, code, details)
    return resp


def refused(server, method, req, resp_cls, code, login=STAFF, **kw):
    _, got, details = call(server, method, req, resp_cls, login=login, **kw)
    assert got == code, "%s → %s: %s (wanted %s)" % (method, got, details, code)
    return details


def donate(server, site, items, donor="Test donor", login=STAFF, **kw):
    return ok(server, "RecordDonation", pb.RecordDonationRequest(
        site_code=site, donor_name=donor,
        items=[pb.DonationItem(item_code=i, qty=q, lot_code=l, expires_on=e) for i, q, l, e in items], **kw),
        pb.Donation, login=login)


def distribute_req(site, household, grid, items, note=""):
    return pb.DistributeRequest(site_code=site, household=household, grid_code=grid, note=note,
                                items=[pb.DistributionItem(item_code=i, qty=q) for i, q in items])


def set_quota(server, item, period, qty, login=LOGI):
    return ok(server, "SetQuota", pb.SetQuotaRequest(item_code=item, period=period, qty=qty), pb.Quota, login=login)


def verify(server):
    return server.call_ok("StockService/VerifyStock", st.VerifyStockRequest(), st.VerifyStockResponse, login="admin")


@pytest.fixture(scope="module")
def places(db):
    """CS01 (CM01) and a station of another street, with a grid of each community."""
    cs = [r[0] for r in db.execute("SELECT code FROM sites WHERE kind = 'charity_station' ORDER BY code").fetchall()]
    far = one(db, """SELECT s.code FROM sites s JOIN org_units c ON c.id = s.org_unit_id
                     JOIN org_units st ON st.id = c.parent_id
                     WHERE s.kind = 'charity_station' AND st.code <> 'ST01' ORDER BY s.code LIMIT 1""")
    cm = one(db, "SELECT c.code FROM sites s JOIN org_units c ON c.id = s.org_unit_id WHERE s.code = 'CS01'")
    assert cs[0] == "CS01" and cm == "CM01" and far
    grid_far = one(db, """SELECT g.code FROM org_units g JOIN sites s ON s.org_unit_id = g.parent_id
                          WHERE s.code = %s AND g.kind = 'grid' ORDER BY g.id LIMIT 1""", far)
    return {"cs": "CS01", "cs2": cs[1], "far": far, "grid": "GR001", "grid_far": grid_far}


# ---------------------------------------------------------------- donations


def test_record_donation_numbered_receipt_and_ledger(server, db, places):
    a, b = new_item(db), new_item(db, shelf=180)
    d = donate(server, "CS01", [(a, 12, "", ""), (b, 5, "DON-LOT-1", day(db, 60))], donor="Binhe Road bakery",
               donor_contact="0818-1234567", note="after the flood")
    year = one(db, "SELECT extract(year FROM current_date)::int")
    m = re.match(r"^CS01-%d-(\d{6})$" % year, d.receipt_number)
    assert m, d.receipt_number
    assert (d.site_code, d.donor_name, d.donor_contact, d.received_by, d.total_qty) == ("CS01", "Binhe Road bakery", "0818-1234567", STAFF, 17)
    assert [(l.item_code, l.qty) for l in d.lines] == [(a, 12), (b, 5)]
    assert d.lines[0].lot_code == d.receipt_number + "-1" and d.lines[1].lot_code == "DON-LOT-1"
    assert d.lines[1].expires_on == day(db, 60)
    mv = db.execute("SELECT kind, qty, ref_type, ref_id FROM stock_movements WHERE id = %s", (d.lines[1].movement_id,)).fetchone()
    assert mv == ("donation_in", 5, "donation", d.id)
    assert one(db, "SELECT source FROM lots WHERE id = %s", d.lines[0].lot_id) == "donation"
    d2 = donate(server, "CS01", [(a, 1, "", "")], anonymous=True)
    assert int(d2.receipt_number[-6:]) == int(m.group(1)) + 1 and d2.anonymous
    assert one(db, "SELECT count(*) FROM audit_log WHERE object = %s", "donation:%d" % d.id) == 1

    lst = ok(server, "ListDonations", pb.ListDonationsRequest(site_code="CS01", donor="bakery"), pb.ListDonationsResponse)
    assert [x.id for x in lst.donations] == [d.id]
    page = ok(server, "ListDonations", pb.ListDonationsRequest(page_size=1), pb.ListDonationsResponse)
    assert len(page.donations) == 1 and page.next_page_token and page.donations[0].id == d2.id
    future = ok(server, "ListDonations", pb.ListDonationsRequest(since="2999-01-01T00:00:00Z"), pb.ListDonationsResponse)
    assert not future.donations
    refused(server, "ListDonations", pb.ListDonationsRequest(since="last week"), pb.ListDonationsResponse, Code.INVALID_ARGUMENT)


def test_donation_refusals(server, db, places):
    a, perishable = new_item(db), new_item(db, shelf=30)
    before = one(db, "SELECT count(*) FROM stock_movements")
    n_don = one(db, "SELECT count(*) FROM charity_donations")
    cases = [
        (pb.RecordDonationRequest(site_code="RP01", donor_name="x", items=[pb.DonationItem(item_code=a, qty=1)]), Code.INVALID_ARGUMENT, "site_id:", STAFF),
        (pb.RecordDonationRequest(site_code=places["far"], donor_name="x", items=[pb.DonationItem(item_code=a, qty=1)]), Code.NOT_FOUND, places["far"], STAFF),
        (pb.RecordDonationRequest(site_code="CS01", items=[pb.DonationItem(item_code=a, qty=1)]), Code.INVALID_ARGUMENT, "donor_name:", STAFF),
        (pb.RecordDonationRequest(site_code="CS01", donor_name="x"), Code.INVALID_ARGUMENT, "items:", STAFF),
        (pb.RecordDonationRequest(site_code="CS01", donor_name="x", items=[pb.DonationItem(item_code=a, qty=0)]), Code.INVALID_ARGUMENT, "items[0].qty", STAFF),
        (pb.RecordDonationRequest(site_code="CS01", donor_name="x", items=[pb.DonationItem(item_code=a, qty=-3)]), Code.INVALID_ARGUMENT, "items[0].qty", STAFF),
        (pb.RecordDonationRequest(site_code="CS01", donor_name="x", items=[pb.DonationItem(item_code=a, qty=1, lot_code="bad lot!")]), Code.INVALID_ARGUMENT, "items[0].lot_code", STAFF),
        (pb.RecordDonationRequest(site_code="CS01", donor_name="x", items=[pb.DonationItem(item_code="NOPE", qty=1)]), Code.NOT_FOUND, "NOPE", STAFF),
        (pb.RecordDonationRequest(site_code="CS01", donor_name="x", items=[pb.DonationItem(item_code=perishable, qty=1)]), Code.INVALID_ARGUMENT, "expires_on", STAFF),
        (pb.RecordDonationRequest(site_code="CS01", donor_name="x", items=[pb.DonationItem(item_code=perishable, qty=1, expires_on=day(db, -1))]), Code.FAILED_PRECONDITION, "expired", STAFF),
        (pb.RecordDonationRequest(site_code="CS01", donor_name="x", items=[pb.DonationItem(item_code=a, qty=1), pb.DonationItem(item_code=perishable, qty=1, expires_on="2030-02-30")]), Code.INVALID_ARGUMENT, "items[1].expires_on", STAFF),
        (pb.RecordDonationRequest(site_code="CS01", donor_name="x", items=[pb.DonationItem(item_code=a, qty=1)]), Code.PERMISSION_DENIED, "", "fin.officer"),
        (pb.RecordDonationRequest(site_code="CS01", donor_name="x", items=[pb.DonationItem(item_code=a, qty=1)]), Code.PERMISSION_DENIED, "", "auditor"),
        (pb.RecordDonationRequest(site_code="CS01", donor_name="x", items=[pb.DonationItem(item_code=a, qty=1)]), Code.NOT_FOUND, "CS01", "staff.cm02"),
    ]
    for req, code, words, login in cases:
        det = refused(server, "RecordDonation", req, pb.Donation, code, login=login)
        assert words in det, (words, det)
    assert one(db, "SELECT count(*) FROM stock_movements") == before
    assert one(db, "SELECT count(*) FROM charity_donations") == n_don
    _, code, _ = call(server, "RecordDonation", pb.RecordDonationRequest(), pb.Donation, login=None)
    assert code == Code.UNAUTHENTICATED
    with pytest.raises(Exception, match="append-only"):
        db.execute("UPDATE charity_donations SET donor_name = 'someone else'")


# ---------------------------------------------------------------- quotas


def test_quotas_are_set_by_the_district_only(server, db):
    item = new_item(db)
    det = refused(server, "SetQuota", pb.SetQuotaRequest(item_code=item, period="week", qty=3), pb.Quota,
                  Code.PERMISSION_DENIED, login=STAFF)
    assert "district" in det
    refused(server, "SetQuota", pb.SetQuotaRequest(item_code=item, period="week", qty=3), pb.Quota,
            Code.PERMISSION_DENIED, login="logi.st01")
    refused(server, "SetQuota", pb.SetQuotaRequest(item_code=item, period="day", qty=3), pb.Quota, Code.INVALID_ARGUMENT, login=LOGI)
    refused(server, "SetQuota", pb.SetQuotaRequest(item_code=item, qty=3), pb.Quota, Code.INVALID_ARGUMENT, login=LOGI)
    refused(server, "SetQuota", pb.SetQuotaRequest(item_code=item, period="week", qty=-1), pb.Quota, Code.INVALID_ARGUMENT, login=LOGI)
    refused(server, "SetQuota", pb.SetQuotaRequest(item_code="NOPE", period="week", qty=1), pb.Quota, Code.NOT_FOUND, login=LOGI)
    q = set_quota(server, item, "week", 3)
    assert (q.item_code, q.period, q.qty, q.org_unit_code, q.updated_by) == (item, "week", 3, "DC", LOGI)
    q2 = set_quota(server, item, "week", 4)
    assert q2.id == q.id and q2.qty == 4
    set_quota(server, item, "month", 10)
    lst = ok(server, "ListQuotas", pb.ListQuotasRequest(item_code=item), pb.ListQuotasResponse)
    assert [(x.period, x.qty) for x in lst.quotas] == [("month", 10), ("week", 4)]
    gone = set_quota(server, item, "month", 0)
    assert gone.qty == 0 and gone.id == 0
    lst = ok(server, "ListQuotas", pb.ListQuotasRequest(item_code=item), pb.ListQuotasResponse)
    assert [(x.period, x.qty) for x in lst.quotas] == [("week", 4)]
    every = ok(server, "ListQuotas", pb.ListQuotasRequest(), pb.ListQuotasResponse)
    assert "RICE-10KG" in {x.item_code for x in every.quotas}  # the demo's


# ---------------------------------------------------------------- distributions


def test_distribute_fefo_and_quota_across_stations(server, db, places):
    item, other = new_item(db, shelf=365), new_item(db)
    far = places["far"]
    donate(server, "CS01", [(item, 10, "EARLY", day(db, 20)), (item, 10, "LATE", day(db, 200)), (other, 50, "", "")])
    donate(server, far, [(item, 10, "", day(db, 100))], login=LOGI)
    set_quota(server, item, "week", 5)
    set_quota(server, item, "month", 6)

    d = ok(server, "Distribute", distribute_req("CS01", "HH-0001", "GR001", [(item, 3), (other, 7)], note="family of 4"), pb.Distribution)
    assert (d.site_code, d.household, d.grid_code, d.distributed_by, d.note) == ("CS01", "HH-0001", "GR001", STAFF, "family of 4")
    by_item = {}
    for l in d.lines:
        by_item.setdefault(l.item_code, []).append((l.lot_code, l.qty))
    assert by_item[item] == [("EARLY", 3)] and sum(q for _, q in by_item[other]) == 7
    quotas = {(q.item_code, q.period): (q.quota, q.used, q.remaining) for q in d.quotas}
    assert quotas == {(item, "week"): (5, 3, 2), (item, "month"): (6, 3, 3)}
    mv = db.execute("SELECT kind, ref_type, ref_id FROM stock_movements WHERE id = %s", (d.lines[0].movement_id,)).fetchone()
    assert mv == ("distribution_out", "distribution", d.id)

    # the same household at a station of another street: the quota holds across stations
    det = refused(server, "Distribute", distribute_req(far, "HH-0001", "GR001", [(item, 3)]), pb.Distribution,
                  Code.FAILED_PRECONDITION, login=LOGI)
    assert "quota" in det and item in det and "HH-0001" in det
    d2 = ok(server, "Distribute", distribute_req(far, "HH-0001", "GR001", [(item, 2)]), pb.Distribution, login=LOGI)
    assert {(q.period, q.remaining) for q in d2.quotas} == {("week", 0), ("month", 1)}
    # a quota refusal changes nothing, even for the other items of the request
    before = one(db, "SELECT count(*) FROM stock_movements")
    det = refused(server, "Distribute", distribute_req("CS01", "HH-0001", "GR001", [(other, 1), (item, 1)]), pb.Distribution,
                  Code.FAILED_PRECONDITION)
    assert "items[1]" in det and "week" in det
    assert one(db, "SELECT count(*) FROM stock_movements") == before
    # another household of the same grid, and the same identifier in another grid, are not affected
    ok(server, "Distribute", distribute_req("CS01", "HH-0002", "GR001", [(item, 5)]), pb.Distribution)
    ok(server, "Distribute", distribute_req("CS01", "HH-0001", "GR002", [(item, 1)]), pb.Distribution)
    # items without a quota are limited by stock only
    det = refused(server, "Distribute", distribute_req("CS01", "HH-0001", "GR001", [(other, 1000)]), pb.Distribution,
                  Code.FAILED_PRECONDITION)
    assert "not enough" in det and other in det

    mine = ok(server, "ListDistributions", pb.ListDistributionsRequest(household="HH-0001", grid_code="GR001"), pb.ListDistributionsResponse, login=LOGI)
    assert [x.id for x in mine.distributions] == [d2.id, d.id]
    assert sum(l.qty for x in mine.distributions for l in x.lines if l.item_code == item) == 5
    at_cs01 = ok(server, "ListDistributions", pb.ListDistributionsRequest(site_code="CS01"), pb.ListDistributionsResponse)
    assert d.id in [x.id for x in at_cs01.distributions] and d2.id not in [x.id for x in at_cs01.distributions]
    refused(server, "ListDistributions", pb.ListDistributionsRequest(household="HH-0001"), pb.ListDistributionsResponse, Code.INVALID_ARGUMENT)
    assert one(db, "SELECT used FROM charity_quota_usage u JOIN charity_households h ON h.id = u.household_id"
                   " JOIN org_units g ON g.id = h.grid_id JOIN items i ON i.id = u.item_id"
                   " WHERE h.code = 'HH-0001' AND g.code = 'GR001' AND i.code = %s AND u.period = 'week'", item) == 5


def test_distribute_refusals(server, db, places):
    item = new_item(db)
    donate(server, "CS01", [(item, 5, "", "")])
    before = one(db, "SELECT count(*) FROM stock_movements")
    cases = [
        (distribute_req("CS01", "", "GR001", [(item, 1)]), Code.INVALID_ARGUMENT, "household:"),
        (distribute_req("CS01", "HH 1", "GR001", [(item, 1)]), Code.INVALID_ARGUMENT, "household:"),
        (distribute_req("CS01", "H" * 65, "GR001", [(item, 1)]), Code.INVALID_ARGUMENT, "household:"),
        (distribute_req("CS01", "HH-1", "CM01", [(item, 1)]), Code.INVALID_ARGUMENT, "grid_id:"),
        (distribute_req("CS01", "HH-1", "GR999", [(item, 1)]), Code.NOT_FOUND, "GR999"),
        (distribute_req("CS01", "HH-1", "", [(item, 1)]), Code.INVALID_ARGUMENT, "grid_id:"),
        (distribute_req("CS01", "HH-1", "GR001", []), Code.INVALID_ARGUMENT, "items:"),
        (distribute_req("CS01", "HH-1", "GR001", [(item, 0)]), Code.INVALID_ARGUMENT, "items[0].qty"),
        (distribute_req("CS01", "HH-1", "GR001", [(item, 1), (item, 1)]), Code.INVALID_ARGUMENT, "items[1].item_id"),
        (distribute_req("CS01", "HH-1", "GR001", [(item, 6)]), Code.FAILED_PRECONDITION, item),
        (distribute_req("RP01", "HH-1", "GR001", [(item, 1)]), Code.INVALID_ARGUMENT, "site_id:"),
        (distribute_req(places["far"], "HH-1", "GR001", [(item, 1)]), Code.NOT_FOUND, places["far"]),
    ]
    for req, code, words in cases:
        det = refused(server, "Distribute", req, pb.Distribution, code)
        assert words in det, (words, det)
    refused(server, "Distribute", distribute_req("CS01", "HH-1", "GR001", [(item, 1)]), pb.Distribution,
            Code.PERMISSION_DENIED, login="point.cm01")
    assert one(db, "SELECT count(*) FROM stock_movements") == before
    # exactly once: a retry with the same request id hands out nothing more
    rid = "dist-" + uuid.uuid4().hex
    a = ok(server, "Distribute", distribute_req("CS01", "HH-1", "GR001", [(item, 2)]), pb.Distribution, request_id=rid)
    b = ok(server, "Distribute", distribute_req("CS01", "HH-1", "GR001", [(item, 2)]), pb.Distribution, request_id=rid)
    assert a.id == b.id
    assert one(db, "SELECT count(*) FROM charity_distributions WHERE request_id = %s", rid) == 1
    det = refused(server, "Distribute", distribute_req("CS01", "HH-1", "GR001", [(item, 3)]), pb.Distribution,
                  Code.ALREADY_EXISTS, request_id=rid)
    assert rid in det


def test_racing_clients_on_two_servers_never_exceed_the_quota(server, db, places):
    item = new_item(db)
    cs2 = places["cs2"]
    donate(server, "CS01", [(item, 200, "", "")], login=LOGI)
    donate(server, cs2, [(item, 200, "", "")], login=LOGI)
    set_quota(server, item, "week", 25)
    set_quota(server, item, "month", 40)
    other = server.start_server()
    try:
        servers = [server, other]
        token = server.token(LOGI)
        got, errors = [], []
        lock = threading.Lock()

        def worker(n):
            srv = servers[n % 2]
            site = "CS01" if n % 4 < 2 else cs2
            mine = 0
            qty = 1 + n % 3
            while True:
                r, code, details = srv.call(C + "Distribute", distribute_req(site, "HH-RACE", "GR001", [(item, qty)]),
                                            pb.Distribution, token=token, timeout=30)
                if code == Code.OK:
                    mine += sum(l.qty for l in r.lines)
                elif code == Code.FAILED_PRECONDITION and "quota" in details:
                    if qty == 1:
                        break
                    qty = 1
                else:
                    with lock:
                        errors.append((code, details))
                    break
            with lock:
                got.append(mine)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors, errors[:5]
        assert len(got) == 8
        assert sum(got) == 25
        issued = one(db, "SELECT -sum(m.qty) FROM stock_movements m JOIN items i ON i.id = m.item_id"
                         " WHERE i.code = %s AND m.kind = 'distribution_out'", item)
        assert issued == 25
        assert one(db, "SELECT used FROM charity_quota_usage u JOIN items i ON i.id = u.item_id"
                       " WHERE i.code = %s AND u.period = 'month'", item) == 25
        assert verify(other).clean
    finally:
        assert other.stop() == 0


# ---------------------------------------------------------------- near-expiry scan


def _reader(stream, out):
    try:
        for m in stream:
            out.append(m)
    except grpc.RpcError:
        pass


def old_lot(db, site, item, lot, qty, expires_in, received_days_ago=200):
    """A lot received long ago (it was far from expiry then), with its receipt movement."""
    return one(db, """WITH l AS (
                 INSERT INTO lots (site_id, item_id, lot_code, expires_on, source, on_hand, received_at)
                 SELECT s.id, i.id, %s, current_date + %s::int, 'purchase', %s, now() - %s::int * interval '1 day'
                   FROM sites s, items i WHERE s.code = %s AND i.code = %s
                 RETURNING id, site_id, item_id),
               m AS (INSERT INTO stock_movements (kind, site_id, item_id, lot_id, qty, at, note)
                 SELECT 'receipt', site_id, item_id, id, %s, now() - %s::int * interval '1 day', 'test fixture' FROM l)
               SELECT id FROM l""", lot, expires_in, qty, received_days_ago, site, item, qty, received_days_ago)


def test_near_expiry_scan_announces_each_lot_once(server, db):
    item = new_item(db, shelf=365)
    soon = old_lot(db, "RP01", item, "SCAN-1", 7, 12)
    old_lot(db, "RP01", item, "SCAN-FAR", 9, 90)     # not near expiry yet
    stream = server.stream("StockService/WatchStockAlerts", st.WatchStockAlertsRequest(org_unit_code="CM01", kinds=["near_expiry"]),
                           st.StockAlert, login=LOGI, timeout=30)
    got = []
    th = threading.Thread(target=_reader, args=(stream, got))
    th.start()
    time.sleep(1.0)  # the listener subscribes asynchronously
    # two scans at once, as two servers would run them: one announcement
    results = []

    def scan():
        import psycopg
        with psycopg.connect(db.info.dsn, autocommit=True) as conn:
            results.append(conn.execute("SELECT stock_scan_near_expiry(30)").fetchone()[0])

    ts = [threading.Thread(target=scan) for _ in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    deadline = time.time() + 10
    while not [a for a in got if a.item_code == item] and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    assert one(db, "SELECT stock_scan_near_expiry(30)") == 0
    time.sleep(0.3)
    stream.cancel()
    th.join(5)
    mine = [a for a in got if a.item_code == item]
    assert len(mine) == 1, mine
    a = mine[0]
    assert (a.kind, a.site_code, a.lot_id, a.lot_code, a.qty, a.expires_on) == ("near_expiry", "RP01", soon, "SCAN-1", 7, day(db, 12))
    assert "expires on" in a.message and a.at
    assert one(db, "SELECT count(*) FROM stock_expiry_alerted WHERE lot_id = %s", soon) == 1
    # lots received already near expiry were announced at receipt, not again by the scan
    server.call_ok("StockService/Receive", st.ReceiveRequest(site_code="RP01", item_code=item, qty=2, lot_code="SCAN-NEW",
                                                             expires_on=day(db, 10)), st.ReceiveResponse, login=LOGI)
    assert one(db, "SELECT stock_scan_near_expiry(30)") == 0


def test_near_expiry_scan_runs_in_every_server(server, db):
    item = new_item(db, shelf=365)
    lot = old_lot(db, "RP02", item, "SCAN-JOB", 3, 5)
    other = server.start_server()
    try:
        deadline = time.time() + 15
        while time.time() < deadline and not one(db, "SELECT count(*) FROM stock_expiry_alerted WHERE lot_id = %s", lot):
            time.sleep(0.2)
        assert one(db, "SELECT count(*) FROM stock_expiry_alerted WHERE lot_id = %s", lot) == 1
    finally:
        assert other.stop() == 0


# ---------------------------------------------------------------- demo and the ledger


def test_demo_has_donations_quotas_and_proposals(server, db):
    assert one(db, "SELECT count(DISTINCT site_id) FROM charity_donations") >= 10
    assert one(db, "SELECT count(*) FROM charity_distributions") > 0
    assert one(db, "SELECT count(*) FROM charity_quotas") >= 5
    props = server.call_ok("StockService/CharityTransferProposals", st.CharityTransferProposalsRequest(days=30),
                           st.CharityTransferProposalsResponse, login="admin")
    assert len(props.proposals) > 5


def test_ledger_is_clean_at_the_end(server):
    v = verify(server)
    assert v.clean, list(v.differences)[:5]


def test_cli_donate_distribute_and_list(cli, db):
    import json

    item = new_item(db)
    rc, out, err = cli("--json", "charity", "record-donation", "--site-code", "CS01", "--donor-name", "CLI donor",
                       "--data", json.dumps({"items": [{"item_code": item, "qty": 4}]}), login=STAFF)
    assert rc == 0, err
    assert json.loads(out)["receipt_number"].startswith("CS01-")
    rc, out, err = cli("--json", "charity", "distribute", "--site-code", "CS01", "--household", "HH-CLI", "--grid-code", "GR001",
                       "--data", json.dumps({"items": [{"item_code": item, "qty": 3}]}), login=STAFF)
    assert rc == 0, err
    rc, out, err = cli("charity", "distribute", "--site-code", "CS01", "--household", "HH-CLI", "--grid-code", "GR001",
                       "--data", json.dumps({"items": [{"item_code": item, "qty": 3}]}), login=STAFF)
    assert rc == 3 and "FAILED_PRECONDITION" in err and item in err
    rc, out, err = cli("--csv", "charity", "list-quotas", login=STAFF)
    assert rc == 0 and "RICE-10KG" in out
