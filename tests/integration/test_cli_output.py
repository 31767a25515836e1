"""CLI output people read at a glance (issue 20): a few default columns per row type from
one table (client-cli/columns.c; every row type of the API has an entry and every entry
names real fields), `-o wide` for every field, `--columns` to pick, widths in terminal
columns so Chinese lines up, long text cut with an ellipsis on a terminal only (never in
--csv or --json); and `gridstock completion bash` generated from the descriptors."""
import csv
import fcntl
import glob
import importlib
import io
import json
import os
import pty
import re
import select
import struct
import subprocess
import termios
import unicodedata

import pytest

from harness import paths

LONG_ADDR = "四川省达州市达川区三里坪街道一个很长很长的地址用来测试终端截断功能是否正确工作第九十九号"


def width(s):
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 0 if unicodedata.combining(c) else 1 for c in s)


def column_starts(line):
    """Terminal columns where each cell of a table line starts (cells are 2+ spaces apart)."""
    starts, col, i = [], 0, 0
    prev_space = 2
    while i < len(line):
        c = line[i]
        if c != " " and prev_space >= 2:
            starts.append(col)
        prev_space = prev_space + 1 if c == " " else 0
        col += width(c)
        i += 1
    return starts


@pytest.fixture(scope="module")
def chinese_sites(server, db):
    """Two reserve points with Chinese names of different lengths, and one long address."""
    for code, name, addr in (("RPZH1", "大米储备点", "达川区"), ("RPZH2", "应急物资第二储备仓库", LONG_ADDR)):
        db.execute(
            "INSERT INTO sites (code, name, kind, org_unit_id, address, lat, lon)"
            " SELECT %s, %s, 'reserve_point', id, %s, 31.2, 107.5 FROM org_units WHERE code = 'CM03'"
            " ON CONFLICT DO NOTHING", (code, name, addr))
    return ["RPZH1", "RPZH2"]


def rows_of(out):
    return [l for l in out.splitlines() if l.strip()]


# ---------------------------------------------------------------- the one table


def row_types():
    """Every message type the CLI prints as table rows: the one repeated message field of
    a method's response."""
    import sys
    sys.path.insert(0, paths.GEN_PY)
    types = {}
    for f in glob.glob(os.path.join(paths.GEN_PY, "gridstock", "v1", "*_pb2.py")):
        m = importlib.import_module("gridstock.v1." + os.path.basename(f)[:-3])
        for s in m.DESCRIPTOR.services_by_name.values():
            for meth in s.methods:
                reps = [x for x in meth.output_type.fields
                        if x.label == x.LABEL_REPEATED and x.type == x.TYPE_MESSAGE]
                if len(reps) == 1:
                    types[reps[0].message_type.full_name] = reps[0].message_type
    return types


def default_table():
    src = open(os.path.join(paths.SOURCE_DIR, "client-cli", "columns.c"), encoding="utf-8").read()
    body = src[src.index("static const type_columns table[] = {"):]
    body = body[:body.index("\n};")]
    out = {}
    for m in re.finditer(r'\{P "(\w+)", \{(.*?)\}\},(?:\n|$)', body, re.S):
        out["gridstock.v1." + m.group(1)] = re.findall(r'\{"([\w.]+)", N_\("([^"]+)"\)\}', m.group(2))
    return out


def test_every_row_type_has_default_columns_that_exist():
    types, table = row_types(), default_table()
    assert len(types) > 40
    assert sorted(set(types) - set(table)) == [], "row types without default columns in columns.c"
    assert sorted(set(table) - set(types)) == [], "entries for types that are no row type"
    for name, cols in table.items():
        assert 1 <= len(cols) <= 10, name
        for path, header in cols:
            d = types[name]
            for part in path.split("."):
                f = d.fields_by_name.get(part)
                assert f is not None, "%s: no field %s" % (name, path)
                d = f.message_type
            assert d is None, "%s: %s is a message, not a value" % (name, path)
        # at a glance: no timestamps, and ids only where a row has no code to name it by
        paths_ = [p for p, _ in cols]
        assert not [p for p in paths_ if p.endswith("_at")] or name.endswith(("Movement", "Transition")), name
        assert not [p for p in paths_ if p.endswith("_id")], name


