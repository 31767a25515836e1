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
        login=login, display_name="Street auditor", role="auditor", scope_code="ST02"), U.User))
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
            id=site.id, capacity_m3=10 + i, update_mask=["capacity_m3"]), S.Site))
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
