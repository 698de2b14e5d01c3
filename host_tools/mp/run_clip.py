# SPDX-License-Identifier: MIT
# Runs the node's clip coder (firmware/node/clip.py) on the MicroPython unix port:
#   micropython run_clip.py IN.raw OUT.bin RATE HOP BLOCKS
# IN.raw: int16 little-endian samples, BLOCKS hops of them pushed hop by hop as the audio task does.  OUT.bin:
# per block, the coder's state before it (int32: pred << 8 | index) and its hop/4 bytes.
# Prints "blocks=N alloc=B": B is the heap allocated inside Clips.push() over the run.
import gc
import sys
from array import array

from node import config
from node.clip import Clips
from hops import hops


def main(argv):
    cfg = config.validate({"rate": int(argv[3]), "hop": int(argv[4]), "frame": max(512, int(argv[4])),
                           "clip_ms": 2000})
    cl = Clips(cfg)
    hop = cfg["hop"]
    buf = array("h", bytes(2 * hop))
    nblk = int(argv[5])
    rec = 4 + cl.bb
    out = bytearray(nblk * rec)         # all blocks, written at the end: nothing allocated in the loop
    index = 0
    used = 0
    n = 0
    for _ in hops(argv[1], buf):
        if n == nblk:                   # the rest of the file is not wanted (the loop still ends
            continue                    # at its end, so that hops() turns the collector back on)
        a0 = gc.mem_alloc()
        cl.push(buf, index)
        used += gc.mem_alloc() - a0
        s = cl.wp - 1 if cl.wp else cl.nb - 1
        v = cl.bst[s]                   # byte by byte: the collector is off (hops()), nothing may allocate
        for i in range(4):
            out[n * rec + i] = v >> (8 * i) & 0xFF
        piece, o = cl.ring[s // cl.per], (s % cl.per) * cl.bb
        for i in range(cl.bb):
            out[n * rec + 4 + i] = piece[o + i]
        index += hop
        n += 1
    with open(argv[2], "wb") as fo:
        fo.write(memoryview(out)[:n * rec])
    print("blocks=%d alloc=%d" % (n, used))


main(sys.argv)
