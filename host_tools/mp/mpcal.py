# SPDX-License-Identifier: MIT
# Timing helpers shared by the MicroPython-side benchmark runners.  The viper loop of
# CAL_N iterations takes 271 ms on an ESP32-S3 at 240 MHz (published); timing it in the
# same run as the code under test lets the host scale unix-port times to an ESP32.
import time

import micropython

CAL_N = 5000000


@micropython.viper
def cal_loop(n: int) -> int:
    i = 0
    while i < n:
        i += 1
    return i


def best_us(fn, reps, rounds=5):
    # best (smallest) mean time of fn over `rounds` rounds of `reps` calls, in us
    best = None
    for _ in range(rounds):
        t = time.ticks_us()
        for _ in range(reps):
            fn()
        dt = time.ticks_diff(time.ticks_us(), t) / reps
        best = dt if best is None or dt < best else best
    return best


def calib_us(rounds=3):
    # best time of the calibration loop, us
    return best_us(lambda: cal_loop(CAL_N), 1, rounds)
