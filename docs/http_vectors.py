#!/usr/bin/env python3
"""docs/http_vectors.py: recompute the HTTP payload test vectors of docs/FORMAT.md section 7
from the specification alone (standard library only), independently of the C encoder.

    python3 docs/http_vectors.py            # print name and hex of each vector
    python3 docs/http_vectors.py --check F  # compare with a vectors file (tests/vectors/http.txt)
"""
import struct
import sys

MAGIC = b"evhttp"
VERSION = 1


def s(b):
    b = b if isinstance(b, bytes) else b.encode("utf-8")
    return struct.pack(">I", len(b)) + b


def headers(hs):
    out = struct.pack(">I", len(hs))
    for name, value in hs:
        out += s(name) + s(value)
    return out


def head(kind):
    return MAGIC + bytes([VERSION, kind])


def request(method, target, hs, body):
    return head(1) + s(method) + s(target) + headers(hs) + s(body)


def response(status, hs, body):
    return head(2) + struct.pack(">H", status) + headers(hs) + s(body)


def refusal(status, reason, method, target, hs):
    return head(3) + struct.pack(">H", status) + s(reason) + s(method) + s(target) + headers(hs)


def client_request(method, url, hs, body):
    return head(4) + s(method) + s(url) + headers(hs) + s(body)


def client_error(kind, message):
    return head(5) + bytes([kind]) + s(message)


VECTORS = [
    ("request", request("GET", "/kv/greeting?lang=en",
                        [("Host", "127.0.0.1:8080"), ("Accept", "application/json")], b"")),
    ("response", response(201, [("Content-Type", "application/json")], b'{"ok":true}')),
    ("refusal", refusal(413, "413 Payload Too Large: body of 2000000 bytes over the limit of "
                        "1048576 bytes", "POST", "/upload",
                        [("Host", "a"), ("Content-Length", "2000000")])),
    ("client-request", client_request("POST", "http://127.0.0.1:9000/sum",
                                      [("Content-Type", "text/plain")], b"1 2 3")),
    ("client-error", client_error(4, "host example.com port 80 is not on the allow-list: "
                                     "nothing was sent")),
    ("response-binary", response(200, [("X-Empty", ""), ("X-Latin1", b"caf\xe9")],
                                 bytes([0, 1, 2, 0xff]))),
]


def main():
    lines = ["%s %s" % (name, data.hex()) for name, data in VECTORS]
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        with open(sys.argv[2]) as f:
            have = [l.strip() for l in f if l.strip() and not l.startswith("#")]
        if have != lines:
            print("vectors differ from the specification")
            return 1
        print("%d vectors match" % len(lines))
        return 0
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
