"""Issue 14 on the demo district: each finding replayed step by step as the ordinary user it
names (every step refused with its status, no table changed), and the two-person flows end
to end: emergency mode (propose, confirm, extend, switch off, expiry by the job, announced
on the watch stream and audited) and fund movements (prepare, approve, post, reject, void,
expire), on two servers, with races: two confirmations at once, a confirmation racing the
expiry, two approvals and two posts of one movement at once. Plus keys no caller can squat."""
import threading
import time
import uuid

import grpc
import pytest

from gridstock.v1 import catalog_pb2 as cat
from gridstock.v1 import charity_pb2 as ch
from gridstock.v1 import funds_pb2 as F
from gridstock.v1 import requisitions_pb2 as rq
from gridstock.v1 import users_pb2 as us
from harness.money import move, step
from harness.sql import one

Code = grpc.StatusCode
RS = "RequisitionService/"
EM = rq.EmergencyMode
# Tables written on their own schedule by background jobs, not by calls.
BACKGROUND_TABLES = {"audit_seal", "stock_expiry_alerted"}


def digest(db):
    """{table: (rows, md5 of the rows)} for every table of the schema."""
    tables = [r[0] for r in db.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1").fetchall()
        if r[0] not in BACKGROUND_TABLES]
    sql = " UNION ALL ".join(
        "SELECT %s, count(*), md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM %s x"
        % ("'" + t + "'", '"' + t + '"') for t in tables)
    return {t: (n, h) for t, n, h in db.execute(sql).fetchall()}


def refused(server, db, path, req, cls, login, code, match=None):
    """Calls `path` as `login`, expects `code` (and `match` in the details) and no change
    in any table."""
    before = digest(db)
    _, c, d = server.call(path, req, cls, login=login)
    assert c == code, (path, login, c, d)
    if match:
        assert match in d, (path, d)
    after = digest(db)
    changed = sorted(t for t in set(before) | set(after) if before.get(t) != after.get(t))
    assert not changed, (path, login, changed)
    return d


def new_item(db, prefix="TP"):
    code = "%s-%s" % (prefix, uuid.uuid4().hex[:8].upper())
    iid = one(db, "INSERT INTO items (code, name, category, unit) VALUES (%s, %s, 'food', 'box')"
                  " RETURNING id", code, "Test item " + code)
    return iid, code


def receive(db, site, item_id, qty):
    return one(db, "SELECT lot_id FROM stock_receive((SELECT id FROM sites WHERE code = %s),"
                   " %s, %s, %s, NULL::date)", site, item_id, qty, "L" + uuid.uuid4().hex[:6].upper())


def user(server, db, login, role, scope):
    if not one(db, "SELECT count(*) FROM users WHERE login = %s", login):
        server.call_ok("UserService/CreateUser", us.CreateUserRequest(
            login=login, display_name="Test " + login, role=role, scope_code=scope), us.User, login="admin")
    return login


def propose(server, login, unit, active=True, reason="flood", **kw):
    return server.call(RS + "SetEmergencyMode", rq.SetEmergencyModeRequest(
        org_unit_code=unit, active=active, reason=reason, **kw), EM, login=login)


def confirm(server, login, pid):
    return server.call(RS + "ConfirmEmergencyMode", rq.ConfirmEmergencyModeRequest(proposal_id=pid),
                       EM, login=login)


def switch(server, proposer, confirmer, unit, active=True, **kw):
    m, c, d = propose(server, proposer, unit, active, **kw)
    assert c == Code.OK, d
    m, c, d = confirm(server, confirmer, m.proposal.id)
    assert c == Code.OK, d
    return m


def live(db, unit):
    return one(db, "SELECT count(*) FROM emergency_activations e JOIN org_units o ON o.id = e.org_unit_id"
                   " WHERE o.code = %s AND e.ended_at IS NULL", unit)


def end_all(db):
    db.execute("UPDATE emergency_activations SET ended_at = now(), ended_how = 'expired'"
               " WHERE ended_at IS NULL")


# ---------------------------------------------------------------- finding 1, replayed


