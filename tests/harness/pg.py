"""A private PostgreSQL cluster for one test session: initdb in /tmp, trust auth, no fsync;
and for the failover tests a streaming standby of one (pg_basebackup), promoted by hand."""
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time

from . import paths


class Cluster:
    """One PostgreSQL 15 cluster listening on 127.0.0.1:<free port> and a private socket dir."""

    host = "127.0.0.1"
    user = "postgres"

    def __init__(self, initdb=True, extra_conf=""):
        self.dir = tempfile.mkdtemp(prefix="gs-pg-", dir="/tmp")
        self.extra_conf = extra_conf
        self.data = os.path.join(self.dir, "data")
        self.logfile = os.path.join(self.dir, "postgres.log")
        self.port = paths.free_port()
        self.running = False
        self.pid = None
        if paths.IS_ROOT:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        if initdb:
            self._initdb()

    # ---- processes ----
    def _as_postgres(self, args):
        if paths.IS_ROOT:
            return ["runuser", "-u", "postgres", "--"] + args
        return args

    def _pg(self, args, check=True, timeout=120):
        return paths.run(self._as_postgres(args), check=check, timeout=timeout)

    def _initdb(self):
        self._pg(
            [
                paths.pg_tool("initdb"),
                "-D", self.data,
                "-A", "trust",
                "-U", self.user,
                "-E", "UTF8",
                "--locale=C",
                "--no-sync",
            ]
        )
        self._write_port_conf()

    def _write_port_conf(self):
        conf = os.path.join(self.data, "postgresql.auto.conf")
        with open(conf, "w") as f:
            f.write(
                "listen_addresses = '127.0.0.1'\n"
                "port = %d\n"
                "unix_socket_directories = '%s'\n"
                "fsync = off\n"
                "synchronous_commit = off\n"
                "full_page_writes = off\n"
                "max_connections = 200\n"
                "shared_buffers = 64MB\n"
                "timezone = 'UTC'\n"  # not the district's: gridstockd must set its own
                "log_min_messages = warning\n"
                "log_min_error_statement = panic\n"
                "log_line_prefix = '%%m [%%p] %%d '\n" % (self.port, self.dir)
            )
            f.write(self.extra_conf)
        if paths.IS_ROOT:
            pw = pwd.getpwnam("postgres")
            os.chown(conf, pw.pw_uid, pw.pw_gid)

    def start(self):
        """Starts the cluster and waits until it accepts connections."""
        for attempt in range(3):
            p = self._pg(
                [paths.pg_tool("pg_ctl"), "-D", self.data, "-l", self.logfile, "-w", "-t", "60", "start"],
                check=False,
            )
            if p.returncode == 0:
                self.running = True
                with open(os.path.join(self.data, "postmaster.pid")) as f:
                    self.pid = int(f.readline())
                return
            # The port may have been taken since we picked it: pick another one.
            if "could not bind" in self.log() or "already in use" in self.log():
                self.port = paths.free_port()
                self._write_port_conf()
                continue
            break
        raise RuntimeError("postgres did not start:\n%s\n%s\n%s" % (p.stdout, p.stderr, self.log()[-4000:]))

    def stop(self, mode="fast"):
        if not self.running:
            return
        p = self._pg(
            [paths.pg_tool("pg_ctl"), "-D", self.data, "-m", mode, "-w", "-t", "60", "stop"], check=False
        )
        if p.returncode != 0:
            # pg_ctl cannot stop a postmaster whose data directory is gone: never leave it behind
            self._kill_postmaster()
            raise RuntimeError("pg_ctl stop failed: %s %s" % (p.stdout, p.stderr))
        self.running = False

    def kill9(self):
        """SIGKILL to the postmaster, as when its machine dies; its backends notice and end.
        Waits until nothing answers on the port any more."""
        os.kill(self.pid, signal.SIGKILL)
        self.running = False
        deadline = time.time() + 30
        while time.time() < deadline:
            p = subprocess.run(
                [paths.pg_tool("pg_isready"), "-h", self.host, "-p", str(self.port), "-q"],
                capture_output=True,
            )
            if p.returncode == 2:  # no response
                return
            time.sleep(0.05)
        raise RuntimeError("postgres on port %d still answers after SIGKILL" % self.port)

    def promote(self):
        """pg_ctl promote: a standby becomes a primary (waits until it takes writes)."""
        self._pg([paths.pg_tool("pg_ctl"), "-D", self.data, "-w", "-t", "60", "promote"])

    def _kill_postmaster(self):
        self.running = False
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGQUIT)
            except ProcessLookupError:
                pass

    def restart(self, mode="fast"):
        self.stop(mode)
        self.start()

    def destroy(self, keep_logs=False):
        """Stops the cluster and removes it; keep_logs leaves the log files (not the data)."""
        try:
            if self.running:
                self.stop("immediate")
        finally:
            if keep_logs:
                shutil.rmtree(self.data, ignore_errors=True)
            else:
                shutil.rmtree(self.dir, ignore_errors=True)

    def log(self):
        try:
            with open(self.logfile, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    # ---- clients ----
    def conninfo(self, dbname="postgres"):
        return "host=%s port=%d dbname=%s user=%s" % (self.host, self.port, dbname, self.user)

    def _psql_args(self, dbname):
        return [
            paths.pg_tool("psql"),
            "-X", "-q", "-A", "-t",
            "-v", "ON_ERROR_STOP=1",
            "-h", self.host,
            "-p", str(self.port),
            "-U", self.user,
            "-d", dbname,
        ]

    def psql(self, dbname, sql):
        """Runs SQL with psql; returns its unaligned, tuples-only output."""
        return paths.run(self._psql_args(dbname) + ["-c", sql]).stdout

    def psql_file(self, dbname, path):
        return paths.run(self._psql_args(dbname) + ["-f", path], timeout=600).stdout

    def createdb(self, name):
        self.psql("postgres", 'CREATE DATABASE "%s"' % name)

    def dropdb(self, name):
        self.psql("postgres", 'DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)

    def wait_ready(self, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            p = subprocess.run(
                [paths.pg_tool("pg_isready"), "-h", self.host, "-p", str(self.port), "-q"],
                capture_output=True,
            )
            if p.returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError("postgres not ready after %ss" % timeout)


def standby_of(primary, name="gs_standby", extra_conf=""):
    """A streaming standby of `primary` (running): pg_basebackup -R, its own port, started.
    It connects as application_name `name` (for synchronous_standby_names)."""
    c = Cluster(initdb=False, extra_conf=extra_conf)
    src = "host=%s port=%d user=%s application_name=%s" % (primary.host, primary.port, primary.user, name)
    c._pg([paths.pg_tool("pg_basebackup"), "-d", src, "-D", c.data, "-R", "-X", "stream", "--no-sync",
           "-c", "fast"])
    # -R left primary_conninfo in postgresql.auto.conf, which _write_port_conf rewrites
    with open(os.path.join(c.data, "postgresql.auto.conf")) as f:
        keep = "".join(l for l in f if l.startswith("primary_conninfo"))
    c.extra_conf = keep + extra_conf
    c._write_port_conf()
    c.start()
    return c


def prepare_database(cluster, name, migrate=True, demo=True):
    """A fresh database `name`: migrations by `gridstockd migrate`, then sql/demo/*.sql."""
    cluster.createdb(name)
    conninfo = cluster.conninfo(name)
    if migrate:
        paths.run(
            [paths.GRIDSTOCKD, "migrate", "--db", conninfo],
            env=paths.sanitizer_env(),
        )
    if migrate and demo:
        for f in sorted(glob.glob(os.path.join(paths.SOURCE_DIR, "sql", "demo", "*.sql"))):
            cluster.psql_file(name, f)
    return conninfo


def make_keyring(path, kid=None):
    """Writes a keyring file with one key made by `gridstockd token keygen`."""
    args = [paths.GRIDSTOCKD, "token", "keygen"]
    if kid:
        args += ["--kid", kid]
    line = paths.run(args, env=paths.sanitizer_env()).stdout.strip()
    with open(path, "w") as f:
        f.write(line + "\n")
    os.chmod(path, 0o600)
    return line
