"""The authorization matrix (tests/authz/matrix.csv): every RPC the server offers (found by
reflection) × every role × object class (own scope, other community, other street, missing)
answers the status the table expects, and no denied call changes the database (a checksum
of every table, audit log and request log included, before and after each method's denied
calls), and no allowed call of a method declared not mutating (its options in the .proto)
changes it either. An RPC without rows in the table fails the test: add it to tests/authz/spec.py and
regenerate the CSV (`python3 tests/authz/spec.py`).

GS_AUTHZ_OBSERVED=<file> also writes what was observed as CSV (to review a new table)."""
import csv
import json
import os
import sys
import threading
import uuid

import grpc
import pytest
from google.protobuf import json_format

from harness import paths
from harness.money import move

sys.path.insert(0, os.path.join(paths.SOURCE_DIR, "tests", "authz"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "authz"))
import rpcs as rpcsmod  # noqa: E402
import spec  # noqa: E402

from gridstock.v1 import funds_pb2 as F  # noqa: E402
from gridstock.v1 import procurement_pb2 as PO  # noqa: E402
from gridstock.v1 import programmes_pb2 as P  # noqa: E402
from gridstock.v1 import requisitions_pb2 as Q  # noqa: E402
from gridstock.v1 import sites_pb2 as S  # noqa: E402
from gridstock.v1 import stock_pb2 as K  # noqa: E402
from gridstock.v1 import users_pb2 as U  # noqa: E402

Code = grpc.StatusCode
AUTHZ_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "authz")
MATRIX = os.path.join(AUTHZ_DIR, "matrix.csv")
MISSING_ID = 987654321
# Where each object class lives (see spec.py).
# market: the demo supplier market of the community; station: a charity station the test
# creates (the demo has none in even-numbered communities).
PLACES = {
    "own": {"community": "CM01", "site": "RP01", "site2": "MXT-CM01", "market": "SM01", "station": "MXC-CM01"},
    "other_community": {"community": "CM02", "site": "RP02", "site2": "MXT-CM02", "market": "SM02",
                        "station": "MXC-CM02"},
    "other_street": {"community": "CM07", "site": "RP07", "site2": "MXT-CM07", "market": "SM03",
                     "station": "MXC-CM07"},
    # above the caller's scope: the caller's street and the district root. Their sites, market
    # and accounts are created at the unit itself; grids, compounds and what hangs on them
    # come from a community below it that is not the caller's.
    "parent": {"community": "ST01", "grid_from": "CM02", "site": "MXP-ST01", "site2": "MXT-ST01",
               "market": "MXM-ST01", "station": "MXC-ST01"},
    "district": {"community": "DC", "grid_from": "CM07", "site": "MXP-DC", "site2": "MXT-DC",
                 "market": "MXM-DC", "station": "MXC-DC"},
}
# Tables written by background jobs on their own schedule, not by calls.
BACKGROUND_TABLES = {"audit_seal", "stock_expiry_alerted"}


def load_matrix():
    with open(MATRIX, newline="") as f:
        return list(csv.DictReader(f))


def checksum(db):
    """{table: (rows, md5 of the rows)} for every table of the schema."""
    tables = [r[0] for r in db.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1").fetchall()
        if r[0] not in BACKGROUND_TABLES]
    sql = " UNION ALL ".join(
        "SELECT %s, count(*), md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM %s x"
        % ("'" + t + "'", '"' + t + '"') for t in tables)
    return {t: (n, h) for t, n, h in db.execute(sql).fetchall()}


def diff(before, after):
    return sorted(t for t in set(before) | set(after) if before.get(t) != after.get(t))


def ok(result, what):
    resp, code, details = result
    assert code == Code.OK, "%s: %s %s" % (what, code, details)
    return resp


