#!/usr/bin/env python3
# tests/crc.py: the tests' one CRC32C (docs/FORMAT.md section 4, src/store/disk_crc.c) and
# walk over a segment's frames, as a module and as a command.
#
# As a command, tests/crc.py SEGMENT N OFFSET: flip the low bit of one data byte of record N
# (0-based, counted from the first frame) of a chain directory's segment file, then fix that
# frame's record CRC32C and header CRC32C, so that the storage layer's checksums pass and only
# the chain's hashes can catch the change. OFFSET is into the record (negative: from its end).
# Copied from the testers' fault-hunt script /tmp/hunt-log/crc.py (export/show/log read such a
# chain unchecked); used by tests/cli_tamper.sh and tests/cli_hostile_text.sh.
#
# As a module (tests/idx.py; the Python of tests/cli_damage.sh and tests/cli_disk.sh, run as
# `PYTHONPATH=<tests dir> python3 -B`: -B keeps __pycache__ out of the source tree):
#   crc32c(bytes)  the Castagnoli CRC
#   frames(buf)    (offset, record length) of each whole frame header of a segment's bytes
#   LEN_MASK       a frame's len word without its SYNCED flag (bit 31, FORMAT.md section 4)
import struct, sys

LEN_MASK = 0x7FFFFFFF
SEG_HEADER = 24  # a segment's header; its first frame follows


def crc32c(b):
    c = 0xFFFFFFFF
    for x in b:
        c ^= x
        for _ in range(8):
            c = (c >> 1) ^ (0x82F63B78 if c & 1 else 0)
    return c ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283


def frames(b):
    """(offset, record length) of each frame of segment bytes b whose 12-byte header is
    whole (len word, record CRC, header CRC; the record follows), in order."""
    off = SEG_HEADER
    while off + 12 <= len(b):
        n = struct.unpack(">I", b[off:off + 4])[0] & LEN_MASK
        yield off, n
        off += 12 + n


def main(argv):
    path, target, reloff = argv[1], int(argv[2]), int(argv[3])
    b = bytearray(open(path, "rb").read())
    for n, (off, ln) in enumerate(frames(b)):
        if n == target:
            rec = off + 12
            b[rec + (reloff if reloff >= 0 else ln + reloff)] ^= 1
            b[off + 4:off + 8] = struct.pack(">I", crc32c(b[rec:rec + ln]))
            b[off + 8:off + 12] = struct.pack(">I", crc32c(b[off:off + 8]))
            break
    else:
        sys.exit("%s: no record %d" % (path, target))
    open(path, "wb").write(b)


if __name__ == "__main__":
    main(sys.argv)
