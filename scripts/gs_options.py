"""gs_options.py — reads the method options of proto/gridstock/v1/options.proto (perm,
mutates, timeout_ms, public, no_db) and the permission names from a FileDescriptorSet or
FileDescriptorProto, without a compiled options module: the options are decoded from their
wire form. Used by scripts/gen_methods.py (the server's method tables), scripts/api_doc.py
(docs/api.md) and tests/authz (the authorization matrix), so all three read one declaration."""
import os
import re

PERM_NAME = 50000  # EnumValueOptions.perm_name
PERM, MUTATES, TIMEOUT_MS, PUBLIC, NO_DB, READS_OWN_WRITES = 50001, 50002, 50003, 50004, 50005, 50006


def _varint(buf, i):
    shift = value = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, i


def _fields(buf):
    """→ {field number: last value} of a serialized message (varints and byte strings)."""
    out, i = {}, 0
    while i < len(buf):
        tag, i = _varint(buf, i)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            out[number], i = _varint(buf, i)
        elif wire == 2:
            n, i = _varint(buf, i)
            out[number] = bytes(buf[i:i + n])
            i += n
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        else:
            raise ValueError("unsupported wire type %d in options" % wire)
    return out


def perms(fds):
    """→ [(C enum name, number, permission name)] of gridstock.v1.Perm, in number order."""
    for fd in fds.file:
        if fd.package != "gridstock.v1":
            continue
        for e in fd.enum_type:
            if e.name == "Perm":
                out = []
                for v in e.value:
                    name = _fields(v.options.SerializeToString()).get(PERM_NAME)
                    if name is None:
                        raise ValueError("Perm value %s has no perm_name" % v.name)
                    out.append((v.name, v.number, name.decode()))
                return sorted(out, key=lambda t: t[1])
    raise ValueError("descriptor set has no gridstock.v1.Perm (options.proto)")


class MethodOptions:
    def __init__(self, method, perm_table):
        f = _fields(method.options.SerializeToString())
        by_number = {n: (c, name) for c, n, name in perm_table}
        number = f.get(PERM, 0)
        self.perm_enum, self.perm = by_number[number] if number else (None, None)
        self.mutates = bool(f.get(MUTATES, 0))
        self.timeout_ms = f.get(TIMEOUT_MS, 0)
        self.public = bool(f.get(PUBLIC, 0))
        self.no_db = bool(f.get(NO_DB, 0))
        self.reads_own_writes = bool(f.get(READS_OWN_WRITES, 0))


def snake(camel):
    """CreateSite → create_site, OrgUnitService → org_unit_service."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", camel).lower()


def service_noun(service):
    """OrgUnitService → org_unit: the prefix of its handlers' names."""
    return snake(service[:-len("Service")] if service.endswith("Service") else service)


def handler_name(service, method):
    """The one naming rule for handlers: <service noun>_<method in snake case>."""
    return "%s_%s" % (service_noun(service), snake(method))


def descriptor_set(source_dir):
    """The FileDescriptorSet of every .proto under <source_dir>/proto, compiled now."""
    import subprocess
    import tempfile

    from google.protobuf import descriptor_pb2

    proto = os.path.join(source_dir, "proto")
    files = sorted(os.path.relpath(os.path.join(d, f), proto)
                   for d, _, names in os.walk(proto) for f in names if f.endswith(".proto"))
    with tempfile.TemporaryDirectory(prefix="gs-desc-") as tmp:
        out = os.path.join(tmp, "set.pb")
        subprocess.run(["protoc", "-I", proto, "-I", "/usr/include", "--include_imports",
                        "--descriptor_set_out", out] + files, check=True, capture_output=True)
        fds = descriptor_pb2.FileDescriptorSet()
        with open(out, "rb") as f:
            fds.ParseFromString(f.read())
    return fds


def methods(fds):
    """→ {"<Service>/<Method>": MethodOptions} for gridstock services, and
    {"<package>.<Service>/<Method>": MethodOptions} for the others (health, reflection)."""
    perm_table = perms(fds)
    out = {}
    for fd in fds.file:
        for s in fd.service:
            prefix = "" if fd.package == "gridstock.v1" else fd.package + "."
            for m in s.method:
                out["%s%s/%s" % (prefix, s.name, m.name)] = MethodOptions(m, perm_table)
    return out
