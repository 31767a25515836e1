"""HouseholdService against the demo district (issue 19): the household register that
community staff keep for their grids. Registration hashes the head's ID number with the
server's household key (never stored, logged or audited in clear) and refuses a second
registration anywhere in the district; moves are history rows; personal fields stay out of
the audit diffs; scope is the grid leader's grid (another grid's households are NOT_FOUND,
and a duplicate elsewhere says no more than that it exists); every refusal has its status
and reason; retries are exactly-once.

Each test registers its own households under fresh ID numbers (new_id)."""
import random
import threading

import grpc
import pytest
from google.rpc import error_details_pb2 as E

from gridstock.v1 import households_pb2 as pb
from harness.sql import one

Code = grpc.StatusCode
H = "HouseholdService/"
STAFF = "staff.cm01"      # community staff of CM01 (grids GR001..)
LEADER1 = "leader.gr001"  # community staff scoped to GR001
LEADER2 = "leader.gr002"  # community staff scoped to GR002 (same community)

_rng = random.Random()
_lock = threading.Lock()
_used = set()


def new_id():
    """A fresh, valid resident ID number (18 characters, MOD 11-2 check character)."""
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    with _lock:
        while True:
            body = "5117%02d19%02d%02d%02d%03d" % (_rng.randrange(100), _rng.randrange(40, 99),
                                                   _rng.randrange(1, 13), _rng.randrange(1, 29),
                                                   _rng.randrange(1000))
            if body not in _used:
                _used.add(body)
                break
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, weights)) % 11]


def unpack(status):
    info = None
    for a in status.details:
        if a.Is(E.ErrorInfo.DESCRIPTOR):
            info = E.ErrorInfo()
            a.Unpack(info)
    return info


def ok(server, method, req, resp_cls=pb.Household, login=STAFF, **kw):
    resp, code, details = server.call(H + method, req, resp_cls, login=login, **kw)
    assert code == Code.OK, "%s → %s: %s" % (method, code, details)
    return resp


def refused(server, method, req, code, reason, login=STAFF, **kw):
    got, details, status = server.call_status(H + method, req, login=login, **kw)
    assert got == code, "%s → %s: %s (wanted %s)" % (method, got, details, code)
    info = unpack(status)
    assert info is not None and info.reason == reason, (info, details)
    return details, info


def register(server, grid="GR001", login=STAFF, idn=None, **kw):
    kw.setdefault("head_name", "张三")
    kw.setdefault("members", 3)
    req = pb.RegisterHouseholdRequest(grid_code=grid, id_number=idn or new_id(), **kw)
    return ok(server, "RegisterHousehold", req, login=login)


def test_register_get_and_what_is_kept(server, db):
    idn = new_id()
    h = register(server, idn=idn, head_name="王秀英", members=2, building="3-2-401", contact="139-0000-0001",
                 needs=pb.NeedFlags(elderly_alone=True, chronic_illness=True))
    assert h.id > 0 and h.grid_code == "GR001" and h.community_code == "CM01"
    assert (h.head_name, h.members, h.building, h.contact) == ("王秀英", 2, "3-2-401", "139-0000-0001")
    assert h.needs.elderly_alone and h.needs.chronic_illness and not h.needs.infant
    assert h.personal_rev == 1 and h.registered_by == STAFF
    assert [(m.from_grid_id, m.to_grid_code, m.reason) for m in h.moves] == [(0, "GR001", "registered")]
    got = ok(server, "GetHousehold", pb.GetHouseholdRequest(id=h.id))
    assert got.head_name == "王秀英" and len(got.moves) == 1
    # the number itself is nowhere: not in the row, the audit, the exactly-once store or the
    # log; the name and contact not in the audit either
    row = db.execute("SELECT id_hash, id_kid, to_jsonb(h)::text FROM households h WHERE id = %s", (h.id,)).fetchone()
    assert len(row[0]) == 64 and row[1] == "h1" and idn not in row[2] and idn[:-1] not in row[2]
    text = one(db, "SELECT coalesce(string_agg(coalesce(changes::text, '') || summary, ' '), '') FROM audit_log")
    assert idn not in text and "王秀英" not in text and "139-0000-0001" not in text
    stored = b"".join(bytes(r[0] or b"") + bytes(r[1]) for r in db.execute(
        "SELECT response, request_hash FROM request_log").fetchall())
    assert idn.encode() not in stored and idn[:-1].encode() not in stored
    assert idn not in server.log() and "王秀英" not in server.log()
    audit = db.execute("SELECT object, summary, changes::text FROM audit_log WHERE object = %s",
                       ("household:%d" % h.id,)).fetchone()
    assert "registered household %d in GR001" % h.id in audit[1]
    assert '"t": "households"' in audit[2] and '"members": 2' in audit[2]
    assert "elderly_alone" not in audit[2] and "id_hash" not in audit[2] and "building" not in audit[2]


