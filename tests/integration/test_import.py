"""CSV imports through the CLI (`gridstock import items|prices|counts FILE.csv`) and the
ImportService behind them: every bad row reported by its line number and nothing applied;
good files applied in one call, all rows or none (server-side errors name the line and the
row index too); quoted fields, CRLF, a byte order mark, stdin; a progress bar; scope and
role refusals; a clean ledger after a counted stocktake."""
import json
import uuid

import grpc

from gridstock.v1 import imports_pb2 as pb
from gridstock.v1 import stock_pb2 as st
from harness.sql import one

Code = grpc.StatusCode
LOGI = "logi.district"


def tag():
    return uuid.uuid4().hex[:6].upper()


def write(tmp_path, name, text, newline="\n"):
    p = tmp_path / name
    p.write_bytes(text.replace("\n", newline).encode("utf-8"))
    return str(p)


def count_items(db, prefix):
    return one(db, "SELECT count(*) FROM items WHERE code LIKE %s", prefix + "%")


# ---------------------------------------------------------------- items


def test_items_bad_rows_are_all_reported_and_nothing_is_applied(cli, db, tmp_path):
    t = "IMP" + tag()
    text = (
        "code,name,category,unit,shelf_life_days,active\n"        # 1
        f"{t}-A,Rice 5 kg,food,bag,365,yes\n"                      # 2 good
        f"{t}-B,Candles,candles,pack,,\n"                          # 3 bad category
        f"{t}-C,,water,bottle,,\n"                                 # 4 missing name
        f"{t}-A,Rice again,food,bag,365,\n"                        # 5 duplicate code
        f"{t}-D,Biscuits,food,case,12.5,\n"                        # 6 not a whole number
        f"{t}-E,Tent,shelter,set\n"                                # 7 too few fields
        f"{t}-F,\"Blanket, cotton\",shelter,piece,,maybe\n"        # 8 bad boolean
        f"{t}-G,\"Quilt\nwinter\",shelter,piece,,\n"               # 9-10 embedded newline: good
        f"{t.lower()}-h,Lowercase code,other,piece,,\n"            # 11 bad code
        "\n"                                                       # 12 blank: skipped
        f"{t}-I,Shovel,tools,piece,-1,\n"                          # 13 negative shelf life
    )
    path = write(tmp_path, "items.csv", text)
    rc, out, err = cli("import", "items", path, login=LOGI)
    assert rc == 4, (rc, out, err)
    lines = [l for l in err.splitlines() if l.startswith("gridstock: line ")]
    got = {int(l.split()[2].rstrip(":")): l for l in lines}
    assert sorted(got) == [3, 4, 5, 6, 7, 8, 11, 13], err
    assert "category:" in got[3] and "candles" in got[3]
    assert "name: required" in got[4]
    assert "code:" in got[5] and "also on line 2" in got[5]
    assert "shelf_life_days: not a whole number" in got[6]
    assert "4 field(s), but the header has 6" in got[7]
    assert "active: not true or false" in got[8]
    assert "code: only A-Z" in got[11]
    assert "shelf_life_days: must be between 0 and 36500" in got[13]
    assert "8 bad row(s) of 10; nothing was imported" in err
    assert count_items(db, t) == 0
    # --check reports the same and sends nothing either
    rc, out, err2 = cli("import", "items", "--check", path, login=LOGI)
    assert rc == 4 and err2.count("gridstock: line ") == 8


def test_items_good_file_is_applied_then_updated(cli, db, tmp_path):
    t = "IMP" + tag()
    text = (
        "\ufeffCode,Name,Category,Unit,Shelf_Life_Days\n"
        f"{t}-A,Rice 5 kg,food,bag,365\n"
        f"{t}-B,\"Blanket, cotton \"\"king\"\"\",shelter,piece,\n"
        f"{t}-C,\"Quilt\nwinter\",shelter,piece,\n"
    )
    path = write(tmp_path, "items_ok.csv", text, newline="\r\n")
    rc, out, err = cli("import", "items", "--check", path, login=LOGI)
    assert rc == 0 and "3 row(s), all good" in out, err
    assert count_items(db, t) == 0
    rc, out, err = cli("--json", "import", "items", path, login=LOGI)
    assert rc == 0, err
    assert json.loads(out) == {"rows": 3, "created": 3, "updated": 0, "unchanged": 0}
    row = db.execute("SELECT name, category, unit, shelf_life_days, active FROM items WHERE code = %s", (t + "-B",)).fetchone()
    assert row == ('Blanket, cotton "king"', "shelter", "piece", None, True)
    assert one(db, "SELECT name FROM items WHERE code = %s", t + "-C") == "Quilt\r\nwinter"
    assert one(db, "SELECT count(*) FROM audit_log WHERE method LIKE '%%ImportItems' AND summary LIKE 'imported 3 item(s)%%'") >= 1
    # again with one change, from stdin, with an inactive flag column
    text2 = ("code,name,category,unit,shelf_life_days,active\n"
             f"{t}-A,Rice 5 kg,food,bag,365,true\n"
             f"{t}-B,\"Blanket, cotton \"\"king\"\"\",shelter,piece,,no\n")
    rc, out, err = cli("--json", "import", "items", "-", login=LOGI, input=text2)
    assert rc == 0, err
    assert json.loads(out) == {"rows": 2, "created": 0, "updated": 1, "unchanged": 1}
    assert one(db, "SELECT active FROM items WHERE code = %s", t + "-B") is False


