# SPDX-License-Identifier: MIT
# The clip coder's viper kernel (node/clip.py calls it once per mic hop): halfband
# low-pass, every second sample, 4-bit IMA ADPCM.  A module of its own, as
# node/detect_kern.py: the node compiles its modules from source, and one large compile
# needs a large heap at once.  Reference: dsp_reference/clip_model.py (bit-exact).
import micropython


@micropython.viper
def enc(hop, n: int, w, hb, ring, pos: int, st, step):
    # n int16 samples of hop -> n/2 ADPCM codes at ring[pos:pos + n/4].  w: array('H') of
    # _HIST + n samples (history first) kept as x + 32768, so that its loads need no sign
    # extension (ptr16 loads are unsigned on Xtensa); a pair of them sums to x1 + x2 +
    # 65536.  hb: the taps, st: [predictor, step index], array('h'), extended by hand.
    h = ptr16(hop)
    pw = ptr16(w)
    ph = ptr16(hb)
    pr = ptr8(ring)
    ps = ptr16(st)
    pst = ptr16(step)
    h0 = (ph[0] ^ 0x8000) - 0x8000
    h1 = (ph[1] ^ 0x8000) - 0x8000
    h2 = (ph[2] ^ 0x8000) - 0x8000
    h3 = (ph[3] ^ 0x8000) - 0x8000
    h4 = (ph[4] ^ 0x8000) - 0x8000
    h5 = (ph[5] ^ 0x8000) - 0x8000
    h6 = (ph[6] ^ 0x8000) - 0x8000
    h7 = (ph[7] ^ 0x8000) - 0x8000
    i = 0
    while i < n:
        pw[i + 30] = h[i] ^ 0x8000
        i += 1
    pred = (ps[0] ^ 0x8000) - 0x8000
    idx = ps[1]
    m = 0
    half = n >> 1
    while m < half:
        c = (m << 1) + 16       # the centre tap's sample: input 2m + 1 - 15 of this hop
        acc = ((pw[c] - 32768) << 14) + 16384 + h0 * (pw[c - 1] + pw[c + 1] - 65536) + \
            h1 * (pw[c - 3] + pw[c + 3] - 65536) + h2 * (pw[c - 5] + pw[c + 5] - 65536) + \
            h3 * (pw[c - 7] + pw[c + 7] - 65536) + h4 * (pw[c - 9] + pw[c + 9] - 65536) + \
            h5 * (pw[c - 11] + pw[c + 11] - 65536) + h6 * (pw[c - 13] + pw[c + 13] - 65536) + \
            h7 * (pw[c - 15] + pw[c + 15] - 65536)
        s = acc >> 15
        if s > 32767:
            s = 32767
        elif s < -32768:
            s = -32768
        diff = s - pred
        code = 0
        if diff < 0:
            code = 8
            diff = 0 - diff
        stp = pst[idx]
        vp = stp >> 3
        if diff >= stp:
            code |= 4
            diff -= stp
            vp += stp
        stp >>= 1
        if diff >= stp:
            code |= 2
            diff -= stp
            vp += stp
        stp >>= 1
        if diff >= stp:
            code |= 1
            vp += stp
        if code & 8:
            pred -= vp
        else:
            pred += vp
        if pred > 32767:
            pred = 32767
        elif pred < -32768:
            pred = -32768
        if code & 4:            # cliptab.IMA_INDEX: -1 for codes 0-3, then 2, 4, 6, 8
            idx += ((code & 3) << 1) + 2
            if idx > 88:
                idx = 88
        elif idx:
            idx -= 1
        if m & 1:
            pr[pos + (m >> 1)] |= code << 4
        else:
            pr[pos + (m >> 1)] = code
        m += 1
    ps[0] = pred
    ps[1] = idx
    i = 0
    while i < 30:
        pw[i] = pw[n + i]
        i += 1
