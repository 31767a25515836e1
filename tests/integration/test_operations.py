"""The day-two procedures of docs/operations.md, tried for real: backup and restore with
pg_dump/pg_restore (then the server answers on the restored copy and the ledgers verify
clean), a rolling upgrade (a new migration applied by a second server while the first
keeps serving, no failed call), rotating the token signing key without logging anyone
out early (keyring reload on SIGHUP), rotating TLS certificates (restart), and revoking a
user's tokens."""
import os
import shutil
import signal
import subprocess
import threading
import time
import uuid

import grpc
import pytest

import opslib
from gridstock.v1 import sites_pb2, users_pb2
from harness import paths, pg as pgmod, server as srvmod, tokens

Code = grpc.StatusCode
WHOAMI = "UserService/WhoAmI"


def whoami(server, token):
    return server.call(WHOAMI, users_pb2.WhoAmIRequest(), users_pb2.WhoAmIResponse, token=token)


def new_site_request(prefix="OP"):
    code = prefix + uuid.uuid4().hex[:8].upper()
    return sites_pb2.CreateSiteRequest(code=code, name="Ops point " + code, kind="reserve_point",
                                       org_unit_code="CM01", address="1 Test Road", lat=31.2,
                                       lon=107.4, capacity_m3=5)


def implemented(server, path, request, response_cls, login="admin"):
    """(response, code) or None when the server has no such method yet."""
    resp, code, details = server.call(path, request, response_cls, login=login)
    if code == Code.UNIMPLEMENTED:
        return None
    return resp, code, details


# ---------------------------------------------------------------- backup and restore

def test_backup_and_restore(server, pg, gs_env, tmp_path):
    # some stock movements first, when the server has a stock service
    try:
        from gridstock.v1 import stock_pb2
    except ImportError:
        stock_pb2 = None
    if stock_pb2 is not None:
        for i in range(3):
            r = implemented(server, "StockService/Receive",
                            stock_pb2.ReceiveRequest(site_code="RP01", item_code="WATER-5L", qty=10 + i,
                                                     lot_code="BK%d" % i, expires_on="2030-01-01"),
                            stock_pb2.ReceiveResponse, login="logi.district")
            if r is None:
                break
            assert r[1] == Code.OK, r[2]
    site = server.call_ok("SiteService/CreateSite", new_site_request("BK"), sites_pb2.Site, login="admin")

    dump = tmp_path / "gridstock.dump"
    conn = ["-h", pg.host, "-p", str(pg.port), "-U", "postgres"]
    paths.run([os.path.join(paths.SOURCE_DIR, "scripts", "backup"), str(dump)] + conn + ["-d", gs_env.dbname],
              timeout=300)
    restored = gs_env.dbname + "_restored"
    out = paths.run([os.path.join(paths.SOURCE_DIR, "scripts", "restore"), str(dump), restored] + conn,
                    timeout=300).stdout
    assert "schema version" in out

    s = server.start_server(db=pg.conninfo(restored), migrate=False)
    try:
        got = s.call_ok("SiteService/GetSite", sites_pb2.GetSiteRequest(code=site.code), sites_pb2.Site,
                        login="admin")
        assert got.id == site.id
        # the same tokens work: users and keys came along
        _, code, details = whoami(s, server.token("admin"))
        assert code == Code.OK, details
        if stock_pb2 is not None:
            r = implemented(s, "StockService/VerifyStock", stock_pb2.VerifyStockRequest(org_unit_code="DC"),
                            stock_pb2.VerifyStockResponse)
            if r is not None:
                assert r[1] == Code.OK, r[2]
                assert r[0].clean, r[0]
        try:
            from gridstock.v1 import funds_pb2
        except ImportError:
            funds_pb2 = None
        if funds_pb2 is not None:
            r = implemented(s, "FundService/VerifyLedger", funds_pb2.VerifyLedgerRequest(),
                            funds_pb2.VerifyLedgerResponse, login="auditor")
            if r is not None:
                assert r[1] == Code.OK, r[2]
                assert r[0].ok, list(r[0].problems)
    finally:
        assert s.stop() == 0
    # the restored copy is at the same schema version
    same = pg.psql(restored, "SELECT max(version) FROM schema_migrations").strip()
    assert same == pg.psql(gs_env.dbname, "SELECT max(version) FROM schema_migrations").strip()