def test_point_leader_alone_cannot_declare_the_district(server, db):
    """point.cm01 (scope CM01) tried to switch the district DC on, raise GR001's cap and
    be approved at once; and to switch off a district emergency someone else declared."""
    item, code = new_item(db)
    refused(server, db, RS + "SetEmergencyMode", rq.SetEmergencyModeRequest(
        org_unit_code="DC", active=True, reason="flood"), EM, "point.cm01", Code.NOT_FOUND)
    refused(server, db, RS + "SetEmergencyMode", rq.SetEmergencyModeRequest(
        org_unit_code="ST01", active=True, reason="flood"), EM, "point.cm01", Code.NOT_FOUND)
    dc = one(db, "SELECT id FROM org_units WHERE code = 'DC'")
    refused(server, db, RS + "SetEmergencyMode", rq.SetEmergencyModeRequest(
        org_unit_id=dc, active=True, reason="flood"), EM, "point.cm01", Code.NOT_FOUND)
    # the answer for the district is the answer for a unit that does not exist
    d1 = refused(server, db, RS + "SetEmergencyMode", rq.SetEmergencyModeRequest(
        org_unit_code="ZZ-NONE", active=True, reason="flood"), EM, "point.cm01", Code.NOT_FOUND)
    d2 = refused(server, db, RS + "SetEmergencyMode", rq.SetEmergencyModeRequest(
        org_unit_code="DC", active=True, reason="flood"), EM, "point.cm01", Code.NOT_FOUND)
    assert d1.replace("ZZ-NONE", "X") == d2.replace("DC", "X")
    # the cap: a point leader may raise requisitions, so may not set their limit
    refused(server, db, RS + "SetEmergencyCap", rq.SetEmergencyCapRequest(
        org_unit_code="GR001", item_code="WATER-5L", daily_qty=100000), rq.EmergencyCap, "point.cm01",
        Code.PERMISSION_DENIED)
    refused(server, db, RS + "SetEmergencyCap", rq.SetEmergencyCapRequest(
        org_unit_code="GR001", item_code="WATER-5L", daily_qty=100000), rq.EmergencyCap, "admin",
        Code.PERMISSION_DENIED)
    # one person's proposal changes nothing that matters: the requisition waits in the queue
    p, c, d = propose(server, "point.cm01", "CM01")
    assert c == Code.OK and not p.active and p.proposal.status == "open", d
    refused(server, db, RS + "ConfirmEmergencyMode", rq.ConfirmEmergencyModeRequest(
        proposal_id=p.proposal.id), EM, "point.cm01", Code.PERMISSION_DENIED, "second person")
    r = server.call_ok(RS + "Create", rq.CreateRequisitionRequest(
        priority="emergency", submit=True, lines=[rq.RequisitionLineInput(item_code=code, qty=5)]),
        rq.Requisition, login="leader.gr001")
    assert r.status == "submitted" and not r.auto_approved
    # a district emergency declared by two others cannot be switched off by point.cm01
    user(server, db, "point.dc2", "point_leader", "DC")
    m = switch(server, "admin", "point.dc2", "DC", reason="district exercise")
    assert m.active and m.org_unit_code == "DC"
    refused(server, db, RS + "SetEmergencyMode", rq.SetEmergencyModeRequest(
        org_unit_code="DC", active=False, reason="over"), EM, "point.cm01", Code.NOT_FOUND)
    off, c, d = propose(server, "admin", "DC", active=False, reason="over")
    assert c == Code.OK, d
    refused(server, db, RS + "ConfirmEmergencyMode", rq.ConfirmEmergencyModeRequest(
        proposal_id=off.proposal.id), EM, "point.cm01", Code.NOT_FOUND)
    assert live(db, "DC") == 1
    assert confirm(server, "point.dc2", off.proposal.id)[1] == Code.OK
    assert live(db, "DC") == 0


def test_reads_are_trimmed_to_the_subtree(server, db):
    """GetEmergencyMode and ListEmergencyCaps list nothing above the caller's scope."""
    item, code = new_item(db)
    user(server, db, "point.st01", "point_leader", "ST01")
    m = switch(server, "point.st01", "admin", "ST01", reason="secret street reason")
    server.call_ok(RS + "SetEmergencyCap", rq.SetEmergencyCapRequest(
        org_unit_code="ST01", item_code=code, daily_qty=7), rq.EmergencyCap, login="logi.st01")
    server.call_ok(RS + "SetEmergencyCap", rq.SetEmergencyCapRequest(
        org_unit_code="CM01", item_code=code, daily_qty=3), rq.EmergencyCap, login="logi.st01")
    refused(server, db, RS + "GetEmergencyMode", rq.GetEmergencyModeRequest(org_unit_code="DC"),
            rq.GetEmergencyModeResponse, "point.cm01", Code.NOT_FOUND)
    refused(server, db, RS + "ListEmergencyCaps", rq.ListEmergencyCapsRequest(org_unit_code="ST01"),
            rq.ListEmergencyCapsResponse, "point.cm01", Code.NOT_FOUND)
    g = server.call_ok(RS + "GetEmergencyMode", rq.GetEmergencyModeRequest(), rq.GetEmergencyModeResponse,
                       login="point.cm01")
    # in effect, named, with its end; but no reason and no people from above the scope
    assert g.in_effect and g.effective.org_unit_code == "ST01" and g.effective.ends_at
    assert g.effective.reason == "" and g.effective.proposed_by_login == "" and g.effective.switched_by_login == ""
    assert all(x.org_unit_code not in ("ST01", "DC") for x in g.modes)
    caps = server.call_ok(RS + "ListEmergencyCaps", rq.ListEmergencyCapsRequest(item_code=code),
                          rq.ListEmergencyCapsResponse, login="point.cm01")
    assert [(x.org_unit_code, x.daily_qty) for x in caps.caps] == [("CM01", 3)]
    # the street's own people see it whole
    g = server.call_ok(RS + "GetEmergencyMode", rq.GetEmergencyModeRequest(), rq.GetEmergencyModeResponse,
                       login="point.st01")
    assert g.effective.reason == "secret street reason" and g.effective.confirmed_by_login == "admin"
    assert g.effective.activation_id == m.activation_id
    switch(server, "point.st01", "admin", "ST01", active=False, reason="done")


def test_delivery_site_lookup_is_scoped(server, db):
    """leader.gr001 learnt whether any site existed anywhere by naming it as delivery site."""
    req = lambda site: rq.CreateRequisitionRequest(  # noqa: E731
        delivery_site_code=site, lines=[rq.RequisitionLineInput(item_code="WATER-5L", qty=1)])
    d1 = refused(server, db, RS + "Create", req("RP07"), rq.Requisition, "leader.gr001", Code.NOT_FOUND)
    d2 = refused(server, db, RS + "Create", req("ZZ-NOSITE"), rq.Requisition, "leader.gr001", Code.NOT_FOUND)
    assert d1.replace("RP07", "X") == d2.replace("ZZ-NOSITE", "X")
    refused(server, db, RS + "Create", req("RP02"), rq.Requisition, "leader.gr001", Code.NOT_FOUND)
    # its own community's reserve point is a delivery site it may name
    r = server.call_ok(RS + "Create", req("RP01"), rq.Requisition, login="leader.gr001")
    assert r.delivery_site_code == "RP01"
    refused(server, db, RS + "UpdateDraft", rq.UpdateDraftRequest(
        id=r.id, delivery_site_code="RP07", update_mask=["delivery"]), rq.Requisition, "leader.gr001",
        Code.NOT_FOUND)


