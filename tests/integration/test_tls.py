"""TLS listeners with certificates made at test time by the openssl command: a CA, a server
certificate for 127.0.0.1/localhost, client certificates (valid, expired, signed by another
CA). A TLS-only server refuses plaintext clients; a mutual-TLS server refuses a client with
no certificate, one from the wrong CA and an expired one, and serves a valid one. The CLI's
--ca/--cert/--key reach both."""
import os
import subprocess

import grpc
import pytest

from gridstock.v1 import users_pb2 as U
from harness import paths
from harness import server as srvmod

Code = grpc.StatusCode
WHOAMI = "/gridstock.v1.UserService/WhoAmI"


def openssl(*args, cwd):
    p = subprocess.run(["openssl"] + list(args), cwd=cwd, capture_output=True, text=True)
    assert p.returncode == 0, "openssl %s: %s" % (" ".join(args), p.stderr)


CA_CONF = """
[ca]
default_ca = test_ca
[test_ca]
dir = .
database = %(name)s.index
new_certs_dir = .
serial = %(name)s.serial
default_md = sha256
policy = anything
copy_extensions = copy
unique_subject = no
[anything]
commonName = supplied
"""


class Pki:
    def __init__(self, d):
        self.d = d

    def path(self, name):
        return os.path.join(self.d, name)

    def ca(self, name):
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key", "-out", name + ".pem",
                "-days", "3", "-subj", "/CN=gridstock test " + name, cwd=self.d)
        with open(self.path(name + ".cnf"), "w") as f:
            f.write(CA_CONF % {"name": name})
        open(self.path(name + ".index"), "w").close()
        with open(self.path(name + ".serial"), "w") as f:
            f.write("1000\n")

    def cert(self, name, ca, cn, ext, start=None, end=None):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key", "-out", name + ".csr",
                "-subj", "/CN=" + cn, cwd=self.d)
        with open(self.path(name + ".ext"), "w") as f:
            f.write(ext)
        args = ["ca", "-batch", "-config", ca + ".cnf", "-cert", ca + ".pem", "-keyfile", ca + ".key",
                "-in", name + ".csr", "-out", name + ".pem", "-extfile", name + ".ext", "-notext"]
        if start:
            args += ["-startdate", start, "-enddate", end]
        else:
            args += ["-days", "2"]
        openssl(*args, cwd=self.d)
        os.chmod(self.path(name + ".key"), 0o600)

    def read(self, name):
        with open(self.path(name), "rb") as f:
            return f.read()


SERVER_EXT = "subjectAltName = IP:127.0.0.1, DNS:localhost\nextendedKeyUsage = serverAuth\n"
CLIENT_EXT = "extendedKeyUsage = clientAuth\n"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    p = Pki(str(tmp_path_factory.mktemp("pki")))
    p.ca("ca")
    p.ca("other")
    p.cert("server", "ca", "localhost", SERVER_EXT)
    p.cert("client", "ca", "svc.dispatch", CLIENT_EXT)
    p.cert("expired", "ca", "svc.dispatch", CLIENT_EXT, "20200101000000Z", "20200201000000Z")
    p.cert("stranger", "other", "svc.dispatch", CLIENT_EXT)
    return p


class TlsServer(srvmod.Server):
    """A gridstockd whose readiness is probed over TLS (with `client` as the client
    certificate when the server asks for one)."""

    def __init__(self, env, pki, mutual, **flags):
        flags.update(tls_cert=pki.path("server.pem"), tls_key=pki.path("server.key"))
        if mutual:
            flags["tls_client_ca"] = pki.path("ca.pem")
        super().__init__(env, **flags)
        self.pki = pki

    @property
    def channel(self):
        if self._channel is None:
            self._channel = secure_channel(self, self.pki, "client")
        return self._channel


def secure_channel(srv, pki, client=None, ca="ca.pem"):
    creds = grpc.ssl_channel_credentials(
        root_certificates=pki.read(ca),
        private_key=pki.read(client + ".key") if client else None,
        certificate_chain=pki.read(client + ".pem") if client else None,
    )
    return grpc.secure_channel(srv.addr, creds)


def whoami(channel, srv, login="svc.dispatch", timeout=5):
    fn = channel.unary_unary(WHOAMI)
    md = [("authorization", "Bearer " + srv.token(login))]
    try:
        raw = fn(b"", timeout=timeout, metadata=md)
        return U.WhoAmIResponse.FromString(raw), Code.OK, ""
    except grpc.RpcError as e:
        return None, e.code(), e.details()


@pytest.fixture(scope="module")
def tls_server(gs_env, pki):
    s = TlsServer(gs_env, pki, mutual=False).start()
    yield s
    assert s.stop() == 0, s.log()[-3000:]


@pytest.fixture(scope="module")
def mtls_server(gs_env, pki):
    s = TlsServer(gs_env, pki, mutual=True).start()
    yield s
    assert s.stop() == 0, s.log()[-3000:]


