# SPDX-License-Identifier: MIT
"""Bit-exact integer model of the firmware DSP (firmware/node/fft.py, dsp.py), in numpy.

The arithmetic is the firmware's, step for step, but vectorised over frames and written
independently (it shares only constants and tables with the device code).  Every
intermediate the device would hold in a 32-bit viper word passes through ``_chk``,
which records its range; ``Ranges.assert_int32()`` is the proof that an ESP32 (whose
viper int is 32-bit, unlike the 64-bit host) computes exactly the same numbers.
"""
import numpy as np

from node import consts, tables

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
NORM_BITS = 20         # windowed frame normalised to OR of |values| < 2**20


class Ranges:
    """Min/max of every named intermediate seen so far."""

    def __init__(self):
        self.seen = {}

    def chk(self, name, a):
        a = np.asarray(a)
        if a.size:
            lo, hi = int(a.min()), int(a.max())
            old = self.seen.get(name)
            if old:
                lo, hi = min(lo, old[0]), max(hi, old[1])
            self.seen[name] = (lo, hi)
        return a

    def violations(self):
        return {k: v for k, v in self.seen.items() if v[0] < INT32_MIN or v[1] > INT32_MAX}

    def assert_int32(self):
        bad = self.violations()
        if bad:
            raise AssertionError("intermediates outside int32: %r" % bad)

    def headroom_bits(self):
        """Smallest log2(2**31 / max|v|) over all intermediates (how much room is left)."""
        worst = max(max(abs(lo), abs(hi)) for lo, hi in self.seen.values())
        return float(np.log2(2.0 ** 31 / max(worst, 1)))


def _u16(blob):
    return np.frombuffer(blob, dtype="<u2").astype(np.int64)