def test_distribute_reports_no_quota_use_outside_the_scope(server, db):
    """staff.cm01 served a household of GR045 (street ST02) and read what it had elsewhere."""
    item, code = new_item(db, "TPQ")
    receive(db, "CS01", item, 50)
    db.execute("INSERT INTO charity_quotas (org_unit_id, item_id, period, qty)"
               " VALUES ((SELECT id FROM org_units WHERE code = 'DC'), %s, 'week', 4)", (item,))
    hh = "H-" + "".join(chr(65 + b % 26) for b in uuid.uuid4().bytes[:6])
    dist = lambda grid, qty, house=hh: ch.DistributeRequest(  # noqa: E731
        site_code="CS01", grid_code=grid, household=house, items=[ch.DistributionItem(item_code=code, qty=qty)])
    d = server.call_ok("CharityService/Distribute", dist("GR045", 2), ch.Distribution, login="admin")
    assert [(q.used, q.remaining) for q in d.quotas] == [(2, 2)]  # the district sees it
    d = server.call_ok("CharityService/Distribute", dist("GR001", 1), ch.Distribution, login="staff.cm01")
    assert [(q.used, q.remaining) for q in d.quotas] == [(1, 3)]  # a household of its own grid
    d = server.call_ok("CharityService/Distribute", dist("GR045", 1), ch.Distribution, login="staff.cm01")
    assert list(d.quotas) == []  # served, but what GR045's household had is not CM01's to read
    details = refused(server, db, "CharityService/Distribute", dist("GR045", 2), ch.Distribution,
                      "staff.cm01", Code.FAILED_PRECONDITION)
    assert "quota" in details and "has had" not in details and " 3 " not in details, details
    # within the scope the answer keeps its numbers
    details = refused(server, db, "CharityService/Distribute", dist("GR001", 4), ch.Distribution,
                      "staff.cm01", Code.FAILED_PRECONDITION)
    assert "has had 1 of 4" in details, details


def test_catalog_writes_need_district_scope(server, db):
    """A street's logistics officer renamed an item for the whole district."""
    iid = one(db, "SELECT id FROM items WHERE code = 'WATER-5L'")
    refused(server, db, "CatalogService/UpdateItem", cat.UpdateItemRequest(
        id=iid, name="Renamed by a street", update_mask=["name"]), cat.Item, "logi.st01", Code.PERMISSION_DENIED)
    refused(server, db, "CatalogService/UpdateItem", cat.UpdateItemRequest(
        id=iid, active=False, update_mask=["active"]), cat.Item, "logi.st01", Code.PERMISSION_DENIED)
    refused(server, db, "CatalogService/CreateItem", cat.CreateItemRequest(
        code="TP-NEW", name="New", category="food", unit="box"), cat.Item, "logi.st01", Code.PERMISSION_DENIED)


# ---------------------------------------------------------------- emergency mode by two people