class World:
    """Objects in the three places, users per role scoped to CM01, and factories for the
    objects a call consumes (a draft to submit, an approved disbursement to post, ...)."""

    def __init__(self, server, db):
        self.s = server
        self.db = db
        self.n = 0
        self.lock = threading.Lock()
        self.static = {}
        self.tokens = {}

    def uniq(self, prefix):
        with self.lock:
            self.n += 1
            return "%s%d%s" % (prefix, self.n, uuid.uuid4().hex[:6].upper())

    def call(self, path, req, cls, login="admin"):
        return ok(self.s.call(path, req, cls, login=login), path)

    def one(self, sql, *args):
        return self.db.execute(sql, args).fetchone()[0]

    def setup(self):
        s = self
        for role in spec.ROLES:
            login = "mx." + role.replace("_", "-")
            s.call("UserService/CreateUser", U.CreateUserRequest(login=login, display_name="Matrix " + role,
                                                                  role=role, scope_code="CM01"), U.User)
            self.tokens[role] = self.s.token(login)
        for obj, p in PLACES.items():
            st = {}
            cm = p["community"]
            below = p.get("grid_from", cm)
            st["ou_code"] = cm
            st["grid_code"] = self.one(
                "SELECT g.code FROM org_units g JOIN org_units c ON c.id = g.parent_id"
                " WHERE c.code = %s AND g.kind = 'grid' ORDER BY g.id LIMIT 1", below)
            st["compound_code"] = self.one(
                "SELECT cp.code FROM compounds cp JOIN org_units o ON o.id = cp.org_unit_id"
                " WHERE o.path <@ (SELECT path FROM org_units WHERE code = %s) ORDER BY cp.id LIMIT 1", below)
            if "grid_from" in p:  # a reserve point and a supplier market at the unit itself
                for code, kind in ((p["site"], "reserve_point"), (p["market"], "supplier_market")):
                    s.call("SiteService/CreateSite", S.CreateSiteRequest(
                        code=code, name="Matrix " + kind, kind=kind, org_unit_code=cm, lat=31.2, lon=107.46), S.Site)
            st["site_code"] = p["site"]
            st["site"] = self.one("SELECT id FROM sites WHERE code = %s", p["site"])
            st["site2_code"] = p["site2"]
            st["market_code"] = p["market"]
            st["station_code"] = p["station"]
            st["item"] = self.one("SELECT id FROM items WHERE code = 'WATER-5L'")
            st["fund_code"] = "GF-" + st["grid_code"]
            u = s.call("UserService/CreateUser", U.CreateUserRequest(
                login="mx.user." + cm.lower(), display_name="Matrix subject", role="community_staff",
                scope_code=cm), U.User)
            st["user"] = u.id
            site2 = s.call("SiteService/CreateSite", S.CreateSiteRequest(
                code=p["site2"], name="Matrix transfer point", kind="reserve_point", org_unit_code=cm,
                lat=31.2, lon=107.46), S.Site)
            # AuditService: the object and the audit row of that creation
            st["site_object"] = "site:%d" % site2.id
            st["audit_row"] = self.one("SELECT min(id) FROM audit_log WHERE object = %s", st["site_object"])
            s.call("SiteService/CreateSite", S.CreateSiteRequest(
                code=p["station"], name="Matrix charity station", kind="charity_station", org_unit_code=cm,
                lat=31.2, lon=107.46), S.Site)
            for site in (p["site"], p["site2"], p["station"]):
                lot = s.call("StockService/Receive", K.ReceiveRequest(
                    site_code=site, item_code="WATER-5L", qty=100000, lot_code="MX-BASE",
                    expires_on="2031-01-01"), K.ReceiveResponse, login="admin").lot
                if site == p["site"]:
                    st["lot"] = lot.id
            src = s.call("FundService/CreateAccount", F.CreateAccountRequest(
                kind="source", code="SRC-" + cm, name="Matrix source " + cm, org_unit_code=cm), F.Account,
                login="fin.officer")
            st["source_code"] = src.code
            move(self.s, "PrepareDeposit", source_code=src.code, amount=10**11, memo="matrix")
            move(self.s, "PrepareAllocation", source_code=src.code, grid_code=st["grid_code"], amount=10**10)
            payee = s.call("FundService/CreateAccount", F.CreateAccountRequest(
                kind="payee", code="PAYEE-" + cm, name="Matrix payee " + cm, org_unit_code=cm), F.Account,
                login="fin.officer")
            st["payee_code"] = payee.code
            self.static[obj] = st
        self.static["missing"] = {
            "ou_code": "ZZ-NOUNIT", "emergency_unit": "ZZ-NOUNIT", "grid_code": "GR999", "compound_code": "CP999", "site_code": "ZZ-NOSITE",
            "site": MISSING_ID, "site2_code": "CS01", "item": MISSING_ID, "fund_code": "GF-GR999",
            "user": MISSING_ID, "lot": MISSING_ID, "source_code": "SRC-NONE", "payee_code": "PAYEE-NONE",
            "market_code": "ZZ-NOMARKET", "station_code": "ZZ-NOSTATION",
            "site_object": "site:%d" % MISSING_ID, "audit_row": MISSING_ID,
        }

    # ---- factories: a fresh object of the place for calls that consume one
    def make(self, name, obj, role):
        st = self.static[obj]
        if name == "new_code":
            return self.uniq("MX")
        if name == "new_login":
            return self.uniq("mx.new.").lower()
        if obj == "missing":
            if name in st:
                return st[name]
            if name == "site_no_stocktake":
                return "ZZ-NOSITE"
            return MISSING_ID
        if name == "fresh_user":
            return self.call("UserService/CreateUser", U.CreateUserRequest(
                login=self.uniq("mx.f.").lower(), display_name="Fresh", role="community_staff",
                scope_code=st["ou_code"]), U.User).id
        if name == "fresh_site":
            return self.call("SiteService/CreateSite", S.CreateSiteRequest(
                code=self.uniq("MXS"), name="Fresh", kind="reserve_point", org_unit_code=st["ou_code"],
                lat=31.2, lon=107.46), S.Site).id
        if name == "transfer":
            return self.call("StockService/DispatchTransfer", K.DispatchTransferRequest(
                from_site_code=st["site_code"], to_site_code=st["site2_code"],
                items=[K.TransferItem(item_code="WATER-5L", qty=1)]), K.Transfer).id
        if name in ("stocktake", "site_no_stocktake"):
            open_id = self.db.execute(
                "SELECT id FROM stocktakes WHERE site_id = %s AND status = 'open'", (st["site"],)).fetchone()
            if name == "site_no_stocktake":
                if open_id:
                    self.call("StockService/EnterCounts", K.EnterCountsRequest(
                        stocktake_id=open_id[0], counts=[K.Count(lot_id=st["lot"], counted=100000)]),
                        K.EnterCountsResponse)
                    self.call("StockService/SubmitStocktake", K.SubmitStocktakeRequest(stocktake_id=open_id[0]),
                              K.Stocktake)
                return st["site_code"]
            if open_id:
                sid = open_id[0]
            else:
                sid = self.call("StockService/OpenStocktake", K.OpenStocktakeRequest(site_code=st["site_code"]),
                                K.Stocktake).id
            self.call("StockService/EnterCounts", K.EnterCountsRequest(
                stocktake_id=sid, counts=[K.Count(lot_id=st["lot"], counted=100000)]), K.EnterCountsResponse)
            return sid
        if name.startswith("req_"):
            return self.requisition(st, name[4:])
        if name == "disb_mine":
            # prepared by the caller when they may prepare here (only the preparer may edit)
            login = "mx." + role.replace("_", "-")
            if obj != "own" or not spec.has(role, "fund.prepare"):
                login = "fin.officer"
            return self.call("DisbursementService/PrepareDisbursement", F.PrepareDisbursementRequest(
                grid_code=st["grid_code"], payee_code=st["payee_code"], category="subsidies", amount=100,
                purpose="matrix", period="2026-11"), F.Disbursement, login=login).id
        if name.startswith("disb_"):
            d = self.call("DisbursementService/PrepareDisbursement", F.PrepareDisbursementRequest(
                grid_code=st["grid_code"], payee_code=st["payee_code"], category="subsidies", amount=100,
                purpose="matrix", period="2026-11"), F.Disbursement, login="fin.officer")
            if name == "disb_approved":
                self.call("DisbursementService/ApproveDisbursement", F.ApproveDisbursementRequest(id=d.id),
                          F.Disbursement, login="fin.approver")
            return d.id
        if name.startswith("po_"):
            o = self.call("ProcurementService/CreateOrder", PO.CreateOrderRequest(
                supplier_site_code=st["market_code"], site_code=st["site_code"], note="matrix subject",
                lines=[PO.OrderLineInput(item_code="WATER-5L", qty=3, unit_price_fen=500)]), PO.PurchaseOrder,
                login="logi.district")
            if name == "po_placed":
                self.call("ProcurementService/PlaceOrder", PO.OrderActionRequest(order_id=o.id), PO.PurchaseOrder,
                          login="logi.district")
            return o.id
        if name == "programme":
            return self.programme(st)
        if name in ("run", "run_approved"):
            # a fresh programme run by a finance officer other than the caller (the approver
            # must not have prepared it): one disbursement to the place's payee
            run = self.call("ProgrammeService/RunProgramme", P.RunProgrammeRequest(
                programme_id=self.programme(st), period="2026-11"), P.ProgrammeRun, login="fin.officer")
            if name == "run_approved":
                self.call("ProgrammeService/ApproveRun", P.ApproveRunRequest(id=run.id), P.ProgrammeRun,
                          login="fin.approver")
            return run.id
        if name in ("emergency_unit", "emergency_proposal"):
            # the place's community with no running activation, and (proposal) an open
            # proposal to switch it on by admin, whom every matrix caller is not
            self.db.execute("UPDATE emergency_activations SET ended_at = now(), ended_how = 'expired'"
                            " WHERE ended_at IS NULL AND org_unit_id = (SELECT id FROM org_units WHERE code = %s)",
                            (st["ou_code"],))
            if name == "emergency_unit":
                return st["ou_code"]
            return self.call("RequisitionService/SetEmergencyMode", Q.SetEmergencyModeRequest(
                org_unit_code=st["ou_code"], active=True, hours=1, reason="matrix subject"),
                Q.EmergencyMode).proposal.id
        if name == "supply_agreement":
            # a fresh agreement serving the place, made by the district's officer
            return self.call("RequisitionService/CreateSupplyAgreement", Q.CreateSupplyAgreementRequest(
                supplier_site_code=st["market_code"], org_unit_code=st["ou_code"], delivery_hours=4,
                valid_from="2026-01-01", valid_until="2030-12-31", fund_account_code=st["source_code"],
                items=[Q.SupplyAgreementItem(item_code="WATER-5L", daily_qty=10, price_cap_fen=600)]),
                Q.SupplyAgreement, login="logi.district").id
        if name == "posting":
            return move(self.s, "PrepareAllocation", source_code=st["source_code"], grid_code=st["grid_code"],
                        amount=100).postings[0].id
        if name in ("move_prepared", "move_approved"):
            # a deposit of the place prepared by fin.officer (never a matrix caller)
            m = self.call("FundMovementService/PrepareDeposit", F.DepositRequest(
                source_code=st["source_code"], amount=100, memo="matrix subject"), F.FundMovement,
                login="fin.officer")
            if name == "move_approved":
                self.call("FundMovementService/ApproveMovement", F.FundMovementRequest(id=m.id), F.FundMovement,
                          login="fin.approver")
            return m.id
        if name in st:
            return st[name]
        raise KeyError("no placeholder $%s" % name)

    def programme(self, st):
        """A fresh volunteer allowance programme of the place with its payee enrolled."""
        p = self.call("ProgrammeService/CreateProgramme", P.CreateProgrammeRequest(
            code=self.uniq("MXP"), name="Matrix programme", kind="volunteer_allowance", category="subsidies",
            amount=100, org_unit_code=st["ou_code"]), P.Programme, login="fin.officer")
        self.call("ProgrammeService/SetProgrammeMembers", P.SetProgrammeMembersRequest(
            programme_id=p.id, members=[P.ProgrammeMember(payee_code=st["payee_code"], grid_code=st["grid_code"])]),
            P.ListProgrammeMembersResponse, login="fin.officer")
        return p.id

    def requisition(self, st, state):
        order = ["draft", "submitted", "approved", "allocated", "dispatched", "received"]
        r = self.call("RequisitionService/Create", Q.CreateRequisitionRequest(
            org_unit_code=st["grid_code"], purpose="matrix subject",
            lines=[Q.RequisitionLineInput(item_code="WATER-5L", qty=2)]), Q.Requisition, login="admin")
        steps = {
            "submitted": ("Submit", Q.RequisitionActionRequest(id=r.id), "admin"),
            "approved": ("Approve", Q.ApproveRequest(id=r.id), "logi.district"),
            "allocated": ("Allocate", Q.RequisitionActionRequest(id=r.id), "logi.district"),
            "dispatched": ("Dispatch", Q.RequisitionActionRequest(id=r.id), "logi.district"),
            "received": ("ConfirmReceipt", Q.ConfirmReceiptRequest(id=r.id), "admin"),
        }
        for step in order[1:order.index(state) + 1]:
            method, req, login = steps[step]
            self.call("RequisitionService/" + method, req, Q.Requisition, login=login)
        return r.id

    def resolve(self, tmpl, obj, role):
        if isinstance(tmpl, dict):
            return {k: self.resolve(v, obj, role) for k, v in tmpl.items()}
        if isinstance(tmpl, list):
            return [self.resolve(v, obj, role) for v in tmpl]
        if isinstance(tmpl, str) and tmpl.startswith("$"):
            return self.make(tmpl[1:], obj, role)
        return tmpl