def test_items_header_problems(cli, tmp_path):
    rc, _, err = cli("import", "items", write(tmp_path, "h1.csv", "code,name,colour\nA,b,c\n"), login=LOGI)
    assert rc == 4 and 'unknown column "colour"' in err and 'no column "category"' in err and "nothing was imported" in err
    rc, _, err = cli("import", "items", write(tmp_path, "h2.csv", ""), login=LOGI)
    assert rc == 4 and "empty file" in err
    rc, _, err = cli("import", "items", write(tmp_path, "h3.csv", "code,name,category,unit\n"), login=LOGI)
    assert rc == 4 and "no rows" in err
    rc, _, err = cli("import", "items", write(tmp_path, "h4.csv", 'code,name,category,unit\nA,"open quote,food,bag\n'), login=LOGI)
    assert rc == 4 and "line 2" in err and "not closed" in err
    rc, _, err = cli("import", "items", write(tmp_path, "h5.csv", 'code,name,category,unit\nA,xyz,food,bag\nB,"a"b,food,bag\n'), login=LOGI)
    assert rc == 4 and "line 3" in err
    rc, _, err = cli("import", "items", str(tmp_path / "missing.csv"), login=LOGI)
    assert rc == 4 and "missing.csv" in err
    rc, _, err = cli("import", "items", login=LOGI)
    assert rc == 1 and "usage" in err
    rc, _, err = cli("import", "items", "--frobnicate", "x.csv", login=LOGI)
    assert rc == 1 and "--frobnicate" in err
    rc, _, err = cli("import", "counts", "x.csv", login=LOGI)
    assert rc == 1 and "--stocktake-id" in err


def test_items_refused_by_role_and_server_checks(server, cli, db, tmp_path):
    t = "IMP" + tag()
    path = write(tmp_path, "role.csv", f"code,name,category,unit\n{t}-A,Rice,food,bag\n")
    rc, _, err = cli("import", "items", path, login="staff.cm01")
    assert rc == 3 and "PERMISSION_DENIED" in err
    assert count_items(db, t) == 0
    # straight to the service: its own checks name the line and the row
    rows = [pb.ItemRow(line=2, code=t + "-A", name="a", category="food", unit="bag"),
            pb.ItemRow(line=3, code=t + "-A", name="b", category="food", unit="bag")]
    _, code, det = server.call("ImportService/ImportItems", pb.ImportItemsRequest(rows=rows), pb.ImportResponse, login=LOGI)
    assert code == Code.INVALID_ARGUMENT and det.startswith("line 3: rows[1].code:") and "line 2" in det
    rows = [pb.ItemRow(line=2, code=t + "-A", name="a", category="food", unit="bag"),
            pb.ItemRow(line=9, code=t + "-B", name="b", category="snacks", unit="bag")]
    _, code, det = server.call("ImportService/ImportItems", pb.ImportItemsRequest(rows=rows), pb.ImportResponse, login=LOGI)
    assert code == Code.INVALID_ARGUMENT and det.startswith("line 9: rows[1].category:")
    _, code, det = server.call("ImportService/ImportItems", pb.ImportItemsRequest(), pb.ImportResponse, login=LOGI)
    assert code == Code.INVALID_ARGUMENT and det.startswith("rows:")
    assert count_items(db, t) == 0