def test_emergency_mode_two_people_own_area_limited_time(server, db):
    item, code = new_item(db)
    item2, code2 = new_item(db)
    cs01 = receive(db, "CS01", item, 20)   # a charity station of CM01
    rp02 = receive(db, "RP02", item, 50)   # CM02: outside the area CM01
    receive(db, "RP02", item2, 50)
    user(server, db, "point.cm01b", "point_leader", "CM01")

    # bad proposals
    _, c, d = propose(server, "staff.cm01", "CM01")
    assert c == Code.PERMISSION_DENIED
    _, c, d = propose(server, "point.cm01", "GR001")
    assert c == Code.INVALID_ARGUMENT and d.startswith("org_unit_id"), d
    _, c, d = propose(server, "point.cm01", "CM01", reason="")
    assert c == Code.INVALID_ARGUMENT and d.startswith("reason"), d
    _, c, d = propose(server, "point.cm01", "CM01", hours=169)
    assert c == Code.INVALID_ARGUMENT and d.startswith("hours"), d
    _, c, d = propose(server, "point.cm01", "CM01", active=False, reason="x")
    assert c == Code.FAILED_PRECONDITION, d  # nothing to switch off

    p, c, d = propose(server, "point.cm01", "CM01", reason="Zhou river flood")
    assert c == Code.OK, d
    assert (p.proposal.action, p.proposal.hours, p.proposal.status) == ("on", 72, "open")
    assert not p.active and live(db, "CM01") == 0
    g = server.call_ok(RS + "GetEmergencyMode", rq.GetEmergencyModeRequest(), rq.GetEmergencyModeResponse,
                       login="point.cm01b")
    assert not g.in_effect and p.proposal.id in [x.id for x in g.proposals]
    assert all(x.org_unit_code == "CM01" and x.status == "open" for x in g.proposals)
    assert confirm(server, "point.cm01", p.proposal.id)[1] == Code.PERMISSION_DENIED
    assert confirm(server, "leader.gr001", p.proposal.id)[1] == Code.PERMISSION_DENIED
    assert confirm(server, "point.cm02", p.proposal.id)[1] == Code.NOT_FOUND
    m, c, d = confirm(server, "point.cm01b", p.proposal.id)
    assert c == Code.OK, d
    assert m.active and m.proposed_by_login == "point.cm01" and m.confirmed_by_login == "point.cm01b"
    hours = one(db, "SELECT extract(epoch FROM ends_at - started_at) / 3600 FROM emergency_activations"
                    " WHERE id = %s", m.activation_id)
    assert round(hours) == 72
    assert confirm(server, "admin", p.proposal.id)[1] == Code.FAILED_PRECONDITION  # once only
    assert propose(server, "admin", "CM01")[1] == Code.FAILED_PRECONDITION  # already on
    audit = db.execute("SELECT login, summary FROM audit_log WHERE object = 'emergency_mode:CM01'"
                       " ORDER BY id DESC LIMIT 2").fetchall()
    assert [a[0] for a in audit] == ["point.cm01b", "point.cm01"]
    assert "confirmed proposal %d" % p.proposal.id in audit[0][1] and "proposed" in audit[1][1]

    # caps by a logistics officer; an emergency requisition within them is approved by the rule
    server.call_ok(RS + "SetEmergencyCap", rq.SetEmergencyCapRequest(
        org_unit_code="CM01", item_code=code, daily_qty=5), rq.EmergencyCap, login="logi.st01")
    server.call_ok(RS + "SetEmergencyCap", rq.SetEmergencyCapRequest(
        org_unit_code="CM01", item_code=code2, daily_qty=5), rq.EmergencyCap, login="logi.st01")
    r = server.call_ok(RS + "Create", rq.CreateRequisitionRequest(
        priority="emergency", submit=True,
        lines=[rq.RequisitionLineInput(item_code=code, qty=8), rq.RequisitionLineInput(item_code=code2, qty=2)]),
        rq.Requisition, login="leader.gr001")
    assert r.status == "allocated" and r.auto_approved and r.approved_by_id == 0
    assert r.approved_by_activation_id == m.activation_id
    assert (r.rule_proposed_by_login, r.rule_confirmed_by_login) == ("point.cm01", "point.cm01b")
    # only sites inside CM01: the charity station, never RP02 of CM02
    assert [(a.site_code, a.qty) for a in r.allocations] == [("CS01", 5)]
    assert one(db, "SELECT reserved FROM lots WHERE id = %s", rp02) == 0
    assert [l.qty_backordered for l in r.lines if l.item_code == code2] == [2]
    h = server.call_ok(RS + "History", rq.RequisitionHistoryRequest(id=r.id), rq.RequisitionHistoryResponse,
                       login="leader.gr001")
    appr = [t for t in h.transitions if t.to_state == "approved"][0]
    assert appr.actor_id == 0 and appr.activation_id == m.activation_id
    assert "point.cm01" in appr.comment and "point.cm01b" in appr.comment
    assert one(db, "SELECT count(*) FROM requisition_history WHERE requisition_id = %s AND to_state = 'approved'"
                   " AND actor_id = (SELECT id FROM users WHERE login = 'leader.gr001')", r.id) == 0
    assert one(db, "SELECT reserved FROM lots WHERE id = %s", cs01) == 5
    # the database refuses the requester (or any user) as the approver of an automatic approval
    r2 = server.call_ok(RS + "Create", rq.CreateRequisitionRequest(
        priority="emergency", submit=True, lines=[rq.RequisitionLineInput(item_code="WATER-5L", qty=1)]),
        rq.Requisition, login="leader.gr002")
    assert r2.status == "submitted"  # no cap for WATER-5L: it waits in the queue
    with pytest.raises(Exception, match="auto-approval"):
        db.execute("UPDATE requisitions SET auto_approved = true, approved_by_activation = %s, status = 'approved',"
                   " status_by = requester_id, status_seq = status_seq + 1 WHERE id = %s", (m.activation_id, r2.id))
    with pytest.raises(Exception, match="requisitions_rule_approval"):
        db.execute("UPDATE requisitions SET approved_by_activation = %s WHERE id = %s", (m.activation_id, r2.id))

    # extension: only the same two people
    ext, c, d = propose(server, "admin", "CM01", extend=True, hours=24, reason="rain goes on")
    assert c == Code.PERMISSION_DENIED, d
    ext, c, d = propose(server, "point.cm01b", "CM01", extend=True, hours=24, reason="rain goes on")
    assert c == Code.OK and ext.proposal.action == "extend", d
    assert confirm(server, "admin", ext.proposal.id)[1] == Code.PERMISSION_DENIED
    before = one(db, "SELECT ends_at FROM emergency_activations WHERE id = %s", m.activation_id)
    e, c, d = confirm(server, "point.cm01", ext.proposal.id)
    assert c == Code.OK, d
    after = one(db, "SELECT ends_at FROM emergency_activations WHERE id = %s", m.activation_id)
    assert (after - before).total_seconds() == 24 * 3600 and e.activation_id == m.activation_id
    _, c, d = propose(server, "point.cm01", "CM01", extend=True, hours=100, reason="too long")
    assert c == Code.INVALID_ARGUMENT and d.startswith("hours"), d  # past now + 168 h

    # switching off: any two eligible people
    off, c, d = propose(server, "admin", "CM01", active=False, reason="water receded")
    assert c == Code.OK, d
    o, c, d = confirm(server, "point.cm01b", off.proposal.id)
    assert c == Code.OK and not o.active, d
    assert live(db, "CM01") == 0
    r3 = server.call_ok(RS + "Create", rq.CreateRequisitionRequest(
        priority="emergency", submit=True, lines=[rq.RequisitionLineInput(item_code=code, qty=1)]),
        rq.Requisition, login="leader.gr003")
    assert r3.status == "submitted" and not r3.auto_approved


