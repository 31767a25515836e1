"""Quotas by need across every station for registered households, and the walk-in rule
(issue 19, 071_quota_rules.sql): a rule per item or category, per household or per member,
scaled by the highest multiplier among the household's needs; counted across every charity
station of the district in the distribution's transaction — also when clients race at two
stations on two server processes — and not reset by a move; a household outside the
register is served as often as the district's walk-in rule says, each time flagged for
registration. Each refusal with its status and reason.

Each test makes its own catalog items (HQ-...), so tests share no balances or quotas."""
import threading
import uuid

import grpc
import pytest
from google.rpc import error_details_pb2 as E

from gridstock.v1 import charity_pb2 as pb
from gridstock.v1 import households_pb2 as hpb
from gridstock.v1 import stock_pb2 as st
from harness.sql import one

from test_households import new_id

Code = grpc.StatusCode
C = "CharityService/"
STAFF = "staff.cm01"
LOGI = "logi.district"


def new_item(db, category="other"):  # no demo rule covers "other"
    code = "HQ-" + uuid.uuid4().hex[:8].upper()
    db.execute("INSERT INTO items (code, name, category, unit) VALUES (%s, %s, %s, 'bag')",
               (code, "Quota test item " + code, category))
    return code


def reason_of(status):
    for a in status.details:
        if a.Is(E.ErrorInfo.DESCRIPTOR):
            info = E.ErrorInfo()
            a.Unpack(info)
            return info
    return None


def ok(server, method, req, cls, login=LOGI, **kw):
    resp, code, details = server.call(C + method, req, cls, login=login, **kw)
    assert code == Code.OK, "%s → %s: %s" % (method, code, details)
    return resp


def refused(server, method, req, code, reason, login=LOGI, **kw):
    got, details, status = server.call_status(C + method, req, login=login, **kw)
    assert got == code, "%s → %s: %s (wanted %s)" % (method, got, details, code)
    info = reason_of(status)
    assert info is not None and info.reason == reason, (info, details)
    return details, info


@pytest.fixture(scope="module")
def far(db):
    """A charity station of another street than CM01's CS01."""
    return one(db, """SELECT s.code FROM sites s JOIN org_units c ON c.id = s.org_unit_id
                      JOIN org_units st ON st.id = c.parent_id
                      WHERE s.kind = 'charity_station' AND st.code <> 'ST01' ORDER BY s.code LIMIT 1""")


def stock(server, item, sites, qty=500):
    for s in sites:
        ok(server, "RecordDonation", pb.RecordDonationRequest(
            site_code=s, donor_name="Quota test", items=[pb.DonationItem(item_code=item, qty=qty)]), pb.Donation)


def household(server, grid="GR001", members=3, **needs):
    return server.call_ok("HouseholdService/RegisterHousehold", hpb.RegisterHouseholdRequest(
        grid_code=grid, id_number=new_id(), head_name="测试户", members=members, needs=hpb.NeedFlags(**needs)),
        hpb.Household, login=STAFF).id


def give(site, hid, item, qty):
    return pb.DistributeRequest(site_code=site, household_id=hid, items=[pb.DistributionItem(item_code=item, qty=qty)])


def test_rules_are_set_by_the_district_and_checked(server, db):
    item = new_item(db)
    r = ok(server, "SetQuotaRule", pb.SetQuotaRuleRequest(item_code=item, period="week", basis="member", qty=2,
                                                          pct_low_income=150), pb.QuotaRule)
    assert (r.item_code, r.basis, r.qty, r.pct_low_income, r.pct_infant) == (item, "member", 2, 150, 100)
    refused(server, "SetQuotaRule", pb.SetQuotaRuleRequest(item_code=item, period="week", qty=2),
            Code.PERMISSION_DENIED, "PERMISSION_DENIED", login=STAFF)
    for req, reason in [
        (pb.SetQuotaRuleRequest(item_code=item, category="food", period="week", qty=1), "FIELD_INVALID"),
        (pb.SetQuotaRuleRequest(period="week", qty=1), "FIELD_INVALID"),
        (pb.SetQuotaRuleRequest(item_code=item, period="day", qty=1), "FIELD_INVALID"),
        (pb.SetQuotaRuleRequest(item_code=item, period="week", basis="person", qty=1), "FIELD_INVALID"),
        (pb.SetQuotaRuleRequest(item_code=item, period="week", qty=1, pct_infant=50), "FIELD_OUT_OF_RANGE"),
        (pb.SetQuotaRuleRequest(item_code=item, period="week", qty=-1), "FIELD_OUT_OF_RANGE"),
        (pb.SetQuotaRuleRequest(category="toys", period="week", qty=1), "FIELD_INVALID"),
    ]:
        refused(server, "SetQuotaRule", req, Code.INVALID_ARGUMENT, reason)
    rules = ok(server, "ListQuotaRules", pb.ListQuotaRulesRequest(), pb.ListQuotaRulesResponse, login=STAFF)
    assert [x.qty for x in rules.rules if x.item_code == item] == [2]
    assert one(db, "SELECT count(*) FROM audit_log WHERE object = %s", "charity_quota_rule:%d" % r.id) == 1
    # the database refuses what the server would
    import psycopg
    with pytest.raises(psycopg.Error):
        db.execute("UPDATE charity_quota_rules SET pct_infant = 5 WHERE id = %s", (r.id,))


