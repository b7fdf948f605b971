#!/usr/bin/env python3
# docs/bundle_vectors.py: recompute the actor-bundle test vector of docs/FORMAT.md section 8
# independently of the C code: a bundle holding one label entry and the end entry.
import hashlib
import struct


def entry(kind, name, data):
    n = name.encode()
    return (bytes([ord(kind)]) + struct.pack(">H", len(n)) + n + struct.pack(">Q", len(data)) +
            data + hashlib.sha256(data).digest())


body = b"EVBUNDL\x01" + entry("L", "counter-c", bytes(range(32)))
bundle = body + entry("E", "", hashlib.sha256(body).digest())
print(bundle.hex())
