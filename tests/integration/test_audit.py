"""AuditService and the keyed audit chain (issue 16): auditors list, get and trace the
history of objects within their scope, rows carry what changed, the chain is sealed with
an HMAC key outside the database, and tampering as the database owner is named by
`gridstockd audit verify`."""
import json
import os
import subprocess
import uuid

import grpc
import psycopg
import pytest
from psycopg import errors

from gridstock.v1 import audit_pb2 as A
from gridstock.v1 import funds_pb2 as F
from gridstock.v1 import sites_pb2 as S
from gridstock.v1 import users_pb2 as U
from harness import paths
from harness import pg as pgmod
from harness.money import move
from harness.sql import one

Code = grpc.StatusCode


def ok(result):
    resp, code, details = result
    assert code == Code.OK, "%s %s" % (code, details)
    return resp


def gsd(server, *args, keys=None):
    """Runs `gridstockd audit ...` against the module's database; (rc, stdout, stderr)."""
    argv = [paths.GRIDSTOCKD, "audit"] + list(args) + [
        "--db", server.conninfo, "--audit-keys", keys or server.env.audit_keyring]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=paths.sanitizer_env())
    return p.returncode, p.stdout, p.stderr


def seal(server, keys=None):
    rc, out, err = gsd(server, "seal", keys=keys)
    assert rc == 0, out + err
    return out


def new_site(server, community="CM01", login="admin"):
    code = "AU" + uuid.uuid4().hex[:8].upper()
    return ok(server.call("SiteService/CreateSite", S.CreateSiteRequest(
        code=code, name="Audit point", kind="reserve_point", org_unit_code=community, lat=31.2, lon=107.46,
        opening_hours="08:00-18:00"), S.Site, login=login))


def alist(server, caller="auditor", **kw):
    return server.call("AuditService/List", A.ListAuditRequest(**kw), A.ListAuditResponse, login=caller)


@pytest.fixture(scope="module")
def street_auditor(server, db):
    """An auditor scoped to street ST02 (communities CM07..)."""
    login = "aud.st02." + uuid.uuid4().hex[:6]
    ok(server.call("UserService/CreateUser", U.CreateUserRequest(
        login=login, display_name="Street auditor", role="auditor", scope_code="ST02"), U.User, login="admin"))
    return login


def test_update_is_listed_with_its_diff_and_history(server, db):
    site = new_site(server, login="logi.st01")
    ok(server.call("SiteService/UpdateSite", S.UpdateSiteRequest(
        id=site.id, opening_hours="07:00-21:00", update_mask=["opening_hours"]), S.Site, login="logi.st01",
        request_id="audit-upd-%d" % site.id))
    obj = "site:%d" % site.id
    rows = ok(alist(server, object=obj)).rows
    assert [r.method.rsplit("/", 1)[1] for r in rows] == ["CreateSite", "UpdateSite"]
    create, update = rows
    assert create.login == "logi.st01" and create.role == "logistics_officer"
    # a creation carries the new object
    ins = [e for e in json.loads(create.changes) if e["t"] == "sites"]
    assert ins[0]["op"] == "insert" and ins[0]["id"] == site.id and ins[0]["new"]["code"] == site.code
    # an update carries the changed fields, old -> new, and nothing else
    ch = json.loads(update.changes)
    assert ch == [{"t": "sites", "op": "update", "id": site.id,
                   "set": {"opening_hours": ["08:00-18:00", "07:00-21:00"]}}], ch
    assert update.request_id == "audit-upd-%d" % site.id
    cm01 = one(db, "SELECT path::text FROM org_units WHERE code = 'CM01'")
    assert update.scope_path == cm01
    # filters: user, method (short or full), request id, text, time range
    assert [r.id for r in ok(alist(server, object=obj, method="UpdateSite")).rows] == [update.id]
    assert [r.id for r in ok(alist(server, method="/gridstock.v1.SiteService/UpdateSite",
                                   request_id=update.request_id)).rows] == [update.id]
    assert [r.id for r in ok(alist(server, login="logi.st01", text="07:00-21")).rows][-1] == update.id
    assert ok(alist(server, object=obj, since=update.at)).rows[0].id == update.id
    assert [r.id for r in ok(alist(server, object=obj, until=update.at)).rows] == [create.id]
    assert ok(alist(server, object=obj, org_unit_code="CM01")).rows
    assert not ok(alist(server, object=obj, org_unit_code="CM02")).rows
    # the history of the object
    hist = ok(server.call("AuditService/History", A.AuditHistoryRequest(object=obj), A.ListAuditResponse,
                          login="auditor"))
    assert [r.id for r in hist.rows] == [create.id, update.id]
    # get: unsealed until the sealer ran, then valid
    got = ok(server.call("AuditService/Get", A.GetAuditRowRequest(id=update.id), A.AuditRow, login="auditor"))
    assert got.summary == update.summary and got.changes == update.changes
    seal(server)
    got = ok(server.call("AuditService/Get", A.GetAuditRowRequest(id=update.id), A.AuditRow, login="auditor"))
    assert got.seal == "valid" and got.seal_seq > 0