def test_two_people_in_the_database(server, db):
    """The CHECKs and guards hold whatever the server does."""
    user(server, db, "point.cm03b", "point_leader", "CM03")
    cm = one(db, "SELECT id FROM org_units WHERE code = 'CM03'")
    pl = one(db, "SELECT id FROM users WHERE login = 'point.cm03'")
    pl2 = one(db, "SELECT id FROM users WHERE login = 'point.cm03b'")
    staff = one(db, "SELECT id FROM users WHERE login = 'staff.cm03'")
    with pytest.raises(Exception, match="second person"):
        db.execute("INSERT INTO emergency_proposals (org_unit_id, action, hours, reason, proposed_by, expires_at,"
                   " confirmed_by, confirmed_at) VALUES (%s, 'on', 1, 'x', %s, now() + interval '1 h', %s, now())",
                   (cm, pl, pl2))
    early = one(db, "SELECT emergency_propose(%s, %s, 'on', 1, 'x', 168)", pl, cm)
    with pytest.raises(Exception, match="emergency_proposals_two_people"):  # the CHECK itself
        db.execute("UPDATE emergency_proposals SET confirmed_by = proposed_by, confirmed_at = now()"
                   " WHERE id = %s", (early,))
    with pytest.raises(Exception, match="not found"):  # not eligible: community staff
        db.execute("SELECT emergency_propose(%s, %s, 'on', 1, 'x', 168)", (staff, cm))
    pid = one(db, "SELECT emergency_propose(%s, %s, 'on', 1, 'x', 168)", pl, cm)
    with pytest.raises(Exception, match="second person"):
        db.execute("SELECT emergency_confirm(%s, (SELECT path FROM org_units WHERE id = %s), %s, 168)",
                   (pl, cm, pid))
    with pytest.raises(Exception, match="confirmed proposal"):
        db.execute("INSERT INTO emergency_activations (org_unit_id, reason, proposed_by, confirmed_by, ends_at)"
                   " VALUES (%s, 'x', %s, %s, now() + interval '1 h')", (cm, pl, pl2))
    aid = one(db, "SELECT emergency_confirm(%s, (SELECT path FROM org_units WHERE id = %s), %s, 168)", pl2, cm, pid)
    with pytest.raises(Exception, match="only its end time"):
        db.execute("UPDATE emergency_activations SET confirmed_by = proposed_by WHERE id = %s", (aid,))
    with pytest.raises(Exception, match="emergency caps are set by"):
        db.execute("INSERT INTO emergency_caps (org_unit_id, item_id, daily_qty, updated_by)"
                   " VALUES (%s, (SELECT id FROM items WHERE code = 'WATER-5L'), 9, %s)", (cm, pl))
    db.execute("SELECT emergency_end_expired(%s)", (aid,))
    assert live(db, "CM03") == 0


def test_expiry_switches_off_announces_and_audits(server, db):
    user(server, db, "point.cm04b", "point_leader", "CM04")
    unit = "CM04"
    grid = one(db, "SELECT g.code FROM org_units g JOIN org_units c ON c.id = g.parent_id"
                   " WHERE c.code = %s AND g.kind = 'grid' ORDER BY g.id LIMIT 1", unit)
    st = server.stream(RS + "WatchRequisitions", rq.WatchRequisitionsRequest(org_unit_code=grid),
                       rq.RequisitionEvent, login="admin", timeout=60)
    got = []

    def pump():
        try:
            for ev in st:
                got.append(ev)
        except grpc.RpcError:
            pass

    threading.Thread(target=pump, daemon=True).start()
    time.sleep(1.0)
    m = switch(server, "point.cm04", "point.cm04b", unit, hours=1)
    db.execute("UPDATE emergency_activations SET ends_at = now() + interval '1 second' WHERE id = %s",
               (m.activation_id,))
    deadline = time.time() + 30
    while time.time() < deadline and live(db, unit):
        time.sleep(0.5)
    assert live(db, unit) == 0
    assert one(db, "SELECT ended_how FROM emergency_activations WHERE id = %s", m.activation_id) == "expired"
    assert one(db, "SELECT count(*) FROM audit_log WHERE object = %s AND login = 'system'"
                   " AND method = 'emergency_expire'", "emergency_mode:" + unit) == 1
    assert one(db, "SELECT active FROM emergency_modes WHERE org_unit_id = (SELECT id FROM org_units"
                   " WHERE code = %s)", unit) is False
    deadline = time.time() + 10
    while time.time() < deadline and len([e for e in got if e.kind == "emergency"]) < 3:
        time.sleep(0.2)
    st.cancel()
    em = [(e.to_state, e.org_unit_code, e.activation_id) for e in got if e.kind == "emergency"]
    assert em == [("on", unit, m.activation_id), ("shortened", unit, m.activation_id),
                  ("off", unit, m.activation_id)], got
    assert all(e.comment == "" and e.actor_login == "" for e in got if e.kind == "emergency")  # below the area


