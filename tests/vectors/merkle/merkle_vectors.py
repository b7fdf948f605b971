#!/usr/bin/env python3
# tests/vectors/merkle/merkle_vectors.py: recomputes, with Python's hashlib and nothing from
# evchain, the RFC 9162 vectors that tests/test_merkle.c embeds (roots, inclusion paths and
# consistency proofs over the RFC 6962 test leaves used by certificate-transparency tools).
import hashlib

LEAVES = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
          "606162636465666768696a6b6c6d6e6f"]
D = [bytes.fromhex(x) for x in LEAVES]

def h(b): return hashlib.sha256(b).digest()
def mth(d):
    n = len(d)
    if n == 0: return h(b"")
    if n == 1: return h(b"\x00" + d[0])
    k = 1
    while k * 2 < n: k *= 2
    return h(b"\x01" + mth(d[:k]) + mth(d[k:]))
def path(m, d):
    n = len(d)
    if n <= 1: return []
    k = 1
    while k * 2 < n: k *= 2
    if m < k: return path(m, d[:k]) + [mth(d[k:])]
    return path(m - k, d[k:]) + [mth(d[:k])]
def subproof(m, d, b):
    n = len(d)
    if m == n: return [] if b else [mth(d)]
    k = 1
    while k * 2 < n: k *= 2
    if m <= k: return subproof(m, d[:k], b) + [mth(d[k:])]
    return subproof(m - k, d[k:], False) + [mth(d[:k])]

if __name__ == "__main__":
    for n in range(1, 9):
        print("root", n, mth(D[:n]).hex())
    for (m, n) in [(0, 1), (0, 8), (5, 8), (2, 3), (6, 8), (3, 7)]:
        print("path", m, n, " ".join(x.hex() for x in path(m, D[:n])))
    for (m, n) in [(1, 8), (6, 8), (2, 5), (3, 7), (4, 8), (7, 8)]:
        print("consistency", m, n, " ".join(x.hex() for x in subproof(m, D[:n], True)))