def test_paging(server):
    site = new_site(server)
    for i in range(4):
        ok(server.call("SiteService/UpdateSite", S.UpdateSiteRequest(
            id=site.id, capacity_m3=10 + i, update_mask=["capacity_m3"]), S.Site, login="admin"))
    obj = "site:%d" % site.id
    seen, token = [], ""
    while True:
        page = ok(alist(server, object=obj, page_size=2, page_token=token))
        seen += [r.id for r in page.rows]
        token = page.next_page_token
        if not token:
            break
    assert len(seen) == 5 and seen == sorted(seen)


def test_scope_trims_rows_and_hides_objects(server, street_auditor):
    mine = new_site(server, community="CM01")      # street ST01
    theirs = new_site(server, community="CM07")    # street ST02
    rows = ok(alist(server, caller=street_auditor, method="CreateSite")).rows
    objs = {r.object for r in rows}
    assert "site:%d" % theirs.id in objs and "site:%d" % mine.id not in objs
    row = ok(alist(server, object="site:%d" % mine.id)).rows[0]
    r = server.call("AuditService/Get", A.GetAuditRowRequest(id=row.id), A.AuditRow, login=street_auditor)
    assert r[1] == Code.NOT_FOUND
    r = server.call("AuditService/History", A.AuditHistoryRequest(object="site:%d" % mine.id),
                    A.ListAuditResponse, login=street_auditor)
    assert r[1] == Code.NOT_FOUND
    r = alist(server, caller=street_auditor, org_unit_code="CM01")
    assert r[1] == Code.NOT_FOUND
    assert ok(server.call("AuditService/History", A.AuditHistoryRequest(object="site:%d" % theirs.id),
                          A.ListAuditResponse, login=street_auditor)).rows
    # the chain is checked district-wide only
    r = server.call("AuditService/VerifyChain", A.VerifyAuditChainRequest(), A.VerifyAuditChainResponse,
                    login=street_auditor)
    assert r[1] == Code.PERMISSION_DENIED


def test_permission_and_bad_input(server):
    assert alist(server, caller="logi.st01")[1] == Code.PERMISSION_DENIED
    assert alist(server, caller="fin.officer")[1] == Code.PERMISSION_DENIED
    assert ok(alist(server, caller="admin", page_size=1)).rows
    for kw, field in ((dict(since="yesterday"), "since"), (dict(page_size=5000), "page_size"),
                      (dict(text="x" * 201), "text"), (dict(page_token="abc"), "page_token")):
        resp, code, details = alist(server, **kw)
        assert code == Code.INVALID_ARGUMENT and field in details, (kw, code, details)
    for obj in ("", "site", "site:", ":12"):
        r = server.call("AuditService/History", A.AuditHistoryRequest(object=obj), A.ListAuditResponse,
                        login="auditor")
        assert r[1] == Code.INVALID_ARGUMENT, (obj, r)
    r = server.call("AuditService/Get", A.GetAuditRowRequest(id=0), A.AuditRow, login="auditor")
    assert r[1] == Code.INVALID_ARGUMENT
    r = server.call("AuditService/Get", A.GetAuditRowRequest(id=987654321), A.AuditRow, login="auditor")
    assert r[1] == Code.NOT_FOUND