def test_default_wide_and_picked_columns(cli, chinese_sites):
    rc, out, err = cli("site", "list", "--page-size", "500", login="admin")
    assert rc == 0, err
    header = rows_of(out)[0].split()
    assert header == ["CODE", "NAME", "KIND", "ORG", "UNIT", "ADDRESS", "PHONE", "ACTIVE"], header
    assert all(len(l) < 250 for l in rows_of(out))
    rc, wide, err = cli("site", "list", "--page-size", "500", "-o", "wide", login="admin")
    assert rc == 0, err
    wh = rows_of(wide)[0].split()
    assert wh[:4] == ["id", "code", "name", "kind"] and "created_at" in wh and "lat" in wh
    rc, picked, err = cli("site", "list", "--page-size", "500", "--columns", "code,org_unit_code,lat", login="admin")
    assert rc == 0, err
    lines = rows_of(picked)
    assert lines[0].split() == ["code", "org_unit_code", "lat"]
    assert any(l.split()[:2] == ["RPZH2", "CM03"] for l in lines[1:])
    # nested fields, on a response whose rows hold a message (site nearest)
    rc, near, err = cli("site", "nearest", "--lat", "31.2", "--lon", "107.5", "--limit", "3", login="admin")
    assert rc == 0, err
    nh = rows_of(near)[0]
    assert nh.split()[:3] == ["CODE", "NAME", "KIND"] and "DISTANCE" in nh and "site." not in nh
    assert max(width(l) for l in rows_of(near)) < 200  # was ~400 columns with every field
    rc, near, err = cli("site", "nearest", "--lat", "31.2", "--lon", "107.5", "--limit", "3",
                        "--columns", "site.code,distance_m", login="admin")
    assert rc == 0 and rows_of(near)[0].split() == ["site.code", "distance_m"], err
    # an unknown column is a usage error naming what exists, before any call is made
    rc, out, err = cli("--addr", "127.0.0.1:1", "site", "list", "--columns", "code,colour")
    assert rc == 1 and "colour" in err and "org_unit_code" in err
    rc, out, err = cli("site", "list", "-o", "tall", login="admin")
    assert rc == 1 and "tall" in err
    # key: value output keeps the fields --columns names
    rc, out, err = cli("user", "who-am-i", "--columns", "user.login,role", login="logi.district")
    assert rc == 0 and out.splitlines() == ["user.login: logi.district", "role: logistics_officer"], out


def test_chinese_lines_up(cli, chinese_sites):
    for args in (("site", "list", "--page-size", "500", "--columns", "name,code,kind"),
                 ("--lang", "zh_CN", "site", "list", "--page-size", "500", "--columns", "name,code,kind")):
        rc, out, err = cli(*args, login="admin")
        assert rc == 0, err
        lines = [l for l in rows_of(out) if "储备" in l or l.startswith("name")]
        assert len(lines) == 3, out
        starts = {tuple(column_starts(l)[1:]) for l in lines}
        assert len(starts) == 1, "columns after a Chinese name do not line up:\n" + "\n".join(lines)
    # Chinese headers are wide characters too
    rc, out, err = cli("--lang", "zh_CN", "site", "list", "--page-size", "500", login="admin")
    lines = [l for l in rows_of(out) if l.startswith("编码") or l.startswith("RPZH")]
    starts = {tuple(column_starts(l)[:3]) for l in lines}
    assert len(lines) == 3 and len(starts) == 1, "\n".join(lines)