def test_quota_scales_with_members_and_needs_across_stations_and_moves(server, db, far):
    item = new_item(db)
    stock(server, item, ["CS01", far])
    ok(server, "SetQuotaRule", pb.SetQuotaRuleRequest(item_code=item, period="week", basis="member", qty=2,
                                                      pct_low_income=150, pct_elderly_alone=120), pb.QuotaRule)
    poor = household(server, members=3, low_income=True, elderly_alone=True)  # 2 × 3 × 150% = 9
    plain = household(server, members=3)                                      # 2 × 3 = 6
    d = ok(server, "Distribute", give("CS01", poor, item, 6), pb.Distribution, login=STAFF)
    assert d.household_id == poor and not d.walk_in and d.grid_code == "GR001"
    assert [(q.rule_id > 0, q.quota, q.used, q.remaining) for q in d.quotas] == [(True, 9, 6, 3)]
    ok(server, "Distribute", give(far, poor, item, 3), pb.Distribution)
    details, info = refused(server, "Distribute", give(far, poor, item, 1), Code.FAILED_PRECONDITION,
                            "QUOTA_EXCEEDED")
    assert info.metadata["received"] == "9" and info.metadata["quota"] == "9", info
    ok(server, "Distribute", give("CS01", plain, item, 6), pb.Distribution, login=STAFF)
    refused(server, "Distribute", give("CS01", plain, item, 1), Code.FAILED_PRECONDITION, "QUOTA_EXCEEDED",
            login=STAFF)
    # moving to another grid does not reset what the household had this week
    server.call_ok("HouseholdService/MoveHousehold", hpb.MoveHouseholdRequest(id=poor, to_grid_code="GR002"),
                   hpb.Household, login=STAFF)
    refused(server, "Distribute", give("CS01", poor, item, 1), Code.FAILED_PRECONDITION, "QUOTA_EXCEEDED",
            login=STAFF)
    assert one(db, "SELECT count(*) FROM charity_households WHERE register_id = %s", poor) == 1
    # a rule of the whole category counts every item of it
    other = new_item(db, category="hygiene")
    more = new_item(db, category="hygiene")
    stock(server, other, ["CS01"])
    stock(server, more, ["CS01"])
    ok(server, "SetQuotaRule", pb.SetQuotaRuleRequest(category="hygiene", period="month", qty=4, pct_infant=200),
       pb.QuotaRule)
    baby = household(server, members=2, infant=True)  # 4 × 200% = 8 hygiene items a month
    ok(server, "Distribute", pb.DistributeRequest(site_code="CS01", household_id=baby, items=[
        pb.DistributionItem(item_code=other, qty=5), pb.DistributionItem(item_code=more, qty=3)]),
        pb.Distribution, login=STAFF)
    refused(server, "Distribute", give("CS01", baby, more, 1), Code.FAILED_PRECONDITION, "QUOTA_EXCEEDED",
            login=STAFF)
    ok(server, "SetQuotaRule", pb.SetQuotaRuleRequest(category="hygiene", period="month", qty=0), pb.QuotaRule)


def test_distribute_refusals_for_registered_households(server, db):
    item = new_item(db)
    stock(server, item, ["CS01"])
    hid = household(server)
    before = one(db, "SELECT count(*) FROM charity_distributions")
    refused(server, "Distribute", pb.DistributeRequest(site_code="CS01", household_id=hid, household="X1",
                                                       items=[pb.DistributionItem(item_code=item, qty=1)]),
            Code.INVALID_ARGUMENT, "FIELD_INVALID", login=STAFF)
    refused(server, "Distribute", give("CS01", 10 ** 12, item, 1), Code.NOT_FOUND, "NOT_FOUND", login=STAFF)
    refused(server, "Distribute", give("CS01", -1, item, 1), Code.INVALID_ARGUMENT, "FIELD_OUT_OF_RANGE",
            login=STAFF)
    # the register's household codes cannot be squatted as free text
    refused(server, "Distribute", pb.DistributeRequest(site_code="CS01", household="REG-%d" % hid, grid_code="GR001",
                                                       items=[pb.DistributionItem(item_code=item, qty=1)]),
            Code.INVALID_ARGUMENT, "FIELD_INVALID", login=STAFF)
    assert one(db, "SELECT count(*) FROM charity_distributions") == before
    import psycopg
    with pytest.raises(psycopg.Error, match="charity_households_register_code"):
        db.execute("INSERT INTO charity_households (grid_id, code) SELECT id, 'reg-1' FROM org_units WHERE code = 'GR001'")