def test_cli_table_json_csv(server, cli):
    site = new_site(server)
    obj = "site:%d" % site.id
    rc, out, err = cli("audit", "list", "--object", obj, login="auditor")
    assert rc == 0, err
    assert "CreateSite" in out and obj in out
    rc, out, err = cli("--json", "audit", "list", "--object", obj, login="auditor")
    assert rc == 0, err
    doc = json.loads(out)
    rows = doc["rows"]
    assert rows[0]["object"] == obj and json.loads(rows[0]["changes"])[0]["t"] == "sites"
    rc, out, err = cli("--csv", "audit", "history", "--object", obj, login="auditor")
    assert rc == 0, err
    assert out.splitlines()[0].startswith("id,") and obj in out
    rc, out, err = cli("audit", "list", login="logi.st01")
    assert rc != 0 and "PERMISSION_DENIED" in (out + err).upper().replace(" ", "_")


def test_batch_writes_one_row_with_a_compact_item_list(server, db):
    src = ok(server.call("FundService/CreateAccount", F.CreateAccountRequest(
        kind="source", code="SRC-AUD" + uuid.uuid4().hex[:4].upper(), name="Audit pool"), F.Account,
        login="fin.officer"))
    move(server, "PrepareDeposit", source_account_id=src.id, amount=10_000_000, memo="x")
    grids = ["GR%03d" % i for i in range(30, 60)]
    # money moves by two people (issue 14): the batch's 30 postings are written by PostMovement
    m = ok(server.call("FundMovementService/PrepareAllocationBatch", F.AllocateBatchRequest(
        source_account_id=src.id, items=[F.AllocationItem(grid_code=g, amount=100) for g in grids]),
        F.FundMovement, login="fin.officer"))
    ok(server.call("FundMovementService/ApproveMovement", F.FundMovementRequest(id=m.id), F.FundMovement,
                   login="fin.approver"))
    before = one(db, "SELECT max(id) FROM audit_log")
    r = ok(server.call("FundMovementService/PostMovement", F.FundMovementRequest(id=m.id), F.FundMovement,
                       login="fin.approver"))
    assert len(r.postings) == 30
    rows = ok(alist(server, method="PostMovement", since="2000-01-01")).rows
    rows = [x for x in rows if x.id > before]
    assert len(rows) == 1  # one row for the batch, not one per item
    ch = json.loads(rows[0].changes)
    acc = [e for e in ch if e["t"] == "fund_accounts"]
    assert acc and all(len(json.dumps(e)) < 4000 for e in acc), acc
    fund_ids = [x[0] for x in db.execute(
        "SELECT a.id FROM fund_accounts a JOIN org_units g ON g.id = a.org_unit_id"
        " WHERE a.kind = 'grid_fund' AND g.code = ANY(%s) ORDER BY a.id", (grids,)).fetchall()]
    named = set()
    for e in acc:
        named |= set(e.get("ids", [])) | ({e["id"]} if "id" in e else set())
    assert set(fund_ids) <= named, (fund_ids, acc)
    # the history of one grid fund finds the batch row
    hist = ok(server.call("AuditService/History", A.AuditHistoryRequest(object="fund_account:%d" % fund_ids[7]),
                          A.ListAuditResponse, login="auditor"))
    assert rows[0].id in [h.id for h in hist.rows]


