"""rpcs.py — every RPC a running gridstockd offers, found by server reflection (not by reading
our .proto files): full path, streaming kind and request/response message classes built
from the descriptors the server returned."""
import os
import subprocess
import tempfile
import importlib.util

from google.protobuf import descriptor_pb2, descriptor_pool

try:
    from google.protobuf import message_factory

    def _cls(pool, desc):
        if hasattr(message_factory, "GetMessageClass"):
            return message_factory.GetMessageClass(desc)
        return message_factory.MessageFactory(pool).GetPrototype(desc)
except ImportError:  # pragma: no cover
    raise

REFLECTION = "grpc.reflection.v1.ServerReflection"
_REFL_MOD = None


def _reflection_pb2(source_dir):
    """grpc/reflection/v1/reflection.proto compiled now (python3-grpcio ships no copy)."""
    global _REFL_MOD
    if _REFL_MOD is None:
        out = tempfile.mkdtemp(prefix="gs-refl-")
        proto_dir = os.path.join(source_dir, "proto")
        subprocess.run(["protoc", "-I", proto_dir, "--python_out", out, "grpc/reflection/v1/reflection.proto"],
                       check=True, capture_output=True)
        path = os.path.join(out, "grpc", "reflection", "v1", "reflection_pb2.py")
        spec = importlib.util.spec_from_file_location("gs_authz_reflection_pb2", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        _REFL_MOD = mod
    return _REFL_MOD


class Rpc:
    def __init__(self, path, method, pool):
        self.path = path  # "/gridstock.v1.SiteService/ListSites"
        self.short = path[1:].replace("gridstock.v1.", "", 1)  # "SiteService/ListSites"
        self.client_streaming = method.client_streaming
        self.server_streaming = method.server_streaming
        self.request_cls = _cls(pool, method.input_type)
        self.response_cls = _cls(pool, method.output_type)

    @property
    def kind(self):
        if self.client_streaming:
            return "bidi"
        return "server_stream" if self.server_streaming else "unary"


def discover(channel, source_dir, timeout=20):
    """→ {short path: Rpc} for every service the server lists."""
    r = _reflection_pb2(source_dir)
    fn = channel.stream_stream("/%s/ServerReflectionInfo" % REFLECTION,
                               request_serializer=r.ServerReflectionRequest.SerializeToString,
                               response_deserializer=r.ServerReflectionResponse.FromString)
    (resp,) = list(fn(iter([r.ServerReflectionRequest(list_services="")]), timeout=timeout))
    services = [s.name for s in resp.list_services_response.service]
    reqs = [r.ServerReflectionRequest(file_containing_symbol=s) for s in services]
    files = {}
    for resp in fn(iter(reqs), timeout=timeout):
        for raw in resp.file_descriptor_response.file_descriptor_proto:
            fdp = descriptor_pb2.FileDescriptorProto.FromString(raw)
            files[fdp.name] = fdp
    pool = descriptor_pool.DescriptorPool()
    pending = dict(files)
    while pending:
        ready = [p for p in pending.values() if all(d not in pending for d in p.dependency)]
        if not ready:
            raise RuntimeError("reflection returned an incomplete file set: %s" % sorted(pending))
        for p in ready:
            pool.Add(p)
            del pending[p.name]
    out = {}
    for s in services:
        sd = pool.FindServiceByName(s)
        for md in sd.methods:
            rpc = Rpc("/%s/%s" % (s, md.name), md, pool)
            out[rpc.short] = rpc
    return out
