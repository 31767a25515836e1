"""bench/loadgen against a test server: 200 calls of a directory read with 8 in flight end
with no errors, every call is counted, and the machine-readable result line is complete.
A smoke test of the benchmark machinery, never a timed test."""
import os
import re
import subprocess

import pytest

from harness import paths

LOADGEN = os.path.join(paths.BUILD_DIR, "bench", "loadgen")


def result_fields(stdout):
    lines = [l for l in stdout.splitlines() if l.startswith("result ")]
    assert len(lines) == 1, stdout
    return dict(re.findall(r"(\w+)=(\S+)", lines[0]))


def run_loadgen(server, *args, logins=("logi.district",), timeout=120):
    if not os.path.exists(LOADGEN):
        pytest.skip("bench/loadgen not built")
    argv = [LOADGEN, "--addr", server.addr]
    for login in logins:
        argv += ["--token", "%s=%s" % (login, server.token(login))]
    argv += [str(a) for a in args]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=paths.sanitizer_env())
    return p.returncode, p.stdout, p.stderr


def test_lists_its_scenarios():
    if not os.path.exists(LOADGEN):
        pytest.skip("bench/loadgen not built")
    p = subprocess.run([LOADGEN, "--list"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    names = [l.split()[0] for l in p.stdout.splitlines()]
    assert "site.get" in names and "stock.issue" in names and "stock.read" in names


@pytest.mark.parametrize("scenario", ["site.get", "catalog.list"])
def test_200_calls_without_errors(server, scenario):
    code, out, err = run_loadgen(server, "--inflight", 8, "--calls", 200, scenario)
    assert code == 0, out + err
    f = result_fields(out)
    assert f["scenario"] == scenario
    assert f["calls"] == "200" and f["iterations"] == "200"
    assert f["errors"] == "0", out
    assert float(f["calls_per_s"]) > 0
    assert 0 < float(f["p50_ms"]) <= float(f["p99_ms"]) <= float(f["max_ms"])


def test_errors_are_counted_by_status(server):
    """A token the server does not accept: every call fails UNAUTHENTICATED, loadgen says
    so and exits 2."""
    if not os.path.exists(LOADGEN):
        pytest.skip("bench/loadgen not built")
    argv = [LOADGEN, "--addr", server.addr, "--token", "logi.district=not-a-token",
            "--calls", 20, "--inflight", 4, "site.get"]
    p = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2, p.stdout + p.stderr
    f = result_fields(p.stdout)
    assert f["errors"] == "20" and f.get("err_UNAUTHENTICATED") == "20", p.stdout


def test_stock_issue_when_offered(server):
    """The write scenario with its set-up (a bench lot per reserve point and item), when the
    server offers StockService; skipped otherwise."""
    code, out, err = run_loadgen(server, "--inflight", 8, "--calls", 200, "stock.issue")
    if code == 3:
        pytest.skip("StockService not offered: " + out.strip())
    assert code == 0, out + err
    f = result_fields(out)
    assert f["calls"] == "200" and f["errors"] == "0", out
    assert f["units"] == "200"