def test_races_on_two_servers(server, db):
    """Two confirmations of one proposal at once through two servers: exactly one takes
    effect. A confirmation of an extension racing the expiry job: one of them wins, never both."""
    user(server, db, "point.cm05b", "point_leader", "CM05")
    user(server, db, "point.cm05c", "point_leader", "CM05")
    other = server.start_server()
    try:
        for _ in range(3):
            p, c, d = propose(server, "point.cm05", "CM05")
            assert c == Code.OK, d
            barrier = threading.Barrier(2)
            out = {}

            def go(srv, login):
                barrier.wait()
                out[login] = confirm(srv, login, p.proposal.id)[1]

            ts = [threading.Thread(target=go, args=(server, "point.cm05b")),
                  threading.Thread(target=go, args=(other, "point.cm05c"))]
            [t.start() for t in ts]
            [t.join() for t in ts]
            assert sorted(out.values(), key=str) == sorted([Code.OK, Code.FAILED_PRECONDITION], key=str), out
            assert live(db, "CM05") == 1
            assert one(db, "SELECT count(*) FROM emergency_activations e JOIN emergency_proposals p"
                           " ON p.result_activation_id = e.id WHERE p.id = %s", p.proposal.id) == 1
            end_all(db)

        # extension against expiry
        for _ in range(3):
            m = switch(server, "point.cm05", "point.cm05b", "CM05", hours=1)
            ext, c, d = propose(server, "point.cm05", "CM05", extend=True, hours=1, reason="more")
            assert c == Code.OK, d
            db.execute("UPDATE emergency_activations SET ends_at = now() + interval '300 milliseconds'"
                       " WHERE id = %s", (m.activation_id,))
            time.sleep(0.25)
            _, c, d = confirm(other, "point.cm05b", ext.proposal.id)
            row = db.execute("SELECT ended_how, extensions FROM emergency_activations WHERE id = %s",
                             (m.activation_id,)).fetchone()
            if c == Code.OK:
                assert row[1] == 1  # extended; the job may not end it before its new end
                assert row[0] is None
            else:
                assert c == Code.FAILED_PRECONDITION and "ended" in d, d
                assert row[1] == 0
            end_all(db)
    finally:
        assert other.stop() == 0


# ---------------------------------------------------------------- finding 2: money by two people


def balances(db, *codes):
    return [tuple(r) for r in db.execute("SELECT code, balance, pending FROM fund_accounts WHERE code = ANY (%s)"
                                         " ORDER BY code", (list(codes),)).fetchall()]


def test_one_finance_user_alone_moves_no_money(server, db):
    """fin.officer alone deposited up to 10^13 fen and allocated it; fin.approver alone reversed."""
    before = balances(db, "SRC-DISTRICT", "GF-GR001", "EXTERNAL")
    # the single-person calls are gone
    for path in ("FundService/Deposit", "FundService/Allocate", "FundService/AllocateBatch", "FundService/Reverse"):
        _, c, _ = server.call(path, F.DepositRequest(), F.Posting, login="fin.officer")
        assert c == Code.UNIMPLEMENTED, path
    # preparing moves nothing; the preparer can neither approve nor post
    m, c, d = step(server, "PrepareDeposit", F.DepositRequest(source_code="SRC-DISTRICT", amount=10**13,
                                                               memo="all of it"), "fin.officer")
    assert c == Code.OK and m.state == "prepared", d
    assert balances(db, "SRC-DISTRICT", "GF-GR001", "EXTERNAL") == before
    refused(server, db, "FundMovementService/ApproveMovement", F.FundMovementRequest(id=m.id), F.FundMovement,
            "fin.officer", Code.PERMISSION_DENIED)
    refused(server, db, "FundMovementService/PostMovement", F.FundMovementRequest(id=m.id), F.FundMovement,
            "fin.officer", Code.PERMISSION_DENIED)
    # a user holding both sides (admin) still cannot check their own preparation
    a, c, d = step(server, "PrepareAllocation", F.AllocateRequest(source_code="SRC-DISTRICT", grid_code="GR001",
                                                                  amount=1_000), "admin")
    assert c == Code.OK, d
    refused(server, db, "FundMovementService/ApproveMovement", F.FundMovementRequest(id=a.id), F.FundMovement,
            "admin", Code.PERMISSION_DENIED, "preparer")
    ok_a = step(server, "ApproveMovement", F.FundMovementRequest(id=a.id), "fin.approver")
    assert ok_a[1] == Code.OK, ok_a
    refused(server, db, "FundMovementService/PostMovement", F.FundMovementRequest(id=a.id), F.FundMovement,
            "admin", Code.PERMISSION_DENIED, "preparer")
    assert step(server, "VoidMovement", F.FundMovementRequest(id=a.id, reason="test"), "admin")[1] == Code.OK
    # an approver alone cannot reverse a posting: a reversal is prepared by a finance officer
    posting = one(db, "SELECT max(id) FROM fund_postings WHERE kind = 'allocation'")
    refused(server, db, "FundMovementService/PrepareReversal", F.ReverseRequest(posting_id=posting, reason="x"),
            F.FundMovement, "fin.approver", Code.PERMISSION_DENIED)
    # the database refuses maker = checker whatever the server does
    with pytest.raises(Exception, match="fund_movements_approver_not_preparer"):
        db.execute("UPDATE fund_movements SET state = 'approved', approver_id = preparer_id, approved_at = now()"
                   " WHERE id = %s", (m.id,))
    assert step(server, "RejectMovement", F.FundMovementRequest(id=m.id, reason="no such appropriation"),
                "fin.approver")[0].state == "rejected"
    assert balances(db, "SRC-DISTRICT", "GF-GR001", "EXTERNAL") == before


