#!/usr/bin/python3
"""make_seeds.py — writes the seed corpora of the fuzz targets under tests/fuzz/corpus/ from
real messages: every method's request as the authorization matrix builds it (sample
values in place of its placeholders), prefixed by the method index the targets use
(gs_service_descriptors order, <build>/gen/gs_services.c, × declaration order); valid and
broken tokens signed with the targets' fixed key; metadata pairs; JSON texts of the same requests.

usage: GS_BUILD_DIR=<build> tests/fuzz/make_seeds.py"""
import base64
import hashlib
import hmac
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.abspath(os.path.join(HERE, "..", ".."))
BUILD = os.environ.get("GS_BUILD_DIR", os.path.join(SRC, "build"))
sys.path.insert(0, os.path.join(BUILD, "gen_py"))
sys.path.insert(0, os.path.join(SRC, "tests", "authz"))

from google.protobuf import json_format, symbol_database  # noqa: E402
import importlib  # noqa: E402
import spec  # noqa: E402

for f in sorted(os.listdir(os.path.join(BUILD, "gen_py", "gridstock", "v1"))):
    if f.endswith("_pb2.py"):
        importlib.import_module("gridstock.v1." + f[:-3])
POOL = symbol_database.Default().pool

SAMPLE = {"ou_code": "CM01", "grid_code": "GR001", "compound_code": "CP001", "site_code": "RP01",
          "site2_code": "CS01", "site_no_stocktake": "RP01", "fund_code": "GF-GR001", "source_code": "SRC-1",
          "payee_code": "PAYEE-1", "new_code": "NEW-1", "new_login": "new.user"}


def resolve(t):
    if isinstance(t, dict):
        return {k: resolve(v) for k, v in t.items()}
    if isinstance(t, list):
        return [resolve(v) for v in t]
    if isinstance(t, str) and t.startswith("$"):
        return SAMPLE.get(t[1:], 12)
    return t


def methods():
    """(index, full service name, method descriptor) in the targets' order."""
    text = open(os.path.join(BUILD, "gen", "gs_services.c")).read()
    body = text[text.index("gs_service_descriptors[]"):]
    out = []
    for m in re.finditer(r"&(\w+)__descriptor", body):
        parts = m.group(1).split("__")
        pkg = ".".join(parts[:-1])
        svc = "".join(w.capitalize() for w in parts[-1].split("_"))
        if svc == "Health":
            full = "grpc.health.v1.Health"
        else:
            full = pkg + "." + svc
        if full == "grpc.health.v1.Health":  # no Python module: Check and Watch, empty requests
            out += [(len(out), full, None), (len(out) + 1, full, None)]
            continue
        try:
            sd = POOL.FindServiceByName(full)
        except KeyError:
            sys.stderr.write("make_seeds: %s not in gen_py (skipped, indexes after it shift)\n" % full)
            continue
        for md in sd.methods:
            out.append((len(out), full, md))
    return out


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=")


def token(key, kid, claims, header=None):
    h = b64(json.dumps(header or {"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    p = b64(json.dumps(claims).encode())
    sig = hmac.new(key, h + b"." + p, hashlib.sha256).digest()
    return h + b"." + p + b"." + b64(sig)


def main():
    from google.protobuf import message_factory

    ms = methods()
    n = 0
    for idx, full, md in ms:
        if md is None:
            write("fuzz_request", "%03d-health" % idx, bytes([idx >> 8, idx & 0xFF]))
            continue
        short = full.replace("gridstock.v1.", "") + "/" + md.name
        tmpl = spec.M.get(short, (None, None, {}))[2] if short in spec.M else {}
        cls = message_factory.MessageFactory(POOL).GetPrototype(md.input_type) \
            if not hasattr(message_factory, "GetMessageClass") else message_factory.GetMessageClass(md.input_type)
        try:
            msg = json_format.ParseDict(resolve(tmpl), cls())
        except json_format.ParseError:
            msg = cls()
        prefix = bytes([idx >> 8, idx & 0xFF])
        write("fuzz_request", "%03d-%s" % (idx, md.name), prefix + msg.SerializeToString())
        j = json_format.MessageToJson(msg, preserving_proto_field_name=True).encode()
        t = 2 * idx
        write("fuzz_pbjson", "%03d-%s.json" % (idx, md.name), bytes([t >> 8, t & 0xFF]) + j)
        n += 1
    key1 = bytes(range(32))
    key0 = bytes(range(0xF0, 0x100)) + bytes(range(16))
    claims = {"sub": "admin", "uid": 1, "role": "admin", "scope": 1, "iat": 1700000000, "exp": 1900000000,
              "jti": "0123456789abcdef"}
    toks = {
        "valid-k1": token(key1, "k1", claims),
        "valid-k0": token(key0, "k0", claims),
        "expired": token(key1, "k1", dict(claims, exp=1700000001)),
        "future-iat": token(key1, "k1", dict(claims, iat=1900000000)),
        "unknown-kid": token(key1, "k9", claims),
        "alg-none": token(key1, "k1", claims, {"alg": "none", "typ": "JWT", "kid": "k1"}),
        "missing-claim": token(key1, "k1", {k: v for k, v in claims.items() if k != "role"}),
        "long-sub": token(key1, "k1", dict(claims, sub="s" * 200)),
        "string-uid": token(key1, "k1", dict(claims, uid="1")),
        "two-parts": b"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0",
    }
    for name, t in toks.items():
        write("fuzz_token", name, t)
        write("fuzz_metadata", name, b"Bearer " + t + b"\x00req-" + name.encode())
    write("fuzz_metadata", "basic", b"Basic YWRtaW46YWRtaW4=\x00r1")
    write("fuzz_metadata", "rid-utf8", b"bearer x\x00\xe8\xaf\xb7\xe6\xb1\x82-1")
    write("fuzz_metadata", "rid-long", b"Bearer x\x00" + b"r" * 129)
    write("fuzz_metadata", "rid-bad-utf8", b"Bearer x\x00\xc3\x28")
    print("seeds: %d methods" % n)


if __name__ == "__main__":
    main()
