#!/usr/bin/env python3
# tests/vectors/c2sp/note_vectors.py: recomputes with Python's hashlib and the `cryptography`
# package (nothing from evchain) the signed-note vector tests/test_note.c embeds: a key from a
# fixed seed, its key ID, private and verifier key texts, and a signed checkpoint. Ed25519 is
# deterministic, so evchain must reproduce the note byte for byte.
import base64, hashlib, struct
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives import serialization

name = "evchain.test/vector"
seed = bytes(range(32))
sk = Ed25519PrivateKey.from_private_bytes(seed)
pub = sk.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
kid = hashlib.sha256(name.encode() + b"\n" + b"\x01" + pub).digest()[:4]
b64 = lambda b: base64.b64encode(b).decode()
print("skey PRIVATE+KEY+%s+%s+%s" % (name, kid.hex(), b64(b"\x01" + seed)))
print("vkey %s+%s+%s" % (name, kid.hex(), b64(b"\x01" + pub)))
root = hashlib.sha256(b"").digest()
text = "%s\n%d\n%s\n" % (name, 0, b64(root))
sig = sk.sign(text.encode())
note = text + "\n" + "\u2014 %s %s\n" % (name, b64(kid + sig))
print("note", repr(note))

# The chain tests/vectors/json/example.jsonl (two SHA-256 events), its RFC 9162 tree (leaf
# data = event hash), the checkpoint this key signs for it and the tlog-proof of event 1
# without extra data: written as evchain-example.checkpoint and evchain-example-1.tlog-proof
# when run with the argument "write" from this folder.
import json, sys
events = [json.loads(l) for l in open("../json/example.jsonl").read().splitlines()[1:]]
D = [bytes.fromhex(e["hash"]) for e in events]
L = [hashlib.sha256(b"\x00" + d).digest() for d in D]
root2 = hashlib.sha256(b"\x01" + L[0] + L[1]).digest()
text2 = "%s\n2\n%s\n" % (name, b64(root2))
note2 = text2 + "\n" + "\u2014 %s %s\n" % (name, b64(kid + sk.sign(text2.encode())))
proof1 = "c2sp.org/tlog-proof@v1\nindex 1\n%s\n\n%s" % (b64(L[0]), note2)
print("leaves", L[0].hex(), L[1].hex(), "root", root2.hex())
if sys.argv[1:] == ["write"]:
    open("evchain-example.checkpoint", "w").write(note2)
    open("evchain-example-1.tlog-proof", "w").write(proof1)