def test_movement_flow_on_two_servers_with_races(server, db):
    other = server.start_server()
    try:
        user(server, db, "fin.approver2", "finance_approver", "DC")
        src = server.call_ok("FundService/CreateAccount", F.CreateAccountRequest(
            kind="source", code="SRC-TP-" + uuid.uuid4().hex[:6].upper(), name="Two-person source"), F.Account,
            login="fin.officer").code
        dep = move(server, "PrepareDeposit", source_code=src, amount=1_000_000, memo="appropriation")
        assert dep.state == "posted" and dep.approver_login == "fin.approver" and dep.posted_by_login == "fin.approver"
        assert balances(db, src) == [(src, 1_000_000, 0)]
        # a batch allocation: prepared on one server, approved on the other (reserves), posted back
        items = [F.AllocationItem(grid_code=g, amount=100_000) for g in ("GR001", "GR002", "GR003")]
        m, c, d = step(server, "PrepareAllocationBatch", F.AllocateBatchRequest(source_code=src, items=items), "fin.officer")
        assert c == Code.OK and m.total == 300_000 and len(m.items) == 3, d
        # two approvals at once: one reserves, the other finds it approved
        out = {}
        barrier = threading.Barrier(2)

        def go(srv, login, action, key):
            barrier.wait()
            out[key] = step(srv, action, F.FundMovementRequest(id=m.id), login)[1]

        ts = [threading.Thread(target=go, args=(server, "fin.approver", "ApproveMovement", 1)),
              threading.Thread(target=go, args=(other, "fin.approver2", "ApproveMovement", 2))]
        [t.start() for t in ts]
        [t.join() for t in ts]
        assert sorted(out.values(), key=str) == sorted([Code.OK, Code.FAILED_PRECONDITION], key=str), out
        assert balances(db, src) == [(src, 1_000_000, 300_000)]
        # two posts at once: the money moves once
        out.clear()
        barrier = threading.Barrier(2)
        ts = [threading.Thread(target=go, args=(server, "fin.approver", "PostMovement", 1)),
              threading.Thread(target=go, args=(other, "fin.approver2", "PostMovement", 2))]
        [t.start() for t in ts]
        [t.join() for t in ts]
        assert sorted(out.values(), key=str) == sorted([Code.OK, Code.FAILED_PRECONDITION], key=str), out
        assert balances(db, src) == [(src, 700_000, 0)]
        assert one(db, "SELECT count(*) FROM fund_movement_items WHERE movement_id = %s AND posting_id IS NOT NULL",
                   m.id) == 3
        # a reversal of one allocation posting: prepared, approved (reserving the grid fund), posted
        g = step(server, "GetMovement", F.FundMovementRequest(id=m.id), "auditor")[0]
        assert g.state == "posted" and len(g.posting_ids) == 3
        rev = move(other, "PrepareReversal", posting_id=g.posting_ids[0], reason="wrong grid")
        assert rev.postings[0].reverses_id == g.posting_ids[0]
        assert balances(db, src) == [(src, 800_000, 0)]
        # void of an approved movement releases its reservation
        v, c, d = step(server, "PrepareAllocation", F.AllocateRequest(source_code=src, grid_code="GR004",
                                                                      amount=50_000), "fin.officer")
        assert step(other, "ApproveMovement", F.FundMovementRequest(id=v.id), "fin.approver")[1] == Code.OK
        assert balances(db, src) == [(src, 800_000, 50_000)]
        assert step(server, "VoidMovement", F.FundMovementRequest(id=v.id, reason="not now"),
                    "fin.officer")[0].state == "voided"
        assert balances(db, src) == [(src, 800_000, 0)]
        # an approved movement not posted in time expires and releases its reservation (job's SQL)
        e, c, d = step(server, "PrepareAllocation", F.AllocateRequest(source_code=src, grid_code="GR004",
                                                                      amount=60_000), "fin.officer")
        assert step(server, "ApproveMovement", F.FundMovementRequest(id=e.id), "fin.approver")[1] == Code.OK
        assert one(db, "SELECT fund_expire_movements(interval '1 hour', now() + interval '2 hours')") >= 1
        e = step(server, "GetMovement", F.FundMovementRequest(id=e.id), "auditor")[0]
        assert e.state == "expired" and e.voided_at and not e.voided_by_login
        assert balances(db, src) == [(src, 800_000, 0)]
        assert step(server, "PostMovement", F.FundMovementRequest(id=e.id), "fin.approver")[1] == Code.FAILED_PRECONDITION
        assert one(db, "SELECT count(*) FROM audit_log WHERE object = %s AND login = 'system'",
                   "fund_movement:%d" % e.id) == 1
        # out of scope: a grid's view of the district's movements is empty, and the id is NOT_FOUND
        user(server, db, "fin.cm02", "finance_officer", "CM02")
        assert step(server, "GetMovement", F.FundMovementRequest(id=m.id), "fin.cm02")[1] == Code.NOT_FOUND
        lst = server.call_ok("FundMovementService/ListMovements", F.ListFundMovementsRequest(),
                             F.ListFundMovementsResponse, login="fin.cm02")
        assert m.id not in [x.id for x in lst.movements]
        v = server.call_ok("FundService/VerifyLedger", F.VerifyLedgerRequest(), F.VerifyLedgerResponse, login="auditor")
        assert v.ok, v.problems
    finally:
        assert other.stop() == 0


# ---------------------------------------------------------------- finding 3: keys


