# SPDX-License-Identifier: MIT
"""Deterministic test signals (int16) for DSP parity tests, HIL and benchmarks."""
import numpy as np

FS_INT16 = 32767.0


def _q(x):
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def sine(rate, seconds, freq, dbfs, phase=0.3):
    t = np.arange(int(rate * seconds)) / rate
    return _q(FS_INT16 * 10 ** (dbfs / 20.0) * np.sin(2 * np.pi * freq * t + phase))


def chirp(rate, seconds, f0, f1, dbfs=-6.0):
    t = np.arange(int(rate * seconds)) / rate
    k = np.log(f1 / f0) / seconds
    ph = 2 * np.pi * f0 * (np.exp(k * t) - 1) / k
    return _q(FS_INT16 * 10 ** (dbfs / 20.0) * np.sin(ph))


def white(rate, seconds, dbfs, seed=1):
    rng = np.random.default_rng(seed)
    return _q(FS_INT16 * 10 ** (dbfs / 20.0) * rng.standard_normal(int(rate * seconds)))


def pink(rate, seconds, dbfs, seed=2):
    rng = np.random.default_rng(seed)
    n = int(rate * seconds)
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spec))
    spec[1:] /= np.sqrt(f[1:])
    spec[0] = 0
    x = np.fft.irfft(spec, n)
    x /= np.sqrt(np.mean(x ** 2))
    return _q(FS_INT16 * 10 ** (dbfs / 20.0) * x)


def impulses(rate, seconds, every_s=0.25, amp=30000):
    x = np.zeros(int(rate * seconds))
    x[int(0.05 * rate)::int(every_s * rate)] = amp
    x[int(0.05 * rate) + 1::int(every_s * rate)] = -amp // 2
    return _q(x)


def silence(rate, seconds):
    return np.zeros(int(rate * seconds), dtype=np.int16)


def square(rate, seconds, freq=440.0):
    """Full-scale square wave: every sample at +32767 or -32768 (clipping worst case)."""
    t = np.arange(int(rate * seconds)) / rate
    return np.where(np.sin(2 * np.pi * freq * t) >= 0, 32767, -32768).astype(np.int16)


def street(rate, seconds=4.0, seed=3):
    """A recorded-like street scene: traffic rumble, a passing car, a horn, a clap-like
    impulse with a decaying tail, and mic self-noise (fixed seed)."""
    rng = np.random.default_rng(seed)
    n = int(rate * seconds)
    t = np.arange(n) / rate
    x = pink(rate, seconds, -38.0, seed).astype(np.float64)
    car = np.exp(-((t - seconds * 0.4) / (seconds * 0.15)) ** 2)
    x += car * FS_INT16 * 0.05 * np.sin(2 * np.pi * (90 + 15 * (t - seconds * 0.4)) * t)
    horn = ((t > seconds * 0.6) & (t < seconds * 0.6 + 0.4)).astype(float)
    for h in (1, 2, 3, 4):
        x += horn * FS_INT16 * 0.08 / h * np.sin(2 * np.pi * 420 * h * t)
    k = int(seconds * 0.8 * rate)
    tail = np.exp(-np.arange(n - k) / (0.03 * rate)) * rng.standard_normal(n - k)
    x[k:] += FS_INT16 * 0.4 * tail
    x += rng.standard_normal(n) * 3.0
    return _q(x)


def suite(rate):
    """Named parity suite: every octave sine from -90 to 0 dBFS, chirps, noises,
    impulses, silence, full-scale square waves and a street scene."""
    out = {}
    f = 62.5
    while f < rate / 2:
        for db in (-90, -60, -30, -6, 0):
            out["sine_%gHz_%ddB" % (f, db)] = sine(rate, 0.25, f * 1.013, db)
        f *= 2
    out["chirp_up"] = chirp(rate, 1.0, 50, rate * 0.45, -3)
    out["chirp_quiet"] = chirp(rate, 1.0, 100, rate * 0.4, -70)
    out["white_-20dB"] = white(rate, 0.5, -20)
    out["white_-3dB"] = white(rate, 0.5, -3)
    out["white_1lsb"] = white(rate, 0.5, -90.3)
    out["pink_-30dB"] = pink(rate, 0.5, -30)
    out["impulses"] = impulses(rate, 0.6)
    out["silence"] = silence(rate, 0.2)
    out["square_440"] = square(rate, 0.3, 440)
    out["square_nyq"] = square(rate, 0.1, rate / 4)
    out["street"] = street(rate)
    return out