def test_racing_stations_on_two_servers_never_exceed_a_registered_households_quota(server, db, far):
    item = new_item(db)
    stock(server, item, ["CS01", far], qty=300)
    ok(server, "SetQuotaRule", pb.SetQuotaRuleRequest(item_code=item, period="week", basis="member", qty=5,
                                                      pct_disabled_member=140), pb.QuotaRule)
    hid = household(server, members=4, disabled_member=True)  # 5 × 4 × 140% = 28
    other = server.start_server()
    try:
        servers = [server, other]
        token = server.token(LOGI)
        got, errors = [], []
        lock = threading.Lock()

        def worker(n):
            srv = servers[n % 2]
            site = "CS01" if n % 4 < 2 else far
            mine, qty = 0, 1 + n % 3
            while True:
                r, code, details = srv.call(C + "Distribute", give(site, hid, item, qty), pb.Distribution,
                                            token=token, timeout=30)
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
        assert len(got) == 8 and sum(got) == 28, got
        assert one(db, "SELECT -sum(m.qty) FROM stock_movements m JOIN items i ON i.id = m.item_id"
                       " WHERE i.code = %s AND m.kind = 'distribution_out'", item) == 28
        assert one(db, "SELECT sum(used) FROM charity_rule_usage u JOIN charity_quota_rules r ON r.id = u.rule_id"
                       " JOIN items i ON i.id = r.item_id WHERE i.code = %s", item) == 28
        assert other.call_ok("StockService/VerifyStock", st.VerifyStockRequest(), st.VerifyStockResponse,
                             login="admin").clean
    finally:
        assert other.stop() == 0


def test_walk_ins_are_served_as_the_district_says_and_flagged(server, db):
    item = new_item(db)
    stock(server, item, ["CS01"])
    walk = "WALK-" + uuid.uuid4().hex[:6].upper()
    req = pb.DistributeRequest(site_code="CS01", household=walk, grid_code="GR001",
                               items=[pb.DistributionItem(item_code=item, qty=1)])
    refused(server, "SetWalkInRule", pb.SetWalkInRuleRequest(serves=1), Code.PERMISSION_DENIED, "PERMISSION_DENIED",
            login=STAFF)
    refused(server, "SetWalkInRule", pb.SetWalkInRuleRequest(serves=101), Code.INVALID_ARGUMENT,
            "FIELD_OUT_OF_RANGE")
    w = ok(server, "SetWalkInRule", pb.SetWalkInRuleRequest(serves=1), pb.WalkInRule)
    assert w.set and w.serves == 1 and w.updated_by == LOGI
    try:
        d = ok(server, "Distribute", req, pb.Distribution, login=STAFF)
        assert d.walk_in and d.household_id == 0
        _, info = refused(server, "Distribute", req, Code.FAILED_PRECONDITION, "WALK_IN_SERVED", login=STAFF)
        assert info.metadata["serves"] == "1" and info.metadata["household"] == walk
        # the same family at another station of the district: still the one walk-in
        _, info = refused(server, "Distribute", pb.DistributeRequest(
            site_code="CS02", household=walk, grid_code="GR001", items=[pb.DistributionItem(item_code=item, qty=1)]),
            Code.FAILED_PRECONDITION, "WALK_IN_SERVED")
        # registered, it is served under its rules, not flagged
        hid = household(server)
        d2 = ok(server, "Distribute", give("CS01", hid, item, 1), pb.Distribution, login=STAFF)
        assert not d2.walk_in
        rules = ok(server, "ListQuotaRules", pb.ListQuotaRulesRequest(), pb.ListQuotaRulesResponse, login=STAFF)
        assert rules.walk_in.set and rules.walk_in.serves == 1
        assert one(db, "SELECT walkin_served FROM charity_households WHERE code = %s", walk) == 1
    finally:
        ok(server, "SetWalkInRule", pb.SetWalkInRuleRequest(serves=100), pb.WalkInRule)


