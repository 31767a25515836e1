"""pytest fixtures for gridstock's integration tests (see the test harness contract):
`pg` — one private PostgreSQL cluster per session; `gs_env` — per module a fresh database
(migrated, demo data loaded) and a keyring; `server` — a gridstockd on a free port;
`db` — a psycopg connection to the module's database (time zone Asia/Shanghai, like the
server's sessions; the cluster's own default is UTC); `cli` — runs the gridstock CLI.

Calls: server.call(path, request, ResponseCls, login="admin") → (resp, code, details).
`path` may be short ("SiteService/ListSites"). request_id=None sends a fresh
x-request-id, request_id="" sends none, any other string is sent as it is."""
import os
import re
import shutil
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import paths  # noqa: E402
from harness import pg as pgmod  # noqa: E402
from harness import server as srvmod  # noqa: E402


def _require_build():
    if not os.path.exists(paths.GRIDSTOCKD):
        raise RuntimeError(
            "gridstockd not found at %s: build first, or set GS_BUILD_DIR" % paths.GRIDSTOCKD
        )


@pytest.fixture(scope="session")
def pg(request):
    """The session's PostgreSQL cluster."""
    cluster = pgmod.Cluster()
    cluster.start()
    yield cluster
    keep_all = os.environ.get("GS_KEEP_TMP")
    if keep_all:
        cluster.stop("immediate")
        sys.stderr.write("\n[harness] kept %s (GS_KEEP_TMP)\n" % cluster.dir)
    elif request.session.testsfailed:
        cluster.destroy(keep_logs=True)
        sys.stderr.write("\n[harness] logs of postgres and gridstockd kept in %s\n" % cluster.dir)
    else:
        cluster.destroy()


def _module_dbname(module_name):
    base = module_name.rsplit(".", 1)[-1]
    return "gs_" + re.sub(r"[^a-z0-9_]", "_", base.lower())[:50]


@pytest.fixture(scope="module")
def gs_env(pg, request):
    """The module's database (migrations + demo data), keyring and log directory."""
    _require_build()
    name = _module_dbname(request.module.__name__)
    workdir = os.path.join(pg.dir, name)
    os.makedirs(workdir, exist_ok=True)
    keyring = os.path.join(workdir, "keyring")
    pgmod.make_keyring(keyring)
    pgmod.make_keyring(os.path.join(workdir, "audit-keyring"), kid="a1")
    pgmod.make_keyring(os.path.join(workdir, "household-keyring"), kid="h1")
    conninfo = pgmod.prepare_database(pg, name)
    return srvmod.ModuleEnv(pg, name, conninfo, keyring, workdir)


def check_clean_exit(server, code):
    """Exit code 0, no sanitizer report in the log, and no read of a result column that
    its query does not select (db_result.c logs event=db_column_missing: a bug in a column list)."""
    report = server.sanitizer_report()
    assert report is None, "%s: sanitizer report: %s\n%s" % (server.name, report, server.log()[-8000:])
    missing = [l for l in server.log().splitlines() if "event=db_column_missing" in l]
    assert not missing, "%s: a column read that its query does not select: %s" % (server.name, missing[0])
    assert code == 0, "%s exited with %r\n%s" % (server.name, code, server.log()[-4000:])


@pytest.fixture(scope="module")
def server(gs_env, request):
    """A gridstockd serving the module's database; stopped with SIGTERM after the module,
    which must end with exit code 0 and a log free of sanitizer reports."""
    s = srvmod.Server(gs_env).start()
    yield s
    code = s.stop()
    if request.session.shouldstop or request.session.shouldfail:
        # -x stopped the session: pytest would turn a raise here into an internal error
        try:
            check_clean_exit(s, code)
        except AssertionError as e:
            sys.stderr.write("\n[harness] %s\n" % e)
        return
    check_clean_exit(s, code)


@pytest.fixture(scope="module")
def db(gs_env):
    """psycopg (v3) connection, autocommit, to the module's database."""
    import psycopg

    conn = psycopg.connect(gs_env.conninfo, autocommit=True)
    # the district's clock, as gridstockd's sessions have it (its `timezone` default)
    conn.execute("SET TIME ZONE 'Asia/Shanghai'")
    yield conn
    conn.close()


@pytest.fixture
def cli(server):
    """cli(*args, token=None, login=None, input=None) → (returncode, stdout, stderr)."""
    if not os.path.exists(paths.GRIDSTOCK_CLI):
        pytest.skip("gridstock CLI not built")

    def run(*args, token=None, login=None, input=None, timeout=60, env=None):
        if login is not None:
            token = server.token(login)
        argv = [paths.GRIDSTOCK_CLI, "--addr", server.addr]
        if token is not None:
            argv += ["--token", token]
        argv += [str(a) for a in args]
        e = paths.sanitizer_env()
        # English unless a test asks for a language (env=)
        for k in ("GRIDSTOCK_ADDR", "GRIDSTOCK_TOKEN", "GRIDSTOCK_CA", "LANGUAGE", "LC_ALL",
                  "LC_MESSAGES", "LANG", "COLUMNS"):
            e.pop(k, None)
        if env:
            e.update(env)
        p = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout, env=e)
        return p.returncode, p.stdout, p.stderr

    return run


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On failure, attach the tail of every live server's log to the report."""
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for s in list(srvmod.LIVE):
            tail = "\n".join(s.log().splitlines()[-60:])
            rep.sections.append(("%s log (%s)" % (s.name, s.logfile), tail))


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    # Servers a failing test left behind: do not leave processes running.
    for s in list(srvmod.LIVE):
        try:
            s.stop("KILL", timeout=10)
        except Exception:
            pass
    shutil.rmtree(os.path.join(os.path.dirname(__file__), "__pycache__"), ignore_errors=True)
