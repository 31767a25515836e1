"""gridstockd as a child process on a free port, and gRPC calls to it (unary, raw, streaming)."""
import os
import re
import signal
import subprocess
import threading
import time
import uuid

import grpc

from . import paths

PACKAGE = "gridstock.v1"

_LISTENING = re.compile(r"\bevent=listening\b")
_PORT = re.compile(r"\bport=(\d+)\b")
_KV = re.compile(r'([A-Za-z_][\w.-]*)=("(?:[^"\\]|\\.)*"|\S*)')

# Every server started by the harness and not yet stopped (conftest reports their logs).
LIVE = set()
_LIVE_LOCK = threading.Lock()


def method_path(path):
    """'/gridstock.v1.SiteService/ListSites', 'gridstock.v1.SiteService/ListSites' or the
    short 'SiteService/ListSites' → the full path."""
    if path.startswith("/"):
        return path
    service = path.split("/", 1)[0]
    if "." not in service:
        path = PACKAGE + "." + path
    return "/" + path


def parse_kv(line):
    """One `key=value` log line → dict (quoted values unquoted; JSON lines parsed too)."""
    line = line.strip()
    if line.startswith("{"):
        import json

        try:
            return {k: str(v) for k, v in json.loads(line).items()}
        except ValueError:
            pass
    out = {}
    for k, v in _KV.findall(line):
        if len(v) >= 2 and v[0] == '"' and v[-1] == '"':
            v = re.sub(r"\\(.)", r"\1", v[1:-1])
        out[k] = v
    return out


class ModuleEnv:
    """What the servers of one test module share: the cluster, the database, the keyring,
    a directory for logs, and minted tokens."""

    def __init__(self, cluster, dbname, conninfo, keyring, workdir):
        self.cluster = cluster
        self.dbname = dbname
        self.conninfo = conninfo
        self.keyring = keyring
        self.workdir = workdir
        self.tokens = {}
        self.counter = 0
        # the audit chain's keyring (audit_keys), beside the token keyring
        self.audit_keyring = os.path.join(workdir, "audit-keyring")
        # the household register's identity key (household_keys)
        self.household_keyring = os.path.join(workdir, "household-keyring")
        self.lock = threading.Lock()

    def next_name(self, prefix):
        with self.lock:
            self.counter += 1
            return "%s-%d" % (prefix, self.counter)

    def token(self, login, ttl=3600, fresh=False, conninfo=None, keyring=None):
        """A bearer token for `login` minted by `gridstockd token issue` (cached per login
        and ttl unless fresh=True)."""
        key = (login, ttl, conninfo, keyring)
        if not fresh:
            with self.lock:
                if key in self.tokens:
                    return self.tokens[key]
        p = paths.run(
            [
                paths.GRIDSTOCKD, "token", "issue",
                "--login", login,
                "--ttl", str(ttl),
                "--db", conninfo or self.conninfo,
                "--token-keys", keyring or self.keyring,
            ],
            env=paths.sanitizer_env(),
        )
        lines = [l.strip() for l in p.stdout.splitlines() if l.strip()]
        if not lines:
            raise RuntimeError("token issue printed nothing: %s" % p.stderr)
        tok = lines[-1]
        if tok.lower().startswith("bearer "):
            tok = tok[7:]
        with self.lock:
            self.tokens[key] = tok
        return tok


class Stream:
    """A server-streaming call: iterate for parsed messages; cancel() ends it."""

    def __init__(self, call, response_cls):
        self._call = call
        self._cls = response_cls

    def __iter__(self):
        for raw in self._call:
            yield self._cls.FromString(raw) if self._cls else raw

    def next(self, timeout=None):
        """The next message, or raises grpc.RpcError when the stream ended."""
        raw = next(self._call)
        return self._cls.FromString(raw) if self._cls else raw

    def cancel(self):
        self._call.cancel()

    def code(self):
        return self._call.code()

    def details(self):
        return self._call.details()

    def initial_metadata(self):
        return self._call.initial_metadata()


