"""Holds one TLS connection to Postern and sends keep-alive requests on it until told to stop.

Usage: tls_hold_client.py HOST PORT SNI CAFILE PATH
Prints one line per request: "<status> <sha256 of the server certificate>". Stops when stdin closes or
reads "stop"; exits 1 if the connection breaks.
"""
import hashlib
import socket
import ssl
import sys
import threading
import time

host, port, sni, cafile, path = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
ctx = ssl.create_default_context(cafile=cafile)
ctx.set_alpn_protocols(["http/1.1"])
sock = ctx.wrap_socket(socket.create_connection((host, port), timeout=10), server_hostname=sni)
fingerprint = hashlib.sha256(sock.getpeercert(binary_form=True)).hexdigest()
stop = threading.Event()


def read_response(f):
    status = f.readline().split()[1].decode()
    length = 0
    while True:
        line = f.readline()
        if line in (b"\r\n", b""):
            break
        k, _, v = line.decode().partition(":")
        if k.strip().lower() == "content-length":
            length = int(v.strip())
    f.read(length)
    return status


def loop():
    f = sock.makefile("rb")
    try:
        while not stop.is_set():
            sock.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (path, sni)).encode())
            print(read_response(f), fingerprint, flush=True)
            time.sleep(0.02)
    except Exception as e:  # the test reads this line and fails
        print("ERROR", repr(e), flush=True)
        sys.exit(1)


t = threading.Thread(target=loop)
t.start()
for line in sys.stdin:
    if line.strip() == "stop":
        break
stop.set()
t.join()
sock.close()
