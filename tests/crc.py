#!/usr/bin/env python3
# tests/crc.py SEGMENT N OFFSET: flip the low bit of one data byte of record N (0-based,
# counted from the first frame) of a chain directory's segment file, then fix that frame's
# record CRC32C and header CRC32C (docs/FORMAT.md section 4, src/store/disk_crc.c), so that
# the storage layer's checksums pass and only the chain's hashes can catch the change.
# OFFSET is into the record (negative: from its end). Copied from the testers' fault-hunt
# script /tmp/hunt-log/crc.py (export/show/log read such a chain unchecked); used by
# tests/cli_tamper.sh and tests/cli_hostile_text.sh.
import sys,struct
def crc32c(b):
    c=0xffffffff
    for x in b:
        c^=x
        for _ in range(8): c=(c>>1)^(0x82F63B78 if c&1 else 0)
    return c^0xffffffff
assert crc32c(b"123456789")==0xe3069283
path=sys.argv[1]; target=int(sys.argv[2]); reloff=int(sys.argv[3])
b=bytearray(open(path,'rb').read())
off=24; n=0
while off<len(b):
    ln,=struct.unpack('>I',b[off:off+4]); ln&=0x7fffffff  # without FORMAT 4's SYNCED flag
    if n==target:
        rec=off+12
        b[rec+(reloff if reloff>=0 else ln+reloff)]^=1
        b[off+4:off+8]=struct.pack('>I',crc32c(b[rec:rec+ln]))
        b[off+8:off+12]=struct.pack('>I',crc32c(b[off:off+8]))
        break
    off+=12+ln; n+=1
open(path,'wb').write(b)
