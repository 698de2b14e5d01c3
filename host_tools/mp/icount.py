# SPDX-License-Identifier: MIT
# Work to count instructions of (host_tools.bench, under valgrind's callgrind): each mode is
# run twice, with and without the work, and the host takes the difference, so start-up and
# set-up cancel out.
#   micropython icount.py cal K                          K runs of the calibration loop
#   micropython icount.py dsp RATE FRAME HOP N           N frames of the DSP (bench_dsp's content)
#   micropython icount.py det IN.raw RATE FRAME HOP K    the DSP over a file, with the detector (K=1) or not
#   micropython icount.py clf N                          N classifier decisions (the table's trees)
import math
import sys
from array import array

from mpcal import CAL_N, cal_loop
from node import config
from node.dsp import DSP


def main(argv):
    mode = argv[1]
    if mode == "cal":
        for _ in range(int(argv[2])):
            cal_loop(CAL_N)
        return
    if mode == "dsp":
        cfg = config.validate({"rate": int(argv[2]), "frame": int(argv[3]), "hop": int(argv[4])})
        dsp = DSP(cfg)
        for i in range(cfg["frame"]):
            dsp.frame[i] = int(6000 * math.sin(i * 0.37)) + ((i * 7919) % 4001) - 2000
        for _ in range(int(argv[5])):
            dsp.process()
        return
    from node.detect import Detector
    if mode == "clf":
        det = Detector(config.validate({}))
        for i in range(len(det.x)):      # a mid-range feature vector: every tree walks to a leaf
            det.x[i] = 50 + 37 * i
        for _ in range(int(argv[2])):
            det._classify()
        return
    from hops import hops
    cfg = config.validate({"rate": int(argv[3]), "frame": int(argv[4]), "hop": int(argv[5])})
    dsp = DSP(cfg)
    det = Detector(cfg)                  # built in both runs: only update() differs
    on = int(argv[6])
    buf = array("h", bytes(2 * cfg["hop"]))
    frames = 0
    for _ in hops(argv[2], buf):
        if dsp.push_hop(buf):
            if on:
                det.update(dsp.out)
            frames += 1
    print("frames=%d" % frames)


main(sys.argv)