def invoke(server, rpc, data, token):
    """One call of any kind → (grpc.StatusCode, details). A stream that is still open (or
    sent a message) after a moment counts as OK."""
    md = [("authorization", "Bearer " + token), ("x-request-id", uuid.uuid4().hex)]
    ch = server.channel
    if rpc.kind == "unary":
        raw, code, details = server.call_raw(rpc.path, data, token=token)
        field = spec.BATCH.get(rpc.short)
        if code == Code.OK and field:
            items = getattr(rpc.response_cls.FromString(raw), field)
            if items and items[0].code != 0:
                return Code(next(c for c in Code if c.value[0] == items[0].code)), items[0].message
        return code, details
    if rpc.kind == "server_stream":
        call = ch.unary_stream(rpc.path)(data, timeout=1.5, metadata=md)
    else:
        call = ch.stream_stream(rpc.path)(iter([data]), timeout=1.5, metadata=md)
    try:
        next(call)
        call.cancel()
        return Code.OK, ""
    except StopIteration:
        return call.code(), call.details() or ""
    except grpc.RpcError as e:
        if e.code() == Code.DEADLINE_EXCEEDED:
            return Code.OK, "(stream open)"
        return e.code(), e.details() or ""


def build(world, rpc, tmpl, obj, role):
    return json_format.ParseDict(world.resolve(tmpl, obj, role), rpc.request_cls()).SerializeToString()