# ---------------------------------------------------------------- rolling upgrade

UPGRADE_MIGRATION = """-- an additive migration, as an upgrade would bring: old servers ignore it
CREATE TABLE upgrade_probe (id bigserial PRIMARY KEY, note text NOT NULL DEFAULT '');
ALTER TABLE sites ADD COLUMN IF NOT EXISTS upgrade_note text;
"""


def test_rolling_upgrade_two_servers(gs_env, pg, tmp_path):
    name = gs_env.dbname + "_upgrade"
    conninfo = pgmod.prepare_database(pg, name)
    old = srvmod.Server(gs_env, db=conninfo, migrate=False).start()
    token = old.env.token("admin", conninfo=conninfo)
    # the "new release": the same migrations plus one
    newsql = tmp_path / "migrations"
    shutil.copytree(os.path.join(paths.SOURCE_DIR, "sql", "migrations"), newsql)
    latest = max(int(f[:3]) for f in os.listdir(newsql) if f[:3].isdigit())
    (newsql / ("%03d_upgrade_probe.sql" % (latest + 1))).write_text(UPGRADE_MIGRATION)

    stop = threading.Event()
    results = []  # (server name, code)
    servers = [old]
    lock = threading.Lock()

    def load():
        i = 0
        while not stop.is_set():
            req, rid = new_site_request("UP"), uuid.uuid4().hex
            # like any client: UNAVAILABLE / CANCELLED (a server going away between our pick
            # and the call) are retried, on the next server, with the same request id
            for attempt in range(20):
                with lock:
                    targets = [s for s in servers if s.running()]
                s = targets[i % len(targets)]
                i += 1
                _, code, details = s.call("SiteService/CreateSite", req, sites_pb2.Site, token=token,
                                          request_id=rid, timeout=10)
                if code not in (Code.UNAVAILABLE, Code.CANCELLED):
                    break
                time.sleep(0.02)
            results.append((s.name, code, details))
            time.sleep(0.01)

    t = threading.Thread(target=load)
    t.start()
    try:
        time.sleep(0.5)
        # 1. migrations first, by the new release, while the old server keeps serving
        new = srvmod.Server(gs_env, db=conninfo, sql_dir=str(newsql)).start()
        assert "event=migration_applied" in new.log()
        with lock:
            servers.append(new)
        time.sleep(0.5)
        # 2. the old server drains and leaves (SIGTERM): calls in flight finish
        with lock:
            servers.remove(old)
        assert old.stop() == 0
        time.sleep(0.5)
    finally:
        stop.set()
        t.join()
    try:
        failed = [r for r in results if r[1] != Code.OK]
        assert not failed, failed[:5]
        assert len(results) > 20
        assert {r[0] for r in results} == {old.name, new.name}
        assert pg.psql(name, "SELECT max(version) FROM schema_migrations").strip() == str(latest + 1)
        # every acknowledged write is there
        assert int(pg.psql(name, "SELECT count(*) FROM sites WHERE code LIKE 'UP%'")) == len(results)
    finally:
        assert new.stop() == 0


# ---------------------------------------------------------------- signing key rotation

def test_rotate_signing_key_without_logging_anyone_out(gs_env, tmp_path):
    ring = tmp_path / "keyring"
    k1 = pgmod.make_keyring(str(ring), kid="k1")
    k2 = paths.run([paths.GRIDSTOCKD, "token", "keygen", "--kid", "k2"]).stdout.strip()
    s = srvmod.Server(gs_env, token_keys=str(ring)).start()
    try:
        def write(*lines):
            ring.write_text("".join(l + "\n" for l in lines))
            os.chmod(ring, 0o600)

        def reload():
            n = s.log().count("event=keyring_reloaded")
            s.signal(signal.SIGHUP)
            opslib.wait_for(lambda: s.log().count("event=keyring_reloaded") > n, what="keyring_reloaded")

        t1 = s.token("admin", fresh=True)
        assert tokens.decode(t1)[0]["kid"] == "k1"
        # 1. every server learns the new key (k1 still signs)
        write(k1, k2)
        reload()
        assert whoami(s, t1)[1] == Code.OK
        # 2. the new key signs; tokens signed by the old one still work
        write(k2, k1)
        reload()
        t2 = s.token("admin", fresh=True)
        assert tokens.decode(t2)[0]["kid"] == "k2"
        assert whoami(s, t1)[1] == Code.OK
        assert whoami(s, t2)[1] == Code.OK
        # 3. after the longest token lifetime, the old key goes
        write(k2)
        reload()
        assert whoami(s, t2)[1] == Code.OK
        _, code, details = whoami(s, t1)
        assert code == Code.UNAUTHENTICATED and "key" in details, details
        # a broken keyring file is refused and the running keys stay
        ring.write_text("garbage\n")
        s.signal(signal.SIGHUP)
        opslib.wait_for(lambda: "event=keyring_reload_failed" in s.log(), what="keyring_reload_failed")
        assert whoami(s, t2)[1] == Code.OK
    finally:
        assert s.stop() == 0