def test_cli_quota_rules(cli, db):
    item = new_item(db)
    rc, out, err = cli("charity", "set-quota-rule", "--item-code", item, "--period", "month", "--basis", "member",
                       "--qty", "3", "--pct-infant", "150", login=LOGI)
    assert rc == 0, err
    rc, out, err = cli("charity", "list-quota-rules", login=STAFF)
    assert rc == 0 and item in out, err
    rc, out, err = cli("charity", "set-walk-in-rule", "--serves", "2", login=STAFF)
    assert rc != 0 and "district" in err


# ---------------------------------------------------------------- who has been helped


def test_who_has_been_helped_and_the_door_to_door_list(server, db, cli):
    from gridstock.v1 import households_pb2 as H
    grid = one(db, """SELECT g.code FROM org_units g JOIN org_units c ON c.id = g.parent_id
                      WHERE c.code = 'CM01' AND g.kind = 'grid' ORDER BY g.id DESC LIMIT 1""")
    item = new_item(db)
    stock(server, item, ["CS01"])

    def grid_row(**kw):
        rep = server.call_ok("HouseholdService/HelpedReport", H.HelpedReportRequest(org_unit_code="CM01", **kw),
                             H.HelpedReportResponse, login=STAFF)
        return rep, [r for r in rep.rows if r.level == "grid" and r.org_unit_code == grid][0]

    _, b = grid_row()  # the demo's households of the grid, and what earlier tests did
    served = household(server, grid=grid, low_income=True)
    waiting = household(server, grid=grid, low_income=True, infant=True)
    household(server, grid=grid)
    ok(server, "Distribute", give("CS01", served, item, 1), pb.Distribution, login=STAFF)
    rep, row = grid_row()
    assert rep.since.endswith("-01") and rep.until > rep.since
    assert (row.households - b.households, row.served - b.served, row.not_served - b.not_served) == (3, 1, 2)
    assert (row.low_income - b.low_income, row.low_income_served - b.low_income_served,
            row.infant - b.infant, row.infant_served - b.infant_served) == (2, 1, 1, 0)
    cm = [r for r in rep.rows if r.level == "community"]
    assert len(cm) == 1 and cm[0].org_unit_code == "CM01" and cm[0].community_code == "CM01"
    grids = [r for r in rep.rows if r.level == "grid"]
    assert cm[0].households == sum(r.households for r in grids) and cm[0].served == sum(r.served for r in grids)
    assert rep.rows[-1].level == "community"
    # another grid's leader sees only theirs; a period in the past has nobody served
    other = server.call_ok("HouseholdService/HelpedReport", H.HelpedReportRequest(), H.HelpedReportResponse,
                           login="leader.gr002")
    assert {r.org_unit_code for r in other.rows if r.level == "grid"} == {"GR002"}
    past = server.call_ok("HouseholdService/HelpedReport", H.HelpedReportRequest(
        org_unit_code=grid, since="2025-01-01", until="2025-02-01"), H.HelpedReportResponse, login=STAFF)
    assert past.rows[0].served == 0 and past.rows[0].households == row.households
    for req, reason in [(H.HelpedReportRequest(since="2025-02-01", until="2025-01-01"), "FIELD_INVALID"),
                        (H.HelpedReportRequest(since="2025-01-01", until="2026-06-01"), "FIELD_OUT_OF_RANGE"),
                        (H.HelpedReportRequest(since="yesterday"), "FIELD_BAD_FORMAT")]:
        got, details, status = server.call_status("HouseholdService/HelpedReport", req, login=STAFF)
        assert got == Code.INVALID_ARGUMENT and reason_of(status).reason == reason, (details, reason)
    got, _, _ = server.call_status("HouseholdService/HelpedReport", H.HelpedReportRequest(org_unit_code="CM02"),
                                   login=STAFF)
    assert got == Code.NOT_FOUND
    # the list to take door to door: not served, neediest filter, as CSV from the CLI
    door = server.call_ok("HouseholdService/DoorToDoor", H.DoorToDoorRequest(org_unit_code=grid),
                          H.DoorToDoorResponse, login=STAFF)
    assert [r.household_id for r in door.rows] == sorted(r.household_id for r in door.rows)
    assert served not in [r.household_id for r in door.rows] and waiting in [r.household_id for r in door.rows]
    w = [r for r in door.rows if r.household_id == waiting][0]
    assert w.needs == "low_income,infant" and w.head_name == "测试户" and w.last_served_at == ""
    inf = server.call_ok("HouseholdService/DoorToDoor", H.DoorToDoorRequest(org_unit_code=grid, need="infant"),
                         H.DoorToDoorResponse, login=STAFF)
    assert waiting in [r.household_id for r in inf.rows] and all("infant" in r.needs for r in inf.rows)
    done = server.call_ok("HouseholdService/DoorToDoor", H.DoorToDoorRequest(org_unit_code=grid, served=True),
                          H.DoorToDoorResponse, login=STAFF)
    assert served in [r.household_id for r in done.rows] and all(r.last_served_at for r in done.rows)
    assert len(done.rows) == row.served and len(door.rows) == row.not_served
    rc, out, err = cli("household", "door-to-door", "--org-unit-code", grid, "--csv", login=STAFF)
    assert rc == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 1 + row.not_served and "测试户" in out, out
    rc, out, err = cli("household", "door-to-door", "--org-unit-code", grid, "--csv", login="leader.gr002")
    assert rc != 0 and "not found" in err


