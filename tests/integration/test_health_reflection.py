"""The two standard services, checked with python-grpcio as an independent client:
grpc.health.v1 (Check, Watch, the status following the database) and server reflection
v1 and v1alpha (list_services, file_by_filename, file_containing_symbol with every
dependency, errors in error_response, many requests on one stream). Message classes come
from protoc --python_out over our proto/grpc files, loaded by path (a `grpc` package
directory would clash with grpcio)."""
import importlib.util
import os
import re
import subprocess
import threading
import time
import types

import grpc
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from harness import paths

Code = grpc.StatusCode
PROTO_DIR = os.path.join(paths.SOURCE_DIR, "proto")
STD_PROTOS = (
    "grpc/health/v1/health.proto",
    "grpc/reflection/v1/reflection.proto",
    "grpc/reflection/v1alpha/reflection.proto",
)
HEALTH = "grpc.health.v1.Health"
REFLECTION = {
    "v1": "grpc.reflection.v1.ServerReflection",
    "v1alpha": "grpc.reflection.v1alpha.ServerReflection",
}


def _load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def pb(tmp_path_factory):
    """health_pb2 and both reflection_pb2 modules, generated now from proto/grpc."""
    out = tmp_path_factory.mktemp("std_pb2")
    paths.run(["protoc", "-I", PROTO_DIR, "--python_out", str(out)] + list(STD_PROTOS))
    gen = lambda p: os.path.join(str(out), p.replace(".proto", "_pb2.py"))  # noqa: E731
    return types.SimpleNamespace(
        health=_load(gen(STD_PROTOS[0]), "gs_std_health_pb2"),
        refl={
            "v1": _load(gen(STD_PROTOS[1]), "gs_std_reflection_v1_pb2"),
            "v1alpha": _load(gen(STD_PROTOS[2]), "gs_std_reflection_v1alpha_pb2"),
        },
    )


@pytest.fixture(scope="module")
def protoc_set(tmp_path_factory):
    """protoc's own FileDescriptorSet over every proto: file name → serialized bytes."""
    out = str(tmp_path_factory.mktemp("desc") / "all.desc")
    protos = []
    for root, _, files in os.walk(PROTO_DIR):
        protos += [os.path.relpath(os.path.join(root, f), PROTO_DIR) for f in files if f.endswith(".proto")]
    paths.run(["protoc", "-I", PROTO_DIR, "-I", "/usr/include", "--include_imports",
               "--descriptor_set_out", out] + sorted(protos))
    fds = descriptor_pb2.FileDescriptorSet()
    with open(out, "rb") as f:
        fds.ParseFromString(f.read())
    return {fd.name: fd.SerializeToString() for fd in fds.file}


def gridstock_services():
    """Full names of the services declared in proto/gridstock/v1/*.proto."""
    names = set()
    d = os.path.join(PROTO_DIR, "gridstock", "v1")
    for f in os.listdir(d):
        if f.endswith(".proto"):
            with open(os.path.join(d, f)) as fh:
                names |= {"gridstock.v1." + s for s in re.findall(r"^service\s+(\w+)", fh.read(), re.M)}
    return names


# ---- helpers ----

def check(server, pb, service, timeout=10):
    fn = server.channel.unary_unary(
        "/grpc.health.v1.Health/Check",
        request_serializer=pb.health.HealthCheckRequest.SerializeToString,
        response_deserializer=pb.health.HealthCheckResponse.FromString,
    )
    try:
        return fn(pb.health.HealthCheckRequest(service=service), timeout=timeout), Code.OK
    except grpc.RpcError as e:
        return None, e.code()


def watch(server, pb, service, timeout=30, channel=None):
    fn = (channel or server.channel).unary_stream(
        "/grpc.health.v1.Health/Watch",
        request_serializer=pb.health.HealthCheckRequest.SerializeToString,
        response_deserializer=pb.health.HealthCheckResponse.FromString,
    )
    return fn(pb.health.HealthCheckRequest(service=service), timeout=timeout)