# ---------------------------------------------------------------- TLS certificate rotation

class TlsServer(srvmod.Server):
    """A server with TLS: the harness's readiness check needs a secure channel."""

    root = None

    @property
    def channel(self):
        if self._channel is None:
            creds = grpc.ssl_channel_credentials(root_certificates=self.root)
            self._channel = grpc.secure_channel(self.addr, creds,
                                                options=[("grpc.ssl_target_name_override", "localhost")])
        return self._channel


def make_cert(d, name):
    key, crt = os.path.join(d, name + ".key"), os.path.join(d, name + ".crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", crt,
                    "-days", "365", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    os.chmod(key, 0o600)
    with open(crt, "rb") as f:
        return crt, key, f.read()


def test_rotate_tls_certificate(gs_env, tmp_path):
    if not shutil.which("openssl"):
        pytest.skip("no openssl command")
    live_crt, live_key = str(tmp_path / "server.crt"), str(tmp_path / "server.key")
    old_crt, old_key, old_pem = make_cert(str(tmp_path), "old")
    new_crt, new_key, new_pem = make_cert(str(tmp_path), "new")
    shutil.copy(old_crt, live_crt)
    shutil.copy(old_key, live_key)
    os.chmod(live_key, 0o600)
    s = TlsServer(gs_env, tls_cert=live_crt, tls_key=live_key)
    s.root = old_pem
    s.start()
    port = s.port
    try:
        assert whoami(s, s.token("admin"))[1] == Code.OK
        # the new files go in place and are checked before anything restarts
        shutil.copy(new_crt, live_crt)
        shutil.copy(new_key, live_key)
        p = paths.run([paths.GRIDSTOCKD, "check", "--db", gs_env.conninfo, "--token-keys", gs_env.keyring,
                       "--tls-cert", live_crt, "--tls-key", live_key], check=False)
        assert p.returncode == 0 or all("tls" not in l for l in p.stdout.splitlines() if l.startswith("PROBLEM")), p.stdout
        assert "matches the certificate" in p.stdout
    finally:
        assert s.stop() == 0
    # restart on the same port: clients that trust the new certificate connect
    s2 = TlsServer(gs_env, tls_cert=live_crt, tls_key=live_key, listen="127.0.0.1:%d" % port)
    s2.root = new_pem
    s2.start()
    try:
        assert whoami(s2, s2.token("admin"))[1] == Code.OK
        stale = grpc.secure_channel(s2.addr, grpc.ssl_channel_credentials(root_certificates=old_pem),
                                    options=[("grpc.ssl_target_name_override", "localhost")])
        with pytest.raises(grpc.FutureTimeoutError):
            grpc.channel_ready_future(stale).result(timeout=2)
        stale.close()
    finally:
        assert s2.stop() == 0


# ---------------------------------------------------------------- revoking a user's tokens

def test_revoke_user_tokens(server):
    old = server.token("staff.cm02", fresh=True)
    who = server.call_ok(WHOAMI, users_pb2.WhoAmIRequest(), users_pb2.WhoAmIResponse, token=old)
    time.sleep(1.1)  # token times are in seconds: "until now" must be after old's iat
    server.call_ok("UserService/RevokeUserTokens", users_pb2.RevokeUserTokensRequest(id=who.user.id),
                   users_pb2.User, login="admin")
    _, code, details = whoami(server, old)
    assert code == Code.UNAUTHENTICATED and "revoked" in details, details
    time.sleep(1.1)
    fresh = server.token("staff.cm02", fresh=True)
    assert whoami(server, fresh)[1] == Code.OK
