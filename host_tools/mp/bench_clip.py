# SPDX-License-Identifier: MIT
# Times the node's clip coder (node/clip.py: halfband + IMA ADPCM, one hop per push) on the
# MicroPython unix port:  micropython bench_clip.py RATE HOP CLIP_MS
# Prints one JSON line: push_us_unix (one hop), calib_loop_ms_unix, ring_bytes (the ring's
# pieces), heap_bytes (what Clips() allocated).
import gc
import json
import sys
from array import array

from mpcal import best_us, calib_us
from node import config
from node.clip import Clips


def main(argv):
    cfg = config.validate({"rate": int(argv[1]), "hop": int(argv[2]), "clip_ms": int(argv[3])})
    gc.collect()
    a0 = gc.mem_alloc()
    cl = Clips(cfg)
    gc.collect()
    heap = gc.mem_alloc() - a0
    hop = array("h", (((i * 7919) % 20000) - 10000 for i in range(cfg["hop"])))
    state = [0]

    def one():
        cl.push(hop, state[0])
        state[0] += cfg["hop"]

    cal = calib_us()
    us = best_us(one, 200)
    print(json.dumps({"push_us_unix": us, "calib_loop_ms_unix": min(cal, calib_us()) / 1000.0, "heap_bytes": heap,
                      "ring_bytes": sum(len(p) for p in cl.ring)}))


main(sys.argv)
