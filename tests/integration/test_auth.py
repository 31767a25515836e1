"""Authentication and authorisation as the runtime enforces them: bearer tokens (missing,
malformed, expired, tampered, unknown key, revoked), inactive users, roles and scope."""
import json
import time
import uuid

import grpc
import pytest

from gridstock.v1 import sites_pb2, users_pb2
from harness import tokens

WHOAMI = "UserService/WhoAmI"
Code = grpc.StatusCode


def whoami(server, **kw):
    return server.call(WHOAMI, users_pb2.WhoAmIRequest(), users_pb2.WhoAmIResponse, **kw)


def signing_key(server):
    kid, secret = tokens.keyring(server.keyring)[0]
    return kid, bytes.fromhex(secret)


def new_site(org_unit_code="CM01"):
    code = "T" + uuid.uuid4().hex[:10].upper()
    return sites_pb2.CreateSiteRequest(
        code=code,
        name="Test point " + code,
        kind="reserve_point",
        org_unit_code=org_unit_code,
        address="1 Test Road",
        lat=31.21,
        lon=107.47,
        capacity_m3=10,
    )


def count(db, sql, *args):
    return db.execute(sql, args).fetchone()[0]


def test_whoami_with_valid_token(server):
    resp, code, details = whoami(server, login="admin")
    assert code == Code.OK, details
    assert resp.user.login == "admin"
    assert resp.role == "admin"
    assert resp.scope_code == "DC"


def test_no_token_is_unauthenticated(server):
    resp, code, details = whoami(server)
    assert code == Code.UNAUTHENTICATED
    assert resp is None
    assert details


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer ",
        "Bearer not-a-token",
        "Bearer a.b.c",
        "Basic YWRtaW46YWRtaW4=",
        "Bearer " + "x" * 5000,
    ],
)
def test_malformed_authorization_is_unauthenticated(server, header):
    _, code, details = whoami(server, metadata=[("authorization", header)])
    assert code == Code.UNAUTHENTICATED, details


def test_forged_token_with_the_real_key_is_accepted(server):
    """Sanity check of the harness's token codec: re-signing a real token's claims with the
    real key yields a token the server accepts."""
    kid, key = signing_key(server)
    tok = tokens.resign(server.token("logi.st01"), key, kid=kid)
    resp, code, details = whoami(server, token=tok)
    assert code == Code.OK, details
    assert resp.user.login == "logi.st01"


def test_expired_token_is_unauthenticated(server):
    kid, key = signing_key(server)
    now = int(time.time())
    tok = tokens.resign(server.token("admin"), key, kid=kid, iat=now - 7200, exp=now - 60)
    _, code, details = whoami(server, token=tok)
    assert code == Code.UNAUTHENTICATED
    assert "expire" in details.lower(), details


def test_token_expires_after_its_ttl(server):
    tok = server.token("logi.st02", ttl=1, fresh=True)
    _, code, details = whoami(server, token=tok)
    assert code == Code.OK, details
    time.sleep(2.2)
    _, code, details = whoami(server, token=tok)
    assert code == Code.UNAUTHENTICATED, details


def test_token_issued_in_the_future_is_unauthenticated(server):
    kid, key = signing_key(server)
    now = int(time.time())
    tok = tokens.resign(server.token("admin"), key, kid=kid, iat=now + 3600, exp=now + 7200)
    _, code, _ = whoami(server, token=tok)
    assert code == Code.UNAUTHENTICATED


def test_tampered_token_is_unauthenticated(server):
    tok = server.token("staff.cm01")
    # escalate: claim to be admin with the district scope, keep the old signature
    header, claims = tokens.decode(server.token("admin"))
    bad = tokens.tamper_payload(tok, role="admin", scope=claims["scope"])
    _, code, _ = whoami(server, token=bad)
    assert code == Code.UNAUTHENTICATED
    # flip one character of the signature
    h, p, s = tok.split(".")
    s2 = ("A" if s[0] != "A" else "B") + s[1:]
    _, code, _ = whoami(server, token=h + "." + p + "." + s2)
    assert code == Code.UNAUTHENTICATED
    # no signature at all
    _, code, _ = whoami(server, token=h + "." + p + ".")
    assert code == Code.UNAUTHENTICATED


def test_alg_none_is_unauthenticated(server):
    tok = server.token("admin")
    header, claims = tokens.decode(tok)
    header["alg"] = "none"
    h = tokens.b64url(json.dumps(header).encode())
    p = tok.split(".")[1]
    _, code, _ = whoami(server, token=h + "." + p + ".")
    assert code == Code.UNAUTHENTICATED


def test_unknown_key_is_unauthenticated(server):
    kid, _ = signing_key(server)
    tok = server.token("admin")
    # a key id the server does not know
    _, code, _ = whoami(server, token=tokens.resign(tok, tokens.random_key(), kid="k-unknown"))
    assert code == Code.UNAUTHENTICATED
    # the right key id with another secret
    _, code, _ = whoami(server, token=tokens.resign(tok, tokens.random_key(), kid=kid))
    assert code == Code.UNAUTHENTICATED


def test_claims_must_match_the_user(server):
    """A well-signed token whose uid does not exist is refused."""
    kid, key = signing_key(server)
    tok = tokens.resign(server.token("admin"), key, kid=kid, uid=987654321, sub="ghost")
    _, code, _ = whoami(server, token=tok)
    assert code in (Code.UNAUTHENTICATED, Code.PERMISSION_DENIED)