def reflect(server, pb, version, requests, timeout=10):
    """Sends every request on one ServerReflectionInfo stream; returns the responses."""
    m = pb.refl[version]
    fn = server.channel.stream_stream(
        "/%s/ServerReflectionInfo" % REFLECTION[version],
        request_serializer=m.ServerReflectionRequest.SerializeToString,
        response_deserializer=m.ServerReflectionResponse.FromString,
    )
    reqs = [m.ServerReflectionRequest(host="localhost", **r) for r in requests]
    call = fn(iter(reqs), timeout=timeout)
    out = list(call)
    assert call.code() == Code.OK, call.details()
    assert len(out) == len(reqs)
    for req, resp in zip(reqs, out):
        assert resp.original_request == req
        assert resp.valid_host == "localhost"
    return out


def pool_from(files):
    """A fresh DescriptorPool holding the returned files (in any order)."""
    protos = [descriptor_pb2.FileDescriptorProto.FromString(b) for b in files]
    pool = descriptor_pool.DescriptorPool()
    pending = {p.name: p for p in protos}
    while pending:
        ready = [p for p in pending.values() if all(d not in pending for d in p.dependency)]
        assert ready, "import cycle or missing import among %s" % sorted(pending)
        for p in ready:
            pool.Add(p)
            del pending[p.name]
    return pool, protos


# ---- health ----

def test_check_overall_and_every_gridstock_service(server, pb):
    resp, code = check(server, pb, "")
    assert code == Code.OK
    assert resp.status == pb.health.HealthCheckResponse.SERVING
    services = gridstock_services()
    assert services
    for name in services:
        resp, code = check(server, pb, name)
        assert code == Code.OK, name
        assert resp.status == pb.health.HealthCheckResponse.SERVING, name


def test_check_unknown_service_is_not_found(server, pb):
    for name in ("no.such.Service", "gridstock.v1.NoSuchService", "gridstock.v1"):
        _, code = check(server, pb, name)
        assert code == Code.NOT_FOUND, name


def test_watch_sends_the_current_status_at_once(server, pb):
    call = watch(server, pb, "")
    t0 = time.monotonic()
    first = next(call)
    assert time.monotonic() - t0 < 3
    assert first.status == pb.health.HealthCheckResponse.SERVING
    call.cancel()


def test_watch_unknown_service_keeps_the_stream_open(server, pb):
    call = watch(server, pb, "no.such.Service", timeout=2)
    first = next(call)
    assert first.status == pb.health.HealthCheckResponse.SERVICE_UNKNOWN
    with pytest.raises(grpc.RpcError):
        next(call)
    # open until the client's own deadline, not ended by the server
    assert call.code() == Code.DEADLINE_EXCEEDED, call.details()


def test_many_watches_and_cancels_leave_the_server_well(server, pb):
    calls = [watch(server, pb, name) for name in ["", "gridstock.v1.SiteService", "nope"] * 10]
    for c in calls:
        assert next(c).status in (
            pb.health.HealthCheckResponse.SERVING,
            pb.health.HealthCheckResponse.SERVICE_UNKNOWN,
        )
        c.cancel()
    resp, code = check(server, pb, "")
    assert code == Code.OK and resp.status == pb.health.HealthCheckResponse.SERVING


def test_stop_ends_open_watches(server, pb):
    other = server.start_server()
    channel = grpc.insecure_channel(other.addr)  # stop() closes other.channel
    try:
        calls = [watch(other, pb, n, channel=channel) for n in ("", "gridstock.v1.SiteService", "nope")]
        for c in calls:
            next(c)
        code = other.stop()
    finally:
        if other.running():
            other.stop("KILL")
    assert code == 0, other.log()[-3000:]
    for c in calls:
        rest = []
        with pytest.raises(grpc.RpcError):
            for msg in c:
                rest.append(msg.status)
        assert c.code() == Code.UNAVAILABLE, (c.code(), c.details())
        assert set(rest) <= {pb.health.HealthCheckResponse.NOT_SERVING}
    channel.close()


# ---- reflection ----

@pytest.mark.parametrize("version", ["v1", "v1alpha"])
def test_list_services(server, pb, version):
    (resp,) = reflect(server, pb, version, [dict(list_services="")])
    names = [s.name for s in resp.list_services_response.service]
    assert len(names) == len(set(names))
    expected = gridstock_services() | {HEALTH} | set(REFLECTION.values())
    assert expected <= set(names)
    for name in names:
        assert name.startswith(("gridstock.v1.", "grpc.")), name