def test_one_household_per_head_across_the_district(server, db):
    idn = new_id()
    first = register(server, grid="GR001", idn=idn, login=LEADER1)
    # in the caller's scope the duplicate names the household
    _, info = refused(server, "RegisterHousehold", pb.RegisterHouseholdRequest(
        grid_code="GR001", id_number=idn, head_name="x", members=1), Code.ALREADY_EXISTS, "HOUSEHOLD_REGISTERED",
        login=LEADER1)
    assert info.metadata["household"] == str(first.id)
    # the check character's case does not make another person
    if idn.endswith("X"):
        refused(server, "RegisterHousehold", pb.RegisterHouseholdRequest(
            grid_code="GR001", id_number=idn[:-1] + "x", head_name="x", members=1), Code.ALREADY_EXISTS,
            "HOUSEHOLD_REGISTERED", login=LEADER1)
    # elsewhere it says only that the head is registered: no id, no grid
    details, info = refused(server, "RegisterHousehold", pb.RegisterHouseholdRequest(
        grid_code="GR002", id_number=idn, head_name="x", members=1), Code.ALREADY_EXISTS, "HOUSEHOLD_REGISTERED",
        login=LEADER2)
    assert "household" not in info.metadata and str(first.id) not in details and "GR001" not in details
    assert one(db, "SELECT count(*) FROM households WHERE head_name = 'x'") == 0


def test_register_refusals_change_nothing(server, db):
    before = one(db, "SELECT count(*) FROM households")
    bad_check = new_id()
    bad_check = bad_check[:-1] + ("0" if bad_check[-1] != "0" else "1")
    cases = [
        (dict(grid_code="GR001", id_number="", head_name="a", members=1), Code.INVALID_ARGUMENT, "FIELD_REQUIRED"),
        (dict(grid_code="GR001", id_number=bad_check, head_name="a", members=1), Code.INVALID_ARGUMENT,
         "FIELD_INVALID"),
        (dict(grid_code="GR001", id_number="12345", head_name="a", members=1), Code.INVALID_ARGUMENT,
         "FIELD_INVALID"),
        (dict(grid_code="GR001", id_number=new_id(), head_name="", members=1), Code.INVALID_ARGUMENT,
         "FIELD_REQUIRED"),
        (dict(grid_code="GR001", id_number=new_id(), head_name="a" * 101, members=1), Code.INVALID_ARGUMENT,
         "FIELD_TOO_LONG"),
        (dict(grid_code="GR001", id_number=new_id(), head_name="a", members=0), Code.INVALID_ARGUMENT,
         "FIELD_OUT_OF_RANGE"),
        (dict(grid_code="GR001", id_number=new_id(), head_name="a", members=31), Code.INVALID_ARGUMENT,
         "FIELD_OUT_OF_RANGE"),
        (dict(grid_code="CM01", id_number=new_id(), head_name="a", members=1), Code.INVALID_ARGUMENT,
         "FIELD_INVALID"),
        (dict(grid_code="GR999", id_number=new_id(), head_name="a", members=1), Code.NOT_FOUND, "NOT_FOUND"),
        (dict(grid_code="GR010", id_number=new_id(), head_name="a", members=1), Code.NOT_FOUND, "NOT_FOUND"),
        (dict(grid_code="GR001", id_number=new_id(), head_name="a", members=1, compound_code="NO-SUCH"),
         Code.NOT_FOUND, "NOT_FOUND"),
    ]
    for req, code, reason in cases:
        details, _ = refused(server, "RegisterHousehold", pb.RegisterHouseholdRequest(**req), code, reason,
                             login=LEADER1 if req["grid_code"] == "GR010" else STAFF)
        assert req["id_number"] == "" or req["id_number"] not in details, details
    # a compound of another grid breaks the database's rule
    other = one(db, """SELECT c.code FROM compounds c JOIN org_units g ON g.id = c.org_unit_id
                       WHERE g.code <> 'GR001' AND g.path <@ (SELECT path FROM org_units WHERE code = 'CM01')
                       ORDER BY c.code LIMIT 1""")
    refused(server, "RegisterHousehold", pb.RegisterHouseholdRequest(
        grid_code="GR001", id_number=new_id(), head_name="a", members=1, compound_code=other),
        Code.INVALID_ARGUMENT, "FIELD_INVALID")
    # a role without the household permission
    refused(server, "RegisterHousehold", pb.RegisterHouseholdRequest(
        grid_code="GR001", id_number=new_id(), head_name="a", members=1), Code.PERMISSION_DENIED,
        "ROLE_NOT_ALLOWED", login="logi.district")
    assert one(db, "SELECT count(*) FROM households") == before