def test_large_file_with_a_progress_bar(cli, db, tmp_path):
    t = "BIG" + tag()
    n = 6000
    text = "code,name,category,unit,shelf_life_days\n" + "".join(
        f"{t}-{i:05d},Bulk test item number {i} with a longer name to make the file bigger,other,piece,{i % 900 + 1}\n"
        for i in range(n))
    path = write(tmp_path, "big.csv", text)
    rc, out, err = cli("--json", "import", "items", "--progress", path, login=LOGI)
    assert rc == 0, err[-2000:]
    assert json.loads(out)["created"] == n
    assert "reading" in err and "100%" in err and f"{n} rows" in err and "sending 6000 row(s)" in err
    assert count_items(db, t) == n
    # too many rows for one call: refused locally
    big = "code,name,category,unit\n" + "".join(f"{t}-X{i:05d},x,other,piece\n" for i in range(20001))
    rc, _, err = cli("import", "items", "--no-progress", write(tmp_path, "huge.csv", big), login=LOGI)
    assert rc == 4 and "at most 20000" in err and "reading" not in err


# ---------------------------------------------------------------- prices


def test_prices_applied_all_or_nothing(cli, db, tmp_path):
    item = one(db, "SELECT code FROM items WHERE code = 'RICE-10KG'")
    t = "IMP" + tag()
    db.execute("INSERT INTO items (code, name, category, unit) VALUES (%s, 'Price import item', 'food', 'bag')", (t,))
    bad = (
        "item_code,supplier_site_code,unit_price_yuan,lead_time_days,valid_from,valid_to\n"
        f"{t},SM01,12.5,2,,\n"
        f"{t},SM02,12.505,2,,\n"           # 3: three decimals
        f"{t},SM03,abc,2,,\n"              # 4
        f"{t},SM04,3,400,,\n"              # 5: lead time
        f"{t},SM05,3,1,2025-02-30,\n"      # 6: date
        f"{t},SM06,3,1,2030-05-01,2030-04-01\n"  # 7: before valid_from
        f"{t},SM01,13,1,,\n"               # 8: duplicate of line 2
    )
    rc, _, err = cli("import", "prices", write(tmp_path, "p_bad.csv", bad), login=LOGI)
    assert rc == 4
    lines = sorted(int(l.split()[2].rstrip(":")) for l in err.splitlines() if l.startswith("gridstock: line "))
    assert lines == [3, 4, 5, 6, 7, 8], err
    assert "unit_price_yuan: at most two decimals" in err and "valid_to: before valid_from" in err
    assert one(db, "SELECT count(*) FROM supplier_prices p JOIN items i ON i.id = p.item_id WHERE i.code = %s", t) == 0

    # locally fine, but the server finds an unknown market on line 3: nothing is applied
    text = ("item_code,supplier_site_code,unit_price_fen,lead_time_days\n"
            f"{t},SM01,1250,2\n"
            f"{t},SM77,1300,1\n")
    rc, _, err = cli("import", "prices", write(tmp_path, "p_srv.csv", text), login=LOGI)
    assert rc == 3 and "NOT_FOUND" in err and "line 3: rows[1].supplier_site_code" in err and "SM77" in err
    assert one(db, "SELECT count(*) FROM supplier_prices p JOIN items i ON i.id = p.item_id WHERE i.code = %s", t) == 0

    good = ("item_code,supplier_site_code,unit_price_yuan,lead_time_days,valid_from\n"
            f"{t},SM01,12.50,2,\n"
            f"{t},SM02,11.9,1,\n"
            f"{item},SM06,55,3,\n")
    rc, out, err = cli("--json", "import", "prices", write(tmp_path, "p_ok.csv", good), login=LOGI)
    assert rc == 0, err
    assert json.loads(out)["rows"] == 3
    got = db.execute("""SELECT s.code, p.unit_price_fen, p.lead_time_days FROM supplier_prices_current p
                        JOIN items i ON i.id = p.item_id JOIN sites s ON s.id = p.supplier_site_id
                        WHERE i.code = %s ORDER BY s.code""", (t,)).fetchall()
    assert got == [("SM01", 1250, 2), ("SM02", 1190, 1)]
    # the same file again replaces (same start), creating nothing
    rc, out, err = cli("--json", "import", "prices", write(tmp_path, "p_ok.csv", good), login=LOGI)
    assert rc == 0 and json.loads(out) == {"rows": 3, "created": 0, "updated": 3, "unchanged": 0}


def test_prices_scope_and_role(cli, db, tmp_path):
    t = "IMP" + tag()
    db.execute("INSERT INTO items (code, name, category, unit) VALUES (%s, 'Scoped price item', 'food', 'bag')", (t,))
    street = one(db, """SELECT st.code FROM sites s JOIN org_units c ON c.id = s.org_unit_id
                        JOIN org_units st ON st.id = c.parent_id WHERE s.code = 'SM01'""")
    other = "logi.st02" if street != "ST02" else "logi.st03"
    path = write(tmp_path, "scope.csv", f"item_code,supplier_site_code,unit_price_fen\n{t},SM01,100\n")
    rc, _, err = cli("import", "prices", path, login=other)
    assert rc == 3 and "NOT_FOUND" in err and "line 2: rows[0].supplier_site_code" in err
    rc, _, err = cli("import", "prices", path, login="staff.cm01")
    assert rc == 3 and "PERMISSION_DENIED" in err
    rc, out, err = cli("--json", "import", "prices", path, login="logi." + street.lower())
    assert rc == 0, err


