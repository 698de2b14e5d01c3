# SPDX-License-Identifier: MIT
"""Reference model of the node's event clips (firmware/node/clip.py): the halfband
decimator and the IMA ADPCM coder, bit-exact, plus the decoder the host plays clips with.

Written independently of the firmware (it shares only the constants in node/cliptab.py).
``decimate`` is vectorised; the ADPCM coder is a sample loop, as the code is recursive.
``accumulator_bound`` is the proof that the filter's accumulator fits an ESP32's 32-bit
viper int for every int16 input.
"""
import numpy as np

from node import cliptab

CENTRE = 15                 # the 31-tap filter's centre: output m sits on input 2m + 1 - 15
DELAY = CENTRE - 1          # clip sample k is centred on input sample (block start) + 2k - DELAY


def taps():
    """The 31 taps, Q15."""
    t = np.zeros(2 * CENTRE + 1, dtype=np.int64)
    t[CENTRE] = 16384
    for i, h in enumerate(cliptab.CLIP_HB):
        t[CENTRE - (2 * i + 1)] = t[CENTRE + (2 * i + 1)] = h
    return t


def accumulator_bound():
    """Largest |accumulator| the filter can reach on int16 input (rounding term included)."""
    return 32768 * int(np.abs(taps()).sum()) + 16384


def decimate(x):
    """int16 samples (from the node's first sample on, zero history) -> half-rate int16,
    y[m] = clamp((sum_k t[k] x[2m + 1 - k] + 16384) >> 15)."""
    x = np.asarray(x, dtype=np.int64)
    n = len(x) // 2
    xp = np.concatenate([np.zeros(2 * CENTRE, dtype=np.int64), x])
    t = taps()
    acc = np.full(n, 16384, dtype=np.int64)
    for k in range(len(t)):
        if t[k]:
            acc += t[k] * xp[2 * CENTRE + 1 - k:2 * CENTRE + 1 - k + 2 * n:2]
    return np.clip(acc >> 15, -32768, 32767)


def encode(y, pred=0, index=0):
    """IMA ADPCM: samples -> (codes array, (pred, index) after)."""
    step, itab = cliptab.IMA_STEP, cliptab.IMA_INDEX
    codes = np.zeros(len(y), dtype=np.uint8)
    for k, s in enumerate(np.asarray(y, dtype=np.int64).tolist()):
        st = step[index]
        d = s - pred
        c = 8 if d < 0 else 0
        d = abs(d)
        q = 0                               # the step, then its truncated half and quarter
        for bit, part in ((4, st), (2, st >> 1), (1, st >> 2)):
            if d >= part:
                q |= bit
                d -= part
        c |= q
        v = (st >> 3) + (st if q & 4 else 0) + (st >> 1 if q & 2 else 0) + (st >> 2 if q & 1 else 0)
        pred = max(-32768, min(32767, pred - v if c & 8 else pred + v))
        index = max(0, min(88, index + itab[q]))
        codes[k] = c
    return codes, (pred, index)


def pack(codes):
    """Two codes a byte, the first in the low nibble."""
    c = np.asarray(codes, dtype=np.uint8)
    if len(c) & 1:
        c = np.append(c, 0)
    return (c[0::2] | (c[1::2] << 4)).astype(np.uint8).tobytes()


def decode(data, n, pred=0, index=0):
    """n samples from packed IMA ADPCM codes, starting from (pred, index)."""
    step, itab = cliptab.IMA_STEP, cliptab.IMA_INDEX
    b = np.frombuffer(bytes(data), dtype=np.uint8)
    if len(b) * 2 < n:
        raise ValueError("%d ADPCM bytes hold %d samples, not %d" % (len(b), 2 * len(b), n))
    codes = np.empty(2 * len(b), dtype=np.int64)
    codes[0::2] = b & 15
    codes[1::2] = b >> 4
    out = np.empty(n, dtype=np.int16)
    for k, c in enumerate(codes[:n].tolist()):
        st = step[index]
        v = (st >> 3) + (st if c & 4 else 0) + (st >> 1 if c & 2 else 0) + (st >> 2 if c & 1 else 0)
        pred = max(-32768, min(32767, pred - v if c & 8 else pred + v))
        index = max(0, min(88, index + itab[c & 7]))
        out[k] = pred
    return out


def blocks(x, hop):
    """What the node's ring receives from an uninterrupted stream x, hop by hop:
    a list of (coder state before the block as (pred, index), block bytes)."""
    y = decimate(x[:len(x) // hop * hop])
    bs = hop // 2
    out, state = [], (0, 0)
    for i in range(len(y) // bs):
        codes, after = encode(y[i * bs:(i + 1) * bs], *state)
        out.append((state, pack(codes)))
        state = after
    return out
