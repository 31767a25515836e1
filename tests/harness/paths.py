"""Where the build and the sources are, and the small process helpers every module shares."""
import os
import shutil
import socket
import subprocess
import sys

SOURCE_DIR = os.path.abspath(
    os.environ.get("GS_SOURCE_DIR")
    or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
)


def _default_build_dir():
    for name in ("build", "build-tst"):
        d = os.path.join(SOURCE_DIR, name)
        if os.path.exists(os.path.join(d, "gridstockd")):
            return d
    return os.path.join(SOURCE_DIR, "build")


BUILD_DIR = os.path.abspath(os.environ.get("GS_BUILD_DIR") or _default_build_dir())
GRIDSTOCKD = os.path.join(BUILD_DIR, "gridstockd")
GRIDSTOCK_CLI = os.path.join(BUILD_DIR, "gridstock")
GEN_PY = os.path.join(BUILD_DIR, "gen_py")
PG_BIN = os.environ.get("GS_PG_BIN", "/usr/lib/postgresql/15/bin")
IS_ROOT = os.geteuid() == 0

# Generated messages: `from gridstock.v1 import directory_pb2`.
if GEN_PY not in sys.path:
    sys.path.insert(0, GEN_PY)


def free_port():
    """A TCP port on 127.0.0.1 that nobody listened on a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_tool(name):
    path = os.path.join(PG_BIN, name)
    return path if os.path.exists(path) else (shutil.which(name) or name)


def run(args, check=True, timeout=120, input=None, env=None):
    """Runs a command, returns CompletedProcess with text output; raises with the output."""
    p = subprocess.run(
        args,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    if check and p.returncode != 0:
        raise RuntimeError(
            "command failed (exit %d): %s\nstdout:\n%s\nstderr:\n%s"
            % (p.returncode, " ".join(args), p.stdout, p.stderr)
        )
    return p


def sanitizer_env(env=None):
    """Environment for processes of the build under test: LSan suppressions when present."""
    env = dict(os.environ if env is None else env)
    supp = os.path.join(SOURCE_DIR, "tests", "lsan.supp")
    if os.path.exists(supp) and "suppressions=" not in env.get("LSAN_OPTIONS", ""):
        opts = env.get("LSAN_OPTIONS", "")
        env["LSAN_OPTIONS"] = (opts + ":" if opts else "") + "suppressions=" + supp
    return env


# GS_VALGRIND=1: every server the harness starts (Server.start) runs under valgrind's
# memcheck, which writes to a file of its own beside the server's log (so the log stays
# the server's lines); an error or a definite leak makes it exit 99, and the server's stop
# appends memcheck's report to its log (docs/testing.md). Other gridstockd commands (token
# issue, check) run as they are.
VALGRIND = os.environ.get("GS_VALGRIND", "") not in ("", "0")


def valgrind_prefix(report_file):
    if not VALGRIND:
        return []
    supp = os.path.join(SOURCE_DIR, "tests", "valgrind.supp")
    return ["valgrind", "--tool=memcheck", "--error-exitcode=99", "--leak-check=full",
            "--show-leak-kinds=definite", "--errors-for-leak-kinds=definite", "--num-callers=30",
            "--suppressions=" + supp, "--log-file=" + report_file]


SANITIZER_MARKERS = (
    "ERROR: AddressSanitizer",
    "ERROR: LeakSanitizer",
    "runtime error:",
    "SUMMARY: UndefinedBehaviorSanitizer",
    "WARNING: ThreadSanitizer",
)


def sanitizer_report(text):
    """The first sanitizer (or valgrind) report line in a log, or None."""
    for line in text.splitlines():
        if any(m in line for m in SANITIZER_MARKERS):
            return line
        if line.startswith("==") and "ERROR SUMMARY:" in line and "ERROR SUMMARY: 0 errors" not in line:
            return line
    return None
