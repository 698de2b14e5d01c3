# SPDX-License-Identifier: MIT
# Runs the real firmware DSP on the MicroPython unix port (started by host_tools.fwrun):
#   micropython run_dsp.py IN.raw OUT.raw RATE FRAME HOP
# IN.raw: int16 little-endian samples; OUT.raw: int32 features, NFEAT per frame.
# Reads hop by hop into one preallocated buffer, exactly as the node's audio task does.
# Prints one line "frames=F alloc=B ..." at the end: B is the heap allocated inside
# DSP.push_hop() over the whole run (file I/O around it is not counted).
import gc
import sys
from array import array

from node import config, consts
from node.dsp import DSP
from hops import hops


def main(argv):
    src, dst = argv[1], argv[2]
    cfg = config.validate({"rate": int(argv[3]), "frame": int(argv[4]), "hop": int(argv[5])})
    dsp = DSP(cfg)
    hop = cfg["hop"]
    buf = array("h", bytes(2 * hop))
    outb = memoryview(dsp.out)
    frames = 0
    used = 0
    with open(dst, "wb") as fo:
        for _ in hops(src, buf):
            a0 = gc.mem_alloc()
            ready = dsp.push_hop(buf)
            used += gc.mem_alloc() - a0
            if ready:
                fo.write(outb)
                frames += 1
    print("frames=%d alloc=%d nfeat=%d" % (frames, used, consts.NFEAT))


main(sys.argv)