# ---------------------------------------------------------------- near-expiry reserves to help


def receive(server, site, item, lot, qty, expires_on, unit_cost_fen=0):
    return server.call_ok("StockService/Receive", st.ReceiveRequest(
        site_code=site, item_code=item, qty=qty, lot_code=lot, expires_on=expires_on, unit_cost_fen=unit_cost_fen),
        st.ReceiveResponse, login=LOGI).lot


def test_accepting_a_proposal_moves_the_lot_to_the_station_once(server, db):
    from harness.sql import day
    item = new_item(db)
    soon = receive(server, "RP01", item, "RESCUE-1", 40, day(db, 5))
    later = receive(server, "RP01", item, "RESCUE-2", 10, day(db, 200))
    props = server.call_ok("StockService/CharityTransferProposals", st.CharityTransferProposalsRequest(
        org_unit_code="CM01"), st.CharityTransferProposalsResponse, login=LOGI)
    p = [x for x in props.proposals if x.lot.id == soon.id][0]
    assert p.qty == 40 and later.id not in [x.lot.id for x in props.proposals]
    req = pb.AcceptTransferProposalRequest(lot_id=soon.id, to_site_code=p.to_site_code, qty=30)
    r = ok(server, "AcceptTransferProposal", req, pb.Rescue, request_id="rescue-" + item)
    again = ok(server, "AcceptTransferProposal", req, pb.Rescue, request_id="rescue-" + item)
    assert again.id == r.id and again.transfer_id == r.transfer_id  # exactly once
    assert (r.qty, r.lot_code, r.from_site_code, r.to_site_code) == (30, "RESCUE-1", "RP01", p.to_site_code)
    assert one(db, "SELECT on_hand FROM lots WHERE id = %s", soon.id) == 10
    assert one(db, "SELECT count(*) FROM stock_transfers WHERE id = %s AND ref_type = 'charity_rescue'",
               r.transfer_id) == 1
    assert one(db, "SELECT count(*) FROM audit_log WHERE object = %s AND method LIKE '%%AcceptTransferProposal'",
               "transfer:%d" % r.transfer_id) == 1
    # the rest of the lot (qty 0: all that is available), then nothing is left
    rest = ok(server, "AcceptTransferProposal", pb.AcceptTransferProposalRequest(
        lot_id=soon.id, to_site_code=p.to_site_code), pb.Rescue)
    assert rest.qty == 10
    refused(server, "AcceptTransferProposal", pb.AcceptTransferProposalRequest(
        lot_id=soon.id, to_site_code=p.to_site_code), Code.FAILED_PRECONDITION, "STOCK_INSUFFICIENT")
    refused(server, "AcceptTransferProposal", pb.AcceptTransferProposalRequest(
        lot_id=later.id, to_site_code=p.to_site_code), Code.FAILED_PRECONDITION, "WRONG_STATE")
    refused(server, "AcceptTransferProposal", pb.AcceptTransferProposalRequest(
        lot_id=later.id, to_site_code="RP02"), Code.INVALID_ARGUMENT, "FIELD_INVALID")
    refused(server, "AcceptTransferProposal", pb.AcceptTransferProposalRequest(
        lot_id=10 ** 12, to_site_code=p.to_site_code), Code.NOT_FOUND, "NOT_FOUND")
    refused(server, "AcceptTransferProposal", pb.AcceptTransferProposalRequest(
        lot_id=later.id, to_site_code=p.to_site_code), Code.PERMISSION_DENIED, "ROLE_NOT_ALLOWED", login=STAFF)
    # a logistics officer of another street sees neither the lot nor the station
    refused(server, "AcceptTransferProposal", pb.AcceptTransferProposalRequest(
        lot_id=soon.id, to_site_code=p.to_site_code), Code.NOT_FOUND, "NOT_FOUND", login="logi.st02")
    # the station receives it as any transfer
    server.call_ok("StockService/ReceiveTransfer", st.ReceiveTransferRequest(transfer_id=r.transfer_id),
                   st.Transfer, login=LOGI)
    assert one(db, """SELECT l.on_hand FROM lots l JOIN sites s ON s.id = l.site_id
                      WHERE s.code = %s AND l.lot_code = 'RESCUE-1'""", p.to_site_code) == 30