def test_update_raises_personal_rev_and_audits_no_personal_data(server, db):
    h = register(server, head_name="李四", contact="old-contact")
    u = ok(server, "UpdateHousehold", pb.UpdateHouseholdRequest(
        id=h.id, head_name="李四", members=5, contact="new-contact", needs=pb.NeedFlags(infant=True)))
    assert u.members == 5 and u.contact == "new-contact" and u.needs.infant and u.personal_rev == 2
    u2 = ok(server, "UpdateHousehold", pb.UpdateHouseholdRequest(
        id=h.id, head_name="李四", members=4, contact="new-contact", needs=pb.NeedFlags(infant=True)))
    assert u2.personal_rev == 2  # members only: not a personal field
    changes = [r[0] for r in db.execute(
        "SELECT changes::text FROM audit_log WHERE object = %s AND method LIKE '%%UpdateHousehold' ORDER BY id",
        ("household:%d" % h.id,)).fetchall()]
    assert len(changes) == 2
    assert '"personal_rev": [1, 2]' in changes[0] and '"members": [3, 5]' in changes[0]
    for c in changes:
        assert "contact" not in c and "infant" not in c and "李四" not in c
    refused(server, "UpdateHousehold", pb.UpdateHouseholdRequest(id=h.id, head_name="", members=1),
            Code.INVALID_ARGUMENT, "FIELD_REQUIRED")
    refused(server, "UpdateHousehold", pb.UpdateHouseholdRequest(id=10 ** 12, head_name="a", members=1),
            Code.NOT_FOUND, "NOT_FOUND")


