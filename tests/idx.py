#!/usr/bin/env python3
# tests/idx.py INDEX OP ...: rewrite a sealed segment's index file (seg-*.idx, docs/FORMAT.md
# section 4) with wrong contents but valid checksums (body CRC32C at byte 40, header CRC32C
# at byte 44 recomputed), as in the testers' report (fault hunt 2, /tmp/hunt2-st): an index
# is a cache, and a reader must notice it disagrees with its segment.
#   swap I J   exchange the frame offsets of local records I and J
#   count N    set the header's record count to N
# Used by tests/cli_tamper.sh.
import sys, struct
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from crc import crc32c  # tests/crc.py, beside this script (on sys.path as its directory)
path, op = sys.argv[1], sys.argv[2]
b = bytearray(open(path, 'rb').read())
if op == 'swap':
    i, j = int(sys.argv[3]), int(sys.argv[4])
    oi, oj = 48 + 4 * i, 48 + 4 * j
    b[oi:oi + 4], b[oj:oj + 4] = b[oj:oj + 4], b[oi:oi + 4]
elif op == 'count':
    b[16:24] = struct.pack('>Q', int(sys.argv[3]))
else:
    sys.exit('unknown op ' + op)
b[40:44] = struct.pack('>I', crc32c(b[48:]))
b[44:48] = struct.pack('>I', crc32c(b[:44]))
open(path, 'wb').write(b)