def test_rescue_report_saved_and_still_expired(server, db):
    from harness.sql import day
    item = new_item(db)
    soon = receive(server, "RP01", item, "SAVE-1", 12, day(db, 3), unit_cost_fen=180)
    site = one(db, "SELECT s.id FROM sites s WHERE s.code = 'RP01'")
    # a lot that expired earlier this period with 7 units still on hand at 2.50 yuan each, and
    # 3 more written off (a fixture: stock cannot be received already expired)
    db.execute("""INSERT INTO lots (site_id, item_id, lot_code, expires_on, source, on_hand, received_at,
                                    unit_cost_fen)
                  SELECT %s, i.id, 'LOST-1', current_date - 1, 'purchase', 7, now() - interval '100 days', 250
                    FROM items i WHERE i.code = %s""", (site, item))
    db.execute("""INSERT INTO stock_movements (kind, site_id, item_id, lot_id, qty, at, note)
                  SELECT 'receipt', l.site_id, l.item_id, l.id, 10, now() - interval '100 days', 'test fixture'
                    FROM lots l WHERE l.lot_code = 'LOST-1' AND l.site_id = %s""", (site,))
    db.execute("""INSERT INTO stock_movements (kind, site_id, item_id, lot_id, qty, at, note)
                  SELECT 'expiry_writeoff', l.site_id, l.item_id, l.id, -3, now(), 'test fixture'
                    FROM lots l WHERE l.lot_code = 'LOST-1' AND l.site_id = %s""", (site,))
    to = one(db, "SELECT code FROM sites WHERE kind = 'charity_station' ORDER BY code LIMIT 1")
    ok(server, "AcceptTransferProposal", pb.AcceptTransferProposalRequest(lot_id=soon.id, to_site_code=to), pb.Rescue)
    since = one(db, "SELECT to_char(current_date - 1, 'YYYY-MM-DD')")
    rep = ok(server, "RescueReport", pb.RescueReportRequest(org_unit_code="CM01", since=since),
             pb.RescueReportResponse)
    row = [x for x in rep.rows if x.item_code == item][0]
    assert (row.rescued_qty, row.rescued_lots, row.expired_qty, row.expired_lots) == (12, 1, 10, 1)
    # and in yuan: 12 saved at 1.80, 7 left and 3 written off at 2.50
    assert (row.rescued_value_fen, row.expired_value_fen) == (12 * 180, 10 * 250), row
    assert rep.rescued_qty >= 12 and rep.expired_qty >= 10
    assert rep.rescued_value_fen == sum(x.rescued_value_fen for x in rep.rows) >= 2160
    assert rep.expired_value_fen == sum(x.expired_value_fen for x in rep.rows) >= 2500
    refused(server, "RescueReport", pb.RescueReportRequest(since="2026-02-01", until="2026-01-01"),
            Code.INVALID_ARGUMENT, "FIELD_INVALID")


def test_a_lot_entering_the_window_is_proposed_on_the_alert_stream(server, db):
    import time
    from harness.sql import day
    item = new_item(db)
    # a lot received long ago (far from expiry then), now 12 days from expiry
    lot = one(db, """WITH l AS (
                 INSERT INTO lots (site_id, item_id, lot_code, expires_on, source, on_hand, received_at)
                 SELECT s.id, i.id, 'PROP-1', current_date + 12, 'purchase', 6, now() - interval '200 days'
                   FROM sites s, items i WHERE s.code = 'RP01' AND i.code = %s
                 RETURNING id, site_id, item_id),
               m AS (INSERT INTO stock_movements (kind, site_id, item_id, lot_id, qty, at, note)
                 SELECT 'receipt', site_id, item_id, id, 6, now() - interval '200 days', 'test fixture' FROM l)
               SELECT id FROM l""", item)
    stream = server.stream("StockService/WatchStockAlerts", st.WatchStockAlertsRequest(
        org_unit_code="CM01", kinds=["charity_proposal"]), st.StockAlert, login=LOGI, timeout=30)
    got = []

    def read():
        try:
            for m in stream:
                got.append(m)
        except grpc.RpcError:
            pass

    th = threading.Thread(target=read)
    th.start()
    time.sleep(1.0)  # the listener subscribes asynchronously
    one(db, "SELECT stock_scan_near_expiry(30)")
    deadline = time.time() + 10
    while not [a for a in got if a.item_code == item] and time.time() < deadline:
        time.sleep(0.05)
    stream.cancel()
    th.join(5)
    mine = [a for a in got if a.item_code == item]
    assert len(mine) == 1, mine
    a = mine[0]
    assert (a.kind, a.site_code, a.lot_id, a.qty, a.expires_on) == ("charity_proposal", "RP01", lot, 6, day(db, 12))
    assert a.to_site_code and a.to_site_id and "charity station" in a.message
    # and accepting it is one call
    r = ok(server, "AcceptTransferProposal", pb.AcceptTransferProposalRequest(lot_id=a.lot_id, to_site_id=a.to_site_id),
           pb.Rescue)
    assert r.qty == 6 and r.to_site_code == a.to_site_code