def test_audit_rows_are_filed_under_the_households_grid(server, db):
    """081: an auditor of the household's grid sees its audit rows (they were filed under the
    acting staff's community before), an auditor of another grid does not; a move is filed
    under the community over both grids."""
    import uuid

    from gridstock.v1 import audit_pb2 as A
    from gridstock.v1 import users_pb2 as U
    aud = {}
    for grid in ("GR001", "GR002", "CM01", "CM02"):
        aud[grid] = "aud.%s.%s" % (grid.lower(), uuid.uuid4().hex[:6])
        _, code, details = server.call("UserService/CreateUser", U.CreateUserRequest(
            login=aud[grid], display_name="Auditor", role="auditor", scope_code=grid), U.User, login="admin")
        assert code == Code.OK, details

    def rows(login, obj):
        resp, code, details = server.call("AuditService/List", A.ListAuditRequest(object=obj), A.ListAuditResponse,
                                          login=login)
        assert code == Code.OK, details
        return [r.method.rsplit("/", 1)[1] for r in resp.rows]

    h = register(server, grid="GR001", login=STAFF)          # staff of CM01, the household in GR001
    ok(server, "UpdateHousehold", pb.UpdateHouseholdRequest(id=h.id, head_name="张三", members=4))
    obj = "household:%d" % h.id
    assert rows(aud["GR001"], obj) == ["RegisterHousehold", "UpdateHousehold"]
    assert rows(aud["GR002"], obj) == []
    assert rows(aud["CM02"], obj) == []
    first = one(db, "SELECT min(id) FROM audit_log WHERE object = %s", obj)
    got, _, _ = server.call_status("AuditService/Get", A.GetAuditRowRequest(id=first), login=aud["GR002"])
    assert got == Code.NOT_FOUND
    assert one(db, "SELECT scope_path::text FROM audit_log WHERE id = %s", first) == \
        one(db, "SELECT path::text FROM org_units WHERE code = 'GR001'")
    # a move to GR002: under CM01, seen by neither grid's auditor alone
    ok(server, "MoveHousehold", pb.MoveHouseholdRequest(id=h.id, to_grid_code="GR002", reason="moved"))
    assert rows(aud["GR001"], obj) == ["RegisterHousehold", "UpdateHousehold"]
    assert rows(aud["GR002"], obj) == []
    assert rows(aud["CM01"], obj) == ["RegisterHousehold", "UpdateHousehold", "MoveHousehold"]
    assert one(db, "SELECT scope_path::text FROM audit_log WHERE object = %s AND method LIKE '%%MoveHousehold'",
               obj) == one(db, "SELECT path::text FROM org_units WHERE code = 'CM01'")
    # from now on its rows are the new grid's
    ok(server, "UpdateHousehold", pb.UpdateHouseholdRequest(id=h.id, head_name="张三", members=5), login=LEADER2)
    assert rows(aud["GR002"], obj) == ["UpdateHousehold"]
    assert rows(aud["GR001"], obj) == ["RegisterHousehold", "UpdateHousehold"]


