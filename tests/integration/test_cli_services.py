"""The services no CLI test ran before (issue 20), through the gridstock CLI against a real
server: a requisition from draft to closed (with its approval queue and history), grid
funds (payee, allocation, budget, ledger check), a disbursement prepared by one finance
user and approved and posted by another (and refused to the preparer), user management
(create with a Chinese name, update, deactivate, revoke tokens), and the two watch streams
(`requisition watch`, `stock watch-stock-alerts`) printing events as they happen and
ending cleanly on Ctrl-C."""
import json
import queue
import re
import signal
import subprocess
import threading
import time
import uuid

from harness import paths
from harness.sql import day, one


def ok(result):
    rc, out, err = result
    assert rc == 0, "exit %d: %s" % (rc, err)
    return out


def js(result):
    return json.loads(ok(result))


def table(out):
    """Lines of a human table, split on runs of 2+ spaces."""
    return [re.split(r"\s{2,}", l.strip()) for l in out.splitlines() if l.strip()]


def new_item(db, stock=None):
    code = "CLI-" + uuid.uuid4().hex[:8].upper()
    iid = one(db, "INSERT INTO items (code, name, category, unit) VALUES (%s, %s, 'food', '袋')"
                  " RETURNING id", code, "大米 10公斤 " + code)
    for site, qty in (stock or {}).items():
        one(db, "SELECT lot_id FROM stock_receive((SELECT id FROM sites WHERE code = %s), %s, %s, %s, NULL)",
            site, iid, qty, "L" + uuid.uuid4().hex[:6].upper())
    return code


# ---------------------------------------------------------------- requisitions


def test_requisition_from_draft_to_closed(cli, db):
    code = new_item(db, {"RP01": 20})
    lines = json.dumps({"lines": [{"item_code": code, "qty": 5}]})
    r = js(cli("--json", "requisition", "create", "--purpose", "防汛 building 3", "--priority", "urgent",
               "--needed-by", "2030-01-31", "--delivery-site-code", "RP01", "--data", lines, login="leader.gr001"))
    assert r["status"] == "draft" and r["org_unit_code"] == "GR001" and r["lines"][0]["qty_requested"] == 5
    rid, number = str(r["id"]), r["number"]
    r = js(cli("--json", "requisition", "update-draft", "--id", rid, "--purpose", "防汛，3 号楼",
               "--update-mask", "purpose", login="leader.gr001"))
    assert r["purpose"] == "防汛，3 号楼"
    assert js(cli("--json", "requisition", "submit", "--number", number, "--comment", "急",
                  login="leader.gr001"))["status"] == "submitted"

    # the approval queue, as a person reads it: number, unit, priority, status
    out = ok(cli("requisition", "approval-queue", login="logi.st01"))
    rows = table(out)
    assert rows[0][:4] == ["NUMBER", "ORG UNIT", "ORG UNIT NAME", "PRIORITY"], rows[0]
    mine = [row for row in rows if row[0] == number]
    assert mine and "urgent" in mine[0] and "submitted" in mine[0]

    # the requester cannot approve (exit 3, the server's status on stderr, nothing changed)
    rc, out, err = cli("requisition", "approve", "--id", rid, login="leader.gr001")
    assert rc == 3 and "PERMISSION_DENIED" in err and out == ""
    assert one(db, "SELECT status FROM requisitions WHERE id = %s", int(rid)) == "submitted"

    for method, who in (("approve", "logi.st01"), ("allocate", "logi.st01"), ("dispatch", "logi.st01"),
                        ("confirm-receipt", "leader.gr001"), ("close", "leader.gr001")):
        r = js(cli("--json", "requisition", method, "--id", rid, "--comment", "cli " + method, login=who))
    assert r["status"] == "closed"
    # allocation took the stock at RP01
    assert one(db, "SELECT sum(on_hand) FROM lots l JOIN items i ON i.id = l.item_id WHERE i.code = %s", code) == 15

    out = ok(cli("requisition", "history", "--number", number, login="logi.st01"))
    rows = table(out)
    assert rows[0] == ["FROM", "TO", "BY", "AT", "COMMENT"], rows[0]
    steps = [(row[0], row[1]) if len(row) > 3 else None for row in rows[1:]]
    assert ("draft", "submitted") in steps and ("received", "closed") in steps
    # the list with picked columns, and CSV with every field
    out = ok(cli("requisition", "list", "--status", "closed", "--columns", "number,status,purpose",
                 login="leader.gr001"))
    assert [number, "closed", "防汛，3 号楼"] in table(out)
    out = ok(cli("--csv", "requisition", "get", "--id", rid, login="leader.gr001"))
    header, values = out.splitlines()[:2]
    assert "number" in header.split(",") and number in values


def test_requisition_errors_through_the_cli(cli):
    rc, out, err = cli("requisition", "create", "--data", '{"lines": [{"item_code": "NO-SUCH", "qty": 1}]}',
                       login="leader.gr001")
    assert rc == 3 and ("NOT_FOUND" in err or "INVALID_ARGUMENT" in err) and "NO-SUCH" in err
    rc, out, err = cli("requisition", "get", "--id", "abc", login="leader.gr001")
    assert rc == 1 and "--id" in err
    rc, out, err = cli("requisition", "get", "--id", "99999999", login="leader.gr001")
    assert rc == 3 and "NOT_FOUND" in err