def test_a_lot_arriving_inside_the_window_is_proposed_at_once(server, db):
    """083: a receipt at a reserve point whose expiry is already inside the window raises the
    charity proposal on the watch stream from its own transaction — no scan runs; a lot far
    from expiry, or one arriving at a charity station, raises none."""
    import time
    from harness.sql import day
    item = new_item(db)
    stream = server.stream("StockService/WatchStockAlerts", st.WatchStockAlertsRequest(
        org_unit_code="CM01", kinds=["charity_proposal"]), st.StockAlert, login=LOGI, timeout=30)
    got = []

    def read():
        try:
            for m in stream:
                got.append(m)
        except grpc.RpcError:
            pass

    th = threading.Thread(target=read)
    th.start()
    time.sleep(1.0)  # the listener subscribes asynchronously
    receive(server, "RP01", item, "FAR-1", 5, day(db, 300))
    station = one(db, """SELECT s.code FROM sites s JOIN org_units ou ON ou.id = s.org_unit_id
                          WHERE s.kind = 'charity_station' AND s.active AND ou.code = 'CM01' LIMIT 1""")
    if station:
        receive(server, station, item, "AT-STATION", 5, day(db, 9))
    lot = receive(server, "RP01", item, "ARRIVE-1", 8, day(db, 9))
    deadline = time.time() + 10
    while not [a for a in got if a.item_code == item] and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # anything else about this item would have come by now
    stream.cancel()
    th.join(5)
    mine = [a for a in got if a.item_code == item]
    assert [(a.kind, a.site_code, a.lot_id, a.qty, a.expires_on) for a in mine] == [
        ("charity_proposal", "RP01", lot.id, 8, day(db, 9))], mine
    assert mine[0].to_site_code and "charity station" in mine[0].message
    # the periodic scan does not announce it a second time
    one(db, "SELECT stock_scan_near_expiry(30)")
    assert one(db, "SELECT count(*) FROM stock_expiry_alerted WHERE lot_id = %s", lot.id) == 0


def test_the_stock_dashboard_shows_who_has_been_helped(server, db):
    """The stock HTML dashboard's "Who has been helped": this month's HelpedReport figures,
    row for row (its query), per community and grid; only for roles that keep the register
    (a logistics officer gets a note, no figures)."""
    import re
    from gridstock.v1 import households_pb2 as H
    item = new_item(db)
    stock(server, item, ["CS01"])
    h = household(server, grid="GR001", elderly_alone=True)
    ok(server, "Distribute", give("CS01", h, item, 1), pb.Distribution, login=STAFF)
    rep = server.call_ok("HouseholdService/HelpedReport", H.HelpedReportRequest(org_unit_code="CM01"),
                         H.HelpedReportResponse, login=STAFF)
    html = server.call_ok("StockService/ExportDashboard", st.ExportDashboardRequest(org_unit_code="CM01"),
                          st.ExportDashboardResponse, login=STAFF).html
    assert "Who has been helped" in html and rep.since in html and rep.until in html
    cells = {}
    for code, body in re.findall(r'<tr data-code="([^"]+)">(.*?)</tr>', html):
        cells[code] = re.findall(r'<td class="n[^"]*">([^<]*)</td>', body)
    assert len(cells) == len(rep.rows), (len(cells), len(rep.rows))
    for r in rep.rows:
        assert cells[r.org_unit_code] == [str(r.households), str(r.served), str(r.not_served)] + [
            "%d / %d" % (r.elderly_alone_served, r.elderly_alone), "%d / %d" % (r.disabled_member_served,
                                                                                r.disabled_member),
            "%d / %d" % (r.low_income_served, r.low_income), "%d / %d" % (r.infant_served, r.infant),
            "%d / %d" % (r.chronic_illness_served, r.chronic_illness)], r.org_unit_code
    assert [r for r in rep.rows if r.org_unit_code == "GR001"][0].elderly_alone_served >= 1
    # the community row comes before its grids
    assert html.index('data-code="CM01"') < html.index('data-code="GR001"')
    logi = server.call_ok("StockService/ExportDashboard", st.ExportDashboardRequest(org_unit_code="CM01"),
                          st.ExportDashboardResponse, login=LOGI).html
    assert "Who has been helped" in logi and "household register" in logi and 'data-code="GR001"' not in logi


