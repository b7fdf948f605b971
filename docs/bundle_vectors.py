#!/usr/bin/env python3
# docs/bundle_vectors.py: recompute the actor-bundle test vectors of docs/FORMAT.md section 8
# independently of the C code, one line each (name, then the bundle in hex):
#   label-only    version 1: one label entry and the end entry
#   sandbox-only  version 2: the sandbox entries of section 8's example, and the end entry
# `python3 docs/bundle_vectors.py --write DIR` writes them as DIR/<name>.bundle instead
# (tests/vectors/bundle/).
import hashlib
import struct
import sys


def entry(kind, name, data):
    n = name.encode()
    return (bytes([ord(kind)]) + struct.pack(">H", len(n)) + n + struct.pack(">Q", len(data)) +
            data + hashlib.sha256(data).digest())


def bundle(version, entries):
    body = b"EVBUNDL" + bytes([version]) + b"".join(entry(*e) for e in entries)
    return body + entry("E", "", hashlib.sha256(body).digest())


vectors = [
    ("label-only", bundle(1, [("L", "counter-c", bytes(range(32)))])),
    # The canonical order: "notes" before what is in it, and all of that before "notes-old"
    # ('/' sorts below '-'); every directory listed before the names beneath it.
    ("sandbox-only", bundle(2, [("D", "notes", b""), ("F", "notes/a.txt", b"hello\n"),
                                ("D", "notes/empty", b""), ("F", "notes-old", b"")])),
]

if len(sys.argv) == 3 and sys.argv[1] == "--write":
    for name, b in vectors:
        with open("%s/%s.bundle" % (sys.argv[2], name), "wb") as f:
            f.write(b)
else:
    for name, b in vectors:
        print(name, b.hex())