# ---------------------------------------------------------------- funds and disbursements


def test_funds_and_a_disbursement_with_two_people(cli, db):
    payee = "PAYEE-CLI-" + uuid.uuid4().hex[:6].upper()  # "P-" is the grid leaders' (issue 14)
    acct = js(cli("--json", "fund", "create-account", "--kind", "payee", "--code", payee, "--name", "网格员 张三",
                  "--org-unit-code", "DC", login="fin.officer"))
    assert acct["kind"] == "payee" and acct["name"] == "网格员 张三"
    before = one(db, "SELECT balance FROM fund_accounts WHERE kind = 'grid_fund'"
                     " AND org_unit_id = (SELECT id FROM org_units WHERE code = 'GR020')")
    # moving money takes two people: prepared by the officer, approved and posted by the approver
    mv = js(cli("--json", "fund-movement", "prepare-allocation", "--source-code", "SRC-DISTRICT", "--grid-code",
                "GR020", "--amount", "50000", "--memo", "CLI allocation", login="fin.officer"))
    assert mv["state"] == "prepared"
    js(cli("--json", "fund-movement", "approve-movement", "--id", str(mv["id"]), login="fin.approver"))
    js(cli("--json", "fund-movement", "post-movement", "--id", str(mv["id"]), login="fin.approver"))
    assert one(db, "SELECT balance FROM fund_accounts WHERE kind = 'grid_fund'"
                   " AND org_unit_id = (SELECT id FROM org_units WHERE code = 'GR020')") == before + 50000
    b = js(cli("--json", "fund", "set-budget", "--grid-code", "GR020", "--period", "2026-07",
               "--category", "activities", "--amount", "30000", login="fin.officer"))
    assert b["amount"] == 30000 and b["period_kind"] == "month"
    out = ok(cli("fund", "list-budgets", "--org-unit-code", "GR020", login="fin.officer"))
    rows = table(out)
    assert rows[0][:4] == ["GRID", "PERIOD", "CATEGORY", "AMOUNT"]
    assert any(r[:4] == ["GR020", "2026-07", "activities", "30000"] for r in rows)
    out = ok(cli("fund", "list-accounts", "--kind", "payee", "--page-size", "1000", "--columns", "code,name",
                 login="fin.officer"))
    assert [payee, "网格员 张三"] in table(out)

    d = js(cli("--json", "disbursement", "prepare", "--grid-code", "GR020", "--payee-code", payee,
               "--category", "activities", "--amount", "12000", "--purpose", "七月活动", "--period", "2026-07",
               login="fin.officer"))
    did = str(d["id"])
    assert d["state"] == "prepared" and d["preparer_login"] == "fin.officer"
    # the preparer cannot approve their own payment; nothing changes
    rc, out, err = cli("disbursement", "approve", "--id", did, login="fin.officer")
    assert rc == 3 and ("PERMISSION_DENIED" in err or "FAILED_PRECONDITION" in err), err
    assert one(db, "SELECT state FROM fund_disbursements WHERE id = %s", int(did)) == "prepared"
    d = js(cli("--json", "disbursement", "approve", "--id", did, login="fin.approver"))
    assert d["state"] == "approved" and d["approver_login"] == "fin.approver"
    d = js(cli("--json", "disbursement", "post", "--id", did, login="fin.approver"))
    assert d["state"] == "posted"
    out = ok(cli("disbursement", "list", "--state", "posted", login="fin.approver"))
    rows = table(out)
    assert rows[0][:3] == ["ID", "GRID", "PAYEE"]
    assert [r for r in rows if r[0] == did and payee in r and "七月活动" in r]
    assert js(cli("--json", "fund", "verify-ledger", login="auditor"))["ok"] is True
    # over the budget (30000 - 12000 left): refused with the server's reason, exit 3
    rc, out, err = cli("--json", "disbursement", "prepare", "--grid-code", "GR020", "--payee-code", payee,
                       "--category", "activities", "--amount", "25000", "--purpose", "too much",
                       "--period", "2026-07", login="fin.officer")
    if rc == 0:  # the budget is checked when the payment is approved
        rc, out, err = cli("disbursement", "approve", "--id", str(json.loads(out)["id"]), login="fin.approver")
    assert rc == 3 and "FAILED_PRECONDITION" in err and "budget" in err.lower(), err


# ---------------------------------------------------------------- users