def test_the_household_key_rotates_and_duplicates_are_still_caught(server, db, tmp_path):
    """082: a new key first, the old one after it: registrations are stored under the new key
    and checked under both, so a head registered under the old key is still a duplicate, and
    two registrations of one head racing on servers with different first keys (the middle of
    a rotation) never both succeed. `gridstockd check` reports the keys and the register's
    use of them, and a key that hashed households but is gone from the keyring is a problem."""
    import os
    import subprocess

    from harness import paths
    from harness import pg as pgmod
    old_line = open(server.env.household_keyring).read().strip()           # "h1 <hex>"
    new_line = pgmod.make_keyring(str(tmp_path / "only-h2"), kid="h2")
    both = tmp_path / "h2-h1"                                             # after the rotation
    both.write_text(new_line + "\n" + old_line + "\n")
    middle = tmp_path / "h1-h2"                                           # step 1: added second
    middle.write_text(old_line + "\n" + new_line + "\n")
    for f in (both, middle):
        os.chmod(f, 0o600)
    before = register(server, grid="GR001")                               # under h1
    idn_before = new_id()
    register(server, grid="GR001", idn=idn_before)
    rotated = server.start_server(household_keys=str(both))
    half = server.start_server(household_keys=str(middle))
    try:
        # the old key's head is still a duplicate on the rotated server
        refused(rotated, "RegisterHousehold", pb.RegisterHouseholdRequest(
            grid_code="GR002", id_number=idn_before, head_name="x", members=1), Code.ALREADY_EXISTS,
            "HOUSEHOLD_REGISTERED")
        # a new head is stored under the new key; the server still on the old first key finds it
        idn_after = new_id()
        after = register(rotated, grid="GR001", idn=idn_after)
        assert one(db, "SELECT id_kid FROM households WHERE id = %s", after.id) == "h2"
        assert one(db, "SELECT id_kid FROM households WHERE id = %s", before.id) == "h1"
        refused(half, "RegisterHousehold", pb.RegisterHouseholdRequest(
            grid_code="GR001", id_number=idn_after, head_name="x", members=1), Code.ALREADY_EXISTS,
            "HOUSEHOLD_REGISTERED")
        # racing registrations of one head on the two servers: exactly one each time
        for _ in range(6):
            idn = new_id()
            results = []
            barrier = threading.Barrier(2)

            def go(srv):
                barrier.wait()
                got, details, _ = srv.call_status(H + "RegisterHousehold", pb.RegisterHouseholdRequest(
                    grid_code="GR003", id_number=idn, head_name="竞", members=1), login=STAFF)
                results.append(got)
            ths = [threading.Thread(target=go, args=(x,)) for x in (rotated, half)]
            [t.start() for t in ths]
            [t.join() for t in ths]
            assert sorted(str(r) for r in results) == sorted([str(Code.OK), str(Code.ALREADY_EXISTS)]), results
    finally:
        assert rotated.stop() == 0 and half.stop() == 0

    def check(keys):
        p = subprocess.run([paths.GRIDSTOCKD, "check", "--db", server.conninfo, "--token-keys",
                            server.env.keyring, "--household-keys", str(keys)],
                           capture_output=True, text=True, env=paths.sanitizer_env(), timeout=120)
        return p.returncode, [l for l in p.stdout.splitlines() if "household_keys" in l]
    os.chmod(server.env.keyring, 0o600)
    rc, lines = check(both)
    assert not [l for l in lines if l.startswith("PROBLEM")], lines
    assert any(l.startswith("ok") and 'hashes with key "h2" (older keys still matched: h1)' in l
               and "day(s) ago" in l for l in lines), lines
    h1 = one(db, "SELECT count(*) FROM households WHERE id_kid = 'h1'")
    h2 = one(db, "SELECT count(*) FROM households WHERE id_kid = 'h2'")
    assert any('%d under "h2"' % h2 in l and '%d under "h1"' % h1 in l for l in lines), lines
    assert any(l.startswith("note") and 'placeholder hashes (key "demo")' in l for l in lines), lines
    # the old key dropped too early: its households could be registered twice
    rc, lines = check(tmp_path / "only-h2")
    assert rc == 1 and any(l.startswith("PROBLEM") and '%d household(s) are hashed under key "h1"' % h1 in l
                           for l in lines), lines


def test_moves_are_history_and_only_moves_change_the_grid(server, db):
    h = register(server, grid="GR001", login=LEADER1, building="1-101")
    m = ok(server, "MoveHousehold", pb.MoveHouseholdRequest(id=h.id, to_grid_code="GR002", building="2-202",
                                                            reason="rented elsewhere"))
    assert m.grid_code == "GR002" and m.building == "2-202"
    assert [(x.from_grid_code, x.to_grid_code) for x in m.moves] == [("", "GR001"), ("GR001", "GR002")]
    assert m.moves[1].reason == "rented elsewhere" and m.moves[1].moved_by == STAFF
    # the old grid's leader no longer sees it, the new one does
    refused(server, "GetHousehold", pb.GetHouseholdRequest(id=h.id), Code.NOT_FOUND, "NOT_FOUND", login=LEADER1)
    assert ok(server, "GetHousehold", pb.GetHouseholdRequest(id=h.id), login=LEADER2).grid_code == "GR002"
    refused(server, "MoveHousehold", pb.MoveHouseholdRequest(id=h.id, to_grid_code="GR002"),
            Code.FAILED_PRECONDITION, "WRONG_STATE")
    refused(server, "MoveHousehold", pb.MoveHouseholdRequest(id=h.id, to_grid_code="CM02"),
            Code.INVALID_ARGUMENT, "FIELD_INVALID")
    refused(server, "MoveHousehold", pb.MoveHouseholdRequest(id=h.id), Code.INVALID_ARGUMENT, "FIELD_REQUIRED")
    # a leader moves a household out of their grid to another community: it leaves their sight
    far = register(server, grid="GR002", login=LEADER2)
    out = ok(server, "MoveHousehold", pb.MoveHouseholdRequest(id=far.id, to_grid_code="GR050"), login=LEADER2)
    assert out.id == far.id and out.grid_code == "GR050" and out.head_name == "" and not out.moves
    refused(server, "GetHousehold", pb.GetHouseholdRequest(id=far.id), Code.NOT_FOUND, "NOT_FOUND", login=LEADER2)
    # the database keeps the rules without the server: no grid change without a move, moves append-only
    import psycopg
    with pytest.raises(psycopg.Error, match="its grid changes only by a move"):
        db.execute("UPDATE households SET grid_id = (SELECT id FROM org_units WHERE code = 'GR003') WHERE id = %s",
                   (h.id,))
    with pytest.raises(psycopg.Error, match="append-only"):
        db.execute("DELETE FROM household_moves WHERE household_id = %s", (h.id,))
    with pytest.raises(psycopg.Error, match="identity and registration do not change"):
        db.execute("UPDATE households SET id_hash = repeat('0', 64) WHERE id = %s", (h.id,))


