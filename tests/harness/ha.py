"""A pg_auto_failover formation for tests (scripts/pg ha-*): a monitor and two data nodes on
127.0.0.1, synchronous replication, timeouts tuned to fail over in seconds (GS_HA_FAST=1),
a migrated database with the demo data."""
import os
import pwd
import shutil
import socket
import subprocess
import tempfile

from . import paths
from . import pg as pgmod

SCRIPT = os.path.join(paths.SOURCE_DIR, "scripts", "pg")


def available():
    return shutil.which("pg_autoctl") is not None


def _three_free_ports():
    for _ in range(50):
        base = paths.free_port()
        if base > 65000:
            continue
        ok = True
        for p in (base, base + 1, base + 2):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", p))
                except OSError:
                    ok = False
        if ok:
            return base
    raise RuntimeError("no three consecutive free ports")


class Formation:
    def __init__(self, dbname):
        self.dir = tempfile.mkdtemp(prefix="gs-ha-", dir="/tmp")
        if paths.IS_ROOT:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self.dbname = dbname
        out = self.script("ha-create", self.dir, str(_three_free_ports()), dbname, env={"GS_HA_FAST": "1"})
        self.conninfo = out.strip().splitlines()[-1]
        # loading need not wait for the standby at each commit
        load = self.conninfo + " options='-c synchronous_commit=local'"
        paths.run([paths.GRIDSTOCKD, "migrate", "--db", load], env=paths.sanitizer_env())
        demo = os.path.join(paths.SOURCE_DIR, "sql", "demo")
        for f in sorted(os.listdir(demo)):
            if f.endswith(".sql"):
                paths.run([paths.pg_tool("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", load,
                           "-f", os.path.join(demo, f)], timeout=600)
        self.keyring = os.path.join(self.dir, "keyring")
        pgmod.make_keyring(self.keyring)

    def script(self, *args, env=None):
        e = dict(os.environ, **(env or {}))
        return subprocess.run([SCRIPT] + list(args), check=True, capture_output=True, text=True, env=e,
                              timeout=300).stdout

    def primary(self):
        """The node that is primary now ("node1", "node2"), "" while there is none."""
        return self.script("ha-primary", self.dir).strip()

    def kill(self, node):
        """The node's machine dies: SIGKILL to its pg_autoctl, postmaster and backends."""
        self.script("ha-kill", self.dir, node)

    def start(self, node=None):
        """Starts the node's pg_autoctl (all when None) and waits for primary + secondary."""
        self.script("ha-start", self.dir, *([node] if node else []))

    def destroy(self, keep=False):
        for node in ("node2", "node1", "monitor"):  # throwaway: no clean shutdown needed
            subprocess.run([SCRIPT, "ha-kill", self.dir, node], capture_output=True, timeout=60)
        if not keep:
            shutil.rmtree(self.dir, ignore_errors=True)