def test_user_management(cli, server):
    login = "cli.user." + uuid.uuid4().hex[:6]
    u = js(cli("--json", "user", "create", "--login", login, "--display-name", "李四", "--role", "community_staff",
               "--scope-code", "CM01", "--phone", "13800000000", login="admin"))
    assert u["login"] == login and u["active"] is True and u["scope_code"] == "CM01"
    out = ok(cli("user", "list", "--query", login, login="admin"))
    rows = table(out)
    assert rows[0][:4] == ["LOGIN", "NAME", "ROLE", "SCOPE"]
    assert [r for r in rows if r[:4] == [login, "李四", "community_staff", "CM01"]]
    out = ok(cli("--lang", "zh_CN", "user", "list", "--query", login, login="admin"))
    assert table(out)[0][:3] == ["登录名", "名称", "角色"]
    u = js(cli("--json", "user", "update", "--id", str(u["id"]), "--display-name", "李四（社区）",
               "--update-mask", "display_name", login="admin"))
    assert u["display_name"] == "李四（社区）"
    # the new user works with a token, then not after revocation
    token = server.token(login, fresh=True)
    assert js(cli("--json", "user", "who-am-i", token=token))["user"]["login"] == login
    time.sleep(1.1)  # tokens issued in the same second as the revocation stay valid
    u = js(cli("--json", "user", "revoke-user-tokens", "--id", str(u["id"]), login="admin"))
    assert u["tokens_valid_after"]
    rc, out, err = cli("user", "who-am-i", token=token)
    assert rc == 3 and "UNAUTHENTICATED" in err
    u = js(cli("--json", "user", "deactivate", "--id", str(u["id"]), login="admin"))
    assert u["active"] is False
    assert js(cli("--json", "user", "get", "--login", login, login="admin"))["active"] is False
    # not an admin: refused, exit 3
    rc, out, err = cli("user", "create", "--login", "x.y", "--display-name", "x", "--role", "auditor",
                       "--scope-code", "DC", login="logi.district")
    assert rc == 3 and "PERMISSION_DENIED" in err


# ---------------------------------------------------------------- watch streams


class Watch:
    """The CLI running a watch: lines of stdout as they arrive; Ctrl-C ends it."""

    def __init__(self, server, login, *args):
        e = paths.sanitizer_env()
        for k in ("LANG", "LC_ALL", "LANGUAGE", "LC_MESSAGES", "COLUMNS"):
            e.pop(k, None)
        self.p = subprocess.Popen([paths.GRIDSTOCK_CLI, "--addr", server.addr, "--token", server.token(login)]
                                  + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=e)
        self.lines = queue.Queue()
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()
        time.sleep(1.0)  # the server's listener subscribes asynchronously

    def _read(self):
        for line in self.p.stdout:
            self.lines.put(line.rstrip("\n"))

    def until(self, pred, timeout=15):
        seen, deadline = [], time.time() + timeout
        while time.time() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                continue
            seen.append(line)
            if pred(line):
                return line, seen
        raise AssertionError("no matching line within %ss; saw %r (stderr %r)" % (
            timeout, seen, self.p.stderr.read() if self.p.poll() is not None else ""))

    def interrupt(self):
        self.p.send_signal(signal.SIGINT)
        rc = self.p.wait(timeout=15)
        self.t.join(5)
        return rc, self.p.stderr.read()


def test_requisition_watch_prints_events_until_ctrl_c(cli, server, db):
    code = new_item(db)
    w = Watch(server, "logi.st01", "--json", "requisition", "watch", "--org-unit-code", "CM01")
    try:
        r = js(cli("--json", "requisition", "create", "--submit", "--data",
                   json.dumps({"lines": [{"item_code": code, "qty": 1}]}), login="leader.gr001"))
        line, _ = w.until(lambda l: r["number"] in l and '"to_state":"submitted"' in l.replace(" ", ""))
        ev = json.loads(line)
        assert ev["kind"] == "transition" and ev["actor_login"] == "leader.gr001" and ev["org_unit_code"] == "GR001"
    finally:
        rc, err = w.interrupt()
    assert rc == 0, err
    # people's output: key: value lines, the fields --columns names
    w = Watch(server, "logi.st01", "requisition", "watch", "--columns", "number,to_state")
    try:
        js(cli("--json", "requisition", "cancel", "--id", str(r["id"]), "--reason", "不需要了", login="leader.gr001"))
        w.until(lambda l: l == "to_state: cancelled")
    finally:
        rc, err = w.interrupt()
    assert rc == 0, err


def test_stock_alert_watch(cli, server, db):
    code = new_item(db)
    w = Watch(server, "logi.district", "--json", "stock", "watch-stock-alerts", "--org-unit-code", "CM01",
              "--kinds", "near_expiry")
    try:
        ok(cli("stock", "receive", "--site-code", "RP01", "--item-code", code, "--qty", "4", "--lot-code", "NE-CLI",
               "--expires-on", day(db, 5), login="logi.district"))
        line, _ = w.until(lambda l: code in l)
        a = json.loads(line)
        assert (a["kind"], a["lot_code"], a["qty"], a["site_code"]) == ("near_expiry", "NE-CLI", 4, "RP01")
    finally:
        rc, err = w.interrupt()
    assert rc == 0, err
    # a bad filter is the server's INVALID_ARGUMENT, exit 3, at once
    rc, out, err = cli("stock", "watch-stock-alerts", "--kinds", "flood", "--timeout", "10", login="logi.district")
    assert rc == 3 and "INVALID_ARGUMENT" in err