def test_another_grids_staff_can_neither_read_nor_change(server, db):
    """The attacker: community staff of GR002 against a household of GR001."""
    h = register(server, grid="GR001", login=LEADER1, head_name="赵六")
    for method, req in [
        ("GetHousehold", pb.GetHouseholdRequest(id=h.id)),
        ("UpdateHousehold", pb.UpdateHouseholdRequest(id=h.id, head_name="taken over", members=1)),
        ("MoveHousehold", pb.MoveHouseholdRequest(id=h.id, to_grid_code="GR002")),
    ]:
        details, _ = refused(server, method, req, Code.NOT_FOUND, "NOT_FOUND", login=LEADER2)
        assert details == "household %d not found" % h.id, details
    # exactly what a missing household answers
    refused(server, "GetHousehold", pb.GetHouseholdRequest(id=10 ** 12), Code.NOT_FOUND, "NOT_FOUND", login=LEADER2)
    lst = ok(server, "ListHouseholds", pb.ListHouseholdsRequest(page_size=1000), pb.ListHouseholdsResponse,
             login=LEADER2)
    assert h.id not in [x.id for x in lst.households] and all(x.grid_code == "GR002" for x in lst.households)
    refused(server, "ListHouseholds", pb.ListHouseholdsRequest(org_unit_code="GR001"), Code.NOT_FOUND, "NOT_FOUND",
            login=LEADER2)
    assert one(db, "SELECT head_name FROM households WHERE id = %s", h.id) == "赵六"
    assert one(db, "SELECT count(*) FROM household_moves WHERE household_id = %s", h.id) == 1


def test_list_pages_and_needs(server):
    ids = [register(server, grid="GR003", needs=pb.NeedFlags(low_income=(i % 2 == 0))).id for i in range(5)]
    seen, token = [], ""
    while True:
        page = ok(server, "ListHouseholds", pb.ListHouseholdsRequest(org_unit_code="GR003", page_size=2,
                                                                     page_token=token), pb.ListHouseholdsResponse)
        assert len(page.households) <= 2
        seen += [x.id for x in page.households]
        token = page.next_page_token
        if not token:
            break
    assert set(ids) <= set(seen) and seen == sorted(seen)
    low = ok(server, "ListHouseholds", pb.ListHouseholdsRequest(org_unit_code="GR003", need="low_income",
                                                                page_size=1000), pb.ListHouseholdsResponse)
    assert {ids[0], ids[2], ids[4]} <= {x.id for x in low.households}
    assert all(x.needs.low_income for x in low.households)
    refused(server, "ListHouseholds", pb.ListHouseholdsRequest(need="rich"), Code.INVALID_ARGUMENT, "FIELD_INVALID")