class Server:
    """A running gridstockd. Flags are given as keyword arguments: max_message_bytes=1024
    becomes --max-message-bytes 1024, True/False become true/false."""

    def __init__(self, env, name=None, **flags):
        self.env = env
        self.name = name or env.next_name("gridstockd")
        self.flags = flags
        self.logfile = os.path.join(env.workdir, self.name + ".log")
        self.proc = None
        self.port = None
        self.addr = None
        self.returncode = None
        self._channel = None
        self._log_fh = None
        self.conninfo = flags.get("db", env.conninfo)
        self.keyring = flags.get("token_keys", env.keyring)

    # ---- process ----
    def _args(self, port):
        flags = {
            "listen": "127.0.0.1:%d" % port,
            "db": self.env.conninfo,
            "token_keys": self.env.keyring,
            "audit_keys": self.env.audit_keyring if os.path.exists(self.env.audit_keyring) else None,
            "household_keys": (self.env.household_keyring if os.path.exists(self.env.household_keyring)
                               else None),
            "workers": 2,
        }
        flags.update(self.flags)
        args = paths.valgrind_prefix(self.logfile + ".memcheck") + [paths.GRIDSTOCKD]
        for k, v in flags.items():
            if v is None:
                continue
            if isinstance(v, bool):
                v = "true" if v else "false"
            args += ["--" + k.replace("_", "-"), str(v)]
        return args

    def start(self, timeout=None):
        if timeout is None:  # valgrind slows start-up (migrations, demo data) tenfold
            timeout = 300 if paths.VALGRIND else 60
        last = ""
        for attempt in range(3):
            port = paths.free_port()
            if "listen" in self.flags:
                port = int(str(self.flags["listen"]).rsplit(":", 1)[1])
            self._log_fh = open(self.logfile, "ab")
            self.proc = subprocess.Popen(
                self._args(port),
                stdout=self._log_fh,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=paths.sanitizer_env(),
            )
            with _LIVE_LOCK:
                LIVE.add(self)
            line = self._wait_listening(timeout)
            if line is not None:
                m = _PORT.search(line)
                self.port = int(m.group(1)) if m and int(m.group(1)) else port
                self.addr = "127.0.0.1:%d" % self.port
                try:
                    grpc.channel_ready_future(self.channel).result(timeout=timeout)
                except grpc.FutureTimeoutError:
                    raise RuntimeError("%s: port %d does not answer gRPC\n%s" % (self.name, self.port, self.log()))
                return self
            # exited before listening: a port race is worth another try, anything else not
            self.returncode = self.proc.wait()
            self._log_fh.close()
            self._append_memcheck_report()
            with _LIVE_LOCK:
                LIVE.discard(self)
            last = self.log()
            if "listen" in self.flags or not re.search(r"bind|address already in use|port", last, re.I):
                break
        raise RuntimeError("%s did not start (exit %s):\n%s" % (self.name, self.returncode, last[-6000:]))

    def _wait_listening(self, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for line in self.log().splitlines():
                if _LISTENING.search(line):
                    return line
            if self.proc.poll() is not None:
                return None
            time.sleep(0.05)
        self.proc.kill()
        self.proc.wait()
        raise RuntimeError("%s: no event=listening after %ss:\n%s" % (self.name, timeout, self.log()[-6000:]))

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig="TERM", timeout=60):
        """Signals the server and waits; returns its exit code (negative: killed by a signal)."""
        if self.proc is None:
            return self.returncode
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        if self.proc.poll() is None:
            self.proc.send_signal(getattr(signal, "SIG" + sig) if isinstance(sig, str) else sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self.returncode = "timeout"
        if self.returncode != "timeout":
            self.returncode = self.proc.returncode
        self._log_fh.close()
        self._append_memcheck_report()
        with _LIVE_LOCK:
            LIVE.discard(self)
        self.proc = None
        return self.returncode

    def wait(self, timeout=60):
        """Waits for the process to exit by itself; returns its exit code."""
        self.returncode = self.proc.wait(timeout=timeout)
        return self.stop()

    def _append_memcheck_report(self):
        """Under GS_VALGRIND, memcheck's report of a run that found something goes at the end
        of the server's log, where the clean-exit check and a failing test's log tail look."""
        report = self.logfile + ".memcheck"
        if not os.path.exists(report):
            return
        with open(report, "rb") as f:
            text = f.read().decode("utf-8", "replace")
        if self.returncode != 0 or paths.sanitizer_report(text) is not None:
            with open(self.logfile, "ab") as f:
                f.write(text.encode())

    def log(self):
        try:
            with open(self.logfile, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_lines(self, **match):
        """Parsed log lines whose keys equal the given values (e.g. method=..., request_id=...)."""
        out = []
        for line in self.log().splitlines():
            kv = parse_kv(line)
            if all(kv.get(k) == str(v) for k, v in match.items()):
                out.append(kv)
        return out

    def sanitizer_report(self):
        return paths.sanitizer_report(self.log())

    def start_server(self, **flags):
        """Another server on the same database (or db=...); the caller stops it."""
        return Server(self.env, **flags).start()

    # ---- tokens ----
    def token(self, login, ttl=3600, fresh=False):
        return self.env.token(login, ttl=ttl, fresh=fresh, conninfo=self.conninfo, keyring=self.keyring)

    # ---- calls ----
    @property
    def channel(self):
        if self._channel is None:
            self._channel = grpc.insecure_channel(
                self.addr,
                options=[
                    ("grpc.max_send_message_length", -1),
                    ("grpc.max_receive_message_length", -1),
                    ("grpc.enable_retries", 0),
                ],
            )
        return self._channel

    def _metadata(self, token, login, request_id, metadata):
        md = list(metadata)
        if login is not None:
            token = self.token(login)
        if token is not None:
            md.append(("authorization", "Bearer " + token))
        if request_id is None:
            request_id = uuid.uuid4().hex
        if request_id:
            md.append(("x-request-id", request_id))
        return md

    def call_raw(self, path, data, token=None, login=None, request_id=None, timeout=10, metadata=()):
        """Sends `data` bytes; returns (response bytes or None, grpc.StatusCode, details).
        request_id=None sends a fresh id, request_id="" (or False) sends none."""
        fn = self.channel.unary_unary(method_path(path))
        md = self._metadata(token, login, request_id, metadata)
        try:
            resp, call = fn.with_call(bytes(data), timeout=timeout, metadata=md)
            return resp, call.code(), call.details() or ""
        except grpc.RpcError as e:
            return None, e.code(), e.details() or ""

    def call(self, path, request, response_cls, token=None, login=None, request_id=None, timeout=10, metadata=()):
        """Unary call with messages; returns (response or None, grpc.StatusCode, details)."""
        raw, code, details = self.call_raw(
            path,
            request.SerializeToString(),
            token=token,
            login=login,
            request_id=request_id,
            timeout=timeout,
            metadata=metadata,
        )
        resp = response_cls.FromString(raw) if raw is not None and response_cls is not None else raw
        return resp, code, details

    def call_ok(self, path, request, response_cls, **kw):
        """Like call, but asserts the status is OK and returns the response."""
        resp, code, details = self.call(path, request, response_cls, **kw)
        assert code == grpc.StatusCode.OK, "%s → %s: %s" % (path, code, details)
        return resp

    def call_status(self, path, request, token=None, login=None, request_id=None, timeout=10, metadata=()):
        """Unary call expected to fail; returns (grpc.StatusCode, details, google.rpc.Status
        from the grpc-status-details-bin trailer or None)."""
        from google.rpc import status_pb2

        fn = self.channel.unary_unary(method_path(path))
        md = self._metadata(token, login, request_id, metadata)
        data = request if isinstance(request, (bytes, bytearray)) else request.SerializeToString()
        try:
            _, call = fn.with_call(bytes(data), timeout=timeout, metadata=md)
            trailers = call.trailing_metadata() or ()
            code, details = call.code(), call.details() or ""
        except grpc.RpcError as e:
            trailers = e.trailing_metadata() or ()
            code, details = e.code(), e.details() or ""
        raw = dict(trailers).get("grpc-status-details-bin")
        return code, details, status_pb2.Status.FromString(raw) if raw is not None else None

    def stream(self, path, request, response_cls, token=None, login=None, timeout=30, metadata=()):
        """Starts a server-streaming call; returns a Stream."""
        fn = self.channel.unary_stream(method_path(path))
        md = self._metadata(token, login, "", metadata)
        data = request if isinstance(request, (bytes, bytearray)) else request.SerializeToString()
        return Stream(fn(bytes(data), timeout=timeout, metadata=md), response_cls)

    def stream_collect(self, path, request, response_cls, count=None, timeout=10, **kw):
        """Reads up to `count` messages (all when None) then cancels; returns
        (messages, grpc.StatusCode, details)."""
        st = self.stream(path, request, response_cls, timeout=timeout, **kw)
        msgs = []
        try:
            for m in st:
                msgs.append(m)
                if count is not None and len(msgs) >= count:
                    st.cancel()
                    return msgs, grpc.StatusCode.OK, ""
            return msgs, st.code(), st.details() or ""
        except grpc.RpcError as e:
            return msgs, e.code(), e.details() or ""