def run_on_terminal(args, cols, env=None):
    """Runs the CLI with stdout on a pseudo-terminal `cols` wide; returns (rc, text)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, cols, 0, 0))
    e = paths.sanitizer_env()
    for k in ("COLUMNS", "LANG", "LC_ALL", "LANGUAGE", "LC_MESSAGES"):
        e.pop(k, None)
    e.update(env or {})
    p = subprocess.Popen([paths.GRIDSTOCK_CLI] + list(args), stdout=slave, stderr=subprocess.PIPE, env=e)
    os.close(slave)
    chunks = []
    while True:
        r, _, _ = select.select([master], [], [], 30)
        if not r:
            break
        try:
            b = os.read(master, 65536)
        except OSError:
            break
        if not b:
            break
        chunks.append(b)
    rc = p.wait(timeout=30)
    os.close(master)
    return rc, b"".join(chunks).decode("utf-8").replace("\r\n", "\n"), p.stderr.read().decode()


def test_long_text_is_cut_on_a_terminal_only(cli, server, chinese_sites):
    args = ["--addr", server.addr, "--token", server.token("admin"), "site", "list", "--page-size", "500"]
    rc, out, err = run_on_terminal(args, 100)
    assert rc == 0, err
    lines = rows_of(out)
    assert lines and max(width(l) for l in lines) <= 100, "\n".join(l for l in lines if width(l) > 100)
    long_line = [l for l in lines if l.startswith("RPZH2")][0]
    assert "…" in long_line and LONG_ADDR not in out
    assert "应急物资" in long_line  # cut, not dropped
    # COLUMNS narrows it further; -o wide is never cut
    rc, out, err = run_on_terminal(args, 100, env={"COLUMNS": "70"})
    assert rc == 0 and max(width(l) for l in rows_of(out)) <= 70
    rc, out, err = run_on_terminal(args + ["-o", "wide"], 100)
    assert rc == 0 and LONG_ADDR in out
    # not a terminal: nothing is cut, in no format
    rc, out, err = cli("site", "list", "--page-size", "500", login="admin", env={"COLUMNS": "40"})
    assert rc == 0 and LONG_ADDR in out and "…" not in out
    rc, out, err = run_on_terminal(args + ["--csv"], 60)
    rows = list(csv.reader(io.StringIO(out)))
    assert LONG_ADDR in [r[rows[0].index("address")] for r in rows[1:]]
    rc, out, err = run_on_terminal(args + ["--json"], 60)
    assert LONG_ADDR in [s["address"] for s in json.loads(out)["sites"]]


def test_bash_completion_from_the_descriptors(cli, server):
    rc, script, err = cli("completion", "bash")
    assert rc == 0 and "complete -F _gridstock gridstock" in script, err
    rc, _, err = cli("completion", "zsh")
    assert rc == 1 and "completion bash" in err
    p = subprocess.run(["bash", "-n"], input=script, text=True, capture_output=True)
    assert p.returncode == 0, p.stderr

    def complete(line):
        words = line.split(" ")
        prog = script + """
COMP_WORDS=(%s)
COMP_CWORD=%d
_gridstock
printf '%%s\\n' "${COMPREPLY[@]}"
""" % (" ".join("'%s'" % w for w in words), len(words) - 1)
        r = subprocess.run(["bash", "-c", prog], text=True, capture_output=True)
        assert r.returncode == 0, r.stderr
        return set(r.stdout.split())

    services = complete("gridstock ")
    assert {"site", "stock", "requisition", "fund", "disbursement", "user", "help", "completion"} <= services
    assert complete("gridstock req") == {"requisition"}
    assert "confirm-receipt" in complete("gridstock requisition ")
    assert complete("gridstock requisition conf") == {"confirm-emergency-mode", "confirm-receipt"}
    assert {"--id", "--number", "--comment", "--data", "--json", "--lang"} <= complete("gridstock requisition approve --")
    assert {"--active", "--no-active"} <= complete("gridstock site update --")
    # global options before the service, and values of global options are skipped
    assert complete("gridstock --addr h:1 -o wide site l") == {"list"}
    assert complete("gridstock -o ") == {"table", "wide", "json", "csv"}
    assert complete("gridstock --lang ") == {"zh_CN", "en"}
    assert {"--addr", "--columns", "--output"} <= complete("gridstock --")
    # every method of every service is offered (the script comes from the descriptors)
    rc, helptext, _ = cli("help")
    for svc in re.findall(r"^  ([a-z-]+)\s+gridstock\.v1\.", helptext, re.M):
        rc, methods, _ = cli(svc)
        names = set(re.findall(r"^  ([a-z0-9-]+)", methods, re.M))
        assert names and names <= complete("gridstock %s " % svc), svc
    # `import` is both the CSV importer and ImportService
    assert {"items", "prices", "counts", "import-items"} <= complete("gridstock import ")
    assert "--stocktake-id" in complete("gridstock import counts --")
