# tests/vectors/json/make_example.py: recomputes example.jsonl (FORMAT.md section 2) from
# the byte format alone (section 1 encoding, SHA-256), standard library only.
# Usage: python3 tests/vectors/json/make_example.py > example.jsonl
import base64, hashlib, json, struct


def encoding(seq, ts, parent, typ, desc, data):
    flags = (1 if parent else 0) | (2 if desc is not None else 0)
    b = b"evchain\x01" + bytes([1, flags]) + struct.pack(">QQ", seq, ts)
    if parent:
        b += parent
    t = typ.encode()
    b += struct.pack(">I", len(t)) + t
    if desc is not None:
        d = desc.encode()
        b += struct.pack(">I", len(d)) + d
    return b + struct.pack(">I", len(data)) + data


def u64(v):  # a number below 2^63, else a decimal string
    return str(v) if v < 2**63 else '"%d"' % v


events = [(1700000000000000000, "greeting", "first", b"hello"),
          (2**64 - 1, "bytes", None, b"\x00\x01\xff")]
print('{"evchain":1,"hash_alg":"sha256"}')
prev = None
for seq, (ts, typ, desc, data) in enumerate(events):
    h = hashlib.sha256(encoding(seq, ts, prev, typ, desc, data)).digest()
    print('{"seq":%d,"hash":"%s","parent_hash":%s,"event_type":%s,"timestamp":%s,'
          '"description":%s,"data":"%s"}' % (
              seq, h.hex(), "null" if prev is None else '"%s"' % prev.hex(),
              json.dumps(typ), u64(ts), "null" if desc is None else json.dumps(desc),
              base64.b64encode(data).decode()))
    prev = h