# ---------------------------------------------------------------- counts


def test_counts_import_then_submit(server, cli, db, tmp_path):
    site = "RP05"
    item = "CNT" + tag()
    db.execute("INSERT INTO items (code, name, category, unit) VALUES (%s, 'Count item', 'tools', 'piece')", (item,))
    for lot, qty in (("C-1", 10), ("C-2", 20), ("C/3", 5)):
        server.call_ok("StockService/Receive", st.ReceiveRequest(site_code=site, item_code=item, qty=qty, lot_code=lot),
                       st.ReceiveResponse, login=LOGI)
    take = server.call_ok("StockService/OpenStocktake", st.OpenStocktakeRequest(site_code=site), st.Stocktake, login=LOGI)

    bad = (f"item_code,lot_code,counted\n"
           f"{item},C-1,9\n"
           f"{item},C-2,19.5\n"         # 3
           f"{item},C-1,8\n"            # 4 duplicate
           f"{item},,3\n"               # 5 no lot
           f"{item},C-9,-1\n"           # 6 negative
           f"{item},C 9,1\n")           # 7 bad lot code
    rc, _, err = cli("import", "counts", "--stocktake-id", take.id, write(tmp_path, "c_bad.csv", bad), login=LOGI)
    assert rc == 4
    got = {int(l.split()[2].rstrip(":")): l for l in err.splitlines() if l.startswith("gridstock: line ")}
    assert sorted(got) == [3, 4, 5, 6, 7], err
    assert "counted: not a whole number" in got[3] and "also counted on line 2" in got[4]
    assert "lot_code: required" in got[5] and "counted: must be between 0" in got[6]

    # an unknown lot is found by the server: its line is named, nothing is recorded
    srv = f"item_code,lot_code,counted\n{item},C-1,9\n{item},C-2,20\n{item},C-404,1\n"
    rc, _, err = cli("import", "counts", f"--stocktake-id={take.id}", write(tmp_path, "c_srv.csv", srv), login=LOGI)
    assert rc == 3 and "NOT_FOUND" in err and "line 4: rows[2]" in err and "C-404" in err, err
    assert one(db, "SELECT count(*) FROM stocktake_counts WHERE stocktake_id = %s", take.id) == 0

    good = f"item_code,lot_code,counted\n{item},C-1,9\n{item},C-2,20\n{item},C/3,7\n"
    rc, out, err = cli("--json", "import", "counts", "--stocktake-id", take.id, write(tmp_path, "c_ok.csv", good), login=LOGI)
    assert rc == 0, err
    assert json.loads(out)["rows"] == 3
    # another street's officer cannot count at RP05's stocktake (unless RP05 is theirs)
    _, code, _ = server.call("ImportService/ImportCounts", pb.ImportCountsRequest(
        stocktake_id=take.id, rows=[pb.CountRow(line=2, item_code=item, lot_code="C-1", counted=1)]),
        pb.ImportResponse, login="logi.st06")
    in_st06 = one(db, """SELECT count(*) FROM sites s JOIN org_units c ON c.id = s.org_unit_id
                         JOIN org_units st ON c.path <@ st.path WHERE st.code = 'ST06' AND s.code = %s""", site)
    assert code == (Code.OK if in_st06 else Code.NOT_FOUND)
    done = server.call_ok("StockService/SubmitStocktake", st.SubmitStocktakeRequest(stocktake_id=take.id), st.Stocktake, login=LOGI)
    assert sorted((l.lot_code, l.variance) for l in done.lines) == [("C-1", -1), ("C-2", 0), ("C/3", 2)]
    rc, _, err = cli("import", "counts", "--stocktake-id", take.id, write(tmp_path, "c_ok.csv", good), login=LOGI)
    assert rc == 3 and "FAILED_PRECONDITION" in err and "not open" in err
    v = server.call_ok("StockService/VerifyStock", st.VerifyStockRequest(), st.VerifyStockResponse, login="admin")
    assert v.clean


def test_help_lists_the_imports(cli):
    rc, out, _ = cli("help")
    assert rc == 0 and "gridstock import items" in out and "gridstock import counts --stocktake-id N" in out
    rc, out, _ = cli("import", "prices", "--help")
    assert rc == 0 and "unit_price_yuan" in out
