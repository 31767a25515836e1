"""Operational log events in --log-format json: every line one JSON object; start-up
(migrations, listening), database loss and reconnect, keyring reload, shutdown; and no
token, keyring secret or database password ever appears in a log."""
import json
import os
import signal
import time

import grpc

import opslib
from gridstock.v1 import users_pb2
from harness import paths, server as srvmod

Code = grpc.StatusCode


class JsonServer(srvmod.Server):
    """The harness waits for a kv `event=listening` line; this one reads JSON lines."""

    def _wait_listening(self, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for line in self.log().splitlines():
                if line.startswith("{"):
                    obj = json.loads(line)
                    if obj.get("event") == "listening":
                        return "event=listening port=%s" % obj["port"]
            if self.proc.poll() is not None:
                return None
            time.sleep(0.05)
        self.proc.kill()
        self.proc.wait()
        raise RuntimeError("%s: no listening event:\n%s" % (self.name, self.log()[-3000:]))


def events(server):
    out = []
    for line in server.log().splitlines():
        if not line.strip():
            continue
        obj = json.loads(line)  # every line is JSON
        assert {"ts", "level", "event"} <= set(obj), line
        out.append(obj)
    return out


def names(server):
    return [e["event"] for e in events(server)]


def test_json_lifecycle_and_no_secrets(gs_env, pg):
    # a fresh database: the server applies every migration at start and logs each one
    dbname = gs_env.dbname + "_fresh"
    pg.createdb(dbname)
    conninfo = pg.conninfo(dbname) + " password=pw-must-not-leak-417"
    s = JsonServer(gs_env, db=conninfo, log_format="json", metrics_listen="127.0.0.1:0")
    s.start()
    try:
        ev = names(s)
        assert "migration_applied" in ev and "migrated" in ev and "listening" in ev, ev
        assert ev.index("migrated") < ev.index("listening")
        assert "metrics_listening" in ev
        # demo users are needed for a token: load them now the schema exists
        for f in sorted(os.listdir(os.path.join(paths.SOURCE_DIR, "sql", "demo"))):
            pg.psql_file(dbname, os.path.join(paths.SOURCE_DIR, "sql", "demo", f))
        token = s.token("admin")
        s.call_ok("UserService/WhoAmI", users_pb2.WhoAmIRequest(), users_pb2.WhoAmIResponse, token=token)
        # a tampered token is refused; the log says why without echoing it
        bad = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
        _, code, _ = s.call("UserService/WhoAmI", users_pb2.WhoAmIRequest(), None, token=bad)
        assert code == Code.UNAUTHENTICATED
        calls = [e for e in events(s) if e["event"] == "call"]
        assert calls and all(set(("method", "status", "ms", "request_id")) <= set(c) for c in calls)

        # database loss and reconnect
        pg.restart()
        opslib.wait_for(lambda: s.call("UserService/WhoAmI", users_pb2.WhoAmIRequest(), None,
                                       token=token)[1] == Code.OK, timeout=30, what="reconnect")
        opslib.wait_for(lambda: "db_reconnected" in names(s) and "db_up" in names(s),
                        what="db_reconnected and db_up events")

        # keyring reload on SIGHUP
        s.signal(signal.SIGHUP)
        opslib.wait_for(lambda: "keyring_reloaded" in names(s), what="keyring_reloaded")
    finally:
        code = s.stop()
    assert code == 0
    ev = names(s)
    # periodic jobs may still log while the server drains; "stopped" is the last word
    assert ev[-1] == "stopped" and "stopping" in ev, ev[-5:]
    assert ev.index("stopping") > ev.index("keyring_reloaded")

    log = s.log()
    secrets = [token, token.split(".")[2], bad, "pw-must-not-leak-417"]
    secrets += [secret for _, secret in _keyring(gs_env.keyring)]
    for secret in secrets:
        assert secret not in log, "a secret appears in the log"


def test_kv_startup_failure_is_one_clear_line(gs_env):
    """A start that cannot reach the database says so, with the conninfo's password withheld."""
    p = paths.run(
        [paths.GRIDSTOCKD, "--db", "host=127.0.0.1 port=1 dbname=x password=pw-must-not-leak-9",
         "--token-keys", gs_env.keyring, "--listen", "127.0.0.1:0"],
        check=False, timeout=60, env=paths.sanitizer_env(),
    )
    assert p.returncode != 0
    assert "pw-must-not-leak-9" not in p.stdout + p.stderr
    assert "migrate" in p.stderr


def _keyring(path):
    out = []
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                out.append(tuple(line.split()))
    return out