def test_token_issue_for_unknown_login_fails(server):
    with pytest.raises(RuntimeError):
        server.token("no.such.user", fresh=True)


def test_revoked_tokens_are_refused(server, db):
    login = "staff.cm02"
    old = server.token(login, fresh=True)
    _, code, details = whoami(server, token=old)
    assert code == Code.OK, details
    time.sleep(1.1)  # the token was issued in an earlier second than the revocation
    db.execute("UPDATE users SET tokens_valid_after = now() WHERE login = %s", (login,))
    try:
        _, code, details = whoami(server, token=old)
        assert code == Code.UNAUTHENTICATED, details
        assert "revoked" in details.lower(), details
        # a token issued after the revocation works again (iat has one-second resolution)
        time.sleep(1.1)
        _, code, details = whoami(server, token=server.token(login, fresh=True))
        assert code == Code.OK, details
    finally:
        db.execute("UPDATE users SET tokens_valid_after = '-infinity' WHERE login = %s", (login,))


def test_deactivated_user_is_refused(server, db):
    login = "staff.cm03"
    tok = server.token(login, fresh=True)
    _, code, details = whoami(server, token=tok)
    assert code == Code.OK, details
    db.execute("UPDATE users SET active = false WHERE login = %s", (login,))
    try:
        _, code, details = whoami(server, token=tok)
        assert code in (Code.UNAUTHENTICATED, Code.PERMISSION_DENIED), details
        words = ("inactive", "deactivated", "disabled", "not active")
        assert any(w in details.lower() for w in words), details
    finally:
        db.execute("UPDATE users SET active = true WHERE login = %s", (login,))
    _, code, details = whoami(server, token=tok)
    assert code == Code.OK, details


def test_wrong_role_is_permission_denied_and_changes_nothing(server, db):
    sites = count(db, "SELECT count(*) FROM sites")
    audits = count(db, "SELECT count(*) FROM audit_log")
    req = new_site()
    for login in ("auditor", "fin.officer", "staff.cm01"):
        _, code, details = server.call("SiteService/CreateSite", req, sites_pb2.Site, login=login)
        assert code == Code.PERMISSION_DENIED, (login, details)
        assert details
    assert count(db, "SELECT count(*) FROM sites") == sites
    assert count(db, "SELECT count(*) FROM sites WHERE code = %s", req.code) == 0
    assert count(db, "SELECT count(*) FROM audit_log") == audits


def test_out_of_scope_id_is_not_found(server, db):
    row = db.execute(
        """SELECT s.id, s.code FROM sites s JOIN org_units o ON o.id = s.org_unit_id
           WHERE o.path <@ (SELECT path FROM org_units WHERE code = 'ST01')
           ORDER BY s.id LIMIT 1"""
    ).fetchone()
    assert row, "demo data has no site under ST01"
    site_id, site_code = row
    req = sites_pb2.GetSiteRequest(id=site_id)
    resp, code, details = server.call("SiteService/GetSite", req, sites_pb2.Site, login="logi.st01")
    assert code == Code.OK, details
    assert resp.code == site_code
    resp, code, details = server.call("SiteService/GetSite", req, sites_pb2.Site, login="logi.st02")
    assert code == Code.NOT_FOUND, details
    # and an id that does not exist at all looks the same
    req = sites_pb2.GetSiteRequest(id=10**12)
    _, code, _ = server.call("SiteService/GetSite", req, sites_pb2.Site, login="admin")
    assert code == Code.NOT_FOUND


def test_scope_limits_creation(server, db):
    """A street logistics officer cannot create a site outside their street."""
    req = new_site("CM01")
    street = db.execute(
        """SELECT p.code FROM org_units c JOIN org_units p ON p.id = c.parent_id
           WHERE c.code = 'CM01'"""
    ).fetchone()[0]
    other = "ST02" if street != "ST02" else "ST03"
    login = "logi." + other.lower()
    _, code, details = server.call("SiteService/CreateSite", req, sites_pb2.Site, login=login)
    assert code in (Code.PERMISSION_DENIED, Code.NOT_FOUND), details
    assert count(db, "SELECT count(*) FROM sites WHERE code = %s", req.code) == 0


def test_revocation_covers_tokens_of_the_same_second(server, db):
    """A token issued a moment before the revocation, within the same second, is refused
    too: revocation must never leave a just-issued token alive."""
    login = "staff.cm04"
    for _ in range(3):
        old = server.token(login, fresh=True)
        db.execute("UPDATE users SET tokens_valid_after = now() WHERE login = %s", (login,))
        iat = tokens.decode(old)[1]["iat"]
        revoked_at = db.execute(
            "SELECT extract(epoch FROM tokens_valid_after) FROM users WHERE login = %s", (login,)
        ).fetchone()[0]
        if int(revoked_at) == iat:
            break
        time.sleep(0.2)
    try:
        _, code, details = whoami(server, token=old)
        assert code == Code.UNAUTHENTICATED, "token issued at %s survived revocation at %s: %s" % (
            iat,
            revoked_at,
            details,
        )
    finally:
        db.execute("UPDATE users SET tokens_valid_after = '-infinity' WHERE login = %s", (login,))
