"""A real gRPC client (python3-grpcio, Debian) for the end-to-end tests. Calls GrpcEcho methods through Postern with
raw bytes (no generated stubs: EchoRequest is empty) and prints one line per call: the status code name and, on OK,
whether the response names the method and the pod."""
import sys

import grpc

target, authority, pod = sys.argv[1], sys.argv[2], sys.argv[3]
service = "gateway_api_conformance.echo_basic.grpcecho.GrpcEcho"
channel = grpc.insecure_channel(target, options=[("grpc.default_authority", authority)])
for method in sys.argv[4:]:
    call = channel.unary_unary("/%s/%s" % (service, method), request_serializer=lambda b: b,
                               response_deserializer=lambda b: b)
    try:
        resp = call(b"", timeout=10, metadata=[("x-test", "postern")])
        ok = ("/%s/%s" % (service, method)).encode() in resp and pod.encode() in resp and b"x-test" in resp
        print("%s OK %s" % (method, "match" if ok else "MISMATCH"))
    except grpc.RpcError as e:
        print("%s %s" % (method, e.code().name))