def test_register_is_exactly_once(server, db):
    idn = new_id()
    req = pb.RegisterHouseholdRequest(grid_code="GR004", id_number=idn, head_name="钱七", members=2)
    a = ok(server, "RegisterHousehold", req, request_id="hh-once-" + idn)
    b = ok(server, "RegisterHousehold", req, request_id="hh-once-" + idn)
    assert a.id == b.id
    assert one(db, "SELECT count(*) FROM household_moves WHERE household_id = %s", a.id) == 1
    other = pb.RegisterHouseholdRequest(grid_code="GR004", id_number=new_id(), head_name="钱七", members=2)
    got, _, _ = server.call_status(H + "RegisterHousehold", other, login=STAFF, request_id="hh-once-" + idn)
    assert got != Code.OK


def test_racing_registrations_of_one_head_make_one_household(server, db):
    idn = new_id()
    second = server.start_server()
    try:
        results = []

        def go(srv, grid, login):
            _, code, _ = srv.call(H + "RegisterHousehold", pb.RegisterHouseholdRequest(
                grid_code=grid, id_number=idn, head_name="孙八", members=1), pb.Household, login=login)
            results.append(code)

        ts = [threading.Thread(target=go, args=(s, g, l)) for s, g, l in
              [(server, "GR001", LEADER1), (second, "GR002", LEADER2)] * 3]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    finally:
        second.stop()
    assert results.count(Code.OK) == 1 and results.count(Code.ALREADY_EXISTS) == 5, results
    assert one(db, "SELECT count(*) FROM households WHERE head_name = '孙八'") == 1


def test_without_a_household_key_the_register_refuses(server, db):
    keyless = server.start_server(household_keys="")
    try:
        got, details, _ = keyless.call_status(H + "RegisterHousehold", pb.RegisterHouseholdRequest(
            grid_code="GR001", id_number=new_id(), head_name="a", members=1), login=STAFF)
        assert got == Code.FAILED_PRECONDITION and "household_keys" in details
    finally:
        keyless.stop()


def test_cli_register_get_move_list(cli, db):
    idn = new_id()
    rc, out, err = cli("household", "register", "--grid-code", "GR005", "--id-number-file", "-", "--head-name", "周九",
                       "--members", "4", "--needs.low-income", "--json", login=STAFF, input=idn + "\n")
    assert rc == 0, err
    import json
    h = json.loads(out)
    hid = int(h["id"])
    assert h["needs"] == {"elderly_alone": False, "disabled_member": False, "low_income": True, "infant": False,
                          "chronic_illness": False}, h["needs"]
    rc, out, err = cli("household", "get", "--id", hid, login=STAFF)
    assert rc == 0 and "周九" in out, err
    rc, out, err = cli("household", "move", "--id", hid, "--to-grid-code", "GR006", "--reason", "new flat",
                       login=STAFF)
    assert rc == 0, err
    rc, out, err = cli("household", "list", "--org-unit-code", "GR006", login=STAFF)
    assert rc == 0 and "周九" in out and "GR006" in out, err
    rc, out, err = cli("household", "register", "--grid-code", "GR005", "--id-number-file", "-", "--head-name", "x",
                       "--members", "1", login=STAFF, input=idn)
    assert rc != 0 and "already registered" in err and idn not in err


