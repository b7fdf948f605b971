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