def tables_for(n):
    """Q15 Hann window (n) and twiddles cos, sin of W_N^k, k = 0..3n/4, from SIN_Q15."""
    s = _u16(tables.SIN_Q15)
    q = consts.NMAX // 4
    step = consts.NMAX // n

    def sinq(j):
        j = np.where(j > q, 2 * q - j, j)
        return s[j]

    def cosq(j):
        return np.where(j <= q, sinq(np.clip(q - j, 0, None)), -sinq(np.clip(j - q, 0, None)))

    j = np.arange(n) * step
    j = np.where(j > 2 * q, 4 * q - j, j)
    win = (32767 - cosq(j)) >> 1
    k = np.arange(3 * n // 4 + 1) * step
    half = 2 * q
    over = k > half
    kk = np.where(over, k - half, k)
    sgn = np.where(over, -1, 1)
    return win, sgn * cosq(kk), sgn * sinq(kk)


def _bitrev(m):
    bits = int(np.log2(m))
    idx = np.arange(m)
    rev = np.zeros(m, dtype=np.int64)
    for b in range(bits):
        rev |= ((idx >> b) & 1) << (bits - 1 - b)
    return rev


def _shift_for(acc, lim):
    """Smallest s >= 0 with (acc >> s) < lim, per element."""
    s = np.zeros_like(acc)
    for k in range(32):
        s += (acc >> k) >= lim
    return s


def _orabs(v, axes):
    return np.bitwise_or.reduce(v ^ (v >> 31), axis=axes)


def frames_of(x, n, hop, dtype=np.int64):
    """Frames (F, n) of x: frame t covers samples [t*hop, t*hop + n)."""
    x = np.asarray(x, dtype=dtype)
    if len(x) < n:
        return np.zeros((0, n), dtype=dtype)
    nf = (len(x) - n) // hop + 1
    idx = np.arange(n)[None, :] + hop * np.arange(nf)[:, None]
    return x[idx]


def _log2q10(v):
    """Q10 log2 of positive ints (firmware's table method); -1 where v <= 0."""
    lt = _u16(tables.LOG2_Q10)
    pos = v > 0
    b = np.frexp(np.where(pos, v, 1).astype(np.float64))[1].astype(np.int64) - 1   # floor(log2)
    idx = np.where(b >= 8, v >> np.clip(b - 8, 0, None), v << np.clip(8 - b, 0, None)) & 255
    return np.where(pos, (b << 10) + lt[idx], -1)


def _twmul(br, bi, wr, wi, split_bits, extra, chk, tag):
    """((br + j bi)(wr - j wi)) / 2**(15 + extra) through the firmware's hi/lo split:
    H = bh.w, L = bl.w with b = bh * 2**split + bl, result (H + (L >> split) + r) >> (15 + extra - split)."""
    mask = (1 << split_bits) - 1
    down = 15 + extra - split_bits
    rnd = 1 << (down - 1)
    hr, lr, hi, li = br >> split_bits, br & mask, bi >> split_bits, bi & mask
    h = chk(tag + ".H", chk(tag + ".hp", hr * wr) + chk(tag + ".hp", hi * wi))
    lo = chk(tag + ".L", chk(tag + ".lp", lr * wr) + chk(tag + ".lp", li * wi))
    xr = chk(tag + ".sum", h + (lo >> split_bits) + rnd) >> down
    h = chk(tag + ".H", chk(tag + ".hp", hi * wr) - chk(tag + ".hp", hr * wi))
    lo = chk(tag + ".L", chk(tag + ".lp", li * wr) - chk(tag + ".lp", lr * wi))
    xi = chk(tag + ".sum", h + (lo >> split_bits) + rnd) >> down
    return xr, xi


def spectrum(fr, n, ranges):
    """Windowed real FFT of int16 frames (F, n).

    Returns (xr, xi, ex, ps): X = (xr + j xi) * 2**ex, and ps, the per-frame shift the
    power stage applies before squaring.
    """
    chk = ranges.chk
    m = n // 2
    win, cos, sin = tables_for(n)
    v = chk("win.x*w", fr * win[None, :])
    acc = _orabs(v, 1)
    bl = np.frexp(acc.astype(np.float64))[1].astype(np.int64)       # bit length
    sh = np.where(acc > 0, bl - NORM_BITS, 0)[:, None]
    rsh = np.clip(sh, 0, None)
    z = np.where(sh >= 0, (v + ((1 << rsh) >> 1)) >> rsh, v << np.clip(-sh, 0, None))
    chk("win.z", z)
    rev = _bitrev(m)
    zr, zi = z[:, 0::2][:, rev], z[:, 1::2][:, rev]
    nf = fr.shape[0]
    # pass 1: stages 1+2 as a multiply-free radix-4 butterfly, scaled by 1/4
    r4, i4 = zr.reshape(nf, m // 4, 4), zi.reshape(nf, m // 4, 4)
    sr, si = r4[..., 0] + r4[..., 1], i4[..., 0] + i4[..., 1]
    dr, di = r4[..., 0] - r4[..., 1], i4[..., 0] - i4[..., 1]
    ur, ui = r4[..., 2] + r4[..., 3], i4[..., 2] + i4[..., 3]
    vr, vi = r4[..., 2] - r4[..., 3], i4[..., 2] - i4[..., 3]
    zr = np.stack([(sr + ur) >> 2, (dr + vi) >> 2, (sr - ur) >> 2, (dr - vi) >> 2], axis=2).reshape(nf, m)
    zi = np.stack([(si + ui) >> 2, (di - vr) >> 2, (si - ui) >> 2, (di + vr) >> 2], axis=2).reshape(nf, m)
    q = 4
    if int(np.log2(m)) & 1:
        # one radix-2 stage (blocks 4 -> 8), scaled by 1/2
        gr, gi = zr.reshape(nf, m // 8, 8), zi.reshape(nf, m // 8, 8)
        ar, ai = gr[..., :4] >> 1, gi[..., :4] >> 1
        k = np.arange(4) * (m // 4)
        xr, xi = _twmul(gr[..., 4:], gi[..., 4:], cos[k], sin[k], 8, 1, chk, "fft")
        zr = chk("fft.out", np.concatenate([ar + xr, ar - xr], axis=2).reshape(nf, m))
        zi = chk("fft.out", np.concatenate([ai + xi, ai - xi], axis=2).reshape(nf, m))
        q = 8
    while q < m:
        # radix-4 stage: blocks of q at 0, q, 2q, 3q -> one of 4q, scaled by 1/4
        gr, gi = zr.reshape(nf, m // (4 * q), 4, q), zi.reshape(nf, m // (4 * q), 4, q)
        j = np.arange(q) * (m // (2 * q))
        a0r, a0i = gr[:, :, 0] >> 2, gi[:, :, 0] >> 2
        a1r, a1i = _twmul(gr[:, :, 1], gi[:, :, 1], cos[2 * j], sin[2 * j], 8, 2, chk, "fft")
        a2r, a2i = _twmul(gr[:, :, 2], gi[:, :, 2], cos[j], sin[j], 8, 2, chk, "fft")
        a3r, a3i = _twmul(gr[:, :, 3], gi[:, :, 3], cos[3 * j], sin[3 * j], 8, 2, chk, "fft")
        sr, si, dr, di = a0r + a1r, a0i + a1i, a0r - a1r, a0i - a1i
        ur, ui, vr, vi = a2r + a3r, a2i + a3i, a2r - a3r, a2i - a3i
        zr = chk("fft.out", np.stack([sr + ur, dr + vi, sr - ur, dr - vi], axis=2).reshape(nf, m))
        zi = chk("fft.out", np.stack([si + ui, di - vr, si - ui, di + vr], axis=2).reshape(nf, m))
        q *= 4
    # split, bins k and m-k together (k = 1 .. m/2-1), plus bins 0, m/2, m
    xr = np.zeros((nf, m + 1), dtype=np.int64)
    xi = np.zeros((nf, m + 1), dtype=np.int64)
    xr[:, 0] = zr[:, 0] + zi[:, 0]
    xr[:, m] = zr[:, 0] - zi[:, 0]
    xr[:, m // 2], xi[:, m // 2] = zr[:, m // 2], -zi[:, m // 2]
    k = np.arange(1, m // 2)
    ar, ai, br, bi = zr[:, k], zi[:, k], zr[:, m - k], zi[:, m - k]
    er, ei = chk("split.fe", ar + br) >> 1, chk("split.fe", ai - bi) >> 1
    fr, fi = chk("split.fo", ar - br), chk("split.fo", ai + bi)
    tr, ti = _twmul(fr, fi, cos[k], sin[k], 9, 1, chk, "split")
    xr[:, k], xi[:, k] = er + ti, ei - tr
    xr[:, m - k], xi[:, m - k] = er - ti, -ei - tr
    chk("split.x", xr), chk("split.x", xi)
    acc = np.bitwise_or.reduce(xr ^ (xr >> 31), axis=1) | np.bitwise_or.reduce(xi ^ (xi >> 31), axis=1)
    ps = _shift_for(acc, 32768)
    ex = sh[:, 0] - 15 + int(np.log2(m))
    return xr, xi, ex, ps


def _pitch(q, rate, n, lg2n, chk):
    """Harmonic comb (node/dsp.py pitch()): pitch Hz and harmonicity cdB per frame from the
    bin powers q (F, n/2), q[:, k - 1] = Q of bin k."""
    clo, chi, kp = consts.pitch_bins(rate, n)
    nsh = consts.log2_int(consts.PITCH_NH)
    L = np.zeros((q.shape[0], kp + 1), dtype=np.int64)
    L[:, 1:] = chk("pitch.L", _log2q10(q[:, :kp] + 1))
    best = cb = None
    for c in range(clo, chi + 1):
        d = np.zeros(q.shape[0], dtype=np.int64)
        for h in range(1, consts.PITCH_NH + 1):
            d += L[:, (h * c + 1) >> 1] - L[:, ((2 * h - 1) * c + 2) >> 2]
        chk("pitch.D", d)
        if best is None:
            best, cb = d, np.full(q.shape[0], c, dtype=np.int64)
        else:
            better = d > best                                # the first best candidate wins
            best = np.where(better, d, best)
            cb = np.where(better, c, cb)
    hz = chk("pitch.hz", cb * rate) >> (lg2n + 1)
    harm = np.maximum(best, 0) >> nsh
    return hz, chk("pitch.Lmul", harm * consts.CDB_MUL) >> 16


class Result:
    """Features (F, NFEAT) plus the spectrum and exponent behind them."""

    def __init__(self, feat, xr, xi, exp, power, ranges):
        self.feat, self.xr, self.xi, self.exp, self.power, self.ranges = feat, xr, xi, exp, power, ranges

    def complex_spectrum(self):
        return (self.xr + 1j * self.xi) * np.exp2(self.exp.astype(np.float64))[:, None]


def analyse(x, cfg, ranges=None):
    """Run the integer model over int16 samples x; frame t covers [t*hop, t*hop + frame)."""
    ranges = ranges or Ranges()
    chk = ranges.chk
    n, hop, rate = cfg["frame"], cfg["hop"], cfg["rate"]
    m, lg2n = n // 2, consts.log2_int(n)
    fr = frames_of(x, n, hop)
    nf = fr.shape[0]
    feat = np.zeros((nf, consts.NFEAT), dtype=np.int64)
    if nf == 0:
        return Result(feat, None, None, None, None, ranges)
    xr, xi, ex, ps = spectrum(fr, n, ranges)
    r = ((1 << ps) >> 1)[:, None]
    sr, si = (xr + r) >> ps[:, None], (xi + r) >> ps[:, None]
    pw = chk("power.pw", chk("power.sq", (sr * sr) >> 1) + chk("power.sq", (si * si) >> 1))
    # bands: straight from X, each band with its own shift pb (|X >> pb| <= 2**15)
    edges = consts.band_edges(rate, n)
    nb = len(edges) - 1
    lin = np.zeros((nf, nb + 5), dtype=np.int64)
    bexp = np.zeros((nf, nb), dtype=np.int64)
    for b in range(nb):
        k0, k1 = edges[b], edges[b + 1]
        sb = int(k1 - k0 - 1).bit_length()
        br, bi = xr[:, k0:k1], xi[:, k0:k1]
        acc = _orabs(br, 1) | _orabs(bi, 1)
        pb = _shift_for(acc, 32768)[:, None]
        rb = (1 << pb) >> 1
        vr, vi = (br + rb) >> pb, (bi + rb) >> pb
        p = chk("bands.p", chk("bands.sq", (vr * vr) >> 1) + chk("bands.sq", (vi * vi) >> 1))
        lin[:, b] = chk("bands.sum", (p >> sb).sum(axis=1))
        bexp[:, b] = sb + 1 + 2 * pb[:, 0]
    # levels: peak, and the exact sum of squares reduced to 31 bits (two words on the device)
    peak = np.abs(fr).max(axis=1)
    ssum = (fr * fr).sum(axis=1)
    chk("levels.s2", fr * fr)
    bl = np.frexp(ssum.astype(np.float64))[1].astype(np.int64)      # bit length (exact < 2**53)
    rs = np.clip(bl - 31, 0, None)
    lin[:, nb] = peak
    lin[:, nb + 1] = chk("levels.sum", ssum >> rs)
    lg = _log2q10(lin)
    kq10 = ((-26 - 2 * lg2n) << 10) - consts.LOG2_3_Q10
    L = chk("bands.L", lg[:, :nb] + ((bexp + 2 * ex[:, None]) << 10) + kq10)
    cdb = chk("bands.Lmul", L * consts.CDB_MUL) >> 16
    bands = np.where(lg[:, :nb] >= 0, np.maximum(cdb, consts.FLOOR_CDB), consts.FLOOR_CDB)
    flux = np.zeros(nf, dtype=np.int64)
    flux[1:] = np.maximum(bands[1:] - bands[:-1], 0).sum(axis=1)
    pk = chk("peak.Lmul", (2 * lg[:, nb] - 30720) * consts.CDB_MUL) >> 16
    peak_cdb = np.where(lg[:, nb] >= 0, pk, consts.FLOOR_CDB)
    rm = chk("rms.Lmul", (lg[:, nb + 1] + ((rs - lg2n - 30) << 10)) * consts.CDB_MUL) >> 16
    rms_cdb = np.where(lg[:, nb + 1] >= 0, np.maximum(rm, consts.FLOOR_CDB), consts.FLOOR_CDB)
    # centroid, high-band share and tonality from Q = P >> 10 over bins 1..m
    q = pw[:, 1:] >> 10
    kk = np.arange(1, m + 1)
    chk("shape.kq", q * kk[None, :])
    num = (q * kk[None, :]).sum(axis=1)                       # two 30-bit words on the device
    den = chk("shape.den", q.sum(axis=1))
    khf = (consts.HF_SPLIT_HZ * n + rate - 1) // rate
    top = q[:, khf - 1:].sum(axis=1)
    ds = _shift_for(den, 65536)
    d = np.where(den > 0, den >> ds, 1)
    numd = chk("shape.num_ds", num >> ds)
    qq = numd // d
    rr = numd - qq * d
    cq8 = chk("shape.cq8", (qq << 8) + (chk("shape.rr8", rr << 8) // d))
    cen = chk("shape.cen", cq8 * (rate >> 4)) >> (8 + lg2n - 4)
    hf = chk("shape.top10", (top >> ds) << 10) // d
    tlo, thi, tcount = consts.tonal_bins(rate, n)
    lin[:, nb + 2] = q[:, tlo - 1:thi].max(axis=1)
    lin[:, nb + 3] = chk("tonal.sum", q[:, tlo - 1:thi].sum(axis=1))
    lin[:, nb + 4] = tcount
    lgt = _log2q10(lin[:, nb + 2:nb + 5])
    tonal = np.where(lgt[:, 1] >= 0, chk("tonal.Lmul", (lgt[:, 0] + lgt[:, 2] - lgt[:, 1]) * consts.CDB_MUL) >> 16, 0)
    pitch_hz, harm_cdb = _pitch(q, rate, n, lg2n, chk)
    feat[:, consts.F_EXP] = ex
    feat[:, consts.F_PEAK] = peak_cdb
    feat[:, consts.F_RMS] = rms_cdb
    feat[:, consts.F_FLUX] = flux
    feat[:, consts.F_CENTROID] = np.where(den > 0, cen, 0)
    feat[:, consts.F_HF] = np.where(den > 0, hf, 0)
    feat[:, consts.F_TONAL] = tonal
    feat[:, consts.F_PITCH] = pitch_hz
    feat[:, consts.F_HARM] = harm_cdb
    feat[:, consts.F_BAND0:consts.F_BAND0 + nb] = bands
    return Result(feat, xr, xi, ex, pw, ranges)


def features(x, cfg, ranges=None):
    """(F, NFEAT) int64 features of int16 samples, bit-identical to the firmware."""
    return analyse(x, cfg, ranges).feat
