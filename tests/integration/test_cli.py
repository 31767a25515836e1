"""The gridstock CLI against a real server: commands come from the descriptors, output
formats, exit codes, request ids and retries."""
import csv
import io
import json


def test_whoami_table_and_json(cli):
    rc, out, err = cli("user", "who-am-i", login="logi.district")
    assert rc == 0, err
    assert "logi.district" in out and "logistics_officer" in out
    rc, out, err = cli("--json", "user", "who-am-i", login="logi.district")
    assert rc == 0, err
    body = json.loads(out)
    assert body["role"] == "logistics_officer"


def test_list_csv_has_header_and_rows(cli):
    rc, out, err = cli("--csv", "org-unit", "list", "--kind", "community", "--page-size", "50",
                       login="admin")
    assert rc == 0, err
    rows = list(csv.reader(io.StringIO(out)))
    header = rows[0]
    assert "code" in header
    codes = {r[header.index("code")] for r in rows[1:]}
    assert len(codes) == 28 and "CM01" in codes


def test_create_with_request_id_is_idempotent(cli, db):
    args = ("site", "create", "--code", "RPCLI1", "--name", "CLI reserve point", "--kind",
            "reserve_point", "--org-unit-code", "CM02", "--lat", "31.21", "--lon", "107.47",
            "--request-id", "cli-create-1")
    rc1, out1, err1 = cli(*args, login="admin")
    assert rc1 == 0, err1
    rc2, out2, err2 = cli(*args, login="admin")
    assert rc2 == 0, err2
    assert out1 == out2
    with db.cursor() as cur:
        cur.execute("SELECT count(*) FROM sites WHERE code = 'RPCLI1'")
        assert cur.fetchone()[0] == 1
        cur.execute("SELECT count(*) FROM audit_log WHERE request_id = 'cli-create-1'")
        assert cur.fetchone()[0] == 1


def test_server_error_exit_code_and_message(cli):
    rc, out, err = cli("site", "get", "--id", "999999", login="admin")
    assert rc == 3
    assert "NOT_FOUND" in err and "999999" in err
    assert out == ""


def test_no_token_is_unauthenticated(cli):
    rc, out, err = cli("site", "list")
    assert rc == 3 and "UNAUTHENTICATED" in err


def test_bad_flag_is_usage_error(cli):
    rc, out, err = cli("site", "list", "--no-such-field", "1", login="admin")
    assert rc == 1 and "no-such-field" in err
    rc, out, err = cli("nosuchservice", "list", login="admin")
    assert rc == 1


def test_validation_error_names_field(cli):
    rc, out, err = cli("site", "create", "--code", "bad code", "--name", "x", "--kind",
                       "reserve_point", "--org-unit-code", "CM02", "--lat", "1", "--lon", "1",
                       login="admin")
    assert rc == 3 and "INVALID_ARGUMENT" in err and "code" in err


def test_unreachable_server_exit_code(cli):
    rc, out, err = cli("--addr", "127.0.0.1:1", "user", "who-am-i", login="admin")
    assert rc == 2


def test_help_lists_every_service(cli):
    rc, out, err = cli("help")
    assert rc == 0
    for svc in ("site", "catalog", "org-unit", "compound", "user"):
        assert svc in out
