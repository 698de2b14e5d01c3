# SPDX-License-Identifier: MIT
# Runs the real firmware DSP + detector on the MicroPython unix port (host_tools.detect):
#   micropython run_detect.py IN.raw RATE FRAME HOP [bench|feat]
# IN.raw: int16 little-endian samples.  Prints one line per event record:
#   "E class onset dur peak conf shots update frame"
# then one summary line "frames=F alloc=B det_us=U [calib_ms=C]": B is the heap allocated
# inside Detector.update() on frames that emitted no event (must be 0), U the total time
# spent in Detector.update(); with "bench", the viper calibration loop (5,000,000
# iterations) is timed in the same run so the host can scale U to an ESP32.  With "feat",
# every classifier decision also prints "X frame f0 f1 ..." (the segment feature vector)
# and "C class confidence" (the classifier's answer).
import gc
import sys
import time
from array import array

from node import config
from node.dsp import DSP
from hops import hops

gc.collect()   # the detector's table is compiled from source here: it needs big free blocks
from node.detect import Detector  # noqa: E402

def main(argv):
    cfg = config.validate({"rate": int(argv[2]), "frame": int(argv[3]), "hop": int(argv[4])})
    bench = len(argv) > 5 and argv[5] == "bench"
    dsp = DSP(cfg)
    det = Detector(cfg)
    if len(argv) > 5 and argv[5] == "feat":
        classify = det._classify

        def traced():
            gc.collect()                  # the loop runs with the collector off
            print("X %d %s" % (det.t, " ".join(str(v) for v in det.x)))
            c = classify()
            print("C %d %d" % (c, det.conf))
            return c
        det._classify = traced
    hop = cfg["hop"]
    buf = array("h", bytes(2 * hop))
    out = dsp.out
    frames = 0
    used = 0
    det_us = 0
    for _ in hops(argv[1], buf):
        if not dsp.push_hop(buf):
            continue
        a0 = gc.mem_alloc()
        t0 = time.ticks_us()
        ev = det.update(out)
        det_us += time.ticks_diff(time.ticks_us(), t0)
        if ev is None:
            used += gc.mem_alloc() - a0
        else:
            print("E %d %d %d %d %d %d %d %d" % ev)
            gc.collect()
        frames += 1
    cal = ""
    if bench:
        from mpcal import calib_us        # imported late: the classifier table wants a contiguous heap block
        cal = " calib_us=%d" % calib_us()
    print("frames=%d alloc=%d det_us=%d%s" % (frames, used, det_us, cal))


main(sys.argv)
