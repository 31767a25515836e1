"""The stock dashboard (StockService/ExportDashboard) and the reports in Chinese: every site
in scope on the map in the colour of its worst state (checked against sites made empty, low
and expiring here), nothing outside the caller's scope, the lists, the fund report and the
dashboard in zh_CN from the same catalog as the CLI; and the page looked at in a real
browser: headless Chromium (Debian's) renders it to PNG without console errors, and the DOM
it built has a circle for every site."""
import datetime
import os
import re
import shutil
import struct
import subprocess
from html.parser import HTMLParser

import grpc
import pytest

from gridstock.v1 import reports_pb2 as R
from gridstock.v1 import sites_pb2 as S
from gridstock.v1 import stock_pb2 as K

Code = grpc.StatusCode
LOGI = "logi.district"
COLORS = {"empty": "#c0392b", "low": "#e39b2d", "expiring": "#d4c21f", "fine": "#4f9d69",
          "supplier": "#9aa5b1"}


class Circles(HTMLParser):
    """data-code → fill of every map circle."""

    def __init__(self):
        super().__init__()
        self.fill = {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "circle" and "data-code" in a:
            assert a["data-code"] not in self.fill, "site %s drawn twice" % a["data-code"]
            self.fill[a["data-code"]] = a.get("fill")


def circles(html):
    p = Circles()
    p.feed(html)
    return p.fill


def dashboard(server, login=LOGI, **kw):
    return server.call_ok("StockService/ExportDashboard", K.ExportDashboardRequest(**kw),
                          K.ExportDashboardResponse, login=login).html


def sites_under(db, unit_code):
    return {r[0] for r in db.execute(
        "SELECT s.code FROM sites s JOIN org_units ou ON ou.id = s.org_unit_id"
        " WHERE s.active AND ou.path <@ (SELECT path FROM org_units WHERE code = %s)",
        (unit_code,)).fetchall()}


@pytest.fixture(scope="module")
def made(server):
    """Three new reserve points in CM01: one with nothing, one with an item below its
    reorder point, one whose only lot expires in five days."""
    def site(code):
        server.call_ok("SiteService/CreateSite", S.CreateSiteRequest(
            code=code, name="Dashboard " + code, kind="reserve_point", org_unit_code="CM01",
            lat=31.2, lon=107.47), S.Site, login="admin")

    def receive(code, lot, qty, expires):
        server.call_ok("StockService/Receive", K.ReceiveRequest(
            site_code=code, item_code="WATER-5L", qty=qty, lot_code=lot, expires_on=expires),
            K.ReceiveResponse, login="admin")

    soon = (datetime.date.today() + datetime.timedelta(days=5)).isoformat()
    later = (datetime.date.today() + datetime.timedelta(days=400)).isoformat()
    for code in ("DB-EMPTY", "DB-LOW", "DB-EXP"):
        site(code)
    receive("DB-LOW", "L1", 3, later)
    receive("DB-EXP", "E1", 50, soon)
    return {"empty": "DB-EMPTY", "low": "DB-LOW", "expiring": "DB-EXP"}


def test_every_site_in_the_colour_of_its_worst_state(server, db, made):
    # DB-LOW keeps a level for water: 3 available, reorder at 1,000
    db.execute("INSERT INTO site_items (site_id, item_id, reorder_point, par_level)"
               " SELECT s.id, i.id, 1000, 2000 FROM sites s, items i"
               " WHERE s.code = 'DB-LOW' AND i.code = 'WATER-5L'")
    html = dashboard(server, org_unit_code="DC")
    fill = circles(html)
    assert set(fill) == sites_under(db, "DC")
    for state, code in made.items():
        assert fill[code] == COLORS[state], (code, fill[code], state)
    for code in db.execute("SELECT code FROM sites WHERE kind = 'supplier_market' AND active").fetchall():
        assert fill[code[0]] == COLORS["supplier"]
    # the lists (the first 100 of each) name what made the sites so
    cm01 = dashboard(server, org_unit_code="CM01")
    assert "<td>DB-LOW</td>" in cm01.split("Below reorder point", 1)[1]
    exp = cm01.split("Expiring within 30 days", 1)[1]
    assert "DB-EXP" in exp and "E1" in exp
    # the cards count the sites by state
    cards = {k: int(v) for k, v in re.findall(r'&#9679;</span> ([a-z ]+)<b>(\d+)</b>', html)}
    suppliers = int(re.search(r'<div class="card">supplier markets<b>(\d+)</b>', html).group(1))
    assert sum(cards.values()) + suppliers == len(fill)
    names = {"empty": "empty", "low": "below reorder point", "expiring": "expiring soon", "fine": "fine"}
    for state, name in names.items():
        assert cards[name] == sum(1 for f in fill.values() if f == COLORS[state]), (name, cards)


def test_only_the_callers_scope(server, db, made):
    fill = circles(dashboard(server, login="logi.st01"))
    assert fill and set(fill) == sites_under(db, "ST01")
    # another street's unit is not found, as everywhere
    _, code, _ = server.call("StockService/ExportDashboard", K.ExportDashboardRequest(org_unit_code="ST02"),
                             K.ExportDashboardResponse, login="logi.st01")
    assert code == Code.NOT_FOUND


def test_days_of_supply_from_the_last_30_days(server, db, made):
    server.call_ok("StockService/Issue", K.IssueRequest(site_code="DB-EXP", item_code="WATER-5L", qty=6),
                   K.IssueResponse, login="admin")
    # what the community's sites hold and gave out, item by item, read here from the tables
    rows = db.execute(
        "WITH st AS (SELECT s.id FROM sites s JOIN org_units ou ON ou.id = s.org_unit_id"
        "  WHERE ou.path <@ (SELECT path FROM org_units WHERE code = 'CM01')"
        "  AND s.kind <> 'supplier_market' AND s.active)"
        " SELECT i.code,"
        "  (SELECT -sum(m.qty) FROM stock_movements m WHERE m.item_id = i.id AND m.site_id IN (SELECT id FROM st)"
        "    AND m.kind IN ('issue', 'distribution_out') AND m.at >= now() - interval '30 days'),"
        "  (SELECT coalesce(sum(l.on_hand - l.reserved), 0) FROM lots l WHERE l.item_id = i.id"
        "    AND l.site_id IN (SELECT id FROM st) AND NOT stock_expired(l.expires_on))"
        " FROM items i").fetchall()
    days = {code: int(available) * 30.0 / int(used) for code, used, available in rows if used}
    assert "WATER-5L" in days
    first = min(days, key=lambda k: (days[k], k))
    html = dashboard(server, org_unit_code="CM01")
    table = html.split("Days of supply", 1)[1].split("</table>", 1)[0]
    row = [r for r in table.split("<tr>") if r.startswith("<td>CM01 ")][0]
    assert "<td>%s " % first in row, (first, row)
    shown = float(re.search(r'class="n(?: warn)?">([0-9.]+)</td></tr>', row).group(1))
    assert abs(shown - days[first]) < 0.051, (shown, days[first])


def test_bad_arguments(server):
    for kw, field in (({"expiry_days": 400}, "expiry_days"), ({"lang": "fr"}, "lang"), ({"title": "x" * 201}, "title")):
        _, code, details = server.call("StockService/ExportDashboard", K.ExportDashboardRequest(**kw),
                                       K.ExportDashboardResponse, login=LOGI)
        assert code == Code.INVALID_ARGUMENT and details.startswith(field + ":"), (kw, details)


def test_the_reports_in_chinese(server, made):
    zh = dashboard(server, org_unit_code="DC", lang="zh_CN")
    assert '<html lang="zh-CN">' in zh
    for words in ("库存", "站点地图", "低于补货点", "天内过期", "可供应天数"):
        assert words in zh, words
    assert "Below reorder point" not in zh and "Days of supply" not in zh
    en = dashboard(server, org_unit_code="DC", lang="en")
    assert '<html lang="en">' in en and "Below reorder point" in en
    fund = server.call_ok("FundReportService/ExportHtmlReport", R.ExportHtmlReportRequest(lang="zh_CN"),
                          R.ExportHtmlReportResponse, login="auditor").html
    for words in ("网格工作经费", "支出趋势", "各网格预算使用情况", "待核查事项"):
        assert words in fund, words
    assert "Spending over time" not in fund


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", head[16:24])


def test_a_real_browser_draws_it(server, db, made, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "chromium is not installed: scripts/bootstrap installs Debian's"
    page = tmp_path / "stock.html"
    page.write_text(dashboard(server, org_unit_code="DC", lang="zh_CN"), encoding="utf-8")
    base = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--user-data-dir=%s" % (tmp_path / "profile"), "--enable-logging=stderr", "--v=0"]
    shot = tmp_path / "stock.png"
    p = subprocess.run(base + ["--window-size=1024,1600", "--screenshot=%s" % shot, page.as_uri()],
                       capture_output=True, text=True, timeout=120)
    assert shot.exists(), p.stderr[-2000:]
    w, h = png_size(shot)
    assert (w, h) == (1024, 1600)
    assert os.path.getsize(shot) > 20000, "an almost empty picture"
    console = [line for line in p.stderr.splitlines() if "CONSOLE" in line]
    assert not console, console
    dom = subprocess.run(base + ["--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert not [line for line in dom.stderr.splitlines() if "CONSOLE" in line]
    assert set(circles(dom.stdout)) == sites_under(db, "DC")


def test_the_cli_exports_it(cli, db, made):
    rc, out, err = cli("--json", "stock", "export-dashboard", "--org-unit-code", "CM01", "--lang", "zh_CN",
                       login=LOGI)
    assert rc == 0, err
    import json
    html = json.loads(out)["html"]
    assert '<html lang="zh-CN">' in html and "站点地图" in html
    assert set(circles(html)) == sites_under(db, "CM01")
    rc, _, err = cli("stock", "export-dashboard", "--lang", "fr", login=LOGI)
    assert rc == 3 and "field lang" in err, err
