# SPDX-License-Identifier: MIT
# DSP benchmark on the MicroPython unix port (run by host_tools.bench):
#   micropython bench_dsp.py RATE FRAME HOP [float]
# Prints one JSON line.  With "float" only the plain float FFT is timed, in a run of
# its own (its boxed floats need the heap the DSP would otherwise hold).  Every time is the best of several repeats, and the viper
# calibration loop is timed in the same run so the host can scale to an ESP32.
import gc
import json
import math
import sys

from mpcal import best_us, calib_us

gc.collect()
_HEAP0 = gc.mem_alloc()
from node import config                 # noqa: E402  (heap measured around the imports)
from node.dsp import DSP                # noqa: E402

def float_fft(re, im):
    # what a user writes first: recursive-free radix-2 complex FFT on float lists
    n = len(re)
    j = 0
    for i in range(1, n):
        bit = n >> 1
        while j & bit:
            j ^= bit
            bit >>= 1
        j |= bit
        if i < j:
            re[i], re[j] = re[j], re[i]
            im[i], im[j] = im[j], im[i]
    size = 2
    while size <= n:
        ang = -2 * math.pi / size
        for start in range(0, n, size):
            for k in range(size // 2):
                wr, wi = math.cos(ang * k), math.sin(ang * k)
                a, b = start + k, start + k + size // 2
                tr = re[b] * wr - im[b] * wi
                ti = re[b] * wi + im[b] * wr
                re[b], im[b] = re[a] - tr, im[a] - ti
                re[a], im[a] = re[a] + tr, im[a] + ti
        size <<= 1


def float_main(n):
    # the float FFT boxes every value on the heap; on an ESP32-sized heap it may not
    # even fit, which is reported (None) rather than hidden
    re = [6000 * math.sin(i * 0.37) + ((i * 7919) % 4001) - 2000 for i in range(n)]
    im = [0.0] * n

    def ffloat():
        gc.collect()
        r2 = list(re)
        i2 = list(im)
        float_fft(r2, i2)
    try:
        us = best_us(ffloat, 3, 3)
    except MemoryError:
        us = None
    print(json.dumps({"float_fft_us_unix": us}))


def main(argv):
    if len(argv) > 4 and argv[4] == "float":
        return float_main(int(argv[2]))
    cfg = config.validate({"rate": int(argv[1]), "frame": int(argv[2]), "hop": int(argv[3])})
    dsp = DSP(cfg)
    gc.collect()
    heap = gc.mem_alloc() - _HEAP0
    n = cfg["frame"]
    for i in range(n):        # street-like content: tone + pseudo-noise, so no stage is trivial
        dsp.frame[i] = int(6000 * math.sin(i * 0.37)) + ((i * 7919) % 4001) - 2000
    cal = calib_us()
    res = {"rate": cfg["rate"], "frame": n, "hop": cfg["hop"], "heap_dsp_bytes": heap}
    reps = 200
    res["window_us_unix"] = best_us(dsp.stage_window, reps)

    def fft_only():
        dsp.stage_window()
        dsp.stage_fft()
    res["fft_us_unix"] = best_us(fft_only, reps) - res["window_us_unix"]
    res["power_us_unix"] = best_us(dsp.stage_power, reps)
    res["bands_us_unix"] = best_us(dsp.stage_bands, reps)
    res["features_us_unix"] = best_us(dsp.stage_features, reps)
    res["frame_us_unix"] = min(best_us(dsp.process, reps, 9), best_us(dsp.process, reps, 9))
    # the calibration loop again after the stages: the best of both, so one disturbed
    # moment on a shared machine cannot skew the ESP32 scaling
    res["calib_loop_ms_unix"] = min(cal, calib_us()) / 1000.0
    # allocation while processing (must be 0)
    gc.collect()
    a0 = gc.mem_alloc()
    for _ in range(100):
        dsp.process()
    res["alloc_per_frame_bytes"] = (gc.mem_alloc() - a0) / 100
    res["heap_peak_bytes"] = heap + max(0, gc.mem_alloc() - a0)
    print(json.dumps(res))


main(sys.argv)