def test_verify_chain_rpc_and_tamper_as_the_owner(server, db):
    new_site(server)
    seal(server)
    rc, out, err = gsd(server, "verify")
    assert rc == 0 and out.startswith("ok: "), out + err
    v = ok(server.call("AuditService/VerifyChain", A.VerifyAuditChainRequest(), A.VerifyAuditChainResponse,
                       login="auditor"))
    assert v.ok and v.sealed > 0 and len(v.head_hmac) == 64
    # the owner disables the triggers, changes a sealed row, and recomputes every unkeyed
    # hash from there on so that the links and sha256 hashes all agree again
    victim, vseq = db.execute("SELECT l.id, s.seq FROM audit_log l JOIN audit_seal s ON s.audit_id = l.id"
                              " WHERE l.method LIKE '%%CreateSite' ORDER BY l.id LIMIT 1").fetchone()
    saved_row = one(db, "SELECT summary FROM audit_log WHERE id = %s", victim)
    saved = db.execute("SELECT seq, prev_hash, hash FROM audit_seal WHERE seq >= %s ORDER BY seq", (vseq,)).fetchall()
    db.execute("ALTER TABLE audit_log DISABLE TRIGGER USER")
    db.execute("ALTER TABLE audit_seal DISABLE TRIGGER USER")
    try:
        db.execute("UPDATE audit_log SET summary = 'nothing happened here' WHERE id = %s", (victim,))
        db.execute("""DO $$ DECLARE s record; prev bytea; BEGIN
            SELECT prev_hash INTO prev FROM audit_seal WHERE seq = %d;
            FOR s IN SELECT x.seq, l AS arow FROM audit_seal x JOIN audit_log l ON l.id = x.audit_id
                     WHERE x.seq >= %d ORDER BY x.seq LOOP
                UPDATE audit_seal SET prev_hash = prev, hash = audit_row_hash(prev, s.arow) WHERE seq = s.seq
                RETURNING hash INTO prev;
            END LOOP; END $$""" % (vseq, vseq))
        rc, out, err = gsd(server, "verify")
        assert rc == 1, out + err
        assert "audit row %d was changed after it was sealed (seal %d)" % (victim, vseq) in out, out
        assert "first broken seal %d, audit row %d" % (vseq, victim) in out, out
        got = ok(server.call("AuditService/Get", A.GetAuditRowRequest(id=victim), A.AuditRow, login="auditor"))
        assert got.seal == "changed"
        v = ok(server.call("AuditService/VerifyChain", A.VerifyAuditChainRequest(), A.VerifyAuditChainResponse,
                           login="auditor"))
        assert not v.ok and v.broken_audit_id == victim and v.broken_seq == vseq
        # VerifyLedger reports it too
        lv = ok(server.call("FundService/VerifyLedger", F.VerifyLedgerRequest(), F.VerifyLedgerResponse,
                            login="auditor"))
        assert not lv.ok and any("audit row %d was changed" % victim in p for p in lv.problems), lv.problems
        # a seal's link broken by hand is named as such
        db.execute("UPDATE audit_log SET summary = %s WHERE id = %s", (saved_row, victim))
        for seq, prev, h in saved:
            db.execute("UPDATE audit_seal SET prev_hash = %s, hash = %s WHERE seq = %s", (prev, h, seq))
        assert gsd(server, "verify")[0] == 0
        db.execute("UPDATE audit_seal SET prev_hash = sha256(prev_hash) WHERE seq = %s", (vseq + 1,))
        rc, out, err = gsd(server, "verify")
        assert rc == 1 and "seal %d" % (vseq + 1) in out and "does not follow seal %d" % vseq in out, out
        db.execute("UPDATE audit_seal SET prev_hash = %s WHERE seq = %s", (saved[1][1], vseq + 1))
    finally:
        db.execute("UPDATE audit_log SET summary = %s WHERE id = %s", (saved_row, victim))
        db.execute("ALTER TABLE audit_log ENABLE TRIGGER USER")
        db.execute("ALTER TABLE audit_seal ENABLE TRIGGER USER")
    rc, out, err = gsd(server, "verify")
    assert rc == 0, out + err


