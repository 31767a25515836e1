"""sql/roles.sql: the server runs under a dedicated role that may read and write rows but
run no DDL, and may not UPDATE, DELETE or TRUNCATE the append-only ledgers and audit log."""
import os
import uuid

import grpc
import psycopg
import pytest
from psycopg import errors

from gridstock.v1 import sites_pb2, users_pb2
from harness import paths

Code = grpc.StatusCode
ROLE = "gs_app_test"
ROLES_SQL = os.path.join(paths.SOURCE_DIR, "sql", "roles.sql")
NO_INSERT = {"audit_seal", "fund_programme_runs", "fund_programme_run_items", "fund_postings", "fund_entries"}


def apply_roles(pg, dbname, role=ROLE):
    return paths.run(
        [paths.pg_tool("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-v", "app_role=" + role,
         "-v", "app_password=app-pw", "-h", pg.host, "-p", str(pg.port), "-U", "postgres",
         "-d", dbname, "-f", ROLES_SQL]
    )


@pytest.fixture(scope="module")
def app(gs_env, pg):
    apply_roles(pg, gs_env.dbname)
    apply_roles(pg, gs_env.dbname)  # idempotent
    return "host=%s port=%d dbname=%s user=%s" % (pg.host, pg.port, gs_env.dbname, ROLE)


@pytest.fixture(scope="module")
def appsrv(gs_env, app):
    from harness import server as srvmod

    s = srvmod.Server(gs_env, db=app, migrate=False).start()
    yield s
    assert s.stop() == 0, s.log()[-3000:]


@pytest.fixture
def appdb(app):
    conn = psycopg.connect(app, autocommit=True)
    yield conn
    conn.close()


def append_only_tables(db):
    return [r[0] for r in db.execute(
        "SELECT DISTINCT t.tgrelid::regclass::text FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid"
        " WHERE p.proname = 'gs_append_only' AND t.tgtype & 16 <> 0").fetchall()]


def test_server_runs_under_the_role(appsrv, db):
    who = appsrv.call_ok("UserService/WhoAmI", users_pb2.WhoAmIRequest(), users_pb2.WhoAmIResponse, login="admin")
    assert who is not None
    code = "R" + uuid.uuid4().hex[:8].upper()
    req = sites_pb2.CreateSiteRequest(code=code, name="Role point", kind="reserve_point",
                                      org_unit_code="CM01", address="1 Test Road", lat=31.2,
                                      lon=107.4, capacity_m3=5)
    before = db.execute("SELECT count(*) FROM audit_log").fetchone()[0]
    site = appsrv.call_ok("SiteService/CreateSite", req, sites_pb2.Site, login="admin")
    assert site.code == code
    # the call's audit row was written by the role
    assert db.execute("SELECT count(*) FROM audit_log").fetchone()[0] == before + 1
    users = db.execute(
        "SELECT DISTINCT usename FROM pg_stat_activity WHERE datname = current_database()"
        " AND application_name = 'gridstockd'").fetchall()
    assert (ROLE,) in users, users


def test_update_and_delete_on_audit_log_are_refused(appdb):
    for sql in ("UPDATE audit_log SET summary = 'x'", "DELETE FROM audit_log", "TRUNCATE audit_log"):
        with pytest.raises(errors.InsufficientPrivilege) as e:
            appdb.execute(sql)
        # refused by privilege, before the trigger would have had to
        assert "permission denied for table audit_log" in str(e.value), str(e.value)


def test_every_append_only_table_refuses_update(appdb, db):
    tables = append_only_tables(db)
    assert "audit_log" in tables
    for t in tables:
        priv = appdb.execute("SELECT has_table_privilege(%s, 'UPDATE'), has_table_privilege(%s, 'DELETE'),"
                             " has_table_privilege(%s, 'INSERT')", (t, t, t)).fetchone()
        # seals are appended only through audit_seal_append() (migration 040), and the fund
        # ledger only through its functions (095): no INSERT either
        assert priv == (False, False, t not in NO_INSERT), (t, priv)


def test_the_role_seals_through_the_sealers_door(app, appsrv, db):
    """gridstockd running as the role seals the audit log (audit_seal_append, SECURITY DEFINER)."""
    import subprocess

    appsrv.call_ok("UserService/WhoAmI", users_pb2.WhoAmIRequest(), users_pb2.WhoAmIResponse, login="admin")
    p = subprocess.run([paths.GRIDSTOCKD, "audit", "seal", "--db", app, "--audit-keys", appsrv.env.audit_keyring],
                       capture_output=True, text=True, env=paths.sanitizer_env())
    assert p.returncode == 0, p.stdout + p.stderr
    assert db.execute("SELECT count(*) FROM audit_log l WHERE NOT EXISTS"
                      " (SELECT FROM audit_seal s WHERE s.audit_id = l.id)").fetchone()[0] == 0
    p = subprocess.run([paths.GRIDSTOCKD, "audit", "verify", "--db", app, "--audit-keys", appsrv.env.audit_keyring],
                       capture_output=True, text=True, env=paths.sanitizer_env())
    assert p.returncode == 0 and p.stdout.startswith("ok: "), p.stdout + p.stderr


def test_no_ddl(appdb):
    for sql in ("CREATE TABLE intruder (x int)", "DROP TABLE audit_log", "ALTER TABLE users ADD COLUMN x int",
                "CREATE INDEX ON users (login)", "ALTER TABLE audit_log DISABLE TRIGGER ALL",
                "CREATE SCHEMA sneaky", "INSERT INTO schema_migrations (version, name) VALUES (999, 'x')"):
        with pytest.raises(errors.InsufficientPrivilege):
            appdb.execute(sql)


def test_check_passes_under_the_role(gs_env, app):
    p = paths.run([paths.GRIDSTOCKD, "check", "--db", app, "--token-keys", gs_env.keyring],
                  check=False, env=paths.sanitizer_env())
    assert p.returncode == 0, p.stdout + p.stderr