@pytest.fixture(scope="module")
def world(server, db):
    w = World(server, db)
    w.setup()
    return w


def test_matrix_covers_every_rpc(server):
    offered = rpcsmod.discover(server.channel, paths.SOURCE_DIR)
    listed = {r["method"] for r in load_matrix()}
    missing = sorted(set(offered) - listed)
    assert not missing, "RPCs without rows in tests/authz/matrix.csv (add them to tests/authz/spec.py): %s" % missing
    stale = sorted(listed - set(offered))
    assert not stale, "matrix rows for RPCs the server does not offer: %s" % stale
    rows = load_matrix()
    for path in offered:
        combos = {(r["role"], r["object"]) for r in rows if r["method"] == path}
        assert len(combos) == len(spec.ROLES) * len(spec.OBJECTS), path


def test_matrix(server, db, world):
    offered = rpcsmod.discover(server.channel, paths.SOURCE_DIR)
    rows = load_matrix()
    by_method = {}
    for r in rows:
        by_method.setdefault(r["method"], []).append(r)
    failures, observed = [], []
    for path in sorted(by_method):
        rpc = offered.get(path)
        if rpc is None:
            continue  # test_matrix_covers_every_rpc reports it
        tmpl = spec.M[path][2]
        cases = by_method[path]
        denied = [c for c in cases if c["expected"] != "OK"]
        allowed = [c for c in cases if c["expected"] == "OK"]
        # Denied calls: all requests are built first (factories change the database), then
        # one checksum before and one after the batch.
        msgs = []
        for c in denied:
            try:
                msgs.append((c, build(world, rpc, tmpl, c["object"], c["role"])))
            except Exception as e:  # a factory failed: report it, go on
                failures.append("%s role=%s object=%s: could not build the request: %s" % (
                    path, c["role"], c["object"], str(e).splitlines()[0]))
        before = checksum(db)
        for c, data in msgs:
            code, details = invoke(server, rpc, data, world.tokens[c["role"]])
            observed.append((path, c["role"], c["object"], code.name, details))
            if code.name != c["expected"]:
                failures.append("%s role=%s object=%s: got %s (%s), expected %s (%s)" % (
                    path, c["role"], c["object"], code.name, details, c["expected"], c["why"]))
        after = checksum(db)
        changed = diff(before, after)
        if path in spec.BATCH:
            changed = [t for t in changed if t not in spec.BATCH_MAY_WRITE]
        if changed:
            failures.append("%s: denied calls changed tables %s" % (path, changed))
        # Allowed calls of a method its options declare as not mutating: all built first,
        # then a checksum before and after shows that the calls change nothing. A mutating
        # method's requests are built one by one, each just before its call (its factory
        # makes the state the call consumes, e.g. a site without an open stocktake).
        reads_only = not spec.OPTIONS[path].mutates

        def built(c):
            try:
                return build(world, rpc, tmpl, c["object"], c["role"])
            except Exception as e:
                failures.append("%s role=%s object=%s: could not build the request: %s" % (
                    path, c["role"], c["object"], str(e).splitlines()[0]))
                return None

        msgs = [(c, built(c)) for c in allowed] if reads_only else [(c, None) for c in allowed]
        before = checksum(db) if reads_only else None
        for c, data in msgs:
            data = data if reads_only else built(c)
            if data is None:
                continue
            code, details = invoke(server, rpc, data, world.tokens[c["role"]])
            observed.append((path, c["role"], c["object"], code.name, details))
            if code.name != "OK":
                failures.append("%s role=%s object=%s: got %s (%s), expected OK" % (
                    path, c["role"], c["object"], code.name, details))
        if reads_only:
            changed = diff(before, checksum(db))
            if changed:
                failures.append("%s: declared not mutating (options.proto), but its calls "
                                "changed tables %s" % (path, changed))
    out = os.environ.get("GS_AUTHZ_OBSERVED")
    if out:
        with open(out, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["method", "role", "object", "observed", "details"])
            w.writerows(observed)
    print("authz matrix: %d cases, %d methods, %d failures" % (len(observed), len(by_method), len(failures)))
    assert not failures, "%d of %d cases differ from the matrix:\n%s" % (
        len(failures), len(observed), "\n".join(failures[:300]))


def test_requests_file_matches_spec():
    """tests/authz/requests.json is spec.py's templates (regenerate with spec.py)."""
    with open(os.path.join(AUTHZ_DIR, "requests.json")) as f:
        assert json.load(f) == {k: v[2] for k, v in spec.M.items()}