def test_tls_listener_serves_tls(tls_server, pki):
    ch = secure_channel(tls_server, pki)
    resp, code, details = whoami(ch, tls_server)
    assert code == Code.OK, details
    assert resp.user.login == "svc.dispatch"
    ch.close()
    assert "tls=on" in tls_server.log(), tls_server.log()[-2000:]


def test_tls_listener_refuses_plaintext(tls_server):
    ch = grpc.insecure_channel(tls_server.addr)
    _, code, _ = whoami(ch, tls_server)
    assert code == Code.UNAVAILABLE
    ch.close()


def test_tls_client_refuses_a_server_from_another_ca(tls_server, pki):
    ch = secure_channel(tls_server, pki, ca="other.pem")
    _, code, _ = whoami(ch, tls_server)
    assert code == Code.UNAVAILABLE
    ch.close()


@pytest.mark.parametrize("client,accepted", [
    ("client", True),
    (None, False),          # no client certificate
    ("stranger", False),    # signed by another CA
    ("expired", False),     # expired
])
def test_mutual_tls(mtls_server, pki, client, accepted):
    ch = secure_channel(mtls_server, pki, client)
    resp, code, details = whoami(ch, mtls_server)
    ch.close()
    if accepted:
        assert code == Code.OK, details
        assert resp.user.login == "svc.dispatch"
    else:
        assert code == Code.UNAVAILABLE, (code, details)


@pytest.fixture(scope="module")
def bound_server(gs_env, pki):
    s = TlsServer(gs_env, pki, mutual=True, tls_client_is_user="true").start()
    yield s
    assert s.stop() == 0, s.log()[-3000:]


def test_a_certificate_bound_to_its_user(bound_server, mtls_server, pki):
    """tls_client_is_user: the token must be for the user the client certificate names
    (CN svc.dispatch); any other user's token is refused on that connection, with the
    reason; without the setting, a certificate only opens the connection."""
    ch = secure_channel(bound_server, pki, "client")
    resp, code, details = whoami(ch, bound_server, login="svc.dispatch")
    assert code == Code.OK and resp.user.login == "svc.dispatch", details
    fn = ch.unary_unary(WHOAMI)
    with pytest.raises(grpc.RpcError) as e:
        fn(b"", timeout=5, metadata=[("authorization", "Bearer " + bound_server.token("admin"))])
    assert e.value.code() == Code.UNAUTHENTICATED
    assert "svc.dispatch" in e.value.details() and "admin" in e.value.details(), e.value.details()
    from google.rpc import error_details_pb2, status_pb2
    raw = dict(e.value.trailing_metadata())["grpc-status-details-bin"]
    info = error_details_pb2.ErrorInfo()
    status_pb2.Status.FromString(raw).details[0].Unpack(info)
    assert info.reason == "CERTIFICATE_NOT_USER"
    ch.close()
    # the same certificate and an admin token on a server without the binding: accepted
    ch = secure_channel(mtls_server, pki, "client")
    resp, code, details = whoami(ch, mtls_server, login="admin")
    assert code == Code.OK and resp.user.login == "admin", details
    ch.close()


def test_mutual_tls_refuses_plaintext(mtls_server):
    ch = grpc.insecure_channel(mtls_server.addr)
    _, code, _ = whoami(ch, mtls_server)
    assert code == Code.UNAVAILABLE
    ch.close()


def test_mutual_tls_still_needs_a_token(mtls_server, pki):
    ch = secure_channel(mtls_server, pki, "client")
    try:
        ch.unary_unary(WHOAMI)(b"", timeout=5)
        code = Code.OK
    except grpc.RpcError as e:
        code = e.code()
    ch.close()
    assert code == Code.UNAUTHENTICATED


def _cli(srv, pki, *args, client=None, ca="ca.pem"):
    if not os.path.exists(paths.GRIDSTOCK_CLI):
        pytest.skip("gridstock CLI not built")
    argv = [paths.GRIDSTOCK_CLI, "--addr", srv.addr, "--ca", pki.path(ca), "--token", srv.token("svc.dispatch")]
    if client:
        argv += ["--cert", pki.path(client + ".pem"), "--key", pki.path(client + ".key")]
    env = paths.sanitizer_env()
    for k in ("GRIDSTOCK_ADDR", "GRIDSTOCK_TOKEN", "GRIDSTOCK_CA", "GRIDSTOCK_CERT", "GRIDSTOCK_KEY"):
        env.pop(k, None)
    p = subprocess.run(argv + ["--json"] + list(args), capture_output=True, text=True, timeout=60, env=env)
    return p.returncode, p.stdout, p.stderr


def test_cli_over_tls(tls_server, pki):
    rc, out, err = _cli(tls_server, pki, "user", "who-am-i")
    assert rc == 0, err
    assert "svc.dispatch" in out


def test_cli_over_mutual_tls(mtls_server, pki):
    rc, out, err = _cli(mtls_server, pki, "user", "who-am-i", client="client")
    assert rc == 0, err
    assert "svc.dispatch" in out
    rc, out, err = _cli(mtls_server, pki, "user", "who-am-i", client="expired")
    assert rc != 0
    rc, out, err = _cli(mtls_server, pki, "user", "who-am-i")  # no client certificate
    assert rc != 0
