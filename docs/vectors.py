#!/usr/bin/env python3
"""Recompute the event-record test vectors of docs/FORMAT.md section 1 from the spec alone
(standard library only). Prints each vector's encoding (hex) and hash."""
import hashlib
import struct

ALGS = {"sha256": (1, hashlib.sha256), "sha1": (2, hashlib.sha1)}


def encode(alg, seq, ts, parent, etype, desc, data):
    code, _ = ALGS[alg]
    flags = (1 if parent is not None else 0) | (2 if desc is not None else 0)
    out = b"evchain\x01" + bytes([code, flags]) + struct.pack(">QQ", seq, ts)
    if parent is not None:
        out += parent
    t = etype.encode("utf-8")
    out += struct.pack(">I", len(t)) + t
    if desc is not None:
        d = desc.encode("utf-8")
        out += struct.pack(">I", len(d)) + d
    return out + struct.pack(">I", len(data)) + data


def vectors():
    """The three vectors: each later one links to the one before it."""
    v = []
    e1 = encode("sha256", 0, 1764115200000000000, None, "runtime/start",
                "actor started", b'{"actor":"counter"}')
    h1 = hashlib.sha256(e1).digest()
    v.append(("1: first event (no parent), SHA-256", e1, h1))
    e2 = encode("sha256", 1, 1764115200000000001, h1, "timer/tick", None, b"")
    h2 = hashlib.sha256(e2).digest()
    v.append(("2: empty data, no description, SHA-256", e2, h2))
    e3 = encode("sha256", 2, 1764115200000000002, h2, "message/reçu",
                "Grüße, 世界 ✓", bytes([0, 1, 2, 255]))
    h3 = hashlib.sha256(e3).digest()
    v.append(("3: non-ASCII type and description, binary data, SHA-256", e3, h3))
    e4 = encode("sha1", 0, 0, None, "audit/login", "", b"alice")
    h4 = hashlib.sha1(e4).digest()
    v.append(("4: SHA-1 chain, empty (present) description", e4, h4))
    return v


if __name__ == "__main__":
    for name, enc, h in vectors():
        print(f"vector {name}\n  encoding: {enc.hex()}\n  hash:     {h.hex()}\n")