def test_forged_writes_as_the_application_role_are_refused(server, db, pg, gs_env):
    role = "gs_app_audit"
    paths.run([paths.pg_tool("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-v", "app_role=" + role,
               "-h", pg.host, "-p", str(pg.port), "-U", "postgres", "-d", gs_env.dbname,
               "-f", os.path.join(paths.SOURCE_DIR, "sql", "roles.sql")])
    app = psycopg.connect("host=%s port=%d dbname=%s user=%s" % (pg.host, pg.port, gs_env.dbname, role),
                          autocommit=True)
    try:
        seq, aid = app.execute("SELECT seq, audit_id FROM audit_seal ORDER BY seq DESC LIMIT 1").fetchone()
        # no seal by INSERT
        with pytest.raises(errors.InsufficientPrivilege):
            app.execute("INSERT INTO audit_seal (seq, audit_id, prev_hash, hash, kid)"
                        " VALUES (%s, %s, '\\x00', '\\x00', 'a1')", (seq + 1, aid))
        # the sealer's door checks what it can: the head, the rows, the hashes
        with pytest.raises(errors.SerializationFailure):
            app.execute("SELECT audit_seal_append('a1', %s, ARRAY[%s]::bigint[], ARRAY[sha256('x')])", (seq, aid))
        with pytest.raises(errors.InvalidParameterValue):
            app.execute("SELECT audit_seal_append('a1', %s, ARRAY[987654321]::bigint[], ARRAY[sha256('x')])",
                        (seq + 1,))
        with pytest.raises(errors.InvalidParameterValue):
            app.execute("SELECT audit_seal_append('a1', %s, ARRAY[%s]::bigint[], ARRAY['\\x01'::bytea])",
                        (seq + 1, aid))
        # no audit row with a chosen id, or in the name of nobody
        with pytest.raises(psycopg.Error):
            app.execute("INSERT INTO audit_log (id, user_id, login, role, method) VALUES (1000000, 1, 'admin',"
                        " 'admin', 'forged')")
        with pytest.raises(errors.InsufficientPrivilege):
            app.execute("INSERT INTO audit_log (user_id, login, role, method) VALUES (1, 'nobody', 'admin', 'forged')")
        # a row inserted with a past time gets the transaction's time instead
        uid = one(db, "SELECT id FROM users WHERE login = 'auditor'")
        at = app.execute("INSERT INTO audit_log (user_id, login, role, method, at) VALUES (%s, 'auditor',"
                         " 'auditor', 'test', '2001-01-01') RETURNING at > now() - interval '1 hour'", (uid,)).fetchone()[0]
        assert at
    finally:
        app.close()


def test_truncation_is_caught_against_a_checkpoint(server, db, tmp_path):
    seal(server)
    rc, cp1, err = gsd(server, "checkpoint")
    assert rc == 0 and cp1.startswith("gridstock-audit-checkpoint seq="), cp1 + err
    for _ in range(3):
        new_site(server)
    seal(server)
    rc, cp2, err = gsd(server, "checkpoint")
    assert rc == 0, err
    f = tmp_path / "checkpoint"
    f.write_text("# kept off-site\n" + cp2)
    rc, out, err = gsd(server, "verify", "--checkpoint", str(f))
    assert rc == 0 and "from the checkpoint" in out, out + err
    seq1 = int(cp1.split("seq=")[1].split()[0])
    seq2 = int(cp2.split("seq=")[1].split()[0])
    assert seq2 > seq1
    # the owner removes the newest rows and their seals
    saved_seals = db.execute("SELECT s::text FROM audit_seal s WHERE seq > %s ORDER BY seq", (seq1,)).fetchall()
    saved_rows = db.execute("SELECT l::text FROM audit_log l WHERE id IN"
                            " (SELECT audit_id FROM audit_seal WHERE seq > %s) ORDER BY id", (seq1,)).fetchall()
    db.execute("ALTER TABLE audit_log DISABLE TRIGGER USER")
    db.execute("ALTER TABLE audit_seal DISABLE TRIGGER USER")
    try:
        db.execute("DELETE FROM audit_log WHERE id IN (SELECT audit_id FROM audit_seal WHERE seq > %s)", (seq1,))
        db.execute("DELETE FROM audit_seal WHERE seq > %s", (seq1,))
        # without a checkpoint the shortened chain is consistent: that is what checkpoints are for
        rc, out, err = gsd(server, "verify")
        assert rc == 0, out + err
        rc, out, err = gsd(server, "verify", "--checkpoint", str(f))
        assert rc == 1, out + err
        assert ("the chain ends at seal %d, before the checkpoint's seal %d" % (seq1, seq2)) in out, out
        assert "truncation" in out
    finally:
        for (row,) in saved_rows:
            db.execute("INSERT INTO audit_log SELECT (%s::audit_log).*", (row,))
        for (row,) in saved_seals:
            db.execute("INSERT INTO audit_seal SELECT (%s::audit_seal).*", (row,))
        db.execute("ALTER TABLE audit_log ENABLE TRIGGER USER")
        db.execute("ALTER TABLE audit_seal ENABLE TRIGGER USER")
    rc, out, err = gsd(server, "verify", "--checkpoint", str(f))
    assert rc == 0, out + err


def test_key_rotation(server, db, tmp_path):
    old = open(server.env.audit_keyring).read().strip()
    new = pgmod.make_keyring(str(tmp_path / "only-new"), kid="a2")
    rotated = tmp_path / "rotated"
    rotated.write_text(new + "\n" + old + "\n")  # the first key seals, every key verifies
    os.chmod(rotated, 0o600)
    seal(server)  # every row so far under a1
    # Seal a new row with the rotated keyring. The module's server (which holds a1 only)
    # seals every 2 s and may take the row first; then the next row is tried.
    for _ in range(10):
        new_site(server)
        out = seal(server, keys=str(rotated))
        first_new = one(db, "SELECT min(seq) FROM audit_seal WHERE kid = 'a2'")
        if first_new is not None:
            break
    assert first_new is not None and first_new > 1, out
    rc, out, err = gsd(server, "verify", keys=str(rotated))
    assert rc == 0, out + err
    # a server that lost the new key names the first seal it cannot check
    rc, out, err = gsd(server, "verify")
    assert rc == 1 and 'seal %d' % first_new in out and 'audit key "a2"' in out, out
    # one that dropped the old key too early cannot check the old seals
    rc, out, err = gsd(server, "verify", keys=str(tmp_path / "only-new"))
    assert rc == 1 and "seal 1 " in out and 'audit key "a1"' in out, out


def test_check_reports_the_audit_keyring(server, tmp_path):
    def check(keys):
        p = subprocess.run([paths.GRIDSTOCKD, "check", "--db", server.conninfo, "--token-keys", server.env.keyring,
                            "--audit-keys", keys], capture_output=True, text=True, env=paths.sanitizer_env())
        return [l for l in p.stdout.splitlines() if "audit_keys" in l]
    assert check(server.env.audit_keyring)[0].startswith('ok      audit_keys: ') and '"a1"' in check(
        server.env.audit_keyring)[0]
    loose = tmp_path / "loose"
    loose.write_text(open(server.env.audit_keyring).read())
    os.chmod(loose, 0o644)
    assert check(str(loose))[0].startswith("PROBLEM audit_keys"), check(str(loose))
    bad = tmp_path / "bad"
    bad.write_text("a1 zz\n")
    os.chmod(bad, 0o600)
    assert check(str(bad))[0].startswith("PROBLEM audit_keys"), check(str(bad))


def test_two_person_fund_movements_carry_what_changed(server, db):
    """A fund movement (issue 14's two-person flow) is captured like every object: the
    prepare row carries the new movement, approval and posting their state changes, and
    every row is filed under the source account's org unit."""
    m = move(server, "PrepareDeposit", source_code="SRC-DISTRICT", amount=1234, memo="audit me")
    rows = ok(server.call("AuditService/History", A.AuditHistoryRequest(object="fund_movement:%d" % m.id),
                          A.ListAuditResponse, login="auditor")).rows
    assert [r.method.rsplit("/", 1)[1] for r in rows] == ["PrepareDeposit", "ApproveMovement", "PostMovement"]
    changes = [[e for e in json.loads(r.changes) if e.get("t") == "fund_movements"] for r in rows]
    assert changes[0] and changes[0][0]["op"] == "insert" and changes[0][0]["id"] == m.id
    assert changes[1][0]["set"]["state"] == ["prepared", "approved"]
    assert changes[2][0]["set"]["state"] == ["approved", "posted"]
    unit_path = one(db, "SELECT ou.path::text FROM fund_accounts a JOIN org_units ou ON ou.id = a.org_unit_id"
                        " WHERE a.code = 'SRC-DISTRICT'")
    assert {r.scope_path for r in rows} == {unit_path}


def test_capture_of_keyed_tables_deletes_and_no_op_updates(db):
    """The capture of migration 043 (one-row fast path, the general query for more rows)
    records what 040's did: keyed tables by their key, only the columns that changed
    (updated_at left out), nothing for an update that changes nothing, one compact entry
    past 20 rows, and deletes with the old row. Checked inside a transaction that is rolled
    back: the audit row each step writes takes the changes noted so far."""

    def changes():
        db.execute("INSERT INTO audit_log (user_id, login, role, method) VALUES (0, 'system', 'system', 'test')")
        return one(db, "SELECT changes FROM audit_log WHERE id = currval('audit_log_id_seq')")

    with db.transaction(force_rollback=True):
        rows = db.execute("SELECT site_id, item_id, par_level FROM site_items"
                          " ORDER BY site_id, item_id LIMIT 22").fetchall()
        (s1, i1, r1), (s2, i2, r2) = rows[0], rows[1]
        changes()  # whatever came before
        # one row of a keyed table
        db.execute("UPDATE site_items SET par_level = par_level + 1 WHERE site_id = %s AND item_id = %s",
                   (s1, i1))
        assert changes() == [{"t": "site_items", "op": "update", "key": {"site_id": s1, "item_id": i1},
                              "set": {"par_level": [r1, r1 + 1]}}]
        # an update that changes nothing (updated_at aside) notes nothing
        db.execute("UPDATE sites SET updated_at = now() + interval '1 s' WHERE id = %s", (s1,))
        db.execute("UPDATE site_items SET reorder_point = reorder_point WHERE site_id = %s AND item_id = %s",
                   (s1, i1))
        assert changes() is None
        # two rows: an entry each, in key order, each with its own change
        db.execute("UPDATE site_items SET par_level = par_level + CASE WHEN site_id = %s AND item_id = %s"
                   " THEN 2 ELSE 3 END WHERE (site_id, item_id) IN ((%s, %s), (%s, %s))", (s1, i1, s1, i1, s2, i2))
        ch = changes()
        assert len(ch) == 2 and {e["op"] for e in ch} == {"update"}, ch
        sets = {(e["key"]["site_id"], e["key"]["item_id"]): e["set"] for e in ch}
        assert sets[(s1, i1)] == {"par_level": [r1 + 1, r1 + 3]}
        assert sets[(s2, i2)] == {"par_level": [r2, r2 + 3]}
        # past 20 rows: one compact entry naming the keys, the changed fields and the shared change
        keys = [(s, i) for s, i, _ in rows]
        db.execute("UPDATE site_items SET par_level = 777777 WHERE (site_id, item_id) IN (SELECT * FROM"
                   " unnest(%s::bigint[], %s::bigint[]))", ([k[0] for k in keys], [k[1] for k in keys]))
        ch = changes()
        assert len(ch) == 1 and ch[0]["t"] == "site_items" and ch[0]["op"] == "update", ch
        assert ch[0]["n"] == 22 and ch[0]["fields"] == ["par_level"] and len(ch[0]["keys"]) == 22
        assert "par_level" not in ch[0]["set"] or ch[0]["set"]["par_level"][1] == 777777
        # a delete carries the old row; an insert the new one
        db.execute("DELETE FROM site_items WHERE site_id = %s AND item_id = %s", (s2, i2))
        ch = changes()
        assert ch[0]["op"] == "delete" and ch[0]["key"] == {"site_id": s2, "item_id": i2}
        assert ch[0]["old"]["par_level"] == 777777
        db.execute("INSERT INTO site_items (site_id, item_id, reorder_point, par_level) VALUES (%s, %s, 0, 2)",
                   (s2, i2))
        ch = changes()
        assert ch[0]["op"] == "insert" and ch[0]["new"]["par_level"] == 2, ch
