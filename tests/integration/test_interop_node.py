"""Interop: a grpc-js client (tests/interop/interop.js) that knows gridstock only through
server reflection calls health, reflection and a directory RPC on a real server, and reads
the rich error details of a refused call with googleapis' own protos."""
import glob
import json
import os
import re
import shutil
import subprocess

import pytest

from harness import paths

INTEROP_DIR = os.path.join(paths.SOURCE_DIR, "tests", "interop")


def _node_modules():
    """tests/interop/node_modules when installed there, else `npm ci` into the build dir."""
    local = os.path.join(INTEROP_DIR, "node_modules")
    deps = json.load(open(os.path.join(INTEROP_DIR, "package.json")))["dependencies"]
    if all(os.path.isdir(os.path.join(local, d)) for d in deps):
        return local
    target = os.path.join(paths.BUILD_DIR, "interop")
    modules = os.path.join(target, "node_modules")
    stamp = os.path.join(target, "package-lock.json")
    lock = os.path.join(INTEROP_DIR, "package-lock.json")
    fresh = os.path.exists(stamp) and open(stamp).read() == open(lock).read()
    if not (fresh and all(os.path.isdir(os.path.join(modules, d)) for d in deps)):
        npm = shutil.which("npm")
        if not npm:
            pytest.skip("npm not found")
        os.makedirs(target, exist_ok=True)
        for f in ("package.json", "package-lock.json"):
            shutil.copy(os.path.join(INTEROP_DIR, f), target)
        p = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
            cwd=target,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if p.returncode != 0:
            pytest.skip("npm ci failed (no registry?): " + p.stderr[-500:])
    return modules


def _gridstock_services():
    names = []
    for f in sorted(glob.glob(os.path.join(paths.SOURCE_DIR, "proto", "gridstock", "v1", "*.proto"))):
        with open(f) as fh:
            names += ["gridstock.v1." + m for m in re.findall(r"^service\s+(\w+)", fh.read(), re.M)]
    return names


def test_grpc_js_client(server):
    node = shutil.which("node")
    if not node:
        pytest.skip("node not found")
    env = dict(os.environ)
    env.update(
        GS_ADDR=server.addr,
        GS_TOKEN=server.token("admin"),
        GS_PROTO_DIR=os.path.join(paths.SOURCE_DIR, "proto"),
        GS_EXPECTED_SERVICES=",".join(_gridstock_services()),
        NODE_PATH=_node_modules(),
    )
    p = subprocess.run(
        [node, "--test", "--test-reporter=spec", os.path.join(INTEROP_DIR, "interop.js")],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert p.returncode == 0, "interop.js failed:\n%s\n%s" % (p.stdout, p.stderr)
    assert re.search(r"^ℹ fail 0$", p.stdout, re.M), p.stdout
    assert re.search(r"^ℹ pass [1-9]", p.stdout, re.M), p.stdout
    assert "carries google.rpc.Status details" in p.stdout, p.stdout
    print(p.stdout)