def test_cli_never_takes_the_id_number_from_the_command_line(server, cli, db, tmp_path):
    """The head's ID number stays out of shell history and process lists: the flag and --data
    are refused before anything is sent; a file (- = stdin), --file JSON or a prompt on the
    terminal with echo off give it; --verbose shows it masked."""
    import json
    import os
    import pty
    import select
    import subprocess

    from harness import paths
    before = one(db, "SELECT count(*) FROM households")
    idn = new_id()
    base = ["household", "register", "--grid-code", "GR007", "--head-name", "郑十一", "--members", "2"]
    rc, out, err = cli(*base, "--id-number", idn, login=STAFF)
    assert rc == 1 and "--id-number-file" in err and "shell history" in err, err
    rc, out, err = cli(*base, "--id-number=" + idn, login=STAFF)
    assert rc == 1 and "--id-number-file" in err, err
    rc, out, err = cli("household", "register", "--data", json.dumps(
        {"grid_code": "GR007", "idNumber": idn, "head_name": "x", "members": 1}), login=STAFF)
    assert rc == 1 and "--data" in err and "--id-number-file" in err, err
    assert one(db, "SELECT count(*) FROM households") == before      # nothing was sent
    # without it and without a terminal: the server's FIELD_REQUIRED
    rc, out, err = cli(*base, login=STAFF, input="")
    assert rc != 0 and "id_number" in err and "required" in err, err
    # from a file, with --verbose: the request line shows "(secret)"
    f = tmp_path / "idn"
    f.write_text(idn + "\n")
    rc, out, err = cli("-v", "--json", *base, "--id-number-file", str(f), login=STAFF)
    assert rc == 0, err
    assert idn not in err and '"id_number":"(secret)"' in err, err
    first = json.loads(out)["id"]
    rc, out, err = cli(*base, "--id-number-file", str(tmp_path / "missing"), login=STAFF)
    assert rc == 4 and "missing" in err, err
    # from --file JSON
    g = tmp_path / "req.json"
    idn2 = new_id()
    g.write_text(json.dumps({"grid_code": "GR007", "id_number": idn2, "head_name": "x", "members": 1}))
    rc, out, err = cli("--json", "household", "register", "--file", str(g), login=STAFF)
    assert rc == 0, err
    # asked for on a terminal, with echo off: the number typed never shows on the terminal
    idn3 = new_id()
    argv = [paths.GRIDSTOCK_CLI, "--addr", server.addr, "--token", server.token(STAFF), "--json"] + base
    env = paths.sanitizer_env()
    for k in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG", "GRIDSTOCK_TOKEN", "GRIDSTOCK_ADDR"):
        env.pop(k, None)
    master, slave = pty.openpty()
    p = subprocess.Popen(argv, stdin=slave, stdout=subprocess.PIPE, stderr=slave, env=env)
    os.close(slave)
    seen = b""
    while b"(not shown)" not in seen:
        r, _, _ = select.select([master], [], [], 30)
        assert r, seen
        seen += os.read(master, 4096)
    os.write(master, idn3.encode() + b"\n")
    out, _ = p.communicate(timeout=60)
    while True:
        r, _, _ = select.select([master], [], [], 0.5)
        if not r:
            break
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    assert p.returncode == 0, (seen, out)
    assert b"id-number (not shown): " in seen and idn3.encode() not in seen, seen
    third = json.loads(out)["id"]
    hashes = [one(db, "SELECT id_hash FROM households WHERE id = %s", int(x)) for x in (first, third)]
    assert len(set(hashes)) == 2
    # the number the terminal took is the one registered: the same again is a duplicate
    rc, out, err = cli(*base, "--id-number-file", "-", login=STAFF, input=idn3)
    assert rc != 0 and "already registered" in err, err


def test_demo_register_follows_the_residents(db):
    """sql/demo/075_households.sql: every one of the 208 grids has households in proportion to
    its residents (one per hundred), each with its registration move and a placeholder hash."""
    rows = db.execute("""SELECT g.residents, count(h.id) FILTER (WHERE h.id_kid = 'demo')
                           FROM org_units g LEFT JOIN households h ON h.grid_id = g.id
                          WHERE g.kind = 'grid' GROUP BY g.id""").fetchall()
    assert len(rows) == 208
    assert all(n == max(1, round(res / 100.0)) or abs(n - res / 100.0) <= 1 for res, n in rows), rows[:5]
    total = sum(n for _, n in rows)
    assert 2000 <= total <= 6000, total
    assert one(db, """SELECT count(*) FROM households h WHERE h.id_kid = 'demo' AND NOT EXISTS (
                        SELECT 1 FROM household_moves m WHERE m.household_id = h.id AND m.from_grid_id IS NULL)""") == 0
    assert one(db, "SELECT count(*) FROM households WHERE id_kid = 'demo' AND low_income") > total // 10
    assert one(db, "SELECT count(*) FROM charity_quota_rules WHERE category = 'food' AND basis = 'member'") == 1
    assert one(db, "SELECT count(*) FROM charity_households WHERE register_id IS NOT NULL") >= 14