def test_the_readme_tour_refuses_a_second_helping_at_another_station(cli, db):
    """README "Households and fair shares": the demo's food rule (3 a month per member, ×1.5
    for low income or an elderly person alone) across two stations, through the CLI."""
    import json
    idn = new_id()
    rc, out, err = cli("--json", "household", "register", "--grid-code", "GR001", "--id-number-file", "-",
                       "--head-name", "王秀英", "--members", "1", "--needs.elderly-alone", "--needs.low-income",
                       login="leader.gr001", input=idn + "\n")
    assert rc == 0, err
    hid = json.loads(out)["id"]
    for s in ("CS01", "CS05"):
        rc, out, err = cli("charity", "record-donation", "--site-code", s, "--donor-name", "Binhe Road merchants",
                           "--data", json.dumps({"items": [{"item_code": "RICE-SELFHEAT", "qty": 20,
                                                            "expires_on": "2030-06-30"}]}), login=LOGI)
        assert rc == 0, err
    rc, out, err = cli("--json", "charity", "distribute", "--site-code", "CS01", "--household-id", hid,
                       "--data", json.dumps({"items": [{"item_code": "RICE-SELFHEAT", "qty": 4}]}), login=STAFF)
    assert rc == 0, err
    assert [(q["quota"], q["used"]) for q in json.loads(out)["quotas"]] == [("4", "4")] or \
        [(int(q["quota"]), int(q["used"])) for q in json.loads(out)["quotas"]] == [(4, 4)], out
    rc, out, err = cli("charity", "distribute", "--site-code", "CS05", "--household-id", hid,
                       "--data", json.dumps({"items": [{"item_code": "RICE-SELFHEAT", "qty": 1}]}), login=LOGI)
    assert rc == 3 and "FAILED_PRECONDITION" in err and "quota" in err, err


def test_cli_update_helped_accept_and_rescue(server, cli, db):
    """The register's update and helped report, and the rescue calls, through the CLI."""
    import json
    from harness.sql import day
    rc, out, err = cli("household", "register", "--grid-code", "GR001", "--id-number-file", "-", "--head-name",
                       "吴十", "--members", "2", "--json", login=STAFF, input=new_id())
    assert rc == 0, err
    hid = int(json.loads(out)["id"])
    rc, out, err = cli("household", "update", "--id", hid, "--head-name", "吴十", "--members", "5", "--json",
                       login=STAFF)
    assert rc == 0 and json.loads(out)["members"] == 5, err
    rc, out, err = cli("household", "helped-report", "--org-unit-code", "CM01", "--json", login=STAFF)
    assert rc == 0, err
    rows = json.loads(out)["rows"]
    assert any(r["org_unit_code"] == "GR001" for r in rows) and any(r["level"] == "community" for r in rows), rows
    item = new_item(db)
    soon = receive(server, "RP01", item, "CLI-RESCUE", 20, day(db, 4))
    to = one(db, "SELECT code FROM sites WHERE kind = 'charity_station' ORDER BY code LIMIT 1")
    rc, out, err = cli("charity", "accept-transfer-proposal", "--lot-id", soon.id, "--to-site-code", to,
                       "--qty", "6", "--json", login=LOGI)
    assert rc == 0, err
    r = json.loads(out)
    assert int(r["qty"]) == 6 and r["to_site_code"] == to and int(r["transfer_id"]) > 0, r
    rc, out, err = cli("charity", "rescue-report", "--org-unit-code", "CM01", "--json", login=LOGI)
    assert rc == 0, err
    rep = json.loads(out)
    assert any(x["item_code"] == item and int(x["rescued_qty"]) == 6 for x in rep["rows"]), rep
    rc, out, err = cli("charity", "accept-transfer-proposal", "--lot-id", soon.id, "--to-site-code", to,
                       "--qty", "0", login=STAFF)
    assert rc != 0 and err.strip(), err
