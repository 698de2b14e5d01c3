# SPDX-License-Identifier: MIT
# The firmware classifier alone on given segment feature vectors (tests/test_detect_parity.py):
#   micropython run_classify.py IN.raw
# IN.raw: int32 little-endian vectors of NSEGF features each.  Prints "C class confidence"
# per vector: Detector._classify() on the vector, as a segment decision would compute it.
import gc
import sys
from array import array

from node import config

gc.collect()   # the detector's table is compiled from source here: it needs big free blocks
from node.detect import Detector  # noqa: E402


def main(path):
    det = Detector(config.validate({}))
    n = len(det.x)
    buf = array("i", bytes(4 * n))
    with open(path, "rb") as f:
        while f.readinto(buf) == 4 * n:
            for i in range(n):
                det.x[i] = buf[i]
            c = det._classify()
            print("C %d %d" % (c, det.conf))


main(sys.argv[1])