@pytest.mark.parametrize("version", ["v1", "v1alpha"])
def test_file_containing_symbol_resolves_every_service(server, pb, protoc_set, version):
    for name in sorted(gridstock_services() | {HEALTH} | set(REFLECTION.values())):
        (resp,) = reflect(server, pb, version, [dict(file_containing_symbol=name)])
        assert resp.WhichOneof("message_response") == "file_descriptor_response", resp
        files = list(resp.file_descriptor_response.file_descriptor_proto)
        pool, protos = pool_from(files)
        svc = pool.FindServiceByName(name)
        assert svc.file.name == protos[0].name  # the file itself comes first
        for m in svc.methods:
            assert m.input_type.full_name and m.output_type.full_name
            message_factory.MessageFactory(pool).GetPrototype(m.input_type)
        # each file is protoc's own serialization, byte for byte
        for p, raw in zip(protos, files):
            assert raw == protoc_set[p.name], p.name


@pytest.mark.parametrize("version", ["v1", "v1alpha"])
def test_symbols_with_leading_dot_methods_and_messages(server, pb, version):
    reqs = [
        dict(file_containing_symbol=".grpc.health.v1.Health"),
        dict(file_containing_symbol="grpc.health.v1.Health.Watch"),
        dict(file_containing_symbol="grpc.health.v1.HealthCheckResponse.ServingStatus"),
        dict(file_by_filename="grpc/health/v1/health.proto"),
    ]
    for resp in reflect(server, pb, version, reqs):
        files = resp.file_descriptor_response.file_descriptor_proto
        assert len(files) == 1
        assert descriptor_pb2.FileDescriptorProto.FromString(files[0]).name == "grpc/health/v1/health.proto"


@pytest.mark.parametrize("version", ["v1", "v1alpha"])
def test_errors_are_answers_and_the_stream_goes_on(server, pb, version):
    m = pb.refl[version]
    reqs = [
        dict(file_containing_symbol="no.such.Symbol"),
        dict(file_by_filename="no/such.proto"),
        dict(file_containing_extension=m.ExtensionRequest(containing_type="grpc.health.v1.HealthCheckRequest",
                                                          extension_number=100)),
        dict(all_extension_numbers_of_type="no.such.Type"),
        dict(all_extension_numbers_of_type="grpc.health.v1.HealthCheckRequest"),
        dict(list_services=""),
    ]
    out = reflect(server, pb, version, reqs)
    for resp in out[:4]:
        assert resp.WhichOneof("message_response") == "error_response", resp
        assert resp.error_response.error_code == Code.NOT_FOUND.value[0]
        assert resp.error_response.error_message
    ext = out[4].all_extension_numbers_response
    assert ext.base_type_name == "grpc.health.v1.HealthCheckRequest"
    assert list(ext.extension_number) == []
    assert out[5].WhichOneof("message_response") == "list_services_response"


def test_reflection_needs_no_token(server, pb):
    # no authorization metadata at all (reflect() sends none)
    (resp,) = reflect(server, pb, "v1", [dict(list_services="")])
    assert len(resp.list_services_response.service) >= 3


# ---- the status follows the database (last: it stops PostgreSQL for a while) ----

def test_watch_follows_the_database(server, pb, pg):
    serving = pb.health.HealthCheckResponse.SERVING
    not_serving = pb.health.HealthCheckResponse.NOT_SERVING
    call = watch(server, pb, "gridstock.v1.SiteService", timeout=120)
    assert next(call).status == serving
    seen = []
    done = threading.Event()

    def reader():
        try:
            for msg in call:
                seen.append(msg.status)
                if seen[-2:] == [not_serving, serving]:
                    break
        except grpc.RpcError:
            pass
        done.set()

    threading.Thread(target=reader, daemon=True).start()
    pg.stop()
    try:
        deadline = time.monotonic() + 60
        while not_serving not in seen and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not_serving in seen, "no NOT_SERVING within 60 s of stopping PostgreSQL"
        resp, code = check(server, pb, "")
        assert code == Code.OK and resp.status == not_serving
    finally:
        pg.start()
    assert done.wait(60), "no SERVING within 60 s of restarting PostgreSQL: %s" % seen
    assert seen[-2:] == [not_serving, serving]
    call.cancel()
    resp, code = check(server, pb, "")
    assert code == Code.OK and resp.status == serving