def test_keys_no_caller_can_squat(server, db):
    user(server, db, "fin.st02", "finance_officer", "ST02")
    user(server, db, "fin.cm01", "finance_officer", "CM01")
    src = server.call_ok("FundService/CreateAccount", F.CreateAccountRequest(
        kind="source", code="SRC-KEYS", name="Keys source"), F.Account, login="fin.officer").code
    move(server, "PrepareDeposit", source_code=src, amount=1_000_000)
    for g in ("GR001", "GR045"):
        move(server, "PrepareAllocation", source_code=src, grid_code=g, amount=100_000)
    payee = server.call_ok("FundService/CreateAccount", F.CreateAccountRequest(
        kind="payee", code="PAYEE-KEYS", name="Keys payee"), F.Account, login="fin.officer").code
    month = one(db, "SELECT to_char(now() AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM')")
    prep = lambda grid, key, login: F.PrepareDisbursementRequest(  # noqa: E731
        grid_code=grid, payee_code=payee, category="subsidies", amount=100, purpose="keys", period=month,
        external_key=key)
    # the programme runs' namespace
    d = refused(server, db, "DisbursementService/PrepareDisbursement",
                prep("GR001", "programme:GL-SUBSIDY/%s/P-LEADER.GR001" % month, "fin.officer"), F.Disbursement,
                "fin.officer", Code.INVALID_ARGUMENT)
    assert d.startswith("external_key"), d
    with pytest.raises(Exception, match="programme"):
        db.execute("SELECT fund_disbursement_prepare(3, '1', (SELECT id FROM fund_accounts WHERE code = 'GF-GR001'),"
                   " (SELECT id FROM fund_accounts WHERE code = 'PAYEE-KEYS'), 'subsidies', 1, 'x', %s, %s)",
                   (month, "programme:X/%s/Y" % month))
    # a key taken in another street: NOT_FOUND, and no id in the answer
    key = "KEY-" + uuid.uuid4().hex[:8]
    theirs = server.call_ok("DisbursementService/PrepareDisbursement", prep("GR045", key, "fin.st02"),
                            F.Disbursement, login="fin.st02")
    d = refused(server, db, "DisbursementService/PrepareDisbursement", prep("GR001", key, "fin.cm01"),
                F.Disbursement, "fin.cm01", Code.NOT_FOUND)
    assert str(theirs.id) not in d, d
    # the same key within scope is still exactly-once
    again = server.call_ok("DisbursementService/PrepareDisbursement", prep("GR045", key, "fin.st02"),
                           F.Disbursement, login="fin.st02")
    assert again.id == theirs.id
    # grid leaders' payee accounts are the server's
    d = refused(server, db, "FundService/CreateAccount", F.CreateAccountRequest(
        kind="payee", code="P-LEADER.GR007", name="Squatter"), F.Account, "fin.officer", Code.INVALID_ARGUMENT)
    assert d.startswith("code"), d
    with pytest.raises(Exception, match="reserved"):
        db.execute("INSERT INTO fund_accounts (code, name, kind) VALUES ('P-NOBODY.AT.ALL', 'x', 'payee')")


# ---------------------------------------------------------------- the README's tours, by CLI


def test_readme_tours_by_cli(cli, db):
    """The README's new steps, as a point leader and a finance officer would type them."""
    import json
    end_all(db)

    def run(login, *args):
        rc, out, err = cli("--json", *args, login=login)
        assert rc == 0, (args, err)
        return json.loads(out) if out.strip() else {}

    p = run("point.cm01", "requisition", "set-emergency-mode", "--org-unit-code", "CM01", "--active",
            "--hours", "48", "--reason", "Zhou river flood warning")
    pid = int(p["proposal"]["id"])
    g = run("admin", "requisition", "get-emergency-mode", "--org-unit-code", "CM01")
    assert pid in [int(x["id"]) for x in g["proposals"]]
    rc, _, err = cli("requisition", "confirm-emergency-mode", "--proposal-id", pid, login="point.cm01")
    assert rc != 0 and "second person" in err  # the proposer cannot confirm
    m = run("admin", "requisition", "confirm-emergency-mode", "--proposal-id", pid)
    assert m["active"] and m["ends_at"]
    run("logi.district", "requisition", "set-emergency-cap", "--org-unit-code", "CM01", "--item-code", "WATER-5L",
        "--daily-qty", "50")
    r = run("leader.gr001", "requisition", "create", "--priority", "emergency", "--purpose", "evacuation point water",
            "--submit", "--data", '{"lines":[{"item_code":"WATER-5L","qty":40}]}')
    assert r["auto_approved"] and int(r["approved_by_activation_id"]) == int(m["activation_id"])
    e = run("point.cm01", "requisition", "set-emergency-mode", "--org-unit-code", "CM01", "--active", "--extend",
            "--hours", "24", "--reason", "rain goes on")
    run("admin", "requisition", "confirm-emergency-mode", "--proposal-id", e["proposal"]["id"])
    o = run("point.cm01", "requisition", "set-emergency-mode", "--org-unit-code", "CM01", "--no-active",
            "--reason", "flood receded")
    assert not run("admin", "requisition", "confirm-emergency-mode", "--proposal-id", o["proposal"]["id"]).get("active")

    items = json.dumps({"items": [{"grid_code": "GR%03d" % i, "amount": 500} for i in range(1, 209)]})
    mv = run("fin.officer", "fund-movement", "prepare-allocation-batch", "--source-code", "SRC-DISTRICT",
             "--memo", "Top-up", "--data", items)
    assert mv["state"] == "prepared" and len(mv["items"]) == 208
    run("fin.approver", "fund-movement", "approve-movement", "--id", mv["id"])
    posted = run("fin.approver", "fund-movement", "post-movement", "--id", mv["id"])
    assert posted["state"] == "posted" and len(posted["posting_ids"]) == 208
